"""The official Segment and RudderStack Python SDKs, unmodified except for their host, against
a live uvicorn server: events land, identities resolve, replays are stored once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from events.models import Event
from profiles.selectors import profile_by_identifier, profile_features, profile_live_count

pytestmark = pytest.mark.django_db(transaction=True)


def _segment(write_key: str, url: str, errors: list[Any], **options: Any) -> Any:
    from segment.analytics.client import Client

    return Client(
        write_key=write_key,
        host=url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
        upload_interval=0.05,
        **options,
    )


def test_segment_sdk_events_land_deduplicated(workspace: Any, write_key: str, live_server_url: str) -> None:
    errors: list[Any] = []
    client = _segment(write_key, live_server_url, errors, upload_size=4)
    client.identify(user_id="user-7", anonymous_id="anon-7", traits={"email": "Seven@Example.com", "plan": "pro"})
    for n in range(6):
        client.track(
            user_id="user-7",
            event="Product Viewed",
            properties={"category": "Shoes", "n": n},
            message_id=f"seg-view-{n}",
        )
    client.page(anonymous_id="anon-7", name="Pricing", properties={"path": "/pricing"})
    client.screen(user_id="user-7", name="Home")
    client.group(user_id="user-7", group_id="acct-9", traits={"name": "Initech"})
    client.alias(previous_id="anon-7", user_id="user-7")
    order = {"order_id": "o-1", "revenue": 42.5, "products": [{"category": "Shoes"}]}
    client.track(user_id="user-7", event="Order Completed", properties=order, message_id="seg-order-1")
    client.flush()
    # The SDK retries reuse the messageId: send the same messages again.
    client.track(user_id="user-7", event="Order Completed", properties=order, message_id="seg-order-1")
    client.track(user_id="user-7", event="Product Viewed", properties={"category": "Shoes"}, message_id="seg-view-0")
    client.flush()
    client.shutdown()

    assert errors == []
    assert Event.objects.filter(workspace=workspace).count() == 12
    assert Event.objects.filter(workspace=workspace, message_id="seg-order-1").count() == 1
    assert Event.objects.filter(workspace=workspace, message_id="seg-view-0").count() == 1
    library = Event.objects.filter(workspace=workspace, type="track").first()
    assert library is not None and library.context["library"]["name"] == "analytics-python"
    assert profile_live_count(workspace=workspace) == 1
    profile = profile_by_identifier(workspace=workspace, kind="email", value="seven@example.com")
    assert profile is not None
    assert profile.traits["plan"] == "pro"
    features = profile_features(profile=profile)
    assert features["event_counts"]["Product Viewed"]["total"] == 6
    assert features["orders_total"] == 1 and features["revenue_total"] == 42.5
    assert features["top_category"] == "shoes"


def test_segment_sdk_with_gzip_and_historical_timestamps(workspace: Any, write_key: str, live_server_url: str) -> None:
    errors: list[Any] = []
    client = _segment(write_key, live_server_url, errors, gzip=True, upload_size=50)
    when = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
    for n in range(20):
        client.track(anonymous_id=f"visitor-{n % 4}", event="Imported", timestamp=when, message_id=f"imp-{n}")
    client.flush()
    client.shutdown()
    assert errors == []
    events = Event.objects.filter(workspace=workspace, name="Imported")
    assert events.count() == 20
    assert {e.timestamp for e in events} == {when}
    assert profile_live_count(workspace=workspace) == 4


def test_rudderstack_sdk_gzipped_batches_land(workspace: Any, write_key: str, live_server_url: str) -> None:
    from rudderstack.analytics.client import Client

    errors: list[Any] = []
    client = Client(
        write_key=write_key,
        host=live_server_url,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
        upload_interval=0.05,
    )  # gzip is on by default in this SDK
    client.identify(user_id="rs-1", traits={"phone": "+1 (555) 010-9999"})
    for n in range(5):
        client.track(user_id="rs-1", event="Added To Cart", properties={"n": n}, message_id=f"rs-{n}")
    client.track(user_id="rs-1", event="Added To Cart", properties={"n": 0}, message_id="rs-0")
    client.flush()
    client.shutdown()
    assert errors == []
    assert Event.objects.filter(workspace=workspace).count() == 6
    assert Event.objects.get(message_id="rs-0").extra.get("channel") == "server"
    profile = profile_by_identifier(workspace=workspace, kind="phone", value="+15550109999")
    assert profile is not None


def test_live_server_errors_and_cors(write_key: str, live_server_url: str) -> None:
    preflight = requests.options(
        f"{live_server_url}/v1/batch",
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    bad = requests.post(
        f"{live_server_url}/v1/track",
        data=b"{nope",
        headers={"Content-Type": "text/plain"},
        auth=(write_key, ""),
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"]["body"].startswith("invalid JSON")
    ok = requests.post(
        f"{live_server_url}/v1/track",
        data=b'{"anonymousId": "a", "event": "Clicked"}',
        headers={"Content-Type": "text/plain"},
        auth=(write_key, ""),
        timeout=10,
    )
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "*"


def test_live_server_limits_and_fallthrough(write_key: str, live_server_url: str) -> None:
    huge = b'{"batch": [' + b'{"type": "track", "userId": "u", "event": "E"},' * 20_000 + b"{}]}"
    too_big = requests.post(f"{live_server_url}/v1/batch", data=huge, auth=(write_key, ""), timeout=10)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    assert too_big.headers["Access-Control-Allow-Origin"] == "*"
    unknown = requests.post(f"{live_server_url}/v1/nothing", json={}, auth=(write_key, ""), timeout=10)
    assert unknown.status_code == 404
    not_allowed = requests.get(f"{live_server_url}/v1/track", timeout=10)
    assert not_allowed.status_code == 405
    limited = requests.post(
        f"{live_server_url}/v1/track", json={"userId": "u", "event": "E"}, auth=("wk_unknown", ""), timeout=10
    )
    assert limited.status_code == 401
    assert limited.headers["WWW-Authenticate"].startswith("Basic")
