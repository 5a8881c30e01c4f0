"""Catalog pages for marketers: actions, policies (with off-policy evaluation) and guardrails.

Everyone in the workspace can read them; changing anything needs ``manage_catalog`` (the
buttons are hidden for others and their POSTs answer 403). Objects of other workspaces are 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
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
from decisions.models import Channel, DecisionStatus
from decisions.selectors import (
    ACTION_SORTS,
    action_get,
    action_lifts,
    action_list,
    action_list_sorted,
    action_version_list,
    can_manage_catalog,
    decision_list,
    guardrails_get,
    policy_get,
    policy_list,
    policy_version_list,
)
from decisions.services import CatalogError, action_save, guardrails_save, policy_save

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
    policies = policy_list(actor=request.user, workspace=workspace)
    context = {"policies": policies, "can_manage": can_manage_catalog(actor=request.user, workspace=workspace)}
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
    """The decision log with filters, and each action's measured lift against its holdout."""
    workspace = request_workspace(request)
    filters = {name: request.GET.get(name, "")[:60] for name in ("action", "channel", "status")}
    decisions = decision_list(actor=request.user, workspace=workspace, **filters).select_related("profile")
    page = Paginator(decisions, DECISION_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "lifts": action_lifts(actor=request.user, workspace=workspace),
        "statuses": DecisionStatus.choices,
        "channels": Channel.choices,
    }
    return render(request, "decisions/decision_log.html", context)
