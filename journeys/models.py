"""Proactive signals, the playbooks they start, and each run of a playbook with its steps."""

from __future__ import annotations

from django.db import models

from core.models import WorkspaceScopedModel
from decisions.models import CatalogVersion


class SignalKind(models.TextChoices):
    EVENT_COUNT = "event_count", "Event count in a window"
    TRAIT_CHANGE = "trait_change", "Trait change"
    SCORE_CHANGE = "score_change", "Score change"
    ABSENCE = "absence", "Absence of an event"


class Signal(WorkspaceScopedModel):
    """A declarative trigger. ``definition`` depends on ``kind`` (see journeys.signals);
    ``condition`` is an optional extra test in the decision engine's condition language over
    the person (traits, scores with ``<kind>_percentile``, profile)."""

    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=SignalKind.choices)
    definition = models.JSONField(default=dict)
    condition = models.TextField(blank=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="signal_key_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


SIGNAL_EDITABLE_FIELDS = ["key", "name", "kind", "definition", "condition", "description", "enabled"]


class SignalVersion(CatalogVersion):
    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="versions")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["signal", "version"], name="signal_version_unique")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.signal_id} v{self.version}"


class StepType(models.TextChoices):
    SUPPRESS = "suppress", "Open a suppression window"
    IN_APP = "in_app", "In-app message"
    TICKET = "ticket", "Open a ticket"
    WEBHOOK = "webhook", "Call a webhook"


class Playbook(WorkspaceScopedModel):
    """Ordered steps a signal starts for one person. ``steps`` is a list of
    ``{"type", "risk_tier"?, ...parameters}`` (see journeys.playbooks)."""

    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    goal = models.TextField(blank=True)
    signal = models.ForeignKey(Signal, on_delete=models.PROTECT, related_name="playbooks")
    steps = models.JSONField(default=list)
    reentry_hours = models.FloatField(default=24, help_text="No second run for one person within this episode")
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="playbook_key_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


PLAYBOOK_EDITABLE_FIELDS = ["key", "name", "goal", "signal", "steps", "reentry_hours", "enabled"]


class PlaybookVersion(CatalogVersion):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="versions")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["playbook", "version"], name="playbook_version_unique")]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.playbook_id} v{self.version}"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    WAITING = "waiting_approval", "Waiting for approval"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class PlaybookRun(WorkspaceScopedModel):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="runs")
    playbook_version = models.PositiveIntegerField()
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    signal_key = models.SlugField(max_length=60)
    trigger_ref = models.CharField(max_length=200, help_text="What fired the signal (event ids, score change)")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING)
    context = models.JSONField(default=dict, blank=True, help_text="Facts the signal saw, e.g. payment details")
    explanation = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["playbook", "profile", "trigger_ref"], name="playbook_run_once_per_trigger")
        ]
        indexes = [
            models.Index(fields=["workspace", "playbook", "profile", "-created_at"], name="playbook_run_episode"),
            models.Index(fields=["workspace", "-created_at"], name="playbook_run_recent"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.playbook_id} for {self.profile_id} ({self.status})"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    WAITING = "pending_approval", "Waiting for approval"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class PlaybookStep(models.Model):
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    type = models.CharField(max_length=20, choices=StepType.choices)
    params = models.JSONField(default=dict)
    risk_tier = models.CharField(max_length=10, default="low")
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING)
    decision = models.ForeignKey(
        "decisions.Decision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="playbook_step_index")]
        ordering = ["index"]

    def __str__(self) -> str:
        return f"step {self.index} ({self.type}) of {self.run_id}"

    @property
    def correlation_id(self) -> str:
        return f"playbook:{self.run_id}:{self.index}"
