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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

# Names of the facts published today. Payloads carry ids and small scalars only (JSON-safe),
# so a subscriber can hand them straight to a Celery task.
EVENT_INGESTED = "event.ingested"
"""payload: {"events": [{"id", "profile_id", "type", "name", "timestamp"}, ...], "profile_ids": [...]}:
one notification per accepted request (a batch or a single call), listing only new events."""
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


def _enqueue(event: DomainEvent) -> None:
    from core.broker import task_enqueue
    from core.tasks import domain_event_deliver_task

    try:
        task_enqueue(
            domain_event_deliver_task,
            kwargs={"name": event.name, "workspace_id": event.workspace_id, "payload": dict(event.payload)},
            queue="ingest",
            # A short repr for logs and monitors: Celery's default saferepr of a 100-event payload
            # would cost more than the publish itself.
            kwargsrepr=f"{{'name': {event.name!r}, 'workspace_id': {event.workspace_id!r}, 'payload': ...}}",
        )
    except Exception:  # the broker being down must not fail the write that already committed
        logger.exception("domain event %s: could not enqueue worker delivery", event.name)


def deliver_in_worker(*, name: str, workspace_id: str, payload: Mapping[str, Any]) -> None:
    """Run the worker-side subscribers of one fact (called by core.tasks.domain_event_deliver_task)."""
    event = DomainEvent(name=name, workspace_id=workspace_id, payload=payload)
    for handler in worker_subscribers(name):
        _deliver(event, handler)
