"""Validation of Segment-spec tracking messages (reference: docs/tracking.md).

Hand-written on purpose: this runs for every event on the hot path, and it must turn any
input at all into either a clean ``Message`` or per-field reasons, never an exception. It
also rejects what PostgreSQL would refuse later (NUL characters, unpaired surrogates,
non-finite numbers), so bad input can never surface as a 5xx.
"""

from __future__ import annotations

import json
import math
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from core import fastjson

CALL_TYPES: tuple[str, ...] = ("identify", "track", "page", "screen", "group", "alias")
ID_MAX = 255
NAME_MAX = 255
TIME_TEXT_MAX = 64
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(hours=24)
MESSAGE_FIELD = "_message"  # key for reasons about a message as a whole

KNOWN_FIELDS = frozenset(
    {
        "type",
        "messageId",
        "anonymousId",
        "userId",
        "timestamp",
        "sentAt",
        "originalTimestamp",
        "receivedAt",
        "context",
        "integrations",
        "properties",
        "traits",
        "event",
        "name",
        "writeKey",
    }
)
# Unescaped \u0000 in serialised JSON (PostgreSQL's jsonb refuses it).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def max_message_bytes() -> int:
    return int(getattr(settings, "TRACKING_MAX_MESSAGE_BYTES", 32 * 1024))


def max_batch_bytes() -> int:
    return int(getattr(settings, "TRACKING_MAX_BATCH_BYTES", 500 * 1024))


def max_batch_messages() -> int:
    return int(getattr(settings, "TRACKING_MAX_BATCH_MESSAGES", 2500))


