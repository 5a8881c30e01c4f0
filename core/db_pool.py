"""The connection pool's health check, without a round trip for connections in steady use.

psycopg_pool's stock check (what Django installs with ``CONN_HEALTH_CHECKS``) sends an empty
query on every checkout. On this platform's hot paths (a tracking or decide call makes five or
six round trips in all) that is one more round trip per request, for connections that were in
use a moment ago. ``RecentUseCheck`` pings only a connection that may have gone stale, which is
what PgBouncer does with ``server_check_delay``:

- one last checked out more than ``idle_seconds`` ago (or never) is pinged as before;
- one in steady use is pinged only if its socket has something to read while idle. A backend
  that is terminated or restarts sends an error and closes the socket, so a dead connection
  shows up as readable; a healthy idle one has nothing to say. The poll is one syscall.

A connection that is neither found dead nor pinged can still fail (a network cut within the
last ``idle_seconds``); the request it serves then fails as it would without any check, and the
pool drops the broken connection when it comes back.
"""

from __future__ import annotations

import select
import time
from typing import Any

from psycopg import pq
from psycopg_pool import ConnectionPool

_CHECKED_OUT_AT = "_cep_checked_out_at"


def _has_input(conn: Any) -> bool:
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError):  # no socket any more
        return True
    return bool(readable)


class RecentUseCheck:
    """``check=`` for ``psycopg_pool.ConnectionPool``: ping only connections that may be stale."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds

    def __call__(self, conn: Any) -> None:
        now = time.monotonic()
        last = getattr(conn, _CHECKED_OUT_AT, None)
        setattr(conn, _CHECKED_OUT_AT, now)
        if (
            last is not None
            and now - last < self.idle_seconds
            and conn.pgconn.status == pq.ConnStatus.OK
            and conn.pgconn.transaction_status == pq.TransactionStatus.IDLE
            and not _has_input(conn)
        ):
            return
        ConnectionPool.check_connection(conn)  # raises for a dead connection; the pool replaces it
