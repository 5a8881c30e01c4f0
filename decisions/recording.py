"""Record decisions taken outside the engine (playbook steps) in the one decision log.

A playbook step is not chosen by the bandit, but it acts on a person like a decision does, so
it belongs in the same log: the dashboards, the approvals queue and attribution read it there.
It is stored with ``trigger="playbook"``, the step's action key, one explanation sentence and a
status of ``acted`` or ``pending_approval``; delivery skips playbook decisions (journeys sends
the step itself). Idempotent per ``trigger_ref`` (the step's correlation id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Workspace
from core import domain_events
from decisions.models import Decision, DecisionStatus, Trigger
from decisions.services import DECISION_MADE, decision_broadcast_payload
from profiles.models import Profile

PLAYBOOK_POLICY_KEY = "playbook"


@transaction.atomic
def decision_record(
    *,
    workspace: Workspace,
    profile: Profile,
    chosen_key: str,
    channel: str,
    explanation: str,
    trigger_ref: str,
    status: str = DecisionStatus.ACTED,
    policy_key: str = PLAYBOOK_POLICY_KEY,
    policy_version: int = 0,
    rendered: Mapping[str, Any] | None = None,
    reasons: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    if status not in (DecisionStatus.ACTED, DecisionStatus.PENDING_APPROVAL):
        raise ValueError("a recorded playbook decision is either acted or pending approval")
    existing = Decision.objects.filter(
        workspace=workspace, policy_key=policy_key, policy_version=policy_version, trigger_ref=trigger_ref
    ).first()
    if existing is not None:
        return existing
    decision = Decision(
        workspace=workspace,
        profile=profile,
        policy=None,
        policy_key=policy_key,
        policy_version=policy_version,
        trigger=Trigger.PLAYBOOK,
        trigger_ref=trigger_ref,
        status=status,
        chosen_key=chosen_key[:60],
        channel=channel,
        propensity=1.0,
        needs_approval=status == DecisionStatus.PENDING_APPROVAL,
        seed=0,
        context=dict(context or {}),
        inputs={},
        rendered=dict(rendered or {}),
        reasons=dict(reasons or {}),
        explanation=explanation,
        latency_ms=0.0,
        created_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            decision.save(force_insert=True)
    except IntegrityError:  # recorded concurrently for the same step
        return Decision.objects.get(
            workspace=workspace, policy_key=policy_key, policy_version=policy_version, trigger_ref=trigger_ref
        )
    domain_events.publish(
        DECISION_MADE,
        workspace_id=workspace.id,
        payload={
            "decision_id": str(decision.id),
            "status": decision.status,
            "broadcast": decision_broadcast_payload(decision),
        },
    )
    return decision
