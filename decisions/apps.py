from __future__ import annotations

from django.apps import AppConfig


class DecisionsConfig(AppConfig):
    name = "decisions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import domain_events
        from decisions.models import Decision, SuppressionWindow
        from decisions.services import DECISION_MADE
        from decisions.subscribers import on_decision_made, on_events_ingested
        from profiles.references import profile_reference_register

        profile_reference_register(model=Decision, field="profile")
        profile_reference_register(model=SuppressionWindow, field="profile")
        domain_events.subscribe_in_worker(
            domain_events.EVENT_INGESTED, on_events_ingested, uid="decisions.events_ingested"
        )
        domain_events.subscribe_in_worker(DECISION_MADE, on_decision_made, uid="decisions.broadcast")

        from decisions.training_labels import decision_outcomes_for_training
        from scoring.labels import response_outcomes_register

        # Closed decisions teach scoring's per-action response models who responds to what.
        response_outcomes_register(decision_outcomes_for_training, uid="decisions.log")

        from decisions.approvals import on_decision_pending

        # Proposals that wait for a human appear live on every open approvals queue.
        domain_events.subscribe_in_worker(DECISION_MADE, on_decision_pending, uid="decisions.approval_requested")

        from decisions.privacy import decisions_erase_for_subject, decisions_export_for_subject
        from profiles.subject_rights import subject_data_register

        subject_data_register(
            uid="decisions.log", export=decisions_export_for_subject, erase=decisions_erase_for_subject
        )

        from accounts.defaults import workspace_defaults_register
        from decisions.defaults import catalog_defaults_install

        workspace_defaults_register(catalog_defaults_install, uid="decisions.catalog")
