"""Arbitration with exploration: contextual Thompson sampling over per-action models.

Each action keeps a Bayesian logistic regression of P(response | context) with a diagonal
Gaussian posterior (mean ``m``, precision ``q``), updated online after every reward with the
Laplace approximation of Chapelle & Li (2011), "An Empirical Evaluation of Thompson Sampling".

To decide, each eligible action draws weights from its posterior, turns them into a response
probability for this person, and gets ``priority = p x value - cost``. "Do nothing" is always a
candidate with priority 0 (no cost, no attributable reward): an action is chosen only when its
sampled priority is positive and the highest. The probability that the policy would have made
the same choice (its propensity) is estimated by repeating the draw ``propensity_draws`` times
from the same seeded generator, and is logged with the decision so off-policy estimates
(IPS, SNIPS, doubly robust) can be computed later.

Everything is deterministic given the seed, so a stored decision replays exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DO_NOTHING = "do_nothing"
PRIOR_PRECISION = 1.0
NEWTON_STEPS = 8


def _sigmoid(z: FloatArray | float) -> FloatArray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


@dataclass
class ActionPosterior:
    """Diagonal Gaussian posterior over the weights of one action's response model."""

    mean: FloatArray
    precision: FloatArray

    @classmethod
    def prior(cls, dims: int, *, base_rate: float = 0.05, precision: float = PRIOR_PRECISION) -> ActionPosterior:
        return _prior(dims, base_rate, precision)

    @classmethod
    def from_state(cls, state: dict[str, list[float]]) -> ActionPosterior:
        return cls(mean=np.asarray(state["mean"], dtype=np.float64), precision=np.asarray(state["precision"]))

    def to_state(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "precision": [float(v) for v in self.precision]}

    def expected_probability(self, x: FloatArray) -> float:
        # Probit-style correction for posterior uncertainty (MacKay 1992).
        variance = float(np.sum(x * x / self.precision))
        return float(_sigmoid(float(self.mean @ x) / np.sqrt(1.0 + np.pi * variance / 8.0)))

    def update(self, x: FloatArray, reward: float) -> ActionPosterior:
        """Posterior after observing ``reward`` in [0, 1] (response or not) for context ``x``."""
        reward = float(min(1.0, max(0.0, reward)))
        w = self.mean.copy()
        for _ in range(NEWTON_STEPS):
            p = float(_sigmoid(float(w @ x)))
            gradient = self.precision * (w - self.mean) - (reward - p) * x
            hessian_diag = self.precision + p * (1.0 - p) * x * x
            step = gradient / hessian_diag
            w -= step
            if float(np.max(np.abs(step))) < 1e-9:
                break
        p = float(_sigmoid(float(w @ x)))
        return ActionPosterior(mean=w, precision=self.precision + p * (1.0 - p) * x * x)


@functools.lru_cache(maxsize=64)
def _prior(dims: int, base_rate: float, precision: float) -> ActionPosterior:
    """Shared, never mutated: ``update`` returns a new posterior."""
    mean = np.zeros(dims)
    mean[0] = float(np.log(base_rate / (1.0 - base_rate)))  # the first context entry is the constant 1
    mean.setflags(write=False)
    precisions = np.full(dims, precision)
    precisions.setflags(write=False)
    return ActionPosterior(mean=mean, precision=precisions)


# Arm and ArmScore are built once per candidate of every decision: plain dataclasses, because a
# frozen one's __init__ costs three times as much (object.__setattr__ per field). Treat them as
# values all the same.
@dataclass
class Arm:
    key: str
    value: float
    cost: float
    posterior: ActionPosterior


@dataclass
class ArmScore:
    key: str
    expected_probability: float
    sampled_probability: float
    value: float
    cost: float
    expected_priority: float  # with the posterior mean: what the engine believes
    sampled_priority: float  # with this decision's draw: what it acted on


@dataclass(frozen=True)
class Choice:
    chosen: str  # an arm key or DO_NOTHING
    propensity: float
    explored: bool  # the draw chose differently from the posterior means
    scores: list[ArmScore] = field(default_factory=list)


