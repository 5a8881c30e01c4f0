from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404

from events.selectors import event_count, event_timeline, event_timeline_for
from profiles.selectors import profile_by_identifier
from tests.conftest import Personas
from tests.events.conftest import Tracker

pytestmark = pytest.mark.django_db


def test_timeline_is_newest_first_and_pages_without_gaps(tracker: Tracker, workspace: Any) -> None:
    for minute in range(7):
        tracker.post("/v1/track", {"userId": "u", "event": f"E{minute}", "timestamp": f"2025-01-01T10:0{minute}:00Z"})
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value="u")
    assert profile is not None
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = event_timeline(workspace=workspace, profile_id=profile.pk, before=cursor, limit=3)
        seen += [event.name for event in page.events]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"E{minute}" for minute in reversed(range(7))]
    assert event_count(workspace=workspace, name="E3") == 1


def test_timeline_for_a_person_checks_the_workspace(client: Any, personas: Personas) -> None:
    from accounts.selectors import write_key_active

    tracker = Tracker(client, write_key_active(workspace=personas.workspace).key)  # type: ignore[union-attr]
    tracker.post("/v1/track", {"anonymousId": "a", "event": "Before login"})
    tracker.post("/v1/track", {"userId": "u", "event": "Logged in"})
    old = profile_by_identifier(workspace=personas.workspace, kind="anonymous_id", value="a")
    tracker.post("/v1/alias", {"userId": "u", "previousId": "a"})
    assert old is not None

    page = event_timeline_for(actor=personas.owner, workspace=personas.workspace, profile_id=old.pk)
    assert {event.name for event in page.events} == {"Before login", "Logged in", ""}
    with pytest.raises(Http404):
        event_timeline_for(actor=personas.outsider, workspace=personas.other_workspace, profile_id=old.pk)
