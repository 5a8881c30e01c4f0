from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from accounts.roles import WORKSPACE_PERMISSIONS, Role
from core.models import BaseModel


class Workspace(BaseModel):
    """A tenant: one storefront business with its own people, actions and keys."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")

    class Meta:
        permissions = WORKSPACE_PERMISSIONS
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(BaseModel):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} as {self.role}"


def _new_write_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


class WriteKey(BaseModel):
    """Identifies the workspace for the tracking API. Public by design (embedded in storefronts),
    so it is stored in clear and can be rotated; it grants nothing but sending events."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="write_keys")
    key = models.CharField(max_length=64, unique=True, default=_new_write_key)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SecretKey(AbstractAPIKey):
    """Management and decide API key. Stored as a SHA-512 hash; the full key is shown once."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="secret_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        ordering = ("-created",)
        verbose_name = "secret key"
