"""The approvals queue and the trust page.

Everyone in the workspace sees the queue; approving, rejecting and editing need
``approve_actions`` and, for approvers limited to some categories, a grant for the action's
category (403 otherwise). The queue refreshes itself when the workspace websocket announces a
new proposal or a decision made elsewhere (``approval.requested`` / ``approval.decided``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.request_context import request_workspace
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_can, workspace_require
from decisions.approval_selectors import (
    acted_with_notice,
    alternatives,
    approval_expires_at,
    approval_get,
    approval_groups,
    approval_reviews,
    approval_ttl,
    approver_kinds,
)
from decisions.approvals import (
    ApprovalError,
    approval_approve,
    approval_edit_and_approve,
    approval_reject,
    approvals_batch_approve,
)
from decisions.models import Decision
from decisions.trust import trust_evaluate, trust_report, trust_thresholds


def _queue_context(request: HttpRequest) -> dict[str, Any]:
    workspace = request_workspace(request)
    action = request.GET.get("action", "")[:60]
    groups = approval_groups(actor=request.user, workspace=workspace, action=action)
    now = timezone.now()
    for group in groups:
        for decision in group.decisions:
            decision.expires_at = approval_expires_at(decision)  # type: ignore[attr-defined]
            decision.expires_in_minutes = max(0, int((decision.expires_at - now).total_seconds() // 60))  # type: ignore[attr-defined]
            decision.alternatives = alternatives(decision)  # type: ignore[attr-defined]
    kinds = approver_kinds(actor=request.user, workspace=workspace)
    return {
        "groups": groups,
        "pending": sum(len(g.decisions) for g in groups),
        "reviews": approval_reviews(actor=request.user, workspace=workspace),
        "notices": acted_with_notice(actor=request.user, workspace=workspace),
        "action_filter": action,
        "ttl_hours": approval_ttl().total_seconds() / 3600,
        "approver_scope": None if kinds is None else sorted(kinds),
    }


@login_required
@require_GET
def approvals_page(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request)
    if request.htmx and request.htmx.target == "approval-queue":  # type: ignore[attr-defined]
        return render(request, "decisions/approvals.html#approval-queue", context)
    return render(request, "decisions/approvals.html", context)


def _done(request: HttpRequest, *, ok: str | None = None, error: str | None = None, status: int = 200) -> HttpResponse:
    if ok:
        messages.success(request, ok)
    if error:
        messages.error(request, error)
    if request.htmx:  # type: ignore[attr-defined]
        context = _queue_context(request)
        context["notice"] = ok or error
        context["notice_error"] = bool(error)
        return render(request, "decisions/approvals.html#approval-queue", context, status=status)
    return redirect("decisions:approvals")


def _decision(request: HttpRequest, decision_id: str) -> Decision:
    return approval_get(actor=request.user, workspace=request_workspace(request), decision_id=decision_id)


def _name(decision: Decision) -> str:
    return decision.chosen_action.name if decision.chosen_action else decision.chosen_key


@login_required
@require_POST
def approval_approve_view(request: HttpRequest, decision_id: str) -> HttpResponse:
    decision = _decision(request, decision_id)
    try:
        approval_approve(
            workspace=request_workspace(request),
            decision=decision,
            actor=request.user,
            reason=request.POST.get("reason", "")[:500],
        )
    except ApprovalError as exc:
        return _done(request, error=str(exc), status=409 if exc.code == "conflict" else 400)
    return _done(request, ok=f"Approved “{_name(decision)}” for {decision.profile.display_name}.")


@login_required
@require_POST
def approval_reject_view(request: HttpRequest, decision_id: str) -> HttpResponse:
    decision = _decision(request, decision_id)
    try:
        approval_reject(
            workspace=request_workspace(request),
            decision=decision,
            actor=request.user,
            reason=request.POST.get("reason", "")[:500],
        )
    except ApprovalError as exc:
        message = exc.fields.get("reason", str(exc))
        return _done(request, error=message, status=409 if exc.code == "conflict" else 400)
    return _done(request, ok=f"Rejected “{_name(decision)}” for {decision.profile.display_name}.")


@login_required
@require_POST
def approval_edit_view(request: HttpRequest, decision_id: str) -> HttpResponse:
    decision = _decision(request, decision_id)
    try:
        approval_edit_and_approve(
            workspace=request_workspace(request),
            decision=decision,
            actor=request.user,
            subject=request.POST.get("subject"),
            body=request.POST.get("body"),
            discount_percent=request.POST.get("discount_percent") or None,
            reason=request.POST.get("reason", "")[:500],
        )
    except ApprovalError as exc:
        detail = "; ".join(exc.fields.values()) or str(exc)
        return _done(request, error=f"Not approved: {detail}", status=409 if exc.code == "conflict" else 400)
    return _done(request, ok=f"Edited and approved “{_name(decision)}” for {decision.profile.display_name}.")


@login_required
@require_POST
def approvals_batch_view(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    ids = request.POST.getlist("decision_ids")[:200]
    if not ids:
        return _done(request, error="Tick the proposals to approve together.", status=400)
    decisions = [approval_get(actor=request.user, workspace=workspace, decision_id=i) for i in ids]
    try:
        result = approvals_batch_approve(
            workspace=workspace, decisions=decisions, actor=request.user, reason=request.POST.get("reason", "")[:500]
        )
    except ApprovalError as exc:
        return _done(request, error=str(exc), status=400)
    skipped = f"; {len(result.skipped)} skipped (no longer waiting)" if result.skipped else ""
    return _done(request, ok=f"Approved {len(result.approved)} proposals together{skipped}.")


@login_required
@require_GET
def trust_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace)
    context = {
        "verdicts": trust_report(workspace=workspace),
        "thresholds": trust_thresholds(),
        "can_manage": workspace_can(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG),
    }
    return render(request, "decisions/trust.html", context)


@login_required
@require_POST
def trust_evaluate_view(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace, codename=MANAGE_CATALOG)
    changed = trust_evaluate(workspace=workspace, actor=request.user)
    if changed:
        messages.success(
            request, "; ".join(f"{v.action_name}: {v.change}d to {v.recommended.replace('_', ' ')}" for v in changed)
        )
    else:
        messages.success(request, "No action's level needed to change.")
    return redirect("decisions:trust")
