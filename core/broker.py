"""Enqueue a Celery task with one Redis command, for the request paths that enqueue on every call.

``task.apply_async`` walks Celery's routing, signals and option merging, then kombu's producer,
channel and exchange lookup before the single ``LPUSH`` that actually enqueues the message: about
a millisecond of CPU on this machine, paid by every tracking call and every decision.
``task_enqueue`` builds the same protocol-2 message (headers, base64 JSON body, properties) that
kombu's Redis transport would write for a task routed to a plain queue, and pushes it with one
``LPUSH`` on a shared Redis connection pool: a worker cannot tell the difference
(tests/core/test_broker.py compares the two messages field by field and runs the task through a
real worker).

It falls back to ``apply_async`` whenever the fast path would not be equivalent: eager mode, or
a broker that is not Redis. It takes keyword arguments and a queue only: for priorities, ETAs,
expiries or links, call ``apply_async``.

``task_enqueue_soon`` is for messages sent after a commit on a request path (core/domain_events.py).
In a process that turned on ``push_in_background`` (the web workers, cep/serve.py) it hands them to
a thread of the process's own and returns at once: the request does not wait for the broker's
round trip (about a millisecond here), messages that arrive while a push is under way go together
in the next one, and a broker outage is ridden out by retrying for ``BROKER_PUSH_RETRY_SECONDS``
instead of dropping the messages at once. Order is kept. ``task_pushes_flush`` waits until
everything handed over is pushed (the web worker calls it when it stops). Everywhere else
(Celery workers, tests, management commands) it pushes at once, as ``task_enqueue_many``.
"""

from __future__ import annotations

import atexit
import base64
import functools
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from celery import Task, current_app
from django.conf import settings

logger = logging.getLogger(__name__)

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"gen{os.getpid()}@{socket.gethostname()}"
_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def _client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url)
                _clients[url] = client
    return client


