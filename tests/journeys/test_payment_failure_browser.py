"""The proactive-service scenario as an agent sees it: with the support queue open in a real
browser, three payment failures of a high-CLV customer posted over HTTP to the tracking API make
the shipped playbook open a priority ticket that appears at the top of the live queue, without a
reload, above a calm ticket that was waiting first. Screenshot: var/test-artifacts/journeys-queue.png."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from decisions.services import policy_save
from delivery.services import endpoint_save
from journeys.models import PlaybookRun, RunStatus
from journeys.services import journeys_defaults_install
from support.models import Ticket
from support.services import support_defaults_install, ticket_create
from tests.browser.conftest import browser_page  # noqa: F401 - the shared fixture
from tests.decisions.conftest import identify, person
from tests.delivery.conftest import http_receiver, wait_for, worker
from tests.journeys.conftest import clv_scores
from tests.live import close_server_connections, log_in

pytestmark = pytest.mark.browser

TAG = "High CLV risk / payment failure"


@pytest.fixture(scope="module", autouse=True)
def _close_connection_after_module(django_db_blocker) -> Iterator[None]:
    """The test body's connection lives in Playwright's context; end it (and the server's) once
    the module is done, or it would outlive the test database."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        close_server_connections()
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_payment_failures_put_a_priority_ticket_on_top_of_the_open_queue(
    shop,
    tracker,
    write_key,
    fast_steps,
    server_url,
    browser_page,  # noqa: F811 - the shared fixture
    artifacts_dir,
) -> None:
    # given: the shipped playbook and support defaults; Ana is a top customer, Bo is not and has
    # a calm ticket waiting; the ERP listens for cart holds
    identify(tracker, "ana", first_name="Ana", consent={"email": True, "in_app": True})
    for other in ("bo", "cy", "di", "ed"):
        identify(tracker, other, first_name=other.title())
    clv_scores(shop, {"ana": 2400.0, "bo": 120.0, "cy": 300.0, "di": 80.0, "ed": 640.0})
    journeys_defaults_install(workspace=shop)
    support_defaults_install(workspace=shop, actor=None)
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    calm = ticket_create(workspace=shop, profile=person(shop, "bo"), subject="Where is my parcel?", body="Hi.")
    from support.sentiment import model

    model()  # trained on first use; warm it so the worker thread does not stall the page's socket

    page = browser_page
    log_in(page, server_url, shop.memberships.get(role="owner").user)
    page.goto(f"{server_url}/support/")
    page.wait_for_selector("#live-indicator[data-state='live']")
    assert page.locator("#ticket-queue tbody tr").first.get_attribute("data-ticket") == str(calm.id)
    page.evaluate("window.__notReloaded = true")

    with http_receiver() as erp, worker():
        _, secret = endpoint_save(workspace=shop, actor=None, values={"key": "erp", "url": erp.url})
        erp.secret = secret or ""

        # when: the storefront reports three failed payments for Ana over HTTP
        for number in range(1, 4):
            response = requests.post(
                f"{server_url}/v1/track",
                json={
                    "userId": "ana",
                    "event": "payment_failed",
                    "messageId": str(uuid.uuid4()),
                    "properties": {
                        "amount": 129.5,
                        "currency": "EUR",
                        "reason": "card_declined",
                        "order_id": f"o{number}",
                    },
                },
                auth=(write_key, ""),
                timeout=20,
            )
            assert response.status_code == 200, response.text

        # then: the playbook's ticket appears at the top of the open queue, live
        ticket = wait_for(lambda: Ticket.objects.filter(workspace=shop, tags__contains=[TAG]).first(), timeout=90)
        assert ticket is not None
        row = page.locator(f"#ticket-{ticket.id}")
        row.wait_for(timeout=60_000)
        assert page.evaluate("window.__notReloaded") is True
        assert page.locator("#ticket-queue tbody tr").first.get_attribute("data-ticket") == str(ticket.id)
        assert TAG in row.inner_text()
        assert wait_for(lambda: PlaybookRun.objects.filter(workspace=shop, status=RunStatus.COMPLETED).exists())
        assert wait_for(lambda: erp.successes, timeout=60)
        page.screenshot(path=str(artifacts_dir / "journeys-queue.png"), full_page=True)

    # and the agent has the payment details without asking
    assert "card_declined" in ticket.body and "129.5 EUR" in ticket.body
    assert ticket.priority > calm.priority
