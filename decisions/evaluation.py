"""Off-policy evaluation of a candidate policy on the decisions the live policy logged.

For every usable logged decision we know the reward observed, the live policy's probability of
what it did (``Decision.propensity``) and, from the stored snapshot, what the candidate would
have seen. The candidate's probability of doing the same thing is estimated like the engine
estimates its own propensity: by repeated Thompson draws, here ``DRAWS`` of them from a
generator seeded by the decision id, so an evaluation is reproducible.

The candidate is applied to the stored snapshot as follows:

- its choice set is the actions that survived eligibility and guardrails for the live policy
  (``Decision.candidates``), restricted to the candidate's ``action_keys``; guardrails judge one
  action at a time, so restricting the set cannot let an action through that they removed.
  Actions outside the live policy's set were never scored and so cannot be evaluated;
- each action's value is recomputed from the snapshot and multiplied by the candidate's weight;
- its ``context_features`` build the context vector; an arm whose stored posterior has another
  size starts from the prior, exactly as the engine does when a policy's context changes;
- ``explore=False`` makes the choice greedy on the posterior means (probability 0 or 1).

The reward model for doubly robust is deliberately simple: the mean observed reward per action
key over the logs (do-nothing earns 0).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Workspace
from decisions.bandit import DO_NOTHING, ActionPosterior
from decisions.engine import Snapshot, action_value, context_vector
from decisions.models import Decision, DecisionStatus, Outcome, Policy, PolicyStatus, Trigger
from decisions.ope import Estimate, LoggedOutcome, evaluate_all
from decisions.snapshots import snapshot_restore

DRAWS = 512
LOGGED_STATUSES = (DecisionStatus.ACTED, DecisionStatus.APPROVED, DecisionStatus.NOTHING)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PolicyEvaluation:
    candidate_key: str
    candidate_version: int
    live_key: str
    live_version: int
    n: int
    estimates: list[Estimate]
    live: Estimate | None
    effective_sample_size: float
    agreement: float  # share of logged decisions where the candidate's most likely choice is the logged one
    verdict: str
    since: datetime | None = None
    headline: str = "DR"
    action_counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def estimate(e: Estimate) -> dict[str, Any]:
            return {
                "method": e.method,
                "value": _finite(e.value),
                "low": _finite(e.low),
                "high": _finite(e.high),
                "n": e.n,
                "effective_sample_size": round(e.effective_sample_size, 2),
            }

        return {
            "candidate": {"key": self.candidate_key, "version": self.candidate_version},
            "live": {"key": self.live_key, "version": self.live_version},
            "n": self.n,
            "effective_sample_size": round(self.effective_sample_size, 2),
            "agreement": round(self.agreement, 4),
            "estimates": [estimate(e) for e in self.estimates],
            "live_observed": estimate(self.live) if self.live else None,
            "headline": self.headline,
            "verdict": self.verdict,
            "since": self.since.isoformat() if self.since else None,
            "logged_actions": self.action_counts,
        }


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def _seed(decision_id: Any) -> int:
    return int.from_bytes(hashlib.sha256(f"ope:{decision_id}".encode()).digest()[:8], "big")


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0))), dtype=np.float64)


def candidate_distribution(
    snapshot: Snapshot,
    survivors: Sequence[str],
    *,
    candidate: Policy,
    seed: int,
    draws: int = DRAWS,
) -> dict[str, float]:
    """The candidate's probability of each choice (action keys and DO_NOTHING) on this snapshot."""
    allowed = set(candidate.action_keys or [])
    specs = {a.key: a for a in snapshot.actions}
    keys = [k for k in survivors if k in specs and (not allowed or k in allowed)]
    if not keys:
        return {DO_NOTHING: 1.0}
    features = list(candidate.context_features or [])
    x = np.asarray(context_vector(_with_features(snapshot, features)), dtype=np.float64)
    weights = candidate.weights or {}
    values = np.array([action_value(specs[k], snapshot.data) * float(weights.get(k, 1.0)) for k in keys])
    costs = np.array([specs[k].cost for k in keys])
    means = np.empty(len(keys))
    variances = np.empty(len(keys))
    for j, key in enumerate(keys):
        state = snapshot.arms.get(key)
        posterior = ActionPosterior.from_state(dict(state)) if state else ActionPosterior.prior(x.size)
        if posterior.mean.size != x.size:
            posterior = ActionPosterior.prior(x.size)
        means[j] = float(posterior.mean @ x)
        variances[j] = float(np.sum(x * x / posterior.precision))
    labels = [*keys, DO_NOTHING]
    if not candidate.explore:
        expected = _sigmoid(means / np.sqrt(1.0 + np.pi * variances / 8.0)) * values - costs
        return {labels[int(np.argmax(np.append(expected, 0.0)))]: 1.0}
    rng = np.random.default_rng(seed)
    logits = means + rng.standard_normal((draws, len(keys))) * np.sqrt(variances)
    priorities = np.zeros((draws, len(keys) + 1))
    priorities[:, :-1] = _sigmoid(logits) * values - costs
    counts = np.bincount(np.argmax(priorities, axis=1), minlength=len(labels))
    return {label: float(c) / draws for label, c in zip(labels, counts, strict=True) if c}


def _with_features(snapshot: Snapshot, features: list[str]) -> Snapshot:
    from dataclasses import replace

    return replace(snapshot, context_features=features)


def live_policy_for(workspace: Workspace) -> tuple[str, int]:
    live = Policy.objects.filter(workspace=workspace, status=PolicyStatus.LIVE).first()
    return (live.key, live.version) if live else ("default", 0)


