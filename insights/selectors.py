"""Reads behind the insights page: what the decisions earned and how people move.

Every number is aggregated in PostgreSQL (one statement per chart, grouped on indexed columns)
so the page stays fast on large workspaces; Python only shapes the few result rows. Each
selector checks that the actor may read the workspace. Windows are ``[since, now]``.

Lift per action reuses ``decisions.selectors.action_lifts`` (conversion against holdout); the
reward comparison and the per-policy view here follow the same rules: a decision counts as
*shown* when it was acted on (status acted or approved) and as *control* when the engine chose
an action but the person is in the holdout; outcomes are the platform's attributed ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.selectors import workspace_require
from decisions.models import ACTED_STATUSES, Decision, DecisionStatus, Outcome, OutcomeKind
from decisions.selectors import Lift, lift_from_counts
from insights.models import Customer, DecisionArm, PersonSteps, PersonWeek
from insights.services import FUNNEL_MATCHES, STEP_COLUMNS, week_of
from profiles.models import Profile

Z95 = 1.96
SHOWN = tuple(str(s) for s in ACTED_STATUSES)
HELD_OUT = str(DecisionStatus.HELD_OUT)
PER_PERSON_WORK_MEM = "64MB"


def _rows(sql: str, params: Sequence[Any], *, work_mem: str = "") -> list[tuple[Any, ...]]:
    """``work_mem`` raises PostgreSQL's per-operation memory for this statement only, for the
    aggregations with one group per person (kept in memory instead of spilling to disk)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if work_mem:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        cursor.execute(sql, list(params))
        return list(cursor.fetchall())


# --- lift and reward against holdout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardLift:
    """Mean reward per decision, shown against held out, with a 95 % interval on the difference
    (normal approximation with each arm's own variance)."""

    key: str  # action key or policy key
    shown: int
    held_out: int
    shown_conversions: int
    held_out_conversions: int
    shown_reward: float  # mean attributed reward per shown decision
    held_out_reward: float
    difference: float
    low: float | None  # None until both arms have at least two decisions
    high: float | None

    @property
    def shown_rate(self) -> float:
        return self.shown_conversions / self.shown if self.shown else 0.0

    @property
    def held_out_rate(self) -> float:
        return self.held_out_conversions / self.held_out if self.held_out else 0.0

    @property
    def measured(self) -> bool:
        return self.low is not None


ArmTotals = dict[str, dict[str, tuple[int, int, float, float]]]  # key -> arm -> (n, conversions, sum, squares)


def _arm_totals(workspace: Workspace, column: str, action: str | None = None) -> ArmTotals:
    """The decision log's running totals (``insights.models.DecisionArm``, kept by triggers) per
    ``chosen_key`` or ``policy_key`` and arm: a few rows per action, however long the log."""
    only = "AND chosen_key = %s" if action is not None else ""
    sql = f"""
        SELECT {column}, arm, SUM(decisions), SUM(conversions), SUM(reward_sum), SUM(reward_squares)
        FROM {DecisionArm._meta.db_table} WHERE workspace_id = %s {only}
        GROUP BY 1, 2 HAVING SUM(decisions) > 0
    """  # noqa: S608
    totals: ArmTotals = {}
    for key, arm, n, conversions, total, squares in _rows(sql, [workspace.id, *([action] if action else [])]):
        totals.setdefault(key, {})[arm] = (int(n), int(conversions), float(total), float(squares))
    return totals


def lift_counts(*, workspace: Workspace, action: str | None = None) -> list[Lift]:
    """Shown against held-out conversion per action that was ever chosen, from the running totals
    (what ``decisions.selectors.action_lifts`` computes by scanning the log, which stays the
    reference: tests/insights/test_rollups.py checks the two agree; no permission check here)."""
    lifts = []
    for key, arms in _arm_totals(workspace, "chosen_key", action).items():
        n1, c1, _, _ = arms.get("shown", (0, 0, 0.0, 0.0))
        n0, c0, _, _ = arms.get("held_out", (0, 0, 0.0, 0.0))
        lifts.append(lift_from_counts(key, n1, c1, n0, c0))
    return sorted(lifts, key=lambda lift: (-lift.treated, lift.action))


def _moments(n: int, total: float, squares: float) -> tuple[float, float]:
    """Mean and sample variance (0 below two observations, as ``COALESCE(VAR_SAMP(x), 0)``) from
    a count, sum and sum of squares."""
    if not n:
        return 0.0, 0.0
    mean = total / n
    return mean, max((squares - total * total / n) / (n - 1), 0.0) if n >= 2 else 0.0


