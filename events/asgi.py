"""A lean ASGI entry for the tracking API.

Under ASGI, every Django request runs its sync middleware and view in a thread made for that
request, with a database connection of its own. For /v1/* that is most of the cost of a
single event, and with persistent connections (``CONN_MAX_AGE`` > 0) those per-request
connections pile up under concurrent load. ``TrackingASGIApp`` answers POST and OPTIONS on
the seven tracking paths itself: it reads the (bounded) body on the event loop and runs
``events.handling.tracking_handle`` on a small, fixed pool of threads whose connections are
reused and recycled like a request's (``close_old_connections`` before and after each call).
Everything else, including other methods on these paths, goes to the wrapped Django app. The
answers are the same as the DRF views' (``events.apis``), which still document the paths in
the OpenAPI schema and serve them under WSGI and the test client.

Mount it in ``cep/asgi.py`` around the Django app::

    from events.asgi import TrackingASGIApp  # after get_asgi_application()
    application = ProtocolTypeRouter({"http": TrackingASGIApp(django_asgi_app), "websocket": ...})
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, reset_queries

from events.handling import (
    CALL_TYPES,
    CORS_HEADERS,
    TrackingReply,
    body_limit,
    preflight_headers,
    too_large,
    tracking_handle,
)

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

PATHS = {f"/v1/{call_type}": call_type for call_type in CALL_TYPES}


class _ClientGone(Exception):
    """The client hung up before sending its whole body."""


def _handle_in_worker(call_type: str, raw: bytes, authorization: str, content_encoding: str) -> TrackingReply:
    reset_queries()
    close_old_connections()  # what request_started does for a Django request
    try:
        return tracking_handle(
            call_type=call_type, raw=raw, authorization=authorization, content_encoding=content_encoding
        )
    except Exception:  # a bug, not bad input: log it like Django would and answer 500
        logger.exception("tracking request failed: %s", call_type)
        return TrackingReply(500, {"error": {"code": "error", "message": "Internal error."}})
    finally:
        close_old_connections()  # what request_finished does


class TrackingASGIApp:
    def __init__(self, app: ASGIApp, *, threads: int | None = None) -> None:
        self.app = app
        size = threads or int(getattr(settings, "TRACKING_ASGI_THREADS", 4))
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tracking")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call_type = PATHS.get(scope.get("path", "")) if scope["type"] == "http" else None
        method = scope.get("method")
        if call_type is None or method not in ("POST", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if method == "OPTIONS":
            await self._send(send, 204, None, preflight_headers(headers.get("access-control-request-headers", "")))
            return
        limit = body_limit(call_type)
        try:
            raw = await self._read(receive, headers, limit)
        except _ClientGone:
            return  # nobody to answer
        if raw is None:
            reply = too_large(limit)
        else:
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(
                self.executor,
                _handle_in_worker,
                call_type,
                raw,
                headers.get("authorization", ""),
                headers.get("content-encoding", ""),
            )
        await self._send(send, reply.status, reply.body, {**CORS_HEADERS, **reply.headers})

    @staticmethod
    async def _read(receive: Receive, headers: dict[str, str], limit: int) -> bytes | None:
        """The body, or None as soon as it is known to exceed ``limit``."""
        try:
            if int(headers.get("content-length") or 0) > limit:
                return None
        except ValueError:
            pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _send(send: Send, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        content = json.dumps(body).encode() if body is not None else b""
        raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        if body is not None:
            raw_headers.append((b"content-type", b"application/json"))
        raw_headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": content})
