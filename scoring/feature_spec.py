"""Model inputs: which numbers a model reads from a person's real-time features, and their names in
plain words.

A model never reads the event store at serving time. It reads ``PersonFeatures``: the output of
``profiles.features.features_compute`` for one person at one moment (the same function serves the
golden record and replays history for training sets, so training and serving agree), plus the
time of the person's first order (BG/NBD needs it; it is kept in the feature state).

A feature key is one of ``BASE_FEATURES`` or ``count:<event name>:<window>`` (``24h``, ``7d``,
``30d``, ``total``). Every feature is a raw number (capped, missing replaced) and a transform
(``log1p`` or ``identity``); ``FeatureSpec.vector`` returns the transformed vector in spec order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

DAY = 86400.0
WINDOWS: tuple[str, ...] = ("24h", "7d", "30d")
WINDOW_WORDS = {"1h": "the last hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days", "total": "total"}
NOT_MODEL_INPUTS = frozenset({"$identify", "$alias", "$group"})  # bookkeeping calls, not behaviour
RECENCY_CAP_DAYS = 365.0


@dataclass(frozen=True, slots=True)
class PersonFeatures:
    """What a model reads about one person at one moment."""

    profile_id: str
    as_of: float  # epoch seconds the features were computed for
    computed: Mapping[str, Any]  # profiles.features.features_compute(...) at ``as_of``
    first_order_at: float | None  # epoch seconds of the person's first order, None without one
    last_event_at: float | None = None  # newest event folded into the features (leakage checks)


def first_order_at(state: Mapping[str, Any] | None, order_events: Sequence[str]) -> float | None:
    """The first order's time from a feature state (``names[<order event>].first``)."""
    if not state:
        return None
    names = state.get("names") or {}
    found = [entry["first"] for name in order_events if (entry := names.get(name)) and entry.get("first") is not None]
    return float(min(found)) if found else None


def parse_iso(value: Any) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class FeatureDef:
    key: str
    transform: str = "log1p"  # or "identity"
    cap: float | None = None
    missing: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "transform": self.transform, "cap": self.cap, "missing": self.missing}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureDef:
        transform = str(data["transform"])
        if transform not in ("log1p", "identity"):
            raise ValueError(f"unknown transform {transform!r}")
        cap = data.get("cap")
        return cls(
            key=str(data["key"]),
            transform=transform,
            cap=None if cap is None else float(cap),
            missing=float(data.get("missing", 0.0)),
        )


BASE_FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("recency_days", cap=RECENCY_CAP_DAYS, missing=RECENCY_CAP_DAYS),
    FeatureDef("days_since_last_order", cap=RECENCY_CAP_DAYS, missing=RECENCY_CAP_DAYS),
    FeatureDef("has_ordered", transform="identity"),
    FeatureDef("orders_total"),
    FeatureDef("orders_30d"),
    FeatureDef("revenue_30d"),
    FeatureDef("average_order_value"),
    FeatureDef("active_days_30d", transform="identity"),
    FeatureDef("sessions_total"),
    FeatureDef("events_total"),
    FeatureDef("tenure_days", cap=3650.0),
    FeatureDef("top_affinity"),
)
RECENCY_ONLY: tuple[FeatureDef, ...] = (BASE_FEATURES[0],)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    return float(value)


def _base_reader(key: str) -> Callable[[PersonFeatures], float | None]:  # noqa: PLR0911 - one branch per feature
    if key == "recency_days":
        return lambda p: _number(p.computed.get("days_since_last_seen"))
    if key == "days_since_last_order":
        return lambda p: _number(p.computed.get("days_since_last_order"))
    if key == "has_ordered":
        return lambda p: 1.0 if (p.computed.get("orders_total") or 0) > 0 else 0.0
    if key in ("orders_total", "orders_30d", "revenue_30d", "average_order_value", "active_days_30d"):
        return lambda p: _number(p.computed.get(key))
    if key == "sessions_total":
        return lambda p: _number(p.computed.get("sessions_total"))
    if key == "events_total":
        return lambda p: _number(p.computed.get("events_total"))
    if key == "tenure_days":

        def tenure(p: PersonFeatures) -> float | None:
            first = parse_iso(p.computed.get("first_seen_at"))
            return None if first is None else max(0.0, (p.as_of - first) / DAY)

        return tenure
    if key == "top_affinity":
        return lambda p: max((p.computed.get("category_affinity") or {}).values(), default=0.0)
    raise ValueError(f"unknown feature {key!r}")


def _count_reader(name: str, window: str) -> Callable[[PersonFeatures], float | None]:
    def read(p: PersonFeatures) -> float | None:
        row = (p.computed.get("event_counts") or {}).get(name)
        return float(row.get(window, 0)) if row else 0.0

    return read


def count_key(name: str, window: str) -> str:
    return f"count:{name}:{window}"


def _reader(key: str) -> Callable[[PersonFeatures], float | None]:
    if key.startswith("count:"):
        name, _, window = key[len("count:") :].rpartition(":")
        if not name or window not in WINDOW_WORDS:
            raise ValueError(f"bad count feature {key!r}")
        return _count_reader(name, window)
    return _base_reader(key)


