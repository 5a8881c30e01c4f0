"""OpenAPI description of the tracking API.

The serializers here document the request and response shapes for drf-spectacular only; they
never run on requests (``events.validation`` does, much faster). The write key is described
as an HTTP Basic security scheme; ``writeKey`` in the body works too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request


class TrackingWriteKeyAuthentication(BaseAuthentication):
    """Names the write-key scheme for the schema and the 401 challenge. The key itself is
    checked in the view, because it may sit in the (possibly gzipped) body."""

    def authenticate(self, request: Request) -> None:
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="tracking"'


class WriteKeyScheme(OpenApiAuthenticationExtension):
    target_class = "events.schema.TrackingWriteKeyAuthentication"
    name = "writeKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": (
                "The workspace write key as the HTTP Basic username with an empty password "
                "(`Authorization: Basic base64(<writeKey>:)`), as Segment and RudderStack SDKs send it. "
                "Alternatively put it in the JSON body as `writeKey`."
            ),
        }


def _object(help_text: str) -> serializers.DictField:
    return serializers.DictField(required=False, allow_null=True, help_text=help_text)


class CommonFieldsSerializer(serializers.Serializer[Any]):
    messageId = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Unique per workspace; a replay with the same id is accepted and stored once. Assigned when absent.",
    )
    anonymousId = serializers.CharField(required=False, max_length=255, help_text="userId or anonymousId is required.")
    userId = serializers.CharField(required=False, max_length=255, help_text="userId or anonymousId is required.")
    timestamp = serializers.DateTimeField(
        required=False, help_text="When it happened (ISO-8601). Honoured as given, e.g. for historical imports."
    )
    originalTimestamp = serializers.DateTimeField(
        required=False, help_text="Client time of the event; corrected for clock skew with sentAt."
    )
    sentAt = serializers.DateTimeField(required=False, help_text="Client time when the request was sent.")
    context = _object("Device, page, campaign, library, traits, ... Unknown keys are kept.")  # type: ignore[assignment]
    integrations = _object("Destinations on/off; stored as sent.")
    writeKey = serializers.CharField(required=False, help_text="The write key, when not sent with Basic auth.")


class TrackMessageSerializer(CommonFieldsSerializer):
    event = serializers.CharField(max_length=255, help_text="The action's name, e.g. 'Order Completed'.")
    properties = _object("Free-form properties of the action.")


class IdentifyMessageSerializer(CommonFieldsSerializer):
    traits = _object("Traits of the person (email, phone and consent are understood).")


class PageMessageSerializer(CommonFieldsSerializer):
    name = serializers.CharField(required=False, max_length=255)
    category = serializers.CharField(required=False, max_length=255)
    properties = _object("url, path, title, referrer, ...")


class ScreenMessageSerializer(CommonFieldsSerializer):
    name = serializers.CharField(required=False, max_length=255)
    properties = _object("Free-form properties of the screen.")


class GroupMessageSerializer(CommonFieldsSerializer):
    groupId = serializers.CharField(max_length=255)
    traits = _object("Traits of the group (account).")


class AliasMessageSerializer(CommonFieldsSerializer):
    userId = serializers.CharField(max_length=255)
    previousId = serializers.CharField(max_length=255, help_text="The earlier user id or anonymous id.")


class BatchItemSerializer(CommonFieldsSerializer):
    type = serializers.ChoiceField(choices=["identify", "track", "page", "screen", "group", "alias"])
    event = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    properties = _object("track, page, screen")
    traits = _object("identify, group")
    groupId = serializers.CharField(required=False)
    previousId = serializers.CharField(required=False)


class BatchSerializer(serializers.Serializer[Any]):
    batch = BatchItemSerializer(many=True, help_text="1 to 2,500 messages, at most 500 KB in all.")
    context = _object("Merged into every item's context (the item's keys win).")  # type: ignore[assignment]
    integrations = _object("Merged into every item's integrations.")
    sentAt = serializers.DateTimeField(required=False, help_text="Applies to items without their own sentAt.")
    writeKey = serializers.CharField(required=False)


class AcceptedSerializer(serializers.Serializer[Any]):
    success = serializers.BooleanField()
    accepted = serializers.IntegerField(help_text="New messages stored by this request.")
    duplicates = serializers.IntegerField(help_text="Messages whose messageId was already stored (replays).")
    messageIds = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Single calls: the message id (assigned if absent)."
    )


class ItemErrorSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    messageId = serializers.CharField(allow_null=True)
    fields = serializers.DictField(child=serializers.CharField())  # type: ignore[assignment]


class ErrorBodySerializer(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.CharField(), required=False)  # type: ignore[assignment]
    items = ItemErrorSerializer(many=True, required=False, help_text="Batch only: each rejected item.")


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorBodySerializer()
    accepted = serializers.IntegerField(required=False, help_text="Batch only: valid items stored anyway.")
    duplicates = serializers.IntegerField(required=False)
    rejected = serializers.IntegerField(required=False)


ERROR_RESPONSES = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    413: ErrorSerializer,
    415: ErrorSerializer,
    429: ErrorSerializer,
}

_CONTEXT = {"ip": "203.0.113.7", "userAgent": "Mozilla/5.0", "library": {"name": "analytics.js", "version": "2.0"}}

EXAMPLES: dict[str, dict[str, Any]] = {
    "track": {
        "messageId": "ajs-5a6a1c6e-9e1f-4c5b-9c1e-0b0f6a9b7f10",
        "anonymousId": "507f191e810c19729de860ea",
        "userId": "user-42",
        "event": "Order Completed",
        "properties": {"order_id": "50314b8e", "revenue": 25.0, "currency": "USD", "category": "games"},
        "timestamp": "2025-03-01T10:00:00.000Z",
        "context": _CONTEXT,
    },
    "identify": {
        "messageId": "ajs-1f0e7b1c",
        "anonymousId": "507f191e810c19729de860ea",
        "userId": "user-42",
        "traits": {"email": "ada@example.com", "name": "Ada", "plan": "pro", "consent": {"email": True}},
    },
    "page": {
        "anonymousId": "507f191e810c19729de860ea",
        "name": "Pricing",
        "category": "Docs",
        "properties": {"url": "https://shop.example.com/pricing", "path": "/pricing"},
        "context": _CONTEXT,
    },
    "screen": {"userId": "user-42", "name": "Checkout", "properties": {"step": 2}},
    "group": {"userId": "user-42", "groupId": "acct-7", "traits": {"name": "Initech", "employees": 120}},
    "alias": {"userId": "user-42", "previousId": "507f191e810c19729de860ea"},
}
EXAMPLES["batch"] = {
    "batch": [
        {"type": "identify", **EXAMPLES["identify"]},
        {"type": "track", **EXAMPLES["track"]},
    ],
    "sentAt": "2025-03-01T10:00:01.000Z",
    "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
}

RESPONSE_EXAMPLES = [
    OpenApiExample("Accepted", value={"success": True, "accepted": 1, "duplicates": 0}, response_only=True),
    OpenApiExample(
        "Invalid message",
        value={
            "error": {
                "code": "invalid",
                "message": "The message has invalid fields.",
                "fields": {"event": "is required", "timestamp": "must be an ISO-8601 date-time string"},
            }
        },
        response_only=True,
        status_codes=["400"],
    ),
    OpenApiExample(
        "Rate limited",
        value={"error": {"code": "throttled", "message": "Too many events for this write key; retry in 3 s."}},
        response_only=True,
        status_codes=["429"],
    ),
]

BATCH_RESPONSE_EXAMPLES = [
    OpenApiExample("Accepted", value={"success": True, "accepted": 2, "duplicates": 0}, response_only=True),
    OpenApiExample(
        "Some items rejected",
        value={
            "error": {
                "code": "invalid",
                "message": "1 of 3 messages were rejected; the other 2 were accepted.",
                "fields": {"batch[1].event": "is required"},
                "items": [{"index": 1, "messageId": "m-2", "fields": {"event": "is required"}}],
            },
            "accepted": 2,
            "duplicates": 0,
            "rejected": 1,
        },
        response_only=True,
        status_codes=["400"],
    ),
]
