"""profiles.sql.WriteBatch: independent writes in one statement, parameters in order."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from profiles.sql import WriteBatch

pytestmark = pytest.mark.django_db


def _tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE wb_a (x int, label text)")
        cursor.execute("CREATE TEMP TABLE wb_b (y int[])")


def _rows(table: str) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 - test constant
        return list(cursor.fetchall())


def test_three_writes_go_in_one_statement_with_their_own_parameters() -> None:
    _tables()
    batch = WriteBatch()
    batch.add("INSERT INTO wb_a (x, label) VALUES (%s, %s)", [1, "first"])
    batch.add("INSERT INTO wb_b (y) SELECT %b::int[]", [[7, 8]])
    batch.add("INSERT INTO wb_a (x, label) SELECT u, %s FROM unnest(%b::int[]) AS u", ["last", [2, 3]])
    with CaptureQueriesContext(connection) as queries:
        batch.flush()
    assert len(queries.captured_queries) == 1
    assert _rows("wb_a") == [(1, "first"), (2, "last"), (3, "last")]
    assert _rows("wb_b") == [([7, 8],)]


def test_flush_empties_the_batch_and_an_empty_batch_sends_nothing() -> None:
    _tables()
    batch = WriteBatch()
    batch.add("INSERT INTO wb_a (x, label) VALUES (%s, %s)", [1, "only"])
    batch.flush()
    with CaptureQueriesContext(connection) as queries:
        batch.flush()
    assert queries.captured_queries == []
    assert _rows("wb_a") == [(1, "only")]
