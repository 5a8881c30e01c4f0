"""Run the storefront simulator against a platform over HTTP (docs/simulator.md).

Without keys it uses the demo workspace's (var/demo-credentials.json, written by `demo_seed`);
keys can also come from the environment (CEP_SIM_WRITE_KEY, CEP_SIM_SECRET_KEY), which is how
`run_platform` passes them, so they never show in a process listing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulator.runner import SimulatorConfig, simulate
from simulator.shoppers import SITUATIONS


def _mix(text: str) -> dict[str, float] | None:
    if not text:
        return None
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in SITUATIONS:
            raise CommandError(f"unknown situation {name!r}; use {', '.join(SITUATIONS)}")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            raise CommandError(f"weight of {name!r} must be a number") from None
    return mix


class Command(BaseCommand):
    help = "Simulate storefront shoppers against the platform's public APIs until stopped or bounded."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--write-key", default="", help="Default: CEP_SIM_WRITE_KEY or the demo's")
        parser.add_argument("--secret-key", default="", help="Default: CEP_SIM_SECRET_KEY or the demo's")
        parser.add_argument("--rate", type=float, default=2.0, help="Visits per second (0: as fast as possible)")
        parser.add_argument("--sessions", type=int, default=None, help="Stop after this many visits")
        parser.add_argument("--duration", type=float, default=None, help="Stop after this many seconds")
        parser.add_argument("--seed", type=int, default=None, help="Default: a new seed each run")
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--mix", default="", help="Situation weights, e.g. browse=0.5,cart=0.5")
        parser.add_argument("--forever", action="store_true", help="Run until Ctrl-C (what `make run` does)")

    def handle(self, *args: Any, **options: Any) -> None:
        write_key = options["write_key"] or os.environ.get("CEP_SIM_WRITE_KEY", "")
        secret_key = options["secret_key"] or os.environ.get("CEP_SIM_SECRET_KEY", "")
        if not (write_key and secret_key):
            path = settings.DEMO_CREDENTIALS_FILE
            if not path.exists():
                raise CommandError(f"no keys given and no demo credentials at {path}: run `manage.py demo_seed`")
            stored = json.loads(path.read_text())
            write_key = write_key or stored.get("write_key", "")
            secret_key = secret_key or stored.get("secret_key", "")
        sessions, duration = options["sessions"], options["duration"]
        if options["forever"]:
            duration = duration or 10 * 365 * 86400.0  # bounded in principle; Ctrl-C in practice
        if sessions is None and duration is None:
            raise CommandError("give --sessions, --duration or --forever")
        seed = options["seed"] if options["seed"] is not None else int.from_bytes(os.urandom(3), "big")
        config = SimulatorConfig(
            url=options["url"],
            write_key=write_key,
            secret_key=secret_key,
            seed=seed,
            rate=options["rate"],
            sessions=sessions,
            duration=duration,
            concurrency=options["concurrency"],
            mix=_mix(options["mix"]),
        )
        stop = threading.Event()
        # Ctrl-C or SIGTERM ends the loop cleanly (queued messages are still sent); the previous
        # handlers come back afterwards (the command may run inside another program).
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        logging.getLogger("simulator").setLevel(logging.WARNING)
        self.stdout.write(f"Simulator: seed {seed}, {config.rate:g} visits/s against {config.url}")
        self.stdout.flush()
        try:
            report = simulate(config, stop=stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(report.summary())
