"""core.broker: the one-command enqueue writes what kombu would, and a real worker runs it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from cep.celery import app as celery_app
from core import broker
from core.tasks import domain_event_deliver_task, ping_task

SCRATCH = "test-broker-scratch"


@pytest.fixture
def broker_redis() -> Any:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(SCRATCH)
    yield client
    client.delete(SCRATCH)


def _pop(client: Any) -> dict[str, Any]:
    raw = client.rpop(SCRATCH)
    assert raw is not None, "nothing was enqueued"
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_the_message_is_the_one_kombu_writes(broker_redis) -> None:
    kwargs = {"name": "event.ingested", "workspace_id": "w1", "payload": {"events": [{"id": 1}], "n": 2.5}}
    shown = "{'name': 'event.ingested', ...}"
    domain_event_deliver_task.apply_async(kwargs=kwargs, queue=SCRATCH, argsrepr="()", kwargsrepr=shown)  # type: ignore[call-arg]
    theirs = _pop(broker_redis)
    broker.task_enqueue(domain_event_deliver_task, kwargs=kwargs, queue=SCRATCH, kwargsrepr=shown)
    ours = _pop(broker_redis)

    unique = {"id", "root_id", "correlation_id", "delivery_tag"}  # fresh per message by design
    assert ours["headers"]["id"] == ours["headers"]["root_id"] == ours["properties"]["correlation_id"]
    for part in ("headers", "properties"):
        assert set(ours[part]) == set(theirs[part]), part
        for key in set(ours[part]) - unique:
            assert ours[part][key] == theirs[part][key], (part, key)
    assert {k: v for k, v in ours.items() if k not in {"headers", "properties"}} == {
        k: v for k, v in theirs.items() if k not in {"headers", "properties"}
    }


def test_a_task_with_a_result_runs_in_a_real_worker(transactional_db) -> None:
    with start_worker(celery_app, queues=["default"], perform_ping_check=False, shutdown_timeout=10):
        task_id = broker.task_enqueue(ping_task, kwargs={"value": "fast"}, queue="default")
        assert celery_app.AsyncResult(task_id).get(timeout=20) == "pong:fast"


def test_eager_mode_falls_back_to_celery(broker_redis) -> None:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        task_id = broker.task_enqueue(ping_task, kwargs={"value": "eager"}, queue=SCRATCH)
    finally:
        celery_app.conf.task_always_eager = previous
    assert broker_redis.llen(SCRATCH) == 0  # ran in process, nothing queued
    assert task_id


def test_many_messages_go_in_one_push_and_are_taken_in_order(broker_redis, monkeypatch) -> None:
    pushes: list[int] = []
    client = broker._client(settings.CELERY_BROKER_URL)
    original = client.lpush

    def lpush(queue: str, *values: bytes) -> Any:
        pushes.append(len(values))
        return original(queue, *values)

    monkeypatch.setattr(client, "lpush", lpush)
    calls = [({"value": n}, f"{{'value': {n!r}}}") for n in ("a", "b", "c")]
    ids = broker.task_enqueue_many(ping_task, calls=calls, queue=SCRATCH)

    assert pushes == [3]
    taken = [_pop(broker_redis) for _ in ids]  # a worker takes from the right, like three pushes one by one
    assert [m["headers"]["id"] for m in taken] == ids
    assert [m["body"][1] for m in taken] == [{"value": "a"}, {"value": "b"}, {"value": "c"}]
    assert [m["headers"]["kwargsrepr"] for m in taken] == ["{'value': 'a'}", "{'value': 'b'}", "{'value': 'c'}"]
