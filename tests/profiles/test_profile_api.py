"""Management API for profiles: golden record, lookup, and consent (audited), per persona."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import Role
from audit.models import AuditEntry
from profiles.models import Profile
from profiles.selectors import profile_by_identifier, profile_consent
from tests.conftest import Personas
from tests.events.conftest import Tracker
from tests.factories import make_secret_key

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def ada(client: Client, personas: Personas) -> Profile:
    from accounts.selectors import write_key_active

    tracker = Tracker(client, write_key_active(workspace=personas.workspace).key)  # type: ignore[union-attr]
    tracker.post("/v1/identify", {"userId": "ada", "traits": {"email": "ada@example.com", "consent": {"email": True}}})
    tracker.post("/v1/track", {"userId": "ada", "event": "Order Completed", "properties": {"revenue": 30}})
    found = profile_by_identifier(workspace=personas.workspace, kind="user_id", value="ada")
    assert found is not None
    return found


def _as(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_golden_record_shows_traits_identifiers_and_features(personas: Personas, ada: Profile) -> None:
    response = _as(personas.owner).get(f"/api/v1/profiles/{ada.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["traits"]["email"] == "ada@example.com"
    assert {(i["kind"], i["value"]) for i in body["identifiers"]} == {("user_id", "ada"), ("email", "ada@example.com")}
    assert body["features"]["revenue_total"] == 30.0
    assert body["consent"]["email"]["granted"] is True


def test_lookup_by_any_identifier(personas: Personas, ada: Profile) -> None:
    api = _as(personas.member(Role.VIEWER))
    response = api.get("/api/v1/profiles/lookup/", {"kind": "email", "value": "ADA@example.com"})
    assert response.status_code == 200 and response.json()["id"] == str(ada.pk)
    assert api.get("/api/v1/profiles/lookup/", {"kind": "email", "value": "nobody@example.com"}).status_code == 404
    assert api.get("/api/v1/profiles/lookup/", {"kind": "shoe_size", "value": "9"}).status_code == 400


@pytest.mark.parametrize(
    ("persona", "status"),
    [("owner", 200), (Role.MARKETER, 200), (Role.SUPPORT_AGENT, 200), (Role.VIEWER, 403), ("outsider", 404)],
)
def test_consent_change_per_persona(personas: Personas, ada: Profile, persona: str, status: int) -> None:
    user = {"owner": personas.owner, "outsider": personas.outsider}.get(persona) or personas.member(persona)
    response = _as(user).post(
        f"/api/v1/profiles/{ada.pk}/consent", {"email": False, "sms": True, "reason": "called in"}, format="json"
    )
    assert response.status_code == status, response.content
    ada.refresh_from_db()
    changed = AuditEntry.objects.filter(workspace=personas.workspace, action="profile.consent_changed")
    if status == 200:
        assert response.json()["consent"]["email"]["granted"] is False
        assert profile_consent(profile=ada, channel="email") is False
        assert profile_consent(profile=ada, channel="sms") is True
        assert ada.consent["sms"]["source"] == "api"
        (entry,) = changed
        assert entry.before == {"email": True, "sms": None}
        assert entry.after == {"email": False, "sms": True}
        assert entry.reason == "called in"
    else:
        assert response.json()["error"]["message"]
        assert profile_consent(profile=ada, channel="email") is True
        assert not changed.exists()


def test_consent_with_a_secret_key_and_validation(personas: Personas, ada: Profile) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_secret_key(workspace=personas.workspace)}")
    assert api.post(f"/api/v1/profiles/{ada.pk}/consent", {"push": True}, format="json").status_code == 200
    invalid = api.post(f"/api/v1/profiles/{ada.pk}/consent", {"email": "maybe"}, format="json")
    assert invalid.status_code == 400 and "email" in invalid.json()["error"]["fields"]
    empty = api.post(f"/api/v1/profiles/{ada.pk}/consent", {"reason": "x"}, format="json")
    assert empty.status_code == 400
    assert api.post("/api/v1/profiles/not-a-uuid/consent", {"push": True}, format="json").status_code == 404
    anonymous = APIClient().post(f"/api/v1/profiles/{ada.pk}/consent", {"push": True}, format="json")
    assert anonymous.status_code in (401, 403)


def test_a_later_identify_does_not_undo_an_explicit_consent_change(
    client: Client, personas: Personas, ada: Profile
) -> None:
    from accounts.selectors import write_key_active

    _as(personas.owner).post(f"/api/v1/profiles/{ada.pk}/consent", {"email": False}, format="json")
    tracker = Tracker(client, write_key_active(workspace=personas.workspace).key)  # type: ignore[union-attr]
    tracker.post(
        "/v1/identify", {"userId": "ada", "traits": {"consent": {"email": True}}, "timestamp": "2020-01-01T00:00:00Z"}
    )
    ada.refresh_from_db()
    assert profile_consent(profile=ada, channel="email") is False  # older than the explicit statement
