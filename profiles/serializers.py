from __future__ import annotations

from typing import Any

from rest_framework import serializers

from profiles.models import ConsentChannel, Identifier, IdentifierKind, Item, Profile


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


class ItemInputSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.CharField(max_length=255, help_text="Your product id or SKU (the same as product_id in events).")
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    brand = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True, default=None)


class ItemImportInputSerializer(serializers.Serializer[dict[str, Any]]):
    items = serializers.ListField(child=ItemInputSerializer(), allow_empty=False, max_length=5000)


class ItemImportOutputSerializer(serializers.Serializer[dict[str, Any]]):
    received = serializers.IntegerField()
    created = serializers.IntegerField()


class ItemOutputSerializer(serializers.ModelSerializer[Item]):
    id = serializers.CharField(source="external_id", read_only=True)
    has_embedding = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = ["id", "name", "category", "brand", "description", "price", "has_embedding", "created_at"]
        read_only_fields = fields

    def get_has_embedding(self, item: Item) -> bool:
        return item.embedding is not None


class SimilarItemSerializer(serializers.Serializer[dict[str, Any]]):
    item = ItemOutputSerializer()
    similarity = serializers.FloatField(help_text="Cosine similarity, -1 to 1.")


class SimilarProfileSerializer(serializers.Serializer[dict[str, Any]]):
    profile_id = serializers.UUIDField()
    similarity = serializers.FloatField()
