"""Runs the whole platform in the foreground: ASGI server, Celery worker and beat.

`make run` calls this inside `python -m cep.embedded run`, which owns PostgreSQL and Redis.
Ctrl-C (or SIGTERM) stops every process started here.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
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


class Command(BaseCommand):
    help = "Migrate, seed the demo workspace, and run web server, Celery worker and beat until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=1)
        parser.add_argument("--worker-concurrency", type=int, default=2)
        parser.add_argument("--no-beat", action="store_true", help="Do not start Celery beat.")

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
                "uvicorn",
                "cep.asgi:application",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(options["web_workers"]),
                "--no-access-log",
                "--lifespan",
                "off",
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
            while not stopping:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        raise CommandError(f"{name} exited with code {proc.returncode}; stopping everything")
                time.sleep(0.5)
        finally:
            for proc in processes.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in processes.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
            self.stdout.write("Stopped.")
