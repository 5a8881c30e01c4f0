"""The decision engine: from a person and a context to the next best action (or silence).

Pure given its inputs: ``decide`` reads only the ``Snapshot`` it is given, so a stored
decision's snapshot replays to the same result (``decisions.services.decision_replay``).
Loading the snapshot from the database is ``decisions.services``' job.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from decisions.bandit import DO_NOTHING, ActionPosterior, Arm, choose
from decisions.conditions import ConditionError, compile_condition
from decisions.explanations import Signal, Suppressed, explain
from decisions.guardrails import (
    BrandSafety,
    CandidateAction,
    ContactLog,
    ContactPolicy,
    PersonState,
    Removal,
    Suppression,
    apply_guardrails,
)
from decisions.holdout import in_holdout

PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_]+)+)(?:\|([^}]*))?\}")
DEFAULT_CONTEXT_FEATURES = ("scores.conversion", "scores.churn")


@dataclass(frozen=True)
class ActionSpec:
    key: str
    name: str
    channel: str
    kind: str
    subject: str
    content: str
    value_model: str
    value_amount: float
    value_share: float
    value_expression: str
    cost: float
    discount_percent: float | None
    eligibility: str
    risk_tier: str
    autonomy: str
    weight: float = 1.0


@dataclass(frozen=True)
class Snapshot:
    """Everything a decision reads. Stored with the decision as its ``inputs``."""

    person: str  # a display name for the sentence
    data: Mapping[str, Any]  # {"traits", "features", "scores", "context", "profile"}
    actions: Sequence[ActionSpec]
    arms: Mapping[str, Mapping[str, list[float]]]  # action key -> posterior state
    consent: Mapping[str, bool]
    timezone: str
    contacts: Sequence[tuple[str, str]]  # (channel, iso time)
    suppressions: Sequence[Mapping[str, Any]]
    contact_policy: Mapping[str, Any]
    brand_safety: Mapping[str, Any]
    policy_key: str
    policy_version: int
    explore: bool
    holdout_share: float
    holdout_key: str
    context_features: Sequence[str]
    signals: Sequence[Mapping[str, Any]] = ()
    now: str = ""

    def to_json(self, *, actions_ref: str | None = None) -> dict[str, Any]:
        """JSON-safe. With ``actions_ref``, the action specs are stored elsewhere under that name
        (decisions.snapshots.catalog_snapshot_store) and only the name is included."""
        # Shallow copies instead of dataclasses.asdict, which deep-copies recursively (slow with 50 actions).
        data = dict(vars(self))
        if actions_ref is None:
            data["actions"] = [dict(vars(action)) for action in self.actions]
        else:
            del data["actions"]
            data["actions_ref"] = actions_ref
        data["contacts"] = [list(c) for c in self.contacts]
        data["signals"] = [dict(s) for s in self.signals]
        data["suppressions"] = [dict(s) for s in self.suppressions]
        data["arms"] = {k: dict(v) for k, v in self.arms.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        values = dict(data)
        values["actions"] = [ActionSpec(**a) for a in values["actions"]]
        values["contacts"] = [tuple(c) for c in values["contacts"]]
        return cls(**values)


@dataclass(frozen=True)
class Outcome:
    chosen: ActionSpec | None
    propensity: float
    explored: bool
    holdout: bool
    needs_approval: bool
    candidates: list[dict[str, Any]]
    removals: list[Removal]
    context_vector: list[float]
    rendered: dict[str, str]
    explanation: str
    reasons: dict[str, Any] = field(default_factory=dict)


def lookup(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _lookup_path(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@functools.lru_cache(maxsize=4096)
def _template(text: str) -> tuple[tuple[str, tuple[str, ...] | None, str], ...]:
    """``text`` split once into (literal, placeholder path or None, fallback) parts."""
    parts: list[tuple[str, tuple[str, ...] | None, str]] = []
    last = 0
    for match in PLACEHOLDER.finditer(text):
        parts.append((text[last : match.start()], tuple(match.group(1).split(".")), match.group(2) or ""))
        last = match.end()
    parts.append((text[last:], None, ""))
    return tuple(parts)


_MESSAGES: dict[tuple[str, str], str] = {}


def _message(action: ActionSpec) -> str:
    """Subject and body as one template (what brand safety reads): the same string object for the
    same texts, so the template cache finds it by its cached hash, not by hashing a new string."""
    key = (action.subject, action.content)
    found = _MESSAGES.get(key)
    if found is None:
        if len(_MESSAGES) > 4096:
            _MESSAGES.clear()
        found = _MESSAGES[key] = f"{action.subject}\n{action.content}"
    return found


def render(text: str, data: Mapping[str, Any]) -> str:
    """Fill ``{traits.first_name|there}`` placeholders; the part after | is the fallback."""
    parts = _template(text or "")
    if len(parts) == 1:  # no placeholder
        return parts[0][0]
    out: list[str] = []
    for literal, path, fallback in parts:
        out.append(literal)
        if path is not None:
            value = _lookup_path(data, path)
            out.append(fallback if value is None or value == "" else str(value))
    return "".join(out)


def action_value(action: ActionSpec, data: Mapping[str, Any]) -> float:
    if action.value_model == "clv_share":
        clv = lookup(data, "scores.clv")
        return float(clv) * action.value_share if isinstance(clv, int | float) else action.value_amount
    if action.value_model == "expression" and action.value_expression:
        try:
            result = compile_condition(action.value_expression).evaluate(data)
        except ConditionError:
            return 0.0
        return float(result) if isinstance(result, int | float) and not isinstance(result, bool) else 0.0
    return action.value_amount


def context_vector(snapshot: Snapshot) -> list[float]:
    features = snapshot.context_features or DEFAULT_CONTEXT_FEATURES
    vector = [1.0]
    for name in features:
        value = lookup(snapshot.data, name)
        vector.append(float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0)
    return vector


def needs_approval(action: ActionSpec) -> bool:
    if action.risk_tier == "high":
        return True
    if action.risk_tier == "medium":
        return action.autonomy not in ("act_alone", "act_and_notify")
    return action.autonomy == "always_ask"


def _person_state(snapshot: Snapshot) -> PersonState:
    return PersonState(
        consent=snapshot.consent,
        timezone=snapshot.timezone,
        contacts=ContactLog([(ch, datetime.fromisoformat(at)) for ch, at in snapshot.contacts]),
        suppressions=[
            Suppression(
                reason=s["reason"],
                until=datetime.fromisoformat(s["until"]),
                kinds=s["kinds"],
                channels=s.get("channels") or (),
            )
            for s in snapshot.suppressions
        ],
    )


def _contact_policy(config: Mapping[str, Any]) -> ContactPolicy:
    from datetime import time

    defaults = ContactPolicy()
    quiet_start = config.get("quiet_start", defaults.quiet_start.isoformat() if defaults.quiet_start else None)
    quiet_end = config.get("quiet_end", defaults.quiet_end.isoformat() if defaults.quiet_end else None)
    return ContactPolicy(
        per_channel_day=config.get("per_channel_day", defaults.per_channel_day),
        per_channel_week=config.get("per_channel_week", defaults.per_channel_week),
        overall_day=int(config.get("overall_day", defaults.overall_day)),
        overall_week=int(config.get("overall_week", defaults.overall_week)),
        quiet_start=time.fromisoformat(quiet_start) if quiet_start else None,
        quiet_end=time.fromisoformat(quiet_end) if quiet_end else None,
        quiet_channels=tuple(config.get("quiet_channels", defaults.quiet_channels)),
    )


def _brand_safety(config: Mapping[str, Any]) -> BrandSafety:
    ceiling = config.get("max_discount_percent")
    return BrandSafety(
        banned_phrases=tuple(config.get("banned_phrases", ())),
        max_discount_percent=float(ceiling) if ceiling is not None else None,
        required_text=dict(config.get("required_text", {})),
    )


def decide(snapshot: Snapshot, *, seed: int, now: datetime) -> Outcome:
    data = snapshot.data
    removals: list[Removal] = []
    eligible: list[ActionSpec] = []
    for action in snapshot.actions:
        try:
            ok = compile_condition(action.eligibility)(data)
        except ConditionError:
            ok = False
        if ok:
            eligible.append(action)
        else:
            removals.append(Removal(action.key, "eligibility", f"not eligible: {action.eligibility}"))
    rendered_text = {a.key: render(_message(a), data) for a in eligible}
    candidates = [
        CandidateAction(
            a.key, channel=a.channel, kind=a.kind, content=rendered_text[a.key], discount_percent=a.discount_percent
        )
        for a in eligible
    ]
    kept, guard_removals = apply_guardrails(
        candidates,
        _person_state(snapshot),
        policy=_contact_policy(snapshot.contact_policy),
        brand=_brand_safety(snapshot.brand_safety),
        now=now,
    )
    removals.extend(guard_removals)
    by_key = {a.key: a for a in eligible}
    x = context_vector(snapshot)
    arms = []
    for candidate in kept:
        spec = by_key[candidate.key]
        state = snapshot.arms.get(spec.key)
        posterior = ActionPosterior.from_state(dict(state)) if state else ActionPosterior.prior(len(x))
        if posterior.mean.size != len(x):  # the policy's context changed: start this arm afresh
            posterior = ActionPosterior.prior(len(x))
        arms.append(Arm(spec.key, action_value(spec, data) * spec.weight, spec.cost, posterior))
    choice = choose(arms, np.asarray(x), seed=seed, explore=snapshot.explore)
    chosen = by_key.get(choice.chosen) if choice.chosen != DO_NOTHING else None
    holdout = chosen is not None and in_holdout(
        salt=snapshot.policy_key, person_key=snapshot.holdout_key, share=snapshot.holdout_share
    )
    approval = chosen is not None and needs_approval(chosen)
    ranked = sorted(choice.scores, key=lambda s: -s.sampled_priority)
    runner_up = next((s for s in ranked if s.key != choice.chosen), None)
    signals = [Signal(str(s["text"]), float(s.get("weight", 1.0))) for s in snapshot.signals]
    suppressed_names = {a.key: a.name for a in snapshot.actions}
    suppressed = [
        Suppressed(suppressed_names.get(r.action, r.action), r.reason) for r in removals if r.guardrail != "eligibility"
    ]
    chosen_score = next((s for s in choice.scores if s.key == choice.chosen), None)
    sentence = explain(
        person=snapshot.person,
        action_name=chosen.name if chosen else None,
        action_kind=chosen.kind if chosen else "offer",
        signals=signals,
        suppressed=suppressed,
        runner_up=by_key[runner_up.key].name if runner_up and chosen and runner_up.sampled_priority > 0 else None,
        margin=(chosen_score.sampled_priority - runner_up.sampled_priority) if chosen_score and runner_up else None,
        holdout=holdout,
        needs_approval=approval,
    )
    rendered: dict[str, str] = {}
    if chosen:
        rendered = {
            "channel": chosen.channel,
            "subject": render(chosen.subject, data),
            "body": render(chosen.content, data),
        }
    return Outcome(
        chosen=chosen,
        propensity=choice.propensity,
        explored=choice.explored,
        holdout=holdout,
        needs_approval=approval,
        candidates=[vars(s).copy() for s in choice.scores],
        removals=removals,
        context_vector=x,
        rendered=rendered,
        explanation=sentence,
        reasons={
            "signals": [dict(vars(s)) for s in signals],  # flat dataclasses: no deep copy needed
            # (the removals are stored once, as the decision's ``guardrails``)
            "runner_up": runner_up.key if runner_up else None,
            "do_nothing_priority": 0.0,
        },
    )
