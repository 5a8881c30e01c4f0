"""Real-time features, maintained incrementally on every event (definitions: docs/features.md).

Everything here is a pure function over a JSON-able ``state`` dict, so the same code updates
features on ingest, merges two people's features, and recomputes values at read time.

Sliding-window counts use time buckets per event name, in three tiers, each trimmed to the
longest window it serves:

====  ===========  ==========  ==================
tier  granularity  kept        serves windows
====  ===========  ==========  ==================
5m    5 minutes    12 buckets  1 h
1h    1 hour       24 buckets  24 h
1d    1 day (UTC)  30 buckets  7 d, 30 d
====  ===========  ==========  ==================

An event lands in the bucket of its own (skew-corrected) timestamp, so late and historical
events are counted in the right place as long as their bucket is still inside the window.
A window of W with granularity g counts the buckets from ``floor(now/g) - W/g + 1`` to the
newest, i.e. it covers between ``W - g`` and ``W`` of history: exact to the bucket size.
Each tier is stored as a dense series ``[first bucket index, count, count, ...]`` (index =
epoch // g), trimmed on every write: O(1) updates, window sums by slicing, compact JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings

STATE_VERSION = 1
TIERS: tuple[tuple[str, int, int], ...] = (("5m", 300, 12), ("1h", 3600, 24), ("1d", 86400, 30))
# Windows and the tier each is read from: 1h <- 5m (12 buckets), 24h <- 1h (24), 7d <- 1d (7), 30d <- 1d (30).
DAY = 86400
_Horizons = dict[str, tuple[int, int]]

MAX_EVENT_NAMES = 100  # per person; the least recently seen names are dropped beyond this
MAX_CATEGORIES = 50  # per person; the weakest affinities are dropped beyond this
MAX_PRODUCTS_SCANNED = 50
MIN_AFFINITY = 1e-3  # decayed scores below this are reported as gone


@dataclass(frozen=True, slots=True)
class FeatureEvent:
    """What the feature engine needs to know about one stored event."""

    name: str  # track: the event name; other calls: "$page", "$screen", "$identify", "$group", "$alias"
    at: float  # event time (skew-corrected), epoch seconds
    properties: Mapping[str, Any]
    behavioural: bool  # track, page and screen: the person did something


@dataclass(frozen=True, slots=True)
class FeatureConfig:
    order_events: frozenset[str]
    half_life_seconds: float
    affinity_weights: Mapping[str, float]
    default_affinity_weight: float
    session_gap_seconds: float


def feature_config() -> FeatureConfig:
    return FeatureConfig(
        order_events=frozenset(getattr(settings, "PROFILE_ORDER_EVENTS", ["Order Completed"])),
        half_life_seconds=float(getattr(settings, "PROFILE_AFFINITY_HALF_LIFE_DAYS", 7.0)) * DAY,
        affinity_weights=dict(getattr(settings, "PROFILE_AFFINITY_WEIGHTS", {})),
        default_affinity_weight=float(getattr(settings, "PROFILE_AFFINITY_DEFAULT_WEIGHT", 1.0)),
        session_gap_seconds=float(getattr(settings, "PROFILE_SESSION_GAP_MINUTES", 30)) * 60,
    )


def state_new() -> dict[str, Any]:
    return {
        "v": STATE_VERSION,
        "events": 0,
        "first": None,
        "last": None,
        "names": {},
        "orders": {"n": 0, "revenue": 0.0, "last": None, "1d": [], "1d_revenue": []},
        "affinity": {},
        "session": None,
        "sessions": 0,
    }


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return _iso(epoch)


@lru_cache(maxsize=4096)  # a batch formats the same as_of and event times many times
def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value) if isinstance(value, int | float | str) else None
    except (ValueError, OverflowError):
        return None
    if number is None or not math.isfinite(number):
        return None
    return number


def order_revenue(properties: Mapping[str, Any]) -> float:
    """Revenue of an order event: ``revenue``, else ``total``, else ``value`` (Segment's
    e-commerce spec); 0 when none is a finite number (the order still counts)."""
    for key in ("revenue", "total", "value"):
        number = _number(properties.get(key))
        if number is not None:
            return number
    return 0.0


def _normalise_category(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()[:100]
    return value or None


def event_categories(properties: Mapping[str, Any]) -> list[str]:
    """``properties.category`` plus ``properties.products[].category`` (first 50 products)."""
    found: list[str] = []
    own = _normalise_category(properties.get("category"))
    if own:
        found.append(own)
    products = properties.get("products")
    if isinstance(products, list):
        for product in products[:MAX_PRODUCTS_SCANNED]:
            if isinstance(product, dict):
                category = _normalise_category(product.get("category"))
                if category and category not in found:
                    found.append(category)
    return found


def _decay(score: float, elapsed: float, half_life: float) -> float:
    return score * math.pow(2.0, -elapsed / half_life) if elapsed > 0 else score


# A *series* is one tier's buckets as a dense list ``[first bucket index, count, count, ...]``
# (index = epoch // granularity): compact JSON, O(1) updates, window sums by slicing.


def _series_add(series: list[float], bucket: int, amount: float) -> list[float]:
    if not series:
        return [bucket, amount]
    base = int(series[0])
    if bucket < base:
        return [bucket, amount, *([0] * (base - bucket - 1)), *series[1:]]
    offset = bucket - base + 1
    if offset >= len(series):
        series.extend([0] * (offset - len(series) + 1))
    series[offset] += amount
    return series


def _series_trim(series: list[float], oldest: int) -> list[float]:
    if not series or series[0] >= oldest:
        return series
    rest = series[1 + oldest - int(series[0]) :]
    while rest and not rest[0]:  # keep the list starting at its first non-empty bucket
        rest = rest[1:]
        oldest += 1
    return [oldest, *rest] if rest else []


def _series_sum(series: list[float], oldest: int) -> float:
    if not series:
        return 0
    return sum(series[1 + max(0, oldest - int(series[0])) :])


def _series_buckets(series: list[float], oldest: int) -> list[int]:
    """Indexes of the non-empty buckets from ``oldest`` on."""
    if not series:
        return []
    base = int(series[0])
    return [base + i for i, value in enumerate(series[1:]) if value and base + i >= oldest]


def _series_merge(mine: list[float], theirs: list[float]) -> list[float]:
    if not theirs:
        return mine
    if not mine:
        return list(theirs)
    base = min(int(mine[0]), int(theirs[0]))
    end = max(int(mine[0]) + len(mine) - 1, int(theirs[0]) + len(theirs) - 1)
    merged: list[float] = [base, *([0] * (end - base))]
    for series in (mine, theirs):
        start = int(series[0]) - base + 1
        for i, value in enumerate(series[1:]):
            merged[start + i] += value
    return merged


def _horizons(now: float) -> dict[str, tuple[int, int]]:
    """Per tier, the bucket range a series keeps: from the oldest bucket any window can still
    need to one window ahead (later events count in lifetime totals only)."""
    return {
        tier: (int(now // granularity) - kept + 1, int(now // granularity) + kept) for tier, granularity, kept in TIERS
    }


def _apply_session(state: dict[str, Any], at: float, gap: float) -> None:
    session = state.get("session")
    if session is None or at > session["last"] + gap:
        state["session"] = {"start": at, "last": at, "n": 1}
        state["sessions"] = state.get("sessions", 0) + 1
    elif at >= session["start"] - gap:
        session["start"] = min(session["start"], at)
        session["last"] = max(session["last"], at)
        session["n"] += 1
    # else: older than the current session; it belonged to a session we no longer track.


def _apply_one(state: dict[str, Any], event: FeatureEvent, config: FeatureConfig, horizons: _Horizons) -> None:
    at = round(event.at, 3)
    state["events"] += 1
    entry = state["names"].get(event.name)
    if entry is None:
        entry = {"n": 0, "first": at, "last": at, "5m": [], "1h": [], "1d": []}
        state["names"][event.name] = entry
    entry["n"] += 1
    entry["first"] = min(entry["first"], at)
    entry["last"] = max(entry["last"], at)
    for tier, granularity, _ in TIERS:
        bucket = int(at // granularity)
        oldest, newest = horizons[tier]
        if oldest <= bucket <= newest:
            entry[tier] = _series_add(entry[tier], bucket, 1)
    if not event.behavioural:
        return
    state["first"] = at if state["first"] is None else min(state["first"], at)
    state["last"] = at if state["last"] is None else max(state["last"], at)
    _apply_session(state, at, config.session_gap_seconds)
    if event.name in config.order_events:
        orders = state["orders"]
        revenue = order_revenue(event.properties)
        orders["n"] += 1
        orders["revenue"] = orders["revenue"] + revenue
        orders["last"] = at if orders["last"] is None else max(orders["last"], at)
        day = int(at // DAY)
        oldest, newest = horizons["1d"]
        if oldest <= day <= newest:
            orders["1d"] = _series_add(orders["1d"], day, 1)
            orders["1d_revenue"] = _series_add(orders["1d_revenue"], day, revenue)
    weight = config.affinity_weights.get(event.name, config.default_affinity_weight)
    if weight > 0:
        for category in event_categories(event.properties):
            score, ref = state["affinity"].get(category, (0.0, at))
            if at >= ref:
                state["affinity"][category] = [_decay(score, at - ref, config.half_life_seconds) + weight, at]
            else:  # a late event adds its own decayed weight; the reference time stays
                state["affinity"][category] = [score + _decay(weight, ref - at, config.half_life_seconds), ref]


def _trim(state: dict[str, Any], now: float, config: FeatureConfig) -> None:
    horizons = _horizons(now)
    for entry in state["names"].values():
        for tier, _, _ in TIERS:
            entry[tier] = _series_trim(entry[tier], horizons[tier][0])
    if len(state["names"]) > MAX_EVENT_NAMES:
        keep = sorted(state["names"].items(), key=lambda item: item[1]["last"], reverse=True)[:MAX_EVENT_NAMES]
        state["names"] = dict(keep)
    orders = state["orders"]
    orders["1d"] = _series_trim(orders["1d"], horizons["1d"][0])
    orders["1d_revenue"] = _series_trim(orders["1d_revenue"], horizons["1d"][0])
    affinity = state["affinity"]
    if len(affinity) > MAX_CATEGORIES:
        ranked = sorted(
            affinity.items(),
            key=lambda item: _decay(item[1][0], now - item[1][1], config.half_life_seconds),
            reverse=True,
        )
        state["affinity"] = dict(ranked[:MAX_CATEGORIES])


def state_apply(
    state: dict[str, Any] | None, events: Iterable[FeatureEvent], *, now: float, config: FeatureConfig
) -> dict[str, Any]:
    """Fold ``events`` (any order) into ``state`` and trim it relative to ``now`` (epoch s).
    ``state`` is updated in place (callers pass a freshly loaded copy) and returned."""
    result: dict[str, Any] = state if state else state_new()
    horizons = _horizons(now)
    for event in sorted(events, key=lambda e: e.at):
        _apply_one(result, event, config, horizons)
    _trim(result, now, config)
    return result


def _merge_names(result: dict[str, Any], other: Mapping[str, Any]) -> None:
    for name, entry in other.get("names", {}).items():
        mine = result["names"].get(name)
        if mine is None:
            result["names"][name] = {k: (list(v) if isinstance(v, list) else v) for k, v in entry.items()}
            continue
        mine["n"] += entry["n"]
        mine["first"] = min(mine["first"], entry["first"])
        mine["last"] = max(mine["last"], entry["last"])
        for tier, _, _ in TIERS:
            mine[tier] = _series_merge(mine[tier], entry.get(tier, []))


def _merge_orders(result: dict[str, Any], other: Mapping[str, Any]) -> None:
    theirs = other.get("orders") or {}
    orders = result["orders"]
    orders["n"] += theirs.get("n", 0)
    orders["revenue"] += theirs.get("revenue", 0.0)
    lasts = [v for v in (orders["last"], theirs.get("last")) if v is not None]
    orders["last"] = max(lasts) if lasts else None
    orders["1d"] = _series_merge(orders["1d"], theirs.get("1d") or [])
    orders["1d_revenue"] = _series_merge(orders["1d_revenue"], theirs.get("1d_revenue") or [])


def _merge_affinity(result: dict[str, Any], other: Mapping[str, Any], half_life: float) -> None:
    for category, (score, ref) in (other.get("affinity") or {}).items():
        if category not in result["affinity"]:
            result["affinity"][category] = [score, ref]
            continue
        my_score, my_ref = result["affinity"][category]
        newest = max(ref, my_ref)
        result["affinity"][category] = [
            _decay(my_score, newest - my_ref, half_life) + _decay(score, newest - ref, half_life),
            newest,
        ]


def _merge_session(result: dict[str, Any], other: Mapping[str, Any], gap: float) -> None:
    result["sessions"] = result.get("sessions", 0) + other.get("sessions", 0)
    theirs, mine = other.get("session"), result.get("session")
    if not theirs:
        return
    if not mine:
        result["session"] = dict(theirs)
        return
    if theirs["start"] <= mine["last"] + gap and mine["start"] <= theirs["last"] + gap:
        # one visit seen under two identities: one session
        result["session"] = {
            "start": min(mine["start"], theirs["start"]),
            "last": max(mine["last"], theirs["last"]),
            "n": mine["n"] + theirs["n"],
        }
        result["sessions"] -= 1
    elif theirs["last"] > mine["last"]:
        result["session"] = dict(theirs)


def state_merge(
    survivor: dict[str, Any] | None, others: Sequence[Mapping[str, Any]], *, now: float, config: FeatureConfig
) -> dict[str, Any]:
    """The features of one person whose events were split over several profiles. ``survivor``
    is updated in place and returned; ``others`` are only read."""
    result: dict[str, Any] = survivor if survivor else state_new()
    for other in others:
        if not other:
            continue
        result["events"] += other.get("events", 0)
        for key, pick in (("first", min), ("last", max)):
            values = [v for v in (result.get(key), other.get(key)) if v is not None]
            result[key] = pick(values) if values else None
        _merge_names(result, other)
        _merge_orders(result, other)
        _merge_affinity(result, other, config.half_life_seconds)
        _merge_session(result, other, config.session_gap_seconds)
    _trim(result, now, config)
    return result


def features_compute(state: Mapping[str, Any] | None, *, now: float, config: FeatureConfig) -> dict[str, Any]:
    """The feature values of ``state`` as of ``now`` (epoch seconds). See docs/features.md."""
    state = state or state_new()
    oldest = {tier: start for tier, (start, _) in _horizons(now).items()}
    oldest_week = int(now // DAY) - 7 + 1
    counts: dict[str, dict[str, int]] = {}
    active_days: set[int] = set()
    for name, entry in state["names"].items():
        days = entry["1d"]
        counts[name] = {
            "1h": int(_series_sum(entry["5m"], oldest["5m"])),
            "24h": int(_series_sum(entry["1h"], oldest["1h"])),
            "7d": int(_series_sum(days, oldest_week)),
            "30d": int(_series_sum(days, oldest["1d"])),
            "total": entry["n"],
        }
        if not name.startswith("$") or name in ("$page", "$screen"):
            active_days.update(_series_buckets(days, oldest["1d"]))
    orders = state["orders"]
    orders_30d = _series_sum(orders["1d"], oldest["1d"])
    revenue_30d = _series_sum(orders["1d_revenue"], oldest["1d"])
    affinity = {
        category: round(decayed, 4)
        for category, (score, ref) in state["affinity"].items()
        if (decayed := _decay(score, now - ref, config.half_life_seconds)) >= MIN_AFFINITY
    }
    affinity = dict(sorted(affinity.items(), key=lambda item: (-item[1], item[0])))
    session = state.get("session")
    session_values: dict[str, Any] | None = None
    if session:
        duration = max(0.0, session["last"] - session["start"])
        session_values = {
            "started_at": iso(session["start"]),
            "last_event_at": iso(session["last"]),
            "events": session["n"],
            "duration_seconds": round(duration, 3),
            "pace_per_minute": round(session["n"] / max(duration / 60.0, 1.0), 4),
            "active": now - session["last"] <= config.session_gap_seconds,
        }
    last, last_order = state.get("last"), orders.get("last")
    order_firsts = [e["first"] for name in config.order_events if (e := state["names"].get(name)) is not None]
    return {
        "as_of": iso(now),
        "events_total": state["events"],
        "first_seen_at": iso(state.get("first")),
        "last_seen_at": iso(last),
        "days_since_last_seen": round((now - last) / DAY, 4) if last is not None else None,
        "event_counts": counts,
        "active_days_30d": len(active_days),
        "orders_total": orders["n"],
        "orders_30d": int(orders_30d),
        "revenue_total": round(orders["revenue"], 2),
        "revenue_30d": round(revenue_30d, 2),
        "average_order_value": round(orders["revenue"] / orders["n"], 2) if orders["n"] else None,
        "first_order_at": iso(min(order_firsts)) if order_firsts else None,
        "last_order_at": iso(last_order),
        "days_since_last_order": round((now - last_order) / DAY, 4) if last_order is not None else None,
        "category_affinity": affinity,
        "top_category": next(iter(affinity), None),
        "sessions_total": state.get("sessions", 0),
        "session": session_values,
    }
