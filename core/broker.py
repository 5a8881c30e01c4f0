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
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from celery import Task, current_app

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
