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

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDay, TruncHour, TruncMinute
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.selectors import workspace_require
from decisions.models import ACTED_STATUSES, Decision, DecisionStatus, Outcome, OutcomeKind
from decisions.selectors import Lift, action_lifts
from events.models import Event
from profiles.models import Profile, ProfileFeatures

Z95 = 1.96
# The funnel and the cohorts scan the window's events (seconds on millions of events): their
# results are kept per workspace and window for periods of this length. See docs/insights.md.
EVENT_SCAN_CACHE_SECONDS = 120
SHOWN = tuple(str(s) for s in ACTED_STATUSES)
HELD_OUT = str(DecisionStatus.HELD_OUT)


def _cached_rows(name: str, workspace: Workspace, since: datetime, sql: str, params: Sequence[Any]) -> list[Any]:
    key = f"insights:{name}:{workspace.id}:{int(since.timestamp() // EVENT_SCAN_CACHE_SECONDS)}"
    rows = cache.get(key)
    if rows is None:
        rows = [list(row) for row in _rows(sql, params)]
        cache.set(key, rows, EVENT_SCAN_CACHE_SECONDS)
    return list(rows)


def _rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
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


def _reward_lifts(*, workspace: Workspace, group: str, since: datetime | None) -> list[RewardLift]:
    """One row per group (``chosen_key`` or ``policy_key``): per-decision reward sums first (so a
    decision with several outcomes is one observation), then mean and variance per arm."""
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
    arms: dict[str, dict[bool, tuple[int, int, float, float]]] = {}
    for key, shown, n, conversions, mean, variance in _rows(sql, params):
        arms.setdefault(key, {})[bool(shown)] = (int(n), int(conversions), float(mean), float(variance))
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
    """Conversion of shown against held-out people per action (``decisions.selectors.action_lifts``)."""
    return action_lifts(actor=actor, workspace=workspace)


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
        decisions.annotate(at=trunc("created_at")).values("at", "chosen_key").annotate(n=Count("id")).order_by("at")
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
    sql = f"""
        SELECT width_bucket(latency_ms, %s::float8[]) AS bucket, COUNT(*) FROM {table}
        WHERE workspace_id = %s AND created_at >= %s AND status <> %s GROUP BY bucket
    """  # noqa: S608
    counts = [0] * len(edges)
    for bucket, n in _rows(sql, [edges[1:], workspace.id, since, str(DecisionStatus.DRY_RUN)]):
        counts[min(int(bucket), len(edges) - 1)] += int(n)
    stats = _rows(
        f"""
        SELECT COUNT(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms),
               EXTRACT(EPOCH FROM MAX(created_at) - MIN(created_at))
        FROM {table} WHERE workspace_id = %s AND created_at >= %s AND status <> %s
        """,  # noqa: S608
        [workspace.id, since, str(DecisionStatus.DRY_RUN)],
    )[0]
    total, p50, p95, p99, span = stats
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

FUNNEL_STEPS: tuple[tuple[str, str, str], ...] = (
    ("Visited a page", "page", ""),
    ("Viewed a product", "track", "Product Viewed"),
    ("Added to cart", "track", "Product Added"),
    ("Started checkout", "track", "Checkout Started"),
    ("Completed an order", "track", "Order Completed"),
)


@dataclass(frozen=True)
class FunnelStep:
    name: str
    people: int
    of_previous: float | None  # share of the previous step's people who also did this one
    of_first: float | None


def _person_expression() -> tuple[str, str]:
    """Events keep the profile they were stored under; a merged-away profile counts as the
    profile it was merged into (one level, which is how merges record it)."""
    profile_table = Profile._meta.db_table
    return "COALESCE(p.merged_into_id, e.profile_id)", f"JOIN {profile_table} p ON p.id = e.profile_id"


