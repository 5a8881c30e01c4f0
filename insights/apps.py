from __future__ import annotations

from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import domain_events
        from insights.services import rollups_erase_for_subject, rollups_export_for_subject
        from insights.subscribers import on_events_ingested, on_profiles_merged
        from profiles.subject_rights import subject_data_register

        # The funnel and cohort rollups (insights.models) follow every stored event.
        domain_events.subscribe_in_worker(domain_events.EVENT_INGESTED, on_events_ingested, uid="insights.rollups")
        domain_events.subscribe_in_worker(domain_events.PROFILE_MERGED, on_profiles_merged, uid="insights.merges")
        subject_data_register(
            uid="insights.rollups", export=rollups_export_for_subject, erase=rollups_erase_for_subject
        )
