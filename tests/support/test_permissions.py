"""Who may read and work tickets and leads: owner, support agent, viewer, outsider."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import Role
from support.leads import lead_create
from support.models import Ticket, TicketStatus
from support.services import support_defaults_install, ticket_create
from tests.factories import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(personas):
    from profiles.models import Profile

    support_defaults_install(workspace=personas.workspace)
    person = Profile.objects.create(workspace=personas.workspace, traits={"first_name": "Ana"})
    ticket = ticket_create(workspace=personas.workspace, profile=person, subject="Card declined", body="")
    lead = lead_create(workspace=personas.workspace, profile=person, account="Ana GmbH")
    return personas, ticket, lead


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("who", "read", "work"),
    [("owner", 200, 200), ("agent", 200, 200), ("viewer", 200, 403), ("outsider", 404, 404)],
)
def test_pages(acme, who: str, read: int, work: int) -> None:
    personas, ticket, lead = acme
    user = {
        "owner": personas.owner,
        "agent": make_member(workspace=personas.workspace, role=Role.SUPPORT_AGENT),
        "viewer": make_member(workspace=personas.workspace, role=Role.VIEWER),
        "outsider": personas.outsider,
    }[who]
    client = _client(user)
    htmx = {"HX-Request": "true"}

    # The queue itself is the viewer's own workspace: the outsider sees Globex's (empty) queue.
    queue = client.get("/support/")
    assert queue.status_code == 200
    assert (b"Card declined" in queue.content) is (who != "outsider")
    assert client.get(f"/support/?ticket={ticket.id}").status_code == read
    assert client.get(f"/support/tickets/{ticket.id}/", headers=htmx).status_code == read
    assert client.get(f"/sales/?lead={lead.id}").status_code == read
    assert client.post(f"/support/tickets/{ticket.id}/claim/", headers=htmx).status_code == work
    assert client.post(f"/sales/leads/{lead.id}/close/", {"outcome": "won"}).status_code == (
        302 if work == 200 else work
    )
    ticket.refresh_from_db()
    assert (ticket.assignee == user) is (work == 200)
    assert client.get("/support/tickets/new/").status_code == (200 if work == 200 else 403 if read == 200 else 200)


@pytest.mark.parametrize(
    ("who", "read", "work"),
    [("owner", 200, 200), ("agent", 200, 200), ("viewer", 200, 403), ("outsider", 404, 404)],
)
def test_api(acme, who: str, read: int, work: int) -> None:
    personas, ticket, _ = acme
    user = {
        "owner": personas.owner,
        "agent": make_member(workspace=personas.workspace, role=Role.SUPPORT_AGENT),
        "viewer": make_member(workspace=personas.workspace, role=Role.VIEWER),
        "outsider": personas.outsider,
    }[who]
    api = _api(user)

    listed = api.get("/api/v1/tickets/")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == ([] if who == "outsider" else [str(ticket.id)])
    assert api.get(f"/api/v1/tickets/{ticket.id}/").status_code == read
    assert api.post(f"/api/v1/tickets/{ticket.id}/claim/").status_code == work
    resolved = api.post(f"/api/v1/tickets/{ticket.id}/resolve/", {"note": "done"}, format="json")
    assert resolved.status_code == work
    ticket.refresh_from_db()
    assert (ticket.status == TicketStatus.RESOLVED) is (work == 200)
    if work == 404:
        assert resolved.json() == {"error": {"code": "not_found", "message": "Not found."}}
    created = api.post(
        "/api/v1/tickets/", {"person": {"profileId": str(ticket.profile_id)}, "subject": "Hi"}, format="json"
    )
    # the outsider's own workspace has no such person: a field error, not a leak
    assert created.status_code == {"owner": 201, "agent": 201, "viewer": 403, "outsider": 400}[who]
    assert Ticket.objects.filter(workspace=personas.workspace).count() == (2 if work == 200 else 1)


def test_anonymous_visitors_are_sent_to_log_in_and_the_api_refuses_them(acme) -> None:
    _, ticket, _ = acme

    assert Client().get("/support/").status_code == 302
    assert APIClient().get("/api/v1/tickets/").status_code in (401, 403)
    assert APIClient().post(f"/api/v1/tickets/{ticket.id}/claim/").status_code in (401, 403)
