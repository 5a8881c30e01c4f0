"""Writes of the scoring app: the model registry (versions, promotion), training runs, the scores on
the golden record, and drift reports.

Promotion rule (``promotion_decide``): a candidate becomes active only if it beats the active
version on the candidate's own held-out rows (the active model is re-measured on exactly those
rows), or, when nothing is active yet, the naive baseline measured on the same rows.
Classifiers: AUC higher by more than ``SCORING_PROMOTION_MIN_AUC_GAIN`` and a Brier score no worse
than ``SCORING_PROMOTION_MAX_BRIER_INCREASE`` above. CLV: held-out purchase-count error lower by at
least ``SCORING_PROMOTION_CLV_MIN_MAE_GAIN`` (relative). Every promotion, automatic or manual, is
written to the audit trail; a manual one needs a reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor, actor_label
from audit.services import audit_record
from core import domain_events
from profiles.features import feature_config
from profiles.models import ProfileFeatures
from scoring.config import (
    PromotionConfig,
    cancel_events,
    drift_sample_size,
    label_window,
    order_events,
    promotion_config,
    response_min_rows,
    score_triggers,
    training_config,
)
from scoring.datasets import LabelRule
from scoring.drift import drift_rows, drift_summary
from scoring.labels import response_outcomes
from scoring.models import (
    DriftReport,
    ModelKind,
    ModelStatus,
    ModelVersion,
    ProfileScore,
    RunStatus,
    RunTrigger,
    TrainingRun,
)
from scoring.realtime import ActiveModels, ScoreResult, active_models, artifact_digest, artifact_load, score_person
from scoring.replay import EventReplaySource, FeatureSource, person_features_now
from scoring.training import Holdout, NotEnoughData, TrainedModel, evaluate, train_classifier, train_clv, train_response
from scoring.triggers import SCORE_CHANGED, triggers_fired, triggers_parse

logger = logging.getLogger(__name__)

ALL_KINDS: tuple[str, ...] = (ModelKind.CONVERSION, ModelKind.CHURN, ModelKind.CLV, ModelKind.RESPONSE)
RESCORE_CHUNK = 500


def _advisory_lock(*parts: object) -> None:
    key = int.from_bytes(
        hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big", signed=True
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


# --- registry ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def model_version_create(
    *, workspace: Workspace, trained: TrainedModel, run: TrainingRun | None = None, created_by: str = "system"
) -> ModelVersion:
    """Record a trained model as the next candidate version of its kind (and action)."""
    _advisory_lock("model-version", workspace.id, trained.kind, trained.action)
    latest = ModelVersion.objects.filter(workspace=workspace, kind=trained.kind, action=trained.action).aggregate(
        n=Max("version")
    )["n"]
    artifact = json.loads(json.dumps(trained.artifact, allow_nan=False))  # plain JSON numbers only
    return ModelVersion.objects.create(
        workspace=workspace,
        kind=trained.kind,
        action=trained.action,
        version=(latest or 0) + 1,
        status=ModelStatus.CANDIDATE,
        algorithm=trained.algorithm,
        features=trained.features,
        training_window=trained.training_window,
        training_set=trained.training_set,
        metrics=trained.metrics,
        artifact=artifact,
        artifact_sha256=artifact_digest(artifact),
        reference=trained.reference,
        run=run,
        created_by=created_by,
    )


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    against: str  # "active" | "baseline"
    candidate: Mapping[str, Any]
    incumbent: Mapping[str, Any] | None


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def promotion_decide(
    *,
    kind: str,
    candidate: Mapping[str, Any],
    incumbent: Mapping[str, Any] | None,
    baseline: Mapping[str, Any] | None,
    config: PromotionConfig,
) -> PromotionDecision:
    """The promotion rule on held-out metrics (see the module docstring)."""
    against = "active" if incumbent is not None else "baseline"
    other = incumbent if incumbent is not None else baseline
    if kind == ModelKind.CLV:
        mae = candidate.get("purchases_mae")
        other_mae = None if other is None else other.get("purchases_mae")
        if mae is None or other_mae is None:
            return PromotionDecision(False, "no held-out error to compare", against, candidate, incumbent)
        promote = mae < other_mae * (1.0 - config.clv_min_mae_gain)
        verdict = "beats" if promote else "does not beat"
        reason = (
            f"held-out purchase error {_fmt(mae)} {verdict} the {against}'s {_fmt(other_mae)} "
            f"(needs {config.clv_min_mae_gain:.0%} lower)"
        )
        return PromotionDecision(promote, reason, against, candidate, incumbent)
    auc, brier = candidate.get("auc"), candidate.get("brier")
    other_auc = None if other is None else other.get("auc")
    other_brier = None if other is None else other.get("brier")
    if auc is None or brier is None or other_auc is None or other_brier is None:
        return PromotionDecision(False, "held-out AUC or Brier score missing", against, candidate, incumbent)
    better_auc = auc > other_auc + config.min_auc_gain
    brier_ok = brier <= other_brier + config.max_brier_increase
    promote = better_auc and brier_ok
    if promote:
        reason = (
            f"held-out AUC {_fmt(auc)} beats the {against}'s {_fmt(other_auc)}; "
            f"Brier {_fmt(brier)} vs {_fmt(other_brier)}"
        )
    elif not better_auc:
        reason = (
            f"held-out AUC {_fmt(auc)} does not beat the {against}'s {_fmt(other_auc)} "
            f"by more than {config.min_auc_gain}"
        )
    else:
        reason = f"Brier score {_fmt(brier)} is worse than the {against}'s {_fmt(other_brier)}"
    return PromotionDecision(promote, reason, against, candidate, incumbent)


def _heldout(kind: str, metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    return metrics if kind == ModelKind.CLV else metrics.get("heldout", {})


def _baseline(kind: str, metrics: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return metrics.get("baseline")


def _activate(*, candidate: ModelVersion, previous: ModelVersion | None, now: datetime) -> None:
    if previous is not None:
        previous.status = ModelStatus.RETIRED
        previous.retired_at = now
        previous.save(update_fields=["status", "retired_at", "updated_at"])
    candidate.status = ModelStatus.ACTIVE
    candidate.promoted_at = now
    candidate.retired_at = None
    candidate.save(update_fields=["status", "promoted_at", "retired_at", "metrics", "updated_at"])
    workspace_id = str(candidate.workspace_id)
    transaction.on_commit(lambda: _rescore_later(workspace_id))


def _rescore_later(workspace_id: str) -> None:
    from scoring.tasks import scores_rescore_task

    scores_rescore_task.delay(workspace_id)


def _locked_active(workspace: Workspace, kind: str, action: str) -> ModelVersion | None:
    _advisory_lock("model-active", workspace.id, kind, action)
    return (
        ModelVersion.objects.select_for_update()
        .filter(workspace=workspace, kind=kind, action=action, status=ModelStatus.ACTIVE)
        .first()
    )


def _version_ref(version: ModelVersion | None) -> dict[str, Any] | None:
    return None if version is None else {"id": str(version.pk), "version": version.version}


@transaction.atomic
def model_version_consider(
    *, candidate: ModelVersion, holdout: Holdout, config: PromotionConfig | None = None
) -> PromotionDecision:
    """Apply the promotion rule to a fresh candidate, re-measuring the active model on the
    candidate's held-out rows; promote it (retiring the active one) if it wins."""
    config = config or promotion_config()
    workspace = candidate.workspace
    active = _locked_active(workspace, candidate.kind, candidate.action)
    incumbent = None
    if active is not None and active.pk != candidate.pk:
        artifact_load(kind=active.kind, artifact=active.artifact, digest=active.artifact_sha256)  # digest check
        incumbent = evaluate(active.kind, active.artifact, holdout)  # held-out metrics of the same shape
    decision = promotion_decide(
        kind=candidate.kind,
        candidate=_heldout(candidate.kind, candidate.metrics),
        incumbent=incumbent,
        baseline=_baseline(candidate.kind, candidate.metrics),
        config=config,
    )
    candidate.metrics = {
        **candidate.metrics,
        "comparison": {
            "against": decision.against,
            "active_version": _version_ref(active),
            "active_on_this_heldout": incumbent,
            "promoted": decision.promote,
            "reason": decision.reason,
        },
    }
    now = timezone.now()
    if decision.promote:
        _activate(candidate=candidate, previous=active, now=now)
        audit_record(
            workspace=workspace,
            actor=None,
            action="model.promoted",
            target_type="ModelVersion",
            target_id=str(candidate.pk),
            before={"active": _version_ref(active)},
            after={"active": _version_ref(candidate), "kind": candidate.kind, "action": candidate.action},
            reason=decision.reason,
        )
    else:
        candidate.save(update_fields=["metrics", "updated_at"])
    return decision


