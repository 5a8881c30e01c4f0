from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import membership_get, workspace_require
from core.pagination import paginate
from decisions.approval_selectors import approval_get, approval_list, approver_categories
from decisions.approval_serializers import (
    ApprovalSerializer,
    ApproveInputSerializer,
    ApproverCategoriesSerializer,
    BatchInputSerializer,
    BatchOutputSerializer,
    EditInputSerializer,
    RejectInputSerializer,
    TrustRecordSerializer,
)
from decisions.approvals import (
    ApprovalError,
    approval_approve,
    approval_edit_and_approve,
    approval_reject,
    approvals_batch_approve,
    approver_categories_set,
)
from decisions.trust import trust_evaluate, trust_report


class ApprovalConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The proposal is no longer waiting for approval."


def _raise(exc: ApprovalError) -> None:
    if exc.code == "conflict":
        raise ApprovalConflict(str(exc)) from None
    raise ValidationError({name: [message] for name, message in exc.fields.items()} or str(exc)) from None


class ApprovalListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("action", OpenApiTypes.STR, description="Only proposals of this action key"),
            OpenApiParameter("kind", OpenApiTypes.STR, description="Only this action category"),
        ],
        responses=ApprovalSerializer(many=True),
        tags=["approvals"],
        summary="Proposals waiting for approval, oldest first",
    )
    def get(self, request: Request) -> Response:
        pending = approval_list(
            actor=request.user,
            workspace=request_workspace(request),
            action=request.query_params.get("action", "")[:60],
            kind=request.query_params.get("kind", "")[:20],
        )
        return paginate(request=request, queryset=pending, serializer_class=ApprovalSerializer, view=self)


class ApprovalDetailApi(APIView):
    @extend_schema(responses=ApprovalSerializer, tags=["approvals"], summary="One proposal and its review")
    def get(self, request: Request, decision_id: str) -> Response:
        decision = approval_get(actor=request.user, workspace=request_workspace(request), decision_id=decision_id)
        return Response(ApprovalSerializer(decision).data)


class ApprovalApproveApi(APIView):
    @extend_schema(
        request=ApproveInputSerializer,
        responses={200: ApprovalSerializer},
        tags=["approvals"],
        summary="Approve as proposed (409 when no longer pending or expired)",
    )
    def post(self, request: Request, decision_id: str) -> Response:
        workspace = request_workspace(request)
        decision = approval_get(actor=request.user, workspace=workspace, decision_id=decision_id)
        data = ApproveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            decision = approval_approve(
                workspace=workspace, decision=decision, actor=request.user, reason=data.validated_data["reason"]
            )
        except ApprovalError as exc:
            _raise(exc)
        return Response(
            ApprovalSerializer(approval_get(actor=request.user, workspace=workspace, decision_id=decision.id)).data
        )


class ApprovalRejectApi(APIView):
    @extend_schema(
        request=RejectInputSerializer,
        responses={200: ApprovalSerializer},
        tags=["approvals"],
        summary="Reject with a reason",
    )
    def post(self, request: Request, decision_id: str) -> Response:
        workspace = request_workspace(request)
        decision = approval_get(actor=request.user, workspace=workspace, decision_id=decision_id)
        data = RejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            decision = approval_reject(
                workspace=workspace, decision=decision, actor=request.user, reason=data.validated_data["reason"]
            )
        except ApprovalError as exc:
            _raise(exc)
        return Response(
            ApprovalSerializer(approval_get(actor=request.user, workspace=workspace, decision_id=decision.id)).data
        )


class ApprovalEditApi(APIView):
    @extend_schema(
        request=EditInputSerializer,
        responses={200: ApprovalSerializer},
        tags=["approvals"],
        summary="Edit the proposal (subject, body, discount) and approve it; brand safety is checked again",
    )
    def post(self, request: Request, decision_id: str) -> Response:
        workspace = request_workspace(request)
        decision = approval_get(actor=request.user, workspace=workspace, decision_id=decision_id)
        data = EditInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            decision = approval_edit_and_approve(
                workspace=workspace,
                decision=decision,
                actor=request.user,
                subject=values.get("subject"),
                body=values.get("body"),
                discount_percent=values.get("discount_percent"),
                reason=values["reason"],
            )
        except ApprovalError as exc:
            _raise(exc)
        return Response(
            ApprovalSerializer(approval_get(actor=request.user, workspace=workspace, decision_id=decision.id)).data
        )


class ApprovalBatchApi(APIView):
    @extend_schema(
        request=BatchInputSerializer,
        responses={200: BatchOutputSerializer},
        tags=["approvals"],
        summary="Approve several proposals of the same action; ones no longer pending are skipped",
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        data = BatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decisions = [
            approval_get(actor=request.user, workspace=workspace, decision_id=i)
            for i in data.validated_data["decision_ids"]
        ]
        try:
            result = approvals_batch_approve(
                workspace=workspace, decisions=decisions, actor=request.user, reason=data.validated_data["reason"]
            )
        except ApprovalError as exc:
            _raise(exc)
        return Response({"batch": str(result.batch), "approved": result.approved, "skipped": result.skipped})


class TrustApi(APIView):
    @extend_schema(
        responses=TrustRecordSerializer(many=True), tags=["approvals"], summary="Each action's track record and level"
    )
    def get(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace)
        verdicts: Any = trust_report(workspace=workspace)
        return Response(TrustRecordSerializer(verdicts, many=True).data)


class TrustEvaluateApi(APIView):
    @extend_schema(
        request=None,
        responses=TrustRecordSerializer(many=True),
        tags=["approvals"],
        summary="Apply the trust model now; returns the actions whose level changed",
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        changed: Any = trust_evaluate(workspace=workspace, actor=request.user)
        return Response(TrustRecordSerializer(changed, many=True).data)


class ApproverCategoriesApi(APIView):
    @extend_schema(
        responses=ApproverCategoriesSerializer, tags=["approvals"], summary="The categories a member may decide"
    )
    def get(self, request: Request, membership_id: str) -> Response:
        workspace = request_workspace(request)
        membership = membership_get(actor=request.user, workspace=workspace, membership_id=membership_id)
        return Response({"kinds": approver_categories(actor=request.user, workspace=workspace, user=membership.user)})

    @extend_schema(
        request=ApproverCategoriesSerializer,
        responses=ApproverCategoriesSerializer,
        tags=["approvals"],
        summary="Limit a member's approvals to some categories (empty list: every category)",
    )
    def put(self, request: Request, membership_id: str) -> Response:
        workspace = request_workspace(request)
        membership = membership_get(actor=request.user, workspace=workspace, membership_id=membership_id)
        data = ApproverCategoriesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kinds = approver_categories_set(
            workspace=workspace, user=membership.user, kinds=data.validated_data["kinds"], actor=request.user
        )
        return Response({"kinds": kinds})
