"""Catalog pages for marketers: actions, policies (with off-policy evaluation) and guardrails.

Everyone in the workspace can read them; changing anything needs ``manage_catalog`` (the
buttons are hidden for others and their POSTs answer 403). Objects of other workspaces are 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods, require_POST

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_require
from decisions.evaluation import policy_evaluate
from decisions.forms import (
    ActionForm,
    GuardrailsForm,
    PolicyForm,
    SuppressionRuleFormSet,
    add_catalog_errors,
    suppression_initial,
    suppression_rules,
)
from decisions.models import Channel, Decision, DecisionStatus, PolicyStatus, Trigger
from decisions.selectors import (
    ACTION_SORTS,
    LIVE_ROWS_MAX,
    action_get,
    action_list,
    action_list_sorted,
    action_version_list,
    can_manage_catalog,
    decision_counts_since,
    decision_history_for,
    decision_list,
    decision_rows,
    guardrails_get,
    policy_get,
    policy_list,
    policy_version_list,
)
from decisions.services import CatalogError, action_save, decision_make, guardrails_save, policy_save
from profiles.selectors import profile_get, profile_live_count

PAGE_SIZE = 25


# --- actions ------------------------------------------------------------------------------------------------------


@login_required
def action_list_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    search = request.GET.get("q", "")[:100].strip()
    sort = request.GET.get("sort", "name")
    sort = sort if sort in ACTION_SORTS else "name"
    actions = action_list_sorted(actor=request.user, workspace=workspace, search=search, sort=sort)
    page = Paginator(actions, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "search": search,
        "sort": sort,
        "can_manage": can_manage_catalog(actor=request.user, workspace=workspace),
        "total": action_list(actor=request.user, workspace=workspace).count(),
    }
    if request.htmx and request.htmx.target == "action-table":  # type: ignore[attr-defined]
        return render(request, "decisions/actions.html#action-table", context)
    return render(request, "decisions/actions.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def action_create_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
    form = ActionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            action = action_save(
                workspace=workspace,
                actor=request.user,
                values=form.values(),
                reason=form.cleaned_data.get("reason", ""),
            )
        except CatalogError as exc:
            add_catalog_errors(form, exc)
        else:
            messages.success(request, f"“{action.name}” is in the catalog (version 1).")
            return redirect("decisions:action", key=action.key)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "decisions/action_form.html", {"form": form, "action": None, "can_manage": True}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def action_edit_page(request: HttpRequest, key: str) -> HttpResponse:
    workspace = request_workspace(request)
    action = action_get(actor=request.user, workspace=workspace, key=key, for_change=request.method == "POST")
    can_manage = can_manage_catalog(actor=request.user, workspace=workspace)
    form = ActionForm(request.POST or None, action=action)
    if not can_manage:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            action = action_save(
                workspace=workspace,
                actor=request.user,
                values=form.values(),
                action=action,
                reason=form.cleaned_data.get("reason", ""),
            )
        except CatalogError as exc:
            add_catalog_errors(form, exc)
        else:
            messages.success(request, f"Saved “{action.name}” as version {action.version}.")
            return redirect("decisions:action", key=action.key)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "action": action, "can_manage": can_manage}
    return render(request, "decisions/action_form.html", context, status=status)


@login_required
@require_POST
def action_toggle(request: HttpRequest, key: str) -> HttpResponse:
    workspace = request_workspace(request)
    action = action_get(actor=request.user, workspace=workspace, key=key, for_change=True)
    enabled = not action.enabled
    action = action_save(
        workspace=workspace,
        actor=request.user,
        values={"enabled": enabled},
        action=action,
        reason="enabled" if enabled else "disabled",
    )
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "decisions/actions.html#action-row", {"action": action, "can_manage": True})
    messages.success(request, f"“{action.name}” is now {'enabled' if enabled else 'disabled'}.")
    return redirect("decisions:actions")


@login_required
def action_versions_page(request: HttpRequest, key: str) -> HttpResponse:
    action, versions = action_version_list(actor=request.user, workspace=request_workspace(request), key=key)
    return render(request, "decisions/versions.html", {"object": action, "kind": "action", "versions": versions})


# --- policies -----------------------------------------------------------------------------------------------------


def _action_choices(request: HttpRequest) -> list[tuple[str, str]]:
    actions = action_list(actor=request.user, workspace=request_workspace(request))
    return [(a.key, f"{a.name} ({a.key})") for a in actions]


@login_required
def policy_list_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    page = Paginator(policy_list(actor=request.user, workspace=workspace), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "policies": page.object_list,
        "page": page,
        "can_manage": can_manage_catalog(actor=request.user, workspace=workspace),
    }
    return render(request, "decisions/policies.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def policy_create_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
    form = PolicyForm(request.POST or None, action_choices=_action_choices(request))
    if request.method == "POST" and form.is_valid():
        try:
            policy = policy_save(
                workspace=workspace, actor=request.user, values=form.values(), reason=form.cleaned_data["reason"]
            )
        except CatalogError as exc:
            add_catalog_errors(form, exc)
        else:
            messages.success(request, f"Policy “{policy.name}” saved as version 1 ({policy.get_status_display()}).")
            return redirect("decisions:policy", key=policy.key)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "decisions/policy_form.html", {"form": form, "policy": None, "can_manage": True}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def policy_edit_page(request: HttpRequest, key: str) -> HttpResponse:
    workspace = request_workspace(request)
    policy = policy_get(actor=request.user, workspace=workspace, key=key, for_change=request.method == "POST")
    can_manage = can_manage_catalog(actor=request.user, workspace=workspace)
    form = PolicyForm(request.POST or None, action_choices=_action_choices(request), policy=policy)
    if not can_manage:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            policy = policy_save(
                workspace=workspace,
                actor=request.user,
                values=form.values(),
                policy=policy,
                reason=form.cleaned_data["reason"],
            )
        except CatalogError as exc:
            add_catalog_errors(form, exc)
        else:
            messages.success(request, f"Saved “{policy.name}” as version {policy.version}.")
            return redirect("decisions:policy", key=policy.key)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "policy": policy, "can_manage": can_manage}
    return render(request, "decisions/policy_form.html", context, status=status)


@login_required
def policy_versions_page(request: HttpRequest, key: str) -> HttpResponse:
    policy, versions = policy_version_list(actor=request.user, workspace=request_workspace(request), key=key)
    return render(request, "decisions/versions.html", {"object": policy, "kind": "policy", "versions": versions})


@login_required
def policy_evaluation_page(request: HttpRequest, key: str) -> HttpResponse:
    policy = policy_get(actor=request.user, workspace=request_workspace(request), key=key)
    return render(request, "decisions/evaluation.html", {"policy": policy, "since": request.GET.get("since", "")})


@login_required
def policy_evaluation_results(request: HttpRequest, key: str) -> HttpResponse:
    workspace = request_workspace(request)
    policy = policy_get(actor=request.user, workspace=workspace, key=key)
    since = parse_datetime(request.GET.get("since", "")) if request.GET.get("since") else None
    evaluation = policy_evaluate(workspace=workspace, candidate=policy, since=since)
    chart: dict[str, Any] = {
        "labels": [e.method for e in evaluation.estimates] + (["Live (observed)"] if evaluation.live else []),
        "values": [],
        "intervals": [],
    }
    for estimate in [*evaluation.estimates, *([evaluation.live] if evaluation.live else [])]:
        chart["values"].append(round(estimate.value, 4))
        chart["intervals"].append([round(estimate.low, 4), round(estimate.high, 4)])
    context = {"policy": policy, "evaluation": evaluation, "chart": chart}
    return render(request, "decisions/evaluation.html#results", context)


# --- guardrails ---------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def guardrails_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    if request.method == "POST":
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
    config = guardrails_get(actor=request.user, workspace=workspace)
    can_manage = can_manage_catalog(actor=request.user, workspace=workspace)
    form = GuardrailsForm(request.POST or None, config=config)
    rules = SuppressionRuleFormSet(request.POST or None, initial=suppression_initial(config), prefix="rules")
    if not can_manage:
        for each in [form, *rules.forms]:
            for field in each.fields.values():
                field.disabled = True
    if request.method == "POST" and form.is_valid() and rules.is_valid():
        try:
            guardrails_save(
                workspace=workspace,
                actor=request.user,
                contact_policy=form.contact_policy(),
                brand_safety=form.brand_safety(),
                suppression_rules=suppression_rules(rules, config),
            )
        except CatalogError as exc:
            add_catalog_errors(form, exc)
        else:
            messages.success(request, "Guardrails saved. They apply to the next decision.")
            return redirect("decisions:guardrails")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "rules": rules, "config": config, "can_manage": can_manage}
    return render(request, "decisions/guardrails.html", context, status=status)


DECISION_PAGE_SIZE = 50


@login_required
def decision_log_page(request: HttpRequest) -> HttpResponse:
    """The decision log, filtered by action, channel, outcome or person (the lift panel loads apart)."""
    workspace = request_workspace(request)
    filters = {name: request.GET.get(name, "")[:60] for name in ("action", "channel", "status", "person")}
    person = None
    if filters["person"]:
        person = profile_get(actor=request.user, workspace=workspace, profile_id=filters["person"])
        filters["person"] = str(person.id)
    decisions = (
        decision_list(
            actor=request.user,
            workspace=workspace,
            action=filters["action"],
            channel=filters["channel"],
            status=filters["status"],
            profile_id=filters["person"],
        )
        .select_related("profile")
        .defer("inputs", "candidates", "rendered", "reasons", "profile__trait_meta", "profile__groups")
    )
    page = Paginator(decisions, DECISION_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _with_fired(page.object_list)
    query = urlencode({name: value for name, value in filters.items() if value})
    context = {
        "page": page,
        "filters": filters,
        "person": person,
        "query": query,
        "statuses": DecisionStatus.choices,
        "channels": Channel.choices,
    }
    return render(request, "decisions/decision_log.html", context)


# --- live decision stream -----------------------------------------------------------------------------------------


def _with_fired(decisions: Iterable[Decision]) -> list[Decision]:
    """Each decision with ``fired``: the guardrails that removed an action (not the actions that
    were simply not eligible), worked out once here rather than filtered row by row in the template."""
    rows = list(decisions)
    for decision in rows:
        decision.fired = [r for r in decision.guardrails if r.get("guardrail") != "eligibility"]  # type: ignore[attr-defined]
    return rows


LIVE_INITIAL_ROWS = 30


def _stream_filters(request: HttpRequest) -> dict[str, str]:
    return {name: request.GET.get(name, "")[:60] for name in ("action", "channel", "status")}


@login_required
def decision_live_page(request: HttpRequest) -> HttpResponse:
    """Decisions as they are made: the latest ones rendered here, newer ones pushed over the
    workspace websocket ("decision.made") and fetched as rows in batches by static/js/decision-stream.js."""
    workspace = request_workspace(request)
    filters = _stream_filters(request)
    decisions = (
        decision_list(actor=request.user, workspace=workspace, **filters)
        .select_related("profile")
        .defer("inputs", "candidates", "rendered", "reasons", "profile__trait_meta", "profile__groups")
    )
    context = {
        "decisions": _with_fired(decisions[:LIVE_INITIAL_ROWS]),
        "filters": filters,
        "action_keys": [a.key for a in action_list(actor=request.user, workspace=workspace)],
        "statuses": DecisionStatus.choices,
        "channels": Channel.choices,
    }
    if request.htmx and request.htmx.target == "stream-rows":  # type: ignore[attr-defined]
        return render(request, "decisions/live.html#stream-rows", context)
    return render(request, "decisions/live.html", context)


@login_required
def decision_live_rows(request: HttpRequest) -> HttpResponse:
    """Table rows for the decisions the websocket announced (``?ids=a,b,c``), newest first."""
    ids = [value for value in request.GET.get("ids", "").split(",") if value][:LIVE_ROWS_MAX]
    rows = decision_rows(actor=request.user, workspace=request_workspace(request), ids=ids)
    compact = request.GET.get("compact") == "1"
    context = {"decisions": _with_fired(rows), "compact": compact, "fresh": True}
    return render(request, "decisions/_stream_rows.html", context)


# --- customer 360 fragments ---------------------------------------------------------------------------------------


@login_required
def customer_decisions_fragment(request: HttpRequest, profile_id: str) -> HttpResponse:
    """A person's latest decisions with what came of them, for the customer page."""
    workspace = request_workspace(request)
    profile = profile_get(actor=request.user, workspace=workspace, profile_id=profile_id)
    context = {
        "profile": profile,
        "decisions": decision_history_for(actor=request.user, workspace=workspace, profile=profile),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "decisions/_customer_decisions.html", context)
    return render(
        request,
        "fragment_page.html",
        {"title": "Decisions", "fragment": "decisions/_customer_decisions.html", **context},
    )


