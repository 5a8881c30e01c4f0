"""Action catalog, policies, guardrail configuration, bandit state, the decision log and outcomes."""

from __future__ import annotations

import uuid

from django.db import models

from core.models import WorkspaceScopedModel


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"
    IN_APP = "in_app", "In-app"
    WEBHOOK = "webhook", "Webhook"
    TICKET = "ticket", "Ticket"
    SALES_TASK = "sales_task", "Sales task"
    NONE = "none", "None"


class ActionKind(models.TextChoices):
    OFFER = "offer", "Offer"
    MESSAGE = "message", "Message"
    SERVICE = "service", "Service"
    RETENTION = "retention", "Retention"
    SALES = "sales", "Sales"


class ValueModel(models.TextChoices):
    FIXED = "fixed", "Fixed amount"
    CLV_SHARE = "clv_share", "Share of predicted CLV"
    EXPRESSION = "expression", "Expression"


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Autonomy(models.TextChoices):
    ALWAYS_ASK = "always_ask", "Always ask"
    ACT_AND_NOTIFY = "act_and_notify", "Act and notify"
    ACT_ALONE = "act_alone", "Act alone"


class Action(WorkspaceScopedModel):
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    kind = models.CharField(max_length=20, choices=ActionKind.choices)
    content_ref = models.CharField(max_length=120, blank=True, help_text="Template or content block id")
    subject = models.CharField(max_length=200, blank=True)
    content = models.TextField(blank=True, help_text="Body; {traits.first_name|there} placeholders are filled in")
    value_model = models.CharField(max_length=20, choices=ValueModel.choices, default=ValueModel.FIXED)
    value_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    value_share = models.DecimalField(max_digits=6, decimal_places=4, default=0)
    value_expression = models.TextField(blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    eligibility = models.TextField(blank=True, help_text="Condition over traits, features, scores, context")
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, default=RiskTier.LOW)
    autonomy = models.CharField(max_length=20, choices=Autonomy.choices, default=Autonomy.ACT_ALONE)
    active_from = models.DateTimeField(null=True, blank=True)
    active_until = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="action_key_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CatalogVersion(models.Model):
    """One saved state of a catalog object (action or policy), for its history and diffs."""

    id = models.BigAutoField(primary_key=True)
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_by = models.CharField(max_length=160)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


# The fields people edit (forms, API, versions, audit diffs).
ACTION_EDITABLE_FIELDS = [
    "key",
    "name",
    "channel",
    "kind",
    "content_ref",
    "subject",
    "content",
    "value_model",
    "value_amount",
    "value_share",
    "value_expression",
    "cost",
    "currency",
    "discount_percent",
    "eligibility",
    "risk_tier",
    "autonomy",
    "active_from",
    "active_until",
    "enabled",
]


class ActionVersion(CatalogVersion):
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="versions")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["action", "version"], name="action_version_unique")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.action_id} v{self.version}"


class PolicyStatus(models.TextChoices):
    LIVE = "live", "Live"
    SHADOW = "shadow", "Shadow"
    DRAFT = "draft", "Draft"
    RETIRED = "retired", "Retired"


class Policy(WorkspaceScopedModel):
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT)
    version = models.PositiveIntegerField(default=1)
    action_keys = models.JSONField(default=list, blank=True, help_text="Actions it may choose; empty: all enabled")
    weights = models.JSONField(default=dict, blank=True, help_text="Per-action multipliers on expected value")
    explore = models.BooleanField(default=True)
    holdout_share = models.FloatField(default=0.1)
    subscribed_events = models.JSONField(default=list, blank=True, help_text="Event names that trigger a decision")
    context_features = models.JSONField(default=list, blank=True, help_text="Dotted fields for the bandit context")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="policy_key_unique")]
        ordering = ["name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


POLICY_EDITABLE_FIELDS = [
    "key",
    "name",
    "status",
    "action_keys",
    "weights",
    "explore",
    "holdout_share",
    "subscribed_events",
    "context_features",
]


class PolicyVersion(CatalogVersion):
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.policy_id} v{self.version}"


class GuardrailConfig(models.Model):
    """One per workspace: contact policy, brand safety and the signals that open suppression windows."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="+")
    contact_policy = models.JSONField(default=dict, blank=True)
    brand_safety = models.JSONField(default=dict, blank=True)
    suppression_rules = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"guardrails v{self.version}"


class BanditArm(models.Model):
    """Posterior of one action's response model under one policy's context features."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    policy_key = models.SlugField(max_length=60)
    action_key = models.SlugField(max_length=60)
    state = models.JSONField(help_text="{mean: [...], precision: [...]}")
    updates = models.PositiveIntegerField(default=0)
    rewards = models.FloatField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "policy_key", "action_key"], name="bandit_arm_unique")
        ]

    def __str__(self) -> str:
        return f"{self.policy_key}/{self.action_key}"


class Trigger(models.TextChoices):
    API = "api", "Decide API"
    EVENT = "event", "Ingested event"
    DRY_RUN = "dry_run", "Dry run"
    PLAYBOOK = "playbook", "Playbook"


class DecisionStatus(models.TextChoices):
    NOTHING = "nothing", "Did nothing"
    ACTED = "acted", "Acted"
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    HELD_OUT = "held_out", "Held out (control)"
    SHADOW = "shadow", "Shadow (not acted)"
    DRY_RUN = "dry_run", "Dry run"


ACTED_STATUSES = (DecisionStatus.ACTED, DecisionStatus.APPROVED)


