"""One tracking request, independent of the web framework around it.

``tracking_handle`` turns the raw body and two headers into a ``TrackingReply``: decode
(gzip, bounded), parse, authenticate the write key, rate-limit, validate, ingest. The DRF views
in ``events.apis`` (which also describe the endpoints in the OpenAPI schema) and the lean ASGI
entry in ``events.asgi`` both call it, so they answer identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from accounts.authentication import WRITE_KEY_MISSING, WRITE_KEY_UNKNOWN, write_key_from_request
from events.coalescing import event_ingest_single
from events.rate_limit import rate_limit_consume
from events.selectors import TrackingCaller, tracking_caller
from events.services import event_batch_ingest
from events.validation import (
    BodyError,
    ItemError,
    decode_body,
    fields_of,
    max_batch_bytes,
    max_message_bytes,
    parse_json,
    validate_batch,
    validate_single,
)

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias", "batch")
SINGLE_BODY_SLACK = 1024  # room for writeKey and whitespace around a 32 KB message
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "Retry-After",
}
DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, X-Retry-Count"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="tracking"'}


@dataclass(frozen=True)
class TrackingReply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(
    status: int, code: str, message: str, fields: dict[str, str] | None = None, **extra: Any
) -> TrackingReply:
    headers = extra.pop("headers", {})
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    items = extra.pop("items", None)
    if items is not None:
        error["items"] = items
    return TrackingReply(status=status, body={"error": error, **extra}, headers=headers)


def body_limit(call_type: str) -> int:
    """The most bytes a request body may have (compressed or not) for this endpoint."""
    return max_batch_bytes() if call_type == "batch" else max_message_bytes() + SINGLE_BODY_SLACK


def too_large(limit: int) -> TrackingReply:
    return error_reply(413, "payload_too_large", f"The body is larger than {limit} bytes.", {"body": "too large"})


def preflight_headers(requested: str) -> dict[str, str]:
    return {**CORS_HEADERS, "Access-Control-Allow-Headers": requested[:1000] or DEFAULT_ALLOWED_HEADERS}


def _parse(raw: bytes, content_encoding: str, limit: int) -> dict[str, Any]:
    if len(raw) > limit:
        raise BodyError(413, "payload_too_large", f"The body is larger than {limit} bytes.", {"body": "too large"})
    if not raw.strip():
        raise BodyError(400, "invalid_json", "The body is empty.", {"body": "is empty; send a JSON object"})
    body = parse_json(decode_body(raw, content_encoding=content_encoding, limit=limit))
    if not isinstance(body, dict):
        raise BodyError(400, "invalid", "The body must be a JSON object.", {"body": "must be a JSON object"})
    return body


def _authenticate(authorization: str, body: dict[str, Any]) -> tuple[TrackingCaller, str] | TrackingReply:
    request = HttpRequest()
    if authorization:
        request.META["HTTP_AUTHORIZATION"] = authorization
    write_key = write_key_from_request(request, body)
    if write_key is None:
        return error_reply(401, "not_authenticated", WRITE_KEY_MISSING, headers=CHALLENGE)
    caller = tracking_caller(write_key=write_key)
    if caller is None:
        return error_reply(401, "authentication_failed", WRITE_KEY_UNKNOWN, headers=CHALLENGE)
    return caller, write_key


def _single(caller: TrackingCaller, call_type: str, body: dict[str, Any], received_at: datetime) -> TrackingReply:
    result = validate_single(body, call_type=call_type, received_at=received_at)
    if isinstance(result, ItemError):
        return error_reply(400, "invalid", "The message has invalid fields.", result.fields)
    outcome = event_ingest_single(
        workspace=caller.workspace, message=result, received_at=received_at, check_erased=caller.erasures
    )
    return TrackingReply(
        200,
        {
            "success": True,
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "messageIds": [result.message_id],
        },
    )


def _batch(caller: TrackingCaller, body: dict[str, Any], received_at: datetime) -> TrackingReply:
    messages, errors = validate_batch(body, received_at=received_at)
    outcome = event_batch_ingest(
        workspace=caller.workspace, messages=messages, received_at=received_at, check_erased=caller.erasures
    )
    if not errors:
        return TrackingReply(200, {"success": True, "accepted": outcome.accepted, "duplicates": outcome.duplicates})
    total = len(messages) + len(errors)
    return error_reply(
        400,
        "invalid",
        f"{len(errors)} of {total} messages were rejected; the other {len(messages)} were accepted.",
        fields_of(errors, prefix=True),
        items=[error.as_json() for error in errors],
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=len(errors),
    )


def tracking_handle(
    *,
    call_type: str,
    raw: bytes,
    authorization: str = "",
    content_encoding: str = "",
    received_at: datetime | None = None,
) -> TrackingReply:
    """Answer one tracking call. Never raises for bad input: every problem with the request
    is a 4xx reply."""
    received_at = received_at or timezone.now()
    try:
        body = _parse(raw, content_encoding, body_limit(call_type))
        authenticated = _authenticate(authorization, body)
        if isinstance(authenticated, TrackingReply):
            return authenticated
        caller, write_key = authenticated
        batch = body.get("batch") if call_type == "batch" else None
        decision = rate_limit_consume(write_key=write_key, events=len(batch) if isinstance(batch, list) else 1)
        if not decision.allowed:
            return error_reply(
                429,
                "throttled",
                f"Too many events for this write key; retry in {decision.retry_after} s.",
                headers={"Retry-After": str(decision.retry_after)},
            )
        if call_type == "batch":
            return _batch(caller, body, received_at)
        return _single(caller, call_type, body, received_at)
    except BodyError as exc:
        return error_reply(exc.status, exc.code, exc.message, exc.fields)
