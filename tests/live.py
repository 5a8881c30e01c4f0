"""Real servers for tests: the project's ASGI app under uvicorn in a thread on 127.0.0.1, free
ports, ending the database sessions a server's threads leave, and signing a browser in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def database_url() -> str:
    """The test database as a ``DATABASE_URL`` for a subprocess (a worker, ``make run``). The host
    may be a Unix-socket directory (the embedded server's default), which a URL must percent-encode."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    return f"postgresql://{db['USER']}@{quote(str(db['HOST']), safe='')}:{db['PORT']}/{db['NAME']}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def close_server_connections() -> None:
    """The server ran views in its own threads, whose persistent connections to the test
    database would block dropping it at the end of the session. The test thread's own
    connections (tagged in tests/conftest.py, including the one a test body opens inside
    Playwright's context) are spared: ending them would break the next test that uses them."""
    from django.db import connection

    from tests.conftest import MAIN_THREAD_APPLICATION_NAME

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> %s",
            [MAIN_THREAD_APPLICATION_NAME],
        )


@contextmanager
def asgi_server(app: str = "cep.asgi:application") -> Iterator[str]:
    """``app`` under uvicorn in a thread, bound to 127.0.0.1 only; yields its base URL. Use with
    ``django_db(transaction=True)`` so the server's own connections see the test's data."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        close_server_connections()


def log_in(page: Any, server_url: str, user: Any) -> None:
    """Give a Playwright page the session cookie of ``user`` for ``server_url``."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": server_url}])
