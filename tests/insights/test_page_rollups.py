"""The insights page's running counts (cohort pairs, decisions per action and per millisecond of
latency per hour and day, the RFM snapshot, the lift panel's totals) give the same numbers as
the reference computations that scan the logs, before and after their change logs are folded
in, through late activity, merges, stray rows, erasure and every kind of change to a decision."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from decisions.models import Decision, DecisionStatus, Outcome
from decisions.selectors import action_lifts
from insights.models import CohortPair, DecisionChange, PersonWeek, PersonWeekChange, RfmSnapshot
from insights.selectors import (
    BUCKETS,
    LATENCY_EDGES,
    Allocation,
    Latency,
    _allocation,
    _bucket_for,
    _cohorts,
    _latency,
    _percentile,
    cohort_cells_scan,
    rfm_grid,
    rfm_snapshot,
)
from insights.services import (
    cohort_pairs_compact,
    decision_counts_compact,
    rfm_snapshot_refresh,
    rfm_snapshots_refresh,
    rollups_apply,
    rollups_erase_for_subject,
    rollups_merge,
    rollups_rebuild,
    week_of,
)
from profiles.models import Profile
from tests.events.conftest import tracker, write_key  # noqa: F401 - shared fixtures
from tests.insights.test_selectors import decision, outcome, send

# --- the reference computations: the selectors as they were, scanning the decision log ---------------------------


def _reference_allocation(workspace: Any, since: datetime, bucket: str = "") -> Allocation:
    from django.db.models import Count, Max, Min

    decisions = Decision.objects.filter(workspace=workspace, created_at__gte=since).exclude(
        status=DecisionStatus.DRY_RUN
    )
    if bucket not in BUCKETS:
        span = decisions.aggregate(first=Min("created_at"), last=Max("created_at"))
        if span["first"] is None:
            return Allocation("hour", [], {})
        bucket = _bucket_for(span["last"] - span["first"])
    trunc, step = BUCKETS[bucket]
    rows = list(
        decisions.annotate(at=trunc("created_at")).values("at", "chosen_key").annotate(n=Count("*")).order_by("at")
    )
    if not rows:
        return Allocation(bucket, [], {})
    times: list[datetime] = []
    moment = rows[0]["at"]
    while moment <= rows[-1]["at"] and len(times) < 2000:
        times.append(moment)
        moment += step
    index = {t: i for i, t in enumerate(times)}
    series: dict[str, list[int]] = {}
    for row in rows:
        key = row["chosen_key"] or "nothing"
        series.setdefault(key, [0] * len(times))
        if row["at"] in index:
            series[key][index[row["at"]]] += row["n"]
    return Allocation(bucket, times, dict(sorted(series.items())))


def _reference_latency(workspace: Any, since: datetime, *, rounded: bool = True) -> Latency:
    edges = list(LATENCY_EDGES)
    buckets = ", ".join(
        f"COUNT(*) FILTER (WHERE width_bucket(latency_ms, %s::float8[]) = {i})" for i in range(len(edges))
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COUNT(*), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms),
                   EXTRACT(EPOCH FROM MAX(created_at) - MIN(created_at)), {buckets}
            FROM {Decision._meta.db_table} WHERE workspace_id = %s AND created_at >= %s AND status <> %s
            """,  # noqa: S608
            [*([edges[1:]] * len(edges)), workspace.id, since, str(DecisionStatus.DRY_RUN)],
        )
        row = cursor.fetchone()
    total, percentiles, span = row[0], row[1] or [None, None, None], row[2]
    minutes = max(float(span or 0) / 60.0, 1.0)
    p50, p95, p99 = ((round(float(p), 2) if rounded else float(p)) if p is not None else None for p in percentiles)
    return Latency(
        edges=edges,
        counts=[int(n) for n in row[3:]],
        total=int(total),
        p50=p50,
        p95=p95,
        p99=p99,
        per_minute=round(int(total) / minutes, 2) if total else 0.0,
    )


# --- decisions: allocation and latency ----------------------------------------------------------------------------


def _windows(now: datetime) -> list[datetime]:
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    return [
        now - timedelta(days=1),
        now - timedelta(days=7),
        now - timedelta(days=30),
        now - timedelta(hours=2, minutes=17),
        hour - timedelta(hours=5),  # on an hour boundary
        day - timedelta(days=3),  # on a day boundary
        now - timedelta(minutes=40),
        now + timedelta(minutes=5),  # nothing yet
    ]


def _check_decision_charts(workspace: Any, now: datetime) -> None:
    for since in _windows(now):
        for bucket in ("", "minute", "hour", "day"):
            assert _allocation(workspace, since, bucket) == _reference_allocation(workspace, since, bucket), (
                since,
                bucket,
            )
        assert _latency(workspace, since) == _reference_latency(workspace, since), since


