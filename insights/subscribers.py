"""Worker-side subscriber that keeps the insights rollups current as events are ingested."""

from __future__ import annotations

from core.domain_events import DomainEvent
from insights.services import customers_refresh, rollups_apply, rollups_merge


def on_events_ingested(event: DomainEvent) -> None:
    rollups_apply(workspace_id=event.workspace_id, events=event.payload.get("events") or [])
    # Ingestion is what writes the features (profiles.services), for these profiles.
    customers_refresh(workspace_id=event.workspace_id, profile_ids=list(event.payload.get("profile_ids") or []))


def on_profiles_merged(event: DomainEvent) -> None:
    rollups_merge(
        workspace_id=event.workspace_id,
        survivor_id=event.payload["survivor_id"],
        merged_ids=list(event.payload.get("merged_ids") or []),
    )
