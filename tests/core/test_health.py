from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from cep.celery import app as celery_app


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_every_dependency_ok(client) -> None:
    with start_worker(celery_app, queues=["default"], perform_ping_check=False, shutdown_timeout=10):
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "celery"}
    assert body["checks"]["database"]["detail"].startswith("pgvector")


@pytest.mark.django_db
def test_healthz_is_503_when_no_worker_answers(client, settings) -> None:
    settings.HEALTH_CELERY_TIMEOUT = 0.3
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["celery"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_down(client, settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False
    assert checks["celery"] == {"ok": False, "detail": "redis unreachable"}
