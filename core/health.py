"""Reachability checks for /healthz."""

from __future__ import annotations

import time
from typing import Any

import redis
from django.conf import settings
from django.db import connection


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:
        detail, ok = f"{type(exc).__name__}: {exc}", False
    result: dict[str, Any] = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if detail:
        result["detail"] = detail
    return result


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return f"pgvector {row[0]}" if row else "pgvector extension missing"


def _redis() -> str | None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return None


def _celery() -> str:
    from cep.celery import app

    replies = app.control.ping(timeout=settings.HEALTH_CELERY_TIMEOUT, limit=1)  # first answer is enough
    if not replies:
        raise RuntimeError("no worker answered")
    return f"{len(replies)} worker(s)"


def health_report() -> dict[str, Any]:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    # Celery's ping goes through Redis; without Redis it can only time out.
    checks["celery"] = _timed(_celery) if checks["redis"]["ok"] else {"ok": False, "detail": "redis unreachable"}
    return {"status": "ok" if all(c["ok"] for c in checks.values()) else "unavailable", "checks": checks}
