from __future__ import annotations

from celery import shared_task

from delivery.services import deliveries_sweep, delivery_attempt


@shared_task(name="delivery.delivery_attempt_task")
def delivery_attempt_task(delivery_id: str) -> str:
    delivery = delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "missing"


@shared_task(name="delivery.deliveries_sweep_task")
def deliveries_sweep_task() -> int:
    """Beat (every few minutes): re-queue attempts whose broker message was lost."""
    return deliveries_sweep()
