from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from core.domain_events import DomainEvent
from decisions.models import BanditArm, Decision, DecisionStatus, Outcome, Policy, SuppressionWindow
from decisions.services import (
    decision_learn,
    decision_make,
    decision_replay,
    guardrails_save,
    policy_save,
)
from decisions.subscribers import on_events_ingested
from events.models import Event
from tests.decisions.conftest import identify, make_action, person, track
from tests.factories import make_secret_key


def _decide(api_client, workspace, body):
    key = make_secret_key(workspace=workspace)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api_client.post("/v1/decide", body, format="json")


@pytest.mark.django_db
def test_decide_api_returns_an_action_with_rendered_content_and_a_reason(api_client, shop) -> None:
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    response = _decide(api_client, shop, {"person": {"userId": "ana"}, "context": {"page": "/home"}})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "acted"
    assert body["action"]["key"] in {"weekly_promo", "checkout_help"}
    assert "Ana" in body["action"]["body"]
    assert body["explanation"].endswith("doing nothing scored lower.")
    decision = Decision.objects.get(id=body["decision_id"])
    assert decision.context == {"page": "/home"}
    assert decision.inputs["snapshot"]["consent"] == {"email": True, "in_app": True}
    assert decision_replay(decision=decision)["matches"] is True


@pytest.mark.django_db
def test_decide_api_refuses_bad_input_clearly(api_client, shop) -> None:
    assert _decide(api_client, shop, {"person": {}}).status_code == 400
    assert _decide(api_client, shop, {"person": {"userId": "ana"}, "context": "x"}).json()["error"]["fields"] == {
        "context": ['Must be an object, e.g. {"page": "/checkout"}.']
    }
    unknown = _decide(api_client, shop, {"person": {"userId": "nobody"}})
    assert unknown.status_code == 404
    api_client.credentials(HTTP_AUTHORIZATION="Bearer wrong.key")
    assert api_client.post("/v1/decide", {"person": {"userId": "ana"}}, format="json").status_code == 401


@pytest.mark.django_db
def test_do_nothing_wins_when_every_action_loses_money(api_client, shop) -> None:
    for key in ("weekly_promo", "checkout_help"):
        from decisions.models import Action

        action = Action.objects.get(workspace=shop, key=key)
        action.cost = 1000
        action.save()
    body = _decide(api_client, shop, {"person": {"userId": "ana"}}).json()
    assert body["status"] == "nothing" and body["action"] is None
    assert "no action's expected value beat doing nothing" in body["explanation"]


@pytest.mark.django_db
def test_no_consent_means_no_decision_for_that_channel(api_client, workspace, tracker) -> None:
    identify(tracker, "bo", consent={"email": False})
    make_action(workspace, "weekly_promo")
    body = _decide(api_client, workspace, {"person": {"userId": "bo"}}).json()
    assert body["action"] is None
    decision = Decision.objects.get(id=body["decision_id"])
    assert decision.guardrails[0]["reason"] == "no email consent"


@pytest.mark.django_db(transaction=True)
def test_caps_hold_under_concurrent_decisions_for_one_person(shop) -> None:
    from decisions.models import Action

    Action.objects.filter(workspace=shop, key="checkout_help").update(enabled=False)
    guardrails_save(
        workspace=shop,
        actor=None,
        contact_policy={"quiet_start": None, "quiet_end": None, "per_channel_day": {"email": 2}},
    )
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    ana = person(shop, "ana")
    barrier = threading.Barrier(8)

    def decide_once(_: int) -> str:
        barrier.wait(timeout=10)
        try:
            return decision_make(workspace=shop, profile=ana).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(decide_once, range(8)))
    assert statuses.count(DecisionStatus.ACTED) == 2  # the daily email cap, never exceeded
    assert statuses.count(DecisionStatus.NOTHING) == 6


@pytest.mark.django_db
def test_holdout_people_are_decided_but_not_shown(api_client, shop) -> None:
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.999999, "explore": False},
    )
    body = _decide(api_client, shop, {"person": {"userId": "ana"}}).json()
    assert body["status"] == "held_out" and body["holdout"] is True and body["action"] is None
    assert "(holdout: decided but not sent)" in body["explanation"]


@pytest.mark.django_db
def test_high_risk_actions_wait_for_approval(api_client, shop) -> None:
    from decisions.models import Action

    Action.objects.filter(workspace=shop).update(risk_tier="high")
    policy_save(
        workspace=shop, actor=None, values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0}
    )
    body = _decide(api_client, shop, {"person": {"userId": "ana"}}).json()
    assert body["status"] == "pending_approval" and body["needs_approval"] is True
    assert "waiting for approval" in body["explanation"]