def _sample_priorities(
    means: FloatArray, stds: FloatArray, values: FloatArray, costs: FloatArray, *, rng: np.random.Generator, draws: int
) -> FloatArray:
    """Matrix (draws, arms) of sampled priorities (do-nothing, always 0, is left out: see
    ``_winners``). With a diagonal posterior, w.x is Gaussian with mean m.x and variance sum(x^2/q): one
    normal draw per (draw, arm) is exactly as good as sampling every weight, and far cheaper."""
    # In place on one buffer, with the same operations in the same order as _sigmoid (replays
    # must reproduce every draw bit for bit): the logistic of mean + N(0, 1) x std, x value - cost.
    sampled = rng.standard_normal((draws, means.size))
    sampled *= stds
    sampled += means
    np.clip(sampled, -35.0, 35.0, out=sampled)
    np.negative(sampled, out=sampled)
    np.exp(sampled, out=sampled)
    sampled += 1.0
    np.reciprocal(sampled, out=sampled)
    sampled *= values
    sampled -= costs
    return sampled


def _winners(priorities: FloatArray) -> npt.NDArray[np.intp]:
    """Per row, what ``argmax`` would pick with do-nothing's 0 appended as the last column
    (index ``arms``), without building that matrix: the first maximum when it is not below 0
    (NaN included, as argmax takes the first NaN), else do-nothing."""
    first = priorities.argmax(axis=1)
    best = priorities[np.arange(priorities.shape[0]), first]
    return np.where(best < 0.0, priorities.shape[1], first)


def choose(
    arms: Sequence[Arm],
    x: Sequence[float] | FloatArray,
    *,
    seed: int,
    explore: bool = True,
    propensity_draws: int = 256,
) -> Choice:
    context = np.asarray(x, dtype=np.float64)
    if not arms:
        return Choice(chosen=DO_NOTHING, propensity=1.0, explored=False)
    keys = [arm.key for arm in arms] + [DO_NOTHING]
    # All arms at once: (arms, dims) matrices of posterior means and precisions (np.array of equal
    # rows: what np.stack builds, at a third of its cost).
    mean_matrix = np.array([arm.posterior.mean for arm in arms])
    precision_matrix = np.array([arm.posterior.precision for arm in arms])
    means = mean_matrix @ context
    variances = (precision_matrix**-1) @ (context * context)
    values = np.array([arm.value for arm in arms])
    costs = np.array([arm.cost for arm in arms])
    expected_array = np.asarray(_sigmoid(means / np.sqrt(1.0 + np.pi * variances / 8.0)))  # as expected_probability
    expected_priority = np.append(expected_array * values - costs, 0.0)
    greedy = keys[int(np.argmax(expected_priority))]
    rng = np.random.default_rng(seed)
    if explore:
        sampled = _sample_priorities(means, np.sqrt(variances), values, costs, rng=rng, draws=1 + propensity_draws)
        winners = _winners(sampled)
        decision_row = sampled[0]
        chosen_index = int(winners[0])
        propensity = float(np.count_nonzero(winners[1:] == chosen_index) / propensity_draws)  # as np.mean, bit for bit
        # A choice the extra draws never repeat still had a positive chance: floor at 1/(n+1).
        propensity = max(propensity, 1.0 / (propensity_draws + 1))
    else:
        decision_row = expected_priority
        chosen_index = int(np.argmax(decision_row))
        propensity = 1.0
    # Vectorised, then one conversion to Python floats: these scores are stored with the decision.
    arm_values = values
    safe_values = np.where(arm_values != 0, arm_values, 1.0)
    sampled_p = np.where(arm_values != 0, (decision_row[: len(arms)] + costs) / safe_values, expected_array)
    expected_r, sampled_r, expected_priority_r, sampled_priority_r = np.round(
        np.array([expected_array, sampled_p, expected_priority[: len(arms)], decision_row[: len(arms)]]), 6
    ).tolist()
    scores = [
        ArmScore(
            key=arm.key,
            expected_probability=expected_r[j],
            sampled_probability=sampled_r[j],
            value=arm.value,
            cost=arm.cost,
            expected_priority=expected_priority_r[j],
            sampled_priority=sampled_priority_r[j],
        )
        for j, arm in enumerate(arms)
    ]
    chosen = keys[chosen_index]
    return Choice(chosen=chosen, propensity=round(propensity, 6), explored=chosen != greedy, scores=scores)