class BodyError(Exception):
    """The request body as a whole is unusable."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


@dataclass(slots=True)
class Message:
    index: int
    type: str
    message_id: str
    anonymous_id: str | None
    user_id: str | None
    name: str  # track: event; page/screen: name; others: ""
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    integrations: dict[str, Any]
    extra: dict[str, Any]
    size: int
    message_id_assigned: bool = False


@dataclass(slots=True)
class ItemError:
    index: int
    message_id: str | None
    fields: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "messageId": self.message_id, "fields": self.fields}


# ---------------------------------------------------------------------------- body decoding


def decode_body(raw: bytes, *, content_encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding: gzip`` with the output bounded by ``limit`` (no zip bombs)."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise BodyError(413, "payload_too_large", f"The body is larger than {limit} bytes.", {"body": "too large"})
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise BodyError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; send identity or gzip.",
            {"Content-Encoding": "must be gzip or absent"},
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise BodyError(400, "invalid_body", "The body is not valid gzip.", {"body": f"not valid gzip: {exc}"}) from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyError(
            413, "payload_too_large", f"The decompressed body is larger than {limit} bytes.", {"body": "too large"}
        )
    if not inflater.eof:
        raise BodyError(400, "invalid_body", "The gzip body is truncated.", {"body": "truncated gzip stream"})
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:20]} is out of range")
    return number


def _strict_loads(raw: bytes | str) -> Any:
    return json.loads(raw, parse_constant=_reject_constant, parse_float=_parse_float)


def parse_json(raw: bytes) -> Any:
    try:
        return fastjson.loads(raw, fallback=_strict_loads)
    except RecursionError as exc:
        raise BodyError(400, "invalid_json", "The body nests too deeply.", {"body": "nested too deeply"}) from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limits
        reason = str(exc)[:200]
        raise BodyError(
            400, "invalid_json", "The body is not valid JSON.", {"body": f"invalid JSON: {reason}"}
        ) from exc


def serialised_size(value: Any) -> int | str:
    """The UTF-8 size of ``value`` as compact JSON, or the reason it cannot be stored."""
    try:
        data = fastjson.dumps_bytes(value)
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate"
    except (ValueError, RecursionError, TypeError):
        return "cannot be stored as JSON"
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        return "contains a NUL (\\u0000) character"
    return len(data)


# ---------------------------------------------------------------------------- fields


def _id(value: Any, name: str, errors: dict[str, str]) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors[name] = "must be a string"
        return None
    text = str(value)
    if len(text) > ID_MAX:
        errors[name] = f"must be at most {ID_MAX} characters"
        return None
    return text


def _text(value: Any, name: str, errors: dict[str, str], *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            errors[name] = "is required"
        return ""
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return ""
    if len(value) > NAME_MAX:
        errors[name] = f"must be at most {NAME_MAX} characters"
        return ""
    return value


def _object(value: Any, name: str, errors: dict[str, str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors[name] = "must be an object"
        return {}
    return value


def parse_time(value: Any, name: str, errors: dict[str, str]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > TIME_TEXT_MAX:
        errors[name] = "must be an ISO-8601 date-time string"
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        errors[name] = "must be an ISO-8601 date-time string"
        return None
    if not MIN_TIME <= moment < MAX_TIME:
        errors[name] = "must be between 1970 and 2100"
        return None
    return moment


def event_time(
    *,
    timestamp: datetime | None,
    original: datetime | None,
    sent_at: datetime | None,
    received_at: datetime,
    errors: dict[str, str],
) -> datetime:
    """When the event happened. A client ``timestamp`` is honoured as given (historical
    imports); otherwise ``originalTimestamp`` is corrected for the client's clock skew:
    ``receivedAt - (sentAt - originalTimestamp)``; with no client time, ``receivedAt``."""
    if timestamp is not None:
        moment, name = timestamp, "timestamp"
    elif original is not None and sent_at is not None:
        moment, name = received_at - (sent_at - original), "originalTimestamp"
    elif original is not None:
        moment, name = original, "originalTimestamp"
    else:
        return received_at
    if moment > received_at + MAX_FUTURE:
        errors[name] = "is more than 24 hours in the future"
    elif moment < MIN_TIME:
        errors[name] = "is before 1970 after clock-skew correction"
    return moment


# ---------------------------------------------------------------------------- messages


@dataclass(slots=True)
class BatchDefaults:
    """Batch-level fields that apply to every item that does not set its own."""

    context: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, Any] = field(default_factory=dict)
    sent_at: datetime | None = None


def _kind(raw: dict[str, Any], call_type: str | None, errors: dict[str, str]) -> str | None:
    if call_type is not None:
        return call_type
    declared = raw.get("type")
    if declared not in CALL_TYPES:
        errors["type"] = "must be one of " + ", ".join(CALL_TYPES)
        return None
    return str(declared)


def _type_fields(
    kind: str | None, raw: dict[str, Any], user_id: str | None, errors: dict[str, str], extra: dict[str, Any]
) -> str:
    """The per-type required and optional fields; returns the stored name."""
    if kind == "track":
        return _text(raw.get("event"), "event", errors, required=True)
    if kind in ("page", "screen"):
        if kind == "page" and "category" in raw:
            _text(raw.get("category"), "category", errors)
        return _text(raw.get("name"), "name", errors)
    if kind == "group":
        group_id = _id(raw.get("groupId"), "groupId", errors)
        if group_id is None and "groupId" not in errors:
            errors["groupId"] = "is required"
        extra["groupId"] = group_id
    elif kind == "alias":
        previous_id = _id(raw.get("previousId"), "previousId", errors)
        if previous_id is None and "previousId" not in errors:
            errors["previousId"] = "is required"
        if user_id is None and "userId" not in errors:
            errors["userId"] = "is required"
        extra["previousId"] = previous_id
    return ""


def _context(raw: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    context = _object(raw.get("context"), "context", errors)
    if "traits" in context and not isinstance(context["traits"], dict | None):
        errors["context.traits"] = "must be an object"
    external_ids = context.get("externalIds")
    if external_ids is not None and not isinstance(external_ids, list):
        errors["context.externalIds"] = "must be a list"
    return context


def _size_error(raw: dict[str, Any]) -> str | int:
    """The message's size in bytes, or why it cannot be stored at all."""
    size = serialised_size(raw)
    if isinstance(size, str):
        return size
    limit = max_message_bytes()
    if size > limit:
        return f"is {size} bytes; the limit is {limit} bytes"
    return size


