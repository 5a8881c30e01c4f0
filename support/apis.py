"""REST endpoints of the support desk (mounted under /api/v1/)."""

from __future__ import annotations

from django.contrib.auth.models import User
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.roles import WORK_TICKETS
from accounts.selectors import workspace_require
from core.pagination import paginate
from decisions.selectors import person_resolve
from support.selectors import STATUS_FILTERS, lead_list, ticket_get, ticket_list
from support.serializers import (
    LeadSerializer,
    TicketAssignSerializer,
    TicketCreateSerializer,
    TicketResolveSerializer,
    TicketSerializer,
)
from support.services import TicketError, ticket_assign, ticket_claim, ticket_create, ticket_resolve

LIST_PARAMETERS = [
    OpenApiParameter("status", OpenApiTypes.STR, enum=list(STATUS_FILTERS), description="open = new, open or pending"),
    OpenApiParameter("team", OpenApiTypes.STR, description="Team key"),
    OpenApiParameter("assignee", OpenApiTypes.STR, description='"me", "none" or a username'),
    OpenApiParameter("search", OpenApiTypes.STR, description="Words in the subject, body or tags"),
]


def _param(request: Request, name: str, limit: int, default: str = "") -> str:
    # Query strings may carry NUL characters, which PostgreSQL text cannot hold.
    return request.query_params.get(name, default)[:limit].replace("\x00", "").strip()


class TicketListCreateApi(APIView):
    @extend_schema(
        parameters=LIST_PARAMETERS,
        responses=TicketSerializer(many=True),
        tags=["support"],
        summary="The ticket queue, highest priority first",
    )
    def get(self, request: Request) -> Response:
        status_filter = _param(request, "status", 20, "open")
        if status_filter not in STATUS_FILTERS:
            raise ValidationError({"status": [f"Use one of {', '.join(STATUS_FILTERS)}."]})
        tickets = ticket_list(
            actor=request.user,
            workspace=request_workspace(request),
            status=status_filter,
            team=_param(request, "team", 60),
            assignee=_param(request, "assignee", 150),
            search=_param(request, "search", 100),
        )
        return paginate(request=request, queryset=tickets, serializer_class=TicketSerializer, view=self)

    @extend_schema(
        request=TicketCreateSerializer,
        responses={201: TicketSerializer, 200: TicketSerializer},
        tags=["support"],
        summary="Open a ticket",
        description="Prioritized, given an SLA and routed on creation. The same correlation_id returns the "
        "existing ticket with 200 instead of opening a second one.",
        examples=[
            OpenApiExample(
                "payment trouble",
                value={
                    "person": {"userId": "ana"},
                    "subject": "Card declined at checkout",
                    "body": "My card keeps failing, I am really annoyed.",
                    "tags": ["payment failure"],
                    "correlation_id": "crm-4711",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace, codename=WORK_TICKETS)
        data = TicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        profile = person_resolve(workspace=workspace, person=values["person"])
        if profile is None:
            raise ValidationError({"person": ["No such person in this workspace: identify or track them first."]})
        existing = (
            bool(values["correlation_id"])
            and ticket_list(actor=request.user, workspace=workspace, status="all")
            .filter(correlation_id=values["correlation_id"].strip())
            .exists()
        )
        try:
            ticket = ticket_create(
                workspace=workspace,
                profile=profile,
                subject=values["subject"],
                body=values["body"],
                channel="api",
                tags=values["tags"],
                correlation_id=values["correlation_id"],
                context=values["context"],
                actor=request.user,
            )
        except TicketError as exc:
            raise ValidationError(exc.errors) from None
        code = status.HTTP_200_OK if existing else status.HTTP_201_CREATED
        return Response(TicketSerializer(ticket).data, status=code)


class TicketDetailApi(APIView):
    @extend_schema(responses=TicketSerializer, tags=["support"], summary="One ticket")
    def get(self, request: Request, ticket_id: str) -> Response:
        ticket = ticket_get(actor=request.user, workspace=request_workspace(request), ticket_id=ticket_id)
        return Response(TicketSerializer(ticket).data)


class TicketClaimApi(APIView):
    @extend_schema(request=None, responses=TicketSerializer, tags=["support"], summary="Take a ticket yourself")
    def post(self, request: Request, ticket_id: str) -> Response:
        ticket = ticket_get(
            actor=request.user, workspace=request_workspace(request), ticket_id=ticket_id, for_change=True
        )
        try:
            ticket = ticket_claim(ticket=ticket, actor=request.user)
        except TicketError as exc:
            raise ValidationError(exc.errors) from None
        return Response(TicketSerializer(ticket).data)


class TicketAssignApi(APIView):
    @extend_schema(
        request=TicketAssignSerializer, responses=TicketSerializer, tags=["support"], summary="Assign a ticket"
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        workspace = request_workspace(request)
        ticket = ticket_get(actor=request.user, workspace=workspace, ticket_id=ticket_id, for_change=True)
        data = TicketAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["assignee"]
        assignee = None
        if username:
            assignee = User.objects.filter(username=username, memberships__workspace=workspace).first()
            if assignee is None:
                raise ValidationError({"assignee": ["No member of this workspace has that username."]})
        try:
            ticket = ticket_assign(ticket=ticket, actor=request.user, assignee=assignee)
        except TicketError as exc:
            raise ValidationError(exc.errors) from None
        return Response(TicketSerializer(ticket).data)


class TicketResolveApi(APIView):
    @extend_schema(
        request=TicketResolveSerializer, responses=TicketSerializer, tags=["support"], summary="Resolve a ticket"
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        ticket = ticket_get(
            actor=request.user, workspace=request_workspace(request), ticket_id=ticket_id, for_change=True
        )
        data = TicketResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            ticket = ticket_resolve(ticket=ticket, actor=request.user, note=data.validated_data["note"])
        except TicketError as exc:
            raise ValidationError(exc.errors) from None
        return Response(TicketSerializer(ticket).data)


class LeadListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=["open", "new", "contacted", "won", "lost", "all"]),
            OpenApiParameter("owner", OpenApiTypes.STR, description='"me" or a username'),
        ],
        responses=LeadSerializer(many=True),
        tags=["sales"],
        summary="Sales leads, highest conversion propensity first",
    )
    def get(self, request: Request) -> Response:
        status_filter = _param(request, "status", 20, "open")
        if status_filter not in ("open", "new", "contacted", "won", "lost", "all"):
            raise ValidationError({"status": ["Use one of open, new, contacted, won, lost, all."]})
        leads = lead_list(
            actor=request.user,
            workspace=request_workspace(request),
            status=status_filter,
            owner=_param(request, "owner", 150),
        )
        return paginate(request=request, queryset=leads, serializer_class=LeadSerializer, view=self)
