"""The customer's privacy page: export everything held about them, or erase them."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.request_context import request_workspace
from accounts.roles import VIEW_AUDIT
from accounts.selectors import workspace_can
from audit.models import AuditEntry
from profiles.privacy import subject_erase, subject_export
from profiles.selectors import profile_get_for_subject_rights, profile_identifiers

CONFIRM_WORD = "erase"


def _history(request: HttpRequest, profile_id: str) -> list[AuditEntry]:
    workspace = request_workspace(request)
    if not workspace_can(actor=request.user, workspace=workspace, codename=VIEW_AUDIT):
        return []
    return list(
        AuditEntry.objects.filter(
            workspace=workspace, target_type="Profile", target_id=profile_id, action__startswith="subject."
        ).order_by("-seq")[:20]
    )


@login_required
@require_GET
def customer_privacy(request: HttpRequest, profile_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    profile = profile_get_for_subject_rights(actor=request.user, workspace=workspace, profile_id=profile_id)
    context = {
        "profile": profile,
        "identifiers": profile_identifiers(profile=profile),
        "history": _history(request, str(profile.id)),
        "confirm_word": CONFIRM_WORD,
        "errors": {},
    }
    return render(request, "privacy/subject.html", context)


@login_required
@require_GET
def customer_privacy_export(request: HttpRequest, profile_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    profile = profile_get_for_subject_rights(actor=request.user, workspace=workspace, profile_id=profile_id)
    data = subject_export(
        workspace=workspace, profile=profile, actor=request.user, reason="downloaded from the privacy page"
    )
    response = HttpResponse(json.dumps(data, indent=2, default=str), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="subject-{profile.id}.json"'
    return response


@login_required
@require_http_methods(["POST"])
def customer_privacy_erase(request: HttpRequest, profile_id: str) -> HttpResponse:
    workspace = request_workspace(request)
    profile = profile_get_for_subject_rights(actor=request.user, workspace=workspace, profile_id=profile_id)
    reason = request.POST.get("reason", "").strip()[:500]
    errors = {}
    if request.POST.get("confirm", "").strip().lower() != CONFIRM_WORD:
        errors["confirm"] = f"Type “{CONFIRM_WORD}” to confirm."
    if not reason:
        errors["reason"] = "Say why (for example the request's reference)."
    if errors:
        context = {
            "profile": profile,
            "identifiers": profile_identifiers(profile=profile),
            "history": _history(request, str(profile.id)),
            "confirm_word": CONFIRM_WORD,
            "errors": errors,
            "reason": reason,
        }
        return render(request, "privacy/subject.html", context, status=400)
    summary = subject_erase(workspace=workspace, profile=profile, actor=request.user, reason=reason)
    messages.success(
        request,
        f"Erased: {summary['identifiers_suppressed']} identifiers are now suppressed and "
        f"{sum(summary['rows'].values())} rows were deleted or anonymised.",
    )
    return redirect("profiles:customer-privacy", profile_id=profile.id)
