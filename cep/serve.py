"""Run the web server: ``python -m cep.serve --host 0.0.0.0 --port 8000 --workers N``.

Each web worker is a uvicorn server in its own process (one core each: Python holds a lock
per process). ``uvicorn --workers N`` has them share one listening socket, and whichever
process's event loop wakes first accepts every connection waiting, so connections, not
requests, are spread, and unevenly: 128 connections opened one at a time to two workers landed
87/41 in the benchmark, and two or three kept-alive connections (a proxy's pool, a busy
client) all landed on one worker while the other idled. Here every worker listens on its own
``SO_REUSEPORT`` socket on the same port and Linux hashes each new connection to one of them
(the same 128 landed 65/63).

The supervisor restarts a worker that dies, stops them all on SIGINT or SIGTERM (uvicorn's
graceful shutdown, then a kill after ``--graceful-timeout``), and gives up if a worker dies
within its first seconds (a broken start would only loop). With one worker, or where
``SO_REUSEPORT`` does not balance (anything but Linux), it runs plain uvicorn.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

logger = logging.getLogger("cep.serve")

APP = "cep.asgi:application"


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    workers: int
    log_level: str = "info"
    access_log: bool = False
    graceful_timeout: float = 20.0
    startup_grace: float = 10.0  # a worker that dies sooner than this after its start failed to start


def uvicorn_config(options: Options) -> dict[str, Any]:
    return {
        "host": options.host,
        "port": options.port,
        "lifespan": "off",  # Django has no lifespan handlers
        "access_log": options.access_log,
        "log_level": options.log_level,
        "timeout_graceful_shutdown": options.graceful_timeout,
    }


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket of its own, in the port's ``SO_REUSEPORT`` group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(options: Options) -> None:  # pragma: no cover - runs in the worker process
    import uvicorn

    from core.broker import push_in_background, task_pushes_flush

    push_in_background()  # after-commit task messages leave from a thread: requests do not wait for Redis
    sock = listening_socket(options.host, options.port)
    uvicorn.Server(uvicorn.Config(APP, **uvicorn_config(options))).run(sockets=[sock])
    task_pushes_flush()  # what the last requests handed over goes out before the process ends


def port_in_use(host: str, port: int) -> bool:
    """Something already answers there. ``SO_REUSEPORT`` would let a second copy of the platform
    (same user) join the first one's port silently and take half its connections."""
    target = "127.0.0.1" if host in {"0.0.0.0", ""} else "::1" if host == "::" else host  # noqa: S104
    with socket.socket(socket.AF_INET6 if ":" in target else socket.AF_INET) as probe:
        probe.settimeout(1)
        return probe.connect_ex((target, port)) == 0


class Supervisor:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing forked mid-state
        self.workers: list[tuple[BaseProcess, float]] = []  # (process, started at)
        self.stopping = False

    def _start_one(self) -> tuple[BaseProcess, float]:
        process = self.context.Process(target=_worker, args=(self.options,), name="cep-web")
        process.start()
        return process, time.monotonic()

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        self.workers = [self._start_one() for _ in range(self.options.workers)]
        logger.info(
            "serving %s on http://%s:%d with %d workers (SO_REUSEPORT), supervisor pid %d",
            APP,
            self.options.host,
            self.options.port,
            self.options.workers,
            os.getpid(),
        )
        code = 0
        try:
            while not self.stopping:
                time.sleep(0.2)
                for index, (process, started) in enumerate(self.workers):
                    if process.is_alive() or self.stopping:
                        continue
                    if time.monotonic() - started < self.options.startup_grace:
                        logger.error(
                            "worker %s failed to start (exit code %s); stopping", process.pid, process.exitcode
                        )
                        self.stopping, code = True, 1
                        break
                    logger.warning("worker %s exited with code %s; starting another", process.pid, process.exitcode)
                    self.workers[index] = self._start_one()
        finally:
            self._shutdown()
        return code

    def _shutdown(self) -> None:
        for process, _ in self.workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.options.graceful_timeout + 5
        for process, _ in self.workers:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cep.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument("--access-log", action="store_true", help="Log every request (off by default).")
    parser.add_argument("--graceful-timeout", type=float, default=20.0, help="Seconds to finish requests on stop.")
    parser.add_argument(
        "--startup-grace", type=float, default=10.0, help="A worker that dies sooner than this failed to start."
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    options = Options(
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        graceful_timeout=args.graceful_timeout,
        startup_grace=args.startup_grace,
    )
    # Its own handler: importing the `cep` package sets up Celery, which may configure logging.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(args.log_level.upper())
    logger.propagate = False
    if port_in_use(options.host, options.port):
        logger.error("something already answers on %s:%d; not starting a second server there", args.host, args.port)
        return 1
    if options.workers == 1 or not sys.platform.startswith("linux"):
        import uvicorn

        uvicorn.run(APP, workers=options.workers, **uvicorn_config(options))
        return 0
    return Supervisor(options).run()


if __name__ == "__main__":
    sys.exit(main())
