from __future__ import annotations

import pytest

from decisions.models import DecisionStatus
from decisions.selectors import action_lift
from decisions.services import decision_make, outcome_record, policy_save
from tests.decisions.conftest import identify, person


@pytest.mark.django_db
def test_lift_compares_shown_people_with_the_holdout(client, shop, tracker) -> None:
    for user in ("bo", "cy", "di"):
        identify(tracker, user, consent={"email": True, "in_app": True})
    policy = policy_save(
        workspace=shop,
        actor=None,
        values={
            "key": "main",
            "name": "Main",
            "status": "live",
            "holdout_share": 0.0,
            "explore": False,
            "action_keys": ["checkout_help"],
        },
    )
    shown = [decision_make(workspace=shop, profile=person(shop, u)) for u in ("ana", "bo")]
    policy = policy_save(workspace=shop, actor=None, policy=policy, values={"holdout_share": 0.999999})
    held = [decision_make(workspace=shop, profile=person(shop, u)) for u in ("cy", "di")]
    assert [d.status for d in shown] == [DecisionStatus.ACTED] * 2
    assert [d.status for d in held] == [DecisionStatus.HELD_OUT] * 2
    outcome_record(decision=shown[0], kind="converted")
    outcome_record(decision=held[0], kind="converted")
    outcome_record(decision=shown[1], kind="converted")

    lift = action_lift(workspace=shop, action="checkout_help")
    assert (lift.treated, lift.treated_conversions, lift.control, lift.control_conversions) == (2, 2, 2, 1)
    assert lift.lift == 0.5 and lift.low < lift.lift < lift.high

    client.force_login(shop.memberships.get(role="owner").user)
    page = client.get("/decisions/").content.decode()
    assert "Lift against holdout" in page and "checkout_help" in page
    assert shown[0].explanation in page
    filtered = client.get("/decisions/?status=held_out").content.decode()
    assert filtered.count("Held out (control)") >= 2
    assert "No decision matches" in client.get("/decisions/?action=nope").content.decode()
