"""Off-policy evaluation: how would a candidate policy have done on decisions the live policy logged?

Each logged record has the reward observed, the live policy's probability of the action it
took (``logged_propensity``), the candidate's probability of that same action
(``target_probability``), and for doubly robust a reward model's prediction for the logged
action (``predicted_reward``) and its expectation under the candidate (``predicted_target_reward``).

- IPS: mean of w * r with w = target / logged (unbiased, high variance);
- SNIPS: sum(w * r) / sum(w) (self-normalised: small bias, much lower variance);
- DR: mean of predicted_target_reward + w * (r - predicted_reward) (unbiased when either the
  propensities or the reward model are right).

Intervals are normal approximations (1.96 standard errors); SNIPS uses the delta method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoggedOutcome:
    reward: float
    logged_propensity: float
    target_probability: float
    predicted_reward: float = 0.0
    predicted_target_reward: float = 0.0


@dataclass(frozen=True)
class Estimate:
    method: str
    value: float
    low: float
    high: float
    n: int
    effective_sample_size: float


def _arrays(records: Sequence[LoggedOutcome]) -> tuple[np.ndarray, np.ndarray]:
    if not records:
        raise ValueError("off-policy evaluation needs at least one logged decision")
    propensities = np.array([r.logged_propensity for r in records], dtype=np.float64)
    if np.any(propensities <= 0) or np.any(propensities > 1):
        raise ValueError("logged propensities must be in (0, 1]")
    weights = np.array([r.target_probability for r in records]) / propensities
    rewards = np.array([r.reward for r in records], dtype=np.float64)
    return weights, rewards


def _ess(weights: np.ndarray) -> float:
    total = float(np.sum(weights))
    squares = float(np.sum(weights**2))
    return total * total / squares if squares else 0.0


def _interval(method: str, values: np.ndarray, weights: np.ndarray) -> Estimate:
    n = values.size
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return Estimate(method, mean, mean - 1.96 * se, mean + 1.96 * se, n, _ess(weights))


def ips(records: Sequence[LoggedOutcome]) -> Estimate:
    weights, rewards = _arrays(records)
    return _interval("IPS", weights * rewards, weights)


def snips(records: Sequence[LoggedOutcome]) -> Estimate:
    weights, rewards = _arrays(records)
    total = float(np.sum(weights))
    if total == 0:
        return Estimate("SNIPS", 0.0, 0.0, 0.0, rewards.size, 0.0)
    value = float(np.sum(weights * rewards) / total)
    n = rewards.size
    # Delta method: Var ~ sum(w^2 (r - value)^2) / (sum w)^2
    se = math.sqrt(float(np.sum(weights**2 * (rewards - value) ** 2))) / total if n > 1 else float("inf")
    return Estimate("SNIPS", value, value - 1.96 * se, value + 1.96 * se, n, _ess(weights))


def doubly_robust(records: Sequence[LoggedOutcome]) -> Estimate:
    weights, rewards = _arrays(records)
    predicted = np.array([r.predicted_reward for r in records])
    predicted_target = np.array([r.predicted_target_reward for r in records])
    return _interval("DR", predicted_target + weights * (rewards - predicted), weights)


def evaluate_all(records: Sequence[LoggedOutcome]) -> list[Estimate]:
    return [ips(records), snips(records), doubly_robust(records)]
