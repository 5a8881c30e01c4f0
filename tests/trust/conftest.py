from __future__ import annotations

import pytest

from accounts.roles import Role
from decisions.models import Decision, DecisionStatus
from decisions.services import decision_make, guardrails_save, policy_save
from tests.decisions.conftest import identify, make_action, person
from tests.events.conftest import Tracker, tracker, write_key  # noqa: F401 - shared fixtures
from tests.factories import make_member

__all__ = ["Tracker", "propose"]

GENEROUS_CAPS = {
    "quiet_start": None,
    "quiet_end": None,
    "per_channel_day": {"email": 1000, "sms": 1000, "push": 1000, "in_app": 1000},
    "per_channel_week": {"email": 1000, "sms": 1000, "push": 1000, "in_app": 1000},
    "overall_day": 1000,
    "overall_week": 1000,
}


def propose(workspace, user: str, action: str = "winback") -> Decision:
    """A decision for this person that proposes ``action`` and waits for approval."""
    decision = decision_make(workspace=workspace, profile=person(workspace, user), only=[action])
    assert decision.status == DecisionStatus.PENDING_APPROVAL, decision.explanation
    return decision


@pytest.fixture
def queue(workspace, tracker):  # noqa: F811 - the tracker fixture
    """Ana and Ben consent to email; a high-risk win-back offer (20 % off, always asks), a
    medium-risk service message, no holdout, and contact caps out of the way."""
    identify(tracker, "ana", first_name="Ana", email="ana@example.com", consent={"email": True, "in_app": True})
    identify(tracker, "ben", first_name="Ben", email="ben@example.com", consent={"email": True, "in_app": True})
    guardrails_save(workspace=workspace, actor=None, contact_policy=GENEROUS_CAPS)
    policy_save(
        workspace=workspace,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    make_action(
        workspace,
        "winback",
        kind="retention",
        risk_tier="high",
        autonomy="always_ask",
        discount_percent=20,
        cost=0,
        subject="We miss you, {traits.first_name|there}",
        content="Come back for 20% off, {traits.first_name|there}.",
    )
    make_action(
        workspace,
        "care_note",
        kind="message",
        risk_tier="medium",
        autonomy="always_ask",
        cost=0,
        subject="A note",
        content="Thanks for shopping with us, {traits.first_name|there}.",
    )
    return workspace


@pytest.fixture
def approver(queue):
    return make_member(workspace=queue, role=Role.APPROVER)
