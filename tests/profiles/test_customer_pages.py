from __future__ import annotations

import uuid

import pytest

from accounts.roles import Role
from profiles.selectors import profile_by_identifier


def _identify(tracker, user: str, **traits) -> None:
    assert (
        tracker.post("/v1/identify", {"userId": user, "messageId": str(uuid.uuid4()), "traits": traits}).status_code
        == 200
    )


def _track(tracker, user: str, event: str, **properties) -> None:
    body = {"userId": user, "event": event, "messageId": str(uuid.uuid4()), "properties": properties}
    assert tracker.post("/v1/track", body).status_code == 200


@pytest.fixture
def ana(workspace, tracker):
    _identify(tracker, "ana", name="Ana Lima", email="ana@example.com", consent={"email": True})
    _track(tracker, "ana", "Product Viewed", product_id="SKU-1", category="shoes")
    _track(tracker, "ana", "Order Completed", revenue=80)
    profile = profile_by_identifier(workspace=workspace, kind="user_id", value="ana")
    assert profile is not None
    return profile


@pytest.mark.django_db
def test_search_finds_people_by_identifier_or_name(client, personas, tracker, workspace, ana) -> None:
    owner = workspace.memberships.get(role=Role.OWNER).user
    client.force_login(owner)
    page = client.get("/customers/").content.decode()
    assert "Ana Lima" in page
    assert "Ana Lima" in client.get("/customers/?q=ana@example.com").content.decode()
    assert "Ana Lima" in client.get("/customers/?q=lima", HTTP_HX_REQUEST="true").content.decode()
    nobody = client.get("/customers/?q=zzz").content.decode()
    assert "Nobody matches" in nobody


@pytest.mark.django_db
def test_customer_page_shows_golden_record_and_loads_scores_and_timeline(client, workspace, ana) -> None:
    client.force_login(workspace.memberships.get(role=Role.OWNER).user)
    page = client.get(f"/customers/{ana.id}/").content.decode()
    assert "Ana Lima" in page and "ana@example.com" in page
    assert f'hx-get="/customers/{ana.id}/scores/"' in page
    assert "granted" in page  # email consent
    timeline = client.get(f"/customers/{ana.id}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    assert "Order Completed" in timeline and "Product Viewed" in timeline
    assert "<html" not in timeline  # a fragment
    full = client.get(f"/customers/{ana.id}/timeline/").content.decode()
    assert "<html" in full and "Order Completed" in full  # without JavaScript: a page of its own
    scores = client.get(f"/customers/{ana.id}/scores/", HTTP_HX_REQUEST="true").content.decode()
    assert "No scores yet" in scores


@pytest.mark.django_db
def test_customer_pages_respect_the_workspace(client, personas, tracker, ana) -> None:
    client.force_login(personas.outsider)
    assert client.get(f"/customers/{ana.id}/").status_code == 404
    assert client.get(f"/customers/{ana.id}/timeline/").status_code == 404
    assert client.get(f"/customers/{ana.id}/scores/").status_code == 404
    assert "Ana Lima" not in client.get("/customers/").content.decode()
    client.logout()
    assert client.get("/customers/").status_code == 302
