"""The tracking API's routes on the lean ASGI path (core/lean_asgi.py).

POST and OPTIONS on the seven tracking paths are answered by ``events.handling.tracking_handle``
on the lean path's thread pool instead of Django's one sync thread per process. The answers are
the same as the DRF views' (``events.apis``), which still document the paths in the OpenAPI
schema and serve them under WSGI and the test client. Other methods go to Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.lean_asgi import LeanReply, LeanRoute
from events.handling import (
    CALL_TYPES,
    CORS_HEADERS,
    TrackingReply,
    body_limit,
    preflight_headers,
    too_large,
    tracking_handle,
)


def _lean(reply: TrackingReply) -> LeanReply:
    return LeanReply(reply.status, reply.body, reply.headers)


def _route(call_type: str) -> LeanRoute:
    def handle(raw: bytes, headers: Mapping[str, str], scope: Any) -> LeanReply:
        return _lean(
            tracking_handle(
                call_type=call_type,
                raw=raw,
                authorization=headers.get("authorization", ""),
                content_encoding=headers.get("content-encoding", ""),
            )
        )

    return LeanRoute(
        path=f"/v1/{call_type}",
        handle=handle,
        limit=lambda: body_limit(call_type),
        too_large=lambda limit: _lean(too_large(limit)),
        preflight=lambda headers: preflight_headers(headers.get("access-control-request-headers", "")),
        reply_headers=CORS_HEADERS,
    )


def tracking_routes() -> list[LeanRoute]:
    return [_route(call_type) for call_type in CALL_TYPES]
