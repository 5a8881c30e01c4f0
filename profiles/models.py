"""The identity graph and the golden record.

A ``Profile`` is one person in a workspace. ``Identifier`` rows (anonymous id, user id,
email, phone, device id, custom) point at the profile they belong to; an identifier belongs to
exactly one profile (unique per workspace, kind and value). When an event shows that two
profiles share an identifier they are merged: the survivor keeps every identifier and the
loser stays behind as a tombstone (``merged_into``) so old ids still resolve.

``ProfileFeatures`` is a 1:1 row with the real-time features (docs/features.md): ``state`` is
the incrementally maintained counters, ``computed`` the feature values as of ``updated_at``.
It lives in its own row so that track events, which rarely touch traits, rewrite only it.
"""

from __future__ import annotations

from django.db import models

from core.models import WorkspaceScopedModel


class IdentifierKind(models.TextChoices):
    ANONYMOUS_ID = "anonymous_id", "Anonymous id"
    USER_ID = "user_id", "User id"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    DEVICE_ID = "device_id", "Device id"
    CUSTOM = "custom", "Custom"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"
    IN_APP = "in_app", "In-app"


class Profile(WorkspaceScopedModel):
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    merged_at = models.DateTimeField(null=True, blank=True)
    # traits: {name: value}; trait_meta: {name: {"source": str, "at": iso8601}} (the golden
    # record's provenance: which source set each trait, and the event time it was true at).
    traits = models.JSONField(default=dict, blank=True)
    trait_meta = models.JSONField(default=dict, blank=True)
    # consent: {channel: {"granted": bool, "source": str, "at": iso8601}}
    consent = models.JSONField(default=dict, blank=True)
    # groups (accounts) from group calls: {group_id: {"traits": {...}, "at": iso8601}}
    groups = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "-created_at"],
                name="profile_live_by_ws",
                condition=models.Q(merged_into__isnull=True),
            ),
            models.Index(
                fields=["merged_into"], name="profile_merged_into", condition=models.Q(merged_into__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"profile {self.pk}"

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None


class Identifier(WorkspaceScopedModel):
    kind = models.CharField(max_length=20, choices=IdentifierKind.choices)
    value = models.CharField(max_length=255)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identifiers")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "value"], name="identifier_unique_per_workspace")
        ]
        indexes = [models.Index(fields=["profile"], name="identifier_profile")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class ProfileFeatures(models.Model):
    profile = models.OneToOneField(Profile, on_delete=models.CASCADE, primary_key=True, related_name="features")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    state = models.JSONField(default=dict, blank=True)
    computed = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "profile features"

    def __str__(self) -> str:
        return f"features of {self.profile_id}"