@pytest.mark.django_db
def test_allocation_and_latency_from_the_counts_equal_a_scan_of_the_log(workspace) -> None:
    rng = random.Random(11)
    people = [Profile.objects.create(workspace=workspace) for _ in range(3)]
    now = timezone.now()
    statuses = [DecisionStatus.ACTED, DecisionStatus.ACTED, DecisionStatus.HELD_OUT, DecisionStatus.NOTHING,
                DecisionStatus.PENDING_APPROVAL, DecisionStatus.SHADOW, DecisionStatus.DRY_RUN]  # fmt: skip

    def latency() -> float:
        kind = rng.random()
        if kind < 0.15:
            return float(rng.choice(LATENCY_EDGES[1:]))  # exactly on a histogram edge
        if kind < 0.25:
            return round(rng.uniform(200, 3000), 3)
        return round(rng.uniform(0.5, 40), rng.choice([0, 1, 3]))  # ties and near-ties

    def make(count: int, spread: timedelta) -> list[Decision]:
        return [
            decision(
                workspace,
                rng.choice(people),
                rng.choice(["", "promo", "help", "cart"]),
                rng.choice(statuses),
                at=now - spread * rng.random(),
                latency=latency(),
            )
            for _ in range(count)
        ]

    # given decisions over ten days, more of them in the last hours and minutes, some dry runs
    made = make(150, timedelta(days=10)) + make(80, timedelta(hours=3)) + make(40, timedelta(minutes=30))
    assert DecisionChange.objects.filter(workspace=workspace).count() == sum(
        d.status != DecisionStatus.DRY_RUN for d in made
    )
    # then every window and bucket reads the same from the changes not folded in yet, and after
    _check_decision_charts(workspace, now)
    assert decision_counts_compact() > 0
    assert not DecisionChange.objects.filter(workspace=workspace).exists()
    _check_decision_charts(workspace, now)
    # when decisions change: an edited action, a dry run that is not one, a decision that becomes
    # one, a moved time, a corrected latency, an approval (no change for these charts), deletions
    edits = rng.sample(made, 60)
    for d in edits[:10]:
        Decision.objects.filter(id=d.id).update(chosen_key="coupon")
    for d in edits[10:20]:
        Decision.objects.filter(id=d.id).update(
            status=DecisionStatus.ACTED if d.status == DecisionStatus.DRY_RUN else DecisionStatus.DRY_RUN
        )
    for d in edits[20:30]:
        Decision.objects.filter(id=d.id).update(created_at=now - timedelta(days=rng.uniform(0, 12)))
    for d in edits[30:40]:
        Decision.objects.filter(id=d.id).update(latency_ms=latency())
    approvals = Decision.objects.filter(id__in=[d.id for d in edits[40:50]], status=DecisionStatus.PENDING_APPROVAL)
    before = DecisionChange.objects.count()
    approvals.update(status=DecisionStatus.APPROVED)
    assert DecisionChange.objects.count() == before  # nothing these charts count changed
    Decision.objects.filter(id__in=[d.id for d in edits[50:]]).delete()
    # then the charts still equal the log, before and after folding in, and with more on top
    _check_decision_charts(workspace, now)
    decision_counts_compact()
    _check_decision_charts(workspace, now)
    make(30, timedelta(hours=30))
    _check_decision_charts(workspace, now)
    decision_counts_compact()
    _check_decision_charts(workspace, now)


@pytest.mark.django_db
def test_percentiles_take_the_same_floating_point_steps_as_postgresql() -> None:
    rng = random.Random(3)
    for size in (1, 2, 3, 7, 20, 101, 1000):
        values = sorted(round(rng.uniform(0, 50), rng.choice([0, 2, 3])) for _ in range(size))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY x) FROM unnest(%s::float8[]) x",
                [values],
            )
            expected = cursor.fetchone()[0]
        at_rank = dict(enumerate(values))
        assert [_percentile(q, size, at_rank) for q in (0.5, 0.95, 0.99)] == expected, size


# --- person-weeks: cohorts ----------------------------------------------------------------------------------------


def _cells(workspace: Any, since: datetime) -> list[tuple[Any, int, int]]:
    return [(c.week.date(), i, n) for c in _cohorts(workspace, since) for i, n in enumerate(c.active) if n]


