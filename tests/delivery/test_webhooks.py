"""Signed webhooks are retried with backoff, sent once, and dead-lettered after N attempts."""

from __future__ import annotations

import json

import pytest

from delivery.models import Delivery, DeliveryStatus
from delivery.selectors import dead_letter_list
from delivery.services import endpoint_save, webhook_send
from tests.delivery.conftest import http_receiver, wait_for, worker


def _finished(delivery_id) -> Delivery | None:
    found = Delivery.objects.get(pk=delivery_id)
    return found if found.status in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD) else None


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_fails_twice_gets_exactly_one_effective_delivery(workspace, fast_retries) -> None:
    with http_receiver(fail_first=2) as receiver:
        _, secret = endpoint_save(workspace=workspace, actor=None, values={"key": "erp", "url": receiver.url})
        assert secret is not None and secret.startswith("whsec_")
        receiver.secret = secret
        with worker():
            delivery = webhook_send(
                workspace=workspace,
                endpoint_key="erp",
                event_type="cart.hold",
                data={"cart": "c-1", "minutes": 30},
                key="test:hold:1",
            )
            done = wait_for(lambda: _finished(delivery.id))
            again = webhook_send(
                workspace=workspace, endpoint_key="erp", event_type="cart.hold", data={"cart": "c-1"}, key="test:hold:1"
            )
    assert done is not None and done.status == DeliveryStatus.DELIVERED
    attempts = list(done.attempts.order_by("number"))
    assert [(a.number, a.ok, a.status_code) for a in attempts] == [(1, False, 500), (2, False, 500), (3, True, 200)]
    assert all(a.duration_ms >= 0 for a in attempts) and "HTTP 500" in attempts[0].error
    assert len(receiver.requests) == 3 and len(receiver.successes) == 1
    assert all(r.signature_ok for r in receiver.requests)
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # a stable id lets receivers dedupe
    body = json.loads(receiver.successes[0].body)
    assert body["type"] == "cart.hold" and body["data"] == {"cart": "c-1", "minutes": 30}
    assert again.id == delivery.id and Delivery.objects.filter(workspace=workspace).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_always_fails_ends_in_the_dead_letter_list(workspace, fast_retries) -> None:
    owner = workspace.memberships.get(role="owner").user
    with http_receiver(always_fail=True) as receiver:
        _, secret = endpoint_save(workspace=workspace, actor=None, values={"key": "erp", "url": receiver.url})
        receiver.secret = secret or ""
        with worker():
            delivery = webhook_send(
                workspace=workspace, endpoint_key="erp", event_type="cart.hold", data={"cart": "c-2"}, key="test:dead"
            )
            done = wait_for(lambda: _finished(delivery.id))
    assert done is not None and done.status == DeliveryStatus.DEAD
    attempts = list(done.attempts.order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3, 4, 5]
    assert all(not a.ok and a.status_code == 500 for a in attempts)
    assert len(receiver.requests) == 5 and all(r.signature_ok for r in receiver.requests)
    assert [d.id for d in dead_letter_list(actor=owner, workspace=workspace)] == [delivery.id]
    assert done.last_error.startswith("HTTP 500")


@pytest.mark.django_db(transaction=True)
def test_a_refused_connection_is_recorded_as_an_error_without_a_status_code(workspace, fast_retries, settings) -> None:
    settings.DELIVERY_MAX_ATTEMPTS = 2
    with http_receiver() as receiver:
        closed_url = receiver.url
    endpoint_save(workspace=workspace, actor=None, values={"key": "gone", "url": closed_url})
    with worker():
        delivery = webhook_send(workspace=workspace, endpoint_key="gone", event_type="x", data={}, key="test:gone")
        done = wait_for(lambda: _finished(delivery.id))
    assert done is not None and done.status == DeliveryStatus.DEAD
    attempts = list(done.attempts.all())
    assert len(attempts) == 2 and all(a.status_code is None and "Connection" in a.error for a in attempts)
