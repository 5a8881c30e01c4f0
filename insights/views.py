"""The insights page (charts with their numbers in tables) and a CSV export per chart."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.request_context import request_workspace
from insights.selectors import (
    Rfm,
    action_reward_lifts,
    cohort_retention,
    conversion_lifts,
    decision_allocation,
    decision_latency,
    funnel,
    insights_overview,
    policy_reward_lifts,
    rfm_of,
    rfm_snapshot,
)
from insights.services import rfm_snapshot_refresh

WINDOWS = {"1": 1, "7": 7, "30": 30, "90": 90}
DEFAULT_WINDOW = "30"


@dataclass(frozen=True)
class Window:
    days: str
    since: datetime


def _window(request: HttpRequest) -> Window:
    days = request.GET.get("days", DEFAULT_WINDOW)
    days = days if days in WINDOWS else DEFAULT_WINDOW
    return Window(days, timezone.now() - timedelta(days=WINDOWS[days]))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@login_required
@require_GET
def insights_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    window = _window(request)
    overview = insights_overview(actor=request.user, workspace=workspace, since=window.since)
    lifts, rewards, policies = overview.lifts, overview.rewards, overview.policies
    allocation, latency, steps, cohorts = overview.allocation, overview.latency, overview.steps, overview.cohorts
    rfm = overview.rfm or _rfm_now(workspace)
    charts = {
        "lift": [
            {"key": x.action, "lift": x.lift, "low": x.low, "high": x.high, "measured": bool(x.treated and x.control)}
            for x in lifts
        ],
        "reward": [
            {"key": r.key, "shown": r.shown_reward, "held_out": r.held_out_reward, "low": r.low, "high": r.high}
            for r in rewards
        ],
        "allocation": {
            "bucket": allocation.bucket,
            "times": [_iso(t) for t in allocation.times],
            "series": allocation.series,
        },
        "funnel": [{"name": s.name, "people": s.people} for s in steps],
        "cohorts": [{"week": c.week.date().isoformat(), "retention": c.retention} for c in cohorts],
        "rfm": [
            {"recency": c.recency, "frequency": c.frequency, "people": c.people, "monetary": c.monetary}
            for c in rfm.cells
        ],
        "latency": {"labels": latency.labels, "counts": latency.counts},
    }
    context = {
        "window": window,
        "windows": list(WINDOWS),
        "lifts": lifts,
        "rewards": rewards,
        "policies": policies,
        "allocation": allocation,
        "allocation_rows": list(zip(allocation.times, zip(*allocation.series.values(), strict=True), strict=True))
        if allocation.series
        else [],
        "latency": latency,
        "latency_rows": list(zip(latency.labels, latency.counts, strict=True)),
        "steps": steps,
        "funnel_empty": not steps or steps[0].people == 0,
        "cohorts": cohorts,
        "cohort_width": max((len(c.active) for c in cohorts), default=0),
        "rfm": rfm,
        "charts": charts,
    }
    return render(request, "insights/index.html", context)


def _rfm_now(workspace: Workspace) -> Rfm:
    """The first RFM grid of a workspace, before the beat task has computed one."""
    return rfm_of(rfm_snapshot_refresh(workspace=workspace))


@login_required
def decision_lifts_fragment(request: HttpRequest) -> HttpResponse:
    """The decision log's lift panel (route ``decisions:lifts``, joined to the decisions URLs in
    cep/urls.py: decisions may not import insights): each action's conversion against its
    holdout from the running totals (``insights.models.DecisionArm``), the same numbers as a scan
    of the log (``decisions.selectors.action_lifts``)."""
    context = {"lifts": conversion_lifts(actor=request.user, workspace=request_workspace(request))}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "decisions/_lifts.html", context)
    return render(
        request, "fragment_page.html", {"title": "Lift against holdout", "fragment": "decisions/_lifts.html", **context}
    )


# --- CSV ----------------------------------------------------------------------------------------------------------

Table = tuple[list[str], Iterable[Iterable[Any]]]


def _lift_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    rows = conversion_lifts(actor=actor, workspace=workspace)
    header = ["action", "shown", "shown_conversions", "held_out", "held_out_conversions", "shown_rate",
              "held_out_rate", "lift", "low_95", "high_95"]  # fmt: skip
    return header, (
        [
            x.action,
            x.treated,
            x.treated_conversions,
            x.control,
            x.control_conversions,
            x.treated_rate,
            x.control_rate,
            x.lift,
            x.low,
            x.high,
        ]
        for x in rows
    )


def _reward_table(rows: list[Any], name: str) -> Table:
    header = [name, "shown", "held_out", "shown_conversions", "held_out_conversions", "shown_reward",
              "held_out_reward", "difference", "low_95", "high_95"]  # fmt: skip
    return header, (
        [
            r.key,
            r.shown,
            r.held_out,
            r.shown_conversions,
            r.held_out_conversions,
            r.shown_reward,
            r.held_out_reward,
            r.difference,
            r.low,
            r.high,
        ]
        for r in rows
    )


def _reward_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    return _reward_table(action_reward_lifts(actor=actor, workspace=workspace), "action")


def _policies_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    return _reward_table(policy_reward_lifts(actor=actor, workspace=workspace), "policy")


def _allocation_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    allocation = decision_allocation(actor=actor, workspace=workspace, since=window.since)
    keys = list(allocation.series)
    columns = [allocation.series[k] for k in keys]
    return [allocation.bucket, *keys], (
        [_iso(t), *(column[i] for column in columns)] for i, t in enumerate(allocation.times)
    )


def _funnel_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    steps = funnel(actor=actor, workspace=workspace, since=window.since)
    return ["step", "people", "of_previous", "of_first"], ([s.name, s.people, s.of_previous, s.of_first] for s in steps)


def _cohorts_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    cohorts = cohort_retention(actor=actor, workspace=workspace, since=window.since)
    width = max((len(c.active) for c in cohorts), default=0)
    header = ["cohort_week", "size", *(f"week_{i}" for i in range(width))]
    return header, ([c.week.date().isoformat(), c.size, *c.active] for c in cohorts)


def _rfm_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    rfm = rfm_snapshot(actor=actor, workspace=workspace) or _rfm_now(workspace)
    return ["recency_quintile", "frequency_quintile", "people", "mean_revenue"], (
        [c.recency, c.frequency, c.people, c.monetary] for c in rfm.cells
    )


def _latency_csv(actor: Actor, workspace: Workspace, window: Window) -> Table:
    latency = decision_latency(actor=actor, workspace=workspace, since=window.since)
    return ["latency_bucket", "decisions"], zip(latency.labels, latency.counts, strict=True)


CSV_TABLES: dict[str, Callable[[Actor, Workspace, Window], Table]] = {
    "lift": _lift_csv,
    "reward": _reward_csv,
    "policies": _policies_csv,
    "allocation": _allocation_csv,
    "funnel": _funnel_csv,
    "cohorts": _cohorts_csv,
    "rfm": _rfm_csv,
    "latency": _latency_csv,
}


@login_required
@require_GET
def insights_csv(request: HttpRequest, chart: str) -> HttpResponse:
    table = CSV_TABLES.get(chart)
    if table is None:
        raise Http404("No such chart.")
    window = _window(request)
    header, rows = table(request.user, request_workspace(request), window)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="insights-{chart}-{window.days}d.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
