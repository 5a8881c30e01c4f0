"""Real-time features: window counts on time buckets, monetary, affinity decay, session pace,
and the invariants that make them incremental (order-independent, mergeable)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.features import (
    DAY,
    FeatureConfig,
    FeatureEvent,
    features_compute,
    state_apply,
    state_merge,
)
from profiles.models import ProfileFeatures
from profiles.selectors import profile_by_identifier, profile_features
from tests.events.conftest import Tracker

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0
CONFIG = FeatureConfig(
    order_events=frozenset({"Order Completed"}),
    half_life_seconds=7 * DAY,
    affinity_weights={"Product Viewed": 1.0, "Order Completed": 5.0},
    default_affinity_weight=1.0,
    session_gap_seconds=30 * 60,
)


def ev(name: str, ago: float, **properties: Any) -> FeatureEvent:
    return FeatureEvent(name=name, at=NOW - ago, properties=properties, behavioural=not name.startswith("$identify"))


def compute(events: list[FeatureEvent], now: float = NOW) -> dict[str, Any]:
    return features_compute(state_apply(None, events, now=now, config=CONFIG), now=now, config=CONFIG)


def test_sliding_window_counts() -> None:
    events = [ev("Viewed", ago) for ago in (10 * 60, 2 * HOUR, 3 * DAY, 20 * DAY, 40 * DAY)]
    assert compute(events)["event_counts"]["Viewed"] == {"1h": 1, "24h": 2, "7d": 3, "30d": 4, "total": 5}


def test_windows_are_exact_to_their_bucket_size() -> None:
    # The 1 h window is the last 12 five-minute buckets, the current one included: at NOW (on a
    # bucket boundary) it reaches back exactly 55 min, 5 min before NOW it reached back 60 min.
    assert compute([ev("E", 55 * 60)])["event_counts"]["E"]["1h"] == 1
    assert compute([ev("E", 55 * 60 + 1)])["event_counts"]["E"]["1h"] == 0
    assert compute([ev("E", 55 * 60 + 1)], now=NOW - 1)["event_counts"]["E"]["1h"] == 1
    # never more than the window: an event 60 min + 1 s old is never counted
    for now in (NOW - 299, NOW - 150, NOW):
        assert compute([ev("E", HOUR + 1 + (NOW - now))], now=now)["event_counts"]["E"]["1h"] == 0


def test_windows_move_with_read_time() -> None:
    state = state_apply(None, [ev("E", 0)], now=NOW, config=CONFIG)
    counts = features_compute(state, now=NOW + 2 * DAY, config=CONFIG)["event_counts"]["E"]
    assert counts == {"1h": 0, "24h": 0, "7d": 1, "30d": 1, "total": 1}


def test_monetary_and_recency() -> None:
    events = [
        ev("Order Completed", 2 * DAY, revenue=20),
        ev("Order Completed", 40 * DAY, total="30.5"),
        ev("Order Completed", DAY, revenue="n/a", value=None),
        ev("Product Viewed", HOUR, revenue=999),
    ]
    features = compute(events)
    assert features["orders_total"] == 3
    assert features["revenue_total"] == 50.5
    assert features["orders_30d"] == 2 and features["revenue_30d"] == 20.0
    assert features["average_order_value"] == round(50.5 / 3, 2)
    assert features["days_since_last_order"] == 1.0
    assert features["first_order_at"] == "2025-01-29T12:00:00Z"
    assert features["days_since_last_seen"] == round(HOUR / DAY, 4)
    assert features["active_days_30d"] == 3


def test_affinity_halves_every_half_life_and_late_events_count_decayed() -> None:
    assert compute([ev("Product Viewed", 7 * DAY, category="Shoes")])["category_affinity"] == {"shoes": 0.5}
    in_order = compute([ev("Product Viewed", 14 * DAY, category="shoes"), ev("Order Completed", 0, category="shoes")])
    assert in_order["category_affinity"]["shoes"] == pytest.approx(5.25)
    products = compute([ev("Order Completed", 0, products=[{"category": "Books"}, {"category": "Audio"}])])
    assert products["category_affinity"] == {"audio": 5.0, "books": 5.0}
    assert products["top_category"] == "audio"


def test_session_pace() -> None:
    events = [ev("E", 3 * HOUR), ev("E", 10 * 60), ev("E", 6 * 60), ev("E", 60)]
    session = compute(events)["session"]
    assert session["events"] == 3
    assert session["duration_seconds"] == 540.0
    assert session["pace_per_minute"] == round(3 / 9, 4)
    assert session["active"] is True
    assert compute(events)["sessions_total"] == 2


def test_non_behavioural_calls_are_counted_but_not_activity() -> None:
    features = compute([ev("$identify", 60)])
    assert features["event_counts"]["$identify"]["1h"] == 1
    assert features["last_seen_at"] is None and features["session"] is None


def test_features_are_updated_on_ingest_and_readable(tracker: Tracker, workspace: Any, db: None) -> None:
    tracker.post(
        "/v1/track", {"userId": "u", "event": "Order Completed", "properties": {"revenue": 12.5, "category": "Games"}}
    )
    tracker.post("/v1/page", {"userId": "u", "name": "Home"})
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value="u")
    assert profile is not None
    stored = profile.features.computed  # materialised on write for SQL readers
    assert stored["events_total"] == 2 and stored["revenue_total"] == 12.5
    fresh = profile_features(profile=profile)
    assert fresh["event_counts"]["$page"]["1h"] == 1
    assert fresh["top_category"] == "games"


def test_features_are_stored_as_json_text_and_read_back_whole(tracker: Tracker, workspace: Any, db: None) -> None:
    """``state`` and ``computed`` are ``json`` columns (core.fields.JSONTextField): written by
    the ingest upsert, read by the ORM, by SQL key access (insights) and by the decide function."""
    for category in ("Books", "Toys", "Books"):
        tracker.post("/v1/track", {"userId": "j", "event": "Product Viewed", "properties": {"category": category}})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'profiles_profilefeatures' AND column_name IN ('state', 'computed')"
        )
        assert dict(cursor.fetchall()) == {"state": "json", "computed": "json"}
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value="j")
    assert profile is not None
    row = ProfileFeatures.objects.get(profile=profile)
    assert row.state["events"] == 3 and row.computed["events_total"] == 3
    # The text is what Python wrote: keys keep their order (jsonb would sort them by length).
    assert list(row.computed["category_affinity"]) == ["books", "toys"]
    top = ProfileFeatures.objects.filter(profile=profile).values_list("computed__top_category", flat=True)
    assert top.get() == "books"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (computed->>'events_total')::int FROM profiles_profilefeatures WHERE profile_id = %s", [profile.id]
        )
        assert cursor.fetchone() == (3,)
    row.computed = {**row.computed, "note": "é\u2028"}
    row.save(update_fields=["computed"])
    assert ProfileFeatures.objects.get(profile=profile).computed["note"] == "é\u2028"


# ---------------------------------------------------------------- invariants (hypothesis)

event_lists = st.lists(
    st.builds(
        ev,
        name=st.sampled_from(["Order Completed", "Product Viewed", "$page", "$identify"]),
        ago=st.floats(min_value=-3600, max_value=45 * DAY),
        revenue=st.floats(min_value=0, max_value=500),
        category=st.sampled_from(["a", "b", "c"]),
    ),
    max_size=25,
)


def _comparable(features: dict[str, Any]) -> dict[str, Any]:
    return {
        "counts": features["event_counts"],
        "events": features["events_total"],
        "orders": (features["orders_total"], features["orders_30d"]),
        "revenue": (round(features["revenue_total"], 1), round(features["revenue_30d"], 1)),
        "affinity": {k: round(v, 2) for k, v in features["category_affinity"].items()},
        "active_days": features["active_days_30d"],
        "seen": (features["first_seen_at"], features["last_seen_at"]),
    }


@settings(max_examples=150, deadline=None)
@given(events=event_lists, order=st.randoms(use_true_random=False))
def test_one_at_a_time_in_any_order_equals_all_at_once(events: list[FeatureEvent], order: Any) -> None:
    shuffled = list(events)
    order.shuffle(shuffled)
    state = None
    for event in shuffled:  # as separate requests arriving out of order
        state = state_apply(state, [event], now=NOW, config=CONFIG)
    assert _comparable(features_compute(state, now=NOW, config=CONFIG)) == _comparable(compute(events))


@settings(max_examples=150, deadline=None)
@given(events=event_lists, split=st.lists(st.booleans(), min_size=25, max_size=25))
def test_merging_two_peoples_features_equals_one_person(events: list[FeatureEvent], split: list[bool]) -> None:
    left = [e for e, side in zip(events, split, strict=False) if side]
    right = [e for e, side in zip(events, split, strict=False) if not side]
    merged = state_merge(
        state_apply(None, left, now=NOW, config=CONFIG),
        [state_apply(None, right, now=NOW, config=CONFIG)],
        now=NOW,
        config=CONFIG,
    )
    assert _comparable(features_compute(merged, now=NOW, config=CONFIG)) == _comparable(compute(events))
    assert all(math.isfinite(v) for v in features_compute(merged, now=NOW, config=CONFIG)["category_affinity"].values())
