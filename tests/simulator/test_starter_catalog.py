"""The starter catalog the demo installs (decisions/defaults.py): idempotent, never overwrites a
marketer's edits, never takes over from a live policy, and reaches the demo through the
workspace defaults registry."""

from __future__ import annotations

import pytest

from accounts.defaults import workspace_defaults_install
from decisions.defaults import STARTER_ACTIONS, STARTER_POLICY, catalog_defaults_install
from decisions.models import Action, Policy, PolicyStatus
from decisions.services import action_save, policy_save
from simulator.shoppers import GROUND_TRUTH


@pytest.mark.django_db
def test_installing_twice_creates_the_catalog_once(workspace) -> None:
    created = catalog_defaults_install(workspace=workspace, actor=None)
    assert created == [*(a["key"] for a in STARTER_ACTIONS), STARTER_POLICY["key"]]
    assert catalog_defaults_install(workspace=workspace, actor=None) == []
    assert set(Action.objects.filter(workspace=workspace).values_list("key", flat=True)) == set(GROUND_TRUTH)
    policy = Policy.objects.get(workspace=workspace, key="storefront")
    assert (policy.status, policy.holdout_share, policy.version) == (PolicyStatus.LIVE, 0.2, 1)


@pytest.mark.django_db
def test_a_marketers_edit_survives_and_their_live_policy_stays_live(workspace) -> None:
    # given a marketer who made their own live policy and an action with a starter key
    mine = policy_save(workspace=workspace, actor=None, values={"key": "mine", "name": "Mine", "status": "live"})
    action_save(
        workspace=workspace,
        actor=None,
        values={"key": "cart_reminder", "name": "Our reminder", "channel": "email", "kind": "message"},
    )
    # when the defaults are installed
    catalog_defaults_install(workspace=workspace, actor=None)
    # then their action and live policy are untouched and the starter policy waits as a draft
    assert Action.objects.get(workspace=workspace, key="cart_reminder").name == "Our reminder"
    mine.refresh_from_db()
    assert mine.status == PolicyStatus.LIVE
    assert Policy.objects.get(workspace=workspace, key="storefront").status == PolicyStatus.DRAFT


@pytest.mark.django_db
def test_the_workspace_defaults_registry_runs_it(workspace) -> None:
    ran = workspace_defaults_install(workspace=workspace)
    assert "decisions.catalog" in ran
    assert Action.objects.filter(workspace=workspace, key="flash_promo").exists()
