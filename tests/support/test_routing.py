"""Routing: the matching team, then its least-loaded available agent with the needed skills."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from support.models import Team, TicketStatus
from support.services import TicketError, agent_save, ticket_create
from tests.factories import make_member
from tests.support.conftest import give_scores, people, scored_crowd

pytestmark = pytest.mark.django_db


def _team(workspace, key: str) -> Team:
    return Team.objects.get(workspace=workspace, key=key)


def test_payment_words_route_to_payments_and_the_rest_to_general(desk) -> None:
    bo = people(desk)["bo"]

    by_tag = ticket_create(workspace=desk, profile=bo, subject="Help", body="", tags=["Payment failure"])
    by_subject = ticket_create(workspace=desk, profile=bo, subject="Refund not received", body="")
    other = ticket_create(workspace=desk, profile=bo, subject="Where is my parcel?", body="")

    assert by_tag.team == _team(desk, "payments")
    assert by_subject.team == _team(desk, "payments")
    assert other.team == _team(desk, "general")


def test_the_needed_skill_beats_a_lighter_load_and_load_decides_the_rest(desk) -> None:
    # given: two payments agents; only Greta speaks German and handles VIPs, and she already has work
    scored_crowd(desk)
    ana, bo = people(desk).values()
    give_scores(ana, clv=5000.0)
    payments = _team(desk, "payments")
    greta = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    paul = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    agent_save(workspace=desk, actor=None, user=greta, team=payments, skills=["lang:de", "VIP"], capacity=5)
    agent_save(workspace=desk, actor=None, user=paul, team=payments, skills=[], capacity=5)
    first = ticket_create(workspace=desk, profile=bo, subject="Card payment question", body="")
    assert first.assignee in (paul, greta)
    warm_up = ticket_create(workspace=desk, profile=bo, subject="Another payment question", body="")
    assert {first.assignee, warm_up.assignee} == {greta, paul}  # equal load: one each

    # when: Ana (German, top CLV) writes about a payment
    ticket = ticket_create(workspace=desk, profile=ana, subject="Payment failed", body="Meine Karte geht nicht.")

    # then: she needs both skills and gets Greta, although Paul is as loaded
    assert ticket.skills == ["vip", "lang:de"]
    assert ticket.assignee == greta
    assert ticket.status == TicketStatus.OPEN
    # and Bo's next ticket goes to the now lighter Paul
    assert ticket_create(workspace=desk, profile=bo, subject="Payment receipt", body="").assignee == paul


def test_full_or_away_agents_are_skipped_and_nobody_left_means_the_team_queue(desk) -> None:
    bo = people(desk)["bo"]
    general = _team(desk, "general")
    busy = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    away = make_member(workspace=desk, role=Role.SUPPORT_AGENT)
    agent_save(workspace=desk, actor=None, user=busy, team=general, capacity=1)
    agent_save(workspace=desk, actor=None, user=away, team=general, capacity=10, available=False)

    first = ticket_create(workspace=desk, profile=bo, subject="Question", body="")
    second = ticket_create(workspace=desk, profile=bo, subject="Another question", body="")

    assert first.assignee == busy
    assert second.assignee is None
    assert second.status == TicketStatus.NEW
    assert second.team == general


def test_only_support_agents_owners_and_admins_can_be_agents(desk) -> None:
    viewer = make_member(workspace=desk, role=Role.VIEWER)
    owner = desk.memberships.get(role=Role.OWNER).user

    with pytest.raises(TicketError) as error:
        agent_save(workspace=desk, actor=owner, user=viewer, team=_team(desk, "general"))

    assert "support agents" in error.value.errors["user"]
    assert agent_save(workspace=desk, actor=owner, user=owner, team=_team(desk, "general")).user == owner
