from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.request_context import request_workspace
from accounts.selectors import member_list, secret_key_get, secret_key_list, workspace_require
from accounts.serializers import (
    MembershipOutputSerializer,
    SecretKeyCreatedSerializer,
    SecretKeyCreateInputSerializer,
    SecretKeyOutputSerializer,
    SecretKeyRevokeInputSerializer,
    WorkspaceOutputSerializer,
)
from accounts.services import secret_key_create, secret_key_revoke
from core.pagination import paginate


class WorkspaceApi(APIView):
    @extend_schema(responses=WorkspaceOutputSerializer, tags=["workspace"])
    def get(self, request: Request) -> Response:
        workspace = request_workspace(request)
        workspace_require(actor=request.user, workspace=workspace)
        return Response(WorkspaceOutputSerializer(workspace).data)


class SecretKeyListCreateApi(APIView):
    @extend_schema(responses=SecretKeyOutputSerializer(many=True), tags=["keys"])
    def get(self, request: Request) -> Response:
        keys = secret_key_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=keys, serializer_class=SecretKeyOutputSerializer, view=self)

    @extend_schema(request=SecretKeyCreateInputSerializer, responses={201: SecretKeyCreatedSerializer}, tags=["keys"])
    def post(self, request: Request) -> Response:
        workspace = request_workspace(request)
        secret_key_list(actor=request.user, workspace=workspace)  # permission check before validation
        data = SecretKeyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, plaintext = secret_key_create(workspace=workspace, name=data.validated_data["name"], actor=request.user)
        body = SecretKeyCreatedSerializer(key).data
        body["key"] = plaintext
        return Response(body, status=status.HTTP_201_CREATED)


class SecretKeyRevokeApi(APIView):
    @extend_schema(request=SecretKeyRevokeInputSerializer, responses=SecretKeyOutputSerializer, tags=["keys"])
    def post(self, request: Request, prefix: str) -> Response:
        key = secret_key_get(actor=request.user, workspace=request_workspace(request), prefix=prefix)
        data = SecretKeyRevokeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = secret_key_revoke(key=key, actor=request.user, reason=data.validated_data["reason"])
        return Response(SecretKeyOutputSerializer(key).data)


class MemberListApi(APIView):
    @extend_schema(responses=MembershipOutputSerializer(many=True), tags=["workspace"])
    def get(self, request: Request) -> Response:
        members = member_list(actor=request.user, workspace=request_workspace(request))
        return paginate(request=request, queryset=members, serializer_class=MembershipOutputSerializer, view=self)


class KeyCheckApi(APIView):
    """The cheapest authenticated call: lets an integrator check a key, and is the framework
    floor the decide benchmark compares itself with."""

    @extend_schema(responses={200: dict}, tags=["workspace"], summary="Check a key")
    def get(self, request: Request) -> Response:
        return Response({"ok": True, "workspace": str(request_workspace(request).id)})
