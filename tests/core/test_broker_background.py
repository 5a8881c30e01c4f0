"""core.broker.task_enqueue_soon with background pushing on (as in the web workers): messages leave
from the process's pusher thread, in order, several to a push, and survive a short broker outage."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings

from cep.celery import app as celery_app
from core import broker
from core.tasks import ping_task

SCRATCH = "test-broker-background"


@pytest.fixture
def queue() -> Iterator[Any]:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(SCRATCH)
    yield client
    client.delete(SCRATCH)


@pytest.fixture
def background() -> Iterator[None]:
    broker.push_in_background()
    try:
        yield
    finally:
        broker.push_in_background(False)  # pushes what is left first


def _values(client: Any) -> list[str]:
    """The queued calls' ``value`` arguments in the order a worker takes them (from the right)."""
    taken = []
    while (raw := client.rpop(SCRATCH)) is not None:
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        taken.append(body[1]["value"])
    return taken


def _soon(*values: str) -> None:
    broker.task_enqueue_soon(ping_task, calls=[({"value": v}, repr(v)) for v in values], queue=SCRATCH)


def test_off_by_default_the_message_is_pushed_before_the_call_returns(queue: Any) -> None:
    _soon("now")
    assert _values(queue) == ["now"]


def test_messages_handed_over_during_a_push_go_together_in_the_next_one_in_order(
    queue: Any, background: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = broker._client(settings.CELERY_BROKER_URL)
    original = client.lpush
    pushes: list[int] = []
    first_push_started, release = threading.Event(), threading.Event()

    def lpush(name: str, *values: bytes) -> Any:
        pushes.append(len(values))
        first_push_started.set()
        assert release.wait(10)
        return original(name, *values)

    monkeypatch.setattr(client, "lpush", lpush)
    _soon("a")  # returns at once: the push is waiting on ``release``
    assert first_push_started.wait(10)
    _soon("b", "c")
    _soon("d")
    assert queue.llen(SCRATCH) == 0  # nothing has reached Redis yet, and no caller waited for it
    release.set()
    assert broker.task_pushes_flush(10)

    assert pushes == [1, 3]  # "a" alone, then everything that waited meanwhile in one push
    assert _values(queue) == ["a", "b", "c", "d"]


def test_a_broker_outage_is_retried_and_nothing_is_lost(
    queue: Any, background: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = broker._client
    failures: list[str] = []

    def flaky(url: str) -> Any:
        if len(failures) < 3:
            failures.append(url)
            raise redis.ConnectionError("Connection refused")
        return real(url)

    monkeypatch.setattr(broker, "_client", flaky)
    with caplog.at_level(logging.WARNING, logger="core.broker"):
        _soon("x")
        _soon("y")
        assert broker.task_pushes_flush(10)

    assert len(failures) == 3
    assert _values(queue) == ["x", "y"]
    assert any("retrying" in r.getMessage() for r in caplog.records)


def test_after_the_retry_window_the_messages_are_dropped_and_logged_and_pushing_goes_on(
    queue: Any, background: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(settings, "BROKER_PUSH_RETRY_SECONDS", 0)
    real = broker._client
    down = [True]

    def client(url: str) -> Any:
        if down[0]:
            raise redis.ConnectionError("Connection refused")
        return real(url)

    monkeypatch.setattr(broker, "_client", client)
    pusher = broker._background.get()
    dropped_before = pusher.dropped
    with caplog.at_level(logging.ERROR, logger="core.broker"):
        _soon("lost")
        assert broker.task_pushes_flush(10)
    assert pusher.dropped == dropped_before + 1
    assert any("1 messages lost" in r.getMessage() for r in caplog.records)

    down[0] = False
    _soon("kept")
    assert broker.task_pushes_flush(10)
    assert _values(queue) == ["kept"]


def test_a_full_backlog_drops_the_oldest(
    queue: Any, background: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = broker._client(settings.CELERY_BROKER_URL)
    original = client.lpush
    started, release = threading.Event(), threading.Event()

    def lpush(name: str, *values: bytes) -> Any:
        started.set()
        assert release.wait(10)
        return original(name, *values)

    monkeypatch.setattr(client, "lpush", lpush)
    monkeypatch.setattr(settings, "BROKER_PUSH_BACKLOG", 2)
    _soon("pushing")
    assert started.wait(10)
    with caplog.at_level(logging.ERROR, logger="core.broker"):
        _soon("old")
        _soon("newer")
        _soon("newest")  # three waiting, room for two
    release.set()
    assert broker.task_pushes_flush(10)
    assert _values(queue) == ["pushing", "newer", "newest"]
    assert any("backlog full" in r.getMessage() for r in caplog.records)


def test_in_eager_mode_the_task_runs_at_once_even_with_background_pushing_on(
    queue: Any, background: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker._background, "get", lambda: pytest.fail("handed to the pusher"))
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        _soon("eager")
    finally:
        celery_app.conf.task_always_eager = previous
    assert queue.llen(SCRATCH) == 0  # ran in process, nothing queued
