from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events import schema  # noqa: F401 - registers the write-key OpenAPI scheme
        from events.models import Event
        from profiles.references import profile_reference_register

        # Merged-away profiles' events move to the survivor inside the merge's transaction.
        profile_reference_register(model=Event, field="profile")

        from core import domain_events

        def on_ingested(event: domain_events.DomainEvent) -> None:
            from events.services import event_engagements_apply

            ids = [e["id"] for e in event.payload["events"] if e.get("type") == "track"]
            if ids:
                event_engagements_apply(workspace_id=event.workspace_id, event_ids=ids)

        # Product events feed the item catalog and embeddings, in the worker (not on the request).
        domain_events.subscribe_in_worker(domain_events.EVENT_INGESTED, on_ingested, uid="events.engagements")

        from events.privacy import events_erase_for_subject, events_export_for_subject
        from profiles.subject_rights import subject_data_register

        subject_data_register(uid="events.store", export=events_export_for_subject, erase=events_erase_for_subject)
