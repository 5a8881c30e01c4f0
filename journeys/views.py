"""Signal and playbook pages: lists, edit forms with inline errors, and each playbook's runs.
Everyone in the workspace reads them; changing them needs ``manage_catalog``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_require
from journeys.forms import PlaybookForm, SignalForm, add_journey_errors
from journeys.selectors import (
    can_manage,
    playbook_get,
    playbook_list,
    run_get,
    run_list,
    signal_get,
    signal_list,
)
from journeys.services import JourneyError, playbook_save, signal_save

PAGE_SIZE = 25


@login_required
def signal_list_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    context = {
        "signals": signal_list(actor=request.user, workspace=workspace),
        "can_manage": can_manage(actor=request.user, workspace=workspace),
        "tab": "signals",
    }
    return render(request, "journeys/signals.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def signal_edit_page(request: HttpRequest, key: str | None = None) -> HttpResponse:
    workspace = request_workspace(request)
    changing = request.method == "POST"
    signal = signal_get(actor=request.user, workspace=workspace, key=key, for_change=changing) if key else None
    if signal is None:
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
    allowed = can_manage(actor=request.user, workspace=workspace)
    form = SignalForm(request.POST or None, signal=signal)
    if not allowed:
        for field in form.fields.values():
            field.disabled = True
    if changing and form.is_valid():
        values = form.values()
        if signal is not None:
            values.pop("key")
        try:
            saved = signal_save(
                workspace=workspace,
                actor=request.user,
                values=values,
                signal=signal,
                reason=form.cleaned_data.get("reason", ""),
            )
        except JourneyError as exc:
            add_journey_errors(form, exc)
        else:
            messages.success(request, f"Saved “{saved.name}” as version {saved.version}.")
            return redirect("journeys:signal", key=saved.key)
    context = {"form": form, "signal": signal, "can_manage": allowed}
    return render(request, "journeys/signal_form.html", context, status=400 if changing else 200)


@login_required
def playbook_list_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    context = {
        "playbooks": playbook_list(actor=request.user, workspace=workspace),
        "can_manage": can_manage(actor=request.user, workspace=workspace),
        "tab": "playbooks",
    }
    return render(request, "journeys/playbooks.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def playbook_edit_page(request: HttpRequest, key: str | None = None) -> HttpResponse:
    workspace = request_workspace(request)
    changing = request.method == "POST"
    playbook = playbook_get(actor=request.user, workspace=workspace, key=key, for_change=changing) if key else None
    if playbook is None:
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
    allowed = can_manage(actor=request.user, workspace=workspace)
    signals = signal_list(actor=request.user, workspace=workspace)
    form = PlaybookForm(request.POST or None, signals=signals, playbook=playbook)
    if not allowed:
        for field in form.fields.values():
            field.disabled = True
    if changing and form.is_valid():
        values = form.values()
        if playbook is not None:
            values.pop("key")
        try:
            saved = playbook_save(
                workspace=workspace,
                actor=request.user,
                values=values,
                playbook=playbook,
                reason=form.cleaned_data.get("reason", ""),
            )
        except JourneyError as exc:
            add_journey_errors(form, exc)
        else:
            messages.success(request, f"Saved “{saved.name}” as version {saved.version}.")
            return redirect("journeys:playbook", key=saved.key)
    context = {"form": form, "playbook": playbook, "can_manage": allowed}
    return render(request, "journeys/playbook_form.html", context, status=400 if changing else 200)


@login_required
def playbook_runs_page(request: HttpRequest, key: str) -> HttpResponse:
    workspace = request_workspace(request)
    playbook = playbook_get(actor=request.user, workspace=workspace, key=key)
    runs = run_list(actor=request.user, workspace=workspace, playbook=playbook)
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "journeys/runs.html", {"playbook": playbook, "page": page})


@login_required
def run_detail_page(request: HttpRequest, run_id: str) -> HttpResponse:
    run = run_get(actor=request.user, workspace=request_workspace(request), run_id=run_id)
    steps = run.steps.select_related("decision").order_by("index")
    return render(request, "journeys/run.html", {"run": run, "steps": steps})
