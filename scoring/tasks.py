"""Thin Celery tasks: ids in, one service call, on the ``training`` queue (the ``scoring.*`` route).
Real-time re-scoring is not here: it is a worker-side "event ingested" subscriber (scoring/apps.py)
that runs on the ``ingest`` queue, so it never waits behind a training job."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from accounts.models import Workspace
from scoring.models import ModelVersion
from scoring.services import (
    drift_report_compute,
    drift_schedule,
    scores_rescore_all,
    training_run_execute,
    training_schedule,
)

TRAINING_TIME_LIMIT = int(getattr(settings, "SCORING_TRAINING_TIME_LIMIT", 3600))


@shared_task(
    name="scoring.model_training_run_task",
    time_limit=TRAINING_TIME_LIMIT,
    soft_time_limit=TRAINING_TIME_LIMIT - 60,
)
def model_training_run_task(workspace_id: str, run_id: str) -> str | None:
    """Execute a queued training run (a second delivery of the same run does nothing)."""
    if not Workspace.objects.filter(pk=workspace_id).exists():
        return None
    run = training_run_execute(run_id=run_id)
    return None if run is None else run.status


@shared_task(name="scoring.training_schedule_task")
def training_schedule_task() -> int:
    """Beat: queue a training run for every workspace with data."""
    return len(training_schedule())


@shared_task(name="scoring.scores_rescore_task", time_limit=TRAINING_TIME_LIMIT)
def scores_rescore_task(workspace_id: str) -> int:
    """Re-score everyone with the active models (after a promotion)."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    return scores_rescore_all(workspace=workspace)


@shared_task(name="scoring.drift_compute_task")
def drift_compute_task(workspace_id: str, model_version_id: str) -> str | None:
    version = ModelVersion.objects.filter(workspace_id=workspace_id, pk=model_version_id).first()
    if version is None:
        return None
    return str(drift_report_compute(version=version).pk)


@shared_task(name="scoring.drift_schedule_task")
def drift_schedule_task() -> int:
    """Beat: drift of every active model against its training data."""
    return len(drift_schedule())
