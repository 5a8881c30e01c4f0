from __future__ import annotations

from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "journeys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.defaults import workspace_defaults_register
        from core import domain_events
        from decisions.services import DECISION_APPROVED, DECISION_DECLINED
        from journeys.models import PlaybookRun
        from journeys.services import journeys_defaults_install, runs_erase_for_subject, runs_export_for_subject
        from journeys.subscribers import (
            on_decision_approved,
            on_decision_declined,
            on_events_ingested,
            on_score_changed,
        )
        from profiles.references import profile_reference_register
        from profiles.subject_rights import subject_data_register
        from scoring.triggers import SCORE_CHANGED

        profile_reference_register(model=PlaybookRun, field="profile")
        subject_data_register(uid="journeys.runs", export=runs_export_for_subject, erase=runs_erase_for_subject)
        workspace_defaults_register(journeys_defaults_install, uid="journeys.playbooks")
        domain_events.subscribe_in_worker(domain_events.EVENT_INGESTED, on_events_ingested, uid="journeys.signals")
        domain_events.subscribe_in_worker(SCORE_CHANGED, on_score_changed, uid="journeys.score_signals")
        domain_events.subscribe_in_worker(DECISION_APPROVED, on_decision_approved, uid="journeys.approvals")
        domain_events.subscribe_in_worker(DECISION_DECLINED, on_decision_declined, uid="journeys.declines")
