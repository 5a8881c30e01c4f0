"""The workspace a request acts in: the secret key's workspace for API keys, else the session's."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import Workspace
from accounts.principals import ApiKeyPrincipal


def request_workspace(request: HttpRequest | Request) -> Workspace:
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return user.workspace
    workspace = getattr(request, "workspace", None)
    if not workspace:
        raise PermissionDenied("You are not a member of any workspace.")
    return workspace
