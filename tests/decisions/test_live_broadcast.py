"""A decision reaches the dashboards' websocket through the worker (not on the request)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from celery.contrib.testing.worker import start_worker
from channels.testing import WebsocketCommunicator

from cep.asgi import application
from cep.celery import app as celery_app
from decisions.services import decision_make, policy_save
from tests.decisions.conftest import person


@pytest.mark.django_db(transaction=True)
def test_a_decision_appears_on_the_workspace_websocket(client, shop) -> None:
    owner = shop.memberships.get(role="owner").user
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    policy_save(
        workspace=shop, actor=None, values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.0}
    )

    async def scenario() -> dict:
        communicator = WebsocketCommunicator(
            application, "/ws/workspace/", headers=[(b"cookie", cookie), (b"origin", b"http://localhost")]
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.receive_json_from(timeout=5)  # hello
        decision = await sync_to_async(decision_make)(workspace=shop, profile=await sync_to_async(person)(shop, "ana"))
        message = await communicator.receive_json_from(timeout=20)
        await communicator.disconnect()
        assert message["id"] == str(decision.id)
        return message

    with start_worker(celery_app, queues=["ingest"], perform_ping_check=False, shutdown_timeout=10):
        message = async_to_sync(scenario)()
    assert message["type"] == "decision.made"
    assert message["explanation"].endswith(".")
    assert message["status"] in {"acted", "nothing"}
