from __future__ import annotations

from rest_framework import serializers

from accounts.models import Membership, SecretKey, Workspace


class WorkspaceOutputSerializer(serializers.ModelSerializer[Workspace]):
    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "timezone", "created_at"]
        read_only_fields = fields


class SecretKeyOutputSerializer(serializers.ModelSerializer[SecretKey]):
    class Meta:
        model = SecretKey
        fields = ["prefix", "name", "created", "revoked", "revoked_at", "last_used_at"]
        read_only_fields = fields


class SecretKeyCreateInputSerializer(serializers.Serializer[dict[str, str]]):
    name = serializers.CharField(max_length=50)


class SecretKeyCreatedSerializer(SecretKeyOutputSerializer):
    key = serializers.CharField(read_only=True, help_text="The full key. Shown once; store it now.")

    class Meta(SecretKeyOutputSerializer.Meta):
        fields = [*SecretKeyOutputSerializer.Meta.fields, "key"]
        read_only_fields = fields


class SecretKeyRevokeInputSerializer(serializers.Serializer[dict[str, str]]):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class MembershipOutputSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = fields
