"""/v1/decide and /v1/outcome on the lean ASGI path (core/lean_asgi.py).

Storefronts ask what to show on every page view, so these two endpoints skip Django's
middleware stack and its single sync thread per process. Requests carrying a secret key
(``Authorization: Bearer``) run the very same DRF views (``decisions.apis``), so answers, errors
and the OpenAPI schema are identical; anything else (a browser session, other methods) goes to
Django as usual.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase

from core.lean_asgi import LeanReply, LeanRoute
from decisions.apis import DecideApi, OutcomeApi

BODY_LIMIT = 64 * 1024


def _with_secret_key(method: str, headers: Mapping[str, str]) -> bool:
    return method == "POST" and headers.get("authorization", "").lower().startswith("bearer ")


def _too_large(limit: int) -> LeanReply:
    return LeanReply(
        413, {"error": {"code": "payload_too_large", "message": f"The body is larger than {limit} bytes."}}
    )


def _route(path: str, view: Callable[..., HttpResponseBase]) -> LeanRoute:
    def handle(raw: bytes, headers: Mapping[str, str], scope: Any) -> LeanReply:
        request: HttpRequest = ASGIRequest(dict(scope), io.BytesIO(raw))
        request.user = AnonymousUser()  # what AuthenticationMiddleware would set; the key replaces it
        response = view(request)
        rendered = getattr(response, "render", None)
        if rendered is not None:
            rendered()
        passed = {name: value for name, value in response.items() if name.lower() != "content-type"}
        return LeanReply(
            response.status_code,
            response.content,  # type: ignore[attr-defined]
            passed,
            content_type=response.get("Content-Type", "application/json"),
        )

    return LeanRoute(path=path, handle=handle, limit=BODY_LIMIT, too_large=_too_large, accepts=_with_secret_key)


def decide_routes() -> list[LeanRoute]:
    return [_route("/v1/decide", DecideApi.as_view()), _route("/v1/outcome", OutcomeApi.as_view())]