def logged_decisions(
    *, workspace: Workspace, policy_key: str, since: datetime | None = None, limit: int = 20000
) -> list[Decision]:
    """The live policy's decisions whose rewards are final: shown or silent (not held out, not
    shadow, not dry runs), with attribution closed or older than the attribution window."""
    window = timedelta(hours=float(getattr(settings, "DECISIONS_ATTRIBUTION_HOURS", 72)))
    settled = Q(attribution_closed=True) | Q(created_at__lte=timezone.now() - window)
    rows = (
        Decision.objects.filter(
            workspace=workspace,
            policy_key=policy_key,
            status__in=LOGGED_STATUSES,
            holdout=False,
            shadow=False,
        )
        .exclude(trigger=Trigger.DRY_RUN)
        .filter(settled)
        .only("id", "chosen_key", "status", "propensity", "inputs", "candidates", "created_at")
        .order_by("-created_at")
    )
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return list(rows[: max(0, int(limit))])


def observed_reward(decision: Decision, outcome_total: float) -> float:
    if not decision.chosen_key or decision.status == DecisionStatus.NOTHING:
        return 0.0
    # The chosen action's cost as scored when deciding (every candidate's score carries it).
    scored = [c for c in decision.candidates or [] if isinstance(c, Mapping)]
    cost = next((float(c.get("cost", 0.0)) for c in scored if c.get("key") == decision.chosen_key), 0.0)
    return outcome_total - cost


def _mean_interval(method: str, values: FloatArray) -> Estimate:
    n = values.size
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return Estimate(method, mean, mean - 1.96 * se, mean + 1.96 * se, n, float(n))


def policy_evaluate(
    *, workspace: Workspace, candidate: Policy, since: datetime | None = None, limit: int = 20000
) -> PolicyEvaluation:
    live_key, live_version = live_policy_for(workspace)
    decisions = logged_decisions(workspace=workspace, policy_key=live_key, since=since, limit=limit)
    totals: dict[Any, float] = {
        row["decision_id"]: float(row["total"] or 0.0)
        for row in Outcome.objects.filter(decision_id__in=[d.id for d in decisions])
        .values("decision_id")
        .annotate(total=Sum("reward"))
    }
    logged: list[tuple[str, float, float, dict[str, float]]] = []  # (choice, reward, propensity, candidate dist)
    for decision in decisions:
        snapshot_json = (decision.inputs or {}).get("snapshot")
        if not snapshot_json or not decision.propensity or decision.propensity <= 0:
            continue
        snapshot = snapshot_restore(snapshot_json)
        choice = decision.chosen_key or DO_NOTHING
        survivors = [str(c["key"]) for c in decision.candidates or [] if isinstance(c, Mapping) and "key" in c]
        distribution = candidate_distribution(snapshot, survivors, candidate=candidate, seed=_seed(decision.id))
        reward = observed_reward(decision, totals.get(decision.id, 0.0))
        logged.append((choice, reward, min(1.0, float(decision.propensity)), distribution))
    counts: dict[str, int] = defaultdict(int)
    for choice, *_ in logged:
        counts[choice] += 1
    if not logged:
        return PolicyEvaluation(
            candidate_key=candidate.key,
            candidate_version=candidate.version,
            live_key=live_key,
            live_version=live_version,
            n=0,
            estimates=[],
            live=None,
            effective_sample_size=0.0,
            agreement=0.0,
            verdict="No logged decisions of the live policy have settled rewards yet, so there is nothing to "
            "evaluate on. Decisions count once their attribution window has closed.",
            since=since,
            action_counts={},
        )
    sums: dict[str, float] = defaultdict(float)
    for choice, reward, _, _ in logged:
        sums[choice] += reward
    reward_model = {k: (sums[k] / counts[k] if k != DO_NOTHING else 0.0) for k in counts}
    records = [
        LoggedOutcome(
            reward=reward,
            logged_propensity=propensity,
            target_probability=distribution.get(choice, 0.0),
            predicted_reward=reward_model.get(choice, 0.0),
            predicted_target_reward=sum(p * reward_model.get(k, 0.0) for k, p in distribution.items()),
        )
        for choice, reward, propensity, distribution in logged
    ]
    estimates = evaluate_all(records)
    live = _mean_interval("Live (observed)", np.array([r.reward for r in records]))
    agreement = float(np.mean([max(d, key=lambda k: d[k]) == choice for choice, _, _, d in logged]))
    headline = next(e for e in estimates if e.method == "DR")
    return PolicyEvaluation(
        candidate_key=candidate.key,
        candidate_version=candidate.version,
        live_key=live_key,
        live_version=live_version,
        n=len(records),
        estimates=estimates,
        live=live,
        effective_sample_size=headline.effective_sample_size,
        agreement=agreement,
        verdict=verdict(headline, live, n=len(records)),
        since=since,
        action_counts=dict(counts),
    )


def verdict(estimate: Estimate, live: Estimate, *, n: int) -> str:
    sentence = (
        f"The candidate would earn {estimate.value:.2f} per decision ({estimate.method}) against "
        f"{live.value:.2f} for the live policy"
    )
    if estimate.low > live.high:
        sentence += "; the intervals do not overlap, so it is better on these logs."
    elif estimate.high < live.low:
        sentence += "; the intervals do not overlap, so it is worse on these logs."
    else:
        better = "better" if estimate.value > live.value else "worse" if estimate.value < live.value else "different"
        sentence += f"; the intervals overlap, so not proven {better}."
    if n and estimate.effective_sample_size < max(30.0, 0.1 * n):
        sentence += (
            f" Only about {estimate.effective_sample_size:.0f} of the {n} logged decisions carry weight "
            "(the candidate rarely does what the live policy did), so treat this with caution."
        )
    return sentence
