from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from profiles.models import ConsentChannel
from profiles.selectors import profile_get, profile_get_for_consent, profile_lookup
from profiles.serializers import (
    ConsentInputSerializer,
    ConsentOutputSerializer,
    LookupInputSerializer,
    ProfileOutputSerializer,
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
