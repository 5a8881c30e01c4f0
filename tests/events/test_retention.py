from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cep.celery import app as celery_app
from events.models import Event, ReceivedMessage
from events.services import event_retention_apply
from events.tasks import event_retention_task
from tests.events.conftest import Tracker

pytestmark = pytest.mark.django_db


def _send(tracker: Tracker, message_id: str, days_ago: int) -> None:
    moment = (timezone.now() - timedelta(days=days_ago)).isoformat()
    response = tracker.post("/v1/track", {"userId": "u", "event": "E", "messageId": message_id, "timestamp": moment})
    assert response.status_code == 200


def test_retention_deletes_old_events_in_chunks_and_keeps_recent(tracker: Tracker, settings: Any) -> None:
    settings.EVENT_RETENTION_DAYS = 30
    for n in range(5):
        _send(tracker, f"old-{n}", days_ago=40)
    _send(tracker, "recent", days_ago=3)

    deleted = event_retention_apply(chunk_size=2)

    assert deleted == 5
    assert list(Event.objects.values_list("message_id", flat=True)) == ["recent"]
    # the ledger is kept by arrival time: a replay of an imported old message is still a duplicate
    assert ReceivedMessage.objects.count() == 6
    _send(tracker, "old-1", days_ago=40)
    assert Event.objects.count() == 1


def test_ledger_entries_received_before_the_cutoff_go_too(tracker: Tracker, settings: Any) -> None:
    settings.EVENT_RETENTION_DAYS = 30
    _send(tracker, "m", days_ago=1)
    later = timezone.now() + timedelta(days=60)
    assert event_retention_apply(now=later) == 1
    assert ReceivedMessage.objects.count() == 0


def test_zero_days_keeps_everything(tracker: Tracker, settings: Any) -> None:
    settings.EVENT_RETENTION_DAYS = 0
    _send(tracker, "ancient", days_ago=3000)
    assert event_retention_task() == 0
    assert Event.objects.count() == 1


def test_retention_is_scheduled_daily() -> None:
    entry = celery_app.conf.beat_schedule["events-retention"]
    assert entry["task"] == "events.event_retention_task"
    assert event_retention_task.name in celery_app.tasks
