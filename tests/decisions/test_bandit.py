"""The bandit in a world whose response rates are known, so regret can be computed exactly."""

from __future__ import annotations

import numpy as np
import pytest

from decisions.bandit import DO_NOTHING, ActionPosterior, Arm, choose

# True response models: P(response) = sigmoid(w . [1, intent, price_sensitivity])
TRUE_WEIGHTS = {
    "cart_reminder": np.array([-2.0, 2.5, 0.0]),  # works for high-intent people
    "discount_10": np.array([-2.2, 0.5, 2.5]),  # works for price-sensitive people
    "newsletter": np.array([-3.5, 0.3, 0.3]),  # rarely works
    "vip_call": np.array([-1.5, 1.0, -1.0]),  # works, but expensive
}
VALUES = {"cart_reminder": 40.0, "discount_10": 34.0, "newsletter": 40.0, "vip_call": 60.0}
COSTS = {"cart_reminder": 0.5, "discount_10": 2.0, "newsletter": 0.1, "vip_call": 12.0}


def _p(key: str, x: np.ndarray) -> float:
    return float(1.0 / (1.0 + np.exp(-(TRUE_WEIGHTS[key] @ x))))


def _expected(key: str, x: np.ndarray) -> float:
    return 0.0 if key == DO_NOTHING else _p(key, x) * VALUES[key] - COSTS[key]


def _context(rng: np.random.Generator) -> np.ndarray:
    return np.array([1.0, rng.uniform(-1, 1), rng.uniform(-1, 1)])


def _run(policy: str, steps: int, seed: int) -> list[float]:
    """Per-step regret: the best expected reward (do-nothing included) minus the chosen one's."""
    rng = np.random.default_rng(seed)
    posteriors = {key: ActionPosterior.prior(3) for key in TRUE_WEIGHTS}
    regret: list[float] = []
    for step in range(steps):
        x = _context(rng)
        best = max(0.0, *(_expected(k, x) for k in TRUE_WEIGHTS))
        if policy == "thompson":
            arms = [Arm(k, VALUES[k], COSTS[k], posteriors[k]) for k in TRUE_WEIGHTS]
            chosen = choose(arms, x, seed=seed * 100_000 + step, propensity_draws=16).chosen
        elif policy == "uniform":
            options = [*TRUE_WEIGHTS, DO_NOTHING]
            chosen = options[int(rng.integers(len(options)))]
        else:  # fixed best guess: the action best for the average person, sent to everyone
            chosen = "cart_reminder"
        regret.append(best - _expected(chosen, x))
        if chosen != DO_NOTHING:
            reward = float(rng.random() < _p(chosen, x))
            posteriors[chosen] = posteriors[chosen].update(x, reward)
    return regret


def test_thompson_sampling_has_less_regret_than_random_and_a_fixed_rule() -> None:
    steps = 2500
    thompson = _run("thompson", steps, seed=1)
    uniform = sum(_run("uniform", steps, seed=1))
    fixed = sum(_run("fixed", steps, seed=1))
    print(f"cumulative regret: thompson {sum(thompson):.0f}, uniform {uniform:.0f}, fixed rule {fixed:.0f}")
    assert sum(thompson) < uniform
    assert sum(thompson) < fixed
    # and it learns: the last 500 decisions cost far less per decision than the first 500
    assert sum(thompson[-500:]) < 0.5 * sum(thompson[:500])


def test_do_nothing_wins_when_every_action_loses_money() -> None:
    arms = [Arm(k, value=1.0, cost=5.0, posterior=ActionPosterior.prior(3, base_rate=0.2)) for k in ("a", "b")]
    for seed in range(50):
        choice = choose(arms, [1.0, 0.0, 0.0], seed=seed)
        assert choice.chosen == DO_NOTHING
        assert all(score.sampled_priority < 0 for score in choice.scores)


def test_same_seed_same_choice_and_propensity() -> None:
    arms = [Arm(k, VALUES[k], COSTS[k], ActionPosterior.prior(3, base_rate=0.2)) for k in TRUE_WEIGHTS]
    first = choose(arms, [1.0, 0.3, -0.2], seed=1234)
    second = choose(arms, [1.0, 0.3, -0.2], seed=1234)
    assert first == second
    assert 0 < first.propensity <= 1


def test_propensity_matches_the_choice_frequency() -> None:
    arms = [Arm(k, 10.0, 0.0, ActionPosterior.prior(3, base_rate=0.3)) for k in ("a", "b", "c")]
    x = [1.0, 0.0, 0.0]
    choices = [choose(arms, x, seed=s, propensity_draws=64) for s in range(600)]
    share_a = sum(c.chosen == "a" for c in choices) / len(choices)
    mean_logged = float(np.mean([c.propensity for c in choices if c.chosen == "a"]))
    assert share_a == pytest.approx(1 / 3, abs=0.06)
    assert mean_logged == pytest.approx(share_a, abs=0.06)


def test_posterior_learns_the_true_rate() -> None:
    rng = np.random.default_rng(0)
    posterior = ActionPosterior.prior(1)
    for _ in range(3000):
        posterior = posterior.update(np.array([1.0]), float(rng.random() < 0.2))
    assert posterior.expected_probability(np.array([1.0])) == pytest.approx(0.2, abs=0.02)


def test_posterior_state_round_trips() -> None:
    posterior = ActionPosterior.prior(3).update(np.array([1.0, 0.5, -0.5]), 1.0)
    again = ActionPosterior.from_state(posterior.to_state())
    assert np.allclose(again.mean, posterior.mean) and np.allclose(again.precision, posterior.precision)


def test_the_in_place_sampler_draws_bit_for_bit_what_the_plain_formula_does() -> None:
    """Stored decisions replay from their seed: the sampler's arithmetic must not drift."""
    import numpy as np

    from decisions.bandit import _sample_priorities, _sigmoid

    for seed in range(10):
        rng = np.random.default_rng(seed)
        means, stds = rng.normal(size=50) * 3, rng.random(50) * 4
        values, costs = rng.random(50) * 50, rng.random(50)
        sampled = _sample_priorities(means, stds, values, costs, rng=np.random.default_rng(100 + seed), draws=257)
        logits = means + np.random.default_rng(100 + seed).standard_normal((257, 50)) * stds
        plain = _sigmoid(logits) * values - costs
        assert (sampled == plain).all()


def test_winners_are_what_argmax_picks_with_do_nothing_as_a_last_zero_column() -> None:
    """The choice and the propensity count the same winners as before the do-nothing column
    was dropped from the matrix: positive maxima, all-negative rows, ties at exactly 0, NaN."""
    import numpy as np

    from decisions.bandit import _winners

    rng = np.random.default_rng(7)
    rows = rng.normal(size=(400, 6)) - 0.5
    rows[0] = [-1.0, -2.0, -0.5, -3.0, -1.0, -0.1]  # nothing beats doing nothing
    rows[1] = [-1.0, 0.0, 0.0, -3.0, -1.0, -0.1]  # a tie at 0: the first arm at 0, as argmax would
    rows[2] = [-1.0, np.nan, 2.0, -3.0, -1.0, -0.1]  # argmax takes the first NaN
    rows[3] = [0.5, 0.5, 0.2, -3.0, -1.0, -0.1]  # a tie above 0: the first
    with_nothing = np.hstack([rows, np.zeros((rows.shape[0], 1))])
    assert (_winners(rows) == np.argmax(with_nothing, axis=1)).all()
    assert list(_winners(rows[:4])) == [6, 1, 1, 0]