def _scanned(workspace: Any, since: datetime) -> list[tuple[Any, int, int]]:
    first, last = week_of(since).date(), week_of(timezone.now()).date()
    return [(c, (w - c).days // 7, n) for c, w, n in cohort_cells_scan(workspace=workspace, first=first, last=last)]


def _pairs_afresh(workspace: Any) -> set[tuple[Any, ...]]:
    sql = f"""
        SELECT a.week, b.week, CASE WHEN a.week - a.prev <= 91 THEN (a.week - a.prev) / 7 ELSE 0 END, COUNT(*)
        FROM (SELECT profile_id, week, LAG(week) OVER (PARTITION BY profile_id ORDER BY week) AS prev
              FROM {PersonWeek._meta.db_table} WHERE workspace_id = %s) a
        JOIN {PersonWeek._meta.db_table} b ON b.workspace_id = %s AND b.profile_id = a.profile_id
             AND b.week BETWEEN a.week AND a.week + 91
        GROUP BY 1, 2, 3
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.id, workspace.id])
        return {tuple(row) for row in cursor.fetchall()}


def _check_cohorts(workspace: Any) -> None:
    now = timezone.now()
    for days in (1, 6, 7, 8, 20, 30, 45, 60, 90, 200):  # 200: longer than the pairs reach, scanned
        since = now - timedelta(days=days)
        assert _cells(workspace, since) == _scanned(workspace, since), days


@pytest.mark.django_db
def test_cohorts_from_the_pair_counts_equal_a_scan_of_the_person_weeks(workspace) -> None:
    rng = random.Random(5)
    now = timezone.now()
    people = [Profile.objects.create(workspace=workspace) for _ in range(40)]

    def activity(person: Profile, count: int, days: int) -> list[dict[str, Any]]:
        return [
            {"profile_id": str(person.id), "type": rng.choice(["page", "track", "screen"]), "name": "Product Viewed",
             "timestamp": (now - timedelta(days=rng.uniform(0, days))).isoformat()}
            for _ in range(count)
        ]  # fmt: skip

    # given people active over the last 30 weeks, folded in batch by batch, late events included
    for round_ in range(6):
        batch = [e for p in rng.sample(people, 15) for e in activity(p, rng.randint(1, 4), 210)]
        rollups_apply(workspace_id=workspace.id, events=batch)
        _check_cohorts(workspace)
        if round_ % 2:
            cohort_pairs_compact()
            _check_cohorts(workspace)
    # and a week filled in between two active weeks (the next week's previous week changes)
    gap_person = people[0]
    PersonWeek.objects.filter(workspace=workspace, profile_id=gap_person.id).delete()

    def visit(person: Profile, weeks_ago: float) -> None:
        at = (now - timedelta(weeks=weeks_ago)).isoformat()
        rollups_apply(
            workspace_id=workspace.id, events=[{"profile_id": str(person.id), "type": "page", "timestamp": at}]
        )

    for weeks_ago in (9, 3):
        visit(gap_person, weeks_ago)
    cohort_pairs_compact()
    _check_cohorts(workspace)
    visit(gap_person, 6)
    _check_cohorts(workspace)
    # when two people merge (rows folded into the survivor's), then a notification still in flight
    # writes a stray row under the merged-away profile
    survivor, merged = people[1], people[2]
    Profile.objects.filter(id=merged.id).update(merged_into=survivor, merged_at=now)
    rollups_merge(workspace_id=workspace.id, survivor_id=survivor.id, merged_ids=[merged.id])
    _check_cohorts(workspace)
    rollups_apply(workspace_id=workspace.id, events=activity(merged, 3, 60))
    assert PersonWeek.objects.filter(workspace=workspace, profile_id=merged.id).exists()
    _check_cohorts(workspace)
    cohort_pairs_compact()
    _check_cohorts(workspace)
    # and a person is erased, and the whole workspace rebuilt from the (here empty) event log
    rollups_erase_for_subject(workspace=workspace, profile_ids=[people[3].id], identifiers=[])
    _check_cohorts(workspace)
    cohort_pairs_compact()
    _check_cohorts(workspace)
    # then the pairs kept equal pairs computed afresh from the person-weeks
    kept = set(CohortPair.objects.filter(workspace=workspace).exclude(people=0).values_list(
        "first_week", "week", "gap", "people"))  # fmt: skip
    assert kept == _pairs_afresh(workspace)
    rollups_rebuild(workspace=workspace)
    assert not PersonWeek.objects.filter(workspace=workspace).exists()
    _check_cohorts(workspace)
    cohort_pairs_compact()
    assert not CohortPair.objects.filter(workspace=workspace).exclude(people=0).exists()
    assert not PersonWeekChange.objects.filter(workspace=workspace).exists()


@pytest.mark.django_db
def test_a_person_week_cannot_be_moved_under_the_pair_counts(workspace) -> None:
    from django.db import DatabaseError, transaction

    person = Profile.objects.create(workspace=workspace)
    event = {"profile_id": str(person.id), "type": "page", "timestamp": timezone.now().isoformat()}
    rollups_apply(workspace_id=workspace.id, events=[event])
    with pytest.raises(DatabaseError), transaction.atomic():
        PersonWeek.objects.filter(profile_id=person.id).update(week=week_of(timezone.now() - timedelta(days=7)))


# --- RFM snapshot, lift panel -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_rfm_snapshot_is_the_grid_as_computed_and_the_page_says_when(client, workspace, tracker) -> None:  # noqa: F811
    owner = workspace.memberships.get(role="owner").user
    now = timezone.now()
    for i in range(1, 6):
        for n in range(i):
            send(tracker, f"c{i}", "track", now - timedelta(days=i, hours=n), "Order Completed", revenue=10 * i)
    rollups_rebuild(workspace=workspace)
    assert rfm_snapshot(actor=owner, workspace=workspace) is None
    # when the beat task refreshes the grids
    assert rfm_snapshots_refresh() >= 1
    snapshot = rfm_snapshot(actor=owner, workspace=workspace)
    # then the snapshot is the grid computed now, with its time
    live = rfm_grid(actor=owner, workspace=workspace)
    assert snapshot is not None and snapshot.as_of is not None
    assert replace(snapshot, as_of=None) == live
    # and the page and its CSV show it, saying as of when
    client.force_login(owner)
    response = client.get("/insights/")
    assert response.context["rfm"] == snapshot
    assert 'id="rfm-as-of"' in response.content.decode()
    # when a customer orders again, the page keeps the snapshot until the next refresh
    send(tracker, "c1", "track", now, "Order Completed", revenue=500)
    rollups_rebuild(workspace=workspace)
    assert client.get("/insights/").context["rfm"] == snapshot
    refreshed = rfm_snapshot_refresh(workspace=workspace)
    assert refreshed.computed_at >= snapshot.as_of
    again = rfm_snapshot(actor=owner, workspace=workspace)
    assert again is not None and replace(again, as_of=None) == rfm_grid(actor=owner, workspace=workspace)
    assert RfmSnapshot.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db
def test_a_workspace_without_a_snapshot_gets_one_on_its_first_visit(client, workspace, tracker) -> None:  # noqa: F811
    owner = workspace.memberships.get(role="owner").user
    send(tracker, "ana", "track", timezone.now(), "Order Completed", revenue=10)
    rollups_rebuild(workspace=workspace)
    client.force_login(owner)
    response = client.get("/insights/")
    assert response.context["rfm"].customers == 1 and response.context["rfm"].as_of is not None
    assert RfmSnapshot.objects.filter(workspace=workspace).exists()


@pytest.mark.django_db
def test_the_decision_logs_lift_panel_reads_the_running_totals_with_the_numbers_of_a_scan(
    client,
    workspace,
    tracker,  # noqa: F811
) -> None:
    owner = workspace.memberships.get(role="owner").user
    people = [Profile.objects.create(workspace=workspace) for _ in range(4)]
    rng = random.Random(2)
    for i in range(60):
        d = decision(workspace, people[i % 4], rng.choice(["promo", "help", ""]),
                     rng.choice([DecisionStatus.ACTED, DecisionStatus.HELD_OUT, DecisionStatus.APPROVED,
                                 DecisionStatus.PENDING_APPROVAL]))  # fmt: skip
        if d.chosen_key and rng.random() < 0.4:
            outcome(d, "converted", 20)
    Outcome.objects.filter(id__in=list(Outcome.objects.values_list("id", flat=True)[:3])).delete()
    client.force_login(owner)
    # when the decision log asks for its lift panel
    fragment = client.get("/decisions/lifts/", HTTP_HX_REQUEST="true")
    # then it comes from the running totals and shows what a scan of the log computes
    reference = action_lifts(actor=owner, workspace=workspace)
    assert fragment.context["lifts"] == reference
    html = fragment.content.decode()
    for lift in reference:
        row = html[html.index(f">{lift.action}</a>") :]
        assert re.search(rf"<td>{lift.treated}</td><td>{lift.treated_conversions} \(", row), lift
        assert re.search(rf"<td>{lift.control}</td><td>{lift.control_conversions} \(", row), lift
    assert f'hx-get="{"/decisions/lifts/"}"' in client.get("/decisions/").content.decode()
    # and the decision log's own code no longer has the view (decisions may not import insights)
    import decisions.views

    assert not hasattr(decisions.views, "decision_lifts_fragment")
