"""Priority: value at risk, churn, frustration and waiting time, each explained in words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.domain_events import EVENT_INGESTED, DomainEvent
from support.models import Ticket
from support.selectors import ticket_list
from support.services import ticket_create, tickets_sla_refresh
from support.subscribers import on_events_ingested
from tests.support.conftest import give_scores, people, scored_crowd, track

pytestmark = pytest.mark.django_db


def test_a_frustrated_high_value_customer_goes_above_a_calm_one(desk, tracker) -> None:
    # given: Ana is the top CLV of the workspace, at risk of churning, with three payment failures
    scored_crowd(desk)
    ana, bo = people(desk).values()
    give_scores(ana, clv=1840.0, churn=0.6)
    give_scores(bo, clv=100.0, churn=0.1)
    for _ in range(3):
        track(tracker, "ana", "payment_failed", amount=129.0, reason="card_declined")
    # when: Bo's calm ticket arrives first, Ana's angry one second
    calm = ticket_create(workspace=desk, profile=bo, subject="Change my address", body="How do I change my address?")
    angry = ticket_create(
        workspace=desk,
        profile=ana,
        subject="Card declined again",
        body="My card keeps failing at checkout, this is ridiculous.",
        tags=["High CLV risk / payment failure"],
    )
    # then: Ana is first, and the agent reads why
    queue = list(ticket_list(actor=desk.memberships.get(role="owner").user, workspace=desk))
    assert [t.id for t in queue] == [angry.id, calm.id]
    assert angry.priority > calm.priority
    assert angry.priority_explanation.startswith("CLV top 1% (EUR 1,840)")
    for part in ("3 payment failures in 10 min", "negative tone", "churn risk 60%", "SLA due in 30 min"):
        assert part in angry.priority_explanation
    assert angry.sla_policy is not None and angry.sla_policy.name == "Urgent"
    assert calm.sla_policy is not None and calm.sla_policy.name == "Standard"
    assert "below the median" in calm.priority_explanation
    points = {r["signal"]: r["points"] for r in angry.priority_reasons}
    assert points == {"clv": 30, "churn": 12, "payments": 20, "tone": 10, "sla": 0}
    assert angry.priority == 72


def test_breached_tickets_come_first_among_equals(desk) -> None:
    bo = people(desk)["bo"]
    on_time = ticket_create(workspace=desk, profile=bo, subject="Question one", body="")
    late = ticket_create(workspace=desk, profile=bo, subject="Question two", body="")
    now = timezone.now()
    Ticket.objects.filter(pk=on_time.pk).update(priority=40, sla_due_at=now + timedelta(minutes=30))
    Ticket.objects.filter(pk=late.pk).update(priority=40, sla_due_at=now - timedelta(minutes=5))

    queue = list(ticket_list(actor=desk.memberships.get(role="owner").user, workspace=desk))

    assert [t.id for t in queue] == [late.id, on_time.id]


def test_new_payment_failures_raise_an_open_ticket(desk, tracker) -> None:
    bo = people(desk)["bo"]
    ticket = ticket_create(workspace=desk, profile=bo, subject="Checkout question", body="Which cards do you take?")
    before = ticket.priority
    for _ in range(3):
        track(tracker, "bo", "payment_failed", amount=20)

    on_events_ingested(DomainEvent(name=EVENT_INGESTED, workspace_id=str(desk.id), payload={"profile_ids": [bo.id]}))

    ticket.refresh_from_db()
    assert ticket.priority == before + 20
    assert "3 payment failures in 10 min" in ticket.priority_explanation


def test_waiting_moves_a_ticket_up_as_its_sla_approaches_and_breaches(desk) -> None:
    bo = people(desk)["bo"]
    ticket = ticket_create(workspace=desk, profile=bo, subject="Invoice copy", body="")
    assert ticket.sla_policy is not None
    window = timedelta(minutes=ticket.sla_policy.resolve_minutes)  # 8 h: nothing at risk
    now = timezone.now()
    # three quarters of the window used
    Ticket.objects.filter(pk=ticket.pk).update(created_at=now - window * 0.75, sla_due_at=now + window * 0.25)

    assert tickets_sla_refresh(now=now) == 1
    ticket.refresh_from_db()
    assert ticket.priority == 15
    assert ticket.priority_explanation == "SLA due in 2 h"
    # a minute later the points have not moved: no rewrite, no websocket message
    assert tickets_sla_refresh(now=now + timedelta(minutes=1)) == 0

    assert tickets_sla_refresh(now=now + window) == 1
    ticket.refresh_from_db()
    assert ticket.priority == 20
    assert ticket.priority_explanation.startswith("SLA breached")
    # nothing moved since: a second run changes nothing
    assert tickets_sla_refresh(now=now + window) == 0
