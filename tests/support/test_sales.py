"""Leads: routed to the available rep with the best recent close rate; the account card says
what to do next and why."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from support.leads import lead_close, lead_create, lead_recommendation, rep_pick
from support.models import Lead, LeadStatus, Team
from support.services import agent_save
from tests.factories import make_member
from tests.support.conftest import give_scores, identify, people, track

pytestmark = pytest.mark.django_db


def _history(workspace, rep, profile, *, won: int, lost: int, days_ago: int = 5) -> None:
    closed = timezone.now() - timedelta(days=days_ago)
    Lead.objects.bulk_create(
        [
            Lead(workspace=workspace, profile=profile, owner=rep, status=status, closed_at=closed)
            for status in [LeadStatus.WON] * won + [LeadStatus.LOST] * lost
        ]
    )


def test_leads_go_to_the_available_rep_with_the_best_recent_close_rate(desk) -> None:
    bo = people(desk)["bo"]
    sales = Team.objects.get(workspace=desk, key="sales")
    closer = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    steady = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    agent_save(workspace=desk, actor=None, user=closer, team=sales, capacity=2)
    agent_save(workspace=desk, actor=None, user=steady, team=sales, capacity=5)
    _history(desk, closer, bo, won=3, lost=1)
    _history(desk, steady, bo, won=1, lost=3)
    _history(desk, steady, bo, won=10, lost=0, days_ago=200)  # too old to count

    first = lead_create(workspace=desk, profile=bo, account="Bo Ltd")
    second = lead_create(workspace=desk, profile=bo, account="Bo Ltd")
    third = lead_create(workspace=desk, profile=bo, account="Bo Ltd")  # the closer is full

    assert (first.owner, second.owner, third.owner) == (closer, closer, steady)
    agent_save(workspace=desk, actor=None, user=steady, team=sales, available=False)
    assert rep_pick(workspace=desk) is None  # the closer is full and the other away


def test_a_lead_is_scored_by_conversion_propensity_and_closes_once(desk) -> None:
    ana = people(desk)["ana"]
    give_scores(ana, conversion=0.64)

    lead = lead_create(workspace=desk, profile=ana, task="Call about the team plan", correlation_id="crm-1")
    same = lead_create(workspace=desk, profile=ana, correlation_id="crm-1")
    closed = lead_close(lead=lead, actor=None, won=True)

    assert same.id == lead.id
    assert lead.score == pytest.approx(0.64)
    assert lead.score_reasons == ["conversion driver"]
    assert closed.status == LeadStatus.WON and closed.closed_at is not None
    with pytest.raises(ValueError, match="already won"):
        lead_close(lead=closed, actor=None, won=False)


def _page(tracker, user: str, name: str, path: str, at) -> None:
    response = tracker.post(
        "/v1/page",
        {
            "userId": user,
            "name": name,
            "properties": {"path": path},
            "messageId": str(uuid.uuid4()),
            "timestamp": at.isoformat(),
        },
    )
    assert response.status_code == 200, response.content


def test_the_account_card_reads_behaviour_tone_and_renewal(desk, tracker, client) -> None:
    # given: Ana's company renews in 60 days; she looked at pricing twice this week (and once
    # long ago) and her last reply was warm
    now = timezone.now()
    identify(tracker, "ana", company="Ana GmbH", renewal_date=(now + timedelta(days=60)).date().isoformat())
    _page(tracker, "ana", "Pricing", "/pricing", now - timedelta(days=2))
    _page(tracker, "ana", "Pricing", "/pricing", now - timedelta(hours=3))
    _page(tracker, "ana", "Pricing", "/pricing", now - timedelta(days=12))
    _page(tracker, "ana", "Docs", "/docs", now - timedelta(hours=1))
    track(tracker, "ana", "Email Replied", text="Thanks, that was really helpful, we love the product!")
    ana = people(desk)["ana"]
    give_scores(ana, conversion=0.4)
    lead = lead_create(workspace=desk, profile=ana)

    card = lead_recommendation(lead=lead, now=now)

    assert lead.account == "Ana GmbH"
    assert card.headline == "visited pricing twice this week, last reply positive, renewal in 60 days"
    assert card.outreach == "Propose an upgrade with the renewal"
    assert "comparing plans while the renewal decision is close" in card.why
    assert "last reply was positive" in card.why
    # and the sales page shows it
    client.force_login(desk.memberships.get(role=Role.OWNER).user)
    page = client.get(f"/sales/?lead={lead.id}").content.decode()
    assert "Visited pricing twice this week, last reply positive, renewal in 60 days" in page
    assert "Suggested outreach: Propose an upgrade with the renewal" in page


def test_a_negative_last_message_asks_for_care_before_any_offer(desk, tracker) -> None:
    from support.services import ticket_create

    ana = people(desk)["ana"]
    ticket_create(
        workspace=desk, profile=ana, subject="Terrible", body="Your service is useless, I want my money back."
    )

    card = lead_recommendation(lead=lead_create(workspace=desk, profile=ana))

    assert card.last_reply_tone == "negative"
    assert card.outreach == "Call to resolve their concerns before any offer"
