from __future__ import annotations

from celery import shared_task

from support.services import tickets_sla_refresh


@shared_task(name="support.tickets_sla_refresh_task", ignore_result=True)
def tickets_sla_refresh_task() -> int:
    """Every minute (cep/celery.py beat): tickets whose SLA approaches climb the queue."""
    return tickets_sla_refresh()
