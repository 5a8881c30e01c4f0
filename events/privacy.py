"""Subject rights for the event store: export a person's events, delete them on erasure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db.models import Q

from accounts.models import Workspace
from events.models import Event, ReceivedMessage

EXPORT_LIMIT = 50000


def _subject_events(workspace: Workspace, profile_ids: Sequence[UUID], identifiers: Sequence[tuple[str, str]] = ()):  # type: ignore[no-untyped-def]
    ids = [value for kind, value in identifiers if kind in ("user_id", "anonymous_id")]
    match = Q(profile_id__in=list(profile_ids))
    if ids:
        # Events stored before identity resolution linked them (or without a profile) still name the person.
        match |= Q(user_id__in=ids) | Q(anonymous_id__in=ids)
    return Event.objects.filter(Q(workspace_id=workspace.id) & match)


def events_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    rows = (
        _subject_events(workspace, profile_ids)
        .order_by("timestamp")
        .values(
            "id",
            "type",
            "name",
            "message_id",
            "user_id",
            "anonymous_id",
            "timestamp",
            "received_at",
            "properties",
            "traits",
            "context",
        )[:EXPORT_LIMIT]
    )
    return [
        {
            **row,
            "id": str(row["id"]),
            "timestamp": row["timestamp"].isoformat(),
            "received_at": row["received_at"].isoformat(),
        }
        for row in rows
    ]


def events_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[UUID], identifiers: Sequence[tuple[str, str]]
) -> int:
    events = _subject_events(workspace, profile_ids, identifiers)
    event_ids = list(events.values_list("id", flat=True))
    # The dedupe ledger keeps only message ids, but they are the person's messages: they go too.
    ReceivedMessage.objects.filter(workspace_id=workspace.id, event_id__in=event_ids).delete()
    return Event.objects.filter(workspace_id=workspace.id, id__in=event_ids).delete()[0]
