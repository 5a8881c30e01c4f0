"""Off-policy estimates of a known policy land within their interval of its true value."""

from __future__ import annotations

import numpy as np
import pytest

from decisions.ope import LoggedOutcome, doubly_robust, evaluate_all, ips, snips

ACTIONS = ["a", "b", "nothing"]


def _true_p(action: str, x: float) -> float:
    return {"a": 0.1 + 0.3 * x, "b": 0.35 - 0.2 * x, "nothing": 0.05}[action]


def _target(x: float) -> dict[str, float]:
    # the candidate: mostly "a" for high x, "b" otherwise, a little exploration
    best = "a" if x > 0.5 else "b"
    return {k: (0.8 if k == best else 0.1) for k in ACTIONS}


def _logged(n: int, seed: int) -> tuple[list[LoggedOutcome], float]:
    rng = np.random.default_rng(seed)
    logging = np.array([0.5, 0.3, 0.2])  # the live policy's known probabilities
    records = []
    for _ in range(n):
        x = float(rng.random())
        i = int(rng.choice(3, p=logging))
        action = ACTIONS[i]
        reward = float(rng.random() < _true_p(action, x))
        target = _target(x)
        # a deliberately imperfect reward model for DR
        model = {k: _true_p(k, x) + 0.03 for k in ACTIONS}
        records.append(
            LoggedOutcome(
                reward=reward,
                logged_propensity=float(logging[i]),
                target_probability=target[action],
                predicted_reward=model[action],
                predicted_target_reward=sum(target[k] * model[k] for k in ACTIONS),
            )
        )
    # true value of the target policy, by integration over x
    grid = np.linspace(0, 1, 10_001)
    truth = float(np.mean([sum(_target(x)[k] * _true_p(k, x) for k in ACTIONS) for x in grid]))
    return records, truth


def test_estimates_cover_the_true_value_of_a_known_policy() -> None:
    records, truth = _logged(6000, seed=11)
    for estimate in evaluate_all(records):
        assert estimate.low <= truth <= estimate.high, (estimate, truth)
        assert estimate.high - estimate.low < 0.05  # and the interval is informative
        assert 0 < estimate.effective_sample_size <= estimate.n


def test_dr_has_the_smallest_interval_with_a_decent_reward_model() -> None:
    records, _ = _logged(6000, seed=5)
    assert doubly_robust(records).high - doubly_robust(records).low < ips(records).high - ips(records).low


def test_logging_policy_evaluates_to_its_own_average_reward() -> None:
    records = [LoggedOutcome(reward=r, logged_propensity=0.5, target_probability=0.5) for r in (1, 0, 1, 1)]
    assert snips(records).value == pytest.approx(0.75)
    assert ips(records).value == pytest.approx(0.75)


def test_bad_logs_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ips([])
    with pytest.raises(ValueError, match="propensities"):
        ips([LoggedOutcome(reward=1, logged_propensity=0, target_probability=1)])
