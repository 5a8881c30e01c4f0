from __future__ import annotations

from decisions.explanations import Signal, Suppressed, explain


def test_the_seed_scenario_sentence() -> None:
    sentence = explain(
        person="Ana",
        action_name="in-app checkout help",
        action_kind="service",
        signals=[
            Signal("CLV in the top 5%", 0.4),
            Signal("3 payment failures in 10 minutes", 0.9),
            Signal("1 visit this week", 0.01),
        ],
        suppressed=[Suppressed("weekly promo email", "suppressed for 48 h after a payment failure")],
        max_signals=2,
    )
    assert sentence == (
        "Offered in-app checkout help to Ana because 3 payment failures in 10 minutes and CLV in the top 5%; "
        "weekly promo email suppressed for 48 h after a payment failure; doing nothing scored lower."
    )


def test_doing_nothing_says_why() -> None:
    sentence = explain(person="Bo", action_name=None, signals=[Signal("churn risk 0.08")])
    assert sentence == "Did nothing for Bo because churn risk 0.08; no action's expected value beat doing nothing."


def test_holdout_approval_and_runner_up_are_said() -> None:
    sentence = explain(
        person="Cy",
        action_name="20% win-back offer",
        holdout=True,
        needs_approval=True,
        runner_up="free shipping",
        margin=1.234,
    )
    assert sentence.startswith(
        "Proposed 20% win-back offer for Cy (waiting for approval) (holdout: decided but not sent)"
    )
    assert "it beat free shipping by 1.23 in expected value" in sentence
