"""Drives ``simulator.shoppers`` against a running platform over HTTP, at a bounded rate.

The main thread decides who visits next (the seeded schedule) and paces visits at ``rate`` per
second; each shopper belongs to one worker thread (index modulo ``concurrency``) so their visits
happen in order. A worker, per visit: queues the visit's messages, asks ``/v1/decide`` at the
decision point, reports opens, clicks and unsubscribes to ``/v1/outcome`` and queues the
reaction's messages (orders, complaints, consent changes). Like an SDK it sends its queue to
``/v1/batch`` when it holds ``BATCH_SIZE`` messages, after a second without work, and before
deciding for a shopper the platform has not heard of yet; when visits queue up (a high rate)
it takes up to ``GROUP_SIZE`` of them at once, so their messages share one batch. Every message
carries the time it happened (``timestamp``), so an order sent later still lands after its own
decision and before the shopper's next one. Orders reach the platform as tracked ``Order Completed`` events and the
platform attributes them to the person's latest decision with an action (held-out decisions
included), so conversions are counted the same way for shown and held-out people.

The loop ends after ``sessions`` visits, after ``duration`` seconds, or when ``stop`` is set,
whichever comes first; a run with none of the three is refused.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from simulator.client import PlatformClient, PlatformError
from simulator.shoppers import SITUATIONS, Session, Shopper, Storefront

logger = logging.getLogger("simulator")

IDLE_FLUSH_SECONDS = 1.0  # a worker with nothing to do sends what it holds after this long
BATCH_SIZE = 200  # messages a worker holds at most before sending them
GROUP_SIZE = 8  # waiting visits whose messages share one batch (only when visits queue up)
ACTION_STATUSES = ("acted", "approved", "held_out")  # decisions that orders are attributed to


@dataclass(frozen=True)
class SimulatorConfig:
    url: str
    write_key: str
    secret_key: str
    seed: int = 7
    rate: float = 2.0  # visits per second; 0: as fast as the platform answers
    sessions: int | None = None
    duration: float | None = None  # seconds
    concurrency: int = 2
    mix: dict[str, float] | None = None
    new_share: float = 0.2
    report_engagement: bool = True  # opens and clicks to /v1/outcome (unsubscribes always)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.sessions is None and self.duration is None:
            raise ValueError("give sessions or duration: the loop must be bounded")
        if self.rate < 0 or self.concurrency < 1:
            raise ValueError("rate must be 0 or more and concurrency at least 1")


@dataclass
class ActionTally:
    decisions: int = 0
    shown: int = 0
    held_out: int = 0
    other: int = 0  # nothing, pending approval
    shown_conversions: int = 0
    held_out_conversions: int = 0
    unsubscribes: int = 0


@dataclass
class SimulationReport:
    visits: int = 0
    skipped: int = 0  # visits of shoppers who had churned
    messages: int = 0
    requests: int = 0
    errors: int = 0
    orders: int = 0
    attributable_orders: int = 0  # orders of shoppers who had a decision with an action by then
    seconds: float = 0.0
    actions: dict[str, ActionTally] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    last_error: str = ""

    def summary(self) -> str:
        parts = [
            f"{self.visits} visits, {self.messages} messages, {self.requests} requests, {self.errors} errors "
            f"in {self.seconds:.1f} s"
        ]
        for key, t in sorted(self.actions.items()):
            rate_shown = t.shown_conversions / t.shown if t.shown else 0.0
            rate_held = t.held_out_conversions / t.held_out if t.held_out else 0.0
            parts.append(
                f"{key}: {t.decisions} decisions, shown {t.shown} (converted {rate_shown:.0%}), "
                f"held out {t.held_out} (converted {rate_held:.0%}), unsubscribed {t.unsubscribes}"
            )
        return "\n".join(parts)


class _Worker(threading.Thread):
    def __init__(
        self,
        index: int,
        *,
        config: SimulatorConfig,
        store: Storefront,
        report: SimulationReport,
        stop: threading.Event,
        lock: threading.Lock,
    ) -> None:
        super().__init__(name=f"simulator-{index}", daemon=True)
        self.config = config
        self.stop = stop
        self.store = store
        self.report = report
        self.lock = lock  # shared by the workers: it guards the report
        self.inbox: queue.Queue[tuple[Shopper, int] | None] = queue.Queue(maxsize=100)
        self.pending: list[dict[str, Any]] = []
        self.pending_shoppers: set[int] = set()
        self.known: set[int] = set()  # shoppers whose messages the platform has received
        self.backlog: deque[tuple[Shopper, int] | None] = deque()  # taken from the inbox, not yet run
        self.client = PlatformClient(
            url=config.url, write_key=config.write_key, secret_key=config.secret_key, timeout=config.timeout
        )

    def run(self) -> None:
        try:
            while True:
                try:
                    item = self._take(block=True)
                except queue.Empty:
                    self._guard(self._flush)
                    continue
                if item is None:
                    break
                if self.stop.is_set():  # stopping: drop queued visits, send what is held
                    continue
                group = self._group(item)
                self._guard(lambda group=group: self._visits(group))
            self._guard(self._flush)
        finally:
            with self.lock:
                self.report.requests += self.client.requests
            self.client.close()

    def _take(self, *, block: bool) -> tuple[Shopper, int] | None:
        if self.backlog:
            return self.backlog.popleft()
        return self.inbox.get(timeout=IDLE_FLUSH_SECONDS) if block else self.inbox.get_nowait()

    def _group(self, first: tuple[Shopper, int]) -> list[tuple[Shopper, int]]:
        """The visits already waiting, up to ``GROUP_SIZE`` of different shoppers: their messages
        go in one batch before their decisions (a shopper's second visit waits for the next
        group, so their visits stay in order)."""
        group, seen = [first], {first[0].index}
        while len(group) < GROUP_SIZE:
            try:
                item = self._take(block=False)
            except queue.Empty:
                break
            if item is None or item[0].index in seen:
                self.backlog.appendleft(item)
                break
            group.append(item)
            seen.add(item[0].index)
        return group

    def _guard(self, work: Any) -> None:
        """The demo keeps going when one request fails; the report counts the failure."""
        try:
            work()
        except (PlatformError, requests.RequestException, ValueError) as exc:
            with self.lock:
                self.report.errors += 1
                self.report.last_error = str(exc)
            logger.warning("simulator: %s", exc)

    def _queue(self, shopper: Shopper, messages: list[dict[str, Any]]) -> None:
        self.pending.extend(messages)
        self.pending_shoppers.add(shopper.index)
        if len(self.pending) >= BATCH_SIZE:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            messages, self.pending = self.pending, []
            self.client.batch(messages)
            self.known |= self.pending_shoppers
            self.pending_shoppers = set()
            with self.lock:
                self.report.messages += len(messages)

    def _visits(self, group: list[tuple[Shopper, int]]) -> None:
        sessions = []
        for shopper, number in group:
            session = self.store.visit(shopper, number)
            if not session.context:
                with self.lock:
                    self.report.skipped += 1
                continue
            self._queue(shopper, session.before)
            sessions.append(session)
        if any(session.shopper.index not in self.known for session in sessions):
            self._flush()  # the platform must know a shopper before it can decide for them
        for session in sessions:
            self._guard(lambda session=session: self._decide(session))

    def _decide(self, session: Session) -> None:
        shopper = session.shopper
        decided = self.client.decide(user_id=shopper.user_id, context=session.context)
        reaction = self.store.react(session, shown=decided.action, channel=decided.channel)
        for outcome in reaction.outcomes:
            if outcome["kind"] in ("opened", "clicked") and not self.config.report_engagement:
                continue
            self.client.outcome(
                decision_id=decided.decision_id,
                kind=outcome["kind"],
                ref=f"sim:{decided.decision_id}:{outcome['kind']}",
            )
        self._queue(shopper, reaction.messages)
        if decided.status in ACTION_STATUSES:
            shopper.decided = True
        self._tally(session, decided.status, decided.action, reaction.converted, reaction.outcomes)

    def _tally(self, session: Session, status: str, shown: str | None, converted: bool, outcomes: list[Any]) -> None:
        key = shown or SITUATIONS[session.situation].action
        with self.lock:
            report = self.report
            report.visits += 1
            report.statuses[status] += 1
            report.orders += int(converted)
            # The platform gives an order to the person's latest decision with an action, which
            # may be an earlier visit's when this one's was to do nothing.
            report.attributable_orders += int(converted and session.shopper.decided)
            tally = report.actions.setdefault(key, ActionTally())
            tally.decisions += 1
            if shown:
                tally.shown += 1
                tally.shown_conversions += int(converted)
                tally.unsubscribes += sum(1 for o in outcomes if o["kind"] == "unsubscribed")
            elif status == "held_out":
                tally.held_out += 1
                tally.held_out_conversions += int(converted)
            else:
                tally.other += 1


def _hand_over(worker: _Worker, item: tuple[Shopper, int] | None, stop: threading.Event | None) -> None:
    """Queue a visit (or the end marker) for a worker, waiting while its inbox is full."""
    while worker.is_alive() and not (stop is not None and stop.is_set()):
        try:
            worker.inbox.put(item, timeout=0.5)
            return
        except queue.Full:
            continue


def simulate(config: SimulatorConfig, *, stop: threading.Event | None = None) -> SimulationReport:
    """Run the storefront against the platform at ``config.url`` until the bound is reached."""
    stop = stop or threading.Event()
    store = Storefront(seed=config.seed, mix=config.mix, new_share=config.new_share, clock=lambda: datetime.now(UTC))
    report = SimulationReport()
    lock = threading.Lock()
    workers = [
        _Worker(i, config=config, store=store, report=report, stop=stop, lock=lock) for i in range(config.concurrency)
    ]
    for worker in workers:
        worker.start()
    started = time.monotonic()
    deadline = started + config.duration if config.duration is not None else None
    interval = 1.0 / config.rate if config.rate > 0 else 0.0
    due = started
    planned = 0
    try:
        while not stop.is_set() and (config.sessions is None or planned < config.sessions):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if interval:
                due += interval
                if stop.wait(max(0.0, due - time.monotonic())):
                    break
            shopper, number = store.next_visit()
            _hand_over(workers[shopper.index % len(workers)], (shopper, number), stop)
            planned += 1
    finally:
        for worker in workers:
            _hand_over(worker, None, None)
        for worker in workers:
            worker.join()
        report.seconds = time.monotonic() - started
    return report
