"""The agent queue (/support/) and the sales desk (/sales/). Everyone in the workspace can read;
claiming, assigning, resolving and opening need ``work_tickets``. Foreign ids are 404."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_MEMBERS, WORK_TICKETS
from accounts.selectors import workspace_can, workspace_require
from profiles.selectors import profile_by_identifier
from support.forms import AgentForm, LeadForm, TicketForm
from support.leads import LeadError, lead_close, lead_create, lead_recommendation
from support.models import Team, Ticket
from support.selectors import (
    STATUS_FILTERS,
    agent_list,
    can_work_tickets,
    lead_get,
    lead_list,
    team_list,
    ticket_context,
    ticket_get,
    ticket_list,
)
from support.services import (
    AGENT_ROLES,
    TicketError,
    agent_loads,
    agent_save,
    ticket_assign,
    ticket_claim,
    ticket_create,
    ticket_resolve,
)

PAGE_SIZE = 25


def _filters(request: HttpRequest) -> dict[str, str]:
    status = request.GET.get("status", "open")
    return {
        "status": status if status in STATUS_FILTERS else "open",
        "team": request.GET.get("team", "")[:60].replace("\x00", ""),
        "assignee": "me" if request.GET.get("assignee") == "me" else "",
        "q": request.GET.get("q", "")[:100].replace("\x00", "").strip(),
    }


def _query(filters: dict[str, str], **extra: Any) -> str:
    from urllib.parse import urlencode

    values = {k: v for k, v in {**filters, **extra}.items() if v}
    return urlencode(values)


def _assignable(workspace: Any) -> list[User]:
    return list(
        User.objects.filter(memberships__workspace=workspace, memberships__role__in=AGENT_ROLES).order_by("username")
    )


def _detail_context(request: HttpRequest, ticket: Ticket) -> dict[str, Any]:
    workspace = request_workspace(request)
    return {
        "ticket": ticket,
        "context": ticket_context(ticket=ticket),
        "can_work": can_work_tickets(actor=request.user, workspace=workspace),
        "assignable": _assignable(workspace),
        "now": timezone.now(),
    }


@login_required
def queue_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    filters = _filters(request)
    tickets = ticket_list(
        actor=request.user,
        workspace=workspace,
        status=filters["status"],
        team=filters["team"],
        assignee=filters["assignee"],
        search=filters["q"],
    )
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    selected = None
    if request.GET.get("ticket"):
        selected = ticket_get(actor=request.user, workspace=workspace, ticket_id=request.GET["ticket"])
    context: dict[str, Any] = {
        "page": page,
        "filters": filters,
        "query": _query(filters),
        "statuses": STATUS_FILTERS,
        "teams": team_list(actor=request.user, workspace=workspace),
        "can_work": can_work_tickets(actor=request.user, workspace=workspace),
        "selected_id": str(selected.id) if selected else "",
        "now": timezone.now(),
    }
    if request.htmx and request.htmx.target == "ticket-queue":  # type: ignore[attr-defined]
        return render(request, "support/queue.html#ticket-queue", context)
    if selected is not None:
        context.update(_detail_context(request, selected))
    return render(request, "support/queue.html", context)


@login_required
def ticket_page(request: HttpRequest, ticket_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    ticket = ticket_get(actor=request.user, workspace=workspace, ticket_id=ticket_id)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(f"{reverse('support:queue')}?ticket={ticket.id}")
    return render(request, "support/queue.html#ticket-detail", _detail_context(request, ticket))


def _after_change(request: HttpRequest, ticket: Ticket, error: TicketError | None = None) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        context = _detail_context(request, ticket)
        context["error"] = "; ".join(error.errors.values()) if error else ""
        response = render(request, "support/queue.html#ticket-detail", context, status=400 if error else 200)
        response["HX-Trigger"] = "support:changed"
        return response
    if error:
        messages.error(request, "; ".join(error.errors.values()))
    return redirect(f"{reverse('support:queue')}?ticket={ticket.id}")


@login_required
@require_POST
def ticket_claim_view(request: HttpRequest, ticket_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    ticket = ticket_get(actor=request.user, workspace=workspace, ticket_id=ticket_id, for_change=True)
    try:
        ticket = ticket_claim(ticket=ticket, actor=request.user)
    except TicketError as exc:
        return _after_change(request, ticket, exc)
    return _after_change(request, ticket)


@login_required
@require_POST
def ticket_assign_view(request: HttpRequest, ticket_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    ticket = ticket_get(actor=request.user, workspace=workspace, ticket_id=ticket_id, for_change=True)
    username = request.POST.get("assignee", "")
    assignee = None
    if username:
        assignee = User.objects.filter(username=username, memberships__workspace=workspace).first()
        if assignee is None:
            return _after_change(request, ticket, TicketError({"assignee": "no member has that username"}))
    try:
        ticket = ticket_assign(ticket=ticket, actor=request.user, assignee=assignee)
    except TicketError as exc:
        return _after_change(request, ticket, exc)
    return _after_change(request, ticket)


@login_required
@require_POST
def ticket_resolve_view(request: HttpRequest, ticket_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    ticket = ticket_get(actor=request.user, workspace=workspace, ticket_id=ticket_id, for_change=True)
    try:
        ticket = ticket_resolve(ticket=ticket, actor=request.user, note=request.POST.get("note", ""))
    except TicketError as exc:
        return _after_change(request, ticket, exc)
    return _after_change(request, ticket)


@login_required
@require_http_methods(["GET", "POST"])
def ticket_new_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace, codename=WORK_TICKETS)
    form = TicketForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        profile = profile_by_identifier(
            workspace=workspace, kind=form.cleaned_data["kind"], value=form.cleaned_data["identifier"]
        )
        if profile is None:
            form.add_error("identifier", "Nobody with that identifier in this workspace.")
        else:
            try:
                ticket = ticket_create(
                    workspace=workspace,
                    profile=profile,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                    channel="ui",
                    tags=form.tag_list(),
                    actor=request.user,
                )
            except TicketError as exc:
                for name, message in exc.errors.items():
                    form.add_error(name if name in form.fields else None, message)
            else:
                messages.success(request, f"Ticket opened with priority {ticket.priority}.")
                return redirect(f"{reverse('support:queue')}?ticket={ticket.id}")
    status = 400 if request.method == "POST" else 200
    return render(request, "support/ticket_form.html", {"form": form}, status=status)


# --- sales ----------------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def sales_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    status = request.GET.get("status", "open")
    status = status if status in ("open", "won", "lost", "all") else "open"
    owner = "me" if request.GET.get("owner") == "me" else ""
    leads = lead_list(actor=request.user, workspace=workspace, status=status, owner=owner)
    page = Paginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    can_work = can_work_tickets(actor=request.user, workspace=workspace)
    form = LeadForm(request.POST or None)
    if request.method == "POST":
        workspace_require(actor=request.user, workspace=workspace, codename=WORK_TICKETS)
        if form.is_valid():
            profile = profile_by_identifier(
                workspace=workspace, kind=form.cleaned_data["kind"], value=form.cleaned_data["identifier"]
            )
            if profile is None:
                form.add_error("identifier", "Nobody with that identifier in this workspace.")
            else:
                lead = lead_create(
                    workspace=workspace,
                    profile=profile,
                    account=form.cleaned_data["account"],
                    task=form.cleaned_data["task"],
                    source="ui",
                    actor=request.user,
                )
                messages.success(request, "Lead added and routed.")
                return redirect(f"{reverse('support:sales')}?lead={lead.id}")
    selected = None
    recommendation = None
    selected_id = request.GET.get("lead") or (str(page.object_list[0].id) if page.object_list else "")
    if selected_id:
        selected = lead_get(actor=request.user, workspace=workspace, lead_id=selected_id)
        recommendation = lead_recommendation(lead=selected)
    context = {
        "page": page,
        "status": status,
        "owner": owner,
        "can_work": can_work,
        "form": form,
        "selected": selected,
        "recommendation": recommendation,
    }
    return render(request, "support/sales.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def lead_close_view(request: HttpRequest, lead_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    lead = lead_get(actor=request.user, workspace=workspace, lead_id=lead_id, for_change=True)
    try:
        lead_close(lead=lead, actor=request.user, won=request.POST.get("outcome") == "won")
    except LeadError as exc:
        messages.error(request, "; ".join(exc.errors.values()))
    return redirect(f"{reverse('support:sales')}?lead={lead.id}")


# --- agents ---------------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def agents_page(request: HttpRequest) -> HttpResponse:
    """Who works which team, with which skills and capacity (routing reads these). Everyone reads;
    owners and admins (manage_members) change them."""
    workspace = request_workspace(request)
    agents = list(agent_list(actor=request.user, workspace=workspace))
    can_manage = workspace_can(actor=request.user, workspace=workspace, codename=MANAGE_MEMBERS)
    members = _assignable(workspace)
    teams = list(Team.objects.filter(workspace=workspace).order_by("kind", "name"))
    form = AgentForm(
        request.POST or None,
        members=[(str(m.pk), m.username) for m in members],
        teams=[(str(t.pk), f"{t.name} ({t.get_kind_display().lower()})") for t in teams],
    )
    if request.method == "POST":
        workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_MEMBERS)
        if form.is_valid():
            user = next(m for m in members if str(m.pk) == form.cleaned_data["user"])
            team = next(t for t in teams if str(t.pk) == form.cleaned_data["team"])
            try:
                agent_save(
                    workspace=workspace,
                    actor=request.user,
                    user=user,
                    team=team,
                    skills=form.skill_list(),
                    capacity=form.cleaned_data["capacity"],
                    available=form.cleaned_data["available"],
                )
            except TicketError as exc:
                for name, message in exc.errors.items():
                    form.add_error(name if name in form.fields else None, message)
            else:
                messages.success(request, f"{user.username} works in {team.name}.")
                return redirect("support:agents")
    loads = agent_loads(workspace_id=workspace.id, user_ids=[a.user_id for a in agents])
    context = {
        "agents": [(agent, loads.get(agent.user_id, 0)) for agent in agents],
        "form": form,
        "can_manage": can_manage,
        "teams": teams,
    }
    return render(request, "support/agents.html", context, status=400 if request.method == "POST" else 200)
