from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.request_context import request_workspace
from accounts.selectors import workspace_require, write_key_active
from core.health import health_report


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    workspace_require(actor=request.user, workspace=workspace)
    return render(request, "core/dashboard.html", {"write_key": write_key_active(workspace=workspace)})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
