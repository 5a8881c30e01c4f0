"""The registry's promotion rule: a version becomes active only if it beats the active one on the
same held-out rows (or the baseline when none is active), or by an audited manual promotion."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.models import AuditEntry
from scoring.classifier import LogisticArtifact
from scoring.config import promotion_config
from scoring.models import ModelKind, ModelStatus, ModelVersion
from scoring.realtime import ArtifactIntegrityError, active_models, active_models_forget
from scoring.services import (
    model_version_consider,
    model_version_create,
    model_version_promote,
    model_version_retire,
    promotion_decide,
)
from scoring.training import TrainedModel


def _variant(trained: TrainedModel, *, coef_factor: float) -> TrainedModel:
    """The same model with its weights scaled: 0 makes it constant (AUC 0.5), -1 inverts its ranking."""
    clone = copy.deepcopy(trained)
    clone.artifact["coef"] = [w * coef_factor for w in clone.artifact["coef"]]
    return clone


def test_the_rule_on_metrics() -> None:
    config = promotion_config()
    strong = {"auc": 0.80, "brier": 0.10}
    decide = lambda candidate, incumbent, baseline=None: promotion_decide(  # noqa: E731
        kind=ModelKind.CONVERSION, candidate=candidate, incumbent=incumbent, baseline=baseline, config=config
    )
    assert decide(strong, {"auc": 0.75, "brier": 0.11}).promote
    assert not decide(strong, {"auc": 0.80, "brier": 0.11}).promote  # a tie is not a win
    assert not decide(strong, {"auc": 0.7995, "brier": 0.10}).promote  # within the minimum gain
    assert not decide(strong, {"auc": 0.70, "brier": 0.09}).promote  # better ranking, worse calibration
    assert decide(strong, None, {"auc": 0.70, "brier": 0.12}).promote  # nothing active: against the baseline
    assert not decide(strong, None, {"auc": 0.85, "brier": 0.09}).promote
    assert not decide({"auc": None, "brier": 0.1}, {"auc": 0.6, "brier": 0.2}).promote
    clv = lambda candidate, incumbent: promotion_decide(  # noqa: E731
        kind=ModelKind.CLV, candidate=candidate, incumbent=incumbent, baseline=None, config=config
    )
    assert clv({"purchases_mae": 0.5}, {"purchases_mae": 0.6}).promote
    assert not clv({"purchases_mae": 0.598}, {"purchases_mae": 0.6}).promote  # less than 1 % better


@pytest.mark.django_db
def test_a_candidate_is_promoted_only_when_it_beats_the_active_model_on_held_out_data(stored_world, trained) -> None:
    workspace = stored_world.workspace
    good = trained[ModelKind.CONVERSION]

    inverted = model_version_create(workspace=workspace, trained=_variant(good, coef_factor=-1.0))
    model_version_promote(version=inverted, actor=None, reason="start from a deliberately bad model")
    inverted.refresh_from_db()
    assert inverted.status == ModelStatus.ACTIVE

    candidate = model_version_create(workspace=workspace, trained=good)
    decision = model_version_consider(candidate=candidate, holdout=good.holdout)
    candidate.refresh_from_db()
    inverted.refresh_from_db()
    assert decision.promote and decision.against == "active"
    assert candidate.status == ModelStatus.ACTIVE and candidate.version == inverted.version + 1
    assert inverted.status == ModelStatus.RETIRED and inverted.retired_at is not None
    comparison = candidate.metrics["comparison"]
    assert comparison["active_version"]["version"] == inverted.version
    # the old model was re-measured on the candidate's held-out rows: its inverted ranking shows
    assert comparison["active_on_this_heldout"]["auc"] < 0.5 < candidate.metrics["heldout"]["auc"]
    entry = AuditEntry.objects.filter(workspace=workspace, action="model.promoted").latest("seq")
    assert entry.target_id == str(candidate.pk) and entry.actor_label == "system"

    flat = model_version_create(workspace=workspace, trained=_variant(good, coef_factor=0.0))
    decision = model_version_consider(candidate=flat, holdout=good.holdout)
    flat.refresh_from_db()
    assert not decision.promote
    assert flat.status == ModelStatus.CANDIDATE
    assert "does not beat" in flat.metrics["comparison"]["reason"]
    assert ModelVersion.objects.get(workspace=workspace, kind=ModelKind.CONVERSION, status="active").pk == candidate.pk

    retrained = model_version_create(workspace=workspace, trained=good)  # identical model: a tie is not a win
    assert not model_version_consider(candidate=retrained, holdout=good.holdout).promote


@pytest.mark.django_db
def test_without_an_active_model_the_first_version_must_beat_the_baseline(stored_world, trained) -> None:
    churn = trained[ModelKind.CHURN]
    version = model_version_create(workspace=stored_world.workspace, trained=churn)
    decision = model_version_consider(candidate=version, holdout=churn.holdout)
    version.refresh_from_db()
    assert decision.against == "baseline"
    baseline, heldout = churn.metrics["baseline"], churn.metrics["heldout"]
    expected = heldout["auc"] > baseline["auc"] + 0.001 and heldout["brier"] <= baseline["brier"] + 0.002
    assert decision.promote == expected
    assert version.status == (ModelStatus.ACTIVE if expected else ModelStatus.CANDIDATE)


@pytest.mark.django_db
def test_manual_promotion_is_audited_and_needs_a_reason(stored_world, trained, personas) -> None:
    workspace = stored_world.workspace
    good = trained[ModelKind.CONVERSION]
    active = model_version_create(workspace=workspace, trained=good)
    model_version_promote(version=active, actor=None, reason="initial model")
    weak = model_version_create(workspace=workspace, trained=_variant(good, coef_factor=0.0))

    with pytest.raises(ValidationError):
        model_version_promote(version=weak, actor=personas.owner, reason="  ")
    weak.refresh_from_db()
    assert weak.status == ModelStatus.CANDIDATE

    model_version_promote(version=weak, actor=personas.owner, reason="the tracking of views broke; use the flat model")
    weak.refresh_from_db()
    active.refresh_from_db()
    assert weak.status == ModelStatus.ACTIVE and active.status == ModelStatus.RETIRED
    entry = AuditEntry.objects.filter(workspace=workspace, action="model.promoted_manually").latest("seq")
    assert entry.actor_user_id == personas.owner.pk
    assert entry.reason == "the tracking of views broke; use the flat model"
    assert entry.before is not None and entry.after is not None
    assert entry.before["active"]["id"] == str(active.pk) and entry.after["active"]["id"] == str(weak.pk)

    with pytest.raises(ValidationError):
        model_version_promote(version=weak, actor=personas.owner, reason="again")  # already active
    model_version_retire(version=weak, actor=personas.owner, reason="switching scoring off")
    assert not ModelVersion.objects.filter(workspace=workspace, kind=ModelKind.CONVERSION, status="active").exists()
    assert AuditEntry.objects.filter(workspace=workspace, action="model.retired").exists()


@pytest.mark.django_db
def test_the_database_allows_one_active_version_per_kind(stored_world, trained) -> None:
    workspace = stored_world.workspace
    first = model_version_create(workspace=workspace, trained=trained[ModelKind.CONVERSION])
    second = model_version_create(workspace=workspace, trained=trained[ModelKind.CONVERSION])
    ModelVersion.objects.filter(pk=first.pk).update(status=ModelStatus.ACTIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(status=ModelStatus.ACTIVE)


@pytest.mark.django_db
def test_a_changed_artifact_is_refused(stored_world, trained) -> None:
    workspace = stored_world.workspace
    version = model_version_create(workspace=workspace, trained=trained[ModelKind.CONVERSION])
    model_version_promote(version=version, actor=None, reason="test")
    assert active_models(workspace.id).get(ModelKind.CONVERSION) is not None

    tampered = dict(version.artifact)
    tampered["intercept"] = tampered["intercept"] + 5.0
    ModelVersion.objects.filter(pk=version.pk).update(artifact=tampered)
    cached = active_models(workspace.id).get(ModelKind.CONVERSION)
    assert cached is not None and isinstance(cached.model, LogisticArtifact)
    assert cached.model.intercept != tampered["intercept"]  # the process keeps what it verified
    active_models_forget()  # a new process loads from the database
    with pytest.raises(ArtifactIntegrityError, match="digest"):
        active_models(workspace.id)
