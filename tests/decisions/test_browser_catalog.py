"""A marketer in the real browser: an invalid eligibility condition is shown under its field and
the entered values stay; fixing it saves the action. Screenshots of every catalog page."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from decisions.models import Action
from decisions.services import policy_save
from tests.browser.conftest import browser_page  # noqa: F401 - the shared fixture
from tests.decisions.test_evaluation import _simulate, world  # noqa: F401 - the simulated world fixture
from tests.live import log_in

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_marketer_fixes_an_invalid_condition_and_saves(world, server_url, browser_page, artifacts_dir) -> None:  # noqa: F811
    workspace, live = world
    marketer = workspace.memberships.get(role=Role.OWNER).user
    page = browser_page
    log_in(page, server_url, marketer)

    page.goto(f"{server_url}/actions/new/")
    page.fill("#id_name", "Win-back email")
    page.fill("#id_key", "winback_email")
    page.select_option("#id_kind", "retention")
    page.fill("#id_subject", "We miss you, {traits.first_name|there}")
    page.fill("#id_value_amount", "40")
    page.fill("#id_cost", "0.2")
    page.fill("#id_eligibility", "traits.plan ==")
    page.click("#save-action")

    error = page.locator('[data-field-error="eligibility"]')
    assert error.inner_text().startswith("not a valid condition:")
    assert page.input_value("#id_name") == "Win-back email"
    assert page.input_value("#id_eligibility") == "traits.plan =="
    assert page.get_attribute("#id_eligibility", "aria-invalid") == "true"
    page.screenshot(path=str(artifacts_dir / "decisions-action-invalid-condition.png"), full_page=True)
    assert not Action.objects.filter(workspace=workspace, key="winback_email").exists()

    page.fill("#id_eligibility", 'traits.plan == "gold"')
    page.click("#save-action")

    page.wait_for_url(f"{server_url}/actions/winback_email/")
    assert "is in the catalog" in page.locator(".flash").inner_text()
    assert Action.objects.get(workspace=workspace, key="winback_email").eligibility == 'traits.plan == "gold"'

    page.goto(f"{server_url}/actions/")
    row = page.locator("#action-winback_email")
    row.get_by_role("button", name="Disable").click()
    page.locator("#action-winback_email").get_by_role("button", name="Enable").wait_for()
    assert not Action.objects.get(workspace=workspace, key="winback_email").enabled
    page.screenshot(path=str(artifacts_dir / "decisions-actions.png"), full_page=True)
    page.goto(f"{server_url}/actions/winback_email/versions/")
    assert page.locator("#v2 [data-field='enabled'] ins").inner_text() == "False"
    page.screenshot(path=str(artifacts_dir / "decisions-action-versions.png"), full_page=True)

    # The evaluation report on logs from the simulated world: loads lazily, then table and chart.
    _simulate(workspace, live, 200)
    policy_save(workspace=workspace, actor=None, values={"key": "only-bad", "name": "Only bad", "action_keys": ["bad"]})
    page.goto(f"{server_url}/policies/only-bad/evaluation/")
    page.locator("#evaluation-verdict").wait_for()
    assert page.locator("#evaluation-table tbody tr").count() == 4
    page.wait_for_function("() => window.Chart && Chart.getChart('ope-chart') !== undefined")
    page.screenshot(path=str(artifacts_dir / "decisions-policy-evaluation.png"), full_page=True)
    pages = (("/policies/", "policies"), ("/policies/only-bad/", "policy-form"), ("/guardrails/", "guardrails"))
    for path, name in pages:
        page.goto(f"{server_url}{path}")
        page.screenshot(path=str(artifacts_dir / f"decisions-{name}.png"), full_page=True)
