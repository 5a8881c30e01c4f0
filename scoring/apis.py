"""Management API of the model registry and scores (workspace-scoped; secret key or session)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_require
from core.pagination import paginate
from scoring.models import RunTrigger
from scoring.selectors import (
    model_version_get,
    model_version_get_for_change,
    model_version_list,
    scores_for_profile,
    training_run_get,
)
from scoring.serializers import (
    ModelVersionDetailSerializer,
    ModelVersionOutputSerializer,
    PromoteInputSerializer,
    ScoreOutputSerializer,
    TrainingRunOutputSerializer,
    TrainInputSerializer,
)
from scoring.services import model_version_promote, training_run_create


class ModelVersionListApi(APIView):
    @extend_schema(
        responses=ModelVersionOutputSerializer(many=True),
        parameters=[OpenApiParameter("kind", str, description="conversion, churn, clv or response")],
        tags=["models"],
        summary="Model versions with held-out metrics",
    )
    def get(self, request: Request) -> Response:
        versions = model_version_list(
            actor=request.user, workspace=request_workspace(request), kind=request.query_params.get("kind")
        )
        return paginate(request=request, queryset=versions, serializer_class=ModelVersionOutputSerializer, view=self)


class ModelVersionDetailApi(APIView):
    @extend_schema(
        responses=ModelVersionDetailSerializer, tags=["models"], summary="One model version, with its artifact"
    )
    def get(self, request: Request, version_id: str) -> Response:
        version = model_version_get(actor=request.user, workspace=request_workspace(request), version_id=version_id)
        return Response(ModelVersionDetailSerializer(version).data)


class ModelTrainApi(APIView):
    @extend_schema(
        request=TrainInputSerializer,
        responses={202: TrainingRunOutputSerializer},
        tags=["models"],
        summary="Start a training run",
        description="Queues a run (or returns the one already queued or running). Poll the run for progress. "
        "Needs the manage_catalog permission.",
        examples=[OpenApiExample("conversion and churn", value={"kinds": ["conversion", "churn"]}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = TrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = training_run_create(
            workspace=workspace, actor=request.user, kinds=data.validated_data.get("kinds"), trigger=RunTrigger.API
        )
        return Response(TrainingRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class TrainingRunDetailApi(APIView):
    @extend_schema(
        responses=TrainingRunOutputSerializer, tags=["models"], summary="A training run's status and progress"
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = training_run_get(actor=request.user, workspace=request_workspace(request), run_id=run_id)
        return Response(TrainingRunOutputSerializer(run).data)


class ModelPromoteApi(APIView):
    @extend_schema(
        request=PromoteInputSerializer,
        responses=ModelVersionOutputSerializer,
        tags=["models"],
        summary="Promote a version by hand",
        description="Makes the version active whatever the promotion rule says; the previous active version is "
        "retired. Audited with the reason. Needs the manage_catalog permission.",
    )
    def post(self, request: Request, version_id: str) -> Response:
        workspace = request_workspace(request)
        version = model_version_get_for_change(actor=request.user, workspace=workspace, version_id=version_id)
        data = PromoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = model_version_promote(version=version, actor=request.user, reason=data.validated_data["reason"])
        return Response(ModelVersionOutputSerializer(version).data)


class ProfileScoresApi(APIView):
    @extend_schema(
        responses=ScoreOutputSerializer(many=True), tags=["models"], summary="A person's scores with explanations"
    )
    def get(self, request: Request, profile_id: str) -> Response:
        scores = scores_for_profile(actor=request.user, workspace=request_workspace(request), profile_id=profile_id)
        return Response(ScoreOutputSerializer(scores, many=True).data)
