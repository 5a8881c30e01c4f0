"""Writes of the approvals queue: approve, reject, edit and approve, batch approve, expire.

A decision whose action needs a human (decisions.engine.needs_approval) is stored with status
``pending_approval`` and is never delivered in that state. Each service here locks the decision,
moves it out of ``pending_approval`` exactly once, records an ``ApprovalReview`` (the action's
track record for the trust model) and an audit entry, and after commit tells the rest of the
platform: ``decision.approved`` (delivery and support act on it) and a websocket push to the
workspace so every open queue page updates.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor, actor_label
from audit.services import audit_record
from core import domain_events
from core.broadcast import broadcast_after_commit, workspace_group
from decisions.approval_selectors import approval_expires_at, approval_require
from decisions.guardrails import BrandSafety, CandidateAction, check_brand_safety
from decisions.models import ApprovalResult, ApprovalReview, Decision, DecisionStatus
from decisions.services import DECISION_APPROVED, DECISION_DECLINED, guardrail_config

APPROVAL_DECIDED = "approval.decided"
APPROVAL_REQUESTED = "approval.requested"


class ApprovalError(Exception):
    """The request cannot be carried out: ``code`` is "conflict" (no longer pending, expired)
    or "invalid" (with ``fields``)."""

    def __init__(self, message: str, *, code: str = "conflict", fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.fields = fields or {}


def _kind(decision: Decision) -> str:
    return decision.chosen_action.kind if decision.chosen_action else ""


def _lock(decision: Decision) -> Decision:
    return Decision.objects.select_for_update(of=("self",)).select_related("chosen_action").get(pk=decision.pk)


def _announce(decision: Decision, review: ApprovalReview) -> None:
    broadcast_after_commit(
        group=workspace_group(decision.workspace_id),
        message_type=APPROVAL_DECIDED,
        payload={
            "id": str(decision.id),
            "status": decision.status,
            "action": decision.chosen_key,
            "result": review.result,
            "decided_by": review.decided_by_label,
        },
    )
    if decision.status == DecisionStatus.APPROVED:
        domain_events.publish(
            DECISION_APPROVED,
            workspace_id=decision.workspace_id,
            payload={"decision_id": str(decision.id), "approved_by": review.decided_by_label},
        )
    elif decision.status in (DecisionStatus.REJECTED, DecisionStatus.EXPIRED):
        domain_events.publish(
            DECISION_DECLINED,
            workspace_id=decision.workspace_id,
            payload={"decision_id": str(decision.id), "status": decision.status, "reason": review.reason},
        )


def _review(
    *,
    decision: Decision,
    result: str,
    actor: Actor,
    now: datetime,
    reason: str = "",
    original: dict[str, Any] | None = None,
    edited: dict[str, Any] | None = None,
    batch: uuid.UUID | None = None,
) -> ApprovalReview:
    return ApprovalReview.objects.create(
        workspace_id=decision.workspace_id,
        decision=decision,
        action_key=decision.chosen_key,
        kind=_kind(decision),
        result=result,
        decided_by=actor if isinstance(actor, User) else None,
        decided_by_label=actor_label(actor),
        reason=reason,
        original=original,
        edited=edited,
        batch=batch,
        decided_at=now,
    )


def _expire(decision: Decision, now: datetime) -> ApprovalReview:
    decision.status = DecisionStatus.EXPIRED
    decision.save(update_fields=["status"])
    review = _review(
        decision=decision,
        result=ApprovalResult.EXPIRED,
        actor=None,
        now=now,
        reason=f"nobody decided within {approval_expires_at(decision) - decision.created_at}",
    )
    audit_record(
        workspace=decision.workspace,
        actor=None,
        action="approval.expired",
        target_type="Decision",
        target_id=str(decision.id),
        before={"status": DecisionStatus.PENDING_APPROVAL},
        after={"status": DecisionStatus.EXPIRED, "action": decision.chosen_key},
        reason=review.reason,
    )
    _announce(decision, review)
    return review


def _expire_if_due(decision: Decision, now: datetime) -> None:
    """A proposal found lapsed when someone acts on it is expired (committed on its own) and the
    request is refused."""
    expired = False
    with transaction.atomic():
        locked = _lock(decision)
        if locked.status == DecisionStatus.PENDING_APPROVAL and now >= approval_expires_at(locked):
            _expire(locked, now)
            expired = True
    if expired:
        raise ApprovalError("This proposal expired before it was decided; the expiry is recorded.")


def _pending(decision: Decision) -> Decision:
    """Lock the decision and check it still waits."""
    locked = _lock(decision)
    if locked.status != DecisionStatus.PENDING_APPROVAL:
        state = locked.get_status_display().lower()
        raise ApprovalError(f"This decision is no longer waiting for approval (it is {state}).")
    return locked


def _run(fn: Any, decision: Decision, now: datetime) -> Decision:
    _expire_if_due(decision, now)
    with transaction.atomic():
        result: Decision = fn()
    return result


def _approve_locked(
    locked: Decision,
    *,
    actor: Actor,
    now: datetime,
    reason: str,
    result: str = ApprovalResult.APPROVED,
    original: dict[str, Any] | None = None,
    edited: dict[str, Any] | None = None,
    batch: uuid.UUID | None = None,
) -> Decision:
    before = {"status": locked.status}
    locked.status = DecisionStatus.APPROVED
    fields = ["status"]
    if edited is not None:
        locked.rendered = {**(locked.rendered or {}), **edited}
        fields.append("rendered")
    locked.save(update_fields=fields)
    review = _review(
        decision=locked,
        result=result,
        actor=actor,
        now=now,
        reason=reason,
        original=original,
        edited=edited,
        batch=batch,
    )
    after: dict[str, Any] = {"status": locked.status, "action": locked.chosen_key}
    if edited is not None:
        after["edited_fields"] = sorted(edited)
        if "discount_percent" in edited:
            after["discount_percent"] = edited["discount_percent"]
    if batch is not None:
        after["batch"] = str(batch)
    audit_record(
        workspace=locked.workspace,
        actor=actor,
        action="approval.edited" if result == ApprovalResult.EDITED else "approval.approved",
        target_type="Decision",
        target_id=str(locked.id),
        before=before,
        after=after,
        reason=reason,
    )
    _announce(locked, review)
    _trust_after_review(locked)
    return locked


def _trust_after_review(decision: Decision) -> None:
    from decisions.trust import trust_evaluate

    if decision.chosen_key:
        trust_evaluate(workspace=decision.workspace, action_keys=[decision.chosen_key])


def approval_approve(*, workspace: Workspace, decision: Decision, actor: Actor, reason: str = "") -> Decision:
    """Approve as proposed: the decision becomes ``approved`` and ``decision.approved`` is published."""
    approval_require(actor=actor, workspace=workspace, kind=_kind(decision))
    now = timezone.now()
    return _run(lambda: _approve_locked(_pending(decision), actor=actor, now=now, reason=reason.strip()), decision, now)


def approval_reject(*, workspace: Workspace, decision: Decision, actor: Actor, reason: str) -> Decision:
    """Reject with a reason (required): the decision is never acted on."""
    approval_require(actor=actor, workspace=workspace, kind=_kind(decision))
    reason = (reason or "").strip()
    if not reason:
        raise ApprovalError("Say why it is rejected.", code="invalid", fields={"reason": "A reason is required."})
    now = timezone.now()

    def reject() -> Decision:
        locked = _pending(decision)
        locked.status = DecisionStatus.REJECTED
        locked.save(update_fields=["status"])
        review = _review(decision=locked, result=ApprovalResult.REJECTED, actor=actor, now=now, reason=reason)
        audit_record(
            workspace=locked.workspace,
            actor=actor,
            action="approval.rejected",
            target_type="Decision",
            target_id=str(locked.id),
            before={"status": DecisionStatus.PENDING_APPROVAL},
            after={"status": DecisionStatus.REJECTED, "action": locked.chosen_key},
            reason=reason,
        )
        _announce(locked, review)
        _trust_after_review(locked)
        return locked

    return _run(reject, decision, now)


def _discount(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ApprovalError(
            "The discount is not a number.", code="invalid", fields={"discount_percent": "Give a number from 0 to 100."}
        ) from None
    if not Decimal(0) <= number <= Decimal(100):
        raise ApprovalError(
            "The discount is out of range.", code="invalid", fields={"discount_percent": "Give a number from 0 to 100."}
        )
    return float(number)


def approval_edit_and_approve(
    *,
    workspace: Workspace,
    decision: Decision,
    actor: Actor,
    subject: str | None = None,
    body: str | None = None,
    discount_percent: Any = None,
    reason: str = "",
) -> Decision:
    """Change the proposal (subject, body, discount) and approve it. The edited content passes the
    workspace's brand-safety rules again (banned phrases, discount ceiling, required text);
    the review keeps the original and the edit, and who made it."""
    approval_require(actor=actor, workspace=workspace, kind=_kind(decision))
    discount = _discount(discount_percent)
    now = timezone.now()

    def edit() -> Decision:
        locked = _pending(decision)
        rendered = dict(locked.rendered or {})
        action = locked.chosen_action
        original_discount = float(action.discount_percent) if action and action.discount_percent is not None else None
        original = {
            "subject": rendered.get("subject", ""),
            "body": rendered.get("body", ""),
            "discount_percent": rendered.get("discount_percent", original_discount),
        }
        edited: dict[str, Any] = {}
        if subject is not None and subject != original["subject"]:
            edited["subject"] = subject
        if body is not None and body != original["body"]:
            edited["body"] = body
        if discount is not None and discount != original["discount_percent"]:
            edited["discount_percent"] = discount
        if not edited:
            raise ApprovalError(
                "Nothing was changed; approve it as proposed instead.",
                code="invalid",
                fields={"body": "Change the content or the discount."},
            )
        final = {**original, **edited}
        candidate = CandidateAction(
            key=locked.chosen_key,
            channel=locked.channel,
            kind=_kind(locked),
            content=f"{final['subject']}\n{final['body']}",
            discount_percent=final["discount_percent"],
        )
        problems = check_brand_safety(candidate, _brand_rules(workspace))
        if problems:
            raise ApprovalError(
                "The edited proposal breaks the brand-safety rules.",
                code="invalid",
                fields={"body": "; ".join(problems)},
            )
        return _approve_locked(
            locked,
            actor=actor,
            now=now,
            reason=reason.strip(),
            result=ApprovalResult.EDITED,
            original=original,
            edited=edited,
        )

    return _run(edit, decision, now)


def _brand_rules(workspace: Workspace) -> BrandSafety:
    config = guardrail_config(workspace).brand_safety or {}
    ceiling = config.get("max_discount_percent")
    return BrandSafety(
        banned_phrases=tuple(config.get("banned_phrases", ())),
        max_discount_percent=float(ceiling) if ceiling is not None else None,
        required_text=dict(config.get("required_text", {})),
    )


@dataclass
class BatchResult:
    batch: uuid.UUID
    approved: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def approvals_batch_approve(
    *, workspace: Workspace, decisions: Sequence[Decision], actor: Actor, reason: str = ""
) -> BatchResult:
    """Approve several proposals of the same action at once. Each is approved on its own (locked,
    checked, reviewed and audited); ones no longer pending or already lapsed are skipped with why."""
    keys = {d.chosen_key for d in decisions}
    if len(keys) != 1:
        raise ApprovalError(
            "Batch approval is for proposals of one action; pick items of the same action.",
            code="invalid",
            fields={"decision_ids": "All items must propose the same action."},
        )
    for decision in decisions:
        approval_require(actor=actor, workspace=workspace, kind=_kind(decision))
    result = BatchResult(batch=uuid.uuid4())
    for decision in decisions:
        now = timezone.now()
        try:
            _run(
                lambda d=decision, at=now: _approve_locked(
                    _pending(d), actor=actor, now=at, reason=reason.strip(), batch=result.batch
                ),
                decision,
                now,
            )
        except ApprovalError as exc:
            result.skipped[str(decision.id)] = str(exc)
        else:
            result.approved.append(str(decision.id))
    return result


def approvals_expire(*, now: datetime | None = None, workspace: Workspace | None = None, limit: int = 1000) -> int:
    """Expire proposals nobody decided in time (beat task; approval services also check on use)."""
    from decisions.approval_selectors import approval_ttl

    now = now or timezone.now()
    due = Decision.objects.filter(status=DecisionStatus.PENDING_APPROVAL, created_at__lte=now - approval_ttl())
    if workspace is not None:
        due = due.filter(workspace=workspace)
    expired = 0
    for decision_id in list(due.order_by("created_at").values_list("id", flat=True)[:limit]):
        with transaction.atomic():
            locked = Decision.objects.select_for_update().select_related("workspace").filter(pk=decision_id).first()
            if locked is None or locked.status != DecisionStatus.PENDING_APPROVAL:
                continue
            _expire(locked, now)
            expired += 1
    return expired


def approval_request_broadcast(*, workspace_id: Any, payload: dict[str, Any]) -> None:
    """Tell open queue pages that a new proposal waits (called in the worker on "decision made")."""
    from core.broadcast import broadcast_now

    broadcast_now(group=workspace_group(workspace_id), message_type=APPROVAL_REQUESTED, payload=payload)


def on_decision_pending(event: domain_events.DomainEvent) -> None:
    """Worker side of "decision made": a proposal that waits for approval is pushed to every open
    approvals queue of the workspace."""
    if event.payload.get("status") != DecisionStatus.PENDING_APPROVAL:
        return
    approval_request_broadcast(workspace_id=event.workspace_id, payload=dict(event.payload.get("broadcast") or {}))


@transaction.atomic
def approver_categories_set(*, workspace: Workspace, user: User, kinds: Sequence[str], actor: Actor) -> list[str]:
    """Limit a member's approvals to these action categories (guardian object permissions on
    ``ApprovalCategory``); an empty list lifts the limit. Audited."""
    from guardian.shortcuts import assign_perm, remove_perm

    from decisions.approval_selectors import CATEGORY_PERMISSION
    from decisions.models import ActionKind, ApprovalCategory

    wanted = sorted({k for k in kinds if k in ActionKind.values})
    before = []
    for kind in ActionKind.values:
        category, _ = ApprovalCategory.objects.get_or_create(workspace=workspace, kind=kind)
        if user.has_perm(CATEGORY_PERMISSION, category):
            before.append(kind)
        if kind in wanted:
            assign_perm(CATEGORY_PERMISSION, user, category)
        else:
            remove_perm(CATEGORY_PERMISSION, user, category)
    if sorted(before) != wanted:
        audit_record(
            workspace=workspace,
            actor=actor,
            action="approver.categories_changed",
            target_type="User",
            target_id=user.get_username(),
            before={"kinds": sorted(before) or "all"},
            after={"kinds": wanted or "all"},
        )
    return wanted
