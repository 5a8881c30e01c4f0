from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from accounts.models import Workspace
from accounts.selectors import write_key_active
from tests.live import asgi_server


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


class Tracker:
    """Posts tracking calls the way SDKs do: raw bytes, Basic auth, optional gzip."""

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.key = key

    def post(
        self,
        path: str,
        body: Any,
        *,
        key: str | None = None,
        auth: bool = True,
        gzip_body: bool = False,
        content_type: str = "application/json",
        raw: bytes | None = None,
        **headers: str,
    ) -> Any:
        data = raw if raw is not None else json.dumps(body).encode()
        extra: dict[str, str] = dict(headers)
        if gzip_body:
            data = gzip.compress(data)
            extra["HTTP_CONTENT_ENCODING"] = "gzip"
        if auth:
            extra["HTTP_AUTHORIZATION"] = basic(key or self.key)
        return self.client.generic("POST", path, data=data, content_type=content_type, **extra)  # type: ignore[arg-type]


@pytest.fixture
def write_key(workspace: Workspace) -> str:
    found = write_key_active(workspace=workspace)
    assert found is not None
    return found.key


@pytest.fixture
def tracker(client: Client, write_key: str) -> Tracker:
    return Tracker(client, write_key)


ASGI_APPS = {
    "django": "tests.events.asgi_app:application",  # the DRF views behind Django's middleware
    "lean": "cep.asgi:application",  # as deployed: the lean path (core/lean_asgi.py) in front
}


@pytest.fixture(params=sorted(ASGI_APPS))
def live_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The real ASGI app under uvicorn in a thread, bound to 127.0.0.1 only, once through
    Django's views and once through the lean path, as deployed. Use with
    ``django_db(transaction=True)`` so the server's own connections see the test's data."""
    with asgi_server(ASGI_APPS[request.param]) as url:
        yield url


@pytest.fixture(autouse=True)
def _empty_event_store(request: pytest.FixtureRequest) -> None:
    """These tests count events across the whole table; other suites may have committed
    session-wide data first (tests/scoring's stored world). For tests inside a rolled-back
    transaction the store is emptied for the test and comes back afterwards."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("db")
    from events.models import Event, ReceivedMessage

    Event.objects.all().delete()
    ReceivedMessage.objects.all().delete()