def _fast_path_url() -> str | None:
    conf = current_app.conf
    if conf.task_always_eager:
        return None
    url = str(conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return url


@functools.cache
def _task_settings(name: str, time_limit: Any, soft_limit: Any, ignore_result: Any) -> tuple[Any, Any, bool]:
    """A task's limits and result setting as the worker should see them, read from Celery's
    configuration once per task (its lookups cost more than building the message)."""
    conf = current_app.conf
    return (
        time_limit if time_limit is not None else conf.task_time_limit,
        soft_limit if soft_limit is not None else conf.task_soft_time_limit,
        bool(ignore_result if ignore_result is not None else conf.task_ignore_result),
    )


_SLOT = "@cep-slot:{}@"  # stands for a per-message value in a message's cached JSON template
_SLOT_PATTERN = re.compile("@cep-slot:([a-z_]+)@")


@functools.cache
def _message_template(
    task_name: str, queue: str, kwargsrepr: str, *, time_limit: Any, soft_limit: Any, ignore_result: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A task's message as JSON, split around its per-message values: (literal parts, the name of
    the value that goes after each part but the last). Encoding the whole message for every call
    cost more than pushing it."""
    message = {
        "body": _SLOT.format("body"),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task_name,
            "id": _SLOT.format("task_id"),
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [time_limit, soft_limit],
            "root_id": _SLOT.format("task_id"),
            "parent_id": None,
            "argsrepr": "()",
            "kwargsrepr": kwargsrepr,
            "origin": _ORIGIN,
            "ignore_result": ignore_result,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": _SLOT.format("task_id"),
            "reply_to": _SLOT.format("reply_to"),  # per thread, as Celery sets it
            "argsrepr": "()",
            "kwargsrepr": kwargsrepr,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": _SLOT.format("delivery_tag"),
        },
    }
    pieces = _SLOT_PATTERN.split(json.dumps(message))
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def task_message(task: Task, *, kwargs: Mapping[str, Any], queue: str, kwargsrepr: str) -> tuple[str, bytes]:
    """The task id and the JSON a Redis-transport worker expects for ``task(**kwargs)`` on ``queue``."""
    task_id = str(uuid.uuid4())
    body = json.dumps([[], dict(kwargs), _EMBED]).encode()
    time_limit, soft_limit, ignore_result = _task_settings(
        task.name, task.time_limit, task.soft_time_limit, task.ignore_result
    )
    parts, slots = _message_template(
        task.name, queue, kwargsrepr, time_limit=time_limit, soft_limit=soft_limit, ignore_result=ignore_result
    )
    values = {  # all JSON-safe as they are: base64, UUIDs
        "body": base64.b64encode(body).decode("ascii"),
        "task_id": task_id,
        "reply_to": str(current_app.thread_oid),
        "delivery_tag": str(uuid.uuid4()),
    }
    out = [parts[0]]
    for slot, part in zip(slots, parts[1:], strict=True):
        out.append(values[slot])
        out.append(part)
    return task_id, "".join(out).encode()


def task_enqueue(task: Task, *, kwargs: Mapping[str, Any], queue: str, kwargsrepr: str = "{...}") -> str:
    """Enqueue ``task(**kwargs)`` on ``queue``; returns the task id. Raises what the broker raises."""
    return task_enqueue_many(task, calls=[(kwargs, kwargsrepr)], queue=queue)[0]


def task_enqueue_many(task: Task, *, calls: Sequence[tuple[Mapping[str, Any], str]], queue: str) -> list[str]:
    """Enqueue ``task(**kwargs)`` on ``queue`` for each (kwargs, kwargsrepr), in order, with one
    ``LPUSH`` of all the messages (workers take them in the same order as one push each).
    Returns the task ids. Raises what the broker raises."""
    url = _fast_path_url()
    if url is None:
        return [
            str(task.apply_async(kwargs=dict(kwargs), queue=queue, argsrepr="()", kwargsrepr=kwargsrepr).id)  # type: ignore[call-arg]
            for kwargs, kwargsrepr in calls
        ]
    messages = [task_message(task, kwargs=kwargs, queue=queue, kwargsrepr=kwargsrepr) for kwargs, kwargsrepr in calls]
    if messages:
        _client(url).lpush(queue, *[raw for _, raw in messages])
    return [task_id for task_id, _ in messages]


Calls = Sequence[tuple[Mapping[str, Any], str]]  # (kwargs, kwargsrepr) per message


class _Pusher:
    """A thread that pushes the messages handed to it, in order, with as few ``LPUSH``es as it can:
    everything waiting when it starts a push goes in that push (one command per queue)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.changed = threading.Condition()
        self.waiting: deque[tuple[Task, Calls, str]] = deque()
        self.waiting_calls = 0
        self.pushing = False
        self.dropped = 0  # messages given up on (a full backlog, an outage longer than the retry window)
        self.thread = threading.Thread(target=self._run, name="broker-pusher", daemon=True)
        self.thread.start()

    def submit(self, task: Task, calls: Calls, queue: str) -> None:
        limit = settings.BROKER_PUSH_BACKLOG
        with self.changed:
            self.waiting.append((task, calls, queue))
            self.waiting_calls += len(calls)
            while self.waiting_calls > limit and len(self.waiting) > 1:  # an outage outlasting the backlog
                _, old, _ = self.waiting.popleft()
                self.waiting_calls -= len(old)
                self.dropped += len(old)
                logger.error("broker push backlog full (%s messages): dropped the oldest %s", limit, len(old))
            self.changed.notify_all()

    def flush(self, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: not self.waiting and not self.pushing, timeout)

    def _run(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: bool(self.waiting))
                batch = list(self.waiting)
                self.waiting.clear()
                self.waiting_calls = 0
                self.pushing = True
            try:
                self._push(batch)
            except Exception:  # a bug: lose the batch, never the thread
                logger.exception("broker push failed; %s messages lost", sum(len(calls) for _, calls, _ in batch))
            finally:
                with self.changed:
                    self.pushing = False
                    self.changed.notify_all()

    def _push(self, batch: list[tuple[Task, Calls, str]]) -> None:
        url = _fast_path_url()
        if url is None:  # eager mode switched on meanwhile (tests) or another broker: Celery's own way
            for task, calls, queue in batch:
                task_enqueue_many(task, calls=calls, queue=queue)
            return
        by_queue: dict[str, list[bytes]] = {}
        for task, calls, queue in batch:
            try:
                raws = [task_message(task, kwargs=kw, queue=queue, kwargsrepr=kwr)[1] for kw, kwr in calls]
            except Exception:  # a bug (kwargs that are not JSON): lose these messages, not the batch
                logger.exception("could not build %s messages for %s; lost", len(calls), task.name)
                continue
            by_queue.setdefault(queue, []).extend(raws)
        if not by_queue:
            return
        retry_for = float(settings.BROKER_PUSH_RETRY_SECONDS)
        deadline = time.monotonic() + retry_for
        delay = 0.05
        while True:
            try:
                client = _client(url)
                if len(by_queue) == 1:
                    [(queue, raws)] = by_queue.items()
                    client.lpush(queue, *raws)
                else:
                    pipe = client.pipeline(transaction=False)
                    for queue, raws in by_queue.items():
                        pipe.lpush(queue, *raws)
                    pipe.execute()
                return
            except redis.RedisError:
                count = sum(len(raws) for raws in by_queue.values())
                if time.monotonic() + delay > deadline:
                    with self.changed:
                        self.dropped += count
                    logger.exception("broker unreachable for %s s; %s messages lost", retry_for, count)
                    return
                logger.warning("broker push failed; retrying %s messages in %.2f s", count, delay, exc_info=True)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


class _Background:
    """This process's switch and pusher (a forked child gets a pusher of its own: threads do not
    survive a fork)."""

    def __init__(self) -> None:
        self.enabled = False
        self.lock = threading.Lock()
        self.pusher: _Pusher | None = None

    def current(self) -> _Pusher | None:
        pusher = self.pusher
        return pusher if pusher is not None and pusher.pid == os.getpid() else None

    def get(self) -> _Pusher:
        pusher = self.current()
        if pusher is None:
            with self.lock:
                pusher = self.current()
                if pusher is None:
                    pusher = self.pusher = _Pusher()
        return pusher


_background = _Background()


def push_in_background(enabled: bool = True) -> None:
    """Turn ``task_enqueue_soon``'s background pushing on (or off) for this process. When it goes
    off, what was handed over is pushed first."""
    _background.enabled = enabled
    if not enabled:
        task_pushes_flush()


def task_enqueue_soon(task: Task, *, calls: Calls, queue: str) -> None:
    """``task_enqueue_many``, from the process's pusher thread when background pushing is on and
    the one-``LPUSH`` path applies (Redis broker, not eager); at once otherwise. Raises what the
    broker raises only when it pushes at once."""
    if not _background.enabled or _fast_path_url() is None:
        task_enqueue_many(task, calls=calls, queue=queue)
        return
    if calls:
        _background.get().submit(task, calls, queue)


def task_pushes_flush(timeout: float = 10.0) -> bool:
    """Wait until every message handed to this process's pusher is pushed (or given up on);
    False if that took longer than ``timeout`` seconds."""
    pusher = _background.current()
    return pusher is None or pusher.flush(timeout)


atexit.register(task_pushes_flush)
