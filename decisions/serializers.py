from __future__ import annotations

from typing import Any

from rest_framework import serializers

from decisions.models import ACTION_EDITABLE_FIELDS, POLICY_EDITABLE_FIELDS, Action, Decision, OutcomeKind, Policy


class PersonSerializer(serializers.Serializer[dict[str, Any]]):
    userId = serializers.CharField(required=False, max_length=255)
    anonymousId = serializers.CharField(required=False, max_length=255)
    email = serializers.CharField(required=False, max_length=255)
    phone = serializers.CharField(required=False, max_length=255)
    profileId = serializers.UUIDField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give the person by userId, anonymousId, email, phone or profileId.")
        return attrs


class DecideInputSerializer(serializers.Serializer[dict[str, Any]]):
    person = PersonSerializer()
    # "context" (page, placement, channel, ...) is read by the view: the name is taken by DRF's Serializer.context.
    candidates = serializers.ListField(
        child=serializers.SlugField(),
        required=False,
        default=list,
        max_length=200,
        help_text="Only consider these action keys",
    )


class DecideOutputSerializer(serializers.Serializer[dict[str, Any]]):
    decision_id = serializers.UUIDField()
    status = serializers.CharField()
    action = serializers.DictField(allow_null=True)
    explanation = serializers.CharField()
    needs_approval = serializers.BooleanField()
    holdout = serializers.BooleanField()
    latency_ms = serializers.FloatField()


class OutcomeInputSerializer(serializers.Serializer[dict[str, Any]]):
    decisionId = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=OutcomeKind.choices)
    value = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True, default=None)
    id = serializers.CharField(required=False, max_length=100, default="", help_text="Your id, for idempotency")
    timestamp = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ActionSerializer(serializers.ModelSerializer[Action]):
    class Meta:
        model = Action
        fields = [*ACTION_EDITABLE_FIELDS, "version", "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]


class DecisionSerializer(serializers.ModelSerializer[Decision]):
    class Meta:
        model = Decision
        fields = [
            "id",
            "profile",
            "policy_key",
            "policy_version",
            "trigger",
            "status",
            "chosen_key",
            "channel",
            "explored",
            "propensity",
            "holdout",
            "shadow",
            "needs_approval",
            "context",
            "candidates",
            "guardrails",
            "model_versions",
            "rendered",
            "explanation",
            "latency_ms",
            "created_at",
        ]
        read_only_fields = fields


class PolicySerializer(serializers.ModelSerializer[Policy]):
    action_keys = serializers.ListField(child=serializers.SlugField(), required=False, max_length=500)
    weights = serializers.DictField(child=serializers.FloatField(min_value=0), required=False)
    subscribed_events = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=200
    )
    context_features = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=50)
    holdout_share = serializers.FloatField(min_value=0, max_value=0.99, required=False)

    class Meta:
        model = Policy
        fields = [*POLICY_EDITABLE_FIELDS, "version", "created_at", "updated_at"]
        read_only_fields = ["version", "created_at", "updated_at"]


class GuardrailsSerializer(serializers.Serializer[dict[str, Any]]):
    contact_policy = serializers.DictField(
        help_text="per_channel_day / per_channel_week ({channel: n}), overall_day, overall_week, "
        "quiet_start / quiet_end ('21:00' or null for none), quiet_channels"
    )
    brand_safety = serializers.DictField(
        help_text="banned_phrases (list), max_discount_percent (0-100 or null), required_text ({channel: text})"
    )
    suppression_rules = serializers.ListField(
        child=serializers.DictField(), max_length=50, help_text="[{event, hours, reason, kinds?, channels?}]"
    )
    version = serializers.IntegerField(read_only=True)


class EstimateSerializer(serializers.Serializer[dict[str, Any]]):
    method = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()
    effective_sample_size = serializers.FloatField()


class PolicyEvaluationSerializer(serializers.Serializer[dict[str, Any]]):
    candidate = serializers.DictField()
    live = serializers.DictField()
    n = serializers.IntegerField()
    effective_sample_size = serializers.FloatField()
    agreement = serializers.FloatField()
    estimates = EstimateSerializer(many=True)
    live_observed = EstimateSerializer(allow_null=True)
    headline = serializers.CharField()
    verdict = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    logged_actions = serializers.DictField(child=serializers.IntegerField())
