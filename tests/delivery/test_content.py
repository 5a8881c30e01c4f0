"""Content blocks: personalised with the engine's placeholders, refused when they break brand
safety, and used when an action names one (content_ref) or a playbook step does."""

from __future__ import annotations

import pytest

from decisions.models import Action
from decisions.services import decision_make, guardrails_save, policy_save
from delivery.models import Delivery
from delivery.services import DeliveryError, content_block_save, delivery_for_decision
from tests.decisions.conftest import person


@pytest.mark.django_db
def test_a_block_that_breaks_brand_safety_is_refused_over_the_api(api_client, shop, secret_key) -> None:
    guardrails_save(workspace=shop, actor=None, brand_safety={"banned_phrases": ["risk-free"]})
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret_key}"}
    bad = api_client.post(
        "/api/v1/content-blocks/",
        {"key": "promo", "name": "Promo", "channel": "email", "body": "A risk-free offer"},
        format="json",
        **headers,
    )
    assert bad.status_code == 400
    assert "banned phrase 'risk-free'" in bad.json()["error"]["fields"]["body"]
    good = api_client.post(
        "/api/v1/content-blocks/",
        {
            "key": "promo",
            "name": "Promo",
            "channel": "email",
            "subject": "For {traits.first_name|you}",
            "body": "New deals",
        },
        format="json",
        **headers,
    )
    assert good.status_code == 201 and good.json()["key"] == "promo"


@pytest.mark.django_db
def test_an_action_naming_a_block_sends_the_block_personalised(shop, tracker) -> None:
    from tests.decisions.conftest import identify

    identify(tracker, "ana", email="ana@example.com")
    content_block_save(
        workspace=shop,
        actor=None,
        values={
            "key": "deals-block",
            "name": "Deals",
            "channel": "email",
            "subject": "{traits.first_name|Hello}, this week only",
            "body": "Deals picked for {traits.first_name|you}.",
            "link_url": "https://shop.example.com/deals",
        },
    )
    Action.objects.filter(workspace=shop, key="weekly_promo").update(content_ref="deals-block")
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    decision = decision_make(workspace=shop, profile=person(shop, "ana"), only=["weekly_promo"])
    [delivery] = delivery_for_decision(decision=decision)
    assert delivery.subject == "Ana, this week only" and delivery.body == "Deals picked for Ana."
    assert delivery.payload["content_block"] == "deals-block"
    assert delivery_for_decision(decision=decision)[0].id == delivery.id
    assert Delivery.objects.filter(workspace=shop).count() == 1


@pytest.mark.django_db
def test_a_block_with_an_unknown_channel_names_the_field(shop) -> None:
    with pytest.raises(DeliveryError) as caught:
        content_block_save(workspace=shop, actor=None, values={"key": "x", "name": "X", "channel": "fax", "body": ""})
    assert set(caught.value.errors) == {"channel", "body"}