@pytest.mark.django_db
def test_outcomes_reward_the_bandit_once(api_client, shop) -> None:
    policy_save(
        workspace=shop, actor=None, values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0}
    )
    decision = decision_make(workspace=shop, profile=person(shop, "ana"))
    assert decision.status == DecisionStatus.ACTED
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_secret_key(workspace=shop)}")
    for _ in range(2):  # the same report twice is stored once
        response = api_client.post(
            "/v1/outcome",
            {"decisionId": str(decision.id), "kind": "converted", "value": "80.00", "id": "order-1"},
            format="json",
        )
        assert response.status_code == 201
    assert Outcome.objects.filter(decision=decision).count() == 1
    assert decision_learn(decision_id=decision.id) is True
    assert decision_learn(decision_id=decision.id) is False  # learned once
    arm = BanditArm.objects.get(workspace=shop, action_key=decision.chosen_key)
    assert arm.updates == 1 and arm.rewards == 1.0


@pytest.mark.django_db
def test_orders_after_a_decision_are_attributed_and_failures_suppress_promotions(shop, tracker) -> None:
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    ana = person(shop, "ana")
    decision = decision_make(workspace=shop, profile=ana)
    track(tracker, "ana", "Order Completed", revenue=120.5)
    track(tracker, "ana", "payment_failed", amount=99)
    events = list(Event.objects.filter(workspace=shop, type="track").order_by("timestamp"))
    on_events_ingested(
        DomainEvent(
            "event.ingested",
            str(shop.id),
            {"events": [{"id": str(e.id), "profile_id": str(e.profile_id), "type": "track"} for e in events]},
        )
    )
    outcome = Outcome.objects.get(decision=decision)
    assert outcome.kind == "converted" and outcome.value is not None
    assert float(outcome.value) == 120.5 and outcome.reward == 120.5
    window = SuppressionWindow.objects.get(profile=ana)
    assert window.reason == "a payment failure"
    after = decision_make(workspace=shop, profile=ana)
    assert after.chosen_key != "weekly_promo"
    assert any("paused" in r["reason"] for r in after.guardrails if r["action"] == "weekly_promo")


@pytest.mark.django_db
def test_event_triggered_decisions_happen_once_per_event_and_policy_version(shop, tracker) -> None:
    policy = policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "subscribed_events": ["Cart Viewed"]},
    )
    track(tracker, "ana", "Cart Viewed")
    event = Event.objects.get(workspace=shop, name="Cart Viewed")
    fact = DomainEvent(
        "event.ingested",
        str(shop.id),
        {"events": [{"id": str(event.id), "profile_id": str(event.profile_id), "type": "track"}]},
    )
    on_events_ingested(fact)
    on_events_ingested(fact)  # redelivered
    assert Decision.objects.filter(workspace=shop, trigger_ref=str(event.id)).count() == 1
    policy_save(workspace=shop, actor=None, policy=policy, values={"explore": False})
    on_events_ingested(fact)  # a new policy version decides again
    assert Decision.objects.filter(workspace=shop, trigger_ref=str(event.id)).count() == 2


@pytest.mark.django_db
def test_shadow_policy_decides_but_never_acts(shop) -> None:
    shadow = policy_save(
        workspace=shop, actor=None, values={"key": "candidate", "name": "Candidate", "status": "shadow"}
    )
    decision = decision_make(workspace=shop, profile=person(shop, "ana"), policy=shadow)
    assert decision.status == DecisionStatus.SHADOW and decision.shadow
    assert Policy.objects.get(pk=shadow.pk).status == "shadow"


@pytest.mark.django_db
def test_invalid_conditions_are_refused_on_save(api_client, personas) -> None:
    api_client.force_authenticate(personas.owner)
    body = {"key": "bad", "name": "Bad", "channel": "email", "kind": "offer", "eligibility": "traits.plan =="}
    response = api_client.post("/api/v1/actions/", body, format="json")
    assert response.status_code == 400
    assert "not a valid condition" in response.json()["error"]["fields"]["eligibility"]
    good = api_client.post("/api/v1/actions/", {**body, "eligibility": "traits.plan == 'gold'"}, format="json")
    assert good.status_code == 201 and good.json()["version"] == 1
    changed = api_client.patch("/api/v1/actions/bad/", {"cost": "2.00"}, format="json")
    assert changed.json()["version"] == 2
    marketer_forbidden = personas.member("viewer")
    api_client.force_authenticate(marketer_forbidden)
    assert api_client.patch("/api/v1/actions/bad/", {"cost": "3.00"}, format="json").status_code == 403
    api_client.force_authenticate(personas.outsider)
    assert api_client.get("/api/v1/actions/bad/").status_code == 404


@pytest.mark.django_db
def test_closed_decisions_become_labelled_rows_for_response_models(shop) -> None:
    from scoring.labels import response_outcomes

    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    ana = person(shop, "ana")
    shown = decision_make(workspace=shop, profile=ana)
    assert shown.status == DecisionStatus.ACTED
    assert response_outcomes(shop) == {}  # the window is still open: nothing to learn from yet
    from decisions.services import outcome_record

    outcome_record(decision=shown, kind="converted", value=None)
    decision_learn(decision_id=shown.id)  # the conversion closes the window
    rows = response_outcomes(shop)
    assert rows == {shown.chosen_key: {(str(ana.id), shown.created_at.timestamp()): 1}}
