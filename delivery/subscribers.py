"""What delivery does when decisions are made or approved, and when receipts are tracked
(run in the worker, registered in apps.py)."""

from __future__ import annotations

from core.domain_events import DomainEvent
from decisions.models import ACTED_STATUSES, Decision, Trigger


def _deliver(decision_id: str) -> None:
    from delivery.services import delivery_for_decision

    decision = Decision.objects.select_related("workspace", "profile").filter(pk=decision_id).first()
    # The service refuses anything not acted on; checking here first keeps refusals out of the logs.
    if decision is None or decision.status not in ACTED_STATUSES or decision.trigger == Trigger.PLAYBOOK:
        return
    delivery_for_decision(decision=decision)


def on_decision_made(event: DomainEvent) -> None:
    if event.payload.get("status") != "acted":
        return
    _deliver(str(event.payload.get("decision_id", "")))


def on_decision_approved(event: DomainEvent) -> None:
    _deliver(str(event.payload.get("decision_id", "")))


def on_events_ingested(event: DomainEvent) -> None:
    from accounts.models import Workspace
    from delivery.services import RECEIPT_EVENTS, receipts_from_events
    from events.models import Event

    ids = [e["id"] for e in event.payload.get("events", []) if e.get("name") in RECEIPT_EVENTS]
    if not ids:
        return
    workspace = Workspace.objects.filter(id=event.workspace_id).first()
    if workspace is None:
        return
    rows = list(Event.objects.filter(workspace=workspace, id__in=ids).values("id", "name", "timestamp", "properties"))
    receipts_from_events(workspace=workspace, events=rows)
