"""The per-process catalog cache never serves a stale catalog: the stamp read with the person's
state catches edits made anywhere (other processes, bulk updates), before the decision is made."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from decisions.models import Action, GuardrailConfig, SuppressionWindow
from decisions.services import decision_make, snapshot_load
from decisions.snapshots import catalog_cached, catalog_forget
from tests.decisions.conftest import make_action, person


def test_an_action_disabled_behind_the_cache_is_not_chosen_next_time(shop) -> None:
    ana = person(shop, "ana")
    first = decision_make(workspace=shop, profile=ana, only=["weekly_promo"])
    assert first.chosen_key == "weekly_promo"
    cached = catalog_cached(shop)

    # Another process (here: a bulk update that bypasses the services) disables it.
    Action.objects.filter(workspace=shop, key="weekly_promo").update(enabled=False)

    second = decision_make(workspace=shop, profile=ana, only=["weekly_promo"])
    assert second.chosen_key == ""
    assert catalog_cached(shop).stamp != cached.stamp


def test_new_actions_and_guardrail_edits_are_seen_by_the_next_decision(shop) -> None:
    ana = person(shop, "ana")
    decision_make(workspace=shop, profile=ana)  # warm the cache
    make_action(shop, "vip_gift", channel="in_app", value_amount=500, content="A gift for {traits.first_name}")
    assert decision_make(workspace=shop, profile=ana, only=["vip_gift"]).chosen_key == "vip_gift"

    GuardrailConfig.objects.filter(workspace=shop).update(brand_safety={"banned_phrases": ["gift"]})
    blocked = decision_make(workspace=shop, profile=ana, only=["vip_gift"])
    assert blocked.chosen_key == ""
    assert any(r["guardrail"] == "brand_safety" for r in blocked.guardrails)


def test_one_statement_loads_the_same_person_state_as_the_tables_hold(shop) -> None:
    ana = person(shop, "ana")
    catalog_forget()
    acted = decision_make(workspace=shop, profile=ana, only=["weekly_promo"])
    until = timezone.now() + timedelta(hours=5)
    SuppressionWindow.objects.create(
        workspace=shop, profile=ana, reason="a complaint", kinds=["offer"], channels=[], until=until, source_ref="x"
    )

    snapshot, _, action_ids, policy = snapshot_load(
        workspace=shop, profile=ana, policy=None, context={}, now=timezone.now()
    )

    assert snapshot.contacts == [("email", acted.created_at.isoformat())]
    assert snapshot.suppressions == [
        {"reason": "a complaint", "until": until.isoformat(), "kinds": ["offer"], "channels": []}
    ]
    assert set(action_ids) == {"weekly_promo", "checkout_help"}
    assert policy.key == "default"
    assert snapshot.data["traits"]["first_name"] == "Ana"
