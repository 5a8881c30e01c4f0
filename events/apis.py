"""The Segment-compatible tracking endpoints: /v1/identify, track, page, screen, group, alias
and batch. Thin: read the bounded body and hand it to ``events.handling.tracking_handle``.

They are DRF views so that they appear in the OpenAPI schema, but they skip DRF's request
parsing and serializers (``events.validation`` is much faster) and answer with plain
``JsonResponse`` bodies in the project's error shape. Every response carries CORS headers so
browser SDKs (analytics.js sends ``text/plain`` JSON) can call from any origin. Under ASGI,
``events.asgi`` can serve the same paths without the middleware stack (same answers).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from events import schema
from events.handling import (
    CORS_HEADERS,
    TrackingReply,
    body_limit,
    preflight_headers,
    too_large,
    tracking_handle,
)


class WriteKeyCheckedInView(BasePermission):
    """The view itself authenticates the write key (it may be inside the body), so DRF's
    permission step lets everything through; unlike AllowAny it does not tell the OpenAPI
    schema that calls without a key are fine."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return True


class _AnyAccept(BaseContentNegotiation):
    """SDKs send all sorts of Accept headers; the answer is JSON whatever they say."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class TrackingApi(APIView):
    authentication_classes = [schema.TrackingWriteKeyAuthentication]
    permission_classes = [WriteKeyCheckedInView]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _AnyAccept
    throttle_classes = []  # per write key, in Redis (events.rate_limit)
    call_type: ClassVar[str] = ""

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        """CORS preflight: browsers may post from any origin."""
        return Response(
            status=204, headers=preflight_headers(request.META.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", ""))
        )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        for header, value in CORS_HEADERS.items():
            response[header] = value
        return response

    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        http: HttpRequest = request._request
        limit = body_limit(self.call_type)
        try:
            declared = int(http.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return _response(too_large(limit))
        reply = tracking_handle(
            call_type=self.call_type,
            raw=http.read(limit + 1),  # one byte more than allowed tells "too large" apart
            authorization=http.META.get("HTTP_AUTHORIZATION", ""),
            content_encoding=http.META.get("HTTP_CONTENT_ENCODING", ""),
        )
        return _response(reply)


def _response(reply: TrackingReply) -> JsonResponse:
    response = JsonResponse(reply.body, status=reply.status)
    for header, value in reply.headers.items():
        response[header] = value
    return response


def _single_schema(call_type: str, request: type[Any], summary: str, description: str) -> Any:
    return extend_schema(
        operation_id=f"tracking_{call_type}",
        summary=summary,
        description=description,
        tags=["tracking"],
        request={"application/json": request, "text/plain": request},
        responses={200: schema.AcceptedSerializer, **schema.ERROR_RESPONSES},
        examples=[
            OpenApiExample(f"{call_type} call", value=schema.EXAMPLES[call_type], request_only=True),
            *schema.RESPONSE_EXAMPLES,
        ],
    )


COMMON = (
    " Needs userId or anonymousId. At most 32 KB. A replayed messageId is accepted and stored once."
    " Write key: HTTP Basic username or `writeKey` in the body. `Content-Encoding: gzip` is accepted."
)


class IdentifyApi(TrackingApi):
    call_type = "identify"

    @_single_schema(
        "identify",
        schema.IdentifyMessageSerializer,
        "Identify a person",
        "Ties the user to their traits; links userId and anonymousId (merging profiles that turn out to be "
        "the same person)." + COMMON,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().post(request, *args, **kwargs)


class TrackApi(TrackingApi):
    call_type = "track"

    @_single_schema("track", schema.TrackMessageSerializer, "Track an action", "Records an action (`event`)." + COMMON)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().post(request, *args, **kwargs)


class PageApi(TrackingApi):
    call_type = "page"

    @_single_schema("page", schema.PageMessageSerializer, "Record a page view", "A web page view." + COMMON)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().post(request, *args, **kwargs)


class ScreenApi(TrackingApi):
    call_type = "screen"

    @_single_schema("screen", schema.ScreenMessageSerializer, "Record a screen view", "A mobile screen view." + COMMON)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().post(request, *args, **kwargs)


class GroupApi(TrackingApi):
    call_type = "group"

    @_single_schema(
        "group", schema.GroupMessageSerializer, "Associate a person with a group", "Needs groupId." + COMMON
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().post(request, *args, **kwargs)


class AliasApi(TrackingApi):
    call_type = "alias"

    @_single_schema(
        "alias",
        schema.AliasMessageSerializer,
        "Alias two identities",
        "Declares that previousId and userId are the same person (their profiles merge)." + COMMON,
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().post(request, *args, **kwargs)


class BatchApi(TrackingApi):
    call_type = "batch"

    @extend_schema(
        operation_id="tracking_batch",
        summary="Send many calls at once",
        description=(
            "What the Segment and RudderStack SDKs use. Up to 2,500 messages and 500 KB (after gzip is undone); "
            "each message at most 32 KB. Invalid items are reported by index with a reason per field and the "
            "valid items are stored anyway (the answer is then 400 with `accepted` > 0)."
        ),
        tags=["tracking"],
        request={"application/json": schema.BatchSerializer, "text/plain": schema.BatchSerializer},
        responses={200: schema.AcceptedSerializer, **schema.ERROR_RESPONSES},
        examples=[
            OpenApiExample("batch call", value=schema.EXAMPLES["batch"], request_only=True),
            *schema.BATCH_RESPONSE_EXAMPLES,
        ],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return super().post(request, *args, **kwargs)
