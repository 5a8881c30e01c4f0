from __future__ import annotations

from celery import shared_task

from events.services import event_retention_apply


@shared_task(name="events.event_retention_task")
def event_retention_task() -> int:
    """Delete events past EVENT_RETENTION_DAYS (scheduled daily by beat)."""
    return event_retention_apply()
