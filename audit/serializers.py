from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    class Meta:
        model = AuditEntry
        fields = [
            "seq",
            "created_at",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "before",
            "after",
            "reason",
            "prev_hash",
            "hash",
            "redacted_at",
        ]
        read_only_fields = fields
