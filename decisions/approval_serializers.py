from __future__ import annotations

from typing import Any

from rest_framework import serializers

from decisions.approval_selectors import alternatives, approval_expires_at
from decisions.models import ActionKind, Decision


class ApprovalSerializer(serializers.ModelSerializer[Decision]):
    person = serializers.SerializerMethodField()
    action = serializers.CharField(source="chosen_key", read_only=True)
    kind = serializers.SerializerMethodField()
    expires_at = serializers.SerializerMethodField()
    alternatives = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "id",
            "status",
            "person",
            "action",
            "kind",
            "channel",
            "rendered",
            "explanation",
            "alternatives",
            "created_at",
            "expires_at",
            "review",
        ]
        read_only_fields = fields

    def get_person(self, obj: Decision) -> dict[str, str]:
        return {"profile_id": str(obj.profile_id), "name": obj.profile.display_name}

    def get_kind(self, obj: Decision) -> str:
        return obj.chosen_action.kind if obj.chosen_action else ""

    def get_expires_at(self, obj: Decision) -> str:
        return approval_expires_at(obj).isoformat()

    def get_alternatives(self, obj: Decision) -> list[dict[str, Any]]:
        return alternatives(obj)

    def get_review(self, obj: Decision) -> dict[str, Any] | None:
        review = getattr(obj, "review", None)
        if review is None:
            return None
        return {
            "result": review.result,
            "decided_by": review.decided_by_label,
            "decided_at": review.decided_at.isoformat(),
            "reason": review.reason,
            "original": review.original,
            "edited": review.edited,
        }


class ApproveInputSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class RejectInputSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500, help_text="Why it is rejected (required)")


class EditInputSerializer(serializers.Serializer[dict[str, Any]]):
    subject = serializers.CharField(max_length=500, required=False, allow_blank=True)
    body = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False, allow_null=True
    )
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class BatchInputSerializer(serializers.Serializer[dict[str, Any]]):
    decision_ids = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=200)
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class BatchOutputSerializer(serializers.Serializer[dict[str, Any]]):
    batch = serializers.UUIDField()
    approved = serializers.ListField(child=serializers.UUIDField())
    skipped = serializers.DictField(child=serializers.CharField())


class TrustRecordSerializer(serializers.Serializer[dict[str, Any]]):
    action_key = serializers.CharField()
    action_name = serializers.CharField()
    risk_tier = serializers.CharField()
    level = serializers.CharField()
    recommended = serializers.CharField()
    change = serializers.CharField()
    why = serializers.CharField()
    reviews = serializers.IntegerField(source="record.reviews")
    approved = serializers.IntegerField(source="record.approved")
    rejected = serializers.IntegerField(source="record.rejected")
    expired = serializers.IntegerField(source="record.expired")
    acted = serializers.IntegerField(source="record.acted")
    complaints = serializers.IntegerField(source="record.complaints")


class ApproverCategoriesSerializer(serializers.Serializer[dict[str, Any]]):
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=ActionKind.choices),
        max_length=len(ActionKind.choices),
        help_text="Categories this member may decide; empty: every category",
    )
