"""Runs the whole platform in the foreground: ASGI server, Celery worker and beat, and the
storefront simulator against the demo workspace (off with --no-simulator).

`make run` calls this inside `python -m cep.embedded run`, which owns PostgreSQL and Redis.
Ctrl-C (or SIGTERM) stops every process started here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cep.demo import demo_seed

QUEUES = "default,ingest,decisions,training,delivery"


def _wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _warm_up(url: str, timeout: float) -> None:
    """One request through the whole stack, so Django is loaded before anyone (the simulator, a
    person) is told the platform is up: the first request imports and connects everything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=max(1.0, deadline - time.monotonic())):  # noqa: S310 - our own URL
                return
        except urllib.error.HTTPError:
            return  # it answered (a 503 says a dependency is still starting, which is fine here)
        except OSError:
            time.sleep(0.5)


class Command(BaseCommand):
    help = "Migrate, seed the demo workspace, and run web server, Celery worker, beat and the simulator until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=1)
        parser.add_argument("--worker-concurrency", type=int, default=2)
        parser.add_argument("--no-beat", action="store_true", help="Do not start Celery beat.")
        parser.add_argument(
            "--no-simulator", action="store_true", help="Do not start the storefront simulator (SIMULATE=0 make run)."
        )
        parser.add_argument("--simulator-rate", type=float, default=2.0, help="Simulated visits per second.")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        call_command("migrate", interactive=False, verbosity=0)
        creds = demo_seed()
        python = sys.executable
        var = Path(settings.VAR_DIR)
        var.mkdir(parents=True, exist_ok=True)
        commands = {
            "web": [
                python,
                "-m",
                "cep.serve",  # uvicorn, a listening socket per worker process (cep/serve.py)
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(options["web_workers"]),
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "cep",
                "worker",
                "-Q",
                QUEUES,
                "--loglevel",
                "INFO",
                "--concurrency",
                str(options["worker_concurrency"]),
                "-n",
                f"worker-{port}@%h",
            ],
        }
        if not options["no_beat"]:
            commands["beat"] = [
                python,
                "-m",
                "celery",
                "-A",
                "cep",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(var / f"celerybeat-schedule-{port}"),
            ]
        processes: dict[str, subprocess.Popen[bytes]] = {}
        self._extra: list[subprocess.Popen[bytes]] = []  # started later; stopped with the rest
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                processes[name] = subprocess.Popen(command)
            if not _wait_for_port(host, port, timeout=60):
                raise CommandError(f"the web server did not start listening on {host}:{port}")
            local = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104
            _warm_up(f"http://{local}:{port}/healthz", timeout=60)
            display_host = "localhost" if host in {"127.0.0.1", "0.0.0.0"} else host  # noqa: S104
            lines = [
                f"URL: http://{display_host}:{port}/",
                f"Login: {creds.username} / {creds.password}",
                f"Write key: {creds.write_key}",
                f"Secret key: {creds.secret_key}",
                "Press Ctrl-C to stop.",
            ]
            self.stdout.write("\n".join(lines))
            self.stdout.flush()
            simulator = None
            if not options["no_simulator"]:
                simulator = self._start_simulator(host, port, creds.write_key, creds.secret_key, options)
            while not stopping:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        raise CommandError(f"{name} exited with code {proc.returncode}; stopping everything")
                simulator = self._still_running(simulator)
                time.sleep(0.5)
        finally:
            everything = [*self._extra, *processes.values()]  # the simulator first: it talks to the rest
            for proc in everything:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in everything:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
            self.stdout.write("Stopped.")

    def _still_running(self, simulator: subprocess.Popen[bytes] | None) -> subprocess.Popen[bytes] | None:
        """The demo's traffic is a nicety: when the simulator stops, the platform runs on."""
        if simulator is not None and simulator.poll() is not None:
            self.stderr.write(f"The simulator exited with code {simulator.returncode}; the platform runs on.")
            return None
        return simulator

    def _start_simulator(
        self, host: str, port: int, write_key: str, secret_key: str, options: dict[str, Any]
    ) -> subprocess.Popen[bytes]:
        """The storefront simulator, once the web server answers: shoppers browse, cart, buy and
        react to the decisions through the public APIs, so the dashboards move within seconds.
        Keys go through the environment, not the command line (process listings show arguments)."""
        target = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104 - a local client
        env = {**os.environ, "CEP_SIM_WRITE_KEY": write_key, "CEP_SIM_SECRET_KEY": secret_key}
        command = [
            sys.executable,
            "manage.py",
            "simulate",
            "--url",
            f"http://{target}:{port}",
            "--rate",
            str(options["simulator_rate"]),
            "--forever",
        ]
        proc = subprocess.Popen(command, env=env, cwd=str(Path(settings.BASE_DIR)))
        self._extra.append(proc)
        self.stdout.write(f"Simulator: {options['simulator_rate']:g} visits/s against the demo workspace.")
        self.stdout.flush()
        return proc
