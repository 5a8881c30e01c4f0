from __future__ import annotations

import re
import uuid

import pytest

from decisions.models import Decision, DecisionStatus
from decisions.selectors import action_lift
from decisions.services import decision_make, outcome_record, policy_save
from tests.decisions.conftest import identify, person


@pytest.mark.django_db
def test_lift_compares_shown_people_with_the_holdout(client, shop, tracker) -> None:
    for user in ("bo", "cy", "di"):
        identify(tracker, user, consent={"email": True, "in_app": True})
    policy = policy_save(
        workspace=shop,
        actor=None,
        values={
            "key": "main",
            "name": "Main",
            "status": "live",
            "holdout_share": 0.0,
            "explore": False,
            "action_keys": ["checkout_help"],
        },
    )
    shown = [decision_make(workspace=shop, profile=person(shop, u)) for u in ("ana", "bo")]
    policy = policy_save(workspace=shop, actor=None, policy=policy, values={"holdout_share": 0.999999})
    held = [decision_make(workspace=shop, profile=person(shop, u)) for u in ("cy", "di")]
    assert [d.status for d in shown] == [DecisionStatus.ACTED] * 2
    assert [d.status for d in held] == [DecisionStatus.HELD_OUT] * 2
    outcome_record(decision=shown[0], kind="converted")
    outcome_record(decision=held[0], kind="converted")
    outcome_record(decision=shown[1], kind="converted")
    # more outcomes per decision must not count the decision twice
    outcome_record(decision=shown[0], kind="delivered")
    outcome_record(decision=held[0], kind="opened")

    lift = action_lift(workspace=shop, action="checkout_help")
    assert (lift.treated, lift.treated_conversions, lift.control, lift.control_conversions) == (2, 2, 2, 1)
    assert lift.lift == 0.5 and lift.low < lift.lift < lift.high

    client.force_login(shop.memberships.get(role="owner").user)
    page = client.get("/decisions/").content.decode()
    assert "Lift against holdout" in page and "checkout_help" in page
    assert shown[0].explanation in page
    filtered = client.get("/decisions/?status=held_out").content.decode()
    assert filtered.count("Held out (control)") >= 2
    assert "No decision matches" in client.get("/decisions/?action=nope").content.decode()


def _owner_client(client, workspace):
    client.force_login(workspace.memberships.get(role="owner").user)
    return client


