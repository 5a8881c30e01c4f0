"""A tiny domain-event bus so lower apps can wake higher ones without importing them.

Lower apps (profiles, events) ``publish`` facts such as "event ingested" or "profile merged";
higher apps (decisions, journeys, support) ``subscribe`` in their ``AppConfig.ready``. Delivery
happens only after the surrounding transaction commits (``transaction.on_commit``), so a
subscriber never sees a fact that was rolled back. Subscribers run in the publishing process
and should stay cheap: typically they enqueue a Celery task with ids and return. A failing
subscriber is logged and never breaks the write that published the fact, nor the other
subscribers.

Example::

    # journeys/apps.py
    def ready(self) -> None:
        from core import domain_events
        from journeys.tasks import signals_evaluate_task

        def on_ingested(event: domain_events.DomainEvent) -> None:
            signals_evaluate_task.delay([e["id"] for e in event.payload["events"]])

        domain_events.subscribe(domain_events.EVENT_INGESTED, on_ingested, uid="journeys.signals")
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

# Names of the facts published today. Payloads carry ids and small scalars only (JSON-safe),
# so a subscriber can hand them straight to a Celery task.
EVENT_INGESTED = "event.ingested"
"""payload: {"events": [{"id", "profile_id", "type", "name", "timestamp"}, ...], "profile_ids": [...]}:
one notification per transaction that stored events (a batch, a single call, or single calls
stored together), listing only new events."""
PROFILE_MERGED = "profile.merged"
"""payload: {"survivor_id", "merged_ids": [...], "identifier": "kind:value" that joined them}."""


@dataclass(frozen=True)
class DomainEvent:
    name: str
    workspace_id: str
    payload: Mapping[str, Any] = field(default_factory=dict)


Subscriber = Callable[[DomainEvent], None]

_lock = threading.Lock()
_subscribers: dict[str, dict[str, Subscriber]] = {}
# Subscribers that run in a Celery worker: one task per published fact carries it to all of them,
# so the publishing request pays for a single broker message however many apps listen.
_worker_subscribers: dict[str, dict[str, Subscriber]] = {}


def _uid_of(handler: Subscriber) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def subscribe(name: str, handler: Subscriber, *, uid: str | None = None) -> str:
    """Register ``handler`` for ``name``. Idempotent per ``uid`` (default: the handler's dotted
    name), so calling it again from a re-run ``ready()`` replaces rather than duplicates."""
    key = uid or _uid_of(handler)
    with _lock:
        _subscribers.setdefault(name, {})[key] = handler
    return key


def subscribe_in_worker(name: str, handler: Subscriber, *, uid: str | None = None) -> str:
    """Register ``handler`` to run in a Celery worker (queue ``ingest``) for each ``name`` fact.
    Use it for work that touches the database or takes more than a moment. Handlers must be
    idempotent: with late acks, a fact can be delivered twice after a worker crash."""
    key = uid or _uid_of(handler)
    with _lock:
        _worker_subscribers.setdefault(name, {})[key] = handler
    return key


def worker_subscribers(name: str) -> list[Subscriber]:
    with _lock:
        return list(_worker_subscribers.get(name, {}).values())


def unsubscribe(name: str, uid: str) -> None:
    with _lock:
        _subscribers.get(name, {}).pop(uid, None)
        _worker_subscribers.get(name, {}).pop(uid, None)


def subscribers(name: str) -> list[Subscriber]:
    with _lock:
        return list(_subscribers.get(name, {}).values())


def _deliver(event: DomainEvent, handler: Subscriber) -> None:
    try:
        handler(event)
    except Exception:  # one subscriber's failure must not hide the fact from the others
        logger.exception("domain event %s: subscriber %s failed", event.name, _uid_of(handler))


def publish(name: str, *, workspace_id: Any, payload: Mapping[str, Any], using: str | None = None) -> None:
    """Deliver ``name`` to its subscribers once the current transaction commits (at once when
    there is no transaction). Does nothing when nobody listens."""
    handlers = subscribers(name)
    in_worker = bool(worker_subscribers(name))
    if not handlers and not in_worker:
        return
    event = DomainEvent(name=name, workspace_id=str(workspace_id), payload=payload)
    for handler in handlers:
        transaction.on_commit(lambda h=handler: _deliver(event, h), using=using)  # type: ignore[misc]
    if in_worker:
        transaction.on_commit(lambda: _enqueue(event), using=using)


_batch = threading.local()


@contextmanager
def enqueues_batched() -> Iterator[None]:
    """Facts for the worker that become due while this block runs (their transactions commit
    inside it) go to the broker together when it ends: one round trip instead of one per fact,
    for a caller that commits many facts at once (decisions made together). Nested blocks send
    with the outermost."""
    if getattr(_batch, "pending", None) is not None:
        yield
        return
    pending: list[DomainEvent] = []
    _batch.pending = pending
    try:
        yield
    finally:
        _batch.pending = None
        if pending:
            _send(pending)


def _enqueue(event: DomainEvent) -> None:
    pending: list[DomainEvent] | None = getattr(_batch, "pending", None)
    if pending is not None:
        pending.append(event)
    else:
        _send([event])


def _send(events: list[DomainEvent]) -> None:
    from core.broker import task_enqueue_soon
    from core.tasks import domain_event_deliver_task

    try:
        # From the pusher thread in a web worker: the request does not wait for the broker.
        task_enqueue_soon(
            domain_event_deliver_task,
            calls=[
                (
                    {"name": event.name, "workspace_id": event.workspace_id, "payload": dict(event.payload)},
                    # A short repr for logs and monitors: Celery's default saferepr of a 100-event
                    # payload would cost more than the publish itself.
                    f"{{'name': {event.name!r}, 'workspace_id': {event.workspace_id!r}, 'payload': ...}}",
                )
                for event in events
            ],
            queue="ingest",
        )
    except Exception:  # the broker being down must not fail the write that already committed
        logger.exception("domain events %s: could not enqueue worker delivery", sorted({e.name for e in events}))


def deliver_in_worker(*, name: str, workspace_id: str, payload: Mapping[str, Any]) -> None:
    """Run the worker-side subscribers of one fact (called by core.tasks.domain_event_deliver_task)."""
    event = DomainEvent(name=name, workspace_id=workspace_id, payload=payload)
    for handler in worker_subscribers(name):
        _deliver(event, handler)
