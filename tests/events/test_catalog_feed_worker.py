"""The whole path: a tracked product event commits, the "event ingested" fact reaches the
worker as one Celery task, and the worker fills the catalog and the person's engagements."""

from __future__ import annotations

import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from cep.celery import app as celery_app
from profiles.models import Item, ItemEngagement


@pytest.mark.django_db(transaction=True)
def test_product_event_reaches_the_catalog_through_the_worker(workspace, tracker) -> None:
    with start_worker(celery_app, queues=["ingest"], perform_ping_check=False, shutdown_timeout=10):
        response = tracker.post(
            "/v1/track",
            {
                "userId": "ana",
                "event": "Product Added",
                "messageId": str(uuid.uuid4()),
                "properties": {"product_id": "SKU-9", "name": "Trail runner", "category": "shoes"},
            },
        )
        assert response.status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not ItemEngagement.objects.filter(workspace=workspace).exists():
            time.sleep(0.2)
    item = Item.objects.get(workspace=workspace, external_id="SKU-9")
    assert item.name == "Trail runner" and item.category == "shoes"
    engagement = ItemEngagement.objects.get(workspace=workspace, item=item)
    assert engagement.weight == pytest.approx(3.0)  # "Product Added" weighs 3
