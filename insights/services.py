"""Writes of the insights rollups (``insights.models``): fed from each ingest notification in the
worker, rebuilt from the event log on demand. Every write is an upsert that keeps the later time,
so applying events twice, or in any order, gives the same rows as one pass over the log."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Workspace
from events.models import Event
from insights.models import (
    CohortPair,
    Customer,
    DecisionChange,
    DecisionCount,
    LatencyCount,
    PersonSteps,
    PersonWeek,
    PersonWeekChange,
    RfmSnapshot,
)
from profiles.models import Profile, ProfileFeatures

# (type, name) of each funnel step, in order; a page step matches any page name. The selectors'
# FUNNEL_STEPS labels these; the rollup's step<i>_at columns follow this order.
FUNNEL_MATCHES: tuple[tuple[str, str], ...] = (
    ("page", ""),
    ("track", "Product Viewed"),
    ("track", "Product Added"),
    ("track", "Checkout Started"),
    ("track", "Order Completed"),
)
BEHAVIOURAL = ("track", "page", "screen")
STEP_COLUMNS = tuple(f"step{i}_at" for i in range(len(FUNNEL_MATCHES)))
# The whole millisecond of a logged latency, as the latency rollup and its index count it
# (clamped, so that no value can fail the cast).
LATENCY_MS_SQL = "GREATEST(LEAST(floor({column}), 2000000000), -2000000000)::int"


def step_of(kind: str, name: str) -> int | None:
    for i, (step_kind, step_name) in enumerate(FUNNEL_MATCHES):
        if kind == step_kind and (not step_name or name == step_name):
            return i
    return None


def week_of(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the moment's week (PostgreSQL's ``date_trunc('week', ...)`` in UTC)."""
    utc = moment.astimezone(UTC)
    return (utc - timedelta(days=utc.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


def _parse(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rollups_apply(*, workspace_id: UUID | str, events: Iterable[Mapping[str, Any]]) -> int:
    """Fold stored events (``{"profile_id", "type", "name", "timestamp"}``, as in the
    ``event.ingested`` payload) into the rollups; returns how many events counted."""
    steps: dict[str, list[datetime | None]] = {}
    weeks: dict[tuple[str, datetime], datetime] = {}
    counted = 0
    for event in events:
        profile_id, kind = event.get("profile_id"), str(event.get("type") or "")
        if not profile_id or kind not in BEHAVIOURAL:
            continue
        counted += 1
        at = _parse(event["timestamp"])
        key = str(profile_id)
        week_key = (key, week_of(at))
        weeks[week_key] = max(weeks.get(week_key, at), at)
        step = step_of(kind, str(event.get("name") or ""))
        if step is not None:
            row = steps.setdefault(key, [None] * len(FUNNEL_MATCHES))
            current = row[step]
            row[step] = at if current is None else max(current, at)
    if not counted:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Sorted keys: two workers folding overlapping batches lock the rows in the same order.
        if steps:
            greatest = ", ".join(f"{c} = GREATEST(t.{c}, EXCLUDED.{c})" for c in STEP_COLUMNS)
            cursor.executemany(
                f"""INSERT INTO {PersonSteps._meta.db_table} AS t (workspace_id, profile_id, {", ".join(STEP_COLUMNS)})
                    VALUES (%s, %s, {", ".join(["%s"] * len(STEP_COLUMNS))})
                    ON CONFLICT (workspace_id, profile_id) DO UPDATE SET {greatest}""",  # noqa: S608
                [[str(workspace_id), key, *steps[key]] for key in sorted(steps)],
            )
        # One statement for the weeks, in the same sorted order: their statement trigger (the
        # cohort pairs' change log, migration 0009) then runs once per batch.
        ordered = sorted(weeks)
        cursor.execute(
            f"""INSERT INTO {PersonWeek._meta.db_table} AS t (workspace_id, profile_id, week, last_at)
                SELECT %s, u.profile_id, u.week, u.last_at
                FROM unnest(%s::uuid[], %s::date[], %s::timestamptz[])
                     WITH ORDINALITY AS u(profile_id, week, last_at, n)
                ORDER BY u.n
                ON CONFLICT (workspace_id, week, profile_id)
                DO UPDATE SET last_at = GREATEST(t.last_at, EXCLUDED.last_at)""",  # noqa: S608
            [
                str(workspace_id),
                [key for key, _ in ordered],
                [week.date() for _, week in ordered],
                [weeks[item] for item in ordered],
            ],
        )
    return counted


def rollups_rebuild(
    *, workspace: Workspace, profile_ids: Sequence[UUID | str] | None = None, with_customers: bool = True
) -> None:
    """Recompute the rollups from the event log and the features (all of the workspace, or only
    some stored profiles): for a new deployment, or after events were lost on their way to the worker. Safe
    while events arrive: rows are replaced in one transaction and the worker's upserts keep the
    later time either way. ``with_customers=False`` leaves the customer rows alone (migration 0002
    runs before their table exists)."""
    events, steps_table, weeks_table = Event._meta.db_table, PersonSteps._meta.db_table, PersonWeek._meta.db_table
    only = "AND e.profile_id = ANY(%s::uuid[])" if profile_ids is not None else ""
    only_rows = "AND profile_id = ANY(%s::uuid[])" if profile_ids is not None else ""
    ids = [[str(p) for p in profile_ids]] if profile_ids is not None else []
    conditions, params = [], []
    for kind, name in FUNNEL_MATCHES:
        conditions.append("e.type = %s" + (" AND e.name = %s" if name else ""))
        params.extend([kind, name] if name else [kind])
    columns = ", ".join(f"MAX(e.timestamp) FILTER (WHERE {c})" for c in conditions)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {steps_table} WHERE workspace_id = %s {only_rows}", [workspace.id, *ids])  # noqa: S608
        cursor.execute(f"DELETE FROM {weeks_table} WHERE workspace_id = %s {only_rows}", [workspace.id, *ids])  # noqa: S608
        cursor.execute(
            f"""INSERT INTO {steps_table} AS t (workspace_id, profile_id, {", ".join(STEP_COLUMNS)})
                SELECT e.workspace_id, e.profile_id, {columns} FROM {events} e
                WHERE e.workspace_id = %s AND e.profile_id IS NOT NULL {only} AND ({" OR ".join(conditions)})
                GROUP BY e.workspace_id, e.profile_id
                ON CONFLICT (workspace_id, profile_id) DO UPDATE SET
                {", ".join(f"{c} = GREATEST(t.{c}, EXCLUDED.{c})" for c in STEP_COLUMNS)}""",  # noqa: S608
            [*params, workspace.id, *ids, *params],
        )
        cursor.execute(
            f"""INSERT INTO {weeks_table} AS t (workspace_id, profile_id, week, last_at)
                SELECT e.workspace_id, e.profile_id, date_trunc('week', e.timestamp AT TIME ZONE 'UTC')::date,
                       MAX(e.timestamp)
                FROM {events} e
                WHERE e.workspace_id = %s AND e.profile_id IS NOT NULL {only} AND e.type = ANY(%s)
                GROUP BY 1, 2, 3
                ON CONFLICT (workspace_id, week, profile_id)
                DO UPDATE SET last_at = GREATEST(t.last_at, EXCLUDED.last_at)""",  # noqa: S608
            [workspace.id, *ids, list(BEHAVIOURAL)],
        )
        if with_customers:
            customers_refresh(workspace_id=workspace.id, profile_ids=profile_ids)


def customers_refresh(*, workspace_id: UUID | str, profile_ids: Sequence[UUID | str] | None = None) -> None:
    """Copy the RFM inputs of these profiles (all of the workspace when ``None``) from their
    features as they are now: a customer is a live profile whose features have at least one order
    and a last order time. A copy of the current state, so a repeated or reordered notification
    leaves the same row; a profile that is merged away or has lost its features loses its row."""
    customers, features, profiles = Customer._meta.db_table, ProfileFeatures._meta.db_table, Profile._meta.db_table
    only = "AND profile_id = ANY(%s::uuid[])" if profile_ids is not None else ""
    only_f = "AND f.profile_id = ANY(%s::uuid[])" if profile_ids is not None else ""
    ids = [[str(p) for p in profile_ids]] if profile_ids is not None else []
    if profile_ids is not None and not profile_ids:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {customers} WHERE workspace_id = %s {only}", [str(workspace_id), *ids])  # noqa: S608
        cursor.execute(
            f"""INSERT INTO {customers} (profile_id, workspace_id, last_order_at, orders, revenue)
                SELECT f.profile_id, f.workspace_id, (f.computed->>'last_order_at')::timestamptz,
                       (f.computed->>'orders_total')::int, COALESCE((f.computed->>'revenue_total')::numeric, 0)
                FROM {features} f JOIN {profiles} p ON p.id = f.profile_id
                WHERE f.workspace_id = %s {only_f} AND p.merged_into_id IS NULL
                  AND (f.computed->>'orders_total')::int > 0 AND f.computed->>'last_order_at' IS NOT NULL
                ON CONFLICT (profile_id) DO UPDATE SET last_order_at = EXCLUDED.last_order_at,
                    orders = EXCLUDED.orders, revenue = EXCLUDED.revenue""",  # noqa: S608
            [str(workspace_id), *ids],
        )


def rollups_merge(*, workspace_id: UUID | str, survivor_id: UUID | str, merged_ids: Sequence[UUID | str]) -> None:
    """A merge re-points the merged-away profiles' events to the survivor; their rollup rows
    follow (folded into the survivor's with the later times). Until then, and for any
    notification about them still in flight, readers map them through ``merged_into``, so the
    numbers are right either way; this keeps the rows equal to a rebuild and the tables lean."""
    merged = [str(m) for m in merged_ids if str(m) != str(survivor_id)]
    if not merged:
        return
    customers_refresh(workspace_id=workspace_id, profile_ids=[*merged, str(survivor_id)])
    steps_table, weeks_table = PersonSteps._meta.db_table, PersonWeek._meta.db_table
    columns = ", ".join(STEP_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {steps_table} AS t (workspace_id, profile_id, {columns})
                SELECT workspace_id, %s::uuid, {", ".join(f"MAX({c})" for c in STEP_COLUMNS)} FROM {steps_table}
                WHERE workspace_id = %s AND profile_id = ANY(%s::uuid[]) GROUP BY workspace_id
                ON CONFLICT (workspace_id, profile_id) DO UPDATE SET
                {", ".join(f"{c} = GREATEST(t.{c}, EXCLUDED.{c})" for c in STEP_COLUMNS)}""",  # noqa: S608
            [str(survivor_id), str(workspace_id), merged],
        )
        cursor.execute(
            f"""INSERT INTO {weeks_table} AS t (workspace_id, profile_id, week, last_at)
                SELECT workspace_id, %s::uuid, week, MAX(last_at) FROM {weeks_table}
                WHERE workspace_id = %s AND profile_id = ANY(%s::uuid[]) GROUP BY workspace_id, week
                ON CONFLICT (workspace_id, week, profile_id)
                DO UPDATE SET last_at = GREATEST(t.last_at, EXCLUDED.last_at)""",  # noqa: S608
            [str(survivor_id), str(workspace_id), merged],
        )
        for table in (steps_table, weeks_table):
            cursor.execute(
                f"DELETE FROM {table} WHERE workspace_id = %s AND profile_id = ANY(%s::uuid[])",  # noqa: S608
                [str(workspace_id), merged],
            )


def rollups_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[Any], identifiers: Sequence[tuple[str, str]]
) -> int:
    """Subject erasure: the erased people's events are gone, so are their rollup rows."""
    ids = list(profile_ids)
    deleted = PersonSteps.objects.filter(workspace=workspace, profile_id__in=ids).delete()[0]
    deleted += Customer.objects.filter(workspace=workspace, profile_id__in=ids).delete()[0]
    return deleted + PersonWeek.objects.filter(workspace=workspace, profile_id__in=ids).delete()[0]


def rollups_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[Any]) -> list[dict[str, Any]]:
    """Nothing personal beyond the events themselves (exported by the events app): the rollup is
    derived activity times, listed for completeness."""
    rows = PersonWeek.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).order_by("week")
    return [{"week": r.week.isoformat(), "last_at": r.last_at.isoformat()} for r in rows]


# --- the page's rollups: cohort pairs, decision counts, the RFM snapshot ------------------------------------------

WINDOW_DAYS_MAX = 91  # the cohort pairs reach 13 weeks; the page's longest window is 90 days

# Given a CTE ``log(id, workspace_id, profile_id, week, added)`` of PersonWeek changes, ``delta``
# is what they change in the cohort pairs: per changed person, the pairs of their weeks now
# minus the pairs of their weeks before the changes (now, with each changed week put back as it
# was before its first change), over the only part that can change (pairs starting within 13
# weeks of a changed week). One statement, so the log and the weeks are read in one snapshot:
# a change not yet committed is in neither.
COHORT_DELTA_SQL = f"""
    first_change AS (
        SELECT DISTINCT ON (workspace_id, profile_id, week) workspace_id, profile_id, week, added
        FROM log ORDER BY workspace_id, profile_id, week, id
    ), region AS (
        SELECT workspace_id, profile_id, MIN(week) - {WINDOW_DAYS_MAX} AS lo, MAX(week) + {WINDOW_DAYS_MAX} AS hi
        FROM first_change GROUP BY 1, 2
    ), now_rows AS (
        SELECT w.workspace_id, w.profile_id, w.week FROM {PersonWeek._meta.db_table} w
        JOIN region r ON r.workspace_id = w.workspace_id AND r.profile_id = w.profile_id
        WHERE w.week BETWEEN r.lo - {WINDOW_DAYS_MAX} AND r.hi + {WINDOW_DAYS_MAX}
    ), before_rows AS (
        SELECT n.workspace_id, n.profile_id, n.week FROM now_rows n
        LEFT JOIN first_change f ON f.workspace_id = n.workspace_id AND f.profile_id = n.profile_id AND f.week = n.week
        WHERE f.week IS NULL
        UNION ALL
        SELECT workspace_id, profile_id, week FROM first_change WHERE NOT added
    ), sequenced AS (
        SELECT s.*, LAG(s.week) OVER (PARTITION BY s.sign, s.workspace_id, s.profile_id ORDER BY s.week) AS prev
        FROM (SELECT *, 1 AS sign FROM now_rows UNION ALL SELECT *, -1 FROM before_rows) s
    ), delta AS (
        SELECT a.workspace_id, a.week AS first_week, b.week,
               CASE WHEN a.week - a.prev <= {WINDOW_DAYS_MAX} THEN (a.week - a.prev) / 7 ELSE 0 END AS gap,
               SUM(a.sign) AS people
        FROM sequenced a
        JOIN region r ON r.workspace_id = a.workspace_id AND r.profile_id = a.profile_id
             AND a.week BETWEEN r.lo AND r.hi
        JOIN sequenced b ON b.sign = a.sign AND b.workspace_id = a.workspace_id AND b.profile_id = a.profile_id
             AND b.week BETWEEN a.week AND a.week + {WINDOW_DAYS_MAX}
        GROUP BY 1, 2, 3, 4 HAVING SUM(a.sign) <> 0
    )"""  # noqa: S608 - table names come from the models

COMPACT_PEOPLE = 20_000  # people per statement; a bounded number of statements per run
COMPACT_DECISIONS = 100_000
COMPACT_ROUNDS = 50


def _fold_rounds(lock: str, sql: str, params: list[Any], *, last_round: Callable[[int], bool]) -> int:
    """Run a fold statement (it returns how many changes it folded) in rounds of its own
    transaction, at most ``COMPACT_ROUNDS``, until ``last_round(n)`` for a round that folded n. Each round first tries
    the transaction-scoped advisory lock ``lock``: while another process folds, this one stops."""
    folded = 0
    for _ in range(COMPACT_ROUNDS):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [lock])
            if not cursor.fetchone()[0]:
                return folded
            cursor.execute(sql, params)
            n = int(cursor.fetchone()[0])
        folded += n
        if last_round(n):
            break
    return folded


def cohort_pairs_compact() -> int:
    """Fold the logged week changes into the cohort pairs (beat, every minute; also after a
    bulk load). Each statement takes every logged change of up to ``COMPACT_PEOPLE`` people,
    deletes them and adds their difference to the pairs, so it is exact whatever runs beside
    it; a second compaction at the same time does nothing. Returns the changes folded in."""
    changes, pairs = PersonWeekChange._meta.db_table, CohortPair._meta.db_table
    return _fold_rounds(
        "insights.cohort_pairs_compact",
        f"""WITH chosen AS (
                        SELECT DISTINCT workspace_id, profile_id FROM {changes} LIMIT %s
                    ), log AS (
                        DELETE FROM {changes} c USING chosen h
                        WHERE c.workspace_id = h.workspace_id AND c.profile_id = h.profile_id
                        RETURNING c.id, c.workspace_id, c.profile_id, c.week, c.added
                    ), {COHORT_DELTA_SQL}, counted AS (SELECT COUNT(*) AS n FROM log), folded AS (
                        INSERT INTO {pairs} AS t (workspace_id, first_week, week, gap, people)
                        SELECT workspace_id, first_week, week, gap, people FROM delta ORDER BY 1, 2, 3, 4
                        ON CONFLICT (workspace_id, first_week, week, gap)
                        DO UPDATE SET people = t.people + EXCLUDED.people
                    )
                    SELECT n FROM counted""",  # noqa: S608
        [COMPACT_PEOPLE],
        last_round=lambda n: n == 0,  # a round takes up to COMPACT_PEOPLE people, however many changes
    )


def decision_counts_compact() -> int:
    """Fold the logged decision changes into the per-hour and per-day counts of decisions per
    action and per millisecond of latency (beat, every minute). Each statement deletes a batch of
    changes and adds them up in one snapshot; a second compaction at the same time does nothing.
    Returns the changes folded in."""
    changes = DecisionChange._meta.db_table
    counts, latencies = DecisionCount._meta.db_table, LatencyCount._meta.db_table
    return _fold_rounds(
        "insights.decision_counts_compact",
        f"""WITH moved AS (
                        DELETE FROM {changes} WHERE id IN (SELECT id FROM {changes} ORDER BY id LIMIT %s)
                        RETURNING workspace_id, created_at, chosen_key, latency_ms, sign
                    ), periods AS (
                        SELECT m.*, p.period, date_trunc(p.period, m.created_at, 'UTC') AS start
                        FROM moved m CROSS JOIN (VALUES ('hour'), ('day')) AS p(period)
                    ), by_action AS (
                        INSERT INTO {counts} AS t (workspace_id, period, start, chosen_key, decisions)
                        SELECT workspace_id, period, start, chosen_key, SUM(sign) FROM periods
                        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
                        ON CONFLICT (workspace_id, period, start, chosen_key)
                        DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions
                    ), by_latency AS (
                        INSERT INTO {latencies} AS t (workspace_id, period, start, ms, decisions)
                        SELECT workspace_id, period, start, {LATENCY_MS_SQL.format(column="latency_ms")}, SUM(sign)
                        FROM periods GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
                        ON CONFLICT (workspace_id, period, start, ms)
                        DO UPDATE SET decisions = t.decisions + EXCLUDED.decisions
                    )
                    SELECT COUNT(*) FROM moved""",  # noqa: S608
        [COMPACT_DECISIONS],
        last_round=lambda n: n < COMPACT_DECISIONS,
    )


def rollups_compact() -> dict[str, int]:
    """Both change logs folded in (the beat task ``insights.rollups_compact_task``)."""
    return {"decisions": decision_counts_compact(), "weeks": cohort_pairs_compact()}


def rfm_snapshot_refresh(*, workspace: Workspace) -> RfmSnapshot:
    """Rank every customer now and keep the grid (``RfmSnapshot``) for the page to read."""
    from insights.selectors import rfm_cells

    cells = rfm_cells(workspace=workspace)
    snapshot, _ = RfmSnapshot.objects.update_or_create(
        workspace=workspace,
        defaults={
            "computed_at": timezone.now(),
            "customers": sum(c.people for c in cells),
            "cells": [[c.recency, c.frequency, c.people, c.monetary] for c in cells],
        },
    )
    return snapshot


def rfm_snapshots_refresh() -> int:
    """Refresh the RFM grid of every workspace that has customers or had a grid (beat)."""
    ids = set(Customer.objects.values_list("workspace_id", flat=True).distinct())
    ids |= set(RfmSnapshot.objects.values_list("workspace_id", flat=True))
    for workspace in Workspace.objects.filter(id__in=ids):
        rfm_snapshot_refresh(workspace=workspace)
    return len(ids)
