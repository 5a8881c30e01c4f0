"""The audit explorer: every recorded change, filterable, for people with ``view_audit``.

Mounted by decisions/urls.py at /audit/ (name ``decisions:audit``) so that no project-level
URL file needs to change; the page belongs to the audit app."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.request_context import request_workspace
from audit.selectors import audit_entry_list, audit_facets

PAGE_SIZE = 50


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def audit_filters(params: Any) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """(raw filter values for the form, selector arguments, errors per field)."""
    raw = {
        name: str(params.get(name, ""))[:100].strip()
        for name in ("q", "action", "who", "target_type", "since", "until")
    }
    errors = {
        name: "Give a date as YYYY-MM-DD." for name in ("since", "until") if raw[name] and _day(raw[name]) is None
    }
    arguments = {
        "search": raw["q"],
        "action": raw["action"],
        "who": raw["who"],
        "target_type": raw["target_type"],
        "since": _day(raw["since"]),
        "until": _day(raw["until"]),
    }
    return raw, arguments, errors


@login_required
def audit_explorer_page(request: HttpRequest) -> HttpResponse:
    workspace = request_workspace(request)
    raw, arguments, errors = audit_filters(request.GET)
    entries = audit_entry_list(actor=request.user, workspace=workspace, **arguments)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": raw,
        "errors": errors,
        "facets": audit_facets(actor=request.user, workspace=workspace),
        "query": urlencode({k: v for k, v in raw.items() if v}),
        "filtered": any(raw.values()),
    }
    if request.htmx and request.htmx.target == "audit-table":  # type: ignore[attr-defined]
        return render(request, "audit/explorer.html#audit-table", context)
    return render(request, "audit/explorer.html", context)
