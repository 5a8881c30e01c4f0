"""ticket_create's contract, tickets from decisions, shipped defaults and subject rights."""

from __future__ import annotations

import pytest

from accounts.defaults import workspace_defaults_install
from audit.models import AuditEntry
from core.domain_events import DomainEvent
from decisions.services import DECISION_APPROVED, DECISION_MADE, decision_make, policy_save
from profiles.subject_rights import subject_data_erase, subject_data_export
from support.models import Lead, SlaPolicy, Team, Ticket
from support.services import ticket_create
from support.subscribers import on_decision_approved, on_decision_made
from tests.decisions.conftest import make_action
from tests.support.conftest import people

pytestmark = pytest.mark.django_db


def test_the_same_correlation_id_never_opens_a_second_ticket(desk) -> None:
    ana = people(desk)["ana"]
    values = {
        "workspace": desk,
        "profile": ana,
        "subject": "Payment failed three times",
        "body": "Card ending 4242 declined.",
        "tags": ["High CLV risk / payment failure"],
        "correlation_id": "playbook:run-1:ticket",
        "context": {"last_amount": "129.00 EUR", "card": "visa ****4242"},
    }

    first = ticket_create(**values)
    again = ticket_create(**{**values, "subject": "changed text is ignored"})

    assert again.id == first.id
    assert Ticket.objects.filter(workspace=desk).count() == 1
    assert first.channel == "playbook"
    assert first.context["card"] == "visa ****4242"
    assert AuditEntry.objects.filter(action="ticket.created", target_id=str(first.id)).count() == 1
    # without a correlation id every call is a new ticket
    ticket_create(workspace=desk, profile=ana, subject="Hello", body="")
    ticket_create(workspace=desk, profile=ana, subject="Hello", body="")
    assert Ticket.objects.filter(workspace=desk).count() == 3


def _acted_decision(workspace, profile, *, channel: str, key: str):
    make_action(workspace, key, channel=channel, kind="service", subject="Call {traits.first_name}", content="Why")
    policy_save(
        workspace=workspace,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": 0.0},
    )
    decision = decision_make(workspace=workspace, profile=profile, only=[key])
    assert decision.status == "acted", decision.explanation
    return decision


def test_a_decision_on_the_ticket_channel_opens_one_ticket(desk) -> None:
    ana = people(desk)["ana"]
    decision = _acted_decision(desk, ana, channel="ticket", key="priority_callback")
    fact = DomainEvent(
        name=DECISION_MADE, workspace_id=str(desk.id), payload={"decision_id": str(decision.id), "status": "acted"}
    )

    on_decision_made(fact)
    on_decision_made(fact)  # redelivered
    on_decision_approved(
        DomainEvent(name=DECISION_APPROVED, workspace_id=str(desk.id), payload={"decision_id": str(decision.id)})
    )

    ticket = Ticket.objects.get(workspace=desk)
    assert ticket.correlation_id == str(decision.id)
    assert ticket.subject == "Call Ana"
    assert ticket.channel == "decision"
    assert ticket.context["action"] == "priority_callback"


def test_decisions_not_acted_on_open_nothing(desk) -> None:
    ana = people(desk)["ana"]
    decision = _acted_decision(desk, ana, channel="ticket", key="priority_callback")

    on_decision_made(
        DomainEvent(
            name=DECISION_MADE,
            workspace_id=str(desk.id),
            payload={"decision_id": str(decision.id), "status": "held_out"},
        )
    )

    assert not Ticket.objects.filter(workspace=desk).exists()


def test_playbook_decisions_are_left_to_the_playbook(desk) -> None:
    from decisions.recording import decision_record

    ana = people(desk)["ana"]
    decision = decision_record(
        workspace=desk,
        profile=ana,
        chosen_key="high-clv-payment-failure.ticket",
        channel="ticket",
        explanation="Playbook step 3: open a priority ticket.",
        trigger_ref="run-1:step-3",
        rendered={"subject": "Payment trouble"},
    )

    on_decision_made(
        DomainEvent(
            name=DECISION_MADE, workspace_id=str(desk.id), payload={"decision_id": str(decision.id), "status": "acted"}
        )
    )

    assert not Ticket.objects.filter(workspace=desk).exists()


def test_a_decision_on_the_sales_task_channel_creates_a_lead_task(desk) -> None:
    bo = people(desk)["bo"]
    decision = _acted_decision(desk, bo, channel="sales_task", key="sales_followup")

    on_decision_made(
        DomainEvent(
            name=DECISION_MADE, workspace_id=str(desk.id), payload={"decision_id": str(decision.id), "status": "acted"}
        )
    )

    lead = Lead.objects.get(workspace=desk)
    assert lead.correlation_id == str(decision.id)
    assert lead.task.startswith("Call Bo")
    assert lead.source == "decision"


def test_shipped_defaults_install_once_and_are_registered(workspace) -> None:
    ran = workspace_defaults_install(workspace=workspace)
    workspace_defaults_install(workspace=workspace)

    assert "support.teams" in ran
    assert sorted(Team.objects.filter(workspace=workspace).values_list("name", flat=True)) == [
        "General",
        "Payments",
        "Sales",
    ]
    assert list(SlaPolicy.objects.filter(workspace=workspace).values_list("name", "resolve_minutes")) == [
        ("Urgent", 30),
        ("High", 120),
        ("Standard", 480),
    ]
    assert AuditEntry.objects.filter(action="support.defaults_installed").count() == 1


def test_a_subject_export_holds_their_tickets_and_erasure_removes_them(desk) -> None:
    ana, bo = people(desk).values()
    ticket_create(workspace=desk, profile=ana, subject="My card", body="ana's words", context={"card": "4242"})
    ticket_create(workspace=desk, profile=bo, subject="Bo's question", body="")

    exported = subject_data_export(workspace=desk, profile_ids=[ana.id])
    erased = subject_data_erase(workspace=desk, profile_ids=[ana.id], identifiers=[("user_id", "ana")])

    assert [t["body"] for t in exported["support.tickets"]] == ["ana's words"]
    assert exported["support.leads"] == []
    assert erased["support.tickets"] == 1
    assert list(Ticket.objects.filter(workspace=desk).values_list("subject", flat=True)) == ["Bo's question"]


def test_a_merge_moves_the_tickets_and_leads_to_the_surviving_person(desk, tracker) -> None:
    from profiles.selectors import profile_by_identifier
    from support.leads import lead_create

    tracker.post("/v1/track", {"anonymousId": "laptop", "event": "Cart Viewed"})
    visitor = profile_by_identifier(workspace=desk, kind="anonymous_id", value="laptop")
    bo = people(desk)["bo"]
    ticket = ticket_create(workspace=desk, profile=bo, subject="Help", body="")
    lead = lead_create(workspace=desk, profile=bo, account="Bo Ltd")

    tracker.post("/v1/identify", {"anonymousId": "laptop", "userId": "bo"})  # the same person

    survivor = profile_by_identifier(workspace=desk, kind="user_id", value="bo")
    assert visitor is not None and survivor is not None
    ticket.refresh_from_db()
    lead.refresh_from_db()
    assert ticket.profile_id == lead.profile_id == survivor.id
    merged_away = {visitor.id, bo.id} - {survivor.id}
    assert merged_away and not Ticket.objects.filter(profile_id__in=merged_away).exists()
