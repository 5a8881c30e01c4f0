from __future__ import annotations

from datetime import UTC
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_require
from core.pagination import paginate
from decisions.evaluation import policy_evaluate
from decisions.models import Decision, GuardrailConfig
from decisions.selectors import (
    action_get,
    action_list,
    decision_get,
    decision_list,
    guardrails_get,
    person_resolve,
    policy_get,
    policy_list,
)
from decisions.serializers import (
    ActionSerializer,
    DecideInputSerializer,
    DecideOutputSerializer,
    DecisionSerializer,
    GuardrailsSerializer,
    OutcomeInputSerializer,
    PolicyEvaluationSerializer,
    PolicySerializer,
)
from decisions.services import (
    CatalogError,
    action_save,
    decision_make,
    decision_replay,
    guardrails_save,
    outcome_record,
    policy_save,
)


def decision_answer(decision: Decision) -> dict[str, Any]:
    action = None
    if decision.chosen_key and not decision.holdout:
        action = {
            "key": decision.chosen_key,
            # Stored with the decision since it was made; older rows read the catalog.
            "name": decision.rendered.get("name")
            or (decision.chosen_action.name if decision.chosen_action_id and decision.chosen_action else ""),
            **decision.rendered,
        }
    return {
        "decision_id": str(decision.id),
        "status": decision.status,
        "action": action,
        "explanation": decision.explanation,
        "needs_approval": decision.needs_approval,
        "holdout": decision.holdout,
        "latency_ms": decision.latency_ms,
    }


