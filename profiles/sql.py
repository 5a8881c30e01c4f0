"""Set-based SQL for the ingest and decide hot paths.

Bulk statements pass whole columns as arrays (``unnest``). Django's default client-side
binding renders those arrays as SQL literals, escaping every JSON string character by
character in Python, which costs more than the database work. Here they are sent as binary
parameters (``%b``) on a server-binding psycopg cursor over Django's own connection, so they
run inside the caller's transaction, errors still surface as ``django.db`` exceptions, and
the statements show up in Django's query log (``CaptureQueriesContext``, DEBUG) as usual.

Three savings on top, all per database connection:

- one cursor is kept per connection and reused, so psycopg's per-cursor caches (which dumper
  handles which type, prepared statement names) survive from one request to the next;
- json results come back as text, for the caller to decode (core.fastjson);
- flat lists of text, UUIDs, aware datetimes, ints, floats or booleans are packed straight into
  PostgreSQL's binary array format (``_FlatListDumper``). psycopg's general list dumper scans
  every list for nesting and element types and looks the element dumper up again on each call,
  which cost more than the rest of a single tracking call's parameters together. Anything else
  (nested lists, empty or all-null lists, other element types) goes to psycopg's own dumper.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import pq
from psycopg.abc import AdaptContext, Buffer, DumperKey
from psycopg.adapt import Dumper, PyFormat
from psycopg.types.array import ListBinaryDumper
from psycopg.types.string import TextLoader

_HEAD = struct.Struct("!iiIii")  # ndim, has nulls, element oid, length, lower bound
_LEN = struct.Struct("!i")
_I64 = struct.Struct("!q")
_F64 = struct.Struct("!d")
_NULL = b"\xff\xff\xff\xff"
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _timestamptz(value: datetime) -> bytes:
    if value.tzinfo is None:
        raise psycopg.DataError("a naive datetime in a timestamptz array")
    return _I64.pack((value - _PG_EPOCH) // _MICROSECOND)


# element type -> (element oid, array oid, encoder)
_ELEMENTS: dict[type, tuple[int, int, Callable[[Any], bytes]]] = {
    str: (25, 1009, str.encode),
    uuid.UUID: (2950, 2951, lambda value: value.bytes),
    datetime: (1184, 1185, _timestamptz),
    int: (20, 1016, _I64.pack),
    float: (701, 1022, _F64.pack),
    bool: (16, 1000, lambda value: b"\x01" if value else b"\x00"),
}


def _first_value(values: list[Any]) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


class _FlatListDumper(Dumper):
    """Registered for ``list`` on the bulk cursors; hands anything it does not pack to psycopg."""

    format = pq.Format.BINARY

    def __init__(self, cls: type, context: AdaptContext | None = None) -> None:
        super().__init__(cls, context)
        self._context = context
        self._general = ListBinaryDumper(cls, context)
        self._typed: dict[type, _TypedListDumper] = {}  # psycopg asks for an upgrade on every query

    def get_key(self, obj: list[Any], format: PyFormat) -> DumperKey:
        kind = type(_first_value(obj))
        if kind in _ELEMENTS:
            return (list, kind)
        return self._general.get_key(obj, format)

    def upgrade(self, obj: list[Any], format: PyFormat) -> Dumper:
        kind = type(_first_value(obj))
        if kind in _ELEMENTS:
            typed = self._typed.get(kind)
            if typed is None:
                typed = self._typed[kind] = _TypedListDumper(kind, self._context)
            return typed
        return self._general.upgrade(obj, format)

    def dump(self, obj: list[Any]) -> Buffer | None:  # only reached through upgrade()
        raise NotImplementedError


class _TypedListDumper(Dumper):
    format = pq.Format.BINARY

    def __init__(self, element: type, context: AdaptContext | None = None) -> None:
        super().__init__(list, context)
        self._element_oid, self.oid, self._encode = _ELEMENTS[element]
        self._element = element

    def dump(self, obj: list[Any]) -> Buffer | None:
        parts = [b""]
        nulls = 0
        encode, element = self._encode, self._element
        for value in obj:
            if value is None:
                parts.append(_NULL)
                nulls = 1
                continue
            if type(value) is not element:
                raise psycopg.DataError(f"a {type(value).__name__} in an array of {element.__name__}")
            data = encode(value)
            parts.append(_LEN.pack(len(data)))
            parts.append(data)
        parts[0] = _HEAD.pack(1, nulls, self._element_oid, len(obj), 1)
        return b"".join(parts)


_CURSOR_ATTRIBUTE = "_cep_bulk_cursor"


def _cursor(db: BaseDatabaseWrapper) -> psycopg.Cursor[Any]:
    """The connection's bulk cursor, made on first use. Kept on the psycopg connection itself
    (connections are pooled and outlive requests), so it goes when the connection goes."""
    db.ensure_connection()
    raw = db.connection
    cursor: psycopg.Cursor[Any] | None = getattr(raw, _CURSOR_ATTRIBUTE, None)
    if cursor is None or cursor.closed:
        cursor = psycopg.Cursor(raw)
        cursor.adapters.register_dumper(list, _FlatListDumper)
        # json as text, like Django's jsonb: callers decode it with core.fastjson, several times
        # faster than psycopg's loader (the standard library's json).
        cursor.adapters.register_loader("json", TextLoader)
        setattr(raw, _CURSOR_ATTRIBUTE, cursor)
    return cursor


def _run(sql: str, params: Sequence[Any] | Mapping[str, Any], *, fetch: bool) -> list[tuple[Any, ...]]:
    started = time.monotonic()
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: each use of the ``connection`` proxy costs a lookup
    with db.wrap_database_errors:
        cursor = _cursor(db)
        cursor.execute(sql, params)
        rows = cursor.fetchall() if fetch else []
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows


def bulk_execute(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> None:
    _run(sql, params, fetch=False)


def bulk_fetchall(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return _run(sql, params, fetch=True)


class WriteBatch:
    """Data-modifying statements sent in one round trip, for a caller that has several
    independent writes to make in its transaction (ingest: the features upsert and the events
    insert). ``flush()`` runs them as one statement: all but the last become data-modifying
    ``WITH`` clauses of the last. They share one snapshot and cannot see each other's changes,
    so only batch statements that touch different rows, and flush before reading what they
    write. Statements use positional placeholders, so their parameters simply concatenate."""

    def __init__(self) -> None:
        self._statements: list[tuple[str, list[Any]]] = []

    def add(self, sql: str, params: Sequence[Any]) -> None:
        self._statements.append((sql, list(params)))

    def flush(self) -> None:
        statements, self._statements = self._statements, []
        if not statements:
            return
        *leading, (last_sql, last_params) = statements
        clauses = ", ".join(f"_w{index} AS ({sql})" for index, (sql, _) in enumerate(leading))
        params = [param for _, statement_params in leading for param in statement_params]
        bulk_execute(f"WITH {clauses} {last_sql}" if clauses else last_sql, [*params, *last_params])