@transaction.atomic
def model_version_promote(*, version: ModelVersion, actor: Actor, reason: str) -> ModelVersion:
    """Manual promotion, whatever the metrics say: audited, with the person's reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this version should be active despite the promotion rule."})
    active = _locked_active(version.workspace, version.kind, version.action)
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status == ModelStatus.ACTIVE:
        raise ValidationError({"status": "This version is already active."})
    artifact_load(kind=locked.kind, artifact=locked.artifact, digest=locked.artifact_sha256)  # refuse a bad artifact
    _activate(candidate=locked, previous=active, now=timezone.now())
    audit_record(
        workspace=locked.workspace,
        actor=actor,
        action="model.promoted_manually",
        target_type="ModelVersion",
        target_id=str(locked.pk),
        before={"active": _version_ref(active), "status": version.status},
        after={"active": _version_ref(locked), "kind": locked.kind, "action": locked.action},
        reason=reason,
    )
    return locked


@transaction.atomic
def model_version_retire(*, version: ModelVersion, actor: Actor, reason: str) -> ModelVersion:
    """Take a version out of service (no model of its kind is then active); audited."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this version is retired."})
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status == ModelStatus.RETIRED:
        raise ValidationError({"status": "This version is already retired."})
    before = locked.status
    locked.status = ModelStatus.RETIRED
    locked.retired_at = timezone.now()
    locked.save(update_fields=["status", "retired_at", "updated_at"])
    audit_record(
        workspace=locked.workspace,
        actor=actor,
        action="model.retired",
        target_type="ModelVersion",
        target_id=str(locked.pk),
        before={"status": before},
        after={"status": locked.status},
        reason=reason,
    )
    return locked


