from __future__ import annotations

from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import domain_events
        from decisions.services import DECISION_APPROVED, DECISION_MADE
        from delivery.models import Delivery
        from delivery.services import deliveries_erase_for_subject, deliveries_export_for_subject
        from delivery.subscribers import on_decision_approved, on_decision_made, on_events_ingested
        from profiles.references import profile_reference_register
        from profiles.subject_rights import subject_data_register

        profile_reference_register(model=Delivery, field="profile")
        subject_data_register(
            uid="delivery.deliveries", export=deliveries_export_for_subject, erase=deliveries_erase_for_subject
        )
        domain_events.subscribe_in_worker(DECISION_MADE, on_decision_made, uid="delivery.decision_made")
        domain_events.subscribe_in_worker(DECISION_APPROVED, on_decision_approved, uid="delivery.decision_approved")
        domain_events.subscribe_in_worker(domain_events.EVENT_INGESTED, on_events_ingested, uid="delivery.receipts")
