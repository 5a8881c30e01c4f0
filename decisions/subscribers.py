"""What the decision engine does when events are ingested (run in the worker, see apps.py)."""

from __future__ import annotations

from typing import Any

from accounts.models import Workspace
from core.domain_events import DomainEvent
from decisions.models import Policy, PolicyStatus, Trigger
from decisions.services import attribution_from_events, decision_make, suppressions_open


def on_events_ingested(event: DomainEvent) -> None:
    """In order: signals open suppression windows, outcomes are attributed, and policies that
    subscribe to these events decide (each at most once per event and policy version)."""
    from events.models import Event
    from profiles.models import Profile

    workspace = Workspace.objects.filter(id=event.workspace_id).first()
    if workspace is None:
        return
    ids = [e["id"] for e in event.payload.get("events", []) if e.get("profile_id")]
    if not ids:
        return
    rows = list(
        Event.objects.filter(workspace=workspace, id__in=ids).values(
            "id", "profile_id", "name", "timestamp", "properties"
        )
    )
    suppressions_open(
        workspace=workspace, signals=[(r["profile_id"], r["name"], r["timestamp"], str(r["id"])) for r in rows]
    )
    attribution_from_events(
        workspace=workspace,
        events=[
            {
                "id": r["id"],
                "profile_id": r["profile_id"],
                "name": r["name"],
                "timestamp": r["timestamp"],
                "revenue": _revenue(r["properties"]),
            }
            for r in rows
        ],
    )
    policies = [
        p
        for p in Policy.objects.filter(workspace=workspace, status__in=[PolicyStatus.LIVE, PolicyStatus.SHADOW])
        if p.subscribed_events
    ]
    for row in rows:
        for policy in policies:
            if row["name"] not in policy.subscribed_events:
                continue
            profile = Profile.objects.filter(id=row["profile_id"]).first()
            if profile is None:
                continue
            if profile.merged_into_id:
                profile = Profile.objects.get(id=profile.merged_into_id)
            decision_make(
                workspace=workspace,
                profile=profile,
                policy=policy,
                trigger=Trigger.EVENT,
                trigger_ref=str(row["id"]),
                context={"event": row["name"]},
            )


def _revenue(properties: Any) -> float | None:
    if not isinstance(properties, dict):
        return None
    for key in ("revenue", "total", "value"):
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def on_decision_made(event: DomainEvent) -> None:
    """Push a new decision to the dashboards' live stream (websocket group of the workspace)."""
    from core.broadcast import broadcast_now, workspace_group

    payload = event.payload.get("broadcast")
    if payload:
        broadcast_now(group=workspace_group(event.workspace_id), message_type="decision.made", payload=dict(payload))
