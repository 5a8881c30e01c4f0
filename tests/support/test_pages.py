"""The queue page without a browser: empty state, filters, pagination, the new-ticket form
with inline errors, and the htmx partials."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from support.models import Ticket, TicketStatus
from support.services import ticket_create, ticket_resolve
from tests.support.conftest import people

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, desk):
    client.force_login(desk.memberships.get(role=Role.OWNER).user)
    return client


def test_an_empty_queue_says_where_tickets_come_from(owner_client) -> None:
    page = owner_client.get("/support/").content.decode()

    assert "No open tickets." in page
    assert "POST /api/v1/tickets/" in page


def test_filters_and_pages(owner_client, desk) -> None:
    bo = people(desk)["bo"]
    for n in range(27):
        ticket_create(workspace=desk, profile=bo, subject=f"Parcel question {n}", body="")
    refund = ticket_create(workspace=desk, profile=bo, subject="Refund missing", body="")
    done = ticket_create(workspace=desk, profile=bo, subject="Solved already", body="")
    ticket_resolve(ticket=done, actor=None)

    first = owner_client.get("/support/").content.decode()
    second = owner_client.get("/support/?page=2").content.decode()
    payments = owner_client.get("/support/?team=payments").content.decode()
    resolved = owner_client.get("/support/?status=resolved").content.decode()
    mine = owner_client.get("/support/?assignee=me").content.decode()
    searched = owner_client.get("/support/?q=refund", headers={"HX-Request": "true", "HX-Target": "ticket-queue"})

    assert "Page 1 of 2 · 28 tickets" in first and "Solved already" not in first
    assert second.count('data-ticket="') == 3
    assert f'id="ticket-{refund.id}"' in payments and "Parcel question" not in payments
    assert "Solved already" in resolved and "Refund missing" not in resolved
    assert "No ticket matches these filters." in mine
    body = searched.content.decode()
    assert body.lstrip().startswith('<section id="ticket-queue"')
    assert "Refund missing" in body and "Parcel question" not in body


def test_the_new_ticket_form_shows_errors_beside_fields_and_keeps_input(owner_client, desk) -> None:
    unknown = owner_client.post(
        "/support/tickets/new/",
        {"kind": "email", "identifier": "nobody@example.com", "subject": "Help", "body": "Kept text"},
    )
    missing = owner_client.post("/support/tickets/new/", {"kind": "email", "identifier": "ana@example.com"})
    made = owner_client.post(
        "/support/tickets/new/",
        {"kind": "email", "identifier": "ANA@example.com", "subject": "Phone call", "tags": "callback, vip"},
    )

    assert unknown.status_code == 400
    page = unknown.content.decode()
    assert 'data-field-error="identifier"' in page and "Nobody with that identifier" in page
    assert 'aria-invalid="true"' in page and "Kept text" in page
    assert missing.status_code == 400 and 'data-field-error="subject"' in missing.content.decode()
    assert made.status_code == 302
    ticket = Ticket.objects.get(workspace=desk)
    assert made["Location"].endswith(f"?ticket={ticket.id}")
    assert (ticket.subject, ticket.channel, ticket.tags) == ("Phone call", "ui", ["callback", "vip"])


def test_claim_assign_and_resolve_from_the_page(owner_client, desk) -> None:
    bo = people(desk)["bo"]
    ticket = ticket_create(workspace=desk, profile=bo, subject="Question", body="")
    htmx = {"HX-Request": "true"}

    claimed = owner_client.post(f"/support/tickets/{ticket.id}/claim/", headers=htmx)
    unassigned = owner_client.post(f"/support/tickets/{ticket.id}/assign/", {"assignee": ""}, headers=htmx)
    resolved = owner_client.post(f"/support/tickets/{ticket.id}/resolve/", headers=htmx)
    again = owner_client.post(f"/support/tickets/{ticket.id}/resolve/", headers=htmx)
    plain = owner_client.post(f"/support/tickets/{ticket.id}/claim/")

    assert claimed.status_code == 200 and claimed["HX-Trigger"] == "support:changed"
    assert 'id="ticket-assignee">' + desk.memberships.get(role=Role.OWNER).user.username in claimed.content.decode()
    assert 'id="ticket-assignee">unassigned' in unassigned.content.decode()
    assert resolved.status_code == 200 and "Resolved" in resolved.content.decode()
    assert again.status_code == 400 and "already resolved" in again.content.decode()
    assert plain.status_code == 302  # without htmx: back to the queue with a message
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED


def test_owners_staff_teams_on_the_agents_page_and_others_only_read(owner_client, client, desk) -> None:
    from django.test import Client

    from audit.models import AuditEntry
    from support.models import Agent, Team
    from tests.factories import make_member

    agent_user = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    viewer = make_member(workspace=desk, role=Role.VIEWER)
    payments = Team.objects.get(workspace=desk, key="payments")
    values = {"user": str(agent_user.pk), "team": str(payments.pk), "skills": "VIP, lang:de", "capacity": "4"}

    empty = owner_client.get("/support/agents/").content.decode()
    not_a_choice = owner_client.post("/support/agents/", {**values, "user": str(viewer.pk)})
    saved = owner_client.post("/support/agents/", {**values, "available": "on"})
    listing = owner_client.get("/support/agents/").content.decode()
    as_agent, as_viewer = Client(), Client()
    as_agent.force_login(agent_user)
    as_viewer.force_login(viewer)

    assert "No agents yet" in empty
    assert not_a_choice.status_code == 400 and 'data-field-error="user"' in not_a_choice.content.decode()
    assert saved.status_code == 302
    agent = Agent.objects.get(workspace=desk, user=agent_user)
    assert (agent.team, agent.skills, agent.capacity, agent.available) == (payments, ["lang:de", "vip"], 4, True)
    assert AuditEntry.objects.filter(action="support.agent_saved", target_id=str(agent.id)).exists()
    assert f'id="agent-{agent.id}"' in listing
    assert as_viewer.get("/support/agents/").status_code == 200
    assert 'id="save-agent"' not in as_viewer.get("/support/agents/").content.decode()
    assert as_viewer.post("/support/agents/", values).status_code == 403
    assert as_agent.post("/support/agents/", values).status_code == 403