class Decision(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Every index costs each decision's insert: the workspace is the first column of decision_recent,
    # and no query looks decisions up by policy key alone.
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+", db_index=False)
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="decisions")
    policy_key = models.SlugField(max_length=60, db_index=False)
    policy_version = models.PositiveIntegerField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    trigger_ref = models.CharField(max_length=100, blank=True, help_text="The event id for event-triggered decisions")
    status = models.CharField(max_length=20, choices=DecisionStatus.choices)
    chosen_action = models.ForeignKey(Action, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    chosen_key = models.CharField(max_length=60, blank=True, help_text="Empty: do nothing")
    channel = models.CharField(max_length=20, blank=True)
    explored = models.BooleanField(default=False)
    propensity = models.FloatField()
    holdout = models.BooleanField(default=False)
    shadow = models.BooleanField(default=False)
    needs_approval = models.BooleanField(default=False)
    seed = models.BigIntegerField()
    context = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(help_text="Everything the choice read: snapshot, arms, person state")
    candidates = models.JSONField(default=list, help_text="Scored candidates")
    guardrails = models.JSONField(default=list, help_text="Removals with their reasons")
    model_versions = models.JSONField(default=dict, blank=True)
    rendered = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=dict, blank=True)
    explanation = models.TextField()
    latency_ms = models.FloatField()
    attribution_closed = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "policy_key", "policy_version", "trigger_ref"],
                condition=~models.Q(trigger_ref=""),
                name="decision_once_per_event_and_policy_version",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="decision_recent"),
            models.Index(fields=["workspace", "profile", "-created_at"], name="decision_person"),
            models.Index(fields=["workspace", "chosen_key", "created_at"], name="decision_action_window"),
            models.Index(
                fields=["attribution_closed", "created_at"],
                name="decision_open_attribution",
                condition=models.Q(attribution_closed=False),
            ),
            # The approvals beat expires pending proposals every minute, across workspaces.
            models.Index(
                fields=["created_at"],
                name="decision_pending_approval",
                condition=models.Q(status="pending_approval"),
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.chosen_key or 'nothing'} for {self.profile_id}"


class CatalogStamp(models.Model):
    """A counter per workspace that database triggers bump on every insert, update or delete of
    its actions, policies and guardrail config (migration 0005), whoever makes the change: a
    service, a bulk update, another process. Decisions compare it with their process's cached
    catalog (decisions/snapshots.py). No row yet: version 0."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"catalog stamp {self.version}"


class CatalogSnapshot(models.Model):
    """The action specs a decision chose from, stored once and shared by every decision that saw
    the same ones (``Decision.inputs["snapshot"]["actions_ref"]``). Fifty specs are about 20 KB
    of JSON: writing them with every decision made the insert the costliest part of deciding.
    Content-addressed (``ref`` is a digest of the workspace and the specs), so rows never change."""

    ref = models.CharField(max_length=64, primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    actions = models.JSONField(help_text="ActionSpec fields per action, in the order the engine saw them")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"catalog snapshot {self.ref[:12]}"


class OutcomeKind(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    OPENED = "opened", "Opened"
    CLICKED = "clicked", "Clicked"
    CONVERTED = "converted", "Converted"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    COMPLAINED = "complained", "Complained"


class Outcome(models.Model):
    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="outcomes")
    kind = models.CharField(max_length=20, choices=OutcomeKind.choices)
    value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    reward = models.FloatField()
    source = models.CharField(max_length=20, help_text="api, event or attribution")
    ref = models.CharField(max_length=100, blank=True, help_text="Event id or the client's id, for idempotency")
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["decision", "kind", "ref"], name="outcome_once")]
        indexes = [models.Index(fields=["workspace", "kind", "occurred_at"], name="outcome_kind_window")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.decision_id}"


class SuppressionWindow(models.Model):
    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    kinds = models.JSONField(default=list)
    channels = models.JSONField(default=list, blank=True)
    until = models.DateTimeField()
    source_ref = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "profile", "until"], name="suppression_active")]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "source_ref"], condition=~models.Q(source_ref=""), name="suppression_once_per_signal"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reason} until {self.until:%Y-%m-%d %H:%M}"


# --- approvals and trust ------------------------------------------------------------------------------------------


class ApprovalResult(models.TextChoices):
    APPROVED = "approved", "Approved"
    EDITED = "edited", "Edited and approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


class ApprovalReview(models.Model):
    """What happened to a decision that waited for approval: who decided, when, why, and what
    they changed. One per decision; the trust model counts these as the action's track record."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="review")
    action_key = models.CharField(max_length=60)
    kind = models.CharField(max_length=20, choices=ActionKind.choices, blank=True)
    result = models.CharField(max_length=10, choices=ApprovalResult.choices)
    decided_by = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_by_label = models.CharField(max_length=160)
    reason = models.TextField(blank=True)
    # Edit-and-approve: the rendered content (and discount) before and after the approver's edit.
    original = models.JSONField(null=True, blank=True)
    edited = models.JSONField(null=True, blank=True)
    batch = models.UUIDField(null=True, blank=True, help_text="Set when approved together with similar items")
    decided_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "action_key", "decided_at"], name="review_action_window")]
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.result} {self.decision_id}"


class ApprovalCategory(models.Model):
    """An action category (kind) in one workspace: the object django-guardian's per-category
    approver permission ("decisions.approve_category") is granted on."""

    id = models.BigAutoField(primary_key=True)
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=ActionKind.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "kind"], name="approval_category_unique")]
        permissions = [("approve_category", "Approve or reject decisions of this action category")]
        verbose_name_plural = "approval categories"

    def __str__(self) -> str:
        return self.kind
