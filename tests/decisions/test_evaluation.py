"""Off-policy evaluation on logs from a simulated world with known response rates: a candidate
identical to the live policy lands inside the live policy's observed interval, a candidate held to
a clearly worse action scores lower, and only settled, acted-or-silent live decisions count."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from decisions.bandit import DO_NOTHING
from decisions.engine import decide
from decisions.evaluation import candidate_distribution, logged_decisions, policy_evaluate
from decisions.models import Decision, DecisionStatus, Outcome, OutcomeKind, Policy, PolicyStatus, Trigger
from decisions.services import (
    decision_make,
    guardrails_save,
    live_policy,
    outcome_record,
    policy_save,
    snapshot_load,
)
from decisions.snapshots import snapshot_restore
from tests.decisions.conftest import identify, make_action, person

RATES = {"good": 0.30, "bad": 0.03}  # the world's true conversion rates
VALUE, COST = 10.0, 0.5


def _arm(rate: float, precision: float = 5.0) -> dict[str, list[float]]:
    return {"mean": [math.log(rate / (1 - rate)), 0.0, 0.0], "precision": [precision, 1.0, 1.0]}


@pytest.fixture
def world(workspace, tracker):
    """One consenting person, two actions of equal value and cost, a live exploring policy whose
    bandit believes good ~ 25 % and bad ~ 15 % (so it mostly shows good and sometimes explores bad)."""
    identify(tracker, "ana", first_name="Ana", consent={"email": True, "in_app": True})
    guardrails_save(workspace=workspace, actor=None, contact_policy={"quiet_start": None, "quiet_end": None})
    for key in RATES:
        make_action(workspace, key, value_amount=VALUE, cost=COST, channel="in_app")
    live = policy_save(
        workspace=workspace,
        actor=None,
        values={"key": "live", "name": "Live", "status": "live", "holdout_share": 0.0, "explore": True},
    )
    return workspace, live


def _simulate(workspace, live: Policy, n: int, *, seed: int = 7, days_ago: float = 4.0) -> list[Decision]:
    """Logged decisions made by the real engine on a real snapshot; conversions drawn from RATES."""
    profile = person(workspace, "ana")
    now = timezone.now() - timedelta(days=days_ago)
    snapshot, *_ = snapshot_load(workspace=workspace, profile=profile, policy=live, context={}, now=now)
    snapshot = replace(snapshot, arms={"good": _arm(0.25), "bad": _arm(0.15)})
    rng = np.random.default_rng(seed)
    decisions, outcomes = [], []
    for i in range(n):
        choice_seed = int(rng.integers(0, 2**62))
        result = decide(snapshot, seed=choice_seed, now=now)
        chosen = result.chosen
        decision = Decision(
            workspace=workspace,
            profile=profile,
            policy=live,
            policy_key=live.key,
            policy_version=live.version,
            trigger=Trigger.API,
            status=DecisionStatus.ACTED if chosen else DecisionStatus.NOTHING,
            chosen_key=chosen.key if chosen else "",
            channel=chosen.channel if chosen else "",
            explored=result.explored,
            propensity=result.propensity,
            seed=choice_seed,
            inputs={"snapshot": snapshot.to_json(), "x": result.context_vector},
            candidates=result.candidates,
            guardrails=[],
            explanation=result.explanation,
            latency_ms=1.0,
            attribution_closed=True,
            created_at=now + timedelta(seconds=i),
        )
        decisions.append(decision)
        if chosen and rng.random() < RATES[chosen.key]:
            outcomes.append(
                Outcome(
                    workspace=workspace,
                    decision=decision,
                    kind=OutcomeKind.CONVERTED,
                    value=Decimal("10.00"),
                    reward=VALUE,
                    source="api",
                    ref=f"order-{i}",
                    occurred_at=decision.created_at,
                )
            )
    Decision.objects.bulk_create(decisions)
    Outcome.objects.bulk_create(outcomes)
    return decisions


@pytest.mark.django_db
def test_identical_candidate_lands_in_the_live_interval_and_a_worse_one_scores_lower(world) -> None:
    workspace, live = world
    decisions = _simulate(workspace, live, 400)
    shown = [d.chosen_key for d in decisions]
    assert 0.05 < shown.count("bad") / len(shown) < 0.35  # the live policy explored the worse action
    twin = policy_save(
        workspace=workspace,
        actor=None,
        values={"key": "twin", "name": "Twin", "status": "draft", "holdout_share": 0.0, "explore": True},
    )
    worse = policy_save(
        workspace=workspace,
        actor=None,
        values={"key": "worse", "name": "Only bad", "status": "draft", "action_keys": ["bad"], "explore": True},
    )

    same = policy_evaluate(workspace=workspace, candidate=twin)
    lower = policy_evaluate(workspace=workspace, candidate=worse)

    assert same.n == lower.n == 400
    assert same.live is not None and lower.live is not None
    live_low, live_high = same.live.low, same.live.high
    assert live_high - live_low < 1.5  # a real interval, not a degenerate one
    for estimate in same.estimates:
        assert live_low <= estimate.value <= live_high, estimate
    assert same.effective_sample_size > 300  # near-identical weights
    assert same.agreement > 0.7
    assert "intervals overlap, so not proven" in same.verdict
    by_method = {e.method: e for e in lower.estimates}
    # The true value of always showing bad is 0.03 * 10 - 0.5 = -0.2 per decision.
    for method in ("SNIPS", "DR", "IPS"):
        assert by_method[method].value < live_low, by_method[method]
        assert by_method[method].value < {e.method: e.value for e in same.estimates}[method]
    assert -1.5 < by_method["SNIPS"].value < 1.0
    assert lower.effective_sample_size < same.effective_sample_size
    assert "worse" in lower.verdict
    # Reproducible: the same logs give the same numbers.
    again = policy_evaluate(workspace=workspace, candidate=worse)
    assert [e.value for e in again.estimates] == [e.value for e in lower.estimates]


@pytest.mark.django_db
def test_candidate_probability_follows_its_configuration(world) -> None:
    workspace, live = world
    decision = _simulate(workspace, live, 1)[0]
    from decisions.engine import Snapshot

    snapshot = Snapshot.from_json(decision.inputs["snapshot"])
    survivors = [c["key"] for c in decision.candidates]
    greedy = Policy(key="g", explore=False)
    boosted = Policy(key="b", explore=True, weights={"bad": 3.0})
    nothing_left = Policy(key="n", action_keys=["not_in_catalog"])

    assert sorted(survivors) == ["bad", "good"]
    assert candidate_distribution(snapshot, survivors, candidate=greedy, seed=1) == {"good": 1.0}
    base = candidate_distribution(snapshot, survivors, candidate=Policy(key="x", explore=True), seed=1)
    more_bad = candidate_distribution(snapshot, survivors, candidate=boosted, seed=1)
    assert math.isclose(sum(base.values()), 1.0) and base["good"] > base.get("bad", 0.0)
    assert more_bad["bad"] > 0.8 > base.get("bad", 0.0)  # tripling bad's value makes it win most draws
    assert candidate_distribution(snapshot, survivors, candidate=nothing_left, seed=1) == {DO_NOTHING: 1.0}
    assert candidate_distribution(snapshot, [], candidate=greedy, seed=1) == {DO_NOTHING: 1.0}


@pytest.mark.django_db
def test_only_settled_live_decisions_that_acted_or_stayed_silent_are_used(world) -> None:
    workspace, live = world
    logged = _simulate(workspace, live, 12)
    ids = [d.id for d in logged]
    Decision.objects.filter(id=ids[0]).update(status=DecisionStatus.HELD_OUT, holdout=True)
    Decision.objects.filter(id=ids[1]).update(status=DecisionStatus.SHADOW, shadow=True)
    Decision.objects.filter(id=ids[2]).update(status=DecisionStatus.DRY_RUN, trigger=Trigger.DRY_RUN)
    Decision.objects.filter(id=ids[3]).update(status=DecisionStatus.PENDING_APPROVAL)
    Decision.objects.filter(id=ids[4]).update(attribution_closed=False, created_at=timezone.now())  # still open
    Decision.objects.filter(id=ids[5]).update(attribution_closed=False)  # open, but its window has passed
    Decision.objects.filter(id=ids[6]).update(policy_key="older-policy")
    since = min(d.created_at for d in logged) + timedelta(seconds=8)

    used = {d.id for d in logged_decisions(workspace=workspace, policy_key=live.key)}
    recent = logged_decisions(workspace=workspace, policy_key=live.key, since=since)
    capped = logged_decisions(workspace=workspace, policy_key=live.key, limit=2)

    assert used == {ids[5], *ids[7:]}
    assert {d.id for d in recent} == set(ids[8:])
    assert [d.id for d in capped] == [ids[11], ids[10]]


@pytest.mark.django_db
def test_rewards_come_from_outcomes_minus_cost_on_decisions_made_by_the_service(shop) -> None:
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": True},
    )
    guardrails_save(
        workspace=shop,
        actor=None,
        contact_policy={"quiet_start": None, "quiet_end": None, "overall_day": 50, "overall_week": 50}
        | {"per_channel_day": {"email": 50, "in_app": 50}, "per_channel_week": {"email": 50, "in_app": 50}},
    )
    ana = person(shop, "ana")
    made = [decision_make(workspace=shop, profile=ana) for _ in range(8)]
    acted = [d for d in made if d.status == DecisionStatus.ACTED]
    assert acted, "the engine showed something"
    outcome_record(decision=acted[0], kind=OutcomeKind.CONVERTED, value=Decimal("80.00"), ref="order-1")
    outcome_record(decision=acted[-1], kind=OutcomeKind.COMPLAINED, ref="c-1")
    Decision.objects.filter(id__in=[d.id for d in made]).update(attribution_closed=True)
    costs = {s.key: s.cost for s in snapshot_restore(made[0].inputs["snapshot"]).actions}
    expected = [
        (80.0 if d.id == acted[0].id else 0.0) - (5.0 if d.id == acted[-1].id else 0.0) - costs[d.chosen_key]
        if d.status == DecisionStatus.ACTED
        else 0.0
        for d in made
    ]

    evaluation = policy_evaluate(workspace=shop, candidate=live_policy(shop))

    assert evaluation.n == 8 and evaluation.live_key == "main"
    assert evaluation.live is not None
    assert math.isclose(evaluation.live.value, sum(expected) / 8, abs_tol=1e-9)
    assert sum(evaluation.action_counts.values()) == 8
    assert evaluation.to_json()["live_observed"]["n"] == 8


@pytest.mark.django_db
def test_no_logged_decisions_gives_a_clear_empty_answer(world) -> None:
    workspace, live = world
    decision_make(workspace=workspace, profile=person(workspace, "ana"))  # attribution still open

    evaluation = policy_evaluate(workspace=workspace, candidate=live)

    assert evaluation.n == 0 and evaluation.estimates == [] and evaluation.live is None
    assert "No logged decisions" in evaluation.verdict
    assert live.status == PolicyStatus.LIVE
