"""What journeys does when events are ingested, scores change or a step is approved (in the worker)."""

from __future__ import annotations

from accounts.models import Workspace
from core.domain_events import DomainEvent


def on_events_ingested(event: DomainEvent) -> None:
    from journeys.models import Signal
    from journeys.services import signals_evaluate_events

    ids = [e["id"] for e in event.payload.get("events", []) if e.get("profile_id")]
    if not ids or not Signal.objects.filter(workspace_id=event.workspace_id, enabled=True).exists():
        return
    workspace = Workspace.objects.filter(id=event.workspace_id).first()
    if workspace is not None:
        signals_evaluate_events(workspace=workspace, event_ids=ids)


def on_score_changed(event: DomainEvent) -> None:
    from journeys.services import signals_evaluate_score

    workspace = Workspace.objects.filter(id=event.workspace_id).first()
    if workspace is not None:
        signals_evaluate_score(workspace=workspace, payload=event.payload)


def on_decision_approved(event: DomainEvent) -> None:
    from journeys.services import playbook_step_resume

    decision_id = event.payload.get("decision_id")
    if decision_id:
        playbook_step_resume(decision_id=decision_id)


def on_decision_declined(event: DomainEvent) -> None:
    from journeys.services import playbook_step_decline

    decision_id = event.payload.get("decision_id")
    if decision_id:
        playbook_step_decline(
            decision_id=decision_id,
            status=str(event.payload.get("status", "")),
            reason=str(event.payload.get("reason", "")),
        )
