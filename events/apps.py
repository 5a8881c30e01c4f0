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