@login_required
def customer_next_fragment(request: HttpRequest, profile_id: str) -> HttpResponse:
    """ "What would we do now": a dry run of the live policy for this person, not stored and not acted on."""
    workspace = request_workspace(request)
    profile = profile_get(actor=request.user, workspace=workspace, profile_id=profile_id)
    decision = decision_make(workspace=workspace, profile=profile, trigger=Trigger.DRY_RUN, dry_run=True)
    names = dict(action_list(actor=request.user, workspace=workspace).values_list("key", "name"))
    candidates = sorted(decision.candidates, key=lambda c: -float(c.get("expected_priority", 0)))
    context = {
        "profile": profile,
        "decision": decision,
        "chosen_name": names.get(decision.chosen_key, decision.chosen_key),
        "candidates": [{**c, "name": names.get(c.get("key", ""), c.get("key", ""))} for c in candidates[:8]],
        "removed": [{**r, "name": names.get(r.get("action", ""), r.get("action", ""))} for r in decision.guardrails],
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "decisions/_customer_next.html", context)
    return render(
        request,
        "fragment_page.html",
        {"title": "What would we do now", "fragment": "decisions/_customer_next.html", **context},
    )


DASHBOARD_FEED_ROWS = 10


@login_required
def dashboard_feed_fragment(request: HttpRequest) -> HttpResponse:
    """The dashboard's compact live feed: today's counts (in the workspace's time zone) and the
    latest decisions; the page loads it over htmx and decision-stream.js keeps it current."""
    workspace = request_workspace(request)
    try:
        zone = ZoneInfo(workspace.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    midnight = timezone.now().astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    decisions = (
        decision_list(actor=request.user, workspace=workspace)
        .select_related("profile")
        .defer("inputs", "candidates", "rendered", "reasons", "profile__trait_meta", "profile__groups")
    )
    context = {
        "counts": decision_counts_since(actor=request.user, workspace=workspace, since=midnight),
        "people": profile_live_count(workspace=workspace),
        "decisions": _with_fired(decisions[:DASHBOARD_FEED_ROWS]),
        "compact": True,
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "decisions/_dashboard_feed.html", context)
    return render(
        request, "fragment_page.html", {"title": "Today", "fragment": "decisions/_dashboard_feed.html", **context}
    )


POLICY_MOVES: dict[str, str] = {
    PolicyStatus.SHADOW: "run as a shadow: it decides alongside the live policy without acting",
    PolicyStatus.LIVE: "made live: it acts from the next decision (the previous live policy is retired)",
    PolicyStatus.RETIRED: "retired: it no longer decides",
}


@login_required
@require_POST
def policy_status_change(request: HttpRequest, key: str) -> HttpResponse:
    """Shadow-run, go live or retire a policy from the list (a new audited version each time)."""
    workspace = request_workspace(request)
    policy = policy_get(actor=request.user, workspace=workspace, key=key, for_change=True)
    status = request.POST.get("status", "")
    if status not in POLICY_MOVES:
        messages.error(request, "Choose shadow, live or retired.")
        return redirect("decisions:policies")
    if status != policy.status:
        policy = policy_save(
            workspace=workspace,
            actor=request.user,
            values={"status": status},
            policy=policy,
            reason=f"status: {status}",
        )
    messages.success(request, f"“{policy.name}” {POLICY_MOVES[status]} (version {policy.version}).")
    return redirect("decisions:policies")
