"""The pool's health check pings only connections that may be stale (core/db_pool.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from core import db_pool
from core.db_pool import RecentUseCheck

pytestmark = pytest.mark.django_db


def _params() -> dict[str, Any]:
    params = dict(connection.get_connection_params())
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params["autocommit"] = True
    return params


@pytest.fixture
def conn() -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(**_params()) as c:
        yield c


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Counts the stock check's round trips, which still run for real."""
    seen: list[object] = []
    real = ConnectionPool.check_connection

    def counted(c: psycopg.Connection[Any]) -> None:
        seen.append(c)
        real(c)

    monkeypatch.setattr(db_pool.ConnectionPool, "check_connection", staticmethod(counted))
    return seen


def _terminate(c: psycopg.Connection[Any]) -> None:
    with psycopg.connect(**_params()) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [c.info.backend_pid])
    deadline = time.monotonic() + 5
    while not db_pool._has_input(c) and time.monotonic() < deadline:  # the FATAL notice is on its way
        time.sleep(0.01)


def test_first_checkout_pings_then_steady_use_does_not(conn: psycopg.Connection[Any], pings: list[object]) -> None:
    check = RecentUseCheck(idle_seconds=60)
    check(conn)
    assert pings == [conn]
    conn.execute("SELECT 1").fetchone()
    check(conn)
    check(conn)
    assert pings == [conn]


def test_a_connection_idle_longer_than_the_limit_is_pinged(conn: psycopg.Connection[Any], pings: list[object]) -> None:
    check = RecentUseCheck(idle_seconds=0.05)
    check(conn)
    time.sleep(0.1)
    check(conn)
    assert pings == [conn, conn]


def test_a_terminated_backend_is_caught_within_the_idle_window(
    conn: psycopg.Connection[Any], pings: list[object]
) -> None:
    check = RecentUseCheck(idle_seconds=60)
    check(conn)
    _terminate(conn)
    with pytest.raises(psycopg.OperationalError):
        check(conn)
    assert len(pings) == 2


def test_the_pool_replaces_a_terminated_connection_in_steady_use() -> None:
    params = _params()
    with ConnectionPool(kwargs=params, min_size=1, max_size=1, check=RecentUseCheck(idle_seconds=60)) as pool:
        with pool.connection() as c:
            first_pid = c.info.backend_pid
        with pool.connection() as c:
            _terminate(c)
        with pool.connection() as c:  # not a failed request: the check saw it die and the pool reconnected
            assert c.execute("SELECT 1").fetchone() == (1,)
            assert c.info.backend_pid != first_pid


def test_the_backend_gives_djangos_pool_this_check(pings: list[object]) -> None:
    """ENGINE core.postgresql with OPTIONS["pool_check"]: Django's own pool, our check."""
    from core.postgresql.base import DatabaseWrapper

    settings = dict(connection.settings_dict)
    settings["OPTIONS"] = {
        **settings["OPTIONS"],
        "pool": {"min_size": 1, "max_size": 1},
        "pool_check": RecentUseCheck(idle_seconds=60),
    }
    wrapper = DatabaseWrapper(settings, alias="pool_check_test")
    try:
        for _ in range(3):
            wrapper.connect()
            with wrapper.cursor() as cursor:
                cursor.execute("SELECT 1")
            wrapper.close()  # back to the pool
        assert wrapper.pool._check is settings["OPTIONS"]["pool_check"]
        assert len(pings) == 1  # the first checkout only
    finally:
        wrapper.close_pool()
