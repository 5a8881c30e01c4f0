"""Decisions that were acted on reach people: email over a real SMTP server, in-app over the
widget's websocket; receipts come back; anything not acted on is never sent."""

from __future__ import annotations

import json
import uuid
from email import message_from_bytes

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from cep.asgi import application
from core.domain_events import DomainEvent
from decisions.models import Decision, DecisionStatus, Outcome
from decisions.services import decision_make, guardrails_save, policy_save
from delivery.models import Delivery, DeliveryChannel, DeliveryStatus
from delivery.services import DeliveryError, delivery_enqueue, delivery_for_decision
from delivery.subscribers import on_decision_made
from tests.decisions.conftest import identify, person
from tests.delivery.conftest import inapp_socket_path, wait_for, worker


def _policy(workspace) -> None:
    policy_save(
        workspace=workspace,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )


def _delivered(decision: Decision) -> Delivery | None:
    return Delivery.objects.filter(decision=decision, status=DeliveryStatus.DELIVERED).first()


@pytest.mark.django_db(transaction=True)
def test_an_acted_email_decision_goes_through_a_real_smtp_server(shop, tracker, smtp_server) -> None:
    identify(tracker, "ana", email="ana@example.com")
    _policy(shop)
    with worker():
        decision = decision_make(workspace=shop, profile=person(shop, "ana"), only=["weekly_promo"])
        assert decision.status == DecisionStatus.ACTED
        delivery = wait_for(lambda: _delivered(decision))
        assert wait_for(lambda: Outcome.objects.filter(decision=decision, kind="delivered").exists())
    assert delivery is not None and delivery.channel == DeliveryChannel.EMAIL
    assert len(smtp_server.messages) == 1
    envelope = smtp_server.messages[0]
    assert envelope.rcpt_tos == ["ana@example.com"]
    message = message_from_bytes(envelope.content)
    assert message["Subject"] == "Deals"
    assert "Hi Ana, new deals" in message.get_payload()
    assert message["Message-ID"] == f"<{delivery.id}@cep.delivery>"
    assert [a.ok for a in delivery.attempts.all()] == [True]


@pytest.mark.django_db(transaction=True)
def test_an_in_app_decision_reaches_the_widget_socket_and_its_receipts_come_back(shop, tracker, write_key) -> None:
    _policy(shop)
    ana = person(shop, "ana")
    path = inapp_socket_path(shop, write_key, "ana")

    async def scenario() -> dict:
        communicator = WebsocketCommunicator(
            application,
            path,
            headers=[(b"origin", b"http://localhost")],
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        decision = await sync_to_async(decision_make)(workspace=shop, profile=ana, only=["checkout_help"])
        assert decision.status == DecisionStatus.ACTED
        message = await communicator.receive_json_from(timeout=30)
        await communicator.disconnect()
        return message

    with worker():
        message = async_to_sync(scenario)()
        delivery = wait_for(lambda: Delivery.objects.filter(pk=message["id"], status="delivered").first())
        response = tracker.post(
            "/v1/track",
            {
                "userId": "ana",
                "event": "In-App Message Shown",
                "messageId": str(uuid.uuid4()),
                "properties": {"delivery_id": message["id"], "decision_id": message["decision_id"]},
            },
        )
        assert response.status_code == 200
        opened = wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=False).first())
        assert wait_for(lambda: Outcome.objects.filter(decision_id=delivery.decision_id, kind="opened").exists())
    assert message["type"] == "inapp.message" and message["body"] == "Need help, Ana?"
    assert delivery.channel == DeliveryChannel.IN_APP and delivery.status == DeliveryStatus.DELIVERED
    assert opened is not None


@pytest.mark.django_db(transaction=True)
def test_the_widget_socket_refuses_unknown_keys_and_replays_unshown_messages(shop, write_key) -> None:
    ana = person(shop, "ana")
    delivery_enqueue(
        workspace=shop, key="manual:1", channel="in_app", profile=ana, subject="Hello", body="Earlier message"
    )
    Delivery.objects.filter(key="manual:1").update(status=DeliveryStatus.DELIVERED)
    path = inapp_socket_path(shop, write_key, "ana")

    async def scenario() -> tuple[bool, int | None, dict]:
        bad = WebsocketCommunicator(
            application, "/ws/inapp/?writeKey=wk_nope&userId=ana", headers=[(b"origin", b"http://localhost")]
        )
        bad_connected, code = await bad.connect(timeout=5)
        good = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost")])
        connected, _ = await good.connect(timeout=5)
        assert connected
        await good.receive_json_from(timeout=5)  # hello
        replayed = await good.receive_json_from(timeout=5)
        await good.disconnect()
        return bad_connected, code, replayed

    bad_connected, code, replayed = async_to_sync(scenario)()
    assert not bad_connected and code == 4401
    assert replayed["body"] == "Earlier message"


NOT_ACTED = [s for s in DecisionStatus.values if s not in ("acted", "approved")]


@pytest.mark.parametrize("status", NOT_ACTED)
@pytest.mark.django_db
def test_a_decision_that_was_not_acted_on_is_never_delivered(shop, status) -> None:
    _policy(shop)
    decision = decision_make(workspace=shop, profile=person(shop, "ana"), only=["weekly_promo"])
    Decision.objects.filter(pk=decision.pk).update(status=status)
    decision.refresh_from_db()
    with pytest.raises(DeliveryError):
        delivery_for_decision(decision=decision)
    on_decision_made(DomainEvent("decision.made", str(shop.id), {"decision_id": str(decision.id), "status": status}))
    assert not Delivery.objects.filter(workspace=shop).exists()


@pytest.mark.django_db
def test_content_that_breaks_brand_safety_is_blocked_and_never_sent(shop) -> None:
    guardrails_save(workspace=shop, actor=None, brand_safety={"banned_phrases": ["guaranteed"]})
    delivery = delivery_enqueue(
        workspace=shop,
        key="manual:unsafe",
        channel="in_app",
        profile=person(shop, "ana"),
        body="Guaranteed savings today",
    )
    assert delivery.status == DeliveryStatus.BLOCKED
    assert "banned phrase 'guaranteed'" in delivery.last_error
    assert not delivery.attempts.exists()


@pytest.mark.django_db(transaction=True)
def test_an_sms_goes_to_the_provider_endpoint_as_a_signed_json_post(shop, tracker, fast_retries) -> None:
    from delivery.services import endpoint_save
    from tests.delivery.conftest import http_receiver

    identify(tracker, "ana", phone="+4915112345678")
    with http_receiver() as provider:
        _, secret = endpoint_save(workspace=shop, actor=None, values={"key": "sms", "url": provider.url})
        provider.secret = secret or ""
        with worker():
            delivery = delivery_enqueue(
                workspace=shop, key="sms:1", channel="sms", profile=person(shop, "ana"), body="Your code is ready"
            )
            assert wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, status="delivered").exists())
    [request] = provider.requests
    body = json.loads(request.body)
    assert request.signature_ok and body["type"] == "sms.send"
    assert body["data"]["to"] == "+4915112345678" and body["data"]["body"] == "Your code is ready"


@pytest.mark.django_db
def test_an_sms_without_a_provider_endpoint_is_blocked(shop, tracker) -> None:
    identify(tracker, "ana", phone="+4915112345678")
    delivery = delivery_enqueue(workspace=shop, key="sms:2", channel="sms", profile=person(shop, "ana"), body="Hi")
    assert delivery.status == DeliveryStatus.BLOCKED and "no enabled 'sms' endpoint" in delivery.last_error
