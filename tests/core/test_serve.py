"""The web server launcher (cep/serve.py): one SO_REUSEPORT socket per worker process, so Linux
spreads connections over the workers; a dead worker is replaced; SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import requests

from tests.live import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")


def _launch(port: int, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "cep.serve", "--port", str(port), "--log-level", "warning", *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _web_workers(proc: subprocess.Popen[str], port: int) -> dict[int, int]:
    """pid -> established connections, for each child process listening on the port."""
    workers = {}
    for child in psutil.Process(proc.pid).children():
        try:
            mine = [c for c in child.net_connections(kind="tcp") if c.laddr.port == port]
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN for c in mine):
            workers[child.pid] = sum(1 for c in mine if c.status == psutil.CONN_ESTABLISHED)
    return workers


@contextmanager
def _server(workers: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    proc = _launch(port, "--workers", str(workers), "--startup-grace", "2")
    try:
        wait_until(lambda: len(_web_workers(proc, port)) == workers, timeout=60, interval=0.2)
        yield proc, port
    finally:
        if proc.poll() is None:
            leftovers = psutil.Process(proc.pid).children(recursive=True)
            proc.kill()
            proc.wait(10)
            for child in leftovers:
                if child.is_running():
                    child.kill()


def _listening_socket_inodes(proc: subprocess.Popen[str], port: int) -> set[str]:
    inodes = set()
    for pid in _web_workers(proc, port):
        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                inodes.add(os.readlink(f"/proc/{pid}/fd/{conn.fd}"))
    return inodes


def test_each_worker_listens_on_its_own_socket_and_connections_spread_over_them() -> None:
    with _server(workers=2) as (proc, port):
        # `uvicorn --workers` shares one socket, and the worker that wakes first accepts
        assert len(_listening_socket_inodes(proc, port)) == 2
        # A burst of connects: with one shared socket, the first worker to wake accepts them all.
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(48)]
        try:
            wait_until(lambda: sum(_web_workers(proc, port).values()) == 48, timeout=10, interval=0.2)
            counts = sorted(_web_workers(proc, port).values())
            assert len(counts) == 2
            assert counts[0] >= 8, counts  # a hash split; 48 coin flips fall below 8 about once in 10^5
        finally:
            for sock in sockets:
                sock.close()

        answers = [
            requests.options(
                f"http://127.0.0.1:{port}/v1/track",
                headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
                timeout=10,
            )
            for _ in range(4)
        ]
        assert all(answer.ok and answer.headers.get("Access-Control-Allow-Origin") == "*" for answer in answers)


def test_a_dead_worker_is_replaced_and_sigterm_stops_everything() -> None:
    with _server(workers=2) as (proc, port):
        time.sleep(2.5)  # past the startup grace: a death now is a crash, not a failed start
        victim = next(iter(_web_workers(proc, port)))
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            workers = _web_workers(proc, port)  # one look: the victim lingers a moment after the kill
            return len(workers) == 2 and victim not in workers

        wait_until(replaced, timeout=60, interval=0.2)

        workers = [psutil.Process(pid) for pid in _web_workers(proc, port)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not [worker for worker in workers if worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE]
        assert proc.stdout is not None
        assert f"worker {victim} exited with code -9; starting another" in proc.stdout.read()


def test_a_worker_that_cannot_start_stops_the_server_with_an_error() -> None:
    port = free_port()
    with socket.socket() as squatter:  # holds the port without SO_REUSEPORT and without listening
        squatter.bind(("127.0.0.1", port))
        proc = _launch(port, "--workers", "2")
        try:
            assert proc.wait(60) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.stdout is not None
    assert "failed to start" in proc.stdout.read()


def test_it_refuses_a_port_something_already_answers_on() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        proc = _launch(port, "--workers", "2")
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "already answers" in out
