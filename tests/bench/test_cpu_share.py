"""The benchmark's CPU accounting (bench.harness.cpu_sample / cpu_share): what each request cost
the web server, the database and the load generator, and how busy the machine was."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.harness import CPU_COLUMNS, CpuSample, cpu_cells, cpu_sample, cpu_share
from tests.waiting import wait_until


def test_cpu_share_is_per_request_and_per_core() -> None:
    before = CpuSample(wall=10.0, web=1.0, database=2.0, redis=0.5, load=3.0, busy=100.0, steal=4.0)
    after = CpuSample(wall=12.0, web=1.8, database=2.3, redis=0.52, load=3.1, busy=102.4, steal=4.1)

    share = cpu_share(before, after, requests=200, cores=2)

    assert share == {
        "web_ms": 4.0,  # 0.8 s over 200 requests
        "database_ms": 1.5,
        "redis_ms": 0.1,
        "load_ms": 0.5,
        "machine_busy_pct": 60.0,  # 2.4 busy seconds of 2 cores x 2 s
        "steal_pct": 2.5,
    }
    assert cpu_cells(share) == "4.0 | 1.5 | 0.1 | 0.5 | 60 % | 2.5 %"
    assert cpu_cells({}).count("n/a") == len(CPU_COLUMNS.split(" | "))


@pytest.mark.django_db
def test_cpu_sample_counts_the_web_process_tree_and_the_database() -> None:
    # Stands in for the web server: a process that spends about 0.3 s of CPU, then waits.
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        before = cpu_sample(child.pid)
        wait_until(lambda: cpu_sample(child.pid).web >= 0.3, timeout=20, interval=0.1, what="the child's CPU")
        after = cpu_sample(child.pid)
        assert after.load > 0  # this process
        assert after.database > 0  # the test database's PostgreSQL is running
        assert after.busy > before.busy and after.wall > before.wall
    finally:
        child.kill()
        child.wait()