def _reward_lifts(*, workspace: Workspace, group: str, since: datetime | None) -> list[RewardLift]:
    """One row per group (``chosen_key`` or ``policy_key``): per-decision reward sums first (so a
    decision with several outcomes is one observation), then mean and variance per arm. The whole
    log (``since`` None, what the page shows) reads the running totals; a window scans it."""
    if since is None:
        arms: dict[str, dict[bool, tuple[int, int, float, float]]] = {}
        for key, by_arm in _arm_totals(workspace, {"action": "chosen_key", "policy": "policy_key"}[group]).items():
            for arm, shown in (("shown", True), ("held_out", False)):
                if arm in by_arm:
                    n, conversions, total, squares = by_arm[arm]
                    arms.setdefault(key, {})[shown] = (n, conversions, *_moments(n, total, squares))
        return _reward_rows(arms)
    decision_table, outcome_table = Decision._meta.db_table, Outcome._meta.db_table
    column = {"action": "chosen_key", "policy": "policy_key"}[group]
    window = "AND d.created_at >= %s" if since else ""
    sql = f"""
        WITH per_decision AS (
            SELECT d.{column} AS key, d.status = ANY(%s) AS shown,
                   COALESCE(SUM(o.reward), 0) AS reward,
                   COALESCE(BOOL_OR(o.kind = %s), false) AS converted
            FROM {decision_table} d
            LEFT JOIN {outcome_table} o ON o.decision_id = d.id
            WHERE d.workspace_id = %s AND d.chosen_key <> '' AND d.status = ANY(%s) {window}
            GROUP BY d.id
        )
        SELECT key, shown, COUNT(*), SUM(converted::int), AVG(reward), COALESCE(VAR_SAMP(reward), 0)
        FROM per_decision GROUP BY key, shown
    """  # noqa: S608 - table and column names come from the models, values are parameters
    params: list[Any] = [list(SHOWN), str(OutcomeKind.CONVERTED), workspace.id, [*SHOWN, HELD_OUT]]
    if since:
        params.append(since)
    scanned: dict[str, dict[bool, tuple[int, int, float, float]]] = {}
    for key, shown, n, conversions, mean, variance in _rows(sql, params):
        scanned.setdefault(key, {})[bool(shown)] = (int(n), int(conversions), float(mean), float(variance))
    return _reward_rows(scanned)


def _reward_rows(arms: dict[str, dict[bool, tuple[int, int, float, float]]]) -> list[RewardLift]:
    result = []
    for key, by_arm in arms.items():
        n1, c1, m1, v1 = by_arm.get(True, (0, 0, 0.0, 0.0))
        n0, c0, m0, v0 = by_arm.get(False, (0, 0, 0.0, 0.0))
        low = high = None
        if n1 >= 2 and n0 >= 2:
            se = math.sqrt(v1 / n1 + v0 / n0)
            low, high = round(m1 - m0 - Z95 * se, 4), round(m1 - m0 + Z95 * se, 4)
        result.append(RewardLift(key, n1, n0, c1, c0, round(m1, 4), round(m0, 4), round(m1 - m0, 4), low, high))
    return sorted(result, key=lambda r: (-r.shown - r.held_out, r.key))


def action_reward_lifts(*, actor: Actor, workspace: Workspace, since: datetime | None = None) -> list[RewardLift]:
    workspace_require(actor=actor, workspace=workspace)
    return _reward_lifts(workspace=workspace, group="action", since=since)


def policy_reward_lifts(*, actor: Actor, workspace: Workspace, since: datetime | None = None) -> list[RewardLift]:
    workspace_require(actor=actor, workspace=workspace)
    return _reward_lifts(workspace=workspace, group="policy", since=since)


def conversion_lifts(*, actor: Actor, workspace: Workspace) -> list[Lift]:
    """Conversion of shown against held-out people per action, from the running totals."""
    workspace_require(actor=actor, workspace=workspace)
    return lift_counts(workspace=workspace)


# --- bandit allocation and throughput -----------------------------------------------------------------------------

BUCKETS = {"minute": (TruncMinute, timedelta(minutes=1)), "hour": (TruncHour, timedelta(hours=1)),
           "day": (TruncDay, timedelta(days=1))}  # fmt: skip


