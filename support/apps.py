from __future__ import annotations

from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.defaults import workspace_defaults_register
        from core import domain_events
        from decisions.services import DECISION_APPROVED, DECISION_MADE
        from profiles.references import profile_reference_register
        from profiles.subject_rights import subject_data_register
        from support.leads import leads_erase_for_subject, leads_export_for_subject
        from support.models import Lead, Ticket
        from support.services import support_defaults_install, tickets_erase_for_subject, tickets_export_for_subject
        from support.subscribers import on_decision_approved, on_decision_made, on_events_ingested

        profile_reference_register(model=Ticket, field="profile")
        profile_reference_register(model=Lead, field="profile")
        subject_data_register(uid="support.tickets", export=tickets_export_for_subject, erase=tickets_erase_for_subject)
        subject_data_register(uid="support.leads", export=leads_export_for_subject, erase=leads_erase_for_subject)
        workspace_defaults_register(support_defaults_install, uid="support.teams")
        # Registered after scoring's re-scoring (INSTALLED_APPS order), so the worker re-reads
        # fresh scores when it re-prioritizes.
        domain_events.subscribe_in_worker(
            domain_events.EVENT_INGESTED, on_events_ingested, uid="support.tickets_reprioritize"
        )
        domain_events.subscribe_in_worker(DECISION_MADE, on_decision_made, uid="support.decision_made")
        domain_events.subscribe_in_worker(DECISION_APPROVED, on_decision_approved, uid="support.decision_approved")
