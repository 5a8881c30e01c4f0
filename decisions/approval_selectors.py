"""Reads for approvals and the trust model, permission-checked.

Who may decide: anyone holding ``approve_actions`` on the workspace (owners, admins, approvers,
secret keys), limited per action category (kind) by django-guardian object permissions on
``ApprovalCategory``: an approver granted ``approve_category`` on some categories may decide
only those; one with no grants decides every category; owners and admins (who manage members)
and secret keys are never limited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from accounts.models import Workspace
from accounts.principals import Actor, ApiKeyPrincipal
from accounts.roles import APPROVE_ACTIONS, MANAGE_MEMBERS, VIEW
from accounts.selectors import workspace_can, workspace_require
from decisions.models import ApprovalCategory, ApprovalReview, Decision, DecisionStatus

CATEGORY_PERMISSION = "decisions.approve_category"


def approval_ttl() -> timedelta:
    """How long a proposal waits for a human before it lapses (intent fades)."""
    return timedelta(hours=float(getattr(settings, "DECISIONS_APPROVAL_TTL_HOURS", 4)))


def approval_expires_at(decision: Decision) -> datetime:
    return decision.created_at + approval_ttl()


def approver_kinds(*, actor: Actor, workspace: Workspace) -> set[str] | None:
    """The categories the actor may decide: None for all, an empty set for none."""
    if not workspace_can(actor=actor, workspace=workspace, codename=APPROVE_ACTIONS):
        return set()
    if isinstance(actor, ApiKeyPrincipal) or workspace_can(actor=actor, workspace=workspace, codename=MANAGE_MEMBERS):
        return None
    assert isinstance(actor, User)
    granted = get_objects_for_user(
        actor,
        CATEGORY_PERMISSION,
        klass=ApprovalCategory.objects.filter(workspace=workspace),
        accept_global_perms=False,
    )
    kinds = set(granted.values_list("kind", flat=True))
    return kinds or None


def approval_can_decide(*, actor: Actor, workspace: Workspace, kind: str) -> bool:
    kinds = approver_kinds(actor=actor, workspace=workspace)
    return kinds is None or kind in kinds


def approval_require(*, actor: Actor, workspace: Workspace, kind: str) -> None:
    workspace_require(actor=actor, workspace=workspace, codename=APPROVE_ACTIONS)
    if not approval_can_decide(actor=actor, workspace=workspace, kind=kind):
        raise PermissionDenied(
            f"You may not decide {kind or 'these'} actions: your approver role covers other categories."
        )


def approval_list(*, actor: Actor, workspace: Workspace, action: str = "", kind: str = "") -> QuerySet[Decision]:
    """Decisions waiting for approval, oldest first (they expire first)."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    pending = Decision.objects.filter(workspace=workspace, status=DecisionStatus.PENDING_APPROVAL)
    if action:
        pending = pending.filter(chosen_key=action)
    if kind:
        pending = pending.filter(chosen_action__kind=kind)
    return pending.select_related("profile", "chosen_action").order_by("created_at")


def approval_get(*, actor: Actor, workspace: Workspace, decision_id: UUID | str) -> Decision:
    """A decision that needs (or needed) approval; other workspaces' decisions are 404."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    try:
        found = (
            Decision.objects.filter(workspace=workspace, id=decision_id, needs_approval=True)
            .select_related("profile", "chosen_action")
            .first()
        )
    except (ValueError, TypeError, ValidationError):  # not a UUID: no such approval either
        found = None
    if found is None:
        raise Http404("No such approval in this workspace.")
    return found


def approval_reviews(*, actor: Actor, workspace: Workspace, limit: int = 20) -> QuerySet[ApprovalReview]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return ApprovalReview.objects.filter(workspace=workspace).select_related("decision").order_by("-decided_at")[:limit]


@dataclass(frozen=True)
class ApprovalGroup:
    """Pending decisions that propose the same action (batch-approvable together)."""

    action_key: str
    action_name: str
    kind: str
    decisions: list[Decision]
    can_decide: bool


def approval_groups(*, actor: Actor, workspace: Workspace, action: str = "", limit: int = 200) -> list[ApprovalGroup]:
    kinds = approver_kinds(actor=actor, workspace=workspace)
    groups: dict[str, ApprovalGroup] = {}
    for decision in approval_list(actor=actor, workspace=workspace, action=action)[:limit]:
        kind = decision.chosen_action.kind if decision.chosen_action else ""
        group = groups.get(decision.chosen_key)
        if group is None:
            group = ApprovalGroup(
                action_key=decision.chosen_key,
                action_name=decision.chosen_action.name if decision.chosen_action else decision.chosen_key,
                kind=kind,
                decisions=[],
                can_decide=kinds is None or kind in kinds,
            )
            groups[decision.chosen_key] = group
        group.decisions.append(decision)
    return list(groups.values())


def alternatives(decision: Decision, limit: int = 4) -> list[dict[str, Any]]:
    """The other scored candidates, best first (what the engine would have done instead)."""
    others = [c for c in decision.candidates or [] if isinstance(c, dict) and c.get("key") != decision.chosen_key]
    others.sort(key=lambda c: -float(c.get("expected_priority") or 0.0))
    return others[:limit]


def approver_categories(*, actor: Actor, workspace: Workspace, user: User) -> list[str]:
    """The categories a member's approval is limited to (empty: not limited)."""
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_MEMBERS)
    granted = get_objects_for_user(
        user,
        CATEGORY_PERMISSION,
        klass=ApprovalCategory.objects.filter(workspace=workspace),
        accept_global_perms=False,
    )
    return sorted(granted.values_list("kind", flat=True))


def acted_with_notice(*, actor: Actor, workspace: Workspace, hours: int = 24, limit: int = 20) -> QuerySet[Decision]:
    """Recent decisions that acted alone under "act and notify": shown to approvers after the fact.
    (The action's current level is used; a level changed since then shows the newer one.)"""
    from django.utils import timezone

    from decisions.models import Autonomy

    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    since = timezone.now() - timedelta(hours=hours)
    return (
        Decision.objects.filter(
            workspace=workspace,
            status=DecisionStatus.ACTED,
            created_at__gte=since,
            chosen_action__autonomy=Autonomy.ACT_AND_NOTIFY,
        )
        .select_related("profile", "chosen_action")
        .order_by("-created_at")[:limit]
    )
