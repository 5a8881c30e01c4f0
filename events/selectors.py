"""Reads of the event store. Callers never query ``Event`` directly, so the table can be
partitioned by time later without changing them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db.models import Q

from accounts.models import Workspace
from accounts.principals import Actor
from events.models import Event, ReceivedMessage
from profiles.selectors import profile_get

TIMELINE_MAX = 200


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
