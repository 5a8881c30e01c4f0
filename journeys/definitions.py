"""What a signal definition and a playbook step may say, checked on save with clear errors.

Signal definitions by kind::

    event_count   {"event": "payment_failed", "count": 3, "window_minutes": 10}
    trait_change  {"trait": "plan", "to": "free"?, "from": "gold"?}
    score_change  {"score": "clv", "rule": "dropped", "share": 0.3}
                  {"score": "churn", "rule": "above", "threshold": 0.7}   # rules: above, below, dropped, rose
    absence       {"event": "login", "days": 14}

Playbook steps (in order; each may add "risk_tier": low | medium | high, "autonomy":
act_alone | act_and_notify | always_ask, and "key", the action key in the decision log)::

    {"type": "suppress", "event": "payment_failed"}     # opens the guardrails' suppression rule for that event
    {"type": "in_app", "subject": ..., "body": ..., "link_url"?: ..., "link_label"?: ...}
    {"type": "ticket", "subject": ..., "body": ..., "tags": [...]}
    {"type": "webhook", "endpoint": "erp", "event_type": "cart.hold", "data": {...}}

Text fields take ``{traits.first_name|there}`` and ``{context.payment_summary}`` placeholders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from decisions.conditions import ConditionError, compile_condition

SCORE_KINDS = ("conversion", "churn", "clv", "response")
SCORE_RULES = ("above", "below", "dropped", "rose")
RISK_TIERS = ("low", "medium", "high")
AUTONOMY = ("act_alone", "act_and_notify", "always_ask")
MAX_WINDOW_MINUTES = 60 * 24 * 90


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        return None
    return float(value)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _event_count_errors(definition: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not _text(definition.get("event")):
        errors["definition.event"] = "name the event to count, e.g. payment_failed"
    count = _number(definition.get("count"))
    if count is None or count != int(count) or not 1 <= count <= 10000:
        errors["definition.count"] = "must be a whole number from 1 to 10000"
    window = _number(definition.get("window_minutes"))
    if window is None or not 0 < window <= MAX_WINDOW_MINUTES:
        errors["definition.window_minutes"] = f"must be minutes above 0 and at most {MAX_WINDOW_MINUTES} (90 days)"
    return errors


def _trait_change_errors(definition: Mapping[str, Any]) -> dict[str, str]:
    if not _text(definition.get("trait")):
        return {"definition.trait": "name the trait to watch, e.g. plan"}
    return {}


def _score_change_errors(definition: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if definition.get("score") not in SCORE_KINDS:
        errors["definition.score"] = f"use one of {', '.join(SCORE_KINDS)}"
    rule = definition.get("rule")
    if rule not in SCORE_RULES:
        errors["definition.rule"] = f"use one of {', '.join(SCORE_RULES)}"
    elif rule in ("above", "below") and _number(definition.get("threshold")) is None:
        errors["definition.threshold"] = f"'{rule}' needs a threshold, e.g. 0.7"
    elif rule in ("dropped", "rose"):
        share = _number(definition.get("share"))
        high = 1.0 if rule == "dropped" else 100.0
        if share is None or not 0 < share <= high:
            errors["definition.share"] = f"'{rule}' needs a share above 0 and at most {high:g}, e.g. 0.3 for 30 %"
    return errors


def _absence_errors(definition: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not _text(definition.get("event")):
        errors["definition.event"] = "name the event whose absence matters, e.g. login"
    days = _number(definition.get("days"))
    if days is None or not 0 < days <= 3650:
        errors["definition.days"] = "must be a number of days above 0 and at most 3650"
    return errors


_KIND_CHECKS = {
    "event_count": _event_count_errors,
    "trait_change": _trait_change_errors,
    "score_change": _score_change_errors,
    "absence": _absence_errors,
}


def signal_errors(kind: str, definition: Any, condition: str) -> dict[str, str]:
    """Field -> message for everything wrong; keys are ``definition.<name>`` or ``condition``."""
    if not isinstance(definition, Mapping):
        return {"definition": 'must be an object such as {"event": "payment_failed", "count": 3}'}
    check = _KIND_CHECKS.get(kind)
    errors = check(definition) if check else {"kind": "use one of event_count, trait_change, score_change, absence"}
    if condition.strip():
        try:
            compile_condition(condition)
        except ConditionError as exc:
            errors["condition"] = str(exc)
    return errors


def _one_step_errors(step: Mapping[str, Any], endpoint_keys: Sequence[str] | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    kind = step.get("type")
    if step.get("risk_tier", "low") not in RISK_TIERS:
        errors["risk_tier"] = f"use one of {', '.join(RISK_TIERS)}"
    if step.get("autonomy", "act_alone") not in AUTONOMY:
        errors["autonomy"] = f"use one of {', '.join(AUTONOMY)}"
    if kind == "suppress" and not _text(step.get("event")):
        errors["event"] = "name the suppression rule's event, e.g. payment_failed"
    elif kind == "in_app" and not _text(step.get("body")) and not _text(step.get("content_block")):
        errors["body"] = "write the message, or name a content block"
    elif kind == "ticket":
        if not _text(step.get("subject")):
            errors["subject"] = "give the ticket a subject"
        tags = step.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            errors["tags"] = "must be a list of tags"
    elif kind == "webhook":
        errors.update(_webhook_step_errors(step, endpoint_keys))
    elif kind not in ("suppress", "in_app"):
        errors["type"] = "use one of suppress, in_app, ticket, webhook"
    return errors


def _webhook_step_errors(step: Mapping[str, Any], endpoint_keys: Sequence[str] | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    endpoint = _text(step.get("endpoint"))
    if not endpoint:
        errors["endpoint"] = "name the webhook endpoint's key, e.g. erp"
    elif endpoint_keys is not None and endpoint not in endpoint_keys:
        errors["endpoint"] = f"no webhook endpoint '{endpoint}' yet; add it under Delivery"
    if not _text(step.get("event_type")):
        errors["event_type"] = "name the event type the receiver gets, e.g. cart.hold"
    if not isinstance(step.get("data", {}), Mapping):
        errors["data"] = "must be an object"
    return errors


def step_errors(steps: Any, *, endpoint_keys: Sequence[str] | None = None) -> dict[str, str]:
    """Field -> message per step (``steps.<n>.<field>``, n from 1)."""
    if not isinstance(steps, list) or not steps:
        return {"steps": 'give at least one step, e.g. [{"type": "suppress", "event": "payment_failed"}]'}
    if len(steps) > 20:
        return {"steps": "at most 20 steps"}
    errors: dict[str, str] = {}
    for number, step in enumerate(steps, start=1):
        if not isinstance(step, Mapping):
            errors[f"steps.{number}"] = "each step is an object with a type"
            continue
        errors.update({f"steps.{number}.{k}": v for k, v in _one_step_errors(step, endpoint_keys).items()})
    return errors


def needs_approval(step: Mapping[str, Any]) -> bool:
    """The engine's rule for actions: high risk always asks; medium asks unless allowed to act."""
    tier = step.get("risk_tier", "low")
    autonomy = step.get("autonomy", "act_alone")
    if tier == "high":
        return True
    if tier == "medium":
        return autonomy not in ("act_alone", "act_and_notify")
    return autonomy == "always_ask"


def score_rule_matches(definition: Mapping[str, Any], old: float | None, new: float) -> bool:
    rule = definition.get("rule")
    if rule == "above":
        threshold = float(definition["threshold"])
        return new > threshold and (old is None or old <= threshold)
    if rule == "below":
        threshold = float(definition["threshold"])
        return new < threshold and (old is None or old >= threshold)
    if old is None or old <= 0:
        return False
    change = (new - old) / old
    if rule == "dropped":
        return -change >= float(definition["share"])
    if rule == "rose":
        return change >= float(definition["share"])
    return False