def funnel(*, actor: Actor, workspace: Workspace, since: datetime) -> list[FunnelStep]:
    """People who did each step in the window, each step counting only people who also did every
    step before it (in any order within the window)."""
    workspace_require(actor=actor, workspace=workspace)
    person, join = _person_expression()
    flags, matches, params = [], [], []
    for i, (_, kind, name) in enumerate(FUNNEL_STEPS):
        condition = "e.type = %s" + (" AND e.name = %s" if name else "")
        step_params = [kind, name] if name else [kind]
        flags.append(f"BOOL_OR({condition}) AS s{i}")
        params.extend(step_params)
        matches.append(f"({condition})")
    match_params: list[Any] = []
    for _, kind, name in FUNNEL_STEPS:
        match_params.extend([kind, name] if name else [kind])
    cumulative = [
        f"COUNT(*) FILTER (WHERE {' AND '.join(f's{j}' for j in range(i + 1))})" for i in range(len(FUNNEL_STEPS))
    ]
    sql = f"""
        WITH people AS (
            SELECT {person} AS person, {", ".join(flags)}
            FROM {Event._meta.db_table} e {join}
            WHERE e.workspace_id = %s AND e.timestamp >= %s AND e.profile_id IS NOT NULL
              AND ({" OR ".join(matches)})
            GROUP BY 1
        )
        SELECT {", ".join(cumulative)} FROM people
    """  # noqa: S608
    counts = _cached_rows("funnel", workspace, since, sql, [*params, workspace.id, since, *match_params])[0]
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


BEHAVIOURAL = ("track", "page", "screen")


def cohort_retention(*, actor: Actor, workspace: Workspace, since: datetime) -> list[Cohort]:
    """Weekly cohorts of people by the week of their first behavioural event in the window, and
    how many of them were active in each following week."""
    workspace_require(actor=actor, workspace=workspace)
    person, join = _person_expression()
    sql = f"""
        WITH activity AS (
            SELECT {person} AS person, date_trunc('week', e.timestamp AT TIME ZONE 'UTC') AS week
            FROM {Event._meta.db_table} e {join}
            WHERE e.workspace_id = %s AND e.timestamp >= %s AND e.profile_id IS NOT NULL AND e.type = ANY(%s)
            GROUP BY 1, 2
        ), first_seen AS (
            SELECT person, MIN(week) AS cohort FROM activity GROUP BY person
        )
        SELECT f.cohort, (EXTRACT(EPOCH FROM a.week - f.cohort) / 604800)::int AS offset_weeks, COUNT(*)
        FROM activity a JOIN first_seen f USING (person)
        GROUP BY 1, 2 ORDER BY 1, 2
    """  # noqa: S608
    by_cohort: dict[datetime, dict[int, int]] = {}
    for week, offset, n in _cached_rows("cohorts", workspace, since, sql, [workspace.id, since, list(BEHAVIOURAL)]):
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
    rather than split arbitrarily across quintiles."""
    workspace_require(actor=actor, workspace=workspace)
    features, profiles = ProfileFeatures._meta.db_table, Profile._meta.db_table
    sql = f"""
        WITH customers AS (
            SELECT (f.computed->>'last_order_at')::timestamptz AS last_order,
                   (f.computed->>'orders_total')::int AS orders,
                   COALESCE((f.computed->>'revenue_total')::numeric, 0) AS revenue
            FROM {features} f JOIN {profiles} p ON p.id = f.profile_id
            WHERE f.workspace_id = %s AND p.merged_into_id IS NULL
              AND (f.computed->>'orders_total')::int > 0 AND f.computed->>'last_order_at' IS NOT NULL
        ), scored AS (
            SELECT LEAST(5, 1 + FLOOR(5 * PERCENT_RANK() OVER (ORDER BY last_order)))::int AS r,
                   LEAST(5, 1 + FLOOR(5 * PERCENT_RANK() OVER (ORDER BY orders)))::int AS f, revenue
            FROM customers
        )
        SELECT r, f, COUNT(*), AVG(revenue) FROM scored GROUP BY r, f
    """  # noqa: S608
    cells = [RfmCell(int(r), int(f), int(n), round(float(m), 2)) for r, f, n, m in _rows(sql, [workspace.id])]
    return Rfm(cells=sorted(cells, key=lambda c: (c.frequency, c.recency)), customers=sum(c.people for c in cells))
