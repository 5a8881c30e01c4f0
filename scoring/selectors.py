"""Reads of the scoring app, each checking the workspace and the actor's permission. Objects of
another workspace answer 404."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.roles import MANAGE_CATALOG, VIEW
from accounts.selectors import workspace_can, workspace_require
from profiles.selectors import profile_get
from scoring.metrics import PSI_MODERATE, PSI_SIGNIFICANT
from scoring.models import DriftReport, ModelKind, ModelStatus, ModelVersion, ProfileScore, TrainingRun

HEAVY_FIELDS = ("artifact", "reference")


def _valid_uuid(value: UUID | str) -> UUID | None:
    try:
        return UUID(str(value))
    except (ValueError, ValidationError):
        return None


def model_version_list(*, actor: Actor, workspace: Workspace, kind: str | None = None) -> QuerySet[ModelVersion]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    versions = ModelVersion.objects.filter(workspace=workspace).defer(*HEAVY_FIELDS)
    if kind:
        versions = versions.filter(kind=kind)
    return versions.order_by("kind", "action", "-version")


def model_version_get(*, actor: Actor, workspace: Workspace, version_id: UUID | str) -> ModelVersion:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    pk = _valid_uuid(version_id)
    found = ModelVersion.objects.filter(workspace=workspace, pk=pk).first() if pk else None
    if found is None:
        raise Http404("No such model version in this workspace.")
    return found


def model_version_get_for_change(*, actor: Actor, workspace: Workspace, version_id: UUID | str) -> ModelVersion:
    """For promotion and retirement: 404 for foreign ids first, then the permission."""
    version = model_version_get(actor=actor, workspace=workspace, version_id=version_id)
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_CATALOG)
    return version


def models_active(*, actor: Actor, workspace: Workspace) -> dict[str, ModelVersion]:
    """The active version of each kind (response models keyed ``response:<action>``)."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    found = ModelVersion.objects.filter(workspace=workspace, status=ModelStatus.ACTIVE).defer(*HEAVY_FIELDS)
    return {(f"{v.kind}:{v.action}" if v.action else v.kind): v for v in found}


def training_run_list(*, actor: Actor, workspace: Workspace, limit: int = 10) -> list[TrainingRun]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return list(TrainingRun.objects.filter(workspace=workspace).order_by("-created_at")[:limit])


def training_run_get(*, actor: Actor, workspace: Workspace, run_id: UUID | str) -> TrainingRun:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    pk = _valid_uuid(run_id)
    found = TrainingRun.objects.filter(workspace=workspace, pk=pk).first() if pk else None
    if found is None:
        raise Http404("No such training run in this workspace.")
    return found


def can_manage_models(*, actor: Actor, workspace: Workspace) -> bool:
    return workspace_can(actor=actor, workspace=workspace, codename=MANAGE_CATALOG)


# --- drift ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftView:
    report: DriftReport
    rows: list[dict[str, Any]]
    warnings: int  # rows at or above the significant threshold
    watch: int  # moderate rows
    moderate: float = PSI_MODERATE
    significant: float = PSI_SIGNIFICANT


def drift_latest(*, version: ModelVersion) -> DriftView | None:
    """The newest drift report of a version the caller has already fetched through a selector."""
    report = DriftReport.objects.filter(model_version=version).order_by("-computed_at").first()
    if report is None:
        return None
    rows = [dict(row) for row in report.rows]
    return DriftView(
        report=report,
        rows=rows,
        warnings=sum(1 for r in rows if r["psi"] >= PSI_SIGNIFICANT),
        watch=sum(1 for r in rows if PSI_MODERATE <= r["psi"] < PSI_SIGNIFICANT),
    )


# --- scores -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreView:
    kind: str
    kind_label: str
    action: str
    value: float
    display: str
    explanation: list[str]
    model_version_id: UUID
    model_version: int
    model_status: str
    features_as_of: datetime
    updated_at: datetime
    profile_id: UUID
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def percent(self) -> int | None:
        return None if self.kind == ModelKind.CLV else round(self.value * 100)


def _display(kind: str, value: float) -> str:
    return f"{value:,.2f}" if kind == ModelKind.CLV else f"{value:.2f}"


def _views(rows: QuerySet[ProfileScore]) -> list[ScoreView]:
    newest: dict[tuple[UUID, str, str], ScoreView] = {}
    for row in rows.select_related("model_version").order_by("updated_at"):
        newest[(row.profile_id, row.kind, row.action)] = ScoreView(
            kind=row.kind,
            kind_label=ModelKind(row.kind).label,
            action=row.action,
            value=row.value,
            display=_display(row.kind, row.value),
            explanation=[item.get("text", "") for item in row.explanation if isinstance(item, dict)],
            model_version_id=row.model_version_id,
            model_version=row.model_version.version,
            model_status=row.model_version.status,
            features_as_of=row.features_as_of,
            updated_at=row.updated_at,
            profile_id=row.profile_id,
            details=dict(row.details),
        )
    order = {kind: i for i, kind in enumerate(ModelKind.values)}
    return sorted(newest.values(), key=lambda v: (str(v.profile_id), order.get(v.kind, 99), v.action))


def scores_for_profile(*, actor: Actor, workspace: Workspace, profile_id: UUID | str) -> list[ScoreView]:
    """A person's current scores with explanations (for the customer page's ``scoring/_scores.html``).
    A merged-away id shows the survivor's scores; a foreign id is a 404."""
    profile = profile_get(actor=actor, workspace=workspace, profile_id=profile_id)
    return _views(ProfileScore.objects.filter(workspace=workspace, profile=profile))


def scores_sample(*, version: ModelVersion, limit: int = 6) -> list[ScoreView]:
    """A few people scored by this version: the highest and the lowest scores."""
    rows = ProfileScore.objects.filter(workspace_id=version.workspace_id, model_version=version)
    top = list(rows.order_by("-value").values_list("pk", flat=True)[: (limit + 1) // 2])
    bottom = list(rows.order_by("value").values_list("pk", flat=True)[: limit // 2])
    views = _views(ProfileScore.objects.filter(pk__in={*top, *bottom}))
    return sorted(views, key=lambda v: -v.value)


def scores_count(*, version: ModelVersion) -> int:
    return ProfileScore.objects.filter(workspace_id=version.workspace_id, model_version=version).count()
