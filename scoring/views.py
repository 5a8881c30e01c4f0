"""The model registry pages: versions with their metrics, training runs with live progress (htmx
polling while a run is unfinished), a version's calibration, drift and sample scores."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_require
from scoring.models import ModelKind, ModelStatus, RunTrigger
from scoring.selectors import (
    can_manage_models,
    drift_latest,
    model_version_get,
    model_version_get_for_change,
    model_version_list,
    models_active,
    scores_count,
    scores_for_profile,
    scores_sample,
    training_run_list,
)
from scoring.services import drift_report_compute, model_version_promote, training_run_create


def _runs_context(request: HttpRequest) -> dict[str, Any]:
    runs = training_run_list(actor=request.user, workspace=request_workspace(request))
    return {"runs": runs, "polling": any(not run.is_finished for run in runs)}


@login_required
def models_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    versions = list(model_version_list(actor=request.user, workspace=workspace))
    active = models_active(actor=request.user, workspace=workspace)
    groups = [
        {"kind": kind, "label": label, "versions": [v for v in versions if v.kind == kind]}
        for kind, label in ModelKind.choices
    ]
    context = {
        "groups": groups,
        "active": [active[key] for key in sorted(active)],
        "kinds": ModelKind.choices,
        "can_manage": can_manage_models(actor=request.user, workspace=workspace),
        **_runs_context(request),
    }
    return render(request, "scoring/models.html", context)


@login_required
def model_runs(request: HttpRequest) -> HttpResponse:
    return render(request, "scoring/models.html#runs", _runs_context(request))


@login_required
@require_POST
def model_train(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
    kinds = [k for k in request.POST.getlist("kinds") if k] or None
    try:
        training_run_create(workspace=workspace, actor=request.user, kinds=kinds, trigger=RunTrigger.MANUAL)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "scoring/models.html#runs", _runs_context(request))
    return redirect("scoring:models")


def _calibration_points(table: list[dict[str, Any]]) -> list[dict[str, float]]:
    return [
        {"x": row["mean_predicted"], "y": row["observed_rate"], "n": row["count"]}
        for row in table
        if row.get("count") and row.get("mean_predicted") is not None
    ]


@login_required
def model_version_page(request: HttpRequest, version_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    version = model_version_get(actor=request.user, workspace=workspace, version_id=version_id)
    metrics = version.metrics or {}
    is_clv = version.kind == ModelKind.CLV
    heldout = metrics if is_clv else metrics.get("heldout", {})
    baseline = metrics.get("baseline") or {}
    if is_clv:
        chart = {
            "kind": "clv",
            "model": [
                {"x": row["mean_predicted"], "y": row["mean_actual"], "n": row["count"]}
                for row in metrics.get("calibration_deciles", [])
            ],
        }
    else:
        chart = {
            "kind": "probability",
            "model": _calibration_points(heldout.get("calibration", [])),
            "baseline": _calibration_points(baseline.get("calibration", [])),
        }
    context = {
        "version": version,
        "is_clv": is_clv,
        "heldout": heldout,
        "baseline": baseline,
        "comparison": metrics.get("comparison") or {},
        "coefficients": (metrics.get("coefficients") or [])[:12],
        "chart": chart,
        "drift": drift_latest(version=version),
        "samples": scores_sample(version=version),
        "scored": scores_count(version=version),
        "can_manage": can_manage_models(actor=request.user, workspace=workspace),
        "can_promote": version.status != ModelStatus.ACTIVE,
    }
    return render(request, "scoring/version.html", context)


@login_required
@require_POST
def model_version_promote_view(request: HttpRequest, version_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    version = model_version_get_for_change(actor=request.user, workspace=workspace, version_id=version_id)
    try:
        model_version_promote(version=version, actor=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, f"{version.label} is now active. The promotion is in the audit trail.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return redirect("scoring:version", version_id=version.pk)


@login_required
@require_POST
def model_version_drift_view(request: HttpRequest, version_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    version = model_version_get_for_change(actor=request.user, workspace=workspace, version_id=version_id)
    report = drift_report_compute(version=version)
    messages.success(request, f"Drift measured on {report.sample_size} people.")
    return redirect("scoring:version", version_id=version.pk)


@login_required
def profile_scores_fragment(request: HttpRequest, profile_id: str) -> HttpResponse:
    """The customer page's scores panel (loaded over htmx; a full page without JavaScript)."""
    scores = scores_for_profile(actor=request.user, workspace=request_workspace(request), profile_id=profile_id)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "scoring/_scores.html", {"scores": scores})
    return render(
        request, "fragment_page.html", {"title": "Scores", "fragment": "scoring/_scores.html", "scores": scores}
    )
