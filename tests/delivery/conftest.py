"""Real receivers for delivery tests: an HTTP server that verifies signatures, an SMTP server,
and a Celery worker thread on the queues delivery work passes through."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from cep.celery import app as celery_app
from delivery.signing import WebhookVerificationError, verify
from tests.decisions.conftest import shop, tracker, write_key  # noqa: F401 - shared fixtures
from tests.live import free_port

WORKER_QUEUES = ["ingest", "delivery", "decisions"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    answered: int


@dataclass
class Receiver:
    """Answers 500 to the first ``fail_first`` requests (all of them when ``always_fail``), then 200,
    and checks every request's Standard Webhooks signature against ``secret``."""

    url: str = ""
    secret: str = ""
    fail_first: int = 0
    always_fail: bool = False
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def successes(self) -> list[Received]:
        return [r for r in self.requests if r.answered == 200]


@contextmanager
def http_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verify(secret=receiver.secret, headers=headers, body=body)
                signature_ok = True
            except WebhookVerificationError:
                signature_ok = False
            with receiver.lock:
                failing = receiver.always_fail or len(receiver.requests) < receiver.fail_first
                answered = 500 if failing or not signature_ok else 200
                receiver.requests.append(Received(self.path, headers, body, signature_ok, answered))
            self.send_response(answered)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if answered == 200 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)


@pytest.fixture
def smtp_server(settings) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; Django's SMTP backend is pointed at it."""
    from aiosmtpd.controller import Controller

    port = free_port()
    box = Mailbox(host="127.0.0.1", port=port)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(envelope)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def fast_retries(settings) -> None:
    settings.DELIVERY_RETRY_BASE_SECONDS = 0.05
    settings.DELIVERY_RETRY_MAX_SECONDS = 0.2
    settings.DELIVERY_MAX_ATTEMPTS = 5


@contextmanager
def worker(queues: list[str] | None = None) -> Iterator[None]:
    with start_worker(celery_app, queues=queues or WORKER_QUEUES, perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_for(check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.1) -> Any:
    """Poll until ``check()`` is truthy (bounded); returns its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


def inapp_socket_path(workspace: Any, key: str, user_id: str) -> str:
    """The widget's socket path for a signed-in shopper: the workspace gets an in-app identity
    secret (made on first use) and the path carries the userHash a storefront server computes."""
    from delivery.models import InAppIdentity
    from delivery.services import inapp_identity_rotate
    from delivery.signing import inapp_user_hash

    identity = InAppIdentity.objects.filter(workspace=workspace).first()
    secret = identity.secret if identity else inapp_identity_rotate(workspace=workspace, actor=None)[1]
    return f"/ws/inapp/?writeKey={key}&userId={user_id}&userHash={inapp_user_hash(secret, user_id)}"
