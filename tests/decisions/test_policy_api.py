"""Policies, guardrails and evaluation over the management API: workspace from the key or session
only, validation with field errors, 403 without catalog rights, 404 for other workspaces."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.roles import Role
from decisions.models import GuardrailConfig, Policy
from decisions.services import policy_save
from tests.decisions.conftest import make_action
from tests.factories import make_secret_key

pytestmark = pytest.mark.django_db


def _fields(response) -> dict:
    return response.json()["error"]["fields"]


def _keyed(workspace) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_secret_key(workspace=workspace)}")
    return client


def test_policies_list_get_and_patch_make_versions(personas) -> None:
    make_action(personas.workspace, "promo")
    policy_save(workspace=personas.workspace, actor=None, values={"key": "main", "name": "Main", "status": "live"})
    policy_save(workspace=personas.other_workspace, actor=None, values={"key": "theirs", "name": "Theirs"})
    client = _keyed(personas.workspace)

    listing = client.get("/api/v1/policies/")
    changed = client.patch(
        "/api/v1/policies/main/",
        {"action_keys": ["promo"], "weights": {"promo": 2}, "holdout_share": 0.2, "key": "hijack", "reason": "test"},
        format="json",
    )
    invalid = client.patch("/api/v1/policies/main/", {"context_features": ["scores.("]}, format="json")
    share = client.patch("/api/v1/policies/main/", {"holdout_share": 1.0}, format="json")

    assert listing.status_code == 200 and [p["key"] for p in listing.json()["results"]] == ["main"]
    assert changed.status_code == 200, changed.content
    assert (changed.json()["version"], changed.json()["key"], changed.json()["weights"]) == (2, "main", {"promo": 2.0})
    assert invalid.status_code == 400 and "not a valid condition" in _fields(invalid)["context_features"]
    assert share.status_code == 400 and "holdout_share" in _fields(share)
    assert client.get("/api/v1/policies/theirs/").status_code == 404
    assert client.get("/api/v1/policies/theirs/evaluation/").status_code == 404
    assert Policy.objects.get(workspace=personas.workspace, key="main").version == 2


def test_policy_writes_need_catalog_rights(personas) -> None:
    policy_save(workspace=personas.workspace, actor=None, values={"key": "main", "name": "Main"})
    viewer, marketer = APIClient(), APIClient()
    viewer.force_login(personas.member(Role.VIEWER))
    marketer.force_login(personas.member(Role.MARKETER))

    assert viewer.get("/api/v1/policies/main/").status_code == 200
    assert viewer.patch("/api/v1/policies/main/", {"name": "X"}, format="json").status_code == 403
    assert viewer.put("/api/v1/guardrails/", {}, format="json").status_code == 403
    assert marketer.patch("/api/v1/policies/main/", {"name": "Y"}, format="json").status_code == 200
    created = marketer.post("/api/v1/policies/", {"key": "draft", "name": "Draft"}, format="json")
    assert created.status_code == 201 and created.json()["status"] == "draft"


def test_guardrails_get_and_put_with_clear_errors(personas) -> None:
    client = _keyed(personas.workspace)
    body = {
        "contact_policy": {
            "per_channel_day": {"email": 1, "sms": 0},
            "overall_day": 3,
            "quiet_start": "22:00",
            "quiet_end": "07:00",
        },
        "brand_safety": {"banned_phrases": ["free money"], "max_discount_percent": 25},
        "suppression_rules": [{"event": "Payment Failed", "hours": 24, "reason": "a payment failure"}],
    }

    defaults = client.get("/api/v1/guardrails/")
    bad = client.put(
        "/api/v1/guardrails/",
        {
            "contact_policy": {"per_channel_day": {"email": -1, "fax": 1}, "quiet_start": "25:99"},
            "brand_safety": {"max_discount_percent": 140},
            "suppression_rules": [{"event": "", "hours": 0}],
        },
        format="json",
    )
    good = client.put("/api/v1/guardrails/", body, format="json")

    assert defaults.status_code == 200
    assert any(r["event"] == "payment_failed" for r in defaults.json()["suppression_rules"])
    assert bad.status_code == 400
    assert set(_fields(bad)) == {
        "contact_policy.per_channel_day.email",
        "contact_policy.per_channel_day.fax",
        "contact_policy.quiet_start",
        "contact_policy.quiet_end",
        "brand_safety.max_discount_percent",
        "suppression_rules.0.event",
        "suppression_rules.0.hours",
    }
    assert good.status_code == 200 and good.json()["contact_policy"]["quiet_end"] == "07:00"
    config = GuardrailConfig.objects.get(workspace=personas.workspace)
    assert config.brand_safety["max_discount_percent"] == 25
    assert not GuardrailConfig.objects.filter(workspace=personas.other_workspace).exists()


def test_evaluation_api_answers_empty_and_validates_its_parameters(personas) -> None:
    policy_save(workspace=personas.workspace, actor=None, values={"key": "main", "name": "Main", "status": "live"})
    client = _keyed(personas.workspace)

    empty = client.get("/api/v1/policies/main/evaluation/")
    bad_since = client.get("/api/v1/policies/main/evaluation/?since=yesterday")
    bad_limit = client.get("/api/v1/policies/main/evaluation/?limit=many")

    assert empty.status_code == 200
    data = empty.json()
    assert (data["n"], data["estimates"], data["live_observed"]) == (0, [], None)
    assert data["live"] == {"key": "main", "version": 1} and "No logged decisions" in data["verdict"]
    assert bad_since.status_code == 400 and "since" in _fields(bad_since)
    assert bad_limit.status_code == 400 and "limit" in _fields(bad_limit)
