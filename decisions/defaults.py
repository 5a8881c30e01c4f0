"""The starter catalog a workspace begins with: four actions and a live policy that match the
storefront simulator's world (``simulator/shoppers.py``, docs/simulator.md), so `make run` has
decisions, outcomes and a measurable lift from the first minute.

Installed through the workspace defaults registry (``accounts.defaults``; registered in
``DecisionsConfig.ready``). Idempotent and respectful of edits: an action or policy whose key
exists is left as it is, and the starter policy goes live only when no other policy is live.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import Workspace
from accounts.principals import Actor
from decisions.models import Action, ActionKind, Autonomy, Channel, Policy, PolicyStatus, RiskTier, ValueModel
from decisions.services import action_save, policy_save

REASON = "starter catalog"

STARTER_ACTIONS: list[dict[str, Any]] = [
    {
        "key": "cart_reminder",
        "name": "Cart reminder",
        "channel": Channel.IN_APP,
        "kind": ActionKind.MESSAGE,
        "subject": "Still thinking it over?",
        "content": "{traits.first_name|Hi}, your cart is saved: finish your order in one click.",
        "value_model": ValueModel.FIXED,
        "value_amount": "40.00",
        "cost": "0.05",
        "eligibility": 'context.page == "/cart" and context.cart_items > 0',
        "risk_tier": RiskTier.LOW,
        "autonomy": Autonomy.ACT_ALONE,
    },
    {
        "key": "checkout_help",
        "name": "Checkout help",
        "channel": Channel.IN_APP,
        "kind": ActionKind.SERVICE,
        "subject": "Payment did not go through?",
        "content": "{traits.first_name|Hi}, we can help: try another card or chat with us now.",
        "value_model": ValueModel.FIXED,
        "value_amount": "60.00",
        "cost": "0.50",
        "eligibility": 'context.page == "/checkout" and context.payment_failed == true',
        "risk_tier": RiskTier.LOW,
        "autonomy": Autonomy.ACT_ALONE,
    },
    {
        "key": "weekly_newsletter",
        "name": "Weekly newsletter",
        "channel": Channel.EMAIL,
        "kind": ActionKind.MESSAGE,
        "subject": "This week at the store",
        "content": "Hi {traits.first_name|there}, here is what is new this week.",
        "value_model": ValueModel.FIXED,
        "value_amount": "15.00",
        "cost": "0.01",
        "eligibility": 'context.page == "/home"',
        "risk_tier": RiskTier.LOW,
        "autonomy": Autonomy.ACT_ALONE,
    },
    {
        "key": "flash_promo",
        "name": "Flash promo",
        "channel": Channel.EMAIL,
        "kind": ActionKind.OFFER,
        "subject": "FLASH SALE: 30% off everything",
        "content": "Hi {traits.first_name|there}, 30% off everything for the next 3 hours only!",
        "value_model": ValueModel.FIXED,
        "value_amount": "45.00",
        "cost": "0.05",
        "discount_percent": "30.00",
        "eligibility": 'context.page == "/offers"',
        "risk_tier": RiskTier.MEDIUM,
        "autonomy": Autonomy.ACT_ALONE,
    },
]

STARTER_POLICY: dict[str, Any] = {
    "key": "storefront",
    "name": "Storefront",
    "explore": True,
    "holdout_share": 0.2,  # a fifth of people are control, so lift is measurable within minutes
    "action_keys": [],
    "weights": {},
    "subscribed_events": [],
    "context_features": [],
}


@transaction.atomic
def catalog_defaults_install(*, workspace: Workspace, actor: Actor = None) -> list[str]:
    """Create the starter actions and policy that are missing; returns the keys created."""
    created = []
    existing = set(Action.objects.filter(workspace=workspace).values_list("key", flat=True))
    for values in STARTER_ACTIONS:
        if values["key"] not in existing:
            action_save(workspace=workspace, actor=actor, values=values, reason=REASON)
            created.append(values["key"])
    if not Policy.objects.filter(workspace=workspace, key=STARTER_POLICY["key"]).exists():
        live = Policy.objects.filter(workspace=workspace, status=PolicyStatus.LIVE).exists()
        status = PolicyStatus.DRAFT if live else PolicyStatus.LIVE
        policy_save(workspace=workspace, actor=actor, values={**STARTER_POLICY, "status": status}, reason=REASON)
        created.append(STARTER_POLICY["key"])
    return created
