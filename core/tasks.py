from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="core.ping_task", ignore_result=False)
def ping_task(value: str) -> str:
    """Round trip through the broker; used by tests and operators to prove a worker runs."""
    return f"pong:{value}"


@shared_task(name="core.domain_event_deliver_task")
def domain_event_deliver_task(*, name: str, workspace_id: str, payload: dict[str, Any]) -> None:
    from core.domain_events import deliver_in_worker

    deliver_in_worker(name=name, workspace_id=workspace_id, payload=payload)
