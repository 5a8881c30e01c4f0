"""Customer pages: search and the golden record. Scores and the timeline belong to higher apps
(scoring, events) and are loaded into the page as fragments over htmx, with plain links when
JavaScript is off."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.request_context import request_workspace
from profiles.selectors import (
    items_recommended,
    profile_features,
    profile_get,
    profile_identifiers,
    profile_search,
    profiles_similar,
)

PAGE_SIZE = 25


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    people = profile_search(actor=request.user, workspace=request_workspace(request), query=query)
    page = Paginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "profiles/customers.html#results" if request.htmx else "profiles/customers.html"  # type: ignore[attr-defined]
    return render(request, template, {"page": page, "query": query})


@login_required
def customer_detail(request: HttpRequest, profile_id: str) -> HttpResponse:
    profile = profile_get(actor=request.user, workspace=request_workspace(request), profile_id=profile_id)
    traits = [
        {"name": name, "value": value, **(profile.trait_meta or {}).get(name, {})}
        for name, value in sorted((profile.traits or {}).items())
    ]
    consent = [
        {"channel": channel, **(profile.consent or {}).get(channel, {})}
        for channel in ("email", "sms", "push", "in_app")
    ]
    features = profile_features(profile=profile)
    counts = sorted(
        ((name, values) for name, values in (features.get("event_counts") or {}).items()),
        key=lambda item: -float((item[1] or {}).get("7d", 0) or 0),
    )[:12]
    return render(
        request,
        "profiles/customer.html",
        {
            "profile": profile,
            "traits": traits,
            "consent": consent,
            "identifiers": profile_identifiers(profile=profile),
            "features": features,
            "counts": counts,
            "affinity": list((features.get("category_affinity") or {}).items())[:6],
            "similar": profiles_similar(profile=profile, limit=5),
            "recommended": items_recommended(profile=profile, limit=5),
        },
    )
