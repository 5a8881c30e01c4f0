"""A lean ASGI path for the hot machine-to-machine endpoints (tracking, decide, outcome).

Under ASGI, Django runs every sync view through ``sync_to_async(thread_sensitive=True)``: one
thread per process serves all sync views in turn, so a request that waits on the database (a
commit's fsync, a lock) holds up every other request of that process. The endpoints that
storefronts call on every page view cannot afford that. ``LeanASGIApp`` answers the routes it is
given itself: it reads the (bounded) body on the event loop and runs the route's handler on a
small, fixed pool of threads whose database connections are reused and recycled like a
request's (``close_old_connections`` before and after each call). Everything else goes to the
wrapped Django app, unchanged.

Handlers return the same answers as the DRF views documented in the OpenAPI schema (which
still serve these paths under WSGI, the test client, and for requests a route declines).

Compose it in ``cep/asgi.py``: core knows no routes; the apps that own them provide them::

    application = ProtocolTypeRouter({"http": LeanASGIApp(django_asgi_app, routes=[*tracking_routes(), ...])})
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, reset_queries

from core import fastjson

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]
Headers = Mapping[str, str]  # lower-cased names


@dataclass(frozen=True)
class LeanReply:
    status: int
    body: Mapping[str, Any] | list[Any] | bytes | None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class LeanRoute:
    """``handle(raw_body, headers, scope)`` runs in a worker thread and may use the database."""

    path: str
    handle: Callable[[bytes, Headers, Scope], LeanReply]
    limit: int | Callable[[], int]  # the most body bytes accepted
    too_large: Callable[[int], LeanReply]
    # Requests the route declines (for example without an API key) go to Django.
    accepts: Callable[[str, Headers], bool] = lambda method, headers: method == "POST"
    preflight: Callable[[Headers], Mapping[str, str]] | None = None  # answers OPTIONS when set
    reply_headers: Mapping[str, str] = field(default_factory=dict)  # added to every answer (CORS)

    def body_limit(self) -> int:
        return self.limit() if callable(self.limit) else self.limit


class _ClientGone(Exception):
    """The client hung up before sending its whole body."""


def _run(route: LeanRoute, raw: bytes, headers: Headers, scope: Scope) -> LeanReply:
    reset_queries()
    close_old_connections()  # what request_started does for a Django request
    try:
        return route.handle(raw, headers, scope)
    except Exception:  # a bug, not bad input: log it like Django would and answer 500
        logger.exception("request failed: %s", route.path)
        return LeanReply(500, {"error": {"code": "error", "message": "Internal error."}})
    finally:
        close_old_connections()  # what request_finished does


class LeanASGIApp:
    def __init__(self, app: ASGIApp, *, routes: Sequence[LeanRoute], threads: int | None = None) -> None:
        self.app = app
        self.routes = {route.path: route for route in routes}
        size = threads or int(getattr(settings, "LEAN_ASGI_THREADS", 8))
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="lean")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if method == "OPTIONS" and route.preflight is not None:
            await self._send(send, LeanReply(204, None, route.preflight(headers)))
            return
        if not route.accepts(method, headers):
            await self.app(scope, receive, send)
            return
        limit = route.body_limit()
        try:
            raw = await self._read(receive, headers, limit)
        except _ClientGone:
            return  # nobody to answer
        if raw is None:
            reply = route.too_large(limit)
        else:
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(self.executor, _run, route, raw, headers, scope)
        await self._send(send, reply, route.reply_headers)

    @staticmethod
    async def _read(receive: Receive, headers: Headers, limit: int) -> bytes | None:
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
    async def _send(send: Send, reply: LeanReply, extra_headers: Mapping[str, str] | None = None) -> None:
        if reply.body is None:
            content = b""
        elif isinstance(reply.body, bytes):
            content = reply.body
        else:
            content = fastjson.dumps_bytes(reply.body)
        headers = {**(extra_headers or {}), **reply.headers}
        raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        if reply.body is not None:
            raw_headers.append((b"content-type", reply.content_type.encode("latin-1")))
        raw_headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": content})
