"""Set-based SQL for the ingest hot path.

Bulk statements pass whole columns as arrays (``unnest``). Django's default client-side
binding renders those arrays as SQL literals, escaping every JSON string character by
character in Python, which costs more than the database work. Here they are sent as binary
parameters (``%b``) on a server-binding psycopg cursor over Django's own connection, so they
run inside the caller's transaction, errors still surface as ``django.db`` exceptions, and
the statements show up in Django's query log (``CaptureQueriesContext``, DEBUG) as usual.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connection


def _run(sql: str, params: Sequence[Any], *, fetch: bool) -> list[tuple[Any, ...]]:
    connection.ensure_connection()
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if fetch else []
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows


def bulk_execute(sql: str, params: Sequence[Any]) -> None:
    _run(sql, params, fetch=False)


def bulk_fetchall(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return _run(sql, params, fetch=True)
