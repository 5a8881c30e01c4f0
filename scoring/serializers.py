from __future__ import annotations

from typing import Any

from rest_framework import serializers

from scoring.models import ModelKind, ModelVersion, TrainingRun


class ModelVersionOutputSerializer(serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "kind",
            "action",
            "version",
            "status",
            "algorithm",
            "features",
            "training_window",
            "training_set",
            "metrics",
            "artifact_sha256",
            "created_by",
            "created_at",
            "promoted_at",
            "retired_at",
        ]
        read_only_fields = fields


class ModelVersionDetailSerializer(ModelVersionOutputSerializer):
    class Meta(ModelVersionOutputSerializer.Meta):
        fields = [*ModelVersionOutputSerializer.Meta.fields, "artifact"]
        read_only_fields = fields


class TrainingRunOutputSerializer(serializers.ModelSerializer[TrainingRun]):
    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "kinds",
            "status",
            "trigger",
            "requested_by",
            "seed",
            "progress",
            "message",
            "error",
            "outcomes",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class TrainInputSerializer(serializers.Serializer[Any]):
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=ModelKind.choices),
        required=False,
        allow_empty=False,
        help_text="Model kinds to train; all when omitted.",
    )


class PromoteInputSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, help_text="Why this version should be active (audited).")


class ScoreOutputSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    action = serializers.CharField()
    value = serializers.FloatField()
    explanation = serializers.ListField(child=serializers.CharField())
    details = serializers.DictField()
    model_version_id = serializers.UUIDField()
    model_version = serializers.IntegerField()
    model_status = serializers.CharField()
    features_as_of = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
