"""Writes of the event store: ingestion and retention.

``event_batch_ingest`` is the one write path for tracking calls (a single call is a batch of
one). In one transaction:

1. record each (workspace, messageId) in the dedupe ledger, ``INSERT ... ON CONFLICT DO
   NOTHING RETURNING``, in messageId order so concurrent writers lock ledger keys in the same
   order; whatever comes back is new, the rest are replays (first write wins);
2. resolve the new events' people and update their golden records and features
   (``profiles.services.profiles_observe``: set-based, each person once per batch);
3. insert the new events with their profile ids, in the same statement as the features upsert
   (``profiles.sql.WriteBatch``: one round trip);
4. after commit, publish ``event.ingested`` (core.domain_events; the payload is built after the
   transaction's block, outside the locks).

A batch of at least ``INGEST_PREPARE_MIN_EVENTS`` new events does most of its work before the
identity locks instead, because those locks are what concurrent batches queue on: it guesses
each event's person and features update from an unlocked read (``profiles_prepare``), inserts
the events with the guessed profiles, then takes the locks; ``profiles_observe`` keeps whatever
the locked read confirms, and the events whose person turned out different (a merge or a new
identifier committed in between) are re-pointed in the features upsert's round trip.

The transaction is retried when PostgreSQL aborts it for a deadlock or serialisation
failure; the ledger makes a retry idempotent.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from accounts.models import Workspace
from core import domain_events, fastjson
from events.models import Event, EventType, ReceivedMessage
from events.validation import Message
from profiles.features import FeatureEvent
from profiles.identity import SOURCE_CONTEXT, SOURCE_IDENTIFY, Observation, observation_keys
from profiles.selectors import identifiers_suppressed
from profiles.services import PreparedBatch, profiles_observe, profiles_prepare
from profiles.sql import WriteBatch, bulk_execute, bulk_fetchall

logger = logging.getLogger(__name__)

EVENT_TABLE = Event._meta.db_table
LEDGER_TABLE = ReceivedMessage._meta.db_table
MAX_ATTEMPTS = 5
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
BEHAVIOURAL = frozenset({EventType.TRACK, EventType.PAGE, EventType.SCREEN})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: UUID
    message_id: str
    profile_id: UUID | None
    type: str
    name: str
    timestamp: datetime


@dataclass(frozen=True)
class IngestResult:
    stored: list[StoredEvent]
    duplicates: int
    suppressed: int = 0  # events for erased people (subject erasure), dropped unstored
    suppressed_ids: frozenset[str] = frozenset()  # their messageIds

    @property
    def accepted(self) -> int:
        return len(self.stored)

    def of_message(self, message_id: str) -> IngestResult:
        """The part of this result that concerns one message of a batch whose messageIds are
        distinct: stored, dropped for an erased person, or a replay."""
        stored = [s for s in self.stored if s.message_id == message_id]
        if stored:
            return IngestResult(stored=stored, duplicates=0)
        if message_id in self.suppressed_ids:
            return IngestResult(stored=[], duplicates=0, suppressed=1, suppressed_ids=frozenset([message_id]))
        return IngestResult(stored=[], duplicates=1)


def uuid7(now: float | None = None) -> UUID:
    """A time-ordered UUID (RFC 9562 version 7): new events append to the primary key index."""
    millis = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return UUID(int=value)


def _dumps(value: Any) -> str:
    return fastjson.dumps(value) if value else "{}"


def feature_name(message: Message) -> str:
    """The name an event is counted under in features: the track event's name, else "$<type>"."""
    return message.name if message.type == EventType.TRACK else f"${message.type}"


