from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.request_context import request_workspace
from accounts.selectors import workspace_require, write_key_active
from core.health import health_report

# The areas of the console. Each gets its real page when its app lands; until then the page
# says plainly what will appear there and how data gets in.
AREAS: dict[str, dict[str, str]] = {
    "approvals": {
        "title": "Approvals",
        "empty": "Nothing waits for approval.",
        "hint": "Risky actions the engine proposes wait here for an approver.",
    },
    "support": {
        "title": "Support",
        "empty": "No open tickets.",
        "hint": "Tickets are ordered by value at risk, churn risk and frustration signals.",
    },
    "insights": {
        "title": "Insights",
        "empty": "No measurements yet.",
        "hint": "Lift against holdouts, funnels, cohorts and RFM appear once decisions have outcomes.",
    },
}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace)
    return render(request, "core/dashboard.html", {"write_key": write_key_active(workspace=workspace)})


@login_required
def area(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace)
    return render(request, "core/area.html", {"area": AREAS[slug], "area_slug": slug})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
