from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_API_KEYS, MANAGE_CATALOG
from accounts.selectors import workspace_require
from core.pagination import paginate
from delivery.models import DeliveryChannel, DeliveryStatus, WebhookEndpoint
from delivery.selectors import (
    content_block_get,
    content_block_list,
    dead_letter_list,
    delivery_get,
    delivery_list,
    endpoint_get,
    endpoint_list,
)
from delivery.serializers import (
    ContentBlockSerializer,
    DeliveryDetailSerializer,
    DeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from delivery.services import DeliveryError, content_block_save, delivery_retry, endpoint_delete, endpoint_save


def _created(endpoint: WebhookEndpoint, secret: str | None) -> dict[str, Any]:
    return {**WebhookEndpointSerializer(endpoint).data, "secret": secret}


class WebhookEndpointListCreateApi(APIView):
    @extend_schema(responses=WebhookEndpointSerializer(many=True), tags=["delivery"], summary="Webhook endpoints")
    def get(self, request: Request) -> Response:
        endpoints = endpoint_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=endpoints, serializer_class=WebhookEndpointSerializer, view=self)

    @extend_schema(
        request=WebhookEndpointSerializer,
        responses={201: WebhookEndpointCreatedSerializer},
        tags=["delivery"],
        summary="Add a webhook endpoint; the response carries its signing secret, shown only once",
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_API_KEYS)
        data = WebhookEndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint, secret = endpoint_save(workspace=workspace, actor=request.user, values=data.validated_data)
        except DeliveryError as exc:
            raise ValidationError(exc.errors) from None
        return Response(_created(endpoint, secret), status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(APIView):
    @extend_schema(responses=WebhookEndpointSerializer, tags=["delivery"])
    def get(self, request: Request, key: str) -> Response:
        endpoint = endpoint_get(actor=request.user, workspace=request_workspace(request), key=key)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(request=WebhookEndpointSerializer, responses=WebhookEndpointSerializer, tags=["delivery"])
    def patch(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        endpoint = endpoint_get(actor=request.user, workspace=workspace, key=key)
        data = WebhookEndpointSerializer(endpoint, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            endpoint, _ = endpoint_save(
                workspace=workspace, actor=request.user, values=data.validated_data, endpoint=endpoint
            )
        except DeliveryError as exc:
            raise ValidationError(exc.errors) from None
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None}, tags=["delivery"])
    def delete(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        endpoint = endpoint_get(actor=request.user, workspace=workspace, key=key)
        endpoint_delete(workspace=workspace, actor=request.user, endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateApi(APIView):
    @extend_schema(
        request=None,
        responses=WebhookEndpointCreatedSerializer,
        tags=["delivery"],
        summary="Replace the signing secret; the new one is in this response only",
    )
    def post(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        endpoint = endpoint_get(actor=request.user, workspace=workspace, key=key)
        endpoint, secret = endpoint_save(
            workspace=workspace, actor=request.user, values={}, endpoint=endpoint, rotate_secret=True
        )
        return Response(_created(endpoint, secret))


class DeliveryListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=DeliveryStatus.values),
            OpenApiParameter("channel", OpenApiTypes.STR, enum=DeliveryChannel.values),
            OpenApiParameter("profile", OpenApiTypes.UUID),
        ],
        responses=DeliverySerializer(many=True),
        tags=["delivery"],
        summary="Deliveries, newest first",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        rows = delivery_list(
            actor=request.user,
            workspace=request_workspace(request),
            status=params.get("status", "") if params.get("status", "") in DeliveryStatus.values else "",
            channel=params.get("channel", "") if params.get("channel", "") in DeliveryChannel.values else "",
            profile_id=params.get("profile", "")[:64],
        )
        return paginate(request=request, queryset=rows, serializer_class=DeliverySerializer, view=self)


class DeadLetterListApi(APIView):
    @extend_schema(
        responses=DeliverySerializer(many=True), tags=["delivery"], summary="Dead-lettered deliveries, newest first"
    )
    def get(self, request: Request) -> Response:
        rows = dead_letter_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=rows, serializer_class=DeliverySerializer, view=self)


class DeliveryDetailApi(APIView):
    @extend_schema(responses=DeliveryDetailSerializer, tags=["delivery"], summary="A delivery with its attempts")
    def get(self, request: Request, delivery_id: str) -> Response:
        delivery = delivery_get(actor=request.user, workspace=request_workspace(request), delivery_id=delivery_id)
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryRetryApi(APIView):
    @extend_schema(
        request=None,
        responses=DeliverySerializer,
        tags=["delivery"],
        summary="Retry a dead-lettered delivery (another full round of attempts)",
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        workspace = request_workspace(request)
        delivery = delivery_get(actor=request.user, workspace=workspace, delivery_id=delivery_id, for_retry=True)
        try:
            delivery = delivery_retry(workspace=workspace, actor=request.user, delivery=delivery)
        except DeliveryError as exc:
            raise ValidationError({"status": [str(exc)]}) from None
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class ContentBlockListCreateApi(APIView):
    @extend_schema(responses=ContentBlockSerializer(many=True), tags=["delivery"], summary="Content blocks")
    def get(self, request: Request) -> Response:
        blocks = content_block_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=blocks, serializer_class=ContentBlockSerializer, view=self)

    @extend_schema(
        request=ContentBlockSerializer,
        responses={201: ContentBlockSerializer},
        tags=["delivery"],
        summary="Add a content block ({traits.first_name|there} placeholders; checked by brand safety)",
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = ContentBlockSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            block = content_block_save(workspace=workspace, actor=request.user, values=data.validated_data)
        except DeliveryError as exc:
            raise ValidationError(exc.errors) from None
        return Response(ContentBlockSerializer(block).data, status=status.HTTP_201_CREATED)


class ContentBlockDetailApi(APIView):
    @extend_schema(responses=ContentBlockSerializer, tags=["delivery"])
    def get(self, request: Request, key: str) -> Response:
        block = content_block_get(actor=request.user, workspace=request_workspace(request), key=key)
        return Response(ContentBlockSerializer(block).data)

    @extend_schema(request=ContentBlockSerializer, responses=ContentBlockSerializer, tags=["delivery"])
    def patch(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        block = content_block_get(actor=request.user, workspace=workspace, key=key, for_change=True)
        data = ContentBlockSerializer(block, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k != "key"}
        try:
            block = content_block_save(workspace=workspace, actor=request.user, values=values, block=block)
        except DeliveryError as exc:
            raise ValidationError(exc.errors) from None
        return Response(ContentBlockSerializer(block).data)
