from __future__ import annotations

from django.urls import path

from accounts import apis

urlpatterns = [
    path("ping/", apis.KeyCheckApi.as_view(), name="api-ping"),
    path("workspace/", apis.WorkspaceApi.as_view(), name="api-workspace"),
    path("workspace/members/", apis.MemberListApi.as_view(), name="api-members"),
    path("keys/", apis.SecretKeyListCreateApi.as_view(), name="api-keys"),
    path("keys/<str:prefix>/revoke/", apis.SecretKeyRevokeApi.as_view(), name="api-key-revoke"),
]
