"""REST shapes of signals, playbooks and runs. The client never sets the workspace, the id or
the version: they are not fields here (or read-only), so sending them changes nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from journeys.models import Playbook, PlaybookRun, PlaybookStep, Signal


class SignalSerializer(serializers.ModelSerializer[Signal]):
    definition = serializers.JSONField(help_text='Depends on kind, e.g. {"event": "payment_failed", "count": 3, ...}')
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, help_text="Why (kept in the audit trail)"
    )

    class Meta:
        model = Signal
        fields = [
            "key",
            "name",
            "kind",
            "definition",
            "condition",
            "description",
            "enabled",
            "version",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]
        # Uniqueness per workspace is checked by the service (the client never sends the workspace).
        validators: list[Any] = []


class WorkspaceSignalField(serializers.SlugRelatedField[Signal]):
    """A signal key, looked up in the workspace passed in the serializer's context only: a signal
    of another workspace is "does not exist", like any unknown key."""

    def get_queryset(self) -> QuerySet[Signal]:
        workspace = self.context.get("workspace")
        return Signal.objects.filter(workspace=workspace) if workspace is not None else Signal.objects.none()


class PlaybookSerializer(serializers.ModelSerializer[Playbook]):
    signal = WorkspaceSignalField(slug_field="key", help_text="Key of the signal that starts it")
    steps = serializers.ListField(
        child=serializers.DictField(), max_length=50, help_text='In order, e.g. [{"type": "suppress", ...}]'
    )
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, help_text="Why (kept in the audit trail)"
    )

    class Meta:
        model = Playbook
        fields = [
            "key",
            "name",
            "goal",
            "signal",
            "steps",
            "reentry_hours",
            "enabled",
            "version",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]
        validators: list[Any] = []


class PlaybookStepSerializer(serializers.ModelSerializer[PlaybookStep]):
    decision = serializers.UUIDField(source="decision_id", read_only=True, allow_null=True)

    class Meta:
        model = PlaybookStep
        fields = ["index", "type", "params", "risk_tier", "status", "decision", "attempts", "result", "last_error"]
        read_only_fields = fields


class PlaybookRunSerializer(serializers.ModelSerializer[PlaybookRun]):
    playbook: serializers.SlugRelatedField[Playbook] = serializers.SlugRelatedField(slug_field="key", read_only=True)
    profile = serializers.UUIDField(source="profile_id", read_only=True)
    steps = PlaybookStepSerializer(many=True, read_only=True)

    class Meta:
        model = PlaybookRun
        fields = [
            "id",
            "playbook",
            "playbook_version",
            "profile",
            "signal_key",
            "trigger_ref",
            "status",
            "explanation",
            "context",
            "steps",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
