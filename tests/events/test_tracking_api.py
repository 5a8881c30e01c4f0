"""The /v1/* tracking endpoints through Django's test client."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.services import write_key_rotate
from core import domain_events
from events.models import Event, ReceivedMessage
from events.selectors import event_get_by_message_id
from profiles.models import Profile
from profiles.selectors import profile_by_identifier, profile_features
from tests.events.conftest import Tracker
from tests.factories import make_workspace

pytestmark = pytest.mark.django_db


def _events(**filters: Any) -> list[Event]:
    return list(Event.objects.filter(**filters).order_by("timestamp"))


@pytest.mark.parametrize(
    ("path", "body", "stored_name"),
    [
        ("/v1/track", {"userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"}}, "Signed Up"),
        ("/v1/identify", {"userId": "u1", "traits": {"email": "ada@example.com"}}, ""),
        ("/v1/page", {"anonymousId": "a1", "name": "Pricing", "category": "Docs"}, "Pricing"),
        ("/v1/screen", {"userId": "u1", "name": "Checkout"}, "Checkout"),
        ("/v1/group", {"userId": "u1", "groupId": "acct-1", "traits": {"name": "Initech"}}, ""),
        ("/v1/alias", {"userId": "u1", "previousId": "a1"}, ""),
    ],
)
def test_each_call_type_is_stored(tracker: Tracker, workspace: Any, path: str, body: dict, stored_name: str) -> None:
    response = tracker.post(path, {**body, "messageId": "m-1"})
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "accepted": 1, "duplicates": 0, "messageIds": ["m-1"]}
    event = event_get_by_message_id(workspace=workspace, message_id="m-1")
    assert event is not None
    assert event.type == path.rsplit("/", 1)[1]
    assert event.name == stored_name
    assert event.profile_id is not None
    assert event.received_at is not None


def test_stored_fields_keep_context_properties_and_unknown_fields(tracker: Tracker, workspace: Any) -> None:
    tracker.post(
        "/v1/track",
        {
            "messageId": "m-ctx",
            "anonymousId": "a1",
            "event": "Viewed",
            "properties": {"price": 9.5, "tags": ["x"]},
            "context": {"ip": "203.0.113.1", "custom": {"deep": True}},
            "integrations": {"All": False},
            "channel": "server",
            "timestamp": "2025-01-01T00:00:00Z",
        },
    )
    event = Event.objects.get(message_id="m-ctx")
    assert event.properties == {"price": 9.5, "tags": ["x"]}
    assert event.context == {"ip": "203.0.113.1", "custom": {"deep": True}}
    assert event.integrations == {"All": False}
    assert event.extra == {"channel": "server"}
    assert event.timestamp.isoformat() == "2025-01-01T00:00:00+00:00"
    assert event.anonymous_id == "a1" and event.user_id == ""


def test_write_key_in_body_and_missing_or_wrong_keys(tracker: Tracker, write_key: str) -> None:
    body = {"userId": "u", "event": "E"}
    assert tracker.post("/v1/track", {**body, "writeKey": write_key}, auth=False).status_code == 200

    missing = tracker.post("/v1/track", body, auth=False)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    assert missing["WWW-Authenticate"].startswith("Basic")

    wrong = tracker.post("/v1/track", body, key="wk_nope")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "authentication_failed"


def test_rotated_write_key_is_refused(tracker: Tracker, workspace: Any, write_key: str) -> None:
    new = write_key_rotate(workspace=workspace, actor=None)
    assert tracker.post("/v1/track", {"userId": "u", "event": "E"}).status_code == 401
    assert tracker.post("/v1/track", {"userId": "u", "event": "E"}, key=new.key).status_code == 200


def test_events_are_scoped_to_the_write_keys_workspace(client: Client, tracker: Tracker, workspace: Any) -> None:
    other = make_workspace(name="Globex")
    from accounts.selectors import write_key_active

    other_tracker = Tracker(client, write_key_active(workspace=other).key)  # type: ignore[union-attr]
    tracker.post("/v1/track", {"userId": "same", "event": "E", "messageId": "shared-id"})
    other_tracker.post("/v1/track", {"userId": "same", "event": "E", "messageId": "shared-id"})
    assert Event.objects.filter(workspace=workspace).count() == 1
    assert Event.objects.filter(workspace=other).count() == 1
    assert Profile.objects.filter(workspace=workspace).count() == 1
    assert Profile.objects.filter(workspace=other).count() == 1


def test_replay_is_accepted_and_stored_once(tracker: Tracker, workspace: Any) -> None:
    body = {"messageId": "dup-1", "userId": "u1", "event": "Order Completed", "properties": {"revenue": 10}}
    first = tracker.post("/v1/track", body)
    second = tracker.post("/v1/track", {**body, "properties": {"revenue": 999}})
    assert first.json()["accepted"] == 1
    assert second.status_code == 200
    assert second.json() == {"success": True, "accepted": 0, "duplicates": 1, "messageIds": ["dup-1"]}
    assert Event.objects.filter(workspace=workspace, message_id="dup-1").count() == 1
    assert Event.objects.get(message_id="dup-1").properties == {"revenue": 10}  # first write wins
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value="u1")
    assert profile is not None
    features = profile_features(profile=profile)
    assert features["events_total"] == 1
    assert features["revenue_total"] == 10.0


def test_duplicates_inside_one_batch_are_stored_once(tracker: Tracker, workspace: Any) -> None:
    item = {"type": "track", "messageId": "same", "userId": "u", "event": "E"}
    response = tracker.post("/v1/batch", {"batch": [item, {**item, "event": "Second"}, item]})
    assert response.json() == {"success": True, "accepted": 1, "duplicates": 2}
    assert [e.name for e in _events(workspace=workspace)] == ["E"]


def test_missing_message_id_is_assigned_by_the_server(tracker: Tracker, workspace: Any) -> None:
    response = tracker.post("/v1/track", {"userId": "u", "event": "E"})
    (message_id,) = response.json()["messageIds"]
    assert ReceivedMessage.objects.filter(workspace=workspace, message_id=message_id).exists()


def test_invalid_single_call_answers_400_with_reasons(tracker: Tracker) -> None:
    response = tracker.post("/v1/track", {"properties": "x", "timestamp": "soon"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "The message has invalid fields.",
            "fields": {
                "event": "is required",
                "userId": "userId or anonymousId is required",
                "properties": "must be an object",
                "timestamp": "must be an ISO-8601 date-time string",
            },
        }
    }
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "invalid"),
        (b'{"userId": "u", "event": "E", "x": NaN}', "invalid_json"),
        (b'"\xff"', "invalid_json"),
    ],
)
def test_malformed_bodies_are_400(tracker: Tracker, raw: bytes, code: str) -> None:
    response = tracker.post("/v1/track", None, raw=raw)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["fields"]["body"]


def test_batch_keeps_valid_items_and_reports_each_bad_one(tracker: Tracker, workspace: Any) -> None:
    response = tracker.post(
        "/v1/batch",
        {
            "batch": [
                {"type": "track", "userId": "u", "event": "Good 1", "messageId": "g1"},
                {"type": "track", "userId": "u", "messageId": "b1"},
                {"type": "identify", "traits": {}, "messageId": "b2"},
                {"type": "page", "anonymousId": "a", "name": "Good 2", "messageId": "g2"},
            ]
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 2 and body["rejected"] == 2 and body["duplicates"] == 0
    assert body["error"]["items"] == [
        {"index": 1, "messageId": "b1", "fields": {"event": "is required"}},
        {"index": 2, "messageId": "b2", "fields": {"userId": "userId or anonymousId is required"}},
    ]
    assert body["error"]["fields"] == {
        "batch[1].event": "is required",
        "batch[2].userId": "userId or anonymousId is required",
    }
    assert sorted(e.message_id for e in _events(workspace=workspace)) == ["g1", "g2"]


def test_gzip_and_text_plain_bodies_are_accepted(tracker: Tracker, workspace: Any) -> None:
    batch = {"batch": [{"type": "track", "userId": "u", "event": "Zipped"}]}
    assert tracker.post("/v1/batch", batch, gzip_body=True).status_code == 200
    assert (
        tracker.post("/v1/track", {"anonymousId": "a", "event": "Browser"}, content_type="text/plain").status_code
        == 200
    )
    assert sorted(e.name for e in _events(workspace=workspace)) == ["Browser", "Zipped"]


def test_oversized_bodies_are_413_and_oversized_batch_items_400(tracker: Tracker, workspace: Any) -> None:
    big = {"userId": "u", "event": "E", "properties": {"blob": "x" * 40_000}}
    response = tracker.post("/v1/track", big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    huge_batch = {"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"b": "x" * 30_000}}] * 20}
    assert tracker.post("/v1/batch", huge_batch).status_code == 413
    bomb = gzip.compress(json.dumps({"batch": [], "pad": " " * 3_000_000}).encode())
    assert tracker.post("/v1/batch", None, raw=bomb, HTTP_CONTENT_ENCODING="gzip").status_code == 413

    mixed = {"batch": [{"type": "track", "userId": "u", "event": "Small"}, {**big, "type": "track"}]}
    response = tracker.post("/v1/batch", mixed)
    assert response.status_code == 400
    assert response.json()["error"]["items"][0]["index"] == 1
    assert [e.name for e in _events(workspace=workspace)] == ["Small"]


def test_too_many_items_in_a_batch(tracker: Tracker) -> None:
    response = tracker.post("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "E"}] * 2501})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"batch": "has 2501 messages; at most 2500"}


def test_cors_preflight_and_headers(client: Client, tracker: Tracker) -> None:
    preflight = client.options(
        "/v1/batch",
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,authorization",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert preflight["Access-Control-Allow-Headers"] == "content-type,authorization"
    answer = tracker.post("/v1/track", {"userId": "u", "event": "E"}, HTTP_ORIGIN="https://shop.example.com")
    assert answer["Access-Control-Allow-Origin"] == "*"
    refused = tracker.post("/v1/track", {"userId": "u", "event": "E"}, key="wk_nope")
    assert refused["Access-Control-Allow-Origin"] == "*"


def test_get_is_not_allowed(client: Client) -> None:
    response = client.get("/v1/track")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_rate_limit_answers_429_with_retry_after(tracker: Tracker, settings: Any) -> None:
    settings.TRACKING_RATE_LIMIT_PER_SECOND = 1
    settings.TRACKING_RATE_LIMIT_WINDOW_SECONDS = 3
    batch = {"batch": [{"type": "track", "userId": "u", "event": "E"}, {"type": "track", "userId": "u", "event": "F"}]}
    assert tracker.post("/v1/batch", batch).status_code == 200  # 2 of 3 in this window
    limited = tracker.post("/v1/batch", batch)  # would make 4
    if limited.status_code == 200:  # the first request landed at the very end of a window
        limited = tracker.post("/v1/batch", batch)
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 3
    assert limited.json()["error"]["code"] == "throttled"


def test_event_ingested_is_published_after_commit(
    tracker: Tracker, workspace: Any, django_capture_on_commit_callbacks: Any
) -> None:
    received: list[domain_events.DomainEvent] = []
    uid = domain_events.subscribe(domain_events.EVENT_INGESTED, received.append, uid="test.ingested")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            tracker.post("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "p1"}]})
        assert received == []  # nothing before commit
        for callback in callbacks:
            callback()
        tracker.post("/v1/track", {"userId": "u", "event": "E", "messageId": "p1"})  # a replay publishes nothing new
    finally:
        domain_events.unsubscribe(domain_events.EVENT_INGESTED, uid)
    assert len(received) == 1
    (event,) = received
    assert event.workspace_id == str(workspace.id)
    (item,) = event.payload["events"]
    stored = Event.objects.get(message_id="p1")
    assert item["id"] == str(stored.id) and item["profile_id"] == str(stored.profile_id)
    assert event.payload["profile_ids"] == [str(stored.profile_id)]


@pytest.mark.parametrize("prepare_from", [1, 1000], ids=["prepared-before-the-locks", "under-the-locks"])
def test_a_batch_costs_a_fixed_number_of_statements(tracker: Tracker, settings: Any, prepare_from: int) -> None:
    """Set-based ingest: 200 events for 200 new people cost as many statements as 5."""
    settings.INGEST_PREPARE_MIN_EVENTS = prepare_from
    small = {"batch": [{"type": "track", "userId": f"u{i}", "event": "E"} for i in range(5)]}
    large = {"batch": [{"type": "track", "userId": f"v{i}", "event": "E"} for i in range(200)]}
    with CaptureQueriesContext(connection) as few:
        tracker.post("/v1/batch", small)
    with CaptureQueriesContext(connection) as many:
        tracker.post("/v1/batch", large)
    assert len(many.captured_queries) == len(few.captured_queries) <= 12


def test_an_event_for_a_known_person_is_four_statements(tracker: Tracker, workspace: Any) -> None:
    """The single-event hot path: the key (with its workspace), the dedupe ledger, the person
    (identity locks, profile lock and features in one database function), then the features
    upsert and the event insert together."""
    tracker.post("/v1/track", {"userId": "known", "anonymousId": "a-known", "event": "First"})
    with CaptureQueriesContext(connection) as queries:
        response = tracker.post("/v1/track", {"userId": "known", "anonymousId": "a-known", "event": "Again"})
    assert response.status_code == 200
    # (the test's own transaction turns the ingest transaction into a savepoint: not counted)
    statements = [query["sql"] for query in queries.captured_queries if "SAVEPOINT" not in query["sql"]]
    assert len(statements) == 4, statements
    assert "accounts_writekey" in statements[0]
    assert statements[1].startswith("INSERT INTO events_receivedmessage")
    assert "profiles_identify_locked" in statements[2]
    assert statements[3].startswith("WITH _w0 AS (INSERT INTO profiles_profilefeatures")
    assert "INSERT INTO events_event" in statements[3]
    assert Event.objects.filter(name="Again").count() == 1
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value="known")
    assert profile is not None
    assert profile_features(profile=profile)["events_total"] == 2
