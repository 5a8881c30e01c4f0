"""The queue hears about tickets over the workspace websocket: a new ticket at once, and a
re-prioritization when the worker processes the person's new events."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from celery.contrib.testing.worker import start_worker
from channels.testing import WebsocketCommunicator

from cep.asgi import application
from cep.celery import app as celery_app
from support.models import Ticket
from support.services import ticket_create
from tests.support.conftest import people, track


async def _next_ticket_message(communicator: WebsocketCommunicator) -> dict:
    for _ in range(20):  # other facts (decisions, ...) may share the group; bounded
        message = await communicator.receive_json_from(timeout=20)
        if message.get("type") == "ticket.changed":
            return message
    raise AssertionError("no ticket.changed message")


@pytest.mark.django_db(transaction=True)
def test_new_and_reprioritized_tickets_reach_the_workspace_websocket(client, desk, tracker) -> None:
    owner = desk.memberships.get(role="owner").user
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    bo = people(desk)["bo"]

    async def scenario() -> tuple[dict, dict, Ticket]:
        communicator = WebsocketCommunicator(
            application, "/ws/workspace/", headers=[(b"cookie", cookie), (b"origin", b"http://localhost")]
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.receive_json_from(timeout=5)  # hello
        ticket = await sync_to_async(ticket_create)(
            workspace=desk, profile=bo, subject="Checkout question", body="Which cards do you take?"
        )
        created = await _next_ticket_message(communicator)
        for _ in range(3):
            await sync_to_async(track)(tracker, "bo", "payment_failed", amount=20)
        prioritized = await _next_ticket_message(communicator)
        await communicator.disconnect()
        return created, prioritized, ticket

    with start_worker(celery_app, queues=["ingest"], perform_ping_check=False, shutdown_timeout=10):
        created, prioritized, ticket = async_to_sync(scenario)()

    assert created["id"] == str(ticket.id) and created["change"] == "created"
    assert prioritized["id"] == str(ticket.id) and prioritized["change"] == "prioritized"
    assert prioritized["priority"] > created["priority"]
    ticket.refresh_from_db()
    assert "payment failure" in ticket.priority_explanation
