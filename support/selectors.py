"""Reads of the support and sales desks, each checking the workspace and the actor's permission.
Tickets and leads of another workspace answer 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.roles import VIEW, WORK_TICKETS
from accounts.selectors import workspace_can, workspace_require
from support.models import OPEN_LEAD_STATUSES, OPEN_STATUSES, Agent, Lead, Team, TeamKind, Ticket
from support.priority import PAYMENT_EVENTS

STATUS_FILTERS = ("open", "new", "pending", "resolved", "closed", "all")


def _uuid(value: UUID | str) -> UUID | None:
    try:
        return UUID(str(value))
    except (ValueError, ValidationError):
        return None


def can_work_tickets(*, actor: Actor, workspace: Workspace) -> bool:
    return workspace_can(actor=actor, workspace=workspace, codename=WORK_TICKETS)


def ticket_list(
    *,
    actor: Actor,
    workspace: Workspace,
    status: str = "open",
    team: str = "",
    assignee: str = "",
    search: str = "",
) -> QuerySet[Ticket]:
    """The queue: highest priority first; among equals the earliest SLA due time (breached ones
    first), then the oldest. ``status`` "open" means new, open or pending; ``assignee`` "me" is
    the signed-in member, "none" the unassigned, anything else a username."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    tickets = Ticket.objects.filter(workspace=workspace).select_related("profile", "assignee", "team")
    if status == "open":
        tickets = tickets.filter(status__in=OPEN_STATUSES)
    elif status and status != "all":
        tickets = tickets.filter(status=status)
    if team:
        tickets = tickets.filter(team__key=team)
    if assignee == "me":
        tickets = (
            tickets.filter(assignee_id=getattr(actor, "pk", None)) if getattr(actor, "pk", None) else tickets.none()
        )
    elif assignee == "none":
        tickets = tickets.filter(assignee__isnull=True)
    elif assignee:
        tickets = tickets.filter(assignee__username=assignee)
    if search:
        tickets = tickets.filter(Q(subject__icontains=search) | Q(body__icontains=search) | Q(tags__icontains=search))
    return tickets.order_by("-priority", "sla_due_at", "created_at", "id")


def ticket_get(*, actor: Actor, workspace: Workspace, ticket_id: UUID | str, for_change: bool = False) -> Ticket:
    """404 for ids outside the workspace first, then the permission (work_tickets to change)."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    pk = _uuid(ticket_id)
    found = (
        Ticket.objects.filter(workspace=workspace, pk=pk).select_related("profile", "assignee", "team").first()
        if pk
        else None
    )
    if found is None:
        raise Http404("No such ticket in this workspace.")
    if for_change:
        workspace_require(actor=actor, workspace=workspace, codename=WORK_TICKETS)
    return found


def team_list(*, actor: Actor, workspace: Workspace, kind: str = TeamKind.SUPPORT) -> QuerySet[Team]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return Team.objects.filter(workspace=workspace, kind=kind).order_by("name")


def agent_list(*, actor: Actor, workspace: Workspace) -> QuerySet[Agent]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return Agent.objects.filter(workspace=workspace).select_related("user", "team").order_by("user__username")


def sla_breached(ticket: Ticket, now: datetime | None = None) -> bool:
    return bool(ticket.is_open and ticket.sla_due_at and ticket.sla_due_at <= (now or timezone.now()))


@dataclass(frozen=True)
class TicketContext:
    """What an agent sees beside a ticket so they do not have to ask the customer."""

    events: list[dict[str, Any]]
    payment_failures: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    other_tickets: list[Ticket]


def ticket_context(*, ticket: Ticket, limit: int = 10) -> TicketContext:
    """For a ticket already fetched through ticket_get: the person's recent events, payment
    failures, decisions and scores."""
    from decisions.models import Decision
    from events.models import Event
    from scoring.models import ModelKind, ProfileScore

    person = {"workspace_id": ticket.workspace_id, "profile_id": ticket.profile_id}
    events = list(
        Event.objects.filter(**person).order_by("-timestamp").values("name", "type", "timestamp", "properties")[:limit]
    )
    failures = list(
        Event.objects.filter(**person, name__in=PAYMENT_EVENTS)
        .order_by("-timestamp")
        .values("name", "timestamp", "properties")[:limit]
    )
    decisions = list(
        Decision.objects.filter(**person)
        .order_by("-created_at")
        .values("id", "chosen_key", "channel", "status", "explanation", "created_at")[:5]
    )
    scores = []
    seen: set[str] = set()
    for row in ProfileScore.objects.filter(**person, action="").order_by("-updated_at"):
        if row.kind in seen:
            continue
        seen.add(row.kind)
        texts = [item.get("text", "") for item in row.explanation if isinstance(item, dict)][:2]
        scores.append(
            {
                "kind": ModelKind(row.kind).label,
                "value": f"{row.value:,.2f}" if row.kind == ModelKind.CLV else f"{round(row.value * 100)}%",
                "why": "; ".join(t for t in texts if t),
            }
        )
    others = list(
        Ticket.objects.filter(workspace_id=ticket.workspace_id, profile_id=ticket.profile_id)
        .exclude(pk=ticket.pk)
        .order_by("-created_at")[:5]
    )
    return TicketContext(
        events=[dict(e) for e in events],
        payment_failures=[dict(f) for f in failures],
        decisions=[dict(d) for d in decisions],
        scores=scores,
        other_tickets=others,
    )


# --- leads ----------------------------------------------------------------------------------------------------------


def lead_list(*, actor: Actor, workspace: Workspace, status: str = "open", owner: str = "") -> QuerySet[Lead]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    leads = Lead.objects.filter(workspace=workspace).select_related("profile", "owner")
    if status == "open":
        leads = leads.filter(status__in=OPEN_LEAD_STATUSES)
    elif status and status != "all":
        leads = leads.filter(status=status)
    if owner == "me":
        leads = leads.filter(owner_id=getattr(actor, "pk", None)) if getattr(actor, "pk", None) else leads.none()
    elif owner:
        leads = leads.filter(owner__username=owner)
    return leads.order_by("-score", "created_at", "id")


def lead_get(*, actor: Actor, workspace: Workspace, lead_id: UUID | str, for_change: bool = False) -> Lead:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    pk = _uuid(lead_id)
    found = Lead.objects.filter(workspace=workspace, pk=pk).select_related("profile", "owner").first() if pk else None
    if found is None:
        raise Http404("No such lead in this workspace.")
    if for_change:
        workspace_require(actor=actor, workspace=workspace, codename=WORK_TICKETS)
    return found
