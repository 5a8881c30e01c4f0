"""When a score change is worth telling other apps about: the "score changed" domain event.

Rules come from ``SCORING_SCORE_TRIGGERS``, a list of ``{"kind", "action"?, "threshold"?,
"drop_share"?, "rise_share"?}``:

- ``threshold``: fires ``crossed_above`` when the score moves from below the threshold (or from
  no score at all) to at or above it, and ``crossed_below`` when it moves from at or above to
  below;
- ``drop_share``: fires ``dropped`` when the score falls by at least this share of its previous
  value (``0.3``: CLV down 30 %);
- ``rise_share``: fires ``rose`` when it grows by at least this share.

Higher apps (journeys, support) subscribe to ``SCORE_CHANGED`` in their ``AppConfig.ready``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCORE_CHANGED = "score.changed"
"""payload: {"profile_id", "kind", "action", "old", "new", "model_version_id", "model_version",
"reasons": [{"rule": "crossed_above" | "crossed_below" | "dropped" | "rose", "threshold" | "share"}]}"""


@dataclass(frozen=True)
class ScoreTrigger:
    kind: str
    action: str = ""
    threshold: float | None = None
    drop_share: float | None = None
    rise_share: float | None = None

    @classmethod
    def from_config(cls, item: Mapping[str, Any]) -> ScoreTrigger:
        def number(name: str, low: float, high: float) -> float | None:
            value = item.get(name)
            if value is None:
                return None
            number = float(value)
            if not (math.isfinite(number) and low <= number <= high):
                raise ValueError(f"score trigger {name} must be in [{low}, {high}], got {value!r}")
            return number

        trigger = cls(
            kind=str(item["kind"]),
            action=str(item.get("action", "")),
            threshold=number("threshold", -math.inf, math.inf),
            drop_share=number("drop_share", 0.0, 1.0),
            rise_share=number("rise_share", 0.0, math.inf),
        )
        if trigger.threshold is None and trigger.drop_share is None and trigger.rise_share is None:
            raise ValueError("a score trigger needs a threshold, a drop_share or a rise_share")
        return trigger


def triggers_parse(items: Iterable[Mapping[str, Any]]) -> list[ScoreTrigger]:
    return [ScoreTrigger.from_config(item) for item in items]


def triggers_fired(
    triggers: Sequence[ScoreTrigger], *, kind: str, action: str, old: float | None, new: float
) -> list[dict[str, Any]]:
    """The reasons ``old -> new`` is news, per the triggers for this kind (and action)."""
    reasons: list[dict[str, Any]] = []
    for trigger in triggers:
        if trigger.kind != kind or (trigger.action and trigger.action != action):
            continue
        if trigger.threshold is not None:
            t = trigger.threshold
            if new >= t and (old is None or old < t):
                reasons.append({"rule": "crossed_above", "threshold": t})
            elif new < t and old is not None and old >= t:
                reasons.append({"rule": "crossed_below", "threshold": t})
        if old is not None and old > 0:
            change = (new - old) / old
            if trigger.drop_share is not None and -change >= trigger.drop_share:
                reasons.append({"rule": "dropped", "share": trigger.drop_share, "change": round(change, 4)})
            if trigger.rise_share is not None and change >= trigger.rise_share:
                reasons.append({"rule": "rose", "share": trigger.rise_share, "change": round(change, 4)})
    return reasons
