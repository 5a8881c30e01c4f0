"""One plain sentence per decision, built from the structured reasons stored with it.

"Offered in-app checkout help to Ana because 3 payment failures in 10 minutes and CLV in the
top 5%; weekly promo email suppressed for 48 h after a payment failure; doing nothing scored lower."
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

VERBS = {
    "offer": "Offered",
    "message": "Sent",
    "service": "Offered",
    "retention": "Offered",
    "sales": "Routed",
}


@dataclass(frozen=True)
class Signal:
    """A fact that pushed the decision, in words, with how much it mattered (for ordering)."""

    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class Suppressed:
    action_name: str
    reason: str


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def explain(
    *,
    person: str,
    action_name: str | None,
    action_kind: str = "offer",
    signals: Sequence[Signal] = (),
    suppressed: Sequence[Suppressed] = (),
    runner_up: str | None = None,
    margin: float | None = None,
    holdout: bool = False,
    needs_approval: bool = False,
    max_signals: int = 3,
) -> str:
    top = [s.text for s in sorted(signals, key=lambda s: -abs(s.weight))[:max_signals]]
    because = f" because {_join(top)}" if top else ""
    if action_name is None:
        head = f"Did nothing for {person}"
        tail = ["no action's expected value beat doing nothing"]
    else:
        verb = VERBS.get(action_kind, "Chose")
        head = f"{verb} {action_name} to {person}" if verb != "Routed" else f"Routed {person} to {action_name}"
        if needs_approval:
            head = f"Proposed {action_name} for {person} (waiting for approval)"
        tail = []
        if runner_up and margin is not None:
            tail.append(f"it beat {runner_up} by {margin:.2f} in expected value")
        tail.append("doing nothing scored lower")
    if holdout:
        head += " (holdout: decided but not sent)"
    clauses = [head + because]
    clauses += [
        f"{s.action_name} {s.reason}" if not s.reason.startswith(s.action_name) else s.reason for s in suppressed[:2]
    ]
    if len(suppressed) > 2:
        clauses.append(f"{len(suppressed) - 2} more suppressed")
    clauses += tail
    return "; ".join(clauses) + "."
