"""The insights page and its CSV exports: who may see them, what they show, empty states, and
the charts drawn in the real browser."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from decisions.models import DecisionStatus
from insights.services import rollups_rebuild
from tests.browser.conftest import browser_page  # noqa: F401 - the shared fixture
from tests.decisions.conftest import person
from tests.events.conftest import Tracker, tracker, write_key  # noqa: F401 - shared fixtures
from tests.insights.test_selectors import decision, outcome, send


def _shop(workspace, tracker) -> None:  # noqa: F811
    """Two customers through the funnel, decisions shown and held out with outcomes."""
    now = timezone.now() - timedelta(minutes=5)
    for user, reached in (("ana", 5), ("bo", 3)):
        for kind, event in [("page", ""), ("track", "Product Viewed"), ("track", "Product Added"),
                            ("track", "Checkout Started"), ("track", "Order Completed")][:reached]:  # fmt: skip
            send(tracker, user, kind, now, event, **({"revenue": 40} if event == "Order Completed" else {}))
    ana, bo = person(workspace, "ana"), person(workspace, "bo")
    for i in range(3):
        d = decision(
            workspace, ana, "cart_reminder", DecisionStatus.ACTED, latency=12 + i, at=now + timedelta(minutes=i)
        )
        if i:
            outcome(d, "converted", 40)
        decision(workspace, bo, "cart_reminder", DecisionStatus.HELD_OUT, latency=30, at=now + timedelta(minutes=i))
    decision(workspace, bo, "", DecisionStatus.NOTHING, latency=8, at=now)
    rollups_rebuild(workspace=workspace)  # what the ingest worker does event by event (test_rollups.py)


@pytest.fixture
def acme(personas) -> Tracker:
    """Tracking calls into the personas' workspace."""
    from accounts.selectors import write_key_active

    key = write_key_active(workspace=personas.workspace)
    assert key is not None
    tracker = Tracker(Client(), key.key)  # noqa: F811
    _shop(personas.workspace, tracker)
    return tracker


@pytest.mark.django_db
def test_the_page_shows_every_chart_with_its_table(client, personas, acme) -> None:
    client.force_login(personas.member(Role.VIEWER))  # reading needs no more than a viewer's role
    response = client.get("/insights/")
    assert response.status_code == 200
    html = response.content.decode()
    for canvas in ("lift-chart", "allocation-chart", "funnel-chart", "cohort-chart", "rfm-chart", "latency-chart"):
        assert f'id="{canvas}"' in html
    lift = response.context["lifts"][0]
    assert (lift.action, lift.treated, lift.treated_conversions, lift.control) == ("cart_reminder", 3, 2, 3)
    assert [s.people for s in response.context["steps"]] == [2, 2, 2, 1, 1]
    assert response.context["rfm"].customers == 1
    assert response.context["latency"].total == 7


@pytest.mark.django_db
def test_each_chart_exports_its_numbers_as_csv(client, personas, acme) -> None:
    client.force_login(personas.owner)
    lift = list(csv.reader(io.StringIO(client.get("/insights/lift.csv").content.decode())))
    assert lift[0][:5] == ["action", "shown", "shown_conversions", "held_out", "held_out_conversions"]
    assert lift[1][:5] == ["cart_reminder", "3", "2", "3", "0"]
    funnel = list(csv.reader(io.StringIO(client.get("/insights/funnel.csv?days=7").content.decode())))
    assert [row[:2] for row in funnel[1:]] == [["Visited a page", "2"], ["Viewed a product", "2"],
                                               ["Added to cart", "2"], ["Started checkout", "1"],
                                               ["Completed an order", "1"]]  # fmt: skip
    allocation = list(csv.reader(io.StringIO(client.get("/insights/allocation.csv").content.decode())))
    assert allocation[0] == ["minute", "cart_reminder", "nothing"]
    assert sum(int(row[1]) for row in allocation[1:]) == 6
    for chart in ("reward", "policies", "cohorts", "rfm", "latency"):
        response = client.get(f"/insights/{chart}.csv")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        assert len(list(csv.reader(io.StringIO(response.content.decode())))) >= 2
    assert client.get("/insights/nothing.csv").status_code == 404


@pytest.mark.django_db
def test_an_empty_workspace_gets_empty_states(client, personas) -> None:
    client.force_login(personas.owner)
    html = client.get("/insights/?days=7").content.decode()
    for empty in ("lift-empty", "allocation-empty", "funnel-empty", "cohorts-empty", "rfm-empty", "latency-empty"):
        assert f'id="{empty}"' in html
    assert "<canvas" not in html


@pytest.mark.django_db
def test_people_see_only_their_own_workspace_and_strangers_are_sent_to_log_in(client, personas, acme) -> None:
    client.force_login(personas.outsider)  # owner of another workspace: sees that one, empty
    response = client.get("/insights/")
    assert response.status_code == 200 and response.context["lifts"] == []
    assert client.get("/insights/lift.csv").content.decode().strip().count("\n") == 0
    anonymous = Client()
    for url in ("/insights/", "/insights/lift.csv"):
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_charts_are_drawn_in_the_browser(request, platform_url, workspace, tracker, artifacts_dir) -> None:  # noqa: F811
    # given a shop with data and its owner signed in
    _shop(workspace, tracker)
    owner = workspace.memberships.get(role=Role.OWNER).user
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page = request.getfixturevalue("browser_page")  # after the database work (see test_simulated_lift)
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": platform_url}])
    # when the insights page opens
    page.goto(f"{platform_url}/insights/?days=7")
    # then every chart is drawn: Chart.js has run and the canvas has coloured pixels
    for canvas in ("lift-chart", "allocation-chart", "funnel-chart", "cohort-chart", "rfm-chart", "latency-chart"):
        page.wait_for_selector(f"#{canvas}[data-drawn='true']")
        painted = page.evaluate(
            """(id) => { const c = document.getElementById(id); const d = c.getContext('2d')
                 .getImageData(0, 0, c.width, c.height).data; let n = 0;
                 for (let i = 0; i < d.length; i += 4) { if (d[i + 3] > 0) n++; } return n; }""",
            canvas,
        )
        assert painted > 500, canvas
    assert page.get_by_role("heading", name="Insights").is_visible()
    page.get_by_role("link", name="24 hours").click()
    page.wait_for_url("**/insights/?days=1")
    assert page.locator("#lift-table tr[data-action='cart_reminder']").is_visible()
    page.screenshot(path=str(artifacts_dir / "insights.png"), full_page=True)
    connection.close()
