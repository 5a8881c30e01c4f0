"""Customer pages: search and the golden record. Scores and the timeline belong to higher apps
(scoring, events) and are loaded into the page as fragments over htmx, with plain links when
JavaScript is off."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from accounts.request_context import request_workspace
from profiles.models import Profile
from profiles.selectors import (
    customer_search,
    items_recommended,
    profile_features,
    profile_get,
    profile_identifiers,
    profile_merge_history,
    profiles_similar,
)

PAGE_SIZE = 25


@dataclass
class WindowPage:
    """A page of search results without counting them all: a partial search scans the profiles,
    and a count would scan them a second time. One extra row tells whether there is a next page."""

    object_list: list[Profile]
    number: int
    has_next: bool
    counted: bool = False

    @classmethod
    def of(cls, rows: QuerySet[Profile], number: str | None, size: int) -> WindowPage:
        try:
            page = max(1, min(int(number or 1), 1000))
        except ValueError:
            page = 1
        found = list(rows[(page - 1) * size : page * size + 1])
        return cls(found[:size], page, len(found) > size)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    people = customer_search(actor=request.user, workspace=request_workspace(request), query=query).defer(
        "trait_meta", "groups"
    )
    page: Page | WindowPage = (
        WindowPage.of(people, request.GET.get("page"), PAGE_SIZE)
        if query
        else Paginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
    )
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
            "merged": profile_merge_history(profile=profile)[:20],
            "privacy_url": _privacy_url(profile.id),
        },
    )


def _privacy_url(profile_id: object) -> str:
    """The privacy page (export, erasure) when the installed apps provide it."""
    try:
        return reverse("profiles:customer-privacy", args=[profile_id])
    except NoReverseMatch:
        return ""