def event_noun(name: str, count: float) -> str:
    one = round(count) == 1
    if name == "$page":
        return "page view" if one else "page views"
    if name == "$screen":
        return "screen view" if one else "screen views"
    return f"“{name}” event" if one else f"“{name}” events"


def days_phrase(value: float) -> str:
    if value < 1:
        hours = value * 24
        return "under an hour" if hours < 1 else f"{hours:.0f} hours"
    return f"{value:.0f} day" if round(value) == 1 else f"{value:.0f} days"


def describe(key: str, raw: float | None) -> str:  # noqa: PLR0911, PLR0912 - one phrase per feature
    """A feature's raw value in plain words (no transform, before capping)."""
    if key.startswith("count:"):
        name, _, window = key[len("count:") :].rpartition(":")
        count = raw or 0.0
        suffix = "in total" if window == "total" else f"in {WINDOW_WORDS[window]}"
        return f"{count:.0f} {event_noun(name, count)} {suffix}"
    if key == "recency_days":
        return "never active" if raw is None else f"last active {days_phrase(raw)} ago"
    if key == "days_since_last_order":
        return "no order yet" if raw is None else f"last order {days_phrase(raw)} ago"
    if key == "has_ordered":
        return "has ordered before" if raw else "has never ordered"
    if key == "orders_total":
        return f"{raw or 0:.0f} orders in total"
    if key == "orders_30d":
        return f"{raw or 0:.0f} orders in 30 days"
    if key == "revenue_30d":
        return f"{raw or 0:,.2f} spent in 30 days"
    if key == "average_order_value":
        return "no average order value yet" if not raw else f"average order {raw:,.2f}"
    if key == "active_days_30d":
        return f"active on {raw or 0:.0f} of the last 30 days"
    if key == "sessions_total":
        return f"{raw or 0:.0f} visits in total"
    if key == "events_total":
        return f"{raw or 0:.0f} events in total"
    if key == "tenure_days":
        return "new today" if raw is None else f"known for {days_phrase(raw)}"
    if key == "top_affinity":
        return f"strongest category interest {raw or 0:.1f}"
    return f"{key} = {raw}"


def label(key: str) -> str:
    """A feature's name for tables (drift, model page)."""
    if key.startswith("count:"):
        name, _, window = key[len("count:") :].rpartition(":")
        noun = event_noun(name, 2)
        return f"{noun} ({'total' if window == 'total' else WINDOW_WORDS[window]})"
    return key.replace("_", " ")


class FeatureSpec:
    """An ordered list of features with compiled readers; ``vector`` is the model's input."""

    def __init__(self, features: Sequence[FeatureDef]) -> None:
        if not features:
            raise ValueError("a model needs at least one feature")
        keys = [f.key for f in features]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate feature keys")
        self.features: tuple[FeatureDef, ...] = tuple(features)
        self.keys: tuple[str, ...] = tuple(keys)
        self._readers = [_reader(f.key) for f in self.features]
        self._log = np.array([f.transform == "log1p" for f in self.features])

    def __len__(self) -> int:
        return len(self.features)

    def raw(self, person: PersonFeatures) -> list[float | None]:
        return [read(person) for read in self._readers]

    def vector(self, person: PersonFeatures, raw: Sequence[float | None] | None = None) -> npt.NDArray[np.float64]:
        values = self.raw(person) if raw is None else raw
        out = np.empty(len(self.features), dtype=np.float64)
        for i, (feature, value) in enumerate(zip(self.features, values, strict=True)):
            number = feature.missing if value is None or not math.isfinite(value) else value
            if feature.cap is not None and number > feature.cap:
                number = feature.cap
            out[i] = number
        np.log1p(out, out=out, where=self._log & (out > -1))
        return out

    def matrix(self, people: Sequence[PersonFeatures]) -> npt.NDArray[np.float64]:
        if not people:
            return np.zeros((0, len(self.features)))
        return np.vstack([self.vector(p) for p in people])

    def as_json(self) -> list[dict[str, Any]]:
        return [f.as_json() for f in self.features]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> FeatureSpec:
        return cls([FeatureDef.from_json(item) for item in data])


def spec_for_event_names(names: Sequence[str], *, windows: Sequence[str] = WINDOWS) -> FeatureSpec:
    return FeatureSpec([*BASE_FEATURES, *(FeatureDef(count_key(name, window)) for name in names for window in windows)])


def frequent_event_names(people: Sequence[PersonFeatures], *, limit: int, exclude: Sequence[str] = ()) -> list[str]:
    """The ``limit`` event names most people have done, most common first (ties by name)."""
    seen: dict[str, int] = {}
    skip = NOT_MODEL_INPUTS | set(exclude)
    for person in people:
        for name, row in (person.computed.get("event_counts") or {}).items():
            if name not in skip and row.get("total", 0) > 0:
                seen[name] = seen.get(name, 0) + 1
    return [name for name, _ in sorted(seen.items(), key=lambda item: (-item[1], item[0]))[:limit]]


def mapping_of(spec: FeatureSpec, person: PersonFeatures) -> dict[str, Any]:
    """Raw values by key, for display."""
    return dict(zip(spec.keys, spec.raw(person), strict=True))
