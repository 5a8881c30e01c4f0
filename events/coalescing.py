"""Single tracking calls that arrive together are stored together (group commit).

A single ``/v1/track`` call stored on its own costs a transaction: four statements, a commit
(a WAL flush) and the after-commit message, about 4.5 ms of web CPU on this machine. The same
work for a batch of two costs 2.1 ms per event, for four 1.2 ms (bench/ingest, in process). So
``event_ingest_single`` lets the calls of one web process that are waiting at the same moment
share one ``event_batch_ingest``:

- A call that finds nobody storing becomes the leader and stores at once, with whatever calls
  are already waiting: an idle server adds no wait to anyone.
- A call that arrives while a leader is storing waits. When that transaction ends, one of the
  waiting calls leads the next group. So the groups grow exactly when the server is busy, and
  a burst drains in a few transactions instead of one per call.
- A group holds calls of one workspace, at most ``INGEST_COALESCE_MAX_EVENTS``, and never two
  with the same messageId (the second waits for the next group, where the ledger tells it that
  it is a replay, as it would have alone).
- Each call still gets its own answer: stored, replay, or dropped because the person was erased.
- If the group's transaction fails for any reason but bad luck the ingest already retries, every
  call in it is stored again on its own, so one poisonous message fails only its own request.

A call made inside a transaction (``atomic``) is never grouped: its event must commit or roll
back with its caller's other writes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from accounts.models import Workspace
from events.services import IngestResult, event_batch_ingest
from events.validation import Message

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _Call:
    workspace: Workspace
    message: Message
    received_at: datetime
    check_erased: bool
    result: IngestResult | None = None
    alone: bool = False  # the group failed: store this call on its own
    done: bool = False


@dataclass
class CoalescerStats:
    calls: int = 0
    groups: int = 0
    largest: int = 0
    fallbacks: int = 0  # groups that failed and were stored call by call


class IngestCoalescer:
    """Leader/follower group commit for single events; one per process (``event_ingest_single``)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[_Call] = []
        self._storing = False
        self.stats = CoalescerStats()

    def waiting_count(self) -> int:
        """Calls queued for a group (not counting the group being stored)."""
        with self._changed:
            return len(self._waiting)

    def ingest(self, call: _Call, *, limit: int) -> IngestResult:
        with self._changed:
            self._waiting.append(call)
            # The call waiting longest leads the next group (first come, first stored).
            while not call.done and (self._storing or self._waiting[0] is not call):
                self._changed.wait()
            if call.done:
                return self._finish(call)
            group = self._take(call, limit)
            self._storing = True
        try:
            self._store(group)
        finally:
            with self._changed:
                for member in group:
                    member.done = True
                self._storing = False
                self._changed.notify_all()
        return self._finish(call)

    def _take(self, leader: _Call, limit: int) -> list[_Call]:
        """The leader's group: the leader, then the calls waiting longest that may join it."""
        group = [leader]
        message_ids = {leader.message.message_id}
        for call in self._waiting:
            if len(group) >= limit:
                break
            if call is leader or call.workspace.id != leader.workspace.id or call.message.message_id in message_ids:
                continue
            group.append(call)
            message_ids.add(call.message.message_id)
        taken = set(map(id, group))
        self._waiting = [call for call in self._waiting if id(call) not in taken]
        self.stats.calls += len(group)
        self.stats.groups += 1
        self.stats.largest = max(self.stats.largest, len(group))
        return group

    def _store(self, group: Sequence[_Call]) -> None:
        if len(group) == 1:  # the usual case when the server is not busy: exactly the call's own ingest
            group[0].result = _ingest_alone(group[0])  # an error is the leader's own, raised to it
            return
        try:
            result = event_batch_ingest(
                workspace=group[0].workspace,
                messages=[call.message for call in group],
                received_at=max(call.received_at for call in group),
                check_erased=any(call.check_erased for call in group),
            )
        except Exception:
            logger.exception("a group of %s tracking calls failed; storing each on its own", len(group))
            self.stats.fallbacks += 1
            for call in group:
                call.alone = True
            return
        for call in group:
            call.result = result.of_message(call.message.message_id)

    @staticmethod
    def _finish(call: _Call) -> IngestResult:
        if call.alone:  # after the failed group, in the caller's own thread
            return _ingest_alone(call)
        assert call.result is not None
        return call.result


def _ingest_alone(call: _Call) -> IngestResult:
    return event_batch_ingest(
        workspace=call.workspace,
        messages=[call.message],
        received_at=call.received_at,
        check_erased=call.check_erased,
    )


_coalescer = IngestCoalescer()


def ingest_coalescer() -> IngestCoalescer:
    """This process's coalescer (its ``stats`` are what the benchmark reports)."""
    return _coalescer


def event_ingest_single(
    *, workspace: Workspace, message: Message, received_at: datetime, check_erased: bool = True
) -> IngestResult:
    """Store one validated message, deduplicated by messageId, sharing a transaction with the
    single calls of this process waiting at the same moment (see the module docstring)."""
    call = _Call(workspace=workspace, message=message, received_at=received_at, check_erased=check_erased)
    limit = int(settings.INGEST_COALESCE_MAX_EVENTS)
    if limit <= 1 or connection.in_atomic_block:
        return _ingest_alone(call)
    return _coalescer.ingest(call, limit=limit)
