"""The decision log as labelled data for scoring's per-action response models (scoring.labels)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Exists, OuterRef

from accounts.models import Workspace
from decisions.models import ACTED_STATUSES, Decision, Outcome, OutcomeKind
from scoring.labels import LabelledOutcome


def decision_outcomes_for_training(workspace: Workspace) -> Iterator[LabelledOutcome]:
    """Shown actions whose attribution window has closed: responded = converted within it."""
    converted = Outcome.objects.filter(decision=OuterRef("pk"), kind=OutcomeKind.CONVERTED)
    rows = (
        Decision.objects.filter(workspace=workspace, status__in=ACTED_STATUSES, attribution_closed=True)
        .exclude(chosen_key="")
        .annotate(responded=Exists(converted))
        .values_list("profile_id", "chosen_key", "created_at", "responded")
        .iterator(chunk_size=5000)
    )
    for profile_id, action, decided_at, responded in rows:
        yield LabelledOutcome(
            profile_id=str(profile_id), action=action, decided_at=decided_at, responded=bool(responded)
        )
