"""The per-process catalog cache never serves a stale catalog: the stamp read with the person's
state catches edits made anywhere (other processes, bulk updates), before the decision is made."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from decisions.models import Action, CatalogSnapshot, GuardrailConfig, SuppressionWindow
from decisions.services import decision_make, decision_replay, policy_save, snapshot_load
from decisions.snapshots import catalog_cached, catalog_forget, snapshot_restore
from tests.decisions.conftest import identify, make_action, person


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
    # No holdout: a held-out decision is not a contact, and whether Ana is held out depends on her id.
    policy_save(
        workspace=shop, actor=None, values={"key": "default", "name": "Default", "status": "live", "holdout_share": 0}
    )
    catalog_forget()
    acted = decision_make(workspace=shop, profile=ana, only=["weekly_promo"])
    assert acted.status == "acted", acted.explanation
    until = timezone.now() + timedelta(hours=5)
    SuppressionWindow.objects.create(
        workspace=shop, profile=ana, reason="a complaint", kinds=["offer"], channels=[], until=until, source_ref="x"
    )

    snapshot, _, offered, policy = snapshot_load(
        workspace=shop, profile=ana, policy=None, context={}, now=timezone.now()
    )

    assert snapshot.contacts == [("email", acted.created_at.isoformat())]
    assert snapshot.suppressions == [
        {"reason": "a complaint", "until": until.isoformat(), "kinds": ["offer"], "channels": []}
    ]
    assert set(offered.ids) == {"weekly_promo", "checkout_help"}
    assert policy.key == "default"
    assert snapshot.data["traits"]["first_name"] == "Ana"


def test_decisions_store_their_action_specs_once_by_reference_and_replay_from_them(shop, tracker) -> None:
    identify(tracker, "ben", first_name="Ben", consent={"email": True})
    ana, ben = person(shop, "ana"), person(shop, "ben")
    first = decision_make(workspace=shop, profile=ana)
    second = decision_make(workspace=shop, profile=ben)
    ref = first.inputs["snapshot"]["actions_ref"]
    assert "actions" not in first.inputs["snapshot"]
    assert second.inputs["snapshot"]["actions_ref"] == ref  # same catalog, same specs: one row
    stored = CatalogSnapshot.objects.get(ref=ref)
    assert stored.workspace_id == shop.id
    assert {a["key"] for a in stored.actions} == {"weekly_promo", "checkout_help"}
    restored = snapshot_restore(first.inputs["snapshot"])
    assert [a.key for a in restored.actions] == [a["key"] for a in stored.actions]
    assert decision_replay(decision=first)["chosen_key"] == first.chosen_key

    # An edit to an action's spec is a different set of specs: a new row, the old one kept for replay.
    Action.objects.filter(workspace=shop, key="weekly_promo").update(cost=3)
    third = decision_make(workspace=shop, profile=ana)
    assert third.inputs["snapshot"]["actions_ref"] != ref
    assert CatalogSnapshot.objects.filter(workspace=shop).count() == 2
    assert decision_replay(decision=first)["chosen_key"] == first.chosen_key


def test_a_rolled_back_decision_leaves_no_reference_to_a_missing_row(shop) -> None:
    ana = person(shop, "ana")
    make_action(shop, "rollback_probe", channel="in_app", value_amount=50, content="Hi")
    try:
        with transaction.atomic():
            rolled = decision_make(workspace=shop, profile=ana)
            raise RuntimeError("the caller's transaction fails after deciding")
    except RuntimeError:
        pass
    assert not CatalogSnapshot.objects.filter(ref=rolled.inputs["snapshot"]["actions_ref"]).exists()
    again = decision_make(workspace=shop, profile=ana)  # this process must write the row again
    assert CatalogSnapshot.objects.filter(ref=again.inputs["snapshot"]["actions_ref"]).exists()


def test_snapshots_stored_inline_before_references_still_restore(shop) -> None:
    decision = decision_make(workspace=shop, profile=person(shop, "ana"))
    inline = snapshot_restore(decision.inputs["snapshot"]).to_json()
    assert "actions" in inline and "actions_ref" not in inline
    restored = snapshot_restore(inline)
    assert restored == snapshot_restore(decision.inputs["snapshot"])


def test_every_kind_of_catalog_write_moves_the_stamp(shop) -> None:
    from django.db import connection

    def stamp() -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce((SELECT version FROM decisions_catalogstamp WHERE workspace_id = %s), 0)", [shop.id]
            )
            return str(cursor.fetchone()[0])

    seen = [stamp()]
    Action.objects.filter(workspace=shop, key="weekly_promo").update(cost=2)  # bulk update
    seen.append(stamp())
    with connection.cursor() as cursor:  # raw SQL, as another tool would
        cursor.execute("UPDATE decisions_policy SET name = name WHERE workspace_id = %s", [shop.id])
        cursor.execute("UPDATE decisions_guardrailconfig SET brand_safety = '{}' WHERE workspace_id = %s", [shop.id])
    seen.append(stamp())
    Action.objects.filter(workspace=shop, key="checkout_help").delete()
    seen.append(stamp())
    assert len(set(seen)) == len(seen), seen


@pytest.mark.django_db(transaction=True)
def test_deleting_a_workspace_with_a_catalog_commits(shop) -> None:
    decision_make(workspace=shop, profile=person(shop, "ana"))
    shop.delete()  # cascades to actions, policies, guardrails: their triggers must not break the commit
    assert not Action.objects.filter(workspace_id=shop.id).exists()
