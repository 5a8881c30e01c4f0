from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from accounts.models import Workspace
from accounts.selectors import write_key_active
from cep.celery import app as celery_app
from decisions.defaults import catalog_defaults_install
from decisions.services import guardrails_save
from tests.factories import make_secret_key
from tests.live import asgi_server, database_url


@pytest.fixture
def platform_url(transactional_db: None) -> Iterator[str]:
    """The real ASGI app (cep.asgi) under uvicorn in a thread on 127.0.0.1, as `make run` serves it."""
    with asgi_server() as url:
        yield url


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_process(transactional_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker in a process of its own (queues ingest and decisions) on the test
    database: it attributes orders while the simulator runs, without sharing this process's GIL
    with the web server and the simulator."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DB_POOL_MAX_SIZE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "cep", "worker", "-Q", "ingest,decisions", "--concurrency", "2",
               "--loglevel", "WARNING", "-n", f"sim-test-{os.getpid()}@%h"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def ingest_worker(transactional_db: None) -> Iterator[None]:
    """A real Celery worker thread for the domain events (attribution) and bandit learning."""
    with start_worker(celery_app, queues=["ingest", "decisions"], perform_ping_check=False, shutdown_timeout=20):
        yield


@dataclass
class Store:
    workspace: Workspace
    write_key: str
    secret_key: str


@pytest.fixture
def store(transactional_db: None) -> Store:
    """A workspace with the starter catalog, as the demo has it; quiet hours and contact caps off
    so what is measured does not depend on the clock (a run compresses weeks into seconds)."""
    from tests.factories import make_workspace

    workspace = make_workspace(name="Sim Store")
    catalog_defaults_install(workspace=workspace, actor=None)
    guardrails_save(
        workspace=workspace,
        actor=None,
        contact_policy={
            "quiet_start": None,
            "quiet_end": None,
            "per_channel_day": {},
            "per_channel_week": {},
            "overall_day": 1000,
            "overall_week": 1000,
        },
    )
    key = write_key_active(workspace=workspace)
    assert key is not None
    return Store(workspace=workspace, write_key=key.key, secret_key=make_secret_key(workspace=workspace))
