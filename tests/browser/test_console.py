"""The marketer's console in the real browser (issue 7, done-when):

1. a tracked event posted through the public API makes a decision appear on the open live stream
   page without a reload (uvicorn serving HTTP and the websocket, a real Celery worker deciding
   and pushing "decision made" through the channel layer), and pause/resume holds it back;
2. searching a customer and opening their 360 (fragments loaded over htmx).

The third point (an invalid action condition shows its error inline, a valid one saves) is
tests/decisions/test_browser_catalog.py. Screenshots go to the artifacts directory.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from celery.contrib.testing.worker import start_worker
from django.template.defaultfilters import floatformat
from django.test import Client

from accounts.roles import Role
from accounts.selectors import write_key_active
from cep.celery import app as celery_app
from decisions.models import Decision
from decisions.services import decision_make, guardrails_save, outcome_record, policy_save
from profiles.selectors import profile_by_identifier
from tests.decisions.conftest import identify, make_action, track
from tests.events.conftest import Tracker, basic
from tests.live import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module", autouse=True)
def _close_connection_after_module() -> Iterator[None]:
    """With Playwright's event loop in this thread the test database connection is held in a
    context of its own; close it once the module is done, or it would outlive the test database."""
    yield
    from django.db import connection

    connection.close()


def own_connection(test: Callable[..., None]) -> Callable[..., None]:
    """Playwright runs test bodies in a context of their own, with a database connection of its
    own: an earlier live-server test may have terminated it, and left open it would outlive the
    test database. Each test body starts from a new one and closes it."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from django.db import close_old_connections, connection

        close_old_connections()
        try:
            test(*args, **kwargs)
        finally:
            connection.close()

    return wrapper


@pytest.fixture
def storefront(workspace) -> tuple[Tracker, str]:
    """Two actions, quiet hours off, a live policy that decides when a checkout starts, and
    Ana and Bo identified through the tracking API; returns the tracker and the write key."""
    key = write_key_active(workspace=workspace)
    assert key is not None
    tracker = Tracker(Client(), key.key)
    guardrails_save(workspace=workspace, actor=None, contact_policy={"quiet_start": None, "quiet_end": None})
    make_action(workspace, "weekly_promo", subject="Deals", content="Hi {traits.first_name|there}, new deals")
    make_action(workspace, "checkout_help", channel="in_app", kind="service", content="Need help?")
    policy_save(
        workspace=workspace,
        actor=None,
        values={
            "key": "main",
            "name": "Main",
            "status": "live",
            "holdout_share": 0.0,
            "subscribed_events": ["Checkout Started"],
        },
    )
    identify(tracker, "ana", first_name="Ana", last_name="Lima", email="ana@example.com", consent={"email": True})
    identify(tracker, "bo", first_name="Bo", last_name="Berg", email="bo@example.com", consent={"in_app": True})
    return tracker, key.key


def _track_over_http(server_url: str, write_key: str, user: str, event: str) -> None:
    body: dict[str, Any] = {"userId": user, "event": event, "messageId": str(uuid.uuid4()), "properties": {"cart": 3}}
    response = requests.post(
        f"{server_url}/v1/track", json=body, headers={"Authorization": basic(write_key)}, timeout=10
    )
    assert response.status_code == 200, response.text


@own_connection
def test_a_tracked_event_shows_its_decision_on_the_open_live_stream(
    workspace, storefront, server_url, browser_page, artifacts_dir
) -> None:
    # given a storefront whose live policy decides on "Checkout Started", and a worker running
    _, write_key = storefront
    page = browser_page
    log_in(page, server_url, workspace.memberships.get(role=Role.OWNER).user)
    with start_worker(celery_app, queues=["ingest"], perform_ping_check=False, shutdown_timeout=10):
        # and the live stream open, connected to the workspace websocket, with nothing on it yet
        page.goto(f"{server_url}/decisions/live/")
        page.wait_for_selector("#live-indicator[data-state='live']")
        assert page.locator("#stream-rows tr[data-decision]").count() == 0
        page.screenshot(path=str(artifacts_dir / "console-live-empty.png"), full_page=True)

        page.evaluate("window.sameDocument = true")
        # when Ana starts a checkout (posted to the public tracking API)
        _track_over_http(server_url, write_key, "ana", "Checkout Started")

        # then her decision appears at the top without a reload, with its reason and latency
        row = page.locator("#stream-rows tr[data-decision]").first
        row.wait_for(timeout=60_000)
        decision = Decision.objects.get(workspace=workspace, trigger_ref__gt="")
        assert row.get_attribute("id") == f"decision-{decision.id}"
        assert "Ana Lima" in row.inner_text()
        assert decision.explanation in row.inner_text()
        assert f"{floatformat(decision.latency_ms, 1)} ms" in row.inner_text()  # as the template rounds it
        assert page.evaluate("window.sameDocument === true")  # no reload
        page.screenshot(path=str(artifacts_dir / "console-live-decision.png"), full_page=True)

        # when the stream is paused and Bo starts a checkout, his decision waits
        page.get_by_role("button", name="Pause").click()
        _track_over_http(server_url, write_key, "bo", "Checkout Started")
        page.wait_for_function(
            "document.querySelector('[data-stream-status]').textContent.includes('1 new decision waiting')",
            timeout=60_000,
        )
        assert page.locator("#stream-rows tr[data-decision]").count() == 1
        page.screenshot(path=str(artifacts_dir / "console-live-paused.png"), full_page=True)

        # and appears once resumed
        page.get_by_role("button", name="Resume").click()
        page.wait_for_function("document.querySelectorAll('#stream-rows tr[data-decision]').length === 2")
        assert "Bo Berg" in page.locator("#stream-rows tr[data-decision]").first.inner_text()

        # and the outcome filter hides what does not match, without leaving the page
        page.select_option("select[name=status]", "held_out")
        page.wait_for_selector("#stream-rows .stream-empty")
        assert page.locator("#stream-rows tr[data-decision]").count() == 0
        page.screenshot(path=str(artifacts_dir / "console-live-filtered.png"), full_page=True)


