"""An agent in the real browser: a ticket opened through the API appears at the top of the open
queue without a reload, with its reasons; the agent opens it, sees the person's context and
claims it. Screenshots: var/test-artifacts/support-queue-*.png."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from support.models import Ticket
from support.services import ticket_create
from tests.browser.conftest import browser_page  # noqa: F401 - the shared fixture
from tests.factories import make_secret_key
from tests.live import close_server_connections, log_in
from tests.support.conftest import give_scores, people, scored_crowd, track

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def _close_connection_after_module(django_db_blocker) -> Iterator[None]:
    """With Playwright's event loop in this thread the test database connection is held in a
    context of its own; close it once the module is done, or it would outlive the test database.
    The servers' threads may have left connections too: end them once nothing needs them."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        close_server_connections()
    connection.close()


def _post_ticket(server_url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - http to our own local server
        f"{server_url}/api/v1/tickets/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - our own local server
        assert response.status == 201
        return json.loads(response.read())


@pytest.mark.django_db(transaction=True)
def test_an_api_ticket_tops_the_live_queue_and_the_agent_claims_it(
    desk,
    tracker,
    server_url,
    browser_page,  # noqa: F811 - the shared fixture
    artifacts_dir,
) -> None:
    # given: a calm ticket is already waiting; Ana is a top customer whose card failed three times
    owner = desk.memberships.get(role="owner").user
    scored_crowd(desk)
    ana, bo = people(desk).values()
    give_scores(ana, clv=1840.0, churn=0.55)
    give_scores(bo, clv=120.0, churn=0.1)
    for _ in range(3):
        track(tracker, "ana", "payment_failed", amount=129.0, reason="card_declined")
    calm = ticket_create(workspace=desk, profile=bo, subject="Where is my parcel?", body="Just checking.")
    key = make_secret_key(workspace=desk)
    page = browser_page
    log_in(page, server_url, owner)
    page.goto(f"{server_url}/support/")
    page.wait_for_selector("#live-indicator[data-state='live']")
    assert page.locator("#ticket-queue tbody tr").first.get_attribute("data-ticket") == str(calm.id)
    page.evaluate("window.__notReloaded = true")

    # when: the CRM opens a ticket through the API
    created = _post_ticket(
        server_url,
        key,
        {
            "person": {"userId": "ana"},
            "subject": "Payment failed three times",
            "body": "My card keeps getting declined, this is ridiculous.",
            "tags": ["High CLV risk / payment failure"],
            "context": {"amount": "129.00 EUR", "reason": "card_declined"},
        },
    )

    # then: it appears at the top of the open queue, without a reload, with its reasons
    row = page.locator(f"#ticket-{created['id']}")
    row.wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("#ticket-queue tbody tr").first.get_attribute("data-ticket") == created["id"]
    assert "3 payment failures in 10 min" in row.inner_text()
    assert "CLV top 1% (EUR 1,840)" in row.inner_text()
    page.screenshot(path=str(artifacts_dir / "support-queue-live-ticket.png"), full_page=True)

    # when: the agent opens it and claims it
    row.locator("a.ticket-link").click()
    detail = page.locator("#ticket-detail")
    detail.get_by_text("Why this priority").wait_for()
    assert "card_declined" in detail.inner_text()  # the payment details, so nobody has to ask
    page.click("#claim-ticket")
    page.wait_for_function(
        "name => document.querySelector('#ticket-assignee').textContent.trim() === name", arg=owner.username
    )

    # then: it is theirs, and the queue row says so too (refreshed live)
    page.wait_for_function(
        "([id, name]) => (document.querySelector('#ticket-' + id) || {}).innerText?.includes(name)",
        arg=[created["id"], owner.username],
    )
    page.screenshot(path=str(artifacts_dir / "support-queue-claimed.png"), full_page=True)
    ticket = Ticket.objects.get(id=created["id"])
    assert ticket.assignee == owner
    assert ticket.status == "open"


@pytest.mark.django_db(transaction=True)
def test_the_sales_desk_shows_the_account_card(desk, tracker, server_url, browser_page, artifacts_dir) -> None:  # noqa: F811
    from datetime import timedelta

    from django.utils import timezone

    from support.leads import lead_create
    from tests.support.conftest import identify

    renewal = (timezone.now() + timedelta(days=60)).date().isoformat()
    identify(tracker, "ana", company="Ana GmbH", renewal_date=renewal)
    for _ in range(2):
        tracker.post("/v1/page", {"userId": "ana", "name": "Pricing", "properties": {"path": "/pricing"}})
    track(tracker, "ana", "Email Replied", text="Thanks a lot, that was brilliant help!")
    ana, bo = people(desk).values()
    give_scores(ana, conversion=0.42)
    give_scores(bo, conversion=0.18)
    lead_create(workspace=desk, profile=ana, task="Follow up on the team plan")
    lead_create(workspace=desk, profile=bo, account="Bo Ltd")
    page = browser_page
    log_in(page, server_url, desk.memberships.get(role="owner").user)

    page.goto(f"{server_url}/sales/")

    card = page.locator("#recommendation-card")
    assert "Visited pricing twice this week, last reply positive, renewal in 60 days" in card.inner_text()
    assert "Suggested outreach: Propose an upgrade with the renewal" in card.inner_text()
    assert page.locator("#lead-list tbody tr").first.inner_text().startswith("42%")
    page.screenshot(path=str(artifacts_dir / "support-sales-card.png"), full_page=True)
