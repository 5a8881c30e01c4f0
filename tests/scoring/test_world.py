"""The generated world: deterministic, valid Segment messages, and behaviour that follows its
ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy.stats import spearmanr

from events.validation import validate_batch
from simulator.world import CANCEL_EVENT, DAY_SECONDS, ORDER_EVENT, WorldConfig, world_generate

END = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def world():
    return world_generate(WorldConfig(people=300, days=90, seed=3, end=END))


def test_same_config_gives_the_same_messages_and_another_seed_does_not() -> None:
    config = WorldConfig(people=40, days=30, seed=5, end=END)
    first, again = world_generate(config), world_generate(config)
    other = world_generate(WorldConfig(people=40, days=30, seed=6, end=END))
    assert first.messages == again.messages
    assert [p.base_intent for p in first.people] == [p.base_intent for p in again.people]
    assert first.messages != other.messages


def test_messages_are_valid_segment_calls_in_time_order_inside_the_world(world) -> None:
    messages, errors = validate_batch({"batch": world.messages[:2500]}, received_at=END)
    assert errors == []
    assert len(messages) == 2500
    times = [m.timestamp for m in messages]
    assert times == sorted(times)
    assert world.start <= times[0] and times[-1] <= END
    assert len({m["messageId"] for m in world.messages}) == len(world.messages)


def test_keener_people_buy_more(world) -> None:
    intent = [p.base_intent for p in world.people]
    orders = [len(p.order_times) for p in world.people]
    correlation, p_value = spearmanr(intent, orders)
    assert correlation > 0.3 and p_value < 1e-6


def test_orders_in_messages_are_the_ground_truth_orders(world) -> None:
    by_person: dict[str, int] = {}
    for message in world.messages:
        if message.get("event") == ORDER_EVENT:
            by_person[message["anonymousId"].replace("anon2-", "anon-")] = (
                by_person.get(message["anonymousId"].replace("anon2-", "anon-"), 0) + 1
            )
    assert sum(by_person.values()) == sum(len(p.order_times) for p in world.people)
    for person in world.people[:50]:
        assert by_person.get(person.anonymous_id, 0) == len(person.order_times)


def test_people_are_silent_after_they_churn_and_some_say_so(world) -> None:
    last_seen: dict[str, float] = {}
    for message in world.messages:
        at = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")).timestamp()
        key = message["anonymousId"].replace("anon2-", "anon-")
        last_seen[key] = max(last_seen.get(key, 0.0), at)
    churned = [p for p in world.people if p.churn_day is not None]
    assert len(churned) > 50
    for person in churned:
        if person.anonymous_id in last_seen:
            end_of_last_day = world.day_start(person.churn_day + 1).timestamp()
            assert last_seen[person.anonymous_id] <= end_of_last_day
        assert not person.active_on(person.churn_day + 1)
    cancels = [m for m in world.messages if m.get("event") == CANCEL_EVENT]
    assert len(cancels) == sum(p.cancelled for p in world.people) > 0


def test_in_market_days_bring_more_visits(world) -> None:
    """Browsing follows latent intent: days with above-median intent have more events per person."""
    events_per_day: dict[tuple[int, int], int] = {}
    index = {p.anonymous_id: p.index for p in world.people}
    index.update({p.second_anonymous_id: p.index for p in world.people if p.second_anonymous_id})
    start = world.start.timestamp()
    for message in world.messages:
        at = datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")).timestamp()
        key = (index[message["anonymousId"]], int((at - start) // DAY_SECONDS))
        events_per_day[key] = events_per_day.get(key, 0) + 1
    high: list[int] = []
    low: list[int] = []
    for person in world.people:
        deviations = [(d, z - person.base_intent) for d in range(90) if (z := person.intent_on(d)) is not None]
        for day, deviation in deviations:
            (high if deviation > 0 else low).append(events_per_day.get((person.index, day), 0))
    assert np.mean(high) > 1.2 * np.mean(low)


def test_second_devices_log_in_so_profiles_can_merge(world) -> None:
    logins = [m for m in world.messages if m["type"] == "identify" and m["anonymousId"].startswith("anon2-")]
    assert logins
    for login in logins:
        assert login["userId"].startswith("user-")


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WorldConfig(end=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="cancel_share"):
        WorldConfig(cancel_share=1.5)
    assert world_generate(WorldConfig(people=3, days=2, seed=1, end=END)).end == END
    assert world_generate(WorldConfig(people=3, days=2, seed=1, end=END)).start == END - timedelta(days=2)
