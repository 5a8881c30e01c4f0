"""The model registry, training runs, stored scores and drift reports (docs/models.md).

A ``ModelVersion`` is immutable once created except for its status: its artifact is JSON (model
parameters, no pickle) with a SHA-256 of its canonical form, checked whenever it is loaded.
At most one version per (workspace, kind, action) is active, enforced by a partial unique index.

``ProfileScore`` holds a person's current score of each kind on the golden record. It is
registered with ``profiles.references`` so a merge re-points it to the survivor; the survivor may
then briefly hold two rows of a kind (no unique constraint, on purpose: a unique index would make
the merge's re-pointing fail) until its next re-score, which replaces both. Readers take the
newest row of each kind.
"""

from __future__ import annotations

from django.db import models

from core.models import WorkspaceScopedModel


class ModelKind(models.TextChoices):
    CONVERSION = "conversion", "Conversion propensity"
    CHURN = "churn", "Churn risk"
    CLV = "clv", "Customer lifetime value"
    RESPONSE = "response", "Response propensity"


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Manual (console)"
    API = "api", "API"


class TrainingRun(WorkspaceScopedModel):
    kinds = models.JSONField(default=list, help_text="Model kinds this run trains, in order.")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    requested_by = models.CharField(max_length=200, blank=True, default="")
    seed = models.IntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100")
    message = models.CharField(max_length=300, blank=True, default="")
    error = models.TextField(blank=True, default="")
    outcomes = models.JSONField(default=list, blank=True, help_text="Per kind: version created, promoted or why not.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="training_run_recent")]

    def __str__(self) -> str:
        return f"training run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)


class ModelVersion(WorkspaceScopedModel):
    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    action = models.CharField(max_length=100, blank=True, default="", help_text="Response models: the action key.")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE)
    algorithm = models.CharField(max_length=100)
    features = models.JSONField(default=list, help_text="[{key, label}] in artifact order.")
    training_window = models.JSONField(default=dict, help_text="Cut-offs, label horizon, data range.")
    training_set = models.JSONField(default=dict, help_text="Rows, positives, seed and fingerprint.")
    metrics = models.JSONField(default=dict, help_text="Held-out metrics, calibration table, baseline, comparison.")
    artifact = models.JSONField(default=dict, help_text="Model parameters as JSON; never pickle.")
    artifact_sha256 = models.CharField(max_length=64)
    reference = models.JSONField(default=dict, help_text="Drift reference: percentiles of each feature and the score.")
    run = models.ForeignKey(TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="versions")
    created_by = models.CharField(max_length=200, blank=True, default="")
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "action", "version"], name="model_version_number"),
            models.UniqueConstraint(
                fields=["workspace", "kind", "action"],
                condition=models.Q(status="active"),
                name="model_version_one_active",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "kind", "-version"], name="model_version_by_kind")]

    def __str__(self) -> str:
        suffix = f" [{self.action}]" if self.action else ""
        return f"{self.kind}{suffix} v{self.version} ({self.status})"

    @property
    def label(self) -> str:
        suffix = f" · {self.action}" if self.action else ""
        return f"{ModelKind(self.kind).label}{suffix} v{self.version}"


class ProfileScore(WorkspaceScopedModel):
    profile = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    action = models.CharField(max_length=100, blank=True, default="")
    value = models.FloatField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scores")
    explanation = models.JSONField(default=list, blank=True, help_text="[{feature, text, delta}] strongest first.")
    details = models.JSONField(default=dict, blank=True)
    features_as_of = models.DateTimeField(help_text="The moment the features were computed for.")

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "profile", "kind"], name="profile_score_lookup"),
            models.Index(fields=["model_version", "-value"], name="profile_score_by_version"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value:.4f} for {self.profile_id}"


class DriftReport(WorkspaceScopedModel):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="drift_reports")
    computed_at = models.DateTimeField()
    sample_size = models.PositiveIntegerField()
    rows = models.JSONField(default=list, help_text="[{name, label, type: feature|score, psi, level}]")
    max_psi = models.FloatField(default=0.0)

    class Meta:
        indexes = [models.Index(fields=["model_version", "-computed_at"], name="drift_report_recent")]

    def __str__(self) -> str:
        return f"drift of {self.model_version_id} at {self.computed_at:%Y-%m-%d %H:%M}"
