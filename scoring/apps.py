from __future__ import annotations

from typing import Any

from django.apps import AppConfig

# People per scores_refresh call: a large batch request is re-scored in a few transactions.
REFRESH_CHUNK = 500


def _refresh(workspace_id: str, profile_ids: list[Any]) -> None:
    from accounts.models import Workspace
    from scoring.services import scores_refresh

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return
    for start in range(0, len(profile_ids), REFRESH_CHUNK):
        scores_refresh(workspace=workspace, profile_ids=profile_ids[start : start + REFRESH_CHUNK])


class ScoringConfig(AppConfig):
    name = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import domain_events
        from profiles.references import profile_reference_register
        from scoring.models import ProfileScore

        # A merge re-points the merged-away person's scores to the survivor, in the merge's transaction.
        profile_reference_register(model=ProfileScore, field="profile")

        def on_ingested(event: domain_events.DomainEvent) -> None:
            _refresh(event.workspace_id, list(event.payload.get("profile_ids") or []))

        def on_merged(event: domain_events.DomainEvent) -> None:
            survivor = event.payload.get("survivor_id")
            if survivor:
                _refresh(event.workspace_id, [survivor])

        # Real-time re-scoring runs in the worker (queue "ingest"), carried by core's one task per
        # fact; it is idempotent, so a redelivered fact changes nothing.
        domain_events.subscribe_in_worker(domain_events.EVENT_INGESTED, on_ingested, uid="scoring.scores_refresh")
        domain_events.subscribe_in_worker(domain_events.PROFILE_MERGED, on_merged, uid="scoring.scores_merge")