class DecideApi(APIView):
    @extend_schema(
        request=DecideInputSerializer,
        responses=DecideOutputSerializer,
        tags=["decide"],
        summary="Decide the next best action for a person now",
        description="Returns the chosen action with its rendered content, or null when doing nothing wins "
        "(also for people in the holdout, who are decided but not shown anything). Actions that need a "
        "human's approval come back with status pending_approval and no action to show yet.",
        examples=[
            OpenApiExample(
                "on the checkout page",
                value={"person": {"userId": "ana@example.com"}, "context": {"page": "/checkout", "channel": "in_app"}},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace)
        data = DecideInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        context = request.data.get("context", {}) if isinstance(request.data, dict) else {}
        if not isinstance(context, dict):
            raise ValidationError({"context": ['Must be an object, e.g. {"page": "/checkout"}.']})
        profile = person_resolve(workspace=workspace, person=data.validated_data["person"])
        if profile is None:
            raise NotFound("No profile for that person yet: send an identify or track call for them first.")
        decision = decision_make(
            workspace=workspace,
            profile=profile,
            context=context,
            only=data.validated_data["candidates"] or None,
        )
        return Response(decision_answer(decision))


class OutcomeApi(APIView):
    @extend_schema(
        request=OutcomeInputSerializer,
        responses={201: None},
        tags=["decide"],
        summary="Report what happened after a decision",
        description="Conversions reward the action (value = order value); unsubscribes and complaints "
        "count against it. Idempotent per (decision, kind, id).",
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        data = OutcomeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = decision_get(actor=request.user, workspace=workspace, decision_id=data.validated_data["decisionId"])
        outcome_record(
            decision=decision,
            kind=data.validated_data["kind"],
            value=data.validated_data["value"],
            source="api",
            ref=data.validated_data["id"],
            occurred_at=data.validated_data["timestamp"],
        )
        return Response({"recorded": True}, status=status.HTTP_201_CREATED)


class ActionListCreateApi(APIView):
    @extend_schema(responses=ActionSerializer(many=True), tags=["catalog"], summary="The action catalog")
    def get(self, request: Request) -> Response:
        actions = action_list(
            actor=request.user,
            workspace=request_workspace(request),
            search=request.query_params.get("search", "")[:100],
        )
        return paginate(request=request, queryset=actions, serializer_class=ActionSerializer, view=self)

    @extend_schema(
        request=ActionSerializer, responses={201: ActionSerializer}, tags=["catalog"], summary="Create an action"
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = ActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            action = action_save(workspace=workspace, actor=request.user, values=data.validated_data)
        except CatalogError as exc:
            raise ValidationError(exc.errors) from None
        return Response(ActionSerializer(action).data, status=status.HTTP_201_CREATED)


class ActionDetailApi(APIView):
    @extend_schema(responses=ActionSerializer, tags=["catalog"])
    def get(self, request: Request, key: str) -> Response:
        return Response(
            ActionSerializer(action_get(actor=request.user, workspace=request_workspace(request), key=key)).data
        )

    @extend_schema(
        request=ActionSerializer,
        responses=ActionSerializer,
        tags=["catalog"],
        summary="Change an action (a new version)",
    )
    def patch(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        action = action_get(actor=request.user, workspace=workspace, key=key, for_change=True)
        data = ActionSerializer(action, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            action = action_save(
                workspace=workspace,
                actor=request.user,
                values=data.validated_data,
                action=action,
                reason=str(request.data.get("reason", ""))[:500] if isinstance(request.data, dict) else "",
            )
        except CatalogError as exc:
            raise ValidationError(exc.errors) from None
        return Response(ActionSerializer(action).data)


class DecisionListApi(APIView):
    @extend_schema(responses=DecisionSerializer(many=True), tags=["decisions"], summary="The decision log")
    def get(self, request: Request) -> Response:
        params = request.query_params
        decisions = decision_list(
            actor=request.user,
            workspace=request_workspace(request),
            action=params.get("action", ""),
            channel=params.get("channel", ""),
            status=params.get("status", ""),
            profile_id=params.get("profile", ""),
        )
        return paginate(request=request, queryset=decisions, serializer_class=DecisionSerializer, view=self)


class DecisionDetailApi(APIView):
    @extend_schema(responses=DecisionSerializer, tags=["decisions"])
    def get(self, request: Request, decision_id: str) -> Response:
        decision = decision_get(actor=request.user, workspace=request_workspace(request), decision_id=decision_id)
        return Response(DecisionSerializer(decision).data)


class DecisionReplayApi(APIView):
    @extend_schema(
        request=None,
        responses={200: dict},
        tags=["decisions"],
        summary="Re-run a stored decision from its inputs, policy and seed",
    )
    def post(self, request: Request, decision_id: str) -> Response:
        decision = decision_get(actor=request.user, workspace=request_workspace(request), decision_id=decision_id)
        return Response(decision_replay(decision=decision))


class PolicyListCreateApi(APIView):
    @extend_schema(responses=PolicySerializer(many=True), tags=["catalog"], summary="Decision policies")
    def get(self, request: Request) -> Response:
        policies = policy_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=policies, serializer_class=PolicySerializer, view=self)

    @extend_schema(
        request=PolicySerializer, responses={201: PolicySerializer}, tags=["catalog"], summary="Create a policy"
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = PolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            policy = policy_save(workspace=workspace, actor=request.user, values=data.validated_data)
        except CatalogError as exc:
            raise ValidationError(exc.errors) from None
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyDetailApi(APIView):
    @extend_schema(responses=PolicySerializer, tags=["catalog"])
    def get(self, request: Request, key: str) -> Response:
        return Response(
            PolicySerializer(policy_get(actor=request.user, workspace=request_workspace(request), key=key)).data
        )

    @extend_schema(
        request=PolicySerializer,
        responses=PolicySerializer,
        tags=["catalog"],
        summary="Change a policy (a new version); status live retires the previous live policy",
    )
    def patch(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        policy = policy_get(actor=request.user, workspace=workspace, key=key, for_change=True)
        data = PolicySerializer(policy, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k != "key"}
        try:
            policy = policy_save(
                workspace=workspace,
                actor=request.user,
                values=values,
                policy=policy,
                reason=str(request.data.get("reason", ""))[:500] if isinstance(request.data, dict) else "",
            )
        except CatalogError as exc:
            raise ValidationError(exc.errors) from None
        return Response(PolicySerializer(policy).data)


class PolicyEvaluationApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Only decisions made since then"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many recent decisions (20000)"),
        ],
        responses=PolicyEvaluationSerializer,
        tags=["catalog"],
        summary="Off-policy evaluation of a policy on the live policy's logged decisions",
        description="IPS, SNIPS and doubly robust estimates of the reward per decision the policy would have "
        "earned, with 95% intervals, against the live policy's observed reward, and a plain-language verdict.",
    )
    def get(self, request: Request, key: str) -> Response:
        workspace = request_workspace(request)
        policy = policy_get(actor=request.user, workspace=workspace, key=key)
        since_text = request.query_params.get("since", "")
        since = parse_datetime(since_text) if since_text else None
        if since_text and since is None:
            raise ValidationError({"since": ["Give an ISO 8601 date and time, e.g. 2025-01-31T00:00:00Z."]})
        if since is not None and is_naive(since):
            since = make_aware(since, UTC)
        try:
            limit = min(max(int(request.query_params.get("limit", 20000)), 1), 20000)
        except ValueError:
            raise ValidationError({"limit": ["Give a whole number from 1 to 20000."]}) from None
        evaluation = policy_evaluate(workspace=workspace, candidate=policy, since=since, limit=limit)
        return Response(evaluation.to_json())


class GuardrailsApi(APIView):
    @staticmethod
    def _data(config: GuardrailConfig) -> dict[str, Any]:
        return {
            "contact_policy": config.contact_policy,
            "brand_safety": config.brand_safety,
            "suppression_rules": config.suppression_rules,
            "version": config.version,
        }

    @extend_schema(responses=GuardrailsSerializer, tags=["catalog"], summary="The workspace's guardrails")
    def get(self, request: Request) -> Response:
        return Response(self._data(guardrails_get(actor=request.user, workspace=request_workspace(request))))

    @extend_schema(
        request=GuardrailsSerializer,
        responses=GuardrailsSerializer,
        tags=["catalog"],
        summary="Replace the guardrails (contact policy, brand safety, suppression rules)",
    )
    def put(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
        data = GuardrailsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            config = guardrails_save(
                workspace=workspace,
                actor=request.user,
                contact_policy=data.validated_data["contact_policy"],
                brand_safety=data.validated_data["brand_safety"],
                suppression_rules=data.validated_data["suppression_rules"],
            )
        except CatalogError as exc:
            raise ValidationError(exc.errors) from None
        return Response(self._data(config))
