"""The live shoppers: deterministic for a seed, and behaving as their documented ground truth."""

from __future__ import annotations

import pytest

from decisions.conditions import compile_condition
from decisions.defaults import STARTER_ACTIONS
from simulator.shoppers import (
    GROUND_TRUTH,
    ORDER_EVENT,
    SITUATIONS,
    Storefront,
    conversion_probability,
)


def _run(seed: int, visits: int, show: bool) -> list[dict]:
    """Every message of ``visits`` visits, with every action shown (or none)."""
    store = Storefront(seed=seed)
    out: list[dict] = []
    for _ in range(visits):
        session = store.next_session()
        if not session.context:
            continue
        out.extend(session.before)
        action = SITUATIONS[session.situation].action if show else None
        channel = str(next(a["channel"] for a in STARTER_ACTIONS if a["key"] == action)) if action else ""
        out.extend(store.react(session, shown=action, channel=channel).messages)
    return out


def test_the_same_seed_gives_the_same_messages_and_another_seed_does_not() -> None:
    first, again, other = _run(5, 300, True), _run(5, 300, True), _run(6, 300, True)
    assert first == again
    assert first != other
    assert len({m["messageId"] for m in first}) == len(first)  # ids never repeat within a run


def test_what_the_platform_answers_does_not_shift_the_stream() -> None:
    # given two runs of the same seed, one where every action is shown and one where none is
    shown, silent = Storefront(seed=9), Storefront(seed=9)
    for _ in range(400):
        a, b = shown.next_session(), silent.next_session()
        # then the same shopper visits in the same situation with the same draws
        assert (a.shopper.index, a.number, a.situation, a.draws) == (b.shopper.index, b.number, b.situation, b.draws)
        if not a.context or not b.context:
            continue
        # and whoever buys without the action also buys with it (common random numbers)
        with_action = shown.react(a, shown=SITUATIONS[a.situation].action, channel="in_app").converted
        without = silent.react(b, shown=None).converted
        assert with_action or not without


@pytest.mark.parametrize("action", sorted(GROUND_TRUTH))
def test_measured_uplift_of_each_action_is_its_ground_truth(action: str) -> None:
    # given many visits in the situation the action is made for, shown to everyone or to no one
    situation = next(key for key, spec in SITUATIONS.items() if spec.action == action)
    rates = {}
    for show in (True, False):
        store = Storefront(seed=17, mix={situation: 1.0})
        converted = visits = 0
        while visits < 6000:
            session = store.next_session()
            if not session.context:
                continue
            visits += 1
            converted += store.react(session, shown=action if show else None, channel="in_app").converted
        rates[show] = converted / visits
    # then the difference is the documented uplift (common random numbers keep the noise small)
    assert rates[True] - rates[False] == pytest.approx(GROUND_TRUTH[action].uplift, abs=0.01)


def test_the_spammy_promo_drives_unsubscribes_and_the_newsletter_hardly_does() -> None:
    def unsubscribes(action: str) -> float:
        situation = next(key for key, spec in SITUATIONS.items() if spec.action == action)
        store = Storefront(seed=3, mix={situation: 1.0})
        count = reached = 0
        for _ in range(6000):
            session = store.next_session()
            if not session.context or not session.shopper.email_consent:
                continue
            reached += 1
            outcomes = store.react(session, shown=action, channel="email").outcomes
            count += any(o["kind"] == "unsubscribed" for o in outcomes)
        return count / reached

    assert unsubscribes("flash_promo") == pytest.approx(GROUND_TRUTH["flash_promo"].unsubscribed, abs=0.02)
    assert unsubscribes("weekly_newsletter") < 0.03


def test_conversion_probability_stays_a_probability_and_rises_with_keenness() -> None:
    for situation, spec in SITUATIONS.items():
        low, high = conversion_probability(situation, 0.0, None), conversion_probability(situation, 1.0, None)
        assert 0 < low < high <= 1
        assert conversion_probability(situation, 1.0, spec.action) <= 1


def test_orders_carry_revenue_and_unsubscribes_withdraw_email_consent() -> None:
    messages = _run(21, 500, True)
    orders = [m for m in messages if m.get("event") == ORDER_EVENT]
    assert orders and all(m["properties"]["revenue"] > 0 for m in orders)
    withdrawn = [m for m in messages if m["type"] == "identify" and m["traits"].get("consent") == {"email": False}]
    assert withdrawn  # flash_promo recipients leave the list


def test_every_situation_context_makes_its_own_action_eligible_and_no_other() -> None:
    # given the starter catalog the demo installs
    conditions = {a["key"]: compile_condition(a["eligibility"]) for a in STARTER_ACTIONS}
    store = Storefront(seed=1)
    seen = set()
    for _ in range(300):
        session = store.next_session()
        if not session.context:
            continue
        # then exactly the action made for the situation is eligible in its context
        eligible = {key for key, condition in conditions.items() if condition({"context": session.context})}
        assert eligible == {SITUATIONS[session.situation].action}
        seen.add(session.situation)
    assert seen == set(SITUATIONS)


def test_a_mix_naming_an_unknown_situation_is_refused() -> None:
    with pytest.raises(ValueError, match="mix"):
        Storefront(seed=1, mix={"teleport": 1.0})
