"""What the support desk does when other apps announce facts (run in the worker, see apps.py)."""

from __future__ import annotations

from accounts.models import Workspace
from core.domain_events import DomainEvent
from support.leads import lead_create
from support.services import ticket_create, tickets_reprioritize_for_profiles

TICKET_CHANNEL = "ticket"
SALES_CHANNEL = "sales_task"


def on_events_ingested(event: DomainEvent) -> None:
    """New events may be new frustration (payment failures, errors): re-score the open tickets
    of these people. One indexed query when none of them has an open ticket."""
    tickets_reprioritize_for_profiles(
        workspace_id=event.workspace_id, profile_ids=list(event.payload.get("profile_ids") or [])
    )


def decision_act(*, workspace_id: str, decision_id: str) -> object | None:
    """A decision on the ticket channel opens a ticket, one on the sales-task channel a lead
    task; the decision id is the correlation id, so a redelivered fact changes nothing."""
    from decisions.models import ACTED_STATUSES, Decision, Trigger

    decision = (
        Decision.objects.filter(workspace_id=workspace_id, id=decision_id)
        .select_related("profile", "chosen_action")
        .first()
    )
    if decision is None or decision.status not in ACTED_STATUSES or decision.holdout or decision.shadow:
        return None
    if decision.trigger == Trigger.PLAYBOOK:
        return None  # a playbook's ticket step opens its own ticket, with the playbook's context
    if decision.channel not in (TICKET_CHANNEL, SALES_CHANNEL):
        return None
    workspace = Workspace.objects.get(id=workspace_id)
    rendered = decision.rendered or {}
    name = decision.chosen_action.name if decision.chosen_action else decision.chosen_key
    subject = str(rendered.get("subject") or name or "Follow up")
    body = str(rendered.get("body") or "")
    if decision.channel == TICKET_CHANNEL:
        return ticket_create(
            workspace=workspace,
            profile=decision.profile,
            subject=subject,
            body=body,
            channel="decision",
            tags=[decision.chosen_key] if decision.chosen_key else [],
            correlation_id=str(decision.id),
            context={"decision_id": str(decision.id), "action": decision.chosen_key, "why": decision.explanation},
        )
    task = f"{subject}: {body}" if body and body != subject else subject
    return lead_create(
        workspace=workspace, profile=decision.profile, task=task, source="decision", correlation_id=str(decision.id)
    )


def on_decision_made(event: DomainEvent) -> None:
    if event.payload.get("status") != "acted":
        return
    decision_act(workspace_id=event.workspace_id, decision_id=str(event.payload.get("decision_id")))


def on_decision_approved(event: DomainEvent) -> None:
    decision_act(workspace_id=event.workspace_id, decision_id=str(event.payload.get("decision_id")))