@pytest.mark.django_db
def test_live_page_lists_latest_decisions_with_reason_guardrails_and_latency(client, shop, tracker) -> None:
    # given two people and a decision each; Bo refused email, so the email offer is removed for him
    identify(tracker, "bo", first_name="Bo", consent={"email": False, "in_app": True})
    ana = decision_make(workspace=shop, profile=person(shop, "ana"))
    bo = decision_make(workspace=shop, profile=person(shop, "bo"))
    # a latency Python's own formatting would round down (21.65 is 21.6499... in binary)
    Decision.objects.filter(pk=bo.pk).update(latency_ms=21.65)
    client = _owner_client(client, shop)
    # when the live page is opened
    page = client.get("/decisions/live/").content.decode()
    # then both decisions are there, newest first, with explanation, latency and the stream hooks
    assert page.index(f'id="decision-{bo.id}"') < page.index(f'id="decision-{ana.id}"')
    assert ana.explanation in page and bo.explanation in page
    assert "data-decision-stream" in page and "js/decision-stream.js" in page
    assert "21.7 ms" in page  # one decimal, rounded half up (Django's floatformat)
    fired = [r for r in bo.guardrails if r["guardrail"] != "eligibility"]
    assert fired, bo.guardrails
    assert f'title="{fired[0]["action"]}: {fired[0]["reason"]}"' in page
    # and the filters narrow the list (a full page without htmx, the rows alone with htmx)
    rejected = client.get("/decisions/live/?status=rejected").content.decode()  # nothing was rejected
    assert f'id="decision-{ana.id}"' not in rejected and "No decision matches these filters yet" in rejected
    rows = client.get(f"/decisions/live/?channel={ana.channel}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="stream-rows")
    assert rows.content.decode().lstrip().startswith('<tbody id="stream-rows">')


@pytest.mark.django_db
def test_live_rows_render_announced_decisions_of_this_workspace_only(client, shop, personas) -> None:
    # given a decision here and a stray id from the outsider's side
    ana = decision_make(workspace=shop, profile=person(shop, "ana"))
    client = _owner_client(client, shop)
    # when the stream asks for rows of announced ids (with junk among them)
    html = client.get(f"/decisions/live/rows/?ids={ana.id},not-a-uuid,{personas.workspace.id}").content.decode()
    # then only the real decision comes back, as a row marked fresh
    assert html.count("<tr ") == 1 and f'id="decision-{ana.id}"' in html and 'class="fresh"' in html
    # and someone from another workspace gets nothing for the same id
    client.force_login(personas.outsider)
    assert "<tr " not in client.get(f"/decisions/live/rows/?ids={ana.id}").content.decode()


@pytest.mark.django_db
def test_dashboard_feed_counts_todays_decisions_and_shows_the_latest(client, shop) -> None:
    # given three decisions today, one of which converted
    made = [decision_make(workspace=shop, profile=person(shop, "ana")) for _ in range(3)]
    acted = [d for d in made if d.status == DecisionStatus.ACTED]
    if acted:
        outcome_record(decision=acted[0], kind="converted")
    client = _owner_client(client, shop)
    # when the dashboard loads its feed
    dashboard = client.get("/").content.decode()
    feed = client.get("/decisions/today/", HTTP_HX_REQUEST="true").content.decode()
    # then the dashboard points at the feed, which counts and lists today's decisions
    assert 'hx-get="/decisions/today/"' in dashboard
    assert '<strong data-count="total">3</strong>' in feed
    assert f'<strong data-count="acted">{len(acted)}</strong>' in feed
    assert all(f'id="decision-{d.id}"' in feed for d in made)
    assert "<html" not in feed
    assert "<html" in client.get("/decisions/today/").content.decode()  # without JavaScript


@pytest.mark.django_db
def test_decision_log_filters_by_person(client, shop, tracker) -> None:
    identify(tracker, "bo", first_name="Bo", consent={"email": True})
    ana = decision_make(workspace=shop, profile=person(shop, "ana"))
    bo = decision_make(workspace=shop, profile=person(shop, "bo"))
    client = _owner_client(client, shop)
    page = client.get(f"/decisions/?person={person(shop, 'bo').id}").content.decode()
    assert f'id="decision-{bo.id}"' in page and f'id="decision-{ana.id}"' not in page
    assert client.get(f"/decisions/?person={uuid.uuid4()}").status_code == 404


@pytest.mark.django_db
def test_lift_fragment_counts_each_decision_once_whatever_its_outcomes(client, shop, tracker) -> None:
    # given two people shown checkout_help, one of whom had it delivered, opened and converted
    identify(tracker, "bo", first_name="Bo", consent={"email": True, "in_app": True})
    policy_save(
        workspace=shop,
        actor=None,
        values={
            "key": "main",
            "name": "Main",
            "status": "live",
            "holdout_share": 0.0,
            "explore": False,
            "action_keys": ["checkout_help"],
        },
    )
    shown = [decision_make(workspace=shop, profile=person(shop, u)) for u in ("ana", "bo")]
    for kind in ("delivered", "opened", "converted"):
        outcome_record(decision=shown[0], kind=kind)
    client = _owner_client(client, shop)
    # when the decision log loads its lift panel
    page = client.get("/decisions/").content.decode()
    fragment = client.get("/decisions/lifts/", HTTP_HX_REQUEST="true").content.decode()
    # then the page asks for it, and it counts two people shown, one converted (50 %)
    assert 'hx-get="/decisions/lifts/"' in page
    row = fragment[fragment.index("checkout_help") :]
    assert re.search(r"<td>2</td><td>1 \(50 %\)</td>", row), row[:300]
    assert "<html" not in fragment and "<html" in client.get("/decisions/lifts/").content.decode()
