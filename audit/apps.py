from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.receivers import on_change_recorded
        from core.signals import change_recorded

        change_recorded.connect(on_change_recorded, dispatch_uid="audit.change_recorded")