@own_connection
def test_a_marketer_searches_a_customer_and_opens_their_360(
    workspace, storefront, server_url, browser_page, artifacts_dir
) -> None:
    # given Ana and Bo with some behaviour, and a catalog the engine can choose from
    tracker, _ = storefront
    for event in ("Product Viewed", "Product Added", "Order Completed"):
        track(tracker, "ana", event, product_id="SKU-1", category="shoes", revenue=80)
    ana = profile_by_identifier(workspace=workspace, kind="user_id", value="ana")
    assert ana is not None
    earlier = decision_make(workspace=workspace, profile=ana)
    outcome_record(decision=earlier, kind="opened")
    stored = Decision.objects.filter(workspace=workspace).count()
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})  # a laptop screen
    log_in(page, server_url, workspace.memberships.get(role=Role.OWNER).user)

    # when the marketer types her email into the customer search (no submit: it searches as they type)
    page.goto(f"{server_url}/customers/")
    page.get_by_label("Search customers").fill("Ana@Example.com")
    page.wait_for_function("!document.querySelector('#results').textContent.includes('Bo Berg')")
    results = page.locator("#results")
    assert "Ana Lima" in results.inner_text()
    page.screenshot(path=str(artifacts_dir / "console-customer-search.png"), full_page=True)

    # and opens her record
    page.get_by_role("link", name="Ana Lima").click()
    page.wait_for_selector("h1:has-text('Ana Lima')")
    # then the 360 loads its parts: what we would do now (a dry run), the events and decisions
    page.wait_for_selector("#next-result")
    page.wait_for_selector("#timeline table.timeline")
    page.wait_for_selector("#customer-decisions ol")
    assert page.locator("#next-result").get_attribute("data-status") == "dry_run"
    assert "nothing was stored or sent" in page.locator("#next-result").inner_text()
    assert "Order Completed" in page.locator("#timeline").inner_text()
    assert "ana@example.com" in page.locator("#identifiers").inner_text()
    decisions = page.locator("#customer-decisions").inner_text()
    assert earlier.explanation in decisions and "opened" in decisions
    assert Decision.objects.filter(workspace=workspace).count() == stored  # the dry run stored nothing
    page.screenshot(path=str(artifacts_dir / "console-customer-360.png"), full_page=True)

    # and it works from the keyboard: "Decide again" is reachable and answers in place
    page.locator("#next-decision").evaluate("element => element.innerHTML = ''")
    page.get_by_role("button", name="Decide again").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#next-result")


@own_connection
def test_the_dashboard_feed_counts_and_adds_decisions_as_they_are_made(
    workspace, storefront, server_url, browser_page, artifacts_dir
) -> None:
    # given the dashboard open with no decision yet today, and a worker running
    _, write_key = storefront
    page = browser_page
    log_in(page, server_url, workspace.memberships.get(role=Role.OWNER).user)
    with start_worker(celery_app, queues=["ingest"], perform_ping_check=False, shutdown_timeout=10):
        page.goto(f"{server_url}/")
        page.wait_for_selector("#dashboard-feed")
        page.wait_for_selector("#live-indicator[data-state='live']")
        assert page.locator('[data-count="total"]').inner_text() == "0"
        # when a checkout starts
        _track_over_http(server_url, write_key, "ana", "Checkout Started")
        # then the count goes up and the decision is listed, without a reload
        page.wait_for_selector("#dashboard-rows tr[data-decision]", timeout=60_000)
        page.wait_for_function("document.querySelector('[data-count=\"total\"]').textContent === '1'")
        assert "Ana Lima" in page.locator("#dashboard-rows").inner_text()
        page.screenshot(path=str(artifacts_dir / "console-dashboard.png"), full_page=True)


@own_connection
def test_a_marketer_shadow_runs_a_draft_policy_and_reads_the_log(
    workspace, storefront, server_url, browser_page, artifacts_dir
) -> None:
    # given a live policy with a decision logged, and a draft policy
    ana = profile_by_identifier(workspace=workspace, kind="user_id", value="ana")
    assert ana is not None
    decision_make(workspace=workspace, profile=ana)
    policy_save(workspace=workspace, actor=None, values={"key": "gentle", "name": "Gentle", "status": "draft"})
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, server_url, workspace.memberships.get(role=Role.OWNER).user)
    # when the marketer shadow-runs the draft from the policy list, using the keyboard
    page.goto(f"{server_url}/policies/")
    page.locator('tr[data-policy="gentle"]').get_by_role("button", name="Shadow-run").focus()
    page.keyboard.press("Enter")
    # then the list says it runs as a shadow beside the live policy
    page.wait_for_selector(".flash")
    assert "run as a shadow" in page.locator(".flash").inner_text()
    assert "Shadow" in page.locator('tr[data-policy="gentle"]').inner_text()
    page.screenshot(path=str(artifacts_dir / "console-policies-shadow.png"), full_page=True)
    # and the decision log shows the decision and, once loaded, each action's lift
    page.goto(f"{server_url}/decisions/")
    page.wait_for_selector("#lifts table, #lifts .empty-state")
    assert page.locator("tr[data-decision]").count() == 1
    page.screenshot(path=str(artifacts_dir / "console-decision-log.png"), full_page=True)
