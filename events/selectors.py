"""Reads of the event store. Callers never query ``Event`` directly, so the table can be
partitioned by time later without changing them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Q

from accounts.models import Workspace, WriteKey
from accounts.principals import Actor
from core.rows import from_row, select_list
from events.models import Event, ReceivedMessage
from profiles.models import SuppressedIdentifier
from profiles.selectors import profile_get
from profiles.sql import bulk_fetchall

TIMELINE_MAX = 200


@dataclass(frozen=True)
class TrackingCaller:
    workspace: Workspace
    erasures: bool  # the workspace has erased people, whose identifiers ingestion must drop


_CALLER_SQL = (
    f"SELECT {select_list(Workspace, 'w')}, "  # noqa: S608 - table and column names only
    f"EXISTS (SELECT 1 FROM {SuppressedIdentifier._meta.db_table} s WHERE s.workspace_id = w.id) "
    f"FROM {WriteKey._meta.db_table} k JOIN {Workspace._meta.db_table} w ON w.id = k.workspace_id "
    "WHERE k.key = %s AND k.revoked_at IS NULL"
)


def tracking_caller(*, write_key: str) -> TrackingCaller | None:
    """The workspace of an active write key, and whether it has any erased people (almost never:
    then ingestion skips the suppression-list lookup), in one statement. None for an unknown or
    revoked key."""
    rows = bulk_fetchall(_CALLER_SQL, [write_key])
    if not rows:
        return None
    *workspace, erasures = rows[0]
    return TrackingCaller(workspace=from_row(Workspace, workspace), erasures=bool(erasures))


@dataclass(frozen=True)
class TimelinePage:
    events: list[Event]
    next_cursor: tuple[datetime, UUID] | None  # pass back as ``before`` for the next (older) page


def event_timeline(
    *,
    workspace: Workspace,
    profile_id: UUID | str,
    before: tuple[datetime, UUID] | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> TimelinePage:
    """A person's events, newest first, keyset-paginated on (timestamp, id). The caller has
    already resolved ``profile_id`` within ``workspace`` (see ``event_timeline_for``)."""
    limit = max(1, min(limit, TIMELINE_MAX))
    events = Event.objects.filter(workspace=workspace, profile_id=profile_id)
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if before is not None:
        moment, event_id = before
        events = events.filter(Q(timestamp__lt=moment) | Q(timestamp=moment, id__lt=event_id))
    page = list(events.order_by("-timestamp", "-id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return TimelinePage(events=page, next_cursor=(page[-1].timestamp, page[-1].id) if more and page else None)


def event_timeline_for(
    *,
    actor: Actor,
    workspace: Workspace,
    profile_id: UUID | str,
    before: tuple[datetime, UUID] | None = None,
    limit: int = 50,
) -> TimelinePage:
    """The timeline for someone allowed to see the workspace's people; a merged profile id
    shows its survivor's timeline; a foreign one is a 404."""
    profile = profile_get(actor=actor, workspace=workspace, profile_id=profile_id)
    return event_timeline(workspace=workspace, profile_id=profile.pk, before=before, limit=limit)


def event_get_by_message_id(*, workspace: Workspace, message_id: str) -> Event | None:
    """Through the dedupe ledger, which is keyed by (workspace, messageId)."""
    entry = ReceivedMessage.objects.filter(workspace=workspace, message_id=message_id).only("event_id").first()
    if entry is None:
        return None
    return Event.objects.filter(workspace=workspace, pk=entry.event_id).first()


def event_count(*, workspace: Workspace, name: str | None = None, since: datetime | None = None) -> int:
    events = Event.objects.filter(workspace=workspace)
    if name is not None:
        events = events.filter(name=name)
    if since is not None:
        events = events.filter(timestamp__gte=since)
    return events.count()
