from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.backends.signals import connection_created
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts.models import Workspace
from accounts.roles import Role
from tests.factories import make_member, make_secret_key, make_workspace

# In CI, property tests explore the same examples every run (a failure reproduces), and the
# per-example deadline is off: the machine is shared and a slow example is not a wrong one.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# Connections the test thread opens are tagged, so that ending a live server's leftover
# connections (tests/events/conftest.py) never ends the test's own.
MAIN_THREAD_APPLICATION_NAME = "cep-tests-main"


def _tag_test_thread_connection(sender: object, connection: object, **kwargs: object) -> None:
    if threading.current_thread() is threading.main_thread():
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("SET application_name = %s", [MAIN_THREAD_APPLICATION_NAME])


connection_created.connect(_tag_test_thread_connection, dispatch_uid="tests.tag_test_thread_connection")


@pytest.fixture(scope="session", autouse=True)
def _end_leftover_connections(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """At the very end, before the test database is dropped: end every other session on it
    (live servers' threads, workers, a browser test's own connection) so the drop succeeds."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def server_url() -> Iterator[str]:
    """cep.asgi (pages, APIs, websockets) under uvicorn on 127.0.0.1 (tests/live.py)."""
    from tests.live import asgi_server

    with asgi_server() as url:
        yield url


ARTIFACTS_DIR = Path(
    os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).resolve().parent.parent / "var" / "test-artifacts")
)


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files for a person to look at (screenshots, reports)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


@dataclass
class Personas:
    """The four people every permission-relevant route is tried with."""

    workspace: Workspace
    owner: User
    other_workspace: Workspace
    outsider: User  # owner of other_workspace, no membership here

    def member(self, role: str) -> User:
        return make_member(workspace=self.workspace, role=role)


@pytest.fixture
def personas(db: None) -> Personas:
    workspace = make_workspace(name="Acme")
    other = make_workspace(name="Globex")
    owner = workspace.memberships.get(role=Role.OWNER).user
    outsider = other.memberships.get(role=Role.OWNER).user
    return Personas(workspace=workspace, owner=owner, other_workspace=other, outsider=outsider)


@pytest.fixture
def workspace(db: None) -> Workspace:
    return make_workspace(name="Acme")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def secret_key(workspace: Workspace) -> str:
    return make_secret_key(workspace=workspace)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's deliberate slowness buys nothing in tests and costs ~0.3 s per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
