"""Identity resolution, merges and the golden record, driven through the tracking API."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from audit.verification import audit_verify
from core import domain_events
from events.models import Event
from events.selectors import event_timeline
from profiles.models import Identifier, Profile
from profiles.selectors import (
    profile_by_identifier,
    profile_consent,
    profile_features,
    profile_find,
    profile_live_count,
)
from tests.events.conftest import Tracker

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("both_ingest_modes")]


def _profile(workspace: Any, kind: str, value: str) -> Profile:
    found = profile_by_identifier(workspace=workspace, kind=kind, value=value)
    assert found is not None, (kind, value)
    return found


def test_identify_links_anonymous_and_user_ids(tracker: Tracker, workspace: Any) -> None:
    tracker.post("/v1/page", {"anonymousId": "anon-1", "name": "Home"})
    tracker.post("/v1/identify", {"anonymousId": "anon-1", "userId": "user-1", "traits": {"name": "Ada"}})
    tracker.post("/v1/track", {"userId": "user-1", "event": "Clicked"})

    assert profile_live_count(workspace=workspace) == 1
    profile = _profile(workspace, "anonymous_id", "anon-1")
    assert profile == _profile(workspace, "user_id", "user-1")
    assert set(Event.objects.values_list("profile_id", flat=True)) == {profile.pk}
    assert profile.traits == {"name": "Ada"}
    assert profile.trait_meta["name"]["source"] == "identify"


def test_two_profiles_sharing_an_identifier_merge(
    tracker: Tracker, workspace: Any, django_capture_on_commit_callbacks: Any
) -> None:
    merged: list[domain_events.DomainEvent] = []
    uid = domain_events.subscribe(domain_events.PROFILE_MERGED, merged.append, uid="test.merged")
    try:
        tracker.post(
            "/v1/track", {"anonymousId": "laptop", "event": "Product Viewed", "timestamp": "2025-01-01T10:00:00Z"}
        )
        tracker.post("/v1/track", {"userId": "ada", "event": "Product Viewed", "timestamp": "2025-01-01T11:00:00Z"})
        tracker.post("/v1/identify", {"anonymousId": "phone", "traits": {"email": "ada@example.com"}})
        assert profile_live_count(workspace=workspace) == 3
        older = _profile(workspace, "anonymous_id", "laptop")

        # The person logs in on the laptop, then confirms their email: all three are one person.
        with django_capture_on_commit_callbacks(execute=True):
            tracker.post("/v1/identify", {"anonymousId": "laptop", "userId": "ada"})
            tracker.post("/v1/identify", {"userId": "ada", "traits": {"email": "ADA@example.com "}})
    finally:
        domain_events.unsubscribe(domain_events.PROFILE_MERGED, uid)

    assert profile_live_count(workspace=workspace) == 1
    survivor = _profile(workspace, "email", "ada@example.com")
    assert survivor.pk == older.pk  # deterministic: the oldest profile survives
    assert set(Identifier.objects.filter(workspace=workspace).values_list("profile_id", flat=True)) == {survivor.pk}
    assert set(Event.objects.filter(workspace=workspace).values_list("profile_id", flat=True)) == {survivor.pk}
    tombstones = Profile.objects.filter(workspace=workspace, merged_into__isnull=False)
    assert tombstones.count() == 2
    for tombstone in tombstones:
        assert profile_find(workspace=workspace, profile_id=tombstone.pk) == survivor
    features = profile_features(profile=survivor)
    assert features["event_counts"]["Product Viewed"]["total"] == 2
    assert features["events_total"] == 5

    entries = AuditEntry.objects.filter(workspace=workspace, action="profile.merged").order_by("seq")
    assert entries.count() == 2
    assert all(entry.target_id == str(survivor.pk) for entry in entries)
    assert "user_id:ada" in entries[0].reason
    assert audit_verify(chain=str(workspace.id))[1] == []
    assert [event.payload["survivor_id"] for event in merged] == [str(survivor.pk)] * 2


def test_alias_merges_previous_identity(tracker: Tracker, workspace: Any) -> None:
    tracker.post("/v1/track", {"anonymousId": "visitor-9", "event": "Cart Viewed"})
    tracker.post("/v1/track", {"userId": "customer-9", "event": "Logged In"})
    tracker.post("/v1/alias", {"userId": "customer-9", "previousId": "visitor-9"})
    assert profile_live_count(workspace=workspace) == 1
    profile = _profile(workspace, "user_id", "customer-9")
    timeline = event_timeline(workspace=workspace, profile_id=profile.pk)
    assert [e.type for e in timeline.events] == ["alias", "track", "track"]


def test_device_phone_and_external_ids_are_identifiers(tracker: Tracker, workspace: Any) -> None:
    tracker.post(
        "/v1/screen",
        {
            "anonymousId": "app-install-1",
            "name": "Home",
            "context": {"device": {"id": "device-abc"}, "externalIds": [{"id": "C-77", "type": "crm_id"}]},
        },
    )
    tracker.post(
        "/v1/identify",
        {"userId": "u-77", "traits": {"phone": "+44 20 7946 0000"}, "context": {"device": {"id": "device-abc"}}},
    )
    profile = _profile(workspace, "device_id", "device-abc")
    assert profile == _profile(workspace, "custom", "crm_id:C-77")
    assert profile == _profile(workspace, "phone", "+442079460000")
    assert profile == _profile(workspace, "user_id", "u-77")


def test_latest_timestamp_wins_within_a_source(tracker: Tracker, workspace: Any) -> None:
    tracker.post("/v1/identify", {"userId": "u", "traits": {"plan": "gold"}, "timestamp": "2025-02-01T00:00:00Z"})
    tracker.post("/v1/identify", {"userId": "u", "traits": {"plan": "silver"}, "timestamp": "2025-01-01T00:00:00Z"})
    profile = _profile(workspace, "user_id", "u")
    assert profile.traits["plan"] == "gold"  # the late-arriving older statement does not win
    assert profile.trait_meta["plan"] == {"source": "identify", "at": "2025-02-01T00:00:00.000000Z"}
    tracker.post("/v1/identify", {"userId": "u", "traits": {"plan": "platinum"}, "timestamp": "2025-03-01T00:00:00Z"})
    profile.refresh_from_db()
    assert profile.traits["plan"] == "platinum"


def test_source_precedence_beats_recency(tracker: Tracker, workspace: Any) -> None:
    tracker.post(
        "/v1/identify", {"userId": "u", "traits": {"name": "Ada Lovelace"}, "timestamp": "2025-01-01T00:00:00Z"}
    )
    # analytics.js copies cached traits into context.traits of later calls: lower precedence.
    tracker.post(
        "/v1/track",
        {
            "userId": "u",
            "event": "E",
            "context": {"traits": {"name": "stale", "city": "London"}},
            "timestamp": "2025-06-01T00:00:00Z",
        },
    )
    profile = _profile(workspace, "user_id", "u")
    assert profile.traits == {"name": "Ada Lovelace", "city": "London"}
    assert profile.trait_meta["city"]["source"] == "context"


def test_merge_combines_traits_by_rule(tracker: Tracker, workspace: Any) -> None:
    tracker.post(
        "/v1/identify",
        {"anonymousId": "a", "traits": {"plan": "old", "city": "Paris"}, "timestamp": "2025-01-01T00:00:00Z"},
    )
    tracker.post("/v1/identify", {"userId": "u", "traits": {"plan": "new"}, "timestamp": "2025-02-01T00:00:00Z"})
    tracker.post(
        "/v1/track",
        {"anonymousId": "a", "event": "E", "context": {"traits": {"plan": "ctx"}}, "timestamp": "2025-03-01T00:00:00Z"},
    )
    tracker.post("/v1/alias", {"userId": "u", "previousId": "a", "timestamp": "2025-03-02T00:00:00Z"})
    profile = _profile(workspace, "user_id", "u")
    # identify beats context even though the context value is later; among identify values the latest wins
    assert profile.traits["plan"] == "new"
    assert profile.traits["city"] == "Paris"


def test_consent_from_traits_latest_statement_wins(tracker: Tracker, workspace: Any) -> None:
    tracker.post(
        "/v1/identify",
        {
            "userId": "u",
            "traits": {"consent": {"email": True, "sms": {"granted": False}}},
            "timestamp": "2025-01-01T00:00:00Z",
        },
    )
    tracker.post(
        "/v1/identify",
        {"userId": "u", "traits": {"email_consent": False, "push_consent": "yes"}, "timestamp": "2025-02-01T00:00:00Z"},
    )
    tracker.post(
        "/v1/identify", {"userId": "u", "traits": {"consent": {"email": True}}, "timestamp": "2024-12-01T00:00:00Z"}
    )
    profile = _profile(workspace, "user_id", "u")
    assert profile_consent(profile=profile, channel="email") is False
    assert profile_consent(profile=profile, channel="sms") is False
    assert profile_consent(profile=profile, channel="push") is None  # not a boolean: ignored
    assert profile_consent(profile=profile, channel="in_app") is None


def test_group_membership_is_kept(tracker: Tracker, workspace: Any) -> None:
    tracker.post("/v1/group", {"userId": "u", "groupId": "acct-1", "traits": {"name": "Initech", "seats": 5}})
    tracker.post("/v1/group", {"userId": "u", "groupId": "acct-1", "traits": {"seats": 6}})
    profile = _profile(workspace, "user_id", "u")
    assert profile.groups["acct-1"]["traits"] == {"name": "Initech", "seats": 6}
    assert "name" not in profile.traits


def test_one_batch_resolves_each_person_once(tracker: Tracker, workspace: Any) -> None:
    batch: list[dict[str, Any]] = []
    for person in range(10):
        batch.append({"type": "page", "anonymousId": f"anon-{person}", "name": "Home"})
        batch.append({"type": "identify", "anonymousId": f"anon-{person}", "userId": f"user-{person}"})
        batch.append(
            {"type": "track", "userId": f"user-{person}", "event": "Order Completed", "properties": {"revenue": person}}
        )
    response = tracker.post("/v1/batch", {"batch": batch})
    assert response.json()["accepted"] == 30
    assert profile_live_count(workspace=workspace) == 10
    assert not AuditEntry.objects.filter(action="profile.merged").exists()  # linked before they ever split
    profile = _profile(workspace, "anonymous_id", "anon-7")
    assert profile_features(profile=profile)["revenue_total"] == 7.0


def test_identifiers_do_not_cross_workspaces(tracker: Tracker, workspace: Any) -> None:
    from accounts.selectors import write_key_active
    from tests.factories import make_workspace

    other = make_workspace(name="Other")
    other_tracker = Tracker(tracker.client, write_key_active(workspace=other).key)  # type: ignore[union-attr]
    tracker.post("/v1/identify", {"userId": "u", "traits": {"email": "x@example.com"}})
    other_tracker.post("/v1/identify", {"userId": "u", "traits": {"email": "x@example.com"}})
    mine, theirs = _profile(workspace, "email", "x@example.com"), _profile(other, "email", "x@example.com")
    assert mine != theirs
    assert profile_find(workspace=workspace, profile_id=theirs.pk) is None