def _external_ids(context: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    entries = context.get("externalIds")
    if not isinstance(entries, list):
        return found
    for entry in entries[:20]:
        if not isinstance(entry, dict):
            continue
        kind, value = entry.get("type"), entry.get("id")
        if isinstance(kind, str) and kind and isinstance(value, str | int) and not isinstance(value, bool):
            found.append((kind[:100], str(value)))
    return found


def observation_of(ref: int, message: Message) -> Observation:
    context = message.context
    context_traits = context.get("traits") if isinstance(context.get("traits"), dict) else None
    device = context.get("device")
    device_id = device.get("id") if isinstance(device, dict) else None
    if message.type == EventType.IDENTIFY:
        traits: dict[str, Any] | None = {**(context_traits or {}), **message.traits}
        source = SOURCE_IDENTIFY
    else:
        traits, source = context_traits, SOURCE_CONTEXT
    return Observation(
        ref=ref,
        timestamp=message.timestamp,
        anonymous_id=message.anonymous_id,
        user_id=message.user_id,
        previous_id=message.extra.get("previousId") if message.type == EventType.ALIAS else None,
        device_id=device_id if isinstance(device_id, str) else None,
        external_ids=_external_ids(context),
        traits=traits or None,
        trait_source=source,
        group_id=message.extra.get("groupId") if message.type == EventType.GROUP else None,
        group_traits=message.traits if message.type == EventType.GROUP else None,
        feature=FeatureEvent(
            name=feature_name(message),
            at=message.timestamp.timestamp(),
            properties=message.properties,
            behavioural=message.type in BEHAVIOURAL,
        ),
    )


def _ledger_claim(
    workspace_id: UUID, messages: Sequence[Message], ids: Sequence[UUID], received_at: datetime
) -> dict[str, UUID]:
    order = sorted(range(len(messages)), key=lambda i: (messages[i].message_id, i))
    claimed = bulk_fetchall(
        f"INSERT INTO {LEDGER_TABLE} (workspace_id, message_id, event_id, received_at) "  # noqa: S608
        "SELECT %s, u.m, u.e, %s FROM unnest(%b::text[], %b::uuid[]) WITH ORDINALITY AS u(m, e, n) ORDER BY u.n "
        "ON CONFLICT DO NOTHING RETURNING message_id, event_id",
        [workspace_id, received_at, [messages[i].message_id for i in order], [ids[i] for i in order]],
    )
    return dict(claimed)


def _event_columns(messages: Sequence[Message]) -> list[list[Any]]:
    """The events insert's columns that do not depend on who the events belong to, built before
    the identity locks are taken (the JSON encoding is most of the statement's Python cost)."""
    return [
        [m.message_id for m in messages],
        [m.type for m in messages],
        [m.name for m in messages],
        [m.anonymous_id or "" for m in messages],
        [m.user_id or "" for m in messages],
        [m.timestamp for m in messages],
        [m.original_timestamp for m in messages],
        [m.sent_at for m in messages],
        [m.received_at for m in messages],
        [_dumps(m.properties) for m in messages],
        [_dumps(m.traits) for m in messages],
        [_dumps(m.context) for m in messages],
        [_dumps(m.integrations) for m in messages],
        [_dumps(m.extra) for m in messages],
    ]


def _events_insert(
    workspace_id: UUID,
    event_ids: list[UUID],
    profile_ids: list[UUID | None],
    columns: list[list[Any]],
    writes: WriteBatch | None,
) -> None:
    (writes.add if writes is not None else bulk_execute)(
        f"INSERT INTO {EVENT_TABLE} (id, workspace_id, profile_id, message_id, type, name, anonymous_id, user_id, "  # noqa: S608
        "timestamp, original_timestamp, sent_at, received_at, properties, traits, context, integrations, extra) "
        "SELECT u.id, %s, u.profile_id, u.message_id, u.type, u.name, u.anonymous_id, u.user_id, u.ts, u.ots, "
        "u.sent_at, u.received_at, u.p::jsonb, u.t::jsonb, u.c::jsonb, u.i::jsonb, u.x::jsonb "
        "FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
        "%b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::timestamptz[], "
        "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
        "AS u(id, profile_id, message_id, type, name, anonymous_id, user_id, ts, ots, sent_at, received_at, "
        "p, t, c, i, x)",
        [workspace_id, event_ids, profile_ids, *columns],
    )


def _events_repoint(workspace_id: UUID, moves: Sequence[tuple[UUID, UUID | None]], writes: WriteBatch) -> None:
    """Give events stored with a guessed profile the one they resolved to under the locks."""
    if moves:
        writes.add(
            f"UPDATE {EVENT_TABLE} AS e SET profile_id = u.p FROM unnest(%b::uuid[], %b::uuid[]) AS u(id, p) "  # noqa: S608
            "WHERE e.workspace_id = %s AND e.id = u.id",
            [[event_id for event_id, _ in moves], [profile_id for _, profile_id in moves], workspace_id],
        )


def _ingest(workspace: Workspace, messages: Sequence[Message], received_at: datetime) -> IngestResult:
    now = time.time()
    ids = [uuid7(now) for _ in messages]
    claimed = _ledger_claim(workspace.id, messages, ids, received_at)
    new = [(index, ids[index], m) for index, m in enumerate(messages) if claimed.get(m.message_id) == ids[index]]
    if not new:
        return IngestResult(stored=[], duplicates=len(messages))
    columns = _event_columns([message for _, _, message in new])
    event_ids = [event_id for _, event_id, _ in new]
    observations = [observation_of(index, message) for index, _, message in new]
    writes = WriteBatch()  # the features upsert and the events insert (or its corrections): one round trip
    prepared: PreparedBatch | None = None
    guessed: list[UUID | None] = []
    if len(new) >= settings.INGEST_PREPARE_MIN_EVENTS:  # big batch: the events go in before the locks
        prepared = profiles_prepare(workspace=workspace, observations=observations, now=received_at)
        guessed = [prepared.profiles.get(index) for index, _, _ in new]
        _events_insert(workspace.id, event_ids, guessed, columns, None)
    resolved = profiles_observe(
        workspace=workspace, observations=observations, now=received_at, writes=writes, prepared=prepared
    )
    profile_ids = [resolved.get(index) for index, _, _ in new]
    if prepared is None:
        _events_insert(workspace.id, event_ids, profile_ids, columns, writes)
    else:
        moves = zip(event_ids, profile_ids, guessed, strict=True)
        _events_repoint(workspace.id, [(e, p) for e, p, g in moves if p != g], writes)
    writes.flush()
    rows = list(zip(event_ids, [message for _, _, message in new], profile_ids, strict=True))
    stored = [
        StoredEvent(
            id=event_id,
            message_id=message.message_id,
            profile_id=profile_id,
            type=message.type,
            name=message.name,
            timestamp=message.timestamp,
        )
        for event_id, message, profile_id in rows
    ]
    return IngestResult(stored=stored, duplicates=len(messages) - len(stored))


def _ingested_publish(workspace: Workspace, stored: Sequence[StoredEvent]) -> None:
    """``event.ingested`` for the new events, delivered after commit. Called once the ingest
    transaction's block has ended, so building the payload does not lengthen the locks' hold."""
    if not stored:
        return
    domain_events.publish(
        domain_events.EVENT_INGESTED,
        workspace_id=workspace.id,
        payload={
            "events": [
                {
                    "id": str(s.id),
                    "profile_id": str(s.profile_id) if s.profile_id else None,
                    "type": s.type,
                    "name": s.name,
                    "timestamp": s.timestamp.isoformat(),
                }
                for s in stored
            ],
            "profile_ids": sorted({str(s.profile_id) for s in stored if s.profile_id}),
        },
    )


def _retryable(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def _without_erased(workspace: Workspace, messages: Sequence[Message]) -> Sequence[Message]:
    """Drop messages carrying an identifier of an erased person: erasure must not be undone by
    the next page view of a storefront that still has their cookie (one indexed query)."""
    keys = [observation_keys(observation_of(index, message)) for index, message in enumerate(messages)]
    suppressed = identifiers_suppressed(workspace.id, {key for message_keys in keys for key in message_keys})
    if not suppressed:
        return messages
    return [
        message for message, message_keys in zip(messages, keys, strict=True) if suppressed.isdisjoint(message_keys)
    ]


def event_batch_ingest(
    *,
    workspace: Workspace,
    messages: Sequence[Message],
    received_at: datetime | None = None,
    check_erased: bool = True,
) -> IngestResult:
    """Store validated messages, deduplicated by messageId, and update identities and features.
    ``check_erased=False`` skips the suppression-list lookup, for callers that have just read that
    the workspace has no erased people (events.selectors.tracking_caller)."""
    if not messages:
        return IngestResult(stored=[], duplicates=0)
    received_at = received_at or timezone.now()
    kept = _without_erased(workspace, messages) if check_erased else messages
    suppressed = len(messages) - len(kept)
    suppressed_ids = (
        frozenset(m.message_id for m in messages) - {m.message_id for m in kept} if suppressed else frozenset()
    )
    if not kept:
        return IngestResult(stored=[], duplicates=0, suppressed=suppressed, suppressed_ids=suppressed_ids)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                result = _ingest(workspace, kept, received_at)
            _ingested_publish(workspace, result.stored)
            return replace(result, suppressed=suppressed, suppressed_ids=suppressed_ids)
        except OperationalError as exc:
            if attempt == MAX_ATTEMPTS or not _retryable(exc):
                raise
            logger.info("ingest attempt %s aborted (%s); retrying", attempt, getattr(exc.__cause__, "sqlstate", ""))
            time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")  # pragma: no cover


def event_retention_apply(
    *, now: datetime | None = None, days: int | None = None, chunk_size: int | None = None, max_chunks: int = 1000
) -> int:
    """Delete events older than ``EVENT_RETENTION_DAYS`` (by event time) and ledger entries
    received before then, in chunks of their own transactions so the table stays writable.
    Returns the number of events deleted. 0 days disables retention."""
    days = days if days is not None else int(getattr(settings, "EVENT_RETENTION_DAYS", 0))
    if days <= 0:
        return 0
    chunk = chunk_size if chunk_size else int(getattr(settings, "EVENT_RETENTION_CHUNK", 5000))
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    for _ in range(max_chunks):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {EVENT_TABLE} WHERE id IN "  # noqa: S608
                f"(SELECT id FROM {EVENT_TABLE} WHERE timestamp < %s LIMIT %s)",
                [cutoff, chunk],
            )
            count = int(cursor.rowcount or 0)
        deleted += count
        if count < chunk:
            break
    for _ in range(max_chunks):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {LEDGER_TABLE} WHERE (workspace_id, message_id) IN "  # noqa: S608
                f"(SELECT workspace_id, message_id FROM {LEDGER_TABLE} WHERE received_at < %s LIMIT %s)",
                [cutoff, chunk],
            )
            count = int(cursor.rowcount or 0)
        if count < chunk:
            break
    return deleted