# --- training runs ----------------------------------------------------------------------------------------------------


def _kinds(kinds: Iterable[str] | None) -> list[str]:
    wanted = list(kinds or ALL_KINDS)
    unknown = [k for k in wanted if k not in ModelKind.values]
    if unknown or not wanted:
        raise ValidationError({"kinds": f"Unknown model kinds: {', '.join(unknown) or 'none given'}."})
    return [k for k in ALL_KINDS if k in wanted]


@transaction.atomic
def training_run_create(
    *,
    workspace: Workspace,
    actor: Actor,
    kinds: Iterable[str] | None = None,
    trigger: str = RunTrigger.MANUAL,
    seed: int | None = None,
) -> TrainingRun:
    """Queue a training run. While one is queued or running for the workspace, that one is
    returned instead (a double click or an overlapping schedule trains once)."""
    chosen = _kinds(kinds)
    _advisory_lock("training-run", workspace.id)
    pending = (
        TrainingRun.objects.filter(workspace=workspace, status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .order_by("-created_at")
        .first()
    )
    if pending is not None:
        return pending
    run = TrainingRun.objects.create(
        workspace=workspace,
        kinds=chosen,
        trigger=trigger,
        requested_by=actor_label(actor),
        seed=training_config().seed if seed is None else seed,
        message="queued",
    )
    workspace_id, run_id = str(workspace.id), str(run.pk)
    transaction.on_commit(lambda: _train_later(workspace_id, run_id))
    return run


def _train_later(workspace_id: str, run_id: str) -> None:
    from scoring.tasks import model_training_run_task

    model_training_run_task.delay(workspace_id, run_id)


def _run_update(run_id: UUID, **fields: Any) -> None:
    TrainingRun.objects.filter(pk=run_id).update(updated_at=timezone.now(), **fields)


def _claim(run_id: UUID | str) -> bool:
    """Queued -> running, once; a run left 'running' by a lost worker may be claimed again after
    the task time limit."""
    stale = timezone.now() - timedelta(seconds=float(getattr(settings, "SCORING_TRAINING_TIME_LIMIT", 3600)))
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, progress=1, message="starting", updated_at=now
    )
    if not claimed:
        claimed = TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING, started_at__lt=stale).update(
            started_at=now, progress=1, message="restarted after a lost worker", updated_at=now
        )
    return bool(claimed)


