"""/v1/decide and /v1/outcome on the lean ASGI path (core/lean_asgi.py).

Storefronts ask what to show on every page view, so these two endpoints skip Django's
middleware stack and its single sync thread per process. Requests carrying a secret key
(``Authorization: Bearer``) stay here; anything else (a browser session, other methods) goes to
Django as usual.

A well-formed decide call for a known person is answered by ``_decide_quick``: the key, its
workspace and the person come from one statement (``decisions.selectors.decide_caller``), then
``decision_make`` (sharing a transaction with the calls waiting at the same moment,
decisions.coalescing) and ``decision_answer`` as in the view. Everything else (bad input, an unknown
key or person, a merged profile) and /v1/outcome run the very same DRF views
(``decisions.apis``), so answers, errors and the OpenAPI schema are identical on every path.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase

from accounts.authentication import secret_key_touch
from core.lean_asgi import LeanReply, LeanRoute
from decisions.apis import DecideApi, OutcomeApi, decision_answer
from decisions.coalescing import decision_make_coalesced
from decisions.selectors import decide_caller

BODY_LIMIT = 64 * 1024


def _with_secret_key(method: str, headers: Mapping[str, str]) -> bool:
    return method == "POST" and headers.get("authorization", "").lower().startswith("bearer ")


def _too_large(limit: int) -> LeanReply:
    return LeanReply(
        413, {"error": {"code": "payload_too_large", "message": f"The body is larger than {limit} bytes."}}
    )


def _decide_quick(raw: bytes, headers: Mapping[str, str]) -> LeanReply | None:
    """The answer to a valid decide call for a known person, or None to let the view answer."""
    if not headers.get("content-type", "").lower().startswith("application/json"):
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    plain = _plain_input(body)
    if plain is None:
        return None
    person, candidates = plain
    _, _, key = headers.get("authorization", "").partition(" ")
    found = decide_caller(key=key.strip(), person=person)
    if found is None:
        return None
    secret, profile = found
    secret_key_touch(secret)  # what SecretKeyAuthentication does for the view
    decision = decision_make_coalesced(
        workspace=secret.workspace, profile=profile, context=body.get("context", {}), only=candidates or None
    )
    return LeanReply(200, decision_answer(decision))


_PERSON_FIELDS = ("userId", "anonymousId", "email", "phone", "profileId")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


def _plain_text(value: Any, limit: int = 255) -> bool:
    """A string DecideInputSerializer would take exactly as it is (no trimming, no coercion)."""
    if not isinstance(value, str) or not 0 < len(value) <= limit or value != value.strip() or "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _plain_person(given: Any) -> dict[str, str] | None:
    if not isinstance(given, dict):
        return None
    person: dict[str, str] = {}
    for name in _PERSON_FIELDS:
        if name in given:
            value = given[name]
            if not _plain_text(value):
                return None
            if name == "profileId":
                try:
                    value = str(uuid.UUID(value))
                except ValueError:
                    return None
            person[name] = value
    return person or None


def _plain_input(body: Any) -> tuple[dict[str, str], list[str]] | None:
    """The person and candidates of a body that ``DecideInputSerializer`` would accept unchanged,
    or None for anything else (which then goes through the serializer, errors and all)."""
    if not isinstance(body, dict) or not isinstance(body.get("context", {}), dict):
        return None
    person = _plain_person(body.get("person"))
    candidates = body.get("candidates", [])
    if person is None or not isinstance(candidates, list) or len(candidates) > 200:
        return None
    if not all(_plain_text(c, 50) and _SLUG.match(c) for c in candidates):
        return None
    return person, candidates


def _route(
    path: str,
    view: Callable[..., HttpResponseBase],
    quick: Callable[[bytes, Mapping[str, str]], LeanReply | None] | None = None,
) -> LeanRoute:
    def handle(raw: bytes, headers: Mapping[str, str], scope: Any) -> LeanReply:
        if quick is not None:
            answer = quick(raw, headers)
            if answer is not None:
                return answer
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
    return [_route("/v1/decide", DecideApi.as_view(), _decide_quick), _route("/v1/outcome", OutcomeApi.as_view())]
