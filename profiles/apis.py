from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_require
from core.pagination import paginate
from profiles.catalog import items_import
from profiles.models import ConsentChannel
from profiles.selectors import (
    item_get,
    item_list,
    items_recommended,
    items_similar,
    profile_get,
    profile_get_for_consent,
    profile_lookup,
    profiles_similar,
)
from profiles.serializers import (
    ConsentInputSerializer,
    ConsentOutputSerializer,
    ItemImportInputSerializer,
    ItemImportOutputSerializer,
    ItemOutputSerializer,
    LookupInputSerializer,
    ProfileOutputSerializer,
    SimilarItemSerializer,
    SimilarProfileSerializer,
)
from profiles.services import profile_consent_set


class ProfileDetailApi(APIView):
    @extend_schema(responses=ProfileOutputSerializer, tags=["profiles"], summary="A person's golden record")
    def get(self, request: Request, profile_id: str) -> Response:
        profile = profile_get(actor=request.user, workspace=request_workspace(request), profile_id=profile_id)
        return Response(ProfileOutputSerializer(profile).data)


class ProfileLookupApi(APIView):
    @extend_schema(
        parameters=[LookupInputSerializer],
        responses=ProfileOutputSerializer,
        tags=["profiles"],
        summary="Find a person by any identifier",
        examples=[OpenApiExample("by email", value={"kind": "email", "value": "ada@example.com"}, request_only=True)],
    )
    def get(self, request: Request) -> Response:
        query = LookupInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        profile = profile_lookup(
            actor=request.user,
            workspace=request_workspace(request),
            kind=query.validated_data["kind"],
            value=query.validated_data["value"],
        )
        return Response(ProfileOutputSerializer(profile).data)


class ProfileConsentApi(APIView):
    @extend_schema(
        request=ConsentInputSerializer,
        responses=ConsentOutputSerializer,
        tags=["profiles"],
        summary="Record consent per channel",
        description="Channels: " + ", ".join(ConsentChannel.values) + ". Audited; the latest statement wins.",
        parameters=[OpenApiParameter("profile_id", str, OpenApiParameter.PATH)],
        examples=[OpenApiExample("opt out of SMS", value={"sms": False, "reason": "asked on the phone"})],
    )
    def post(self, request: Request, profile_id: str) -> Response:
        workspace = request_workspace(request)
        profile = profile_get_for_consent(actor=request.user, workspace=workspace, profile_id=profile_id)
        data = ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = {
            channel: data.validated_data[channel] for channel in ConsentChannel.values if channel in data.validated_data
        }
        profile = profile_consent_set(
            profile=profile, changes=changes, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(ConsentOutputSerializer(profile).data)


class ItemListImportApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Name, id or category contains")],
        responses=ItemOutputSerializer(many=True),
        tags=["catalog"],
        summary="Items in the catalog",
    )
    def get(self, request: Request) -> Response:
        items = item_list(
            actor=request.user,
            workspace=request_workspace(request),
            search=request.query_params.get("search", "")[:100],
        )
        return paginate(request=request, queryset=items, serializer_class=ItemOutputSerializer, view=self)

    @extend_schema(
        request=ItemImportInputSerializer,
        responses=ItemImportOutputSerializer,
        tags=["catalog"],
        summary="Import or enrich catalog items",
        description="Upserts by id. Items also appear on their own from track events with product properties; "
        "the import fills in names and descriptions, which improve the content embeddings.",
        examples=[
            OpenApiExample(
                "two shoes",
                value={
                    "items": [
                        {"id": "SKU-1", "name": "Trail runner", "category": "shoes", "price": "89.00"},
                        {"id": "SKU-2", "name": "Road runner", "category": "shoes"},
                    ]
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = ItemImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        products = [{**row, "external_id": row["id"]} for row in data.validated_data["items"]]
        created = items_import(workspace=workspace, products=products, actor=request.user)
        return Response({"received": len(products), "created": created})


class ItemSimilarApi(APIView):
    @extend_schema(responses=SimilarItemSerializer(many=True), tags=["catalog"], summary="Items like this one")
    def get(self, request: Request, external_id: str) -> Response:
        item = item_get(actor=request.user, workspace=request_workspace(request), external_id=external_id)
        found = items_similar(item=item, limit=_limit(request))
        return Response([SimilarItemSerializer({"item": i, "similarity": s}).data for i, s in found])


class ProfileSimilarApi(APIView):
    @extend_schema(
        responses=SimilarProfileSerializer(many=True), tags=["profiles"], summary="People with the most similar taste"
    )
    def get(self, request: Request, profile_id: str) -> Response:
        profile = profile_get(actor=request.user, workspace=request_workspace(request), profile_id=profile_id)
        found = profiles_similar(profile=profile, limit=_limit(request))
        return Response([SimilarProfileSerializer({"profile_id": p.id, "similarity": s}).data for p, s in found])


class ProfileRecommendationsApi(APIView):
    @extend_schema(
        responses=SimilarItemSerializer(many=True),
        tags=["profiles"],
        summary="Items recommended for a person",
        description="Nearest items to the person's taste vector, leaving out what they engaged with.",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        profile = profile_get(actor=request.user, workspace=request_workspace(request), profile_id=profile_id)
        found = items_recommended(profile=profile, limit=_limit(request))
        return Response([SimilarItemSerializer({"item": i, "similarity": s}).data for i, s in found])


def _limit(request: Request) -> int:
    try:
        return max(1, min(50, int(request.query_params.get("limit", "10"))))
    except ValueError:
        return 10