@dataclass(frozen=True)
class Allocation:
    bucket: str  # "minute", "hour" or "day"
    times: list[datetime]  # every bucket from the first decision to the last, gaps included
    series: dict[str, list[int]]  # action key ("nothing" for silence) -> decisions per bucket

    @property
    def totals(self) -> list[int]:
        return [sum(values) for values in zip(*self.series.values(), strict=True)] if self.series else []


def _bucket_for(span: timedelta) -> str:
    if span <= timedelta(hours=3):
        return "minute"
    if span <= timedelta(days=4):
        return "hour"
    return "day"


def decision_allocation(*, actor: Actor, workspace: Workspace, since: datetime, bucket: str = "") -> Allocation:
    """Decisions per action per time bucket (the bandit's allocation over time); ``bucket``
    empty picks minutes, hours or days from the span of the data so a chart has enough points."""
    workspace_require(actor=actor, workspace=workspace)
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
        # Count("*"), not of the id: every column read is in the covering index decision_window_cover.
        decisions.annotate(at=trunc("created_at")).values("at", "chosen_key").annotate(n=Count("*")).order_by("at")
    )
    if not rows:
        return Allocation(bucket, [], {})
    first, last = rows[0]["at"], rows[-1]["at"]
    times: list[datetime] = []
    moment = first
    while moment <= last and len(times) < 2000:
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


@dataclass(frozen=True)
class Latency:
    edges: list[float]  # histogram bucket lower edges in ms; the last bucket is open-ended
    counts: list[int]
    total: int
    p50: float | None
    p95: float | None
    p99: float | None
    per_minute: float  # decisions per minute over the window's busy span (first to last decision)

    @property
    def labels(self) -> list[str]:
        labels = [f"{a:g}-{b:g} ms" for a, b in zip(self.edges, self.edges[1:], strict=False)]
        return [*labels, f"≥ {self.edges[-1]:g} ms"]


LATENCY_EDGES: tuple[float, ...] = (0, 5, 10, 20, 50, 100, 200, 500, 1000)


def decision_latency(*, actor: Actor, workspace: Workspace, since: datetime) -> Latency:
    """Histogram and percentiles of the engine's decision latency, and the decision throughput."""
    workspace_require(actor=actor, workspace=workspace)
    table = Decision._meta.db_table
    edges = list(LATENCY_EDGES)
    # One pass over the covering index decision_window_cover: the histogram as one count per
    # bucket (width_bucket gives 0 below the first edge, len(edges) - 1 from the last one) and the
    # three percentiles from one sort.
    buckets = ", ".join(
        f"COUNT(*) FILTER (WHERE width_bucket(latency_ms, %s::float8[]) = {i})" for i in range(len(edges))
    )
    row = _rows(
        f"""
        SELECT COUNT(*), percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms),
               EXTRACT(EPOCH FROM MAX(created_at) - MIN(created_at)), {buckets}
        FROM {table} WHERE workspace_id = %s AND created_at >= %s AND status <> %s
        """,  # noqa: S608
        [*([edges[1:]] * len(edges)), workspace.id, since, str(DecisionStatus.DRY_RUN)],
        work_mem=PER_PERSON_WORK_MEM,
    )[0]
    total, percentiles, span = row[0], row[1] or [None, None, None], row[2]
    counts = [int(n) for n in row[3:]]
    p50, p95, p99 = percentiles
    minutes = max(float(span or 0) / 60.0, 1.0)
    return Latency(
        edges=edges,
        counts=counts,
        total=int(total),
        p50=round(float(p50), 2) if p50 is not None else None,
        p95=round(float(p95), 2) if p95 is not None else None,
        p99=round(float(p99), 2) if p99 is not None else None,
        per_minute=round(int(total) / minutes, 2) if total else 0.0,
    )


# --- funnel, cohorts, RFM -----------------------------------------------------------------------------------------

FUNNEL_LABELS = ("Visited a page", "Viewed a product", "Added to cart", "Started checkout", "Completed an order")
# (label, event type, event name): the matching lives with the rollup (insights.services).
FUNNEL_STEPS: tuple[tuple[str, str, str], ...] = tuple(
    (label, kind, name) for label, (kind, name) in zip(FUNNEL_LABELS, FUNNEL_MATCHES, strict=True)
)


@dataclass(frozen=True)
class FunnelStep:
    name: str
    people: int
    of_previous: float | None  # share of the previous step's people who also did this one
    of_first: float | None


