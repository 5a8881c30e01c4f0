from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from audit.selectors import audit_entry_list
from audit.serializers import AuditEntrySerializer
from audit.views import audit_filters
from core.pagination import paginate


class AuditEntryListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Search actor, action, target, reason and diffs"),
            OpenApiParameter("action", OpenApiTypes.STR, description="Exact action, or a prefix ending in * or ."),
            OpenApiParameter("who", OpenApiTypes.STR, description="Actor label contains (user:ana, key:abc)"),
            OpenApiParameter("target_type", OpenApiTypes.STR, description="Action, Policy, Decision, Profile, ..."),
            OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (inclusive)"),
            OpenApiParameter("until", OpenApiTypes.DATE, description="Up to this day (inclusive)"),
        ],
        responses=AuditEntrySerializer(many=True),
        tags=["audit"],
        summary="The workspace's audit trail, newest first (needs view_audit)",
    )
    def get(self, request: Request) -> Response:
        _, arguments, errors = audit_filters(request.query_params)
        if errors:
            raise ValidationError({name: [message] for name, message in errors.items()})
        entries = audit_entry_list(actor=request.user, workspace=request_workspace(request), **arguments)
        return paginate(request=request, queryset=entries, serializer_class=AuditEntrySerializer, view=self)
