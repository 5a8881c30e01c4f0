from __future__ import annotations

from typing import Any

from rest_framework import serializers

from delivery.models import ContentBlock, Delivery, DeliveryAttempt, WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    event_types = serializers.ListField(child=serializers.CharField(max_length=80), required=False, max_length=100)

    class Meta:
        model = WebhookEndpoint
        fields = ["key", "url", "event_types", "enabled", "description", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        # Uniqueness per workspace is checked by the service (the client never sends the workspace).
        validators: list[Any] = []


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_...: shown only in this response")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class DeliveryAttemptSerializer(serializers.ModelSerializer[DeliveryAttempt]):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "ok", "status_code", "error"]


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    endpoint: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="key", read_only=True)
    profile = serializers.UUIDField(source="profile_id", read_only=True, allow_null=True)
    decision = serializers.UUIDField(source="decision_id", read_only=True, allow_null=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "key",
            "channel",
            "status",
            "profile",
            "decision",
            "endpoint",
            "event_type",
            "target",
            "subject",
            "body",
            "payload",
            "attempt_count",
            "max_attempts",
            "next_attempt_at",
            "delivered_at",
            "opened_at",
            "clicked_at",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryDetailSerializer(DeliverySerializer):
    attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "attempts"]
        read_only_fields = fields


class ContentBlockSerializer(serializers.ModelSerializer[ContentBlock]):
    class Meta:
        model = ContentBlock
        fields = ["key", "name", "channel", "subject", "body", "link_url", "link_label", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        validators: list[Any] = []