def _strays(table: str) -> str:
    """Rollup rows still under a merged-away profile (a notification about it was in flight when
    the merge folded its rows into the survivor's): with the survivor's own rows, the profiles
    whose rows must be combined per person. Nearly always none, from the merged-profile index."""
    profiles = Profile._meta.db_table
    return f"""
        strays AS (
            SELECT r.profile_id, p.merged_into_id AS person FROM {table} r
            JOIN {profiles} p ON p.id = r.profile_id
            WHERE r.workspace_id = %s AND p.workspace_id = %s AND p.merged_into_id IS NOT NULL
        ), involved AS (
            SELECT profile_id, person FROM strays UNION SELECT person, person FROM strays
        )"""  # noqa: S608


def funnel(*, actor: Actor, workspace: Workspace, since: datetime) -> list[FunnelStep]:
    """People who did each step in the window, each step counting only people who also did every
    step before it (in any order within the window). From the per-profile last time of each step
    (``insights.models.PersonSteps``): the window ends now, so a step was done in it exactly when
    it was last done at or after ``since``. A person is one row (merges fold rows together), read
    from an index that holds the whole row; the rare stray row of a merged-away profile is
    combined with its survivor's."""
    workspace_require(actor=actor, workspace=workspace)
    table = PersonSteps._meta.db_table
    flags = ", ".join(f"r.{column} >= %s AS s{i}" for i, column in enumerate(STEP_COLUMNS))
    combined = ", ".join(f"BOOL_OR(r.{column} >= %s) AS s{i}" for i, column in enumerate(STEP_COLUMNS))
    cumulative = [
        f"COUNT(*) FILTER (WHERE {' AND '.join(f's{j}' for j in range(i + 1))})" for i in range(len(FUNNEL_STEPS))
    ]
    sql = f"""
        WITH {_strays(table)}, people AS (
            SELECT {flags} FROM {table} r
            WHERE r.workspace_id = %s AND r.step0_at >= %s AND r.profile_id NOT IN (SELECT profile_id FROM involved)
            UNION ALL
            SELECT {combined} FROM involved i JOIN {table} r ON r.workspace_id = %s AND r.profile_id = i.profile_id
            GROUP BY i.person
        )
        SELECT {", ".join(cumulative)} FROM people
    """  # noqa: S608
    at = [since] * len(STEP_COLUMNS)
    counts = _rows(sql, [workspace.id, workspace.id, *at, workspace.id, since, *at, workspace.id])[0]
    steps = []
    first = int(counts[0] or 0)
    previous: int | None = None
    for (label, _, _), count in zip(FUNNEL_STEPS, counts, strict=True):
        people = int(count or 0)
        steps.append(
            FunnelStep(
                name=label,
                people=people,
                of_previous=round(people / previous, 4) if previous else None,
                of_first=round(people / first, 4) if first else None,
            )
        )
        previous = people
    return steps


@dataclass(frozen=True)
class Cohort:
    week: datetime  # Monday 00:00 UTC of the week the people were first seen
    size: int
    active: list[int]  # people active in week 0, 1, 2, ... after it (up to the present)

    @property
    def retention(self) -> list[float]:
        return [round(n / self.size, 4) if self.size else 0.0 for n in self.active]


