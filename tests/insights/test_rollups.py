"""The funnel and cohort rollups, fed event by event by the ingest worker, give the same numbers
as a from-scratch scan of the event log (the queries the page used to run), including late
events, a merge of two profiles and a redelivered notification."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.utils import timezone

from cep.celery import app as celery_app
from core.domain_events import EVENT_INGESTED, DomainEvent
from events.models import Event
from insights.models import CohortPair, Customer, PersonSteps, PersonWeek, PersonWeekChange
from insights.selectors import FUNNEL_STEPS, cohort_cells_scan, cohort_retention, funnel, rfm_grid
from insights.services import BEHAVIOURAL, cohort_pairs_compact, customers_refresh, rollups_rebuild, week_of
from insights.subscribers import on_events_ingested
from profiles.models import Profile, ProfileFeatures
from tests.events.conftest import tracker, write_key  # noqa: F401 - shared fixtures


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _post(tracker, kind: str, at: datetime, event: str = "", **ids: str) -> None:  # noqa: F811
    body: dict[str, Any] = {"messageId": str(uuid.uuid4()), "timestamp": _iso(at), **ids}
    if kind == "track":
        body["event"] = event
    if event == "Order Completed":
        body["properties"] = {"revenue": 10 + len(ids.get("userId", ""))}
    response = tracker.post(f"/v1/{kind}", body)
    assert response.status_code == 200, response.content


def _scan_funnel(workspace_id: Any, since: datetime) -> list[int]:
    """The funnel straight from the event log: people (merged profiles as their survivor) who did
    each step in the window and every step before it."""
    flags, matches, params, match_params = [], [], [], []
    for i, (_, kind, name) in enumerate(FUNNEL_STEPS):
        condition = "e.type = %s" + (" AND e.name = %s" if name else "")
        flags.append(f"BOOL_OR({condition}) AS s{i}")
        params.extend([kind, name] if name else [kind])
        match_params.extend([kind, name] if name else [kind])
        matches.append(f"({condition})")
    cumulative = [f"COUNT(*) FILTER (WHERE {' AND '.join(f's{j}' for j in range(i + 1))})" for i in range(5)]
    sql = f"""
        WITH people AS (
            SELECT COALESCE(p.merged_into_id, e.profile_id) AS person, {", ".join(flags)}
            FROM {Event._meta.db_table} e JOIN {Profile._meta.db_table} p ON p.id = e.profile_id
            WHERE e.workspace_id = %s AND e.timestamp >= %s AND ({" OR ".join(matches)})
            GROUP BY 1
        ) SELECT {", ".join(cumulative)} FROM people
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, workspace_id, since, *match_params])
        return [int(n or 0) for n in cursor.fetchone()]


def _scan_cohorts(workspace_id: Any, since: datetime) -> list[tuple[Any, int, int]]:
    """The cohorts straight from the event log, over the whole weeks (Monday, UTC) from the one
    that holds ``since`` to this one: people (merged profiles as their survivor) by the first of
    those weeks they were active in, and how many were active in each week after it."""
    first = week_of(since)
    last = week_of(timezone.now())
    sql = f"""
        WITH activity AS (
            SELECT COALESCE(p.merged_into_id, e.profile_id) AS person,
                   date_trunc('week', e.timestamp AT TIME ZONE 'UTC') AS week
            FROM {Event._meta.db_table} e JOIN {Profile._meta.db_table} p ON p.id = e.profile_id
            WHERE e.workspace_id = %s AND e.type = ANY(%s)
              AND date_trunc('week', e.timestamp AT TIME ZONE 'UTC') BETWEEN %s AND %s
            GROUP BY 1, 2
        ), first_seen AS (SELECT person, MIN(week) AS cohort FROM activity GROUP BY person)
        SELECT f.cohort, (EXTRACT(EPOCH FROM a.week - f.cohort) / 604800)::int, COUNT(*)
        FROM activity a JOIN first_seen f USING (person) GROUP BY 1, 2 ORDER BY 1, 2
    """  # noqa: S608
    naive = [first.replace(tzinfo=None), last.replace(tzinfo=None)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace_id, list(BEHAVIOURAL), *naive])
        return [(week.replace(tzinfo=UTC).date(), int(offset), int(n)) for week, offset, n in cursor.fetchall()]


