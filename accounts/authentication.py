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

from accounts.models import SecretKey
from accounts.principals import ApiKeyPrincipal

LAST_USED_RESOLUTION_SECONDS = 60
WRITE_KEY_MISSING = "Send the write key as the HTTP Basic username or as 'writeKey' in the body."
WRITE_KEY_UNKNOWN = "Unknown or revoked write key."


def secret_key_problem(key: SecretKey | None, value: str) -> str | None:
    """Why ``value`` (the full key a caller sent) does not authenticate as ``key`` (the row its
    prefix names, or None), or None when it does."""
    if key is None or not key.is_valid(value):
        return "Unknown secret key."
    if key.revoked:
        return "This secret key was revoked."
    if key.has_expired:
        return "This secret key has expired."
    return None


def secret_key_touch(key: SecretKey) -> None:
    """Record when the key was last used, at most once a minute (a write per request would cost
    more than the request)."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        SecretKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


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
        problem = secret_key_problem(key, value)
        if problem is not None or key is None:
            raise exceptions.AuthenticationFailed(problem)
        secret_key_touch(key)
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