def validate_message(
    raw: Any,
    *,
    index: int,
    received_at: datetime,
    call_type: str | None = None,
    defaults: BatchDefaults | None = None,
) -> Message | ItemError:
    """One message. ``call_type`` comes from the endpoint (/v1/track ...); in a batch it is
    the item's ``type``."""
    if not isinstance(raw, dict):
        return ItemError(index, None, {MESSAGE_FIELD: "must be a JSON object"})
    raw_message_id = raw.get("messageId")
    shown_id = str(raw_message_id)[:ID_MAX] if isinstance(raw_message_id, str | int) else None
    size = _size_error(raw)
    if isinstance(size, str):
        return ItemError(index, shown_id, {MESSAGE_FIELD: size})

    errors: dict[str, str] = {}
    kind = _kind(raw, call_type, errors)
    message_id = _id(raw_message_id, "messageId", errors)
    anonymous_id = _id(raw.get("anonymousId"), "anonymousId", errors)
    user_id = _id(raw.get("userId"), "userId", errors)
    context = _context(raw, errors)
    integrations = _object(raw.get("integrations"), "integrations", errors)
    properties = _object(raw.get("properties"), "properties", errors)
    traits = _object(raw.get("traits"), "traits", errors)
    extra: dict[str, Any] = {key: value for key, value in raw.items() if key not in KNOWN_FIELDS}
    name = _type_fields(kind, raw, user_id, errors, extra)
    if anonymous_id is None and user_id is None and "anonymousId" not in errors and "userId" not in errors:
        errors["userId"] = "userId or anonymousId is required"

    timestamp = parse_time(raw.get("timestamp"), "timestamp", errors)
    original = parse_time(raw.get("originalTimestamp"), "originalTimestamp", errors)
    sent_at = parse_time(raw.get("sentAt"), "sentAt", errors)
    if sent_at is None and "sentAt" not in errors and defaults is not None:
        sent_at = defaults.sent_at
    if not errors:
        moment = event_time(
            timestamp=timestamp, original=original, sent_at=sent_at, received_at=received_at, errors=errors
        )
    if errors:
        return ItemError(index, message_id or shown_id, errors)

    if defaults is not None:
        context = {**defaults.context, **context} if defaults.context else context
        integrations = {**defaults.integrations, **integrations} if defaults.integrations else integrations
    return Message(
        index=index,
        type=kind or "",
        message_id=message_id or str(uuid.uuid4()),
        anonymous_id=anonymous_id,
        user_id=user_id,
        name=name,
        timestamp=moment,
        original_timestamp=original if original is not None else timestamp,
        sent_at=sent_at,
        received_at=received_at,
        properties=properties,
        traits=traits,
        context=context,
        integrations=integrations,
        extra=extra,
        size=size,
        message_id_assigned=message_id is None,
    )


def validate_single(body: Any, *, call_type: str, received_at: datetime) -> Message | ItemError:
    return validate_message(body, index=0, received_at=received_at, call_type=call_type)


def validate_batch(body: Any, *, received_at: datetime) -> tuple[list[Message], list[ItemError]]:
    """A /v1/batch body. Raises ``BodyError`` when the envelope itself is wrong; otherwise
    returns the valid messages and a reason per invalid item."""
    if not isinstance(body, dict):
        raise BodyError(400, "invalid", "The body must be a JSON object.", {"body": "must be a JSON object"})
    items = body.get("batch")
    if not isinstance(items, list):
        raise BodyError(400, "invalid", "The batch has invalid fields.", {"batch": "must be a list of messages"})
    if not items:
        raise BodyError(400, "invalid", "The batch has invalid fields.", {"batch": "must contain at least one message"})
    limit = max_batch_messages()
    if len(items) > limit:
        raise BodyError(
            400, "invalid", "The batch has invalid fields.", {"batch": f"has {len(items)} messages; at most {limit}"}
        )
    envelope_errors: dict[str, str] = {}
    defaults = BatchDefaults(
        context=_object(body.get("context"), "context", envelope_errors),
        integrations=_object(body.get("integrations"), "integrations", envelope_errors),
        sent_at=parse_time(body.get("sentAt"), "sentAt", envelope_errors),
    )
    if envelope_errors:
        raise BodyError(400, "invalid", "The batch has invalid fields.", envelope_errors)
    if defaults.context or defaults.integrations:
        checked = serialised_size({"context": defaults.context, "integrations": defaults.integrations})
        if isinstance(checked, str):
            raise BodyError(400, "invalid", "The batch has invalid fields.", {"context": checked})
    messages: list[Message] = []
    errors: list[ItemError] = []
    for index, item in enumerate(items):
        result = validate_message(item, index=index, received_at=received_at, defaults=defaults)
        if isinstance(result, ItemError):
            errors.append(result)
        else:
            messages.append(result)
    return messages, errors


def fields_of(errors: list[ItemError], *, prefix: bool) -> dict[str, str]:
    """Flatten item errors for the ``fields`` of an error body (``batch[3].event``)."""
    flat: dict[str, str] = {}
    for error in errors:
        for name, reason in error.fields.items():
            flat[f"batch[{error.index}].{name}" if prefix else name] = reason
    return flat
