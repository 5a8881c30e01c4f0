"""Insights selectors on known data: every number is worked out by hand in the test."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from decisions.models import Decision, DecisionStatus, Outcome
from insights.selectors import (
    action_reward_lifts,
    cohort_retention,
    decision_allocation,
    decision_latency,
    funnel,
    policy_reward_lifts,
    rfm_grid,
)
from insights.services import rollups_rebuild
from profiles.models import Profile
from tests.decisions.conftest import person
from tests.events.conftest import tracker, write_key  # noqa: F401 - shared fixtures
from tests.factories import make_workspace


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def send(tracker, user: str, kind: str, at: datetime, event: str = "", **properties) -> None:  # noqa: F811
    body = {"userId": user, "messageId": str(uuid.uuid4()), "timestamp": _iso(at), "properties": properties}
    if kind == "track":
        body["event"] = event
    response = tracker.post(f"/v1/{kind}", body)
    assert response.status_code == 200, response.content


def decision(workspace, profile: Profile, key: str, status: str, *, at=None, latency=10.0, policy="main") -> Decision:
    return Decision.objects.create(
        workspace=workspace,
        profile=profile,
        policy_key=policy,
        policy_version=1,
        trigger="api",
        status=status,
        chosen_key=key,
        propensity=0.5,
        seed=1,
        inputs={},
        explanation="Test.",
        latency_ms=latency,
        created_at=at or timezone.now(),
    )


def outcome(d: Decision, kind: str, reward: float) -> None:
    Outcome.objects.create(
        workspace=d.workspace, decision=d, kind=kind, reward=reward, value=Decimal(str(reward)) if reward else None,
        source="api", ref=str(uuid.uuid4()), occurred_at=d.created_at,
    )  # fmt: skip


@pytest.fixture
def owner(workspace):
    return workspace.memberships.get(role="owner").user


@pytest.mark.django_db
def test_funnel_counts_people_who_did_each_step_and_all_before_it(workspace, tracker, owner) -> None:  # noqa: F811
    now = timezone.now() - timedelta(hours=1)
    steps = [("page", ""), ("track", "Product Viewed"), ("track", "Product Added"), ("track", "Checkout Started"),
             ("track", "Order Completed")]  # fmt: skip
    # given ana went all the way, bo stopped at the cart, cy at a product, di at a page,
    # and ed viewed a product without any page view (he never entered the funnel)
    for user, reached in (("ana", 5), ("bo", 3), ("cy", 2), ("di", 1)):
        for kind, event in steps[:reached]:
            send(tracker, user, kind, now, event)
    send(tracker, "ed", "track", now, "Product Viewed")
    send(tracker, "old", "page", now - timedelta(days=40))  # outside the window
    rollups_rebuild(workspace=workspace)  # the worker folds events in; here, from the log (test_rollups.py)
    # when the funnel of the last 30 days is read
    result = funnel(actor=owner, workspace=workspace, since=timezone.now() - timedelta(days=30))
    # then each step counts the people who did it and every step before it
    assert [s.people for s in result] == [4, 3, 2, 1, 1]
    assert [s.of_previous for s in result] == [None, 0.75, 0.6667, 0.5, 1.0]
    assert [s.of_first for s in result] == [1.0, 0.75, 0.5, 0.25, 0.25]


@pytest.mark.django_db
def test_cohorts_group_people_by_first_week_and_count_later_activity(workspace, tracker, owner) -> None:  # noqa: F811
    today = timezone.now().astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    week0 = today - timedelta(days=today.weekday() + 14)  # a Monday two weeks before this week's
    # given ana and bo first came in week 0, ana came back in weeks 1 and 2, bo in week 2;
    # cy first came in week 1 and came back in week 2
    for user, weeks in (("ana", (0, 1, 2)), ("bo", (0, 2)), ("cy", (1, 2))):
        for week in weeks:
            send(tracker, user, "page", week0 + timedelta(days=7 * week, hours=1))
    rollups_rebuild(workspace=workspace)
    # when the cohorts are read
    cohorts = cohort_retention(actor=owner, workspace=workspace, since=week0 - timedelta(days=1))
    # then
    assert [c.week.date() for c in cohorts] == [week0.date(), (week0 + timedelta(days=7)).date()]
    assert [(c.size, c.active) for c in cohorts] == [(2, [2, 1, 2]), (1, [1, 1])]
    assert cohorts[0].retention == [1.0, 0.5, 1.0]


@pytest.mark.django_db
def test_rfm_puts_customers_in_recency_and_frequency_quintiles_with_mean_revenue(workspace, tracker, owner) -> None:  # noqa: F811
    now = timezone.now()
    # given five customers: c1 ordered once yesterday ... c5 five times, last five days ago; 10 per order
    for i in range(1, 6):
        for n in range(i):
            send(tracker, f"c{i}", "track", now - timedelta(days=i, hours=n), "Order Completed", revenue=10)
    send(tracker, "browser", "page", now)  # no order: not a customer
    # when the grid is read
    rollups_rebuild(workspace=workspace)  # what the ingest worker does on each batch
    rfm = rfm_grid(actor=owner, workspace=workspace)
    # then the most recent buyer has the fewest orders and vice versa
    assert rfm.customers == 5
    assert [(c.recency, c.frequency, c.people, c.monetary) for c in rfm.cells] == [
        (5, 1, 1, 10.0), (4, 2, 1, 20.0), (3, 3, 1, 30.0), (2, 4, 1, 40.0), (1, 5, 1, 50.0)
    ]  # fmt: skip
    grid = rfm.grid()
    assert grid[0][0] is not None and grid[0][0].frequency == 5 and grid[0][0].recency == 1
    assert grid[0][4] is None


@pytest.mark.django_db
def test_reward_lift_per_action_and_policy_with_interval(workspace, tracker, owner) -> None:  # noqa: F811
    send(tracker, "ana", "page", timezone.now())
    ana = person(workspace, "ana")
    # given promo shown three times (rewards 10, 0 and 20 + an open) and held out twice (5 and 0)
    shown = [decision(workspace, ana, "promo", DecisionStatus.ACTED) for _ in range(3)]
    held = [decision(workspace, ana, "promo", DecisionStatus.HELD_OUT) for _ in range(2)]
    outcome(shown[0], "converted", 10)
    outcome(shown[2], "converted", 20)
    outcome(shown[2], "opened", 0)
    outcome(held[0], "converted", 5)
    decision(workspace, ana, "", DecisionStatus.NOTHING)  # silence is neither arm
    decision(workspace, ana, "promo", DecisionStatus.SHADOW)  # neither is a shadow decision
    # when the reward lifts are read
    (promo,) = action_reward_lifts(actor=owner, workspace=workspace)
    # then means 10 and 2.5, sample variances 100 and 12.5: se = sqrt(100/3 + 12.5/2)
    se = math.sqrt(100 / 3 + 12.5 / 2)
    assert (promo.key, promo.shown, promo.held_out) == ("promo", 3, 2)
    assert (promo.shown_conversions, promo.held_out_conversions) == (2, 1)
    assert (promo.shown_reward, promo.held_out_reward, promo.difference) == (10.0, 2.5, 7.5)
    assert promo.low == round(7.5 - 1.96 * se, 4) and promo.high == round(7.5 + 1.96 * se, 4)
    (main,) = policy_reward_lifts(actor=owner, workspace=workspace)
    assert (main.key, main.shown, main.held_out, main.difference) == ("main", 3, 2, 7.5)


@pytest.mark.django_db
def test_allocation_counts_decisions_per_action_per_bucket_with_gaps(workspace, tracker, owner) -> None:  # noqa: F811
    send(tracker, "ana", "page", timezone.now())
    ana = person(workspace, "ana")
    start = (timezone.now() - timedelta(hours=1)).replace(second=10, microsecond=0)
    # given two promo decisions and one silence in minute 0, nothing in minute 1, a help in minute 2
    for key, minute in (("promo", 0), ("promo", 0), ("", 0), ("help", 2)):
        decision(workspace, ana, key, DecisionStatus.ACTED if key else DecisionStatus.NOTHING,
                 at=start + timedelta(minutes=minute))  # fmt: skip
    # when the allocation of the last day is read (a span under three hours: per minute)
    allocation = decision_allocation(actor=owner, workspace=workspace, since=timezone.now() - timedelta(days=1))
    # then every minute from the first to the last is there, the empty one included
    assert allocation.bucket == "minute"
    assert [t - allocation.times[0] for t in allocation.times] == [timedelta(minutes=m) for m in range(3)]
    assert allocation.series == {"help": [0, 0, 1], "nothing": [1, 0, 0], "promo": [2, 0, 0]}
    assert allocation.totals == [3, 0, 1]
    hourly = decision_allocation(actor=owner, workspace=workspace, since=start - timedelta(days=1), bucket="hour")
    assert hourly.bucket == "hour" and sum(hourly.totals) == 4


@pytest.mark.django_db
def test_latency_histogram_percentiles_and_throughput(workspace, tracker, owner) -> None:  # noqa: F811
    send(tracker, "ana", "page", timezone.now())
    ana = person(workspace, "ana")
    start = timezone.now() - timedelta(minutes=30)
    # given five decisions over ten minutes taking 3, 7, 15, 250 and 2000 ms
    for i, ms in enumerate((3, 7, 15, 250, 2000)):
        decision(workspace, ana, "promo", DecisionStatus.ACTED, latency=ms, at=start + timedelta(minutes=2.5 * i))
    # when read
    latency = decision_latency(actor=owner, workspace=workspace, since=start - timedelta(minutes=1))
    # then each falls in its bucket and the median is the middle one
    assert dict(zip(latency.labels, latency.counts, strict=True)) == {
        "0-5 ms": 1, "5-10 ms": 1, "10-20 ms": 1, "20-50 ms": 0, "50-100 ms": 0, "100-200 ms": 0,
        "200-500 ms": 1, "500-1000 ms": 0, "≥ 1000 ms": 1,
    }  # fmt: skip
    assert (latency.total, latency.p50) == (5, 15.0)
    assert latency.per_minute == 0.5  # five decisions from the first to the last, ten minutes apart


@pytest.mark.django_db
def test_empty_workspace_reads_as_empty_not_as_errors(workspace, owner) -> None:
    since = timezone.now() - timedelta(days=30)
    assert [s.people for s in funnel(actor=owner, workspace=workspace, since=since)] == [0, 0, 0, 0, 0]
    assert cohort_retention(actor=owner, workspace=workspace, since=since) == []
    assert rfm_grid(actor=owner, workspace=workspace).customers == 0
    assert decision_allocation(actor=owner, workspace=workspace, since=since).times == []
    assert decision_latency(actor=owner, workspace=workspace, since=since).total == 0
    assert action_reward_lifts(actor=owner, workspace=workspace) == []


@pytest.mark.django_db
def test_an_outsider_cannot_read_another_workspaces_insights(workspace) -> None:
    outsider = make_workspace(name="Other").memberships.get(role="owner").user
    with pytest.raises(PermissionDenied):
        funnel(actor=outsider, workspace=workspace, since=timezone.now() - timedelta(days=1))


@pytest.mark.django_db
def test_rfm_keeps_equal_order_counts_in_one_frequency_quintile(workspace, tracker, owner) -> None:  # noqa: F811
    now = timezone.now()
    # given three one-order customers and one with three orders
    for i in range(3):
        send(tracker, f"once{i}", "track", now - timedelta(days=i + 1), "Order Completed", revenue=10)
    for n in range(3):
        send(tracker, "loyal", "track", now - timedelta(days=5, hours=n), "Order Completed", revenue=10)
    # then the one-order customers share frequency quintile 1 and the loyal one (percent rank 1) is in 5
    rollups_rebuild(workspace=workspace)  # what the ingest worker does on each batch
    rfm = rfm_grid(actor=owner, workspace=workspace)
    frequency = sorted((c.frequency, c.people) for c in rfm.cells)
    assert frequency == [(1, 1), (1, 1), (1, 1), (5, 1)]
