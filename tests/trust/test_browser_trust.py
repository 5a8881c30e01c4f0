"""An approver in the real browser: the queue updates live when a proposal arrives, reject needs
a reason, edit-and-approve lowers the discount. Screenshots of the queue, trust, audit and
privacy pages."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from cep.celery import app as celery_app
from decisions.models import Decision, DecisionStatus
from tests.browser.conftest import browser_page  # noqa: F401 - the shared fixture
from tests.live import log_in
from tests.trust.conftest import propose

pytestmark = pytest.mark.browser


def _fresh_connection() -> None:
    """Once Playwright runs, the ORM may see the connection an earlier browser test used in the
    same context, which that test's server teardown terminated: start from a new one."""
    from django.db import connection

    connection.close()


@pytest.mark.django_db(transaction=True)
def test_approver_works_the_live_queue(queue, approver, server_url, browser_page, artifacts_dir) -> None:  # noqa: F811
    _fresh_connection()
    page = browser_page
    first = propose(queue, "ana")
    log_in(page, server_url, approver)
    page.goto(f"{server_url}/approvals/")
    page.wait_for_selector("#live-indicator[data-state=live]")
    assert page.locator(f"#approval-{first.id}").is_visible()
    assert page.locator("#pending-count").inner_text() == "1"

    # when a second proposal is made while the page is open, it appears without a reload
    with start_worker(celery_app, queues=["ingest"], perform_ping_check=False, shutdown_timeout=10):
        second = propose(queue, "ben")
        page.wait_for_selector(f"#approval-{second.id}", timeout=20_000)
    assert page.locator("#pending-count").inner_text() == "2"
    page.screenshot(path=str(artifacts_dir / "trust-approvals-queue.png"), full_page=True)

    # rejecting without a reason is refused by the form; with one it leaves the queue
    card = page.locator(f"#approval-{first.id}")
    card.locator(".reject-form button").click()
    assert card.locator(".reject-form input[name=reason]").evaluate("e => !e.validity.valid")
    card.locator(".reject-form input[name=reason]").fill("Too generous for a first order")
    card.locator(".reject-form button").click()
    page.wait_for_selector(f"#approval-{first.id}", state="detached")
    assert Decision.objects.get(pk=first.pk).status == DecisionStatus.REJECTED

    # edit and approve: lower the discount and change the text
    card = page.locator(f"#approval-{second.id}")
    if not card.locator("details.edit").get_attribute("open"):
        card.locator("summary").first.click()
    card.locator("details.edit summary").click()
    card.locator("textarea[name=body]").fill("Come back for 10% off, Ben.")
    card.locator("input[name=discount_percent]").fill("10")
    page.screenshot(path=str(artifacts_dir / "trust-approvals-edit.png"), full_page=True)
    card.locator("details.edit button[type=submit]").click()
    page.wait_for_selector("#queue-empty")
    decision = Decision.objects.get(pk=second.pk)
    assert decision.status == DecisionStatus.APPROVED and decision.rendered["discount_percent"] == 10.0
    assert "Recently decided" in page.content()
    page.screenshot(path=str(artifacts_dir / "trust-approvals-done.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_trust_audit_and_privacy_pages(queue, approver, server_url, browser_page, artifacts_dir) -> None:  # noqa: F811
    from decisions.approvals import approval_approve
    from tests.decisions.conftest import person

    _fresh_connection()
    approval_approve(workspace=queue, decision=propose(queue, "ana", "care_note"), actor=approver)
    owner = queue.memberships.get(role="owner").user
    # Database reads first: while Playwright drives the page, the ORM may run in another context.
    ana = person(queue, "ana")
    page = browser_page
    log_in(page, server_url, owner)
    page.goto(f"{server_url}/trust/")
    assert page.locator("#trust-table tr[data-action=care_note]").inner_text().count("Keeps asking") == 1
    page.screenshot(path=str(artifacts_dir / "trust-levels.png"), full_page=True)

    page.goto(f"{server_url}/audit/")
    page.select_option("select[name=action]", "approval.approved")
    page.wait_for_url("**/audit/?*action=approval.approved*")
    assert page.locator("#audit-table tbody tr").count() == 1
    page.screenshot(path=str(artifacts_dir / "trust-audit-explorer.png"), full_page=True)

    page.goto(f"{server_url}/customers/{ana.id}/privacy/")
    page.fill("input[name=reason]", "Request #42 by email")
    page.fill("input[name=confirm]", "erase")
    page.screenshot(path=str(artifacts_dir / "trust-privacy-before.png"), full_page=True)
    page.click("#erase-form button[type=submit]")
    page.wait_for_selector(".flash-success")
    assert "identifiers are now suppressed" in page.locator(".flash-success").inner_text()
    assert "subject.erased" in page.content()
    page.screenshot(path=str(artifacts_dir / "trust-privacy-after.png"), full_page=True)
