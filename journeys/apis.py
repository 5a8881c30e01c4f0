"""REST endpoints for signals, playbooks and their runs (mounted under /api/v1/).

Changes go through the same services as the pages (``signal_save`` / ``playbook_save``): validated
with errors naming the field (``definition.count``, ``steps[2].endpoint``), versioned and audited.
Reading needs membership; changing needs ``manage_catalog``. Keys cannot change once made."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_require
from core.pagination import paginate
from journeys.models import RunStatus
from journeys.selectors import playbook_get, playbook_list, run_get, run_search, signal_get, signal_list
from journeys.serializers import PlaybookRunSerializer, PlaybookSerializer, SignalSerializer
from journeys.services import JourneyError, playbook_save, signal_save


def _values(validated: dict[str, Any], *, changing: bool) -> tuple[dict[str, Any], str]:
    values = dict(validated)
    reason = str(values.pop("reason", "") or "")
    if changing:
        values.pop("key", None)  # the key names it in URLs, playbooks and the audit trail
    return values, reason


class SignalListCreateApi(APIView):
    @extend_schema(responses=SignalSerializer(many=True), tags=["journeys"], summary="Signals")
    def get(self, request: Request) -> Response:
        rows = signal_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=rows, serializer_class=SignalSerializer, view=self)

    @extend_schema(
        request=SignalSerializer,
        responses={201: SignalSerializer},
        tags=["journeys"],
        summary="Add a signal (validated by kind, versioned, audited)",
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = SignalSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values, reason = _values(data.validated_data, changing=False)
        try:
            signal = signal_save(workspace=workspace, actor=request.user, values=values, reason=reason)
        except JourneyError as exc:
            raise ValidationError(exc.errors) from None
        return Response(SignalSerializer(signal).data, status=status.HTTP_201_CREATED)


class SignalDetailApi(APIView):
    @extend_schema(responses=SignalSerializer, tags=["journeys"], summary="A signal")
    def get(self, request: Request, key: str) -> Response:
        signal = signal_get(actor=request.user, workspace=request_workspace(request), key=key)
        return Response(SignalSerializer(signal).data)

    @extend_schema(
        request=SignalSerializer,
        responses=SignalSerializer,
        tags=["journeys"],
        summary="Change a signal (a new version; the key stays)",
    )
    def patch(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        signal = signal_get(actor=request.user, workspace=workspace, key=key, for_change=True)
        data = SignalSerializer(signal, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values, reason = _values(data.validated_data, changing=True)
        try:
            signal = signal_save(workspace=workspace, actor=request.user, values=values, signal=signal, reason=reason)
        except JourneyError as exc:
            raise ValidationError(exc.errors) from None
        return Response(SignalSerializer(signal).data)


class PlaybookListCreateApi(APIView):
    @extend_schema(responses=PlaybookSerializer(many=True), tags=["journeys"], summary="Playbooks")
    def get(self, request: Request) -> Response:
        rows = playbook_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=rows, serializer_class=PlaybookSerializer, view=self)

    @extend_schema(
        request=PlaybookSerializer,
        responses={201: PlaybookSerializer},
        tags=["journeys"],
        summary="Add a playbook (steps validated, versioned, audited)",
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = PlaybookSerializer(data=request.data, context={"workspace": workspace})
        data.is_valid(raise_exception=True)
        values, reason = _values(data.validated_data, changing=False)
        try:
            playbook = playbook_save(workspace=workspace, actor=request.user, values=values, reason=reason)
        except JourneyError as exc:
            raise ValidationError(exc.errors) from None
        return Response(PlaybookSerializer(playbook).data, status=status.HTTP_201_CREATED)


class PlaybookDetailApi(APIView):
    @extend_schema(responses=PlaybookSerializer, tags=["journeys"], summary="A playbook")
    def get(self, request: Request, key: str) -> Response:
        playbook = playbook_get(actor=request.user, workspace=request_workspace(request), key=key)
        return Response(PlaybookSerializer(playbook).data)

    @extend_schema(
        request=PlaybookSerializer,
        responses=PlaybookSerializer,
        tags=["journeys"],
        summary="Change a playbook (a new version; the key stays; running runs keep their steps)",
    )
    def patch(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        playbook = playbook_get(actor=request.user, workspace=workspace, key=key, for_change=True)
        data = PlaybookSerializer(playbook, data=request.data, partial=True, context={"workspace": workspace})
        data.is_valid(raise_exception=True)
        values, reason = _values(data.validated_data, changing=True)
        try:
            playbook = playbook_save(
                workspace=workspace, actor=request.user, values=values, playbook=playbook, reason=reason
            )
        except JourneyError as exc:
            raise ValidationError(exc.errors) from None
        return Response(PlaybookSerializer(playbook).data)


class PlaybookRunListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("playbook", OpenApiTypes.STR, description="A playbook's key"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=RunStatus.values),
            OpenApiParameter("profile", OpenApiTypes.UUID, description="A person's profile id"),
        ],
        responses=PlaybookRunSerializer(many=True),
        tags=["journeys"],
        summary="Playbook runs with their steps, newest first",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        wanted_status = params.get("status", "")
        if wanted_status and wanted_status not in RunStatus.values:
            raise ValidationError({"status": [f"use one of {', '.join(RunStatus.values)}"]})
        rows = run_search(
            actor=request.user,
            workspace=request_workspace(request),
            playbook_key=params.get("playbook", "")[:60],
            status=wanted_status,
            profile_id=params.get("profile", "")[:64],
        )
        return paginate(request=request, queryset=rows, serializer_class=PlaybookRunSerializer, view=self)


class PlaybookRunDetailApi(APIView):
    @extend_schema(responses=PlaybookRunSerializer, tags=["journeys"], summary="A playbook run with its steps")
    def get(self, request: Request, run_id: UUID) -> Response:
        run = run_get(actor=request.user, workspace=request_workspace(request), run_id=run_id)
        return Response(PlaybookRunSerializer(run).data)
