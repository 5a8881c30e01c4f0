from __future__ import annotations

from typing import Any

from rest_framework import serializers

from decisions.serializers import PersonSerializer
from support.models import Lead, Ticket

MAX_CONTEXT_BYTES = 32 * 1024


class TicketSerializer(serializers.ModelSerializer[Ticket]):
    assignee = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    person = serializers.SerializerMethodField()
    sla_breached = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "subject",
            "body",
            "profile",
            "person",
            "channel",
            "status",
            "assignee",
            "team",
            "tags",
            "skills",
            "sla_due_at",
            "sla_breached",
            "priority",
            "priority_explanation",
            "priority_reasons",
            "sentiment",
            "context",
            "correlation_id",
            "created_at",
            "updated_at",
            "resolved_at",
        ]
        read_only_fields = fields

    def get_assignee(self, ticket: Ticket) -> str | None:
        return ticket.assignee.get_username() if ticket.assignee else None

    def get_team(self, ticket: Ticket) -> str | None:
        return ticket.team.key if ticket.team else None

    def get_person(self, ticket: Ticket) -> str:
        return ticket.profile.display_name

    def get_sla_breached(self, ticket: Ticket) -> bool:
        from support.selectors import sla_breached

        return sla_breached(ticket)


class TicketCreateSerializer(serializers.Serializer[dict[str, Any]]):
    person = PersonSerializer()
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=80), required=False, default=list, max_length=20
    )
    correlation_id = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200, help_text="Your id: the same id never opens two"
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "context" is taken by Serializer.context as an attribute, not as a field name.
        fields = super().get_fields()
        fields["context"] = serializers.DictField(
            required=False, default=dict, help_text="e.g. payment details, shown to the agent"
        )
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        import json

        encoded = json.dumps(attrs.get("context") or {})
        if len(encoded) > MAX_CONTEXT_BYTES:
            raise serializers.ValidationError({"context": [f"At most {MAX_CONTEXT_BYTES // 1024} KB of details."]})
        if "\\u0000" in encoded:  # PostgreSQL's jsonb cannot store NUL characters
            raise serializers.ValidationError({"context": ["Text may not contain NUL characters."]})
        return attrs


class TicketAssignSerializer(serializers.Serializer[dict[str, Any]]):
    assignee = serializers.CharField(
        allow_null=True, max_length=150, help_text="Username of a support agent, owner or admin; null to unassign"
    )


class TicketResolveSerializer(serializers.Serializer[dict[str, Any]]):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class LeadSerializer(serializers.ModelSerializer[Lead]):
    owner = serializers.SerializerMethodField()
    person = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "profile",
            "person",
            "account",
            "status",
            "score",
            "score_reasons",
            "owner",
            "task",
            "source",
            "correlation_id",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_owner(self, lead: Lead) -> str | None:
        return lead.owner.get_username() if lead.owner else None

    def get_person(self, lead: Lead) -> str:
        return lead.profile.display_name