def event_engagements_apply(*, workspace_id: str, event_ids: Sequence[str]) -> int:
    """Worker side of "event ingested": product events feed the item catalog and the people's
    item engagements (profiles.catalog). Idempotency: an event's engagement is applied once,
    guarded by a flag in ``extra`` set in the same transaction."""
    from profiles.catalog import Engagement, engagements_record, items_upsert, product_refs, profile_embeddings_refresh
    from profiles.tasks import catalog_embeddings_refresh_soon

    weights = settings.PROFILE_AFFINITY_WEIGHTS
    default_weight = float(settings.PROFILE_AFFINITY_DEFAULT_WEIGHT)
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(workspace_id=workspace_id, id__in=list(event_ids), type=EventType.TRACK, profile_id__isnull=False)
            .exclude(extra__has_key="engaged")
        )
        products: list[dict[str, Any]] = []
        engagements: list[Engagement] = []
        for event in events:
            if event.profile_id is None:
                continue
            refs = product_refs(event.properties or {})
            products.extend(refs)
            weight = float(weights.get(event.name, default_weight))
            engagements.extend(
                Engagement(
                    profile_id=event.profile_id, external_id=ref["external_id"], weight=weight, at=event.timestamp
                )
                for ref in refs
            )
        if not engagements:
            return 0
        workspace = Workspace.objects.get(id=workspace_id)
        _, created = items_upsert(workspace=workspace, products=products)
        changed = engagements_record(workspace=workspace, engagements=engagements)
        Event.objects.filter(id__in=[e.id for e in events]).update(extra=_engaged_flag())
        profile_embeddings_refresh(workspace=workspace, profile_ids=changed)
    if created:
        transaction.on_commit(lambda: catalog_embeddings_refresh_soon(str(workspace_id)))
    return len(engagements)


def _engaged_flag() -> Any:
    """``extra || '{"engaged": true}'``: marks the event, keeping whatever else extra holds."""
    from django.db.models import F, JSONField, Value
    from django.db.models.expressions import CombinedExpression
    from django.db.models.functions import Cast

    return CombinedExpression(F("extra"), "||", Cast(Value('{"engaged": true}'), JSONField()))
