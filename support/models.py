"""Tickets, teams, SLA policies and agents of the support desk; leads of the sales desk."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import WorkspaceScopedModel


class TeamKind(models.TextChoices):
    SUPPORT = "support", "Support"
    SALES = "sales", "Sales"


class Team(WorkspaceScopedModel):
    """A queue of work. Support tickets go to the first support team whose keywords appear in the
    ticket's tags or subject, else to the default team (docs/support.md, "Routing")."""

    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=TeamKind.choices, default=TeamKind.SUPPORT)
    keywords = models.JSONField(default=list, blank=True, help_text="Lower-case words that route a ticket here.")
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="support_team_unique_key")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SlaPolicy(WorkspaceScopedModel):
    """Resolution target by priority: a ticket gets the policy with the highest ``min_priority``
    its base priority (value, churn and frustration, before waiting time) reaches."""

    name = models.CharField(max_length=120)
    min_priority = models.PositiveSmallIntegerField(default=0)
    resolve_minutes = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "min_priority"], name="support_sla_unique_floor"),
        ]
        ordering = ["-min_priority"]

    def __str__(self) -> str:
        return f"{self.name} ({self.resolve_minutes} min from priority {self.min_priority})"


class Agent(WorkspaceScopedModel):
    """A member who works tickets (support team) or leads (sales team)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="agents")
    skills = models.JSONField(default=list, blank=True, help_text='e.g. ["vip", "lang:de"]')
    capacity = models.PositiveSmallIntegerField(default=10, help_text="Open items at most.")
    available = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user", "team"], name="support_agent_unique")]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


class Ticket(WorkspaceScopedModel):
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=20, default="api", help_text="Where it came from: api, ui, playbook, ...")
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets")
    tags = models.JSONField(default=list, blank=True)
    skills = models.JSONField(default=list, blank=True, help_text="Skills the routing asked for.")
    sla_policy = models.ForeignKey(SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sla_due_at = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=0, help_text="0-100, higher first.")
    priority_reasons = models.JSONField(default=list, blank=True, help_text="[{signal, points, text}] strongest first")
    priority_explanation = models.TextField(blank=True, default="")
    prioritized_at = models.DateTimeField(null=True, blank=True)
    sentiment = models.CharField(max_length=10, blank=True, default="")
    context = models.JSONField(default=dict, blank=True, help_text="e.g. payment details, so nobody has to ask")
    correlation_id = models.CharField(max_length=200, blank=True, default="")
    created_by = models.CharField(max_length=200, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "correlation_id"],
                condition=~models.Q(correlation_id=""),
                name="support_ticket_unique_correlation",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "status", "-priority", "sla_due_at"], name="support_ticket_queue"),
            models.Index(fields=["workspace", "profile"], name="support_ticket_person"),
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    WON = "won", "Won"
    LOST = "lost", "Lost"


OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED)


class Lead(WorkspaceScopedModel):
    """A person at an account worth a salesperson's time, with the next task for the rep."""

    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    account = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=10, choices=LeadStatus.choices, default=LeadStatus.NEW)
    score = models.FloatField(default=0.0, help_text="Conversion propensity, 0-1.")
    score_reasons = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    task = models.CharField(max_length=300, blank=True, default="", help_text="The next step for the rep.")
    source = models.CharField(max_length=20, default="ui")
    correlation_id = models.CharField(max_length=200, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "correlation_id"],
                condition=~models.Q(correlation_id=""),
                name="support_lead_unique_correlation",
            )
        ]
        indexes = [models.Index(fields=["workspace", "status", "-score"], name="support_lead_queue")]

    def __str__(self) -> str:
        return f"lead {self.account or self.profile_id}"
