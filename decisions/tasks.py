from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from decisions.models import Decision
from decisions.services import decision_learn


@shared_task(name="decisions.decision_learn_task")
def decision_learn_task(decision_id: str) -> bool:
    return decision_learn(decision_id=decision_id)


@shared_task(name="decisions.attribution_close_task")
def attribution_close_task(limit: int = 5000) -> int:
    """Beat: decisions whose attribution window passed without a conversion teach the bandit a 0."""
    window = timedelta(hours=float(getattr(settings, "DECISIONS_ATTRIBUTION_HOURS", 72)))
    ids = list(
        Decision.objects.filter(attribution_closed=False, created_at__lt=timezone.now() - window)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    for decision_id in ids:
        decision_learn(decision_id=decision_id)
    return len(ids)


@shared_task(name="decisions.approvals_expire_task")
def approvals_expire_task(limit: int = 1000) -> int:
    """Beat: proposals nobody decided within DECISIONS_APPROVAL_TTL_HOURS become "expired"."""
    from decisions.approvals import approvals_expire

    return approvals_expire(limit=limit)


@shared_task(name="decisions.trust_evaluate_task")
def trust_evaluate_task() -> int:
    """Beat: re-assess earned autonomy (complaints arrive after the reviews that promoted an action)."""
    from decisions.trust import trust_evaluate_all

    return trust_evaluate_all()
