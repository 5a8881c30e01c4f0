"""The real parts the platform stands on: PostgreSQL with pgvector, Celery over Redis, Channels."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from celery.contrib.testing.worker import start_worker
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection

from cep.asgi import application
from cep.celery import app as celery_app
from core.broadcast import broadcast_now, workspace_group
from core.tasks import ping_task


@pytest.mark.django_db
def test_pgvector_extension_and_vector_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cursor.execute("CREATE TEMP TABLE items (id int, embedding vector(3))")
        cursor.execute("INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')")
        cursor.execute("SELECT id FROM items ORDER BY embedding <=> '[1,0,0]' LIMIT 2")
        nearest = [row[0] for row in cursor.fetchall()]
    assert nearest == [1, 3]


@pytest.mark.django_db(transaction=True)
def test_celery_task_runs_through_the_real_broker() -> None:
    # A real worker thread consuming from Redis; the result comes back through Redis too.
    with start_worker(celery_app, queues=["default"], perform_ping_check=False, shutdown_timeout=10):
        result = ping_task.apply_async(args=("hello",), queue="default")
        assert result.get(timeout=20) == "pong:hello"


def test_channel_layer_is_redis() -> None:
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"


@pytest.mark.django_db(transaction=True)
def test_websocket_connects_and_receives_through_the_channel_layer(client, personas) -> None:
    client.force_login(personas.owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            application, "/ws/workspace/", headers=[(b"cookie", cookie.encode()), (b"origin", b"http://localhost")]
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        assert hello == {"type": "hello", "workspace": str(personas.workspace.id)}
        from asgiref.sync import sync_to_async

        await sync_to_async(broadcast_now)(
            group=workspace_group(personas.workspace.id), message_type="decision.made", payload={"id": "d1"}
        )
        assert await communicator.receive_json_from(timeout=5) == {"type": "decision.made", "id": "d1"}
        await communicator.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_websocket_refuses_anonymous() -> None:
    async def scenario() -> None:
        communicator = WebsocketCommunicator(application, "/ws/workspace/", headers=[(b"origin", b"http://localhost")])
        connected, code = await communicator.connect(timeout=5)
        assert not connected
        assert code == 4401

    async_to_sync(scenario)()
