"""Subject rights for decisions: export a person's decisions, anonymise them on erasure.

Decisions stay (their status, action, propensity and outcomes still count in lift, evaluation
and learning) but lose everything that describes the person: the inputs snapshot (traits,
features, the name used in the sentence), the context, the rendered content, and any copy of
the person's values in the explanation, reasons, guardrail notes, reviews and outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from accounts.models import Workspace
from decisions.models import ApprovalReview, Decision, Outcome, SuppressionWindow
from profiles.privacy import ERASED, rows_scrub, scrub_values


def decisions_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    decisions = (
        Decision.objects.filter(workspace=workspace, profile_id__in=list(profile_ids))
        .prefetch_related("outcomes")
        .order_by("created_at")
    )
    reviews = {r.decision_id: r for r in ApprovalReview.objects.filter(workspace=workspace, decision__in=decisions)}
    result = []
    for d in decisions:
        review = reviews.get(d.id)
        result.append(
            {
                "id": str(d.id),
                "created_at": d.created_at.isoformat(),
                "status": d.status,
                "action": d.chosen_key,
                "channel": d.channel,
                "trigger": d.trigger,
                "holdout": d.holdout,
                "explanation": d.explanation,
                "rendered": d.rendered,
                "context": d.context,
                "outcomes": [
                    {
                        "kind": o.kind,
                        "value": str(o.value) if o.value is not None else None,
                        "at": o.occurred_at.isoformat(),
                    }
                    for o in d.outcomes.all()
                ],
                "review": (
                    {"result": review.result, "by": review.decided_by_label, "at": review.decided_at.isoformat()}
                    if review
                    else None
                ),
            }
        )
    suppressions = SuppressionWindow.objects.filter(workspace=workspace, profile_id__in=list(profile_ids))
    if suppressions:
        result.append(
            {
                "suppression_windows": [
                    {"reason": s.reason, "until": s.until.isoformat(), "kinds": s.kinds} for s in suppressions
                ]
            }
        )
    return result


def decisions_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[UUID], identifiers: Sequence[tuple[str, str]]
) -> int:
    secrets = scrub_values(identifiers)
    decisions = Decision.objects.filter(workspace=workspace, profile_id__in=list(profile_ids))
    touched = 0
    for decision in decisions.only("id", "inputs", "rendered").iterator(chunk_size=500):
        inputs = decision.inputs or {}
        rendered = decision.rendered or {}
        Decision.objects.filter(pk=decision.pk).update(
            # The context vector stays: it is numbers the bandit already learned from, and replay is no longer possible.
            inputs={"erased": True, "x": inputs.get("x")},
            context={},
            rendered={k: (v if k in ("channel", "discount_percent") else ERASED) for k, v in rendered.items()},
        )
        touched += 1
    rows_scrub(decisions, secrets, exclude=("inputs", "context", "rendered"))
    touched += rows_scrub(
        ApprovalReview.objects.filter(workspace=workspace, decision__profile_id__in=list(profile_ids)), secrets
    )
    reviews = ApprovalReview.objects.filter(workspace=workspace, decision__profile_id__in=list(profile_ids))
    reviews.exclude(original=None).update(original={"erased": True})
    reviews.exclude(edited=None).update(edited={"erased": True})
    touched += rows_scrub(
        Outcome.objects.filter(workspace=workspace, decision__profile_id__in=list(profile_ids)), secrets
    )
    touched += rows_scrub(
        SuppressionWindow.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)), secrets
    )
    return touched
