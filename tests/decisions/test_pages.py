"""Catalog pages: actions (inline errors, versions with diffs, toggle, list), policies, guardrails,
and who may do what (owner and marketer edit, viewer reads, outsider sees 404)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.roles import Role
from decisions.models import Action, ActionVersion, GuardrailConfig, Policy
from decisions.services import policy_save
from tests.decisions.conftest import make_action

pytestmark = pytest.mark.django_db

VALID = {
    "key": "winback_email",
    "name": "Win-back email",
    "channel": "email",
    "kind": "retention",
    "subject": "We miss you",
    "content": "Hi {traits.first_name|there}",
    "value_model": "fixed",
    "value_amount": "40",
    "value_share": "0",
    "cost": "0.20",
    "currency": "eur",
    "eligibility": 'traits.plan in ["gold", "platinum"] and scores.churn >= 0.6',
    "risk_tier": "low",
    "autonomy": "act_alone",
    "enabled": "on",
}


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _field_error(html: str, field: str) -> str:
    match = re.search(rf'data-field-error="{field}">([^<]*)<', html)
    return match.group(1) if match else ""


def test_invalid_condition_is_shown_under_the_field_and_values_are_kept_then_a_valid_one_saves(personas) -> None:
    client = _login(personas.owner)

    response = client.post("/actions/new/", {**VALID, "eligibility": "traits.plan =="})

    assert response.status_code == 400
    html = response.content.decode()
    assert _field_error(html, "eligibility").startswith("not a valid condition:")
    assert 'value="Win-back email"' in html and "traits.plan ==</textarea>" in html
    assert not Action.objects.filter(workspace=personas.workspace).exists()

    response = client.post("/actions/new/", VALID)

    assert response.status_code == 302 and response["Location"] == "/actions/winback_email/"
    action = Action.objects.get(workspace=personas.workspace, key="winback_email")
    assert (action.version, action.currency, action.eligibility) == (1, "EUR", VALID["eligibility"])
    assert float(action.cost) == 0.2
    assert action.versions.count() == 1


def test_other_service_errors_land_on_their_fields(personas) -> None:
    client = _login(personas.owner)
    make_action(personas.workspace, "taken")

    duplicate = client.post("/actions/new/", {**VALID, "key": "taken"})
    expression = client.post("/actions/new/", {**VALID, "value_model": "expression", "value_expression": ""})
    window = client.post(
        "/actions/new/", {**VALID, "active_from": "2025-02-01T10:00", "active_until": "2025-01-01T10:00"}
    )

    assert _field_error(duplicate.content.decode(), "key") == "another action already uses this key"
    assert "an expression is needed" in _field_error(expression.content.decode(), "value_expression")
    assert "must be after" in _field_error(window.content.decode(), "active_until")


def test_editing_makes_a_new_version_and_the_history_shows_before_and_after(personas) -> None:
    client = _login(personas.owner)
    make_action(personas.workspace, "promo", name="Promo", cost=0.1)

    response = client.post(
        "/actions/promo/",
        {**VALID, "key": "ignored", "name": "Spring promo", "cost": "0.35", "reason": "spring campaign"},
    )

    assert response.status_code == 302
    action = Action.objects.get(workspace=personas.workspace, key="promo")  # the key cannot change
    assert (action.version, action.name) == (2, "Spring promo")
    history = client.get("/actions/promo/versions/").content.decode()
    v2 = history[history.index('id="v2"') : history.index('id="v1"')]
    name_row = re.search(r'data-field="name">.*?<del>(.*?)</del>.*?<ins>(.*?)</ins>', v2, re.S)
    cost_row = re.search(r'data-field="cost">.*?<del>(.*?)</del>.*?<ins>(.*?)</ins>', v2, re.S)
    assert name_row and name_row.groups() == ("Promo", "Spring promo")
    assert cost_row and cost_row.groups() == ("0.1", "0.35")
    assert 'data-field="channel"' not in v2  # unchanged fields are not listed
    assert "Created with" in history[history.index('id="v1"') :]


def test_toggle_swaps_the_row_with_htmx_and_redirects_without_js(personas) -> None:
    client = _login(personas.owner)
    make_action(personas.workspace, "promo")

    swapped = client.post("/actions/promo/toggle/", HTTP_HX_REQUEST="true")

    assert swapped.status_code == 200
    row = swapped.content.decode().strip()
    assert row.startswith('<tr id="action-promo"') and "disabled</span>" in row and ">Enable</button>" in row
    assert not Action.objects.get(key="promo").enabled

    plain = client.post("/actions/promo/toggle/")

    assert plain.status_code == 302 and plain["Location"] == "/actions/"
    action = Action.objects.get(key="promo")
    assert action.enabled and action.version == 3
    assert list(ActionVersion.objects.filter(action=action).values_list("snapshot__enabled", flat=True)) == [
        True,
        False,
        True,
    ]


def test_list_searches_sorts_and_pages_by_25(personas) -> None:
    client = _login(personas.owner)
    for i in range(27):
        make_action(personas.workspace, f"offer_{i:02d}", name=f"Offer {i:02d}")
    make_action(personas.workspace, "zz_help", name="Checkout help", channel="in_app", risk_tier="high")

    first = client.get("/actions/").content.decode()
    second = client.get("/actions/?page=2").content.decode()
    found = client.get("/actions/?q=checkout").content.decode()
    by_key = client.get("/actions/?q=ZZ_").content.decode()
    newest = client.get("/actions/?sort=-updated").content.decode()
    partial = client.get("/actions/?q=offer_2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="action-table")

    assert first.count("data-action=") == 25 and "Page 1 of 2 · 28 actions" in first
    assert second.count("data-action=") == 3
    assert re.findall(r'data-action="([^"]+)"', found) == ["zz_help"] and "High</span>" in found
    assert re.findall(r'data-action="([^"]+)"', by_key) == ["zz_help"]
    assert re.findall(r'data-action="([^"]+)"', newest)[0] == "zz_help"
    body = partial.content.decode()
    assert body.strip().startswith('<section id="action-table">') and "<html" not in body
    assert re.findall(r'data-action="([^"]+)"', body) == [f"offer_{i}" for i in range(20, 27)]


def test_empty_catalog_invites_people_who_may_create_and_not_the_others(personas) -> None:
    owner_view = _login(personas.owner).get("/actions/").content.decode()
    viewer_view = _login(personas.member(Role.VIEWER)).get("/actions/").content.decode()

    assert 'id="actions-empty"' in owner_view and 'href="/actions/new/"' in owner_view
    assert 'id="actions-empty"' in viewer_view and 'href="/actions/new/"' not in viewer_view


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        (
            "owner",
            {"list": 200, "edit": 200, "save": 302, "toggle": 302, "new": 200, "create": 302, "versions": 200},
        ),
        (
            "marketer",
            {"list": 200, "edit": 200, "save": 302, "toggle": 302, "new": 200, "create": 302, "versions": 200},
        ),
        (
            "viewer",
            {"list": 200, "edit": 200, "save": 403, "toggle": 403, "new": 403, "create": 403, "versions": 200},
        ),
        (
            "outsider",
            {"list": 200, "edit": 404, "save": 404, "toggle": 404, "new": 200, "create": 302, "versions": 404},
        ),
        (
            "anonymous",
            {"list": 302, "edit": 302, "save": 302, "toggle": 302, "new": 302, "create": 302, "versions": 302},
        ),
    ],
)
def test_action_pages_per_persona(personas, persona, expected) -> None:
    make_action(personas.workspace, "promo", name="Promo")
    client = Client()
    if persona == "owner":
        client.force_login(personas.owner)
    elif persona == "outsider":
        client.force_login(personas.outsider)  # owner of another workspace: creating there is fine
    elif persona != "anonymous":
        client.force_login(personas.member(Role(persona)))

    got = {
        "list": client.get("/actions/").status_code,
        "edit": client.get("/actions/promo/").status_code,
        "save": client.post("/actions/promo/", {**VALID, "name": "Changed"}).status_code,
        "toggle": client.post("/actions/promo/toggle/").status_code,
        "new": client.get("/actions/new/").status_code,
        "create": client.post("/actions/new/", VALID).status_code,
        "versions": client.get("/actions/promo/versions/").status_code,
    }

    assert got == expected
    promo = Action.objects.get(workspace=personas.workspace, key="promo")
    assert (promo.name == "Changed") is (persona in ("owner", "marketer"))
    if persona == "viewer":
        page = client.get("/actions/").content.decode()
        edit = client.get("/actions/promo/").content.decode()
        assert "toggle/" not in page and 'id="new-action"' not in page
        assert 'id="save-action"' not in edit and "read only" in edit
    if persona == "outsider":
        assert not Action.objects.filter(workspace=personas.workspace, key="winback_email").exists()


def test_policy_pages_save_through_the_service_and_show_versions(personas) -> None:
    make_action(personas.workspace, "promo")
    make_action(personas.workspace, "help", channel="in_app")
    client = _login(personas.member(Role.MARKETER))
    form = {
        "key": "spring",
        "name": "Spring",
        "status": "shadow",
        "action_keys": ["promo", "help"],
        "weights": "promo: 1.5",
        "explore": "on",
        "holdout_share": "0.05",
        "subscribed_events": "Cart Abandoned, Product Viewed",
        "context_features": "scores.conversion, features.count_7d.page_pricing",
    }

    bad_weights = client.post("/policies/new/", {**form, "weights": "promo = lots"})
    bad_feature = client.post("/policies/new/", {**form, "context_features": "scores.("})
    bad_share = client.post("/policies/new/", {**form, "holdout_share": "1.5"})
    created = client.post("/policies/new/", form)
    edited = client.post("/policies/spring/", {**form, "status": "live", "action_keys": ["promo"], "weights": ""})

    assert "line 1: write it as action_key: multiplier" in _field_error(bad_weights.content.decode(), "weights")
    assert _field_error(bad_feature.content.decode(), "context_features").startswith("scores.(:")
    assert _field_error(bad_share.content.decode(), "holdout_share")
    assert created.status_code == 302 and edited.status_code == 302
    policy = Policy.objects.get(workspace=personas.workspace, key="spring")
    assert (policy.status, policy.version, policy.action_keys, policy.weights) == ("live", 2, ["promo"], {})
    assert policy.subscribed_events == ["Cart Abandoned", "Product Viewed"]
    assert policy.context_features == ["scores.conversion", "features.count_7d.page_pricing"]
    listing = client.get("/policies/").content.decode()
    assert 'data-policy="spring"' in listing and "Live</span>" in listing
    history = client.get("/policies/spring/versions/").content.decode()
    v2 = history[history.index('id="v2"') : history.index('id="v1"')]
    assert re.search(r'data-field="status">.*?<del>shadow</del>.*?<ins>live</ins>', v2, re.S)
    assert re.search(r"data-field=\"weights\">.*?<del>\{&#x27;promo&#x27;: 1.5\}</del>", v2, re.S)


def test_policy_pages_per_persona(personas) -> None:
    policy_save(workspace=personas.workspace, actor=None, values={"key": "main", "name": "Main", "status": "live"})
    viewer = _login(personas.member(Role.VIEWER))
    outsider = _login(personas.outsider)
    form = {"key": "main", "name": "Changed", "status": "live", "holdout_share": "0.1"}

    assert viewer.get("/policies/").status_code == 200
    assert viewer.get("/policies/main/").status_code == 200
    assert viewer.post("/policies/main/", form).status_code == 403
    assert viewer.post("/policies/new/", {**form, "key": "other"}).status_code == 403
    assert outsider.get("/policies/main/").status_code == 404
    assert outsider.get("/policies/main/versions/").status_code == 404
    assert outsider.get("/policies/main/evaluation/").status_code == 404
    assert outsider.post("/policies/main/", form).status_code == 404
    assert Policy.objects.get(workspace=personas.workspace, key="main").name == "Main"


GUARDRAILS = {
    "overall_day": "3",
    "overall_week": "10",
    "quiet_start": "22:00",
    "quiet_end": "07:30",
    "quiet_channels": ["sms", "push"],
    "banned_phrases": "guaranteed\nrisk-free\n",
    "max_discount_percent": "30",
    "required_email": "Unsubscribe",
    **{f"day_{c}": "1" for c in ("email", "sms", "push", "in_app")},
    **{f"week_{c}": "4" for c in ("email", "sms", "push", "in_app")},
    "rules-TOTAL_FORMS": "2",
    "rules-INITIAL_FORMS": "0",
    "rules-MIN_NUM_FORMS": "0",
    "rules-MAX_NUM_FORMS": "50",
    "rules-0-event": "Payment Failed",
    "rules-0-hours": "24",
    "rules-0-reason": "a payment failure",
    "rules-1-event": "",
    "rules-1-hours": "",
    "rules-1-reason": "",
}


def test_guardrails_page_validates_numbers_and_saves_through_the_service(personas) -> None:
    client = _login(personas.owner)
    assert client.get("/guardrails/").status_code == 200

    bad = client.post(
        "/guardrails/",
        {**GUARDRAILS, "day_email": "-1", "week_sms": "0", "quiet_end": "", "max_discount_percent": "120"}
        | {"rules-0-hours": "0", "rules-1-event": "Complaint Filed"},
    )

    html = bad.content.decode()
    assert bad.status_code == 400
    assert "greater than or equal to 0" in _field_error(html, "day_email")
    assert _field_error(html, "week_sms") == "The weekly cap cannot be below the daily cap."
    assert "quiet hours" in _field_error(html, "quiet_end")
    assert "less than or equal to 100" in _field_error(html, "max_discount_percent")
    assert "greater than or equal to 0.1" in _field_error(html, "rules-0-hours")
    assert "How long" in _field_error(html, "rules-1-hours")
    assert not GuardrailConfig.objects.filter(workspace=personas.workspace).exists()

    good = client.post("/guardrails/", GUARDRAILS)

    assert good.status_code == 302
    config = GuardrailConfig.objects.get(workspace=personas.workspace)
    assert config.contact_policy["per_channel_day"] == {"email": 1, "sms": 1, "push": 1, "in_app": 1}
    assert (config.contact_policy["quiet_start"], config.contact_policy["quiet_end"]) == ("22:00", "07:30")
    assert config.brand_safety == {
        "banned_phrases": ["guaranteed", "risk-free"],
        "max_discount_percent": 30.0,
        "required_text": {"email": "Unsubscribe"},
    }
    assert [(r["event"], r["hours"], r["reason"]) for r in config.suppression_rules] == [
        ("Payment Failed", 24.0, "a payment failure")
    ]

    off = client.post("/guardrails/", {**GUARDRAILS, "quiet_start": "", "quiet_end": ""})

    assert off.status_code == 302
    config.refresh_from_db()
    assert config.contact_policy["quiet_start"] is None and config.contact_policy["quiet_end"] is None


def test_guardrails_are_read_only_for_a_viewer(personas) -> None:
    viewer = _login(personas.member(Role.VIEWER))

    page = viewer.get("/guardrails/").content.decode()

    assert 'id="save-guardrails"' not in page and "Read only" in page
    assert viewer.post("/guardrails/", GUARDRAILS).status_code == 403
    assert not GuardrailConfig.objects.filter(workspace=personas.workspace).exists()


def test_a_draft_policy_is_shadow_run_then_made_live_from_the_list(personas) -> None:
    # given a live policy and a draft
    policy_save(workspace=personas.workspace, actor=None, values={"key": "main", "name": "Main", "status": "live"})
    policy_save(workspace=personas.workspace, actor=None, values={"key": "next", "name": "Next", "status": "draft"})
    marketer = _login(personas.member(Role.MARKETER))
    listing = marketer.get("/policies/").content.decode()
    assert 'action="/policies/next/status/"' in listing and 'value="shadow"' in listing
    # when the marketer shadow-runs the draft
    shadowed = marketer.post("/policies/next/status/", {"status": "shadow"}, follow=True)
    # then it is a shadow in a new version beside the untouched live policy, and the list says so
    policies = {p.key: p for p in Policy.objects.filter(workspace=personas.workspace)}
    assert (policies["next"].status, policies["next"].version, policies["main"].status) == ("shadow", 2, "live")
    assert "run as a shadow" in shadowed.content.decode()
    # when it is made live, the old live policy retires
    marketer.post("/policies/next/status/", {"status": "live"})
    policies = {p.key: p for p in Policy.objects.filter(workspace=personas.workspace)}
    assert (policies["next"].status, policies["main"].status) == ("live", "retired")
    # and nonsense changes nothing
    marketer.post("/policies/next/status/", {"status": "draft"})
    assert Policy.objects.get(workspace=personas.workspace, key="next").version == 3


def test_policy_status_change_per_persona(personas) -> None:
    policy_save(workspace=personas.workspace, actor=None, values={"key": "next", "name": "Next", "status": "draft"})
    viewer = _login(personas.member(Role.VIEWER))
    outsider = _login(personas.outsider)
    assert 'action="/policies/next/status/"' not in viewer.get("/policies/").content.decode()
    assert viewer.post("/policies/next/status/", {"status": "shadow"}).status_code == 403
    assert outsider.post("/policies/next/status/", {"status": "shadow"}).status_code == 404
    assert viewer.get("/policies/next/status/").status_code == 405
    assert Policy.objects.get(workspace=personas.workspace, key="next").status == "draft"
