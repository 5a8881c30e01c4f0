from __future__ import annotations

from celery import shared_task

from accounts.models import Workspace
from journeys.services import StepRetry, playbook_run_advance, signals_evaluate_absence


@shared_task(name="journeys.playbook_run_advance_task", bind=True, max_retries=None)
def playbook_run_advance_task(self, run_id: str) -> str:  # type: ignore[no-untyped-def]
    """Run a playbook's pending steps; a step that failed for now is retried with backoff (the
    service counts attempts and gives up after JOURNEYS_STEP_MAX_ATTEMPTS)."""
    try:
        run = playbook_run_advance(run_id=run_id)
    except StepRetry as exc:
        raise self.retry(countdown=exc.delay, exc=exc) from None
    return run.status if run is not None else "missing"


@shared_task(name="journeys.signals_absence_task")
def signals_absence_task() -> int:
    """Beat (hourly): absence signals such as "no login for 14 days"."""
    started = 0
    for workspace in Workspace.objects.all():
        started += signals_evaluate_absence(workspace=workspace)
    return started
