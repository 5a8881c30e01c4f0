"""The issue's done-when: three payment failures of a high-CLV person, posted through the
tracking API, run the shipped playbook end to end with a real worker; a replay changes nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from audit.models import AuditEntry
from cep.asgi import application
from core.tasks import ping_task
from decisions.models import Decision, SuppressionWindow
from decisions.services import decision_make, policy_save
from delivery.models import Delivery
from delivery.services import endpoint_save
from journeys.models import PlaybookRun, RunStatus, StepStatus
from journeys.services import journeys_defaults_install
from support.models import Ticket
from tests.decisions.conftest import identify, person
from tests.delivery.conftest import http_receiver, inapp_socket_path, wait_for, worker
from tests.journeys.conftest import clv_scores


def _payment_failures(tracker, ids: list[str]) -> None:
    for number, message_id in enumerate(ids, start=1):
        response = tracker.post(
            "/v1/track",
            {
                "userId": "ana",
                "event": "payment_failed",
                "messageId": message_id,
                "properties": {
                    "amount": 129.5,
                    "currency": "EUR",
                    "reason": "card_declined",
                    "order_id": f"ord-{number}",
                },
            },
        )
        assert response.status_code == 200, response.content


def _drain_ingest() -> None:
    """The solo worker takes tasks in order: once this answers, earlier ingest work has run."""
    assert ping_task.apply_async(args=("drain",), queue="ingest").get(timeout=60) == "pong:drain"


@pytest.mark.django_db(transaction=True)
def test_three_payment_failures_of_a_high_clv_customer_run_the_playbook_once(
    shop, tracker, write_key, fast_retries, fast_steps
) -> None:
    identify(tracker, "ana", first_name="Ana", consent={"email": True, "in_app": True})
    for other in ("bo", "cy", "di", "ed"):
        identify(tracker, other, first_name=other.title())
    clv_scores(shop, {"ana": 2400.0, "bo": 120.0, "cy": 300.0, "di": 80.0, "ed": 640.0})
    journeys_defaults_install(workspace=shop)
    policy_save(
        workspace=shop,
        actor=None,
        values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0, "explore": False},
    )
    ids = [str(uuid.uuid4()) for _ in range(3)]
    # support trains its tone classifier on first use (seconds of CPU); done here, it does not
    # starve the websocket's event loop in this one process while the ticket step runs.
    from support.sentiment import model

    model()
    socket_path = inapp_socket_path(shop, write_key, "ana")

    with http_receiver() as erp:
        _, secret = endpoint_save(workspace=shop, actor=None, values={"key": "erp", "url": erp.url})
        erp.secret = secret or ""

        async def storefront_session() -> dict:
            socket = WebsocketCommunicator(application, socket_path, headers=[(b"origin", b"http://localhost")])
            connected, _ = await socket.connect(timeout=5)
            assert connected
            assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
            from asgiref.sync import sync_to_async

            await sync_to_async(_payment_failures)(tracker, ids)
            message = await socket.receive_json_from(timeout=90)
            await socket.disconnect()
            return message

        with worker():
            message = async_to_sync(storefront_session)()
            run = wait_for(
                lambda: PlaybookRun.objects.filter(workspace=shop, status=RunStatus.COMPLETED).first(), timeout=90
            )
            assert wait_for(lambda: erp.successes, timeout=60)
            promo = decision_make(workspace=shop, profile=person(shop, "ana"), only=["weekly_promo"])

            # Replay: the same events again, then three new failures inside the episode window.
            _payment_failures(tracker, ids)
            _payment_failures(tracker, [str(uuid.uuid4()) for _ in range(3)])
            _drain_ingest()
            runs_after_replay = PlaybookRun.objects.filter(workspace=shop).count()

    assert run is not None
    steps = list(run.steps.order_by("index"))
    assert [(s.type, s.status) for s in steps] == [
        ("suppress", StepStatus.DONE),
        ("in_app", StepStatus.DONE),
        ("ticket", StepStatus.DONE),
        ("webhook", StepStatus.DONE),
    ]
    # Promotions are paused: a promotional decision for Ana is now suppressed.
    assert SuppressionWindow.objects.filter(workspace=shop, source_ref=steps[0].correlation_id).exists()
    assert promo.status == "nothing"
    assert any(g["guardrail"] == "suppression" for g in promo.guardrails)
    # The in-app help message reached her widget, with the chat link.
    assert message["type"] == "inapp.message" and message["link_label"] == "Chat with us"
    assert message["body"].startswith("Hi Ana, your last payments did not go through")
    # A priority ticket with the payment details and the tag.
    ticket = Ticket.objects.get(workspace=shop, correlation_id=str(steps[2].decision_id))
    assert ticket.tags == ["High CLV risk / payment failure"]
    assert "ord-1" in ticket.body and "card_declined" in ticket.body and "129.5 EUR" in ticket.body
    assert len(ticket.context["events"]) == 3
    # The ERP got one signed request to hold the cart.
    assert len(erp.requests) == 1 and erp.requests[0].signature_ok
    body = json.loads(erp.requests[0].body)
    assert body["type"] == "cart.hold" and body["data"]["minutes"] == 30
    # Each step is in the decision log as a playbook decision, and in the audit trail.
    logged = Decision.objects.filter(workspace=shop, trigger="playbook").order_by("created_at")
    assert [d.chosen_key for d in logged] == [
        "pause-promotions-48h",
        "payment-help-in-app",
        "priority-payment-ticket",
        "erp-hold-cart-30m",
    ]
    assert all(d.status == "acted" and "Payment failures, high CLV for Ana" in d.explanation for d in logged)
    actions = list(AuditEntry.objects.filter(workspace=shop, target_id=str(run.id)).values_list("action", flat=True))
    assert actions.count("playbook.step_done") == 4 and "playbook.run_started" in actions
    assert AuditEntry.objects.filter(workspace=shop, action="ticket.created", target_id=str(ticket.id)).exists()
    # Replaying changed nothing.
    assert runs_after_replay == 1
    assert Ticket.objects.filter(workspace=shop).count() == 1
    assert Delivery.objects.filter(workspace=shop, channel="in_app").count() == 1
    assert len(erp.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_a_customer_outside_the_top_clv_segment_does_not_start_the_playbook(shop, tracker) -> None:
    identify(tracker, "bo", first_name="Bo")
    clv_scores(shop, {"ana": 2400.0, "bo": 120.0})
    journeys_defaults_install(workspace=shop)
    with worker():
        for _ in range(3):
            response = tracker.post(
                "/v1/track", {"userId": "bo", "event": "payment_failed", "messageId": str(uuid.uuid4())}
            )
            assert response.status_code == 200
        _drain_ingest()
    assert not PlaybookRun.objects.filter(workspace=shop).exists()