def cohort_retention(*, actor: Actor, workspace: Workspace, since: datetime) -> list[Cohort]:
    """Weekly cohorts of people by the week of their first behavioural event in the window, and
    how many of them were active in each following week."""
    workspace_require(actor=actor, workspace=workspace)
    # Weeks after the one that holds ``since`` are wholly in the window; that first week counts
    # only when its last activity is at or after ``since`` (insights.models.PersonWeek). As for
    # the funnel, rows of merged-away profiles still in the table count as their survivor.
    table = PersonWeek._meta.db_table
    first_week = week_of(since).date()
    activity = f"""
        {_strays(table)}, activity AS (
            SELECT r.profile_id AS person, r.week FROM {table} r
            WHERE r.workspace_id = %s AND r.week >= %s AND r.last_at >= %s
              AND r.profile_id NOT IN (SELECT profile_id FROM involved)
            UNION ALL
            SELECT DISTINCT i.person, r.week FROM involved i
            JOIN {table} r ON r.workspace_id = %s AND r.profile_id = i.profile_id AND r.week >= %s AND r.last_at >= %s
        )"""  # noqa: S608
    params = [workspace.id, workspace.id, workspace.id, first_week, since, workspace.id, first_week, since]
    # One pass: per person the first week and the set of active weeks as bits (week offsets from
    # the window's first week), then people per (first week, set): a few hundred rows however
    # many people, expanded here. Windows of more than 63 weeks take the general join below.
    masks = f"""
        WITH {activity}, people AS (
            SELECT MIN(week) AS cohort, BIT_OR(1::bigint << ((week - %s) / 7)) AS weeks,
                   BOOL_OR(week - %s >= 441) AS overflow
            FROM activity GROUP BY person
        )
        SELECT cohort, weeks, COUNT(*), BOOL_OR(overflow) FROM people GROUP BY 1, 2
    """  # noqa: S608
    by_cohort: dict[datetime, dict[int, int]] = {}
    rows = _rows(masks, [*params, first_week, first_week], work_mem=PER_PERSON_WORK_MEM)
    if not any(overflow for *_, overflow in rows):
        for cohort_week, weeks, n, _ in rows:
            start = datetime.combine(cohort_week, datetime.min.time())
            base = (cohort_week - first_week).days // 7
            offsets = by_cohort.setdefault(start, {})
            for bit in range(base, 63):
                if int(weeks) >> bit & 1:
                    offsets[bit - base] = offsets.get(bit - base, 0) + int(n)
    else:
        general = f"""
            WITH {activity}, first_seen AS (SELECT person, MIN(week) AS cohort FROM activity GROUP BY person)
            SELECT f.cohort::timestamp, (a.week - f.cohort) / 7 AS offset_weeks, COUNT(*)
            FROM activity a JOIN first_seen f USING (person)
            GROUP BY 1, 2 ORDER BY 1, 2
        """  # noqa: S608
        for week, offset, n in _rows(general, params, work_mem=PER_PERSON_WORK_MEM):
            by_cohort.setdefault(week, {})[int(offset)] = int(n)
    today = timezone.now().astimezone(UTC)
    this_week = (today - timedelta(days=today.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    cohorts = []
    for week, counts in sorted(by_cohort.items()):
        start = week.replace(tzinfo=UTC) if timezone.is_naive(week) else week
        weeks = max(int((this_week - start).days // 7) + 1, max(counts) + 1)
        cohorts.append(Cohort(week=start, size=counts.get(0, 0), active=[counts.get(i, 0) for i in range(weeks)]))
    return cohorts


@dataclass(frozen=True)
class RfmCell:
    recency: int  # 1 (longest ago) .. 5 (most recent)
    frequency: int  # 1 (fewest orders) .. 5 (most)
    people: int
    monetary: float  # mean lifetime revenue of the cell's people


@dataclass(frozen=True)
class Rfm:
    cells: list[RfmCell]
    customers: int

    def grid(self) -> list[list[RfmCell | None]]:
        """Rows: frequency 5 down to 1; columns: recency 1 to 5."""
        at = {(c.frequency, c.recency): c for c in self.cells}
        return [[at.get((f, r)) for r in range(1, 6)] for f in range(5, 0, -1)]


def rfm_grid(*, actor: Actor, workspace: Workspace) -> Rfm:
    """Customers (live profiles with at least one order) in recency x frequency quintiles, with
    their mean revenue, from the real-time features (the last order time, not the stored
    ``days_since_last_order``, which is as of the features' last write). Quintile =
    1 + floor(5 x percent rank), at most 5: people with equal values share the quintile of the
    first of them, so when most customers have one order they are all in frequency quintile 1
    rather than split arbitrarily across quintiles. The inputs are copied from the features on
    each ingest (``insights.models.Customer``); a profile merged away since is left out here too."""
    workspace_require(actor=actor, workspace=workspace)
    sql = f"""
        WITH customers AS (
            SELECT last_order_at AS last_order, orders, revenue FROM {Customer._meta.db_table}
            WHERE workspace_id = %s AND profile_id NOT IN (
                SELECT id FROM {Profile._meta.db_table} WHERE workspace_id = %s AND merged_into_id IS NOT NULL
            )
        ), scored AS (
            SELECT LEAST(5, 1 + FLOOR(5 * PERCENT_RANK() OVER (ORDER BY last_order)))::int AS r,
                   LEAST(5, 1 + FLOOR(5 * PERCENT_RANK() OVER (ORDER BY orders)))::int AS f, revenue
            FROM customers
        )
        SELECT r, f, COUNT(*), AVG(revenue) FROM scored GROUP BY r, f
    """  # noqa: S608
    cells = [
        RfmCell(int(r), int(f), int(n), round(float(m), 2))
        for r, f, n, m in _rows(sql, [workspace.id, workspace.id], work_mem=PER_PERSON_WORK_MEM)
    ]
    return Rfm(cells=sorted(cells, key=lambda c: (c.frequency, c.recency)), customers=sum(c.people for c in cells))
