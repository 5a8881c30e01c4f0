from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from profiles.privacy import subject_erase, subject_export
from profiles.selectors import profile_get_for_subject_rights


class SubjectRequestSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class SubjectEraseSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500, help_text="Why (for example the request's reference)")
    confirm = serializers.BooleanField(help_text="Must be true: erasure cannot be undone")

    def validate_confirm(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError("Set confirm to true: erasure cannot be undone.")
        return value


class SubjectEraseOutputSerializer(serializers.Serializer[dict[str, Any]]):
    profiles = serializers.IntegerField()
    identifiers_suppressed = serializers.IntegerField()
    rows = serializers.DictField(child=serializers.IntegerField())
    redacted_seqs = serializers.ListField(child=serializers.IntegerField())


class SubjectExportApi(APIView):
    @extend_schema(
        request=SubjectRequestSerializer,
        responses={200: dict},
        tags=["privacy"],
        summary="Export everything held about a person (owners, admins, secret keys; audited)",
    )
    def post(self, request: Request, profile_id: str) -> Response:
        workspace = request_workspace(request)
        profile = profile_get_for_subject_rights(actor=request.user, workspace=workspace, profile_id=profile_id)
        data = SubjectRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            subject_export(
                workspace=workspace, profile=profile, actor=request.user, reason=data.validated_data["reason"]
            )
        )


class SubjectEraseApi(APIView):
    @extend_schema(
        request=SubjectEraseSerializer,
        responses=SubjectEraseOutputSerializer,
        tags=["privacy"],
        summary="Erase a person everywhere and suppress their identifiers (owners, admins, secret keys; audited)",
    )
    def post(self, request: Request, profile_id: str) -> Response:
        workspace = request_workspace(request)
        profile = profile_get_for_subject_rights(actor=request.user, workspace=workspace, profile_id=profile_id)
        data = SubjectEraseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        summary = subject_erase(
            workspace=workspace, profile=profile, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(summary)
