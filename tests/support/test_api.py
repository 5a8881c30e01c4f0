"""The tickets and leads API with a secret key: create (idempotent), list with filters and
pagination, retrieve, assign, claim, resolve."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from support.leads import lead_create
from support.models import Team
from support.services import agent_save
from tests.factories import make_member
from tests.support.conftest import people, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(desk, api_client, secret_key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret_key}")
    return api_client


def test_create_then_repeat_with_the_same_correlation_id(api, desk, tracker) -> None:
    for _ in range(3):
        track(tracker, "ana", "payment_failed", amount=80)
    body = {
        "person": {"email": "ana@example.com"},
        "subject": "Card declined at checkout",
        "body": "It keeps failing and I am really annoyed.",
        "tags": ["payment failure"],
        "correlation_id": "crm-4711",
        "context": {"order": "A-1001", "amount": "80.00 EUR"},
    }

    first = api.post("/api/v1/tickets/", body, format="json")
    again = api.post("/api/v1/tickets/", body, format="json")

    assert first.status_code == 201, first.content
    assert again.status_code == 200
    ticket = first.json()
    assert again.json()["id"] == ticket["id"]
    assert ticket["team"] == "payments"
    assert ticket["status"] == "new"  # nobody staffs the team yet
    assert ticket["context"] == {"order": "A-1001", "amount": "80.00 EUR"}
    assert ticket["channel"] == "api"
    assert ticket["sentiment"] == "negative"
    assert "3 payment failures in 10 min" in ticket["priority_explanation"]
    assert ticket["sla_breached"] is False
    assert api.get(f"/api/v1/tickets/{ticket['id']}/").json()["subject"] == "Card declined at checkout"


def test_bad_input_gets_field_errors(api) -> None:
    missing = api.post("/api/v1/tickets/", {"subject": ""}, format="json")
    unknown = api.post("/api/v1/tickets/", {"person": {"userId": "nobody"}, "subject": "Hi"}, format="json")
    bad_filter = api.get("/api/v1/tickets/?status=sideways")
    nul_context = api.post(
        "/api/v1/tickets/", {"person": {"userId": "bo"}, "subject": "Hi", "context": {"a": "x\u0000y"}}, format="json"
    )
    nul_search = api.get("/api/v1/tickets/?search=a%00b")

    assert missing.status_code == 400
    assert set(missing.json()["error"]["fields"]) == {"person", "subject"}
    assert unknown.status_code == 400
    assert "person" in unknown.json()["error"]["fields"]
    assert bad_filter.status_code == 400
    assert nul_context.status_code == 400 and "context" in nul_context.json()["error"]["fields"]
    assert nul_search.status_code == 200
    assert api.get("/api/v1/tickets/not-a-uuid/").status_code == 404


def test_list_filters_search_and_pagination(api, desk) -> None:
    for subject, tags in (("Refund please", ["billing"]), ("Parcel late", []), ("Parcel damaged", ["damage"])):
        api.post("/api/v1/tickets/", {"person": {"userId": "bo"}, "subject": subject, "tags": tags}, format="json")

    everything = api.get("/api/v1/tickets/").json()
    payments = api.get("/api/v1/tickets/?team=payments").json()
    parcels = api.get("/api/v1/tickets/?search=parcel").json()
    tagged = api.get("/api/v1/tickets/?search=damage").json()
    first_page = api.get("/api/v1/tickets/?limit=2").json()

    assert everything["count"] == 3
    assert [t["subject"] for t in payments["results"]] == ["Refund please"]
    assert sorted(t["subject"] for t in parcels["results"]) == ["Parcel damaged", "Parcel late"]
    assert [t["subject"] for t in tagged["results"]] == ["Parcel damaged"]
    assert len(first_page["results"]) == 2 and first_page["next"]
    assert api.get("/api/v1/tickets/?status=resolved").json()["count"] == 0


def test_assign_claim_and_resolve(api, desk) -> None:
    agent = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    viewer = make_member(workspace=desk, role=Role.VIEWER)
    ticket = api.post("/api/v1/tickets/", {"person": {"userId": "bo"}, "subject": "Question"}, format="json").json()
    url = f"/api/v1/tickets/{ticket['id']}"

    assigned = api.post(f"{url}/assign/", {"assignee": agent.username}, format="json")
    to_viewer = api.post(f"{url}/assign/", {"assignee": viewer.username}, format="json")
    claimed_by_key = api.post(f"{url}/claim/")
    resolved = api.post(f"{url}/resolve/", {"note": "answered"}, format="json")
    again = api.post(f"{url}/resolve/", {}, format="json")

    assert assigned.status_code == 200 and assigned.json()["assignee"] == agent.username
    assert assigned.json()["status"] == "open"
    assert to_viewer.status_code == 400 and "assignee" in to_viewer.json()["error"]["fields"]
    assert claimed_by_key.status_code == 400
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    assert again.status_code == 400
    assert api.get("/api/v1/tickets/?assignee=" + agent.username + "&status=all").json()["count"] == 1


def test_leads_list_highest_propensity_first(api, desk) -> None:
    from tests.support.conftest import give_scores

    ana, bo = people(desk).values()
    give_scores(ana, conversion=0.2)
    give_scores(bo, conversion=0.8)
    rep = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    agent_save(workspace=desk, actor=None, user=rep, team=Team.objects.get(workspace=desk, key="sales"))
    lead_create(workspace=desk, profile=ana, account="Ana GmbH")
    lead_create(workspace=desk, profile=bo, account="Bo Ltd")

    leads = api.get("/api/v1/leads/").json()["results"]

    assert [(lead["account"], lead["score"], lead["owner"]) for lead in leads] == [
        ("Bo Ltd", 0.8, rep.username),
        ("Ana GmbH", 0.2, rep.username),
    ]
    assert api.get("/api/v1/leads/?status=won").json()["count"] == 0