def _train_kind(
    *, workspace: Workspace, kind: str, source: FeatureSource, end: float, seed: int, progress: Any
) -> list[TrainedModel]:
    config = training_config()
    if kind == ModelKind.CLV:
        return [train_clv(source=source, end=end, config=config, seed=seed, progress=progress)]
    if kind == ModelKind.RESPONSE:
        by_action = response_outcomes(workspace)
        minimum = response_min_rows()
        ready = {action: rows for action, rows in by_action.items() if len(rows) >= minimum}
        if not ready:
            counts = ", ".join(f"{a}: {len(r)}" for a, r in sorted(by_action.items())) or "none logged"
            raise NotEnoughData(f"response models need {minimum} logged decisions per action ({counts})")
        return [
            train_response(action=action, outcomes=rows, source=source, config=config, seed=seed, progress=progress)
            for action, rows in sorted(ready.items())
        ]
    return [train_classifier(kind=kind, source=source, end=end, config=config, seed=seed, progress=progress)]


def training_run_execute(*, run_id: UUID | str, now: datetime | None = None) -> TrainingRun | None:
    """Train every kind of the run, record each model as a candidate, apply the promotion rule,
    and report progress on the run row as it goes. Returns None when the run was already taken."""
    if not _claim(run_id):
        return None
    run = TrainingRun.objects.select_related("workspace").get(pk=run_id)
    workspace = run.workspace
    end = (now or timezone.now()).timestamp()
    outcomes: list[dict[str, Any]] = []
    failures: list[str] = []
    total = len(run.kinds)
    source = EventReplaySource(workspace)
    for index, kind in enumerate(run.kinds):

        def progress(fraction: float, message: str, index: int = index, kind: str = kind) -> None:
            _run_update(
                run.pk,
                progress=max(1, min(99, int(100 * (index + fraction) / total))),
                message=f"{kind}: {message}"[:300],
            )

        progress(0.0, "starting")
        source.on_progress = lambda share, progress=progress: progress(
            0.1 + 0.4 * share, f"replaying events ({share:.0%})"
        )
        try:
            for trained in _train_kind(
                workspace=workspace, kind=kind, source=source, end=end, seed=run.seed, progress=progress
            ):
                version = model_version_create(
                    workspace=workspace, trained=trained, run=run, created_by=run.requested_by
                )
                decision = model_version_consider(candidate=version, holdout=trained.holdout)
                progress(0.9, "measuring drift")
                drift_report_compute(version=version)
                outcomes.append(
                    {
                        "kind": kind,
                        "action": trained.action,
                        "status": "promoted" if decision.promote else "candidate",
                        "version_id": str(version.pk),
                        "version": version.version,
                        "reason": decision.reason,
                    }
                )
        except NotEnoughData as exc:
            outcomes.append({"kind": kind, "action": "", "status": "skipped", "reason": str(exc)})
        except Exception as exc:  # one kind's failure is reported and must not stop the others
            logger.exception("training %s for run %s failed", kind, run.pk)
            failures.append(f"{kind}: {''.join(traceback.format_exception_only(exc)).strip()}")
            outcomes.append({"kind": kind, "action": "", "status": "failed", "reason": str(exc)[:300]})
    trained_any = any(o["status"] in ("promoted", "candidate") for o in outcomes)
    status = RunStatus.FAILED if failures and not trained_any else RunStatus.SUCCEEDED
    summary = "; ".join(f"{o['kind']}{' ' + o['action'] if o['action'] else ''}: {o['status']}" for o in outcomes)
    _run_update(
        run.pk,
        status=status,
        progress=100,
        message=summary[:300],
        error="\n".join(failures),
        outcomes=outcomes,
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def training_schedule(*, now: datetime | None = None) -> list[TrainingRun]:
    """Beat: a run for every workspace whose people have features."""
    workspace_ids = set(ProfileFeatures.objects.values_list("workspace_id", flat=True).distinct())
    return [
        training_run_create(workspace=workspace, actor=None, trigger=RunTrigger.SCHEDULE)
        for workspace in Workspace.objects.filter(pk__in=workspace_ids).order_by("created_at")
    ]


# --- scores on the golden record --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreChange:
    profile_id: str
    result: ScoreResult
    old: float | None
    reasons: list[dict[str, Any]]


def _features_rows(workspace: Workspace, profile_ids: Sequence[UUID]) -> list[tuple[UUID, dict[str, Any]]]:
    return list(
        ProfileFeatures.objects.filter(
            workspace=workspace, profile_id__in=profile_ids, profile__merged_into__isnull=True
        ).values_list("profile_id", "state")
    )


def scores_compute(
    *, models: ActiveModels, rows: Iterable[tuple[UUID, Mapping[str, Any]]], now: datetime
) -> dict[str, list[ScoreResult]]:
    """Score each (profile id, feature state) as of ``now``: pure computation, no writes."""
    config = feature_config()
    orders = order_events()
    moment = now.timestamp()
    return {
        str(pid): score_person(
            models,
            person_features_now(profile_id=str(pid), state=state, now=moment, config=config, order_events=orders),
        )
        for pid, state in rows
    }


def scores_refresh(
    *,
    workspace: Workspace,
    profile_ids: Iterable[UUID | str],
    now: datetime | None = None,
    notify: bool = True,
) -> list[ScoreChange]:
    """Re-score people from their current real-time features with the active models (no
    retraining), store the scores on the golden record, and publish "score changed" for every
    configured threshold crossing or relative drop. Idempotent: the same features give the same
    scores and no new notifications."""
    models = active_models(workspace.id)
    if not models:
        return []
    ids = sorted({UUID(str(pid)) for pid in profile_ids})
    if not ids:
        return []
    now = now or timezone.now()
    results = scores_compute(models=models, rows=_features_rows(workspace, ids), now=now)
    if not results:
        return []
    triggers = triggers_parse(score_triggers())
    changes: list[ScoreChange] = []
    with transaction.atomic():
        for pid in sorted(results):
            _advisory_lock("scores", pid)
        previous: dict[tuple[str, str, str], float] = {}
        for score_profile, kind, action, value in (
            ProfileScore.objects.filter(workspace=workspace, profile_id__in=list(results))
            .order_by("updated_at")
            .values_list("profile_id", "kind", "action", "value")
        ):
            previous[(str(score_profile), kind, action)] = value  # newest wins (ordered oldest first)
        written = Q()
        for model in models.models:
            written |= Q(kind=model.kind, action=model.action)
        ProfileScore.objects.filter(written, workspace=workspace, profile_id__in=list(results)).delete()
        new_rows = []
        for pid, scores in results.items():
            for result in scores:
                old = previous.get((pid, result.kind, result.action))
                new_rows.append(
                    ProfileScore(
                        workspace=workspace,
                        profile_id=pid,
                        kind=result.kind,
                        action=result.action,
                        value=result.value,
                        model_version_id=result.version_id,
                        explanation=result.explanation,
                        details=result.details,
                        features_as_of=now,
                    )
                )
                reasons = triggers_fired(triggers, kind=result.kind, action=result.action, old=old, new=result.value)
                if reasons:
                    changes.append(ScoreChange(profile_id=pid, result=result, old=old, reasons=reasons))
        ProfileScore.objects.bulk_create(new_rows)
        if notify:
            for change in changes:
                domain_events.publish(
                    SCORE_CHANGED,
                    workspace_id=workspace.id,
                    payload={
                        "profile_id": change.profile_id,
                        "kind": change.result.kind,
                        "action": change.result.action,
                        "old": change.old,
                        "new": change.result.value,
                        "model_version_id": str(change.result.version_id),
                        "model_version": change.result.version,
                        "reasons": change.reasons,
                    },
                )
    return changes if notify else []


def scores_rescore_all(*, workspace: Workspace, now: datetime | None = None, chunk_size: int = RESCORE_CHUNK) -> int:
    """Re-score everyone with features (after a promotion). Does not publish "score changed": a
    new model re-bases the scores; the next events compare against the new baseline."""
    now = now or timezone.now()
    ids = list(
        ProfileFeatures.objects.filter(workspace=workspace, profile__merged_into__isnull=True)
        .order_by("profile_id")
        .values_list("profile_id", flat=True)
    )
    for start in range(0, len(ids), chunk_size):
        scores_refresh(workspace=workspace, profile_ids=ids[start : start + chunk_size], now=now, notify=False)
    return len(ids)


# --- drift ------------------------------------------------------------------------------------------------------------


def _recent_people(workspace: Workspace, kind: str, now: datetime, limit: int) -> list[Any]:
    """Up to ``limit`` people in the kind's population now (most recently updated first)."""
    config = feature_config()
    orders = order_events()
    rule = LabelRule(
        kind=kind,
        window=label_window(kind),
        order_events=frozenset(orders),
        cancel_events=frozenset(cancel_events()),
    )
    moment = now.timestamp()
    rows = (
        ProfileFeatures.objects.filter(workspace=workspace, profile__merged_into__isnull=True)
        .order_by("-updated_at")
        .values_list("profile_id", "state")[: limit * 3]
    )
    people = []
    for pid, state in rows.iterator(chunk_size=500):
        person = person_features_now(profile_id=str(pid), state=state, now=moment, config=config, order_events=orders)
        if kind != ModelKind.CLV and not rule.eligible(person):  # CLV: every customer (drift_rows filters)
            continue
        people.append(person)
        if len(people) >= limit:
            break
    return people


def drift_report_compute(*, version: ModelVersion, now: datetime | None = None) -> DriftReport:
    now = now or timezone.now()
    model = artifact_load(kind=version.kind, artifact=version.artifact, digest=version.artifact_sha256)
    recent = _recent_people(version.workspace, version.kind, now, drift_sample_size())
    rows = drift_rows(model=model, reference=version.reference, recent=recent)
    summary = drift_summary(rows)
    return DriftReport.objects.create(
        workspace=version.workspace,
        model_version=version,
        computed_at=now,
        sample_size=len(recent),
        rows=rows,
        max_psi=summary["max_psi"],
    )


def drift_schedule(*, now: datetime | None = None) -> list[DriftReport]:
    """Beat: a drift report for every active model."""
    return [
        drift_report_compute(version=version, now=now)
        for version in ModelVersion.objects.filter(status=ModelStatus.ACTIVE).select_related("workspace")
    ]
