"""Earned autonomy: promotion and demotion exactly at the thresholds, from a simulated record."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from decisions.approvals import approval_approve, approval_reject
from decisions.models import Action, ApprovalResult, ApprovalReview, Autonomy, Decision, DecisionStatus, OutcomeKind
from decisions.services import outcome_record
from decisions.trust import TrackRecord, TrustThresholds, trust_assess, trust_evaluate, trust_report
from tests.trust.conftest import propose

T = TrustThresholds()  # defaults: 20 reviews, 95 % approved, complaints < 2 %, demote below 90 % (from 5 reviews)


def assess(level: str, *, reviews: int, approved: int, acted: int = 0, complaints: int = 0, risk: str = "medium"):
    record = TrackRecord(
        reviews=reviews, approved=approved, rejected=reviews - approved, acted=acted, complaints=complaints
    )
    return trust_assess(risk_tier=risk, level=level, record=record, thresholds=T)


@pytest.mark.parametrize(
    ("reviews", "approved", "acted", "complaints", "promoted"),
    [
        (19, 19, 0, 0, False),  # 19 reviews: one short
        (20, 19, 0, 0, True),  # 20 reviews, exactly 95 %
        (20, 18, 0, 0, False),  # 90 %
        (1000, 949, 0, 0, False),  # 94.9 %
        (1000, 950, 0, 0, True),  # 95.0 %
        (20, 20, 10000, 199, True),  # complaints 1.99 % < 2 %
        (20, 20, 10000, 200, False),  # complaints exactly 2 %: not below the bound
    ],
)
def test_promotion_happens_exactly_at_the_thresholds(reviews, approved, acted, complaints, promoted) -> None:
    verdict = assess(Autonomy.ALWAYS_ASK, reviews=reviews, approved=approved, acted=acted, complaints=complaints)
    assert (verdict.change == "promote") is promoted, verdict.why
    assert verdict.recommended == (Autonomy.ACT_AND_NOTIFY if promoted else Autonomy.ALWAYS_ASK)


@pytest.mark.parametrize(
    ("reviews", "approved", "acted", "complaints", "demoted"),
    [
        (20, 18, 0, 0, False),  # 90 %: at the demotion bound, not below
        (1000, 899, 0, 0, True),  # 89.9 %
        (4, 0, 0, 0, False),  # fewer than 5 reviews: too few to judge rejections
        (5, 4, 0, 0, True),  # 5 reviews at 80 %
        (20, 20, 10000, 199, False),  # complaints 1.99 %
        (20, 20, 10000, 200, True),  # complaints reach 2 %
    ],
)
def test_demotion_happens_exactly_at_the_thresholds(reviews, approved, acted, complaints, demoted) -> None:
    verdict = assess(Autonomy.ACT_AND_NOTIFY, reviews=reviews, approved=approved, acted=acted, complaints=complaints)
    assert (verdict.change == "demote") is demoted, verdict.why
    assert verdict.recommended == (Autonomy.ALWAYS_ASK if demoted else Autonomy.ACT_AND_NOTIFY)


def test_high_risk_always_asks_and_low_risk_is_left_alone() -> None:
    high = assess(Autonomy.ACT_ALONE, reviews=1000, approved=1000, risk="high")
    assert high.recommended == Autonomy.ALWAYS_ASK and high.change == "demote"
    assert assess(Autonomy.ALWAYS_ASK, reviews=1000, approved=1000, risk="high").change == ""
    low = assess(Autonomy.ACT_ALONE, reviews=10, approved=0, risk="low")
    assert low.change == "" and low.recommended == Autonomy.ACT_ALONE


def test_thresholds_come_from_settings(settings) -> None:
    from decisions.trust import trust_thresholds

    settings.DECISIONS_TRUST = {"min_reviews": 3, "promote_approval_rate": "0.8"}
    thresholds = trust_thresholds()
    assert thresholds.min_reviews == 3 and thresholds.promote_approval_rate == Decimal("0.8")
    assert thresholds.max_complaint_rate == Decimal("0.02")  # the rest keep their defaults


@pytest.mark.django_db
def test_a_simulated_track_record_promotes_then_demotes_the_action(queue, approver) -> None:
    """care_note is medium risk and always asks. 19 approvals keep it asking; the 20th review
    (a rejection, 19/20 = 95 %) promotes it; complaints on what it then sends demote it."""
    for i in range(19):
        approval_approve(
            workspace=queue, decision=propose(queue, "ana" if i % 2 else "ben", "care_note"), actor=approver
        )
    action = Action.objects.get(workspace=queue, key="care_note")
    assert action.autonomy == Autonomy.ALWAYS_ASK  # 19 reviews: one short
    assert not AuditEntry.objects.filter(action="trust.promoted").exists()

    approval_reject(workspace=queue, decision=propose(queue, "ana", "care_note"), actor=approver, reason="off-brand")
    action.refresh_from_db()
    assert action.autonomy == Autonomy.ACT_AND_NOTIFY  # 20 reviews, 95 % approved: promoted by the trust model
    promoted = AuditEntry.objects.get(action="trust.promoted", target_id="care_note")
    record = (promoted.after or {})["record"]
    assert record["reviews"] == 20 and record["approval_rate"] == "0.9500"
    assert "Earned autonomy" in promoted.reason
    version_entry = AuditEntry.objects.filter(action="action.changed", target_id="care_note").latest("seq")
    assert (version_entry.after or {})["autonomy"] == "act_and_notify"

    # the engine now acts without asking
    acted = Decision.objects.get(pk=_decide(queue, "ben").pk)
    assert acted.status == DecisionStatus.ACTED

    # one complaint among the 20 sent (19 approved + 1 acted alone) is 5 %, above the 2 % bound: demoted
    outcome_record(decision=acted, kind=OutcomeKind.COMPLAINED, ref="complaint-1")
    changed = trust_evaluate(workspace=queue)
    assert [v.change for v in changed] == ["demote"]
    action.refresh_from_db()
    assert action.autonomy == Autonomy.ALWAYS_ASK
    demoted = AuditEntry.objects.get(action="trust.demoted", target_id="care_note")
    assert demoted.before == {"autonomy": "act_and_notify"} and "Complaints reached" in demoted.reason


def _decide(workspace, user):
    from decisions.services import decision_make
    from tests.decisions.conftest import person

    return decision_make(workspace=workspace, profile=person(workspace, user), only=["care_note"])


@pytest.mark.django_db
def test_old_reviews_fall_out_of_the_window(queue, approver) -> None:
    for _ in range(20):
        approval_approve(workspace=queue, decision=propose(queue, "ana", "winback"), actor=approver)
    ApprovalReview.objects.update(decided_at=timezone.now() - timedelta(days=91))
    report = {v.action_key: v for v in trust_report(workspace=queue)}
    assert report["winback"].record.reviews == 0
    assert report["winback"].level == Autonomy.ALWAYS_ASK and "High risk" in report["winback"].why
    assert ApprovalReview.objects.filter(result=ApprovalResult.APPROVED).count() == 20
