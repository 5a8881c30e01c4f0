from __future__ import annotations

from tests.simulator.conftest import Store, ingest_worker, platform_url, store, worker_process  # noqa: F401 - shared

__all__ = ["Store"]