def _pairs_rebuilt(workspace_id: Any) -> set[tuple[Any, ...]]:
    """The cohort pairs computed afresh from the person-weeks (what migration 0009 fills)."""
    sql = f"""
        SELECT a.week, b.week, CASE WHEN a.week - a.prev <= 91 THEN (a.week - a.prev) / 7 ELSE 0 END, COUNT(*)
        FROM (SELECT profile_id, week, LAG(week) OVER (PARTITION BY profile_id ORDER BY week) AS prev
              FROM {PersonWeek._meta.db_table} WHERE workspace_id = %s) a
        JOIN {PersonWeek._meta.db_table} b ON b.workspace_id = %s AND b.profile_id = a.profile_id
             AND b.week BETWEEN a.week AND a.week + 91
        GROUP BY 1, 2, 3
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace_id, workspace_id])
        return {tuple(row) for row in cursor.fetchall()}


def _pairs_kept(workspace_id: Any) -> set[tuple[Any, ...]]:
    return set(
        CohortPair.objects.filter(workspace_id=workspace_id)
        .exclude(people=0)
        .values_list("first_week", "week", "gap", "people")
    )


def _scan_rfm(workspace_id: Any) -> list[tuple[int, int, int, float]]:
    """The RFM grid straight from every live profile's features document."""
    sql = f"""
        WITH customers AS (
            SELECT (f.computed->>'last_order_at')::timestamptz AS last_order,
                   (f.computed->>'orders_total')::int AS orders,
                   COALESCE((f.computed->>'revenue_total')::numeric, 0) AS revenue
            FROM {ProfileFeatures._meta.db_table} f JOIN {Profile._meta.db_table} p ON p.id = f.profile_id
            WHERE f.workspace_id = %s AND p.merged_into_id IS NULL
              AND (f.computed->>'orders_total')::int > 0 AND f.computed->>'last_order_at' IS NOT NULL
        ), scored AS (
            SELECT LEAST(5, 1 + FLOOR(5 * PERCENT_RANK() OVER (ORDER BY last_order)))::int AS r,
                   LEAST(5, 1 + FLOOR(5 * PERCENT_RANK() OVER (ORDER BY orders)))::int AS f, revenue
            FROM customers
        )
        SELECT r, f, COUNT(*), AVG(revenue) FROM scored GROUP BY r, f ORDER BY f, r
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace_id])
        return [(int(r), int(f), int(n), round(float(m), 2)) for r, f, n, m in cursor.fetchall()]


def _cohort_cells(cohorts: list[Any]) -> list[tuple[Any, int, int]]:
    return [(c.week.date(), i, n) for c in cohorts for i, n in enumerate(c.active) if n]


def _rollup_rows(workspace_id: Any) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    steps = set(
        PersonSteps.objects.filter(workspace_id=workspace_id).values_list(
            "profile_id", "step0_at", "step1_at", "step2_at", "step3_at", "step4_at"
        )
    )
    weeks = set(PersonWeek.objects.filter(workspace_id=workspace_id).values_list("profile_id", "week", "last_at"))
    return steps, weeks


def _wait_for_rollup(workspace_id: Any, events: int) -> None:
    """Until the worker has folded in every stored event (bounded: at most 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stored = Event.objects.filter(workspace_id=workspace_id, type__in=BEHAVIOURAL).count()
        latest = PersonWeek.objects.filter(workspace_id=workspace_id).count()
        if stored >= events and latest and _rollup_rows(workspace_id) == _rollup_rows(workspace_id):
            _, weeks = _rollup_rows(workspace_id)
            if _covers(workspace_id, weeks):
                return
        time.sleep(0.2)
    raise AssertionError("the ingest worker did not fold the events into the rollups within 60 s")


def _covers(workspace_id: Any, weeks: set[tuple[Any, ...]]) -> bool:
    expected = {
        (e.profile_id, (e.timestamp - timedelta(days=e.timestamp.weekday())).date())
        for e in Event.objects.filter(workspace_id=workspace_id, type__in=BEHAVIOURAL, profile_id__isnull=False)
    }
    return expected <= {(profile_id, week) for profile_id, week, _ in weeks}


@pytest.mark.django_db(transaction=True)
def test_rollups_fed_by_the_worker_equal_a_scan_of_the_event_log(workspace, tracker) -> None:  # noqa: F811
    owner = workspace.memberships.get(role="owner").user
    now = timezone.now().astimezone(UTC).replace(microsecond=0) - timedelta(minutes=5)
    steps = [("page", ""), ("track", "Product Viewed"), ("track", "Product Added"), ("track", "Checkout Started"),
             ("track", "Order Completed")]  # fmt: skip
    with start_worker(celery_app, queues=["ingest"], perform_ping_check=False, shutdown_timeout=20):
        # given people going part of the way, over several weeks
        for n, (user, reached, days_ago) in enumerate(
            [("ana", 5, 1), ("bo", 3, 9), ("cy", 2, 16), ("di", 1, 23), ("ed", 4, 40), ("fay", 5, 3)]
        ):
            for i, (kind, event) in enumerate(steps[:reached]):
                _post(tracker, kind, now - timedelta(days=days_ago, hours=n, minutes=i), event, userId=user)
        _post(tracker, "page", now - timedelta(days=2), userId="bo")  # bo came back
        # and an anonymous visitor who browses, then signs in as cy: two profiles become one
        _post(tracker, "page", now - timedelta(days=4), anonymousId="anon-7")
        _post(tracker, "track", now - timedelta(days=4), "Product Viewed", anonymousId="anon-7")
        _post(tracker, "identify", now - timedelta(days=4), userId="cy", anonymousId="anon-7")
        _post(tracker, "track", now - timedelta(days=3), "Product Added", userId="cy", anonymousId="anon-7")
        # and late events: arriving now with times older than what is already folded in
        _post(tracker, "track", now - timedelta(days=12), "Checkout Started", userId="ana")
        _post(tracker, "page", now - timedelta(days=33), userId="fay")
        # and a notification was delivered twice (late acks after a worker crash)
        stored = Event.objects.filter(workspace_id=workspace.id).count()
        _wait_for_rollup(workspace.id, Event.objects.filter(workspace_id=workspace.id, type__in=BEHAVIOURAL).count())
    again = [
        {
            "id": str(e.id),
            "profile_id": str(e.profile_id),
            "type": e.type,
            "name": e.name,
            "timestamp": e.timestamp.isoformat(),
        }
        for e in Event.objects.filter(workspace_id=workspace.id, profile_id__isnull=False)
    ]
    on_events_ingested(DomainEvent(EVENT_INGESTED, str(workspace.id), {"events": again}))
    assert stored == Event.objects.filter(workspace_id=workspace.id).count()
    incremental = _rollup_rows(workspace.id)
    customers = set(
        Customer.objects.filter(workspace=workspace).values_list("profile_id", "last_order_at", "orders", "revenue")
    )
    # then the rollups equal a rebuild from the event log
    rollups_rebuild(workspace=workspace)
    rebuilt = _rollup_rows(workspace.id)
    assert rebuilt[0] ^ incremental[0] == set()
    assert rebuilt[1] ^ incremental[1] == set()
    # and the RFM inputs equal a copy of every live profile's features, the grid a scan of them
    customers_refresh(workspace_id=workspace.id)
    assert (
        set(
            Customer.objects.filter(workspace=workspace).values_list("profile_id", "last_order_at", "orders", "revenue")
        )
        == customers
    )
    assert len(customers) == 2  # ana and fay completed an order; nobody else did
    rfm = rfm_grid(actor=owner, workspace=workspace)
    assert [(c.recency, c.frequency, c.people, c.monetary) for c in rfm.cells] == _scan_rfm(workspace.id)
    # and every window's funnel and cohorts equal a scan of the events, merges counted once
    merged = Profile.objects.filter(workspace=workspace, merged_into__isnull=False).count()
    assert merged == 1  # anon-7's profile went into cy's

    def windows_agree() -> None:
        for days in (1, 3, 5, 10, 17, 30, 90):
            since = timezone.now() - timedelta(days=days)
            assert [s.people for s in funnel(actor=owner, workspace=workspace, since=since)] == _scan_funnel(
                workspace.id, since
            ), (days, merged)
            cohorts = cohort_retention(actor=owner, workspace=workspace, since=since)
            assert _cohort_cells(cohorts) == _scan_cohorts(workspace.id, since), days
            first, last = week_of(since).date(), week_of(timezone.now()).date()
            scanned = cohort_cells_scan(workspace=workspace, first=first, last=last)
            assert _cohort_cells(cohorts) == [(c, (w - c).days // 7, n) for c, w, n in scanned], days

    # (the cohort pairs read with the week changes not folded in yet, then folded in)
    assert PersonWeekChange.objects.filter(workspace=workspace).exists()
    windows_agree()
    cohort_pairs_compact()
    assert not PersonWeekChange.objects.filter(workspace=workspace).exists()
    assert _pairs_kept(workspace.id) == _pairs_rebuilt(workspace.id)
    windows_agree()
    # the numbers themselves, for the 30-day window: ana, bo, cy (with anon-7), di and fay
    # visited; ed's visit was 40 days ago
    since = timezone.now() - timedelta(days=30)
    assert [s.people for s in funnel(actor=owner, workspace=workspace, since=since)] == [5, 4, 4, 2, 2]


def _scan_lifts(workspace_id: Any) -> list[tuple[str, int, int, int, int]]:
    """Per action: shown, shown with a conversion, held out, held out with a conversion, from
    the decision log itself."""
    sql = """
        SELECT d.chosen_key,
               COUNT(*) FILTER (WHERE d.status IN ('acted', 'approved')),
               COUNT(*) FILTER (WHERE d.status IN ('acted', 'approved') AND c.decision_id IS NOT NULL),
               COUNT(*) FILTER (WHERE d.status = 'held_out'),
               COUNT(*) FILTER (WHERE d.status = 'held_out' AND c.decision_id IS NOT NULL)
        FROM decisions_decision d
        LEFT JOIN (SELECT DISTINCT decision_id FROM decisions_outcome WHERE kind = 'converted') c
               ON c.decision_id = d.id
        WHERE d.workspace_id = %s AND d.chosen_key <> '' GROUP BY 1 ORDER BY 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace_id])
        return [tuple(row) for row in cursor.fetchall()]


@pytest.mark.django_db
def test_decision_totals_follow_every_write_to_the_log_and_equal_a_scan(workspace) -> None:
    from decisions.models import Decision, DecisionStatus, Outcome
    from insights.selectors import action_reward_lifts, lift_counts, policy_reward_lifts
    from tests.insights.test_selectors import decision

    owner = workspace.memberships.get(role="owner").user
    people = [Profile.objects.create(workspace=workspace) for _ in range(3)]
    long_ago = timezone.now() - timedelta(days=3650)  # a window reads the log itself: the reference

    def outcome(d: Decision, kind: str, reward: float) -> Outcome:
        return Outcome(workspace=d.workspace, decision=d, kind=kind, reward=reward, source="api",
                       ref=str(uuid.uuid4()), occurred_at=d.created_at)  # fmt: skip

    def check() -> None:
        got = [(x.action, x.treated, x.treated_conversions, x.control, x.control_conversions)
               for x in lift_counts(workspace=workspace)]  # fmt: skip
        assert sorted(got) == _scan_lifts(workspace.id)
        # and equal what the decision log's own scan (decisions.selectors.action_lifts) computes
        from decisions.selectors import action_lifts

        reference = [(x.action, x.treated, x.treated_conversions, x.control, x.control_conversions)
                     for x in action_lifts(actor=owner, workspace=workspace)]  # fmt: skip
        assert sorted(got) == sorted(reference)
        for read in (action_reward_lifts, policy_reward_lifts):
            assert read(actor=owner, workspace=workspace) == read(actor=owner, workspace=workspace, since=long_ago)

    # given decisions in every arm, for two actions and two policies
    shown = [decision(workspace, people[i % 3], "cart", DecisionStatus.ACTED, policy="main") for i in range(4)]
    held = [decision(workspace, people[i % 3], "cart", DecisionStatus.HELD_OUT, policy="main") for i in range(3)]
    pending = decision(workspace, people[0], "coupon", DecisionStatus.PENDING_APPROVAL, policy="promo")
    other = decision(workspace, people[1], "coupon", DecisionStatus.ACTED, policy="promo")
    decision(workspace, people[2], "", DecisionStatus.NOTHING)
    check()
    # when outcomes arrive, two of them for one decision in one statement, one at a time for others
    Outcome.objects.bulk_create([outcome(shown[0], "converted", 40.0), outcome(shown[0], "clicked", 0.5)])
    Outcome.objects.bulk_create([outcome(shown[1], "converted", 25.0)])
    outcome(held[0], "converted", 30.0).save()
    outcome(held[1], "unsubscribed", -2.0).save()
    outcome(other, "converted", 10.0).save()
    check()
    # and a pending decision is approved, then gets a conversion; an outcome is corrected and
    # another withdrawn; a decision's action is edited; a decision is deleted with its outcomes
    Decision.objects.filter(id=pending.id).update(status=DecisionStatus.APPROVED)
    outcome(pending, "converted", 12.0).save()
    Outcome.objects.filter(decision=shown[0], kind="clicked").update(reward=1.5)
    Outcome.objects.filter(decision=held[1]).delete()
    Decision.objects.filter(id=shown[3].id).update(chosen_key="coupon")
    Outcome.objects.filter(decision=shown[1]).delete()
    Decision.objects.filter(id=shown[1].id).delete()
    # then the running totals still equal the log, and the numbers are the hand-worked ones
    check()
    cart = next(x for x in lift_counts(workspace=workspace) if x.action == "cart")
    assert (cart.treated, cart.treated_conversions, cart.control, cart.control_conversions) == (2, 1, 3, 1)
    rewards = {r.key: r for r in action_reward_lifts(actor=owner, workspace=workspace)}
    assert (rewards["cart"].shown_reward, rewards["cart"].held_out_reward) == (20.75, 10.0)  # (41.5 + 0) / 2; 30 / 3
    assert (rewards["coupon"].shown, rewards["coupon"].shown_reward) == (3, round((10 + 12 + 0) / 3, 4))
