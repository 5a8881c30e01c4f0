from __future__ import annotations

from typing import Any

from rest_framework import serializers

from profiles.models import ConsentChannel, Identifier, IdentifierKind, Profile


class IdentifierOutputSerializer(serializers.ModelSerializer[Identifier]):
    class Meta:
        model = Identifier
        fields = ["kind", "value", "created_at"]
        read_only_fields = fields


class ProfileOutputSerializer(serializers.ModelSerializer[Profile]):
    identifiers = serializers.SerializerMethodField()
    features = serializers.SerializerMethodField()

    class Meta:
        model = Profile
        fields = [
            "id",
            "created_at",
            "updated_at",
            "traits",
            "trait_meta",
            "consent",
            "groups",
            "identifiers",
            "features",
        ]
        read_only_fields = fields

    def get_identifiers(self, profile: Profile) -> list[dict[str, Any]]:
        from profiles.selectors import profile_identifiers

        return IdentifierOutputSerializer(profile_identifiers(profile=profile), many=True).data  # type: ignore[return-value]

    def get_features(self, profile: Profile) -> dict[str, Any]:
        from profiles.selectors import profile_features

        return profile_features(profile=profile)


class ConsentInputSerializer(serializers.Serializer[dict[str, Any]]):
    email = serializers.BooleanField(required=False)
    sms = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)
    in_app = serializers.BooleanField(required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not any(channel in attrs for channel in ConsentChannel.values):
            raise serializers.ValidationError("Give at least one channel: email, sms, push or in_app.")
        return attrs


class ConsentOutputSerializer(serializers.ModelSerializer[Profile]):
    class Meta:
        model = Profile
        fields = ["id", "consent"]
        read_only_fields = fields


class LookupInputSerializer(serializers.Serializer[dict[str, str]]):
    kind = serializers.ChoiceField(choices=IdentifierKind.choices)
    value = serializers.CharField(max_length=255)
