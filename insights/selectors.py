"""Reads behind the insights page: what the decisions earned and how people move.

Every number is aggregated in PostgreSQL (one statement per chart, over the running counts in
``insights.models``) so the page stays fast on large workspaces; Python only shapes the few
result rows. Each public selector checks that the actor may read the workspace
(``insights_overview`` once for the whole page). Windows are ``[since, now]``.

Lift per action computes what ``decisions.selectors.action_lifts`` does by scanning the log
(conversion against holdout), from running totals; the reward comparison and the per-policy
view here follow the same rules: a decision counts as
*shown* when it was acted on (status acted or approved) and as *control* when the engine chose
an action but the person is in the holdout; outcomes are the platform's attributed ones.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
from insights.models import (
    CohortPair,
    Customer,
    DecisionArm,
    DecisionChange,
    DecisionCount,
    LatencyCount,
    PersonSteps,
    PersonWeek,
    PersonWeekChange,
    RfmSnapshot,
)
from insights.services import (
    COHORT_DELTA_SQL,
    FUNNEL_MATCHES,
    LATENCY_MS_SQL,
    STEP_COLUMNS,
    WINDOW_DAYS_MAX,
    week_of,
)
from profiles.models import Profile

Z95 = 1.96
SHOWN = tuple(str(s) for s in ACTED_STATUSES)
HELD_OUT = str(DecisionStatus.HELD_OUT)
PER_PERSON_WORK_MEM = "64MB"


def _rows(sql: str, params: Sequence[Any] | Mapping[str, Any], *, work_mem: str = "") -> list[tuple[Any, ...]]:
    """``work_mem`` raises PostgreSQL's per-operation memory for this statement only, for the
    aggregations with one group per person (kept in memory instead of spilling to disk).
    ``params`` is a list for ``%s`` placeholders or a mapping for ``%(name)s`` ones."""
    if work_mem:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
            cursor.execute(sql, params if isinstance(params, Mapping) else list(params))
            return list(cursor.fetchall())
    with connection.cursor() as cursor:
        cursor.execute(sql, params if isinstance(params, Mapping) else list(params))
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


def _ceil(moment: datetime, unit: str) -> datetime:
    """The first hour or day (UTC) boundary at or after ``moment``."""
    utc = moment.astimezone(UTC)
    if unit == "hour":
        floor, step = utc.replace(minute=0, second=0, microsecond=0), timedelta(hours=1)
    else:
        floor, step = utc.replace(hour=0, minute=0, second=0, microsecond=0), timedelta(days=1)
    return floor if floor == utc else floor + step


def _window_params(workspace: Workspace, since: datetime) -> dict[str, Any]:
    """A window ``[since, now]`` read from the rollups (``insights.models.DecisionCount`` and
    ``LatencyCount``): whole days from the first day boundary after ``since``, whole hours
    before that from the first hour boundary, the changes not yet folded in from that hour on,
    and the decisions themselves from ``since`` to that hour (less than an hour of them)."""
    return {
        "ws": workspace.id,
        "since": since,
        "hour_ceil": _ceil(since, "hour"),
        "day_ceil": _ceil(since, "day"),
        "dry_run": str(DecisionStatus.DRY_RUN),
    }


def _allocation_rows(workspace: Workspace, since: datetime, bucket: str) -> list[tuple[datetime, str, int]]:
    if bucket == "minute":  # a span of at most three hours: the decisions themselves (decision_window_cover)
        decisions = Decision.objects.filter(workspace=workspace, created_at__gte=since).exclude(
            status=DecisionStatus.DRY_RUN
        )
        rows = decisions.annotate(at=TruncMinute("created_at")).values("at", "chosen_key").annotate(n=Count("*"))
        return [(row["at"], row["chosen_key"], int(row["n"])) for row in rows.order_by("at")]
    params = {**_window_params(workspace, since), "bucket": bucket}
    params["bucket_ceil"] = params["hour_ceil"] if bucket == "hour" else params["day_ceil"]
    counts, changes = DecisionCount._meta.db_table, DecisionChange._meta.db_table
    sql = f"""
        SELECT at, chosen_key, SUM(n) FROM (
            SELECT start AS at, chosen_key, decisions AS n FROM {counts}
            WHERE workspace_id = %(ws)s AND period = %(bucket)s AND start >= %(bucket_ceil)s
            UNION ALL
            SELECT date_trunc(%(bucket)s, start, 'UTC'), chosen_key, decisions FROM {counts}
            WHERE workspace_id = %(ws)s AND period = 'hour' AND start >= %(hour_ceil)s AND start < %(bucket_ceil)s
            UNION ALL
            SELECT date_trunc(%(bucket)s, created_at, 'UTC'), chosen_key, sign FROM {changes}
            WHERE workspace_id = %(ws)s AND created_at >= %(hour_ceil)s
            UNION ALL
            SELECT date_trunc(%(bucket)s, created_at, 'UTC'), chosen_key, 1 FROM {Decision._meta.db_table}
            WHERE workspace_id = %(ws)s AND created_at >= %(since)s AND created_at < %(hour_ceil)s
              AND status <> %(dry_run)s
        ) parts GROUP BY 1, 2 HAVING SUM(n) <> 0 ORDER BY 1, 2
    """  # noqa: S608 - table names come from the models, values are parameters
    return [(at, key, int(n)) for at, key, n in _rows(sql, params)]


def _allocation(workspace: Workspace, since: datetime, bucket: str = "") -> Allocation:
    if bucket not in BUCKETS:
        span = (
            Decision.objects.filter(workspace=workspace, created_at__gte=since)
            .exclude(status=DecisionStatus.DRY_RUN)
            .aggregate(first=Min("created_at"), last=Max("created_at"))
        )
        if span["first"] is None:
            return Allocation("hour", [], {})
        bucket = _bucket_for(span["last"] - span["first"])
    _, step = BUCKETS[bucket]
    rows = _allocation_rows(workspace, since, bucket)
    if not rows:
        return Allocation(bucket, [], {})
    first, last = rows[0][0], rows[-1][0]
    times: list[datetime] = []
    moment = first
    while moment <= last and len(times) < 2000:
        times.append(moment)
        moment += step
    index = {t: i for i, t in enumerate(times)}
    series: dict[str, list[int]] = {}
    for at, chosen_key, n in rows:
        key = chosen_key or "nothing"
        series.setdefault(key, [0] * len(times))
        if at in index:
            series[key][index[at]] += n
    return Allocation(bucket, times, dict(sorted(series.items())))


def decision_allocation(*, actor: Actor, workspace: Workspace, since: datetime, bucket: str = "") -> Allocation:
    """Decisions per action per time bucket (the bandit's allocation over time); ``bucket``
    empty picks minutes, hours or days from the span of the data so a chart has enough points.
    Hours and days come from the running counts, never from a scan of the window's decisions."""
    workspace_require(actor=actor, workspace=workspace)
    return _allocation(workspace, since, bucket)


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
QUANTILES = (0.5, 0.95, 0.99)


def _percentile(q: float, total: int, at_rank: dict[int, float]) -> float | None:
    """PostgreSQL's ``percentile_cont`` from the values at the two ranks around ``q * (n - 1)``,
    with the same floating-point steps, so the result is the same number."""
    if not total:
        return None
    position = q * (total - 1)
    low, high = math.floor(position), math.ceil(position)
    proportion = position - low
    if proportion > 0 and high > low:
        return at_rank[low] + proportion * (at_rank[high] - at_rank[low])
    return at_rank[low]


def _latency(workspace: Workspace, since: datetime) -> Latency:
    latencies, changes, decisions = (
        LatencyCount._meta.db_table,
        DecisionChange._meta.db_table,
        Decision._meta.db_table,
    )
    ms = LATENCY_MS_SQL.format(column="latency_ms")
    # The histogram per whole millisecond from the rollups; each percentile is the value at a rank
    # n * q: its millisecond is found from the running sums, and the value by sorting only the
    # window's decisions of that millisecond (index insights_decision_latency, migration 0009).
    sql = f"""
        WITH parts AS (
            SELECT ms, decisions AS n FROM {latencies}
            WHERE workspace_id = %(ws)s AND period = 'day' AND start >= %(day_ceil)s
            UNION ALL
            SELECT ms, decisions FROM {latencies}
            WHERE workspace_id = %(ws)s AND period = 'hour' AND start >= %(hour_ceil)s AND start < %(day_ceil)s
            UNION ALL
            SELECT {ms}, sign FROM {changes} WHERE workspace_id = %(ws)s AND created_at >= %(hour_ceil)s
            UNION ALL
            SELECT {ms}, 1 FROM {decisions}
            WHERE workspace_id = %(ws)s AND created_at >= %(since)s AND created_at < %(hour_ceil)s
              AND status <> %(dry_run)s
        ), histogram AS (
            SELECT ms, SUM(n)::bigint AS n FROM parts GROUP BY ms HAVING SUM(n) <> 0
        ), running AS (
            SELECT ms, n, SUM(n) OVER (ORDER BY ms) - n AS before FROM histogram
        ), total AS (
            SELECT COALESCE(SUM(n), 0)::bigint AS n FROM histogram
        ), ranks AS (
            SELECT DISTINCT v.r FROM total, unnest(%(quantiles)s::float8[]) AS q,
                LATERAL (VALUES (floor(q * (total.n - 1))::bigint), (ceil(q * (total.n - 1))::bigint)) AS v(r)
            WHERE total.n > 0
        ), located AS (
            SELECT k.r, c.ms, k.r - c.before AS offset_in FROM ranks k
            JOIN running c ON k.r >= c.before AND k.r < c.before + c.n
        ), spans AS (
            -- the ranks wanted in one millisecond (the two around a percentile nearly always are)
            SELECT ms, MIN(offset_in) AS low, MAX(offset_in) AS high FROM located GROUP BY ms
        ), picked AS (
            SELECT s.ms, s.low, ARRAY(
                SELECT d.latency_ms FROM {decisions} d
                WHERE d.workspace_id = %(ws)s AND floor(d.latency_ms) = s.ms::float8
                  AND d.created_at >= %(since)s AND d.status <> %(dry_run)s
                ORDER BY d.latency_ms OFFSET s.low LIMIT s.high - s.low + 1
            ) AS values_in FROM spans s
        )
        SELECT (SELECT n FROM total),
               (SELECT EXTRACT(EPOCH FROM MAX(created_at) - MIN(created_at)) FROM {decisions}
                WHERE workspace_id = %(ws)s AND created_at >= %(since)s AND status <> %(dry_run)s),
               ARRAY(SELECT ms FROM histogram ORDER BY ms), ARRAY(SELECT n FROM histogram ORDER BY ms),
               ARRAY(SELECT l.r FROM located l ORDER BY l.r),
               ARRAY(SELECT p.values_in[l.offset_in - p.low + 1] FROM located l JOIN picked p USING (ms) ORDER BY l.r)
    """  # noqa: S608 - table names come from the models, values are parameters
    params = {**_window_params(workspace, since), "quantiles": list(QUANTILES)}
    total, span, millis, counts_per_ms, ranks, values = _rows(sql, params)[0]
    edges = list(LATENCY_EDGES)
    counts = [0] * len(edges)
    for value, n in zip(millis, counts_per_ms, strict=True):
        # width_bucket over the upper edges: the edges are whole milliseconds, so the whole
        # millisecond of a latency falls in the same bucket as the latency itself.
        counts[bisect_right(edges[1:], value)] += int(n)
    total = int(total or 0)
    at_rank = {int(r): float(v) for r, v in zip(ranks, values, strict=True) if v is not None}
    p50, p95, p99 = (_percentile(q, total, at_rank) for q in QUANTILES)
    minutes = max(float(span or 0) / 60.0, 1.0)
    return Latency(
        edges=edges,
        counts=counts,
        total=total,
        p50=round(float(p50), 2) if p50 is not None else None,
        p95=round(float(p95), 2) if p95 is not None else None,
        p99=round(float(p99), 2) if p99 is not None else None,
        per_minute=round(total / minutes, 2) if total else 0.0,
    )


def decision_latency(*, actor: Actor, workspace: Workspace, since: datetime) -> Latency:
    """Histogram and percentiles of the engine's decision latency, and the decision throughput."""
    workspace_require(actor=actor, workspace=workspace)
    return _latency(workspace, since)


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
    return _funnel(workspace, since)


def _funnel(workspace: Workspace, since: datetime) -> list[FunnelStep]:
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


def _weeks_of(since: datetime) -> tuple[date, date]:
    """The weeks (Mondays, UTC) a window from ``since`` to now touches: the first and this one."""
    return week_of(since).date(), week_of(timezone.now()).date()


def _cohort_cells(workspace: Workspace, first: date, last: date) -> list[tuple[date, date, int]]:
    """(cohort week, active week, people) from the running pair counts (``CohortPair``) and the
    week changes not yet folded into them, for windows of up to 13 weeks back."""
    weeks, pairs = PersonWeek._meta.db_table, CohortPair._meta.db_table
    sql = f"""
        WITH log AS (
            SELECT id, workspace_id, profile_id, week, added FROM {PersonWeekChange._meta.db_table}
            WHERE workspace_id = %(ws)s
        ), {COHORT_DELTA_SQL}, strays AS (
            SELECT r.profile_id, p.merged_into_id AS person FROM {weeks} r
            JOIN {Profile._meta.db_table} p ON p.id = r.profile_id
            WHERE r.workspace_id = %(ws)s AND p.workspace_id = %(ws)s AND p.merged_into_id IS NOT NULL
        ), involved AS (
            SELECT profile_id, person FROM strays UNION SELECT person, person FROM strays
        ), involved_weeks AS (
            SELECT i.person, r.profile_id, r.week FROM involved i
            JOIN {weeks} r ON r.workspace_id = %(ws)s AND r.profile_id = i.profile_id
            WHERE r.week BETWEEN %(first)s AND %(last)s
        ), cells AS (
            SELECT first_week, week, people FROM {pairs}
            WHERE workspace_id = %(ws)s AND first_week >= %(first)s AND week <= %(last)s
              AND (gap = 0 OR first_week - 7 * gap < %(first)s)
            UNION ALL
            SELECT first_week, week, people FROM delta
            WHERE first_week >= %(first)s AND week <= %(last)s AND (gap = 0 OR first_week - 7 * gap < %(first)s)
            UNION ALL
            -- rows still under a merged-away profile (see _strays) count with their survivor's,
            -- once per person, instead of as a person of their own
            SELECT f.first_week, x.week, 1 FROM (SELECT DISTINCT person, week FROM involved_weeks) x
            JOIN (SELECT person, MIN(week) AS first_week FROM involved_weeks GROUP BY 1) f USING (person)
            UNION ALL
            SELECT f.first_week, x.week, -1 FROM involved_weeks x
            JOIN (SELECT profile_id, MIN(week) AS first_week FROM involved_weeks GROUP BY 1) f USING (profile_id)
        )
        SELECT first_week, week, SUM(people) FROM cells GROUP BY 1, 2 HAVING SUM(people) <> 0 ORDER BY 1, 2
    """  # noqa: S608 - table names come from the models, values are parameters
    rows = _rows(sql, {"ws": workspace.id, "first": first, "last": last})
    return [(cohort, week, int(n)) for cohort, week, n in rows]


def cohort_cells_scan(*, workspace: Workspace, first: date, last: date) -> list[tuple[date, date, int]]:
    """The same cells from the person-weeks themselves: one row per active person-week of the
    window, grouped per person. The reference the pair counts are tested against, and the way
    for windows longer than the pairs reach (no permission check here)."""
    table = PersonWeek._meta.db_table
    sql = f"""
        WITH {_strays(table)}, activity AS (
            SELECT r.profile_id AS person, r.week FROM {table} r
            WHERE r.workspace_id = %s AND r.week BETWEEN %s AND %s
              AND r.profile_id NOT IN (SELECT profile_id FROM involved)
            UNION ALL
            SELECT DISTINCT i.person, r.week FROM involved i
            JOIN {table} r ON r.workspace_id = %s AND r.profile_id = i.profile_id AND r.week BETWEEN %s AND %s
        ), first_seen AS (SELECT person, MIN(week) AS cohort FROM activity GROUP BY person)
        SELECT f.cohort, a.week, COUNT(*) FROM activity a JOIN first_seen f USING (person)
        GROUP BY 1, 2 ORDER BY 1, 2
    """  # noqa: S608
    params = [workspace.id, workspace.id, workspace.id, first, last, workspace.id, first, last]
    return [(cohort, week, int(n)) for cohort, week, n in _rows(sql, params, work_mem=PER_PERSON_WORK_MEM)]


def _cohorts(workspace: Workspace, since: datetime) -> list[Cohort]:
    first, last = _weeks_of(since)
    if (last - first).days > WINDOW_DAYS_MAX:
        cells = cohort_cells_scan(workspace=workspace, first=first, last=last)
    else:
        cells = _cohort_cells(workspace, first, last)
    by_cohort: dict[date, dict[int, int]] = {}
    for cohort, week, n in cells:
        by_cohort.setdefault(cohort, {})[(week - cohort).days // 7] = n
    cohorts = []
    for cohort, counts in sorted(by_cohort.items()):
        weeks = max((last - cohort).days // 7 + 1, max(counts) + 1)
        start = datetime.combine(cohort, datetime.min.time(), tzinfo=UTC)
        cohorts.append(Cohort(week=start, size=counts.get(0, 0), active=[counts.get(i, 0) for i in range(weeks)]))
    return cohorts


def cohort_retention(*, actor: Actor, workspace: Workspace, since: datetime) -> list[Cohort]:
    """Weekly cohorts over the weeks (Monday, UTC) the window touches, whole weeks: people by the
    first of those weeks they were active in (a behavioural event), and how many of them were
    active in each week after it, up to this one."""
    workspace_require(actor=actor, workspace=workspace)
    return _cohorts(workspace, since)


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
    as_of: datetime | None = None  # when the grid was computed (None: just now, from the customers)

    def grid(self) -> list[list[RfmCell | None]]:
        """Rows: frequency 5 down to 1; columns: recency 1 to 5."""
        at = {(c.frequency, c.recency): c for c in self.cells}
        return [[at.get((f, r)) for r in range(1, 6)] for f in range(5, 0, -1)]


def rfm_cells(*, workspace: Workspace) -> list[RfmCell]:
    """Customers (live profiles with at least one order) in recency x frequency quintiles, with
    their mean revenue, from the real-time features (the last order time, not the stored
    ``days_since_last_order``, which is as of the features' last write). Quintile =
    1 + floor(5 x percent rank), at most 5: people with equal values share the quintile of the
    first of them, so when most customers have one order they are all in frequency quintile 1
    rather than split arbitrarily across quintiles. The inputs are copied from the features on
    each ingest (``insights.models.Customer``); a profile merged away since is left out here too.
    Ranks every customer: the RFM snapshot's computation (no permission check here)."""
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
    return sorted(cells, key=lambda c: (c.frequency, c.recency))


def rfm_grid(*, actor: Actor, workspace: Workspace) -> Rfm:
    """The RFM grid computed now (``rfm_cells``)."""
    workspace_require(actor=actor, workspace=workspace)
    cells = rfm_cells(workspace=workspace)
    return Rfm(cells=cells, customers=sum(c.people for c in cells))


def rfm_of(snapshot: RfmSnapshot) -> Rfm:
    cells = [RfmCell(int(r), int(f), int(n), float(m)) for r, f, n, m in snapshot.cells]
    return Rfm(cells=cells, customers=snapshot.customers, as_of=snapshot.computed_at)


def _rfm_snapshot(workspace: Workspace) -> Rfm | None:
    snapshot = RfmSnapshot.objects.filter(workspace=workspace).first()
    return rfm_of(snapshot) if snapshot is not None else None


def rfm_snapshot(*, actor: Actor, workspace: Workspace) -> Rfm | None:
    """The RFM grid as last computed by ``insights.services.rfm_snapshot_refresh`` (beat, every
    few minutes), with its time; None before the first."""
    workspace_require(actor=actor, workspace=workspace)
    return _rfm_snapshot(workspace)


# --- the page -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    lifts: list[Lift]
    rewards: list[RewardLift]
    policies: list[RewardLift]
    allocation: Allocation
    latency: Latency
    steps: list[FunnelStep]
    cohorts: list[Cohort]
    rfm: Rfm | None  # None until the first snapshot


def insights_overview(*, actor: Actor, workspace: Workspace, since: datetime) -> Overview:
    """Everything the insights page shows, with one permission check (each chart's own selector
    checks again, which costs a few milliseconds each)."""
    workspace_require(actor=actor, workspace=workspace)
    return Overview(
        lifts=lift_counts(workspace=workspace),
        rewards=_reward_lifts(workspace=workspace, group="action", since=None),
        policies=_reward_lifts(workspace=workspace, group="policy", since=None),
        allocation=_allocation(workspace, since),
        latency=_latency(workspace, since),
        steps=_funnel(workspace, since),
        cohorts=_cohorts(workspace, since),
        rfm=_rfm_snapshot(workspace),
    )
