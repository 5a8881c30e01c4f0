"""API authentication: secret keys as ``Authorization: Bearer <key>``; write keys for tracking
as HTTP Basic username (Segment style) or ``writeKey`` in the JSON body."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.models import SecretKey, Workspace
from accounts.principals import ApiKeyPrincipal
from accounts.selectors import workspace_from_write_key

LAST_USED_RESOLUTION_SECONDS = 60


class SecretKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, SecretKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        value = value.strip()
        if not value:
            raise exceptions.AuthenticationFailed("Authorization header has no key after 'Bearer'.")
        prefix, _, _ = value.partition(".")
        key = SecretKey.objects.select_related("workspace").filter(prefix=prefix).first()
        if key is None or not key.is_valid(value):
            raise exceptions.AuthenticationFailed("Unknown secret key.")
        if key.revoked:
            raise exceptions.AuthenticationFailed("This secret key was revoked.")
        if key.has_expired:
            raise exceptions.AuthenticationFailed("This secret key has expired.")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
            SecretKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def write_key_from_request(request: HttpRequest, body: Any) -> str | None:
    """The write key a tracking call carries, or None. Basic auth wins over the body."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, _password = decoded.partition(":")
        return username or None
    if isinstance(body, dict):
        key = body.get("writeKey")
        if isinstance(key, str) and key:
            return key
    return None


def write_key_authenticate(request: HttpRequest, body: Any) -> Workspace:
    key = write_key_from_request(request, body)
    if key is None:
        raise exceptions.NotAuthenticated("Send the write key as the HTTP Basic username or as 'writeKey' in the body.")
    workspace = workspace_from_write_key(key=key)
    if workspace is None:
        raise exceptions.AuthenticationFailed("Unknown or revoked write key.")
    return workspace
