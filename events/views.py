from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.request_context import request_workspace
from events.selectors import event_timeline_for

PAGE_SIZE = 30


def _cursor(value: str) -> tuple[datetime, UUID] | None:
    moment, _, event_id = value.partition("|")
    try:
        return datetime.fromisoformat(moment), UUID(event_id)
    except ValueError:
        return None


@login_required
def profile_timeline_fragment(request: HttpRequest, profile_id: str) -> HttpResponse:
    """A person's events, newest first, a page at a time ("Older" loads the next page in place)."""
    page = event_timeline_for(
        actor=request.user,
        workspace=request_workspace(request),
        profile_id=profile_id,
        before=_cursor(request.GET.get("before", "")),
        limit=PAGE_SIZE,
    )
    context = {
        "events": page.events,
        "profile_id": profile_id,
        "next_cursor": f"{page.next_cursor[0].isoformat()}|{page.next_cursor[1]}" if page.next_cursor else "",
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "events/_timeline.html", context)
    return render(request, "fragment_page.html", {"title": "Timeline", "fragment": "events/_timeline.html", **context})
