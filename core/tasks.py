from __future__ import annotations

from celery import shared_task


@shared_task(name="core.ping_task", ignore_result=False)
def ping_task(value: str) -> str:
    """Round trip through the broker; used by tests and operators to prove a worker runs."""
    return f"pong:{value}"
