"""Shared benchmark machinery: a scratch database, the platform's web server as a subprocess,
open- and closed-loop HTTP load on loopback (with a minimal HTTP/1.1 client, ``HttpClient``),
percentiles, and the report writer.

Every load loop here is bounded by a request count or a duration, and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE_NAME", "cep_bench")
# Open-loop load comes from this many keep-alive connections, like that many storefront clients
# (browsers or SDK instances) each sending now and then, not one client firing them all.
OPEN_LOOP_CLIENTS = int(os.environ.get("BENCH_CLIENTS", "128"))


def admin_dsn() -> str:
    from cep.embedded import DEFAULT_DATABASE_URL

    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    return base.rsplit("/", 1)[0] + "/postgres"


def bench_database_url() -> str:
    return admin_dsn().rsplit("/", 1)[0] + f"/{BENCH_DB}"


def recreate_database() -> None:
    """Drop and create the benchmark database. Django's own connections to it (a scenario run
    before this one in the same process) are closed first: dropping it ends them server-side."""
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}" TEMPLATE template1')


def bench_redis_url() -> str:
    """Redis database 4: the benchmark's tasks never reach a `make run` worker (database 0)."""
    from cep.embedded import HOST, REDIS_PORT

    return os.environ.get("BENCH_REDIS_URL", f"redis://{HOST}:{REDIS_PORT}/4")


def flush_bench_redis() -> None:
    import redis

    redis.Redis.from_url(bench_redis_url()).flushdb()


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": bench_database_url(),
        "REDIS_URL": bench_redis_url(),
        "TRACKING_RATE_LIMIT_PER_SECOND": "0",  # measure the platform, not the limiter
        "DEBUG": "0",  # no query log, production code paths
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    port: int
    workers: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "cep.serve",  # how the platform is run: uvicorn, a listening socket per worker process
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env(), start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.2)
        raise RuntimeError("benchmark server did not start")

    def connections_per_worker(self) -> list[int]:
        """Established client connections each web worker process holds, busiest first."""
        import psutil

        if self.proc is None:
            return []
        counts = []
        for worker in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                connections = worker.net_connections(kind="tcp")
            except psutil.Error:
                continue
            mine = [c for c in connections if c.laddr.port == self.port]
            if any(c.status == psutil.CONN_LISTEN for c in mine):  # a web worker, not a helper process
                counts.append(sum(1 for c in mine if c.status == psutil.CONN_ESTABLISHED))
        return sorted(counts, reverse=True)

    def cpu_sample(self) -> CpuSample:
        return cpu_sample(self.proc.pid if self.proc is not None else None)

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    if not samples_ms:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return round(ordered[index], 2)

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": round(ordered[-1], 2)}


_DATABASE_NAMES = ("postgres",)
_REDIS_NAMES = ("redis-server", "valkey-server")


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds spent so far, by who spent them, at one moment (``cpu_sample``)."""

    wall: float  # time.perf_counter()
    web: float  # the web server: its supervisor and every worker process
    database: float  # every PostgreSQL process (backends, WAL writer, checkpointer...)
    redis: float
    load: float  # this process: the load generator
    busy: float  # the whole machine, every core: user, nice, system, irq, softirq
    steal: float  # time the hypervisor gave this machine's cores to someone else


def _cpu_seconds(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def cpu_sample(web_pid: int | None) -> CpuSample:
    """Where the machine's CPU has gone so far. Two samples around a load phase tell what each
    request cost, the load generator and the database included (``cpu_share``): on a machine
    whose 2 cores run all of them, that is what latency at a rate depends on."""
    import psutil

    web = 0.0
    if web_pid is not None:
        try:
            root = psutil.Process(web_pid)
            for process in [root, *root.children(recursive=True)]:
                web += _cpu_seconds(process)
        except psutil.Error:
            pass
    database = redis_cpu = 0.0
    for process in psutil.process_iter(["name"]):
        name = process.info["name"] or ""
        try:
            if name.startswith(_DATABASE_NAMES):
                database += _cpu_seconds(process)
            elif name.startswith(_REDIS_NAMES):
                redis_cpu += _cpu_seconds(process)
        except psutil.Error:  # gone meanwhile (a PostgreSQL backend that ended)
            pass
    machine = psutil.cpu_times()
    interrupts = getattr(machine, "irq", 0.0) + getattr(machine, "softirq", 0.0)
    busy = machine.user + machine.nice + machine.system + interrupts
    return CpuSample(
        wall=time.perf_counter(),
        web=web,
        database=database,
        redis=redis_cpu,
        load=_cpu_seconds(psutil.Process()),
        busy=busy,
        steal=getattr(machine, "steal", 0.0),
    )


def cpu_share(before: CpuSample, after: CpuSample, *, requests: int, cores: int | None = None) -> dict[str, float]:
    """Milliseconds of CPU per request spent by the web server, the database, Redis and the load
    generator between two samples, and how busy the machine was (percent of all its cores)."""
    cores = cores or os.cpu_count() or 1
    wall = max(after.wall - before.wall, 1e-9)
    per = max(requests, 1)

    def ms(name: str) -> float:
        return round((getattr(after, name) - getattr(before, name)) * 1000 / per, 2)

    return {
        "web_ms": ms("web"),
        "database_ms": ms("database"),
        "redis_ms": ms("redis"),
        "load_ms": ms("load"),
        "machine_busy_pct": round((after.busy - before.busy) / (wall * cores) * 100, 1),
        "steal_pct": round((after.steal - before.steal) / (wall * cores) * 100, 1),
    }


CPU_COLUMNS = "web ms | PostgreSQL ms | Redis ms | load generator ms | machine busy | steal"


def cpu_cells(cpu: dict[str, float]) -> str:
    """``cpu_share`` as report cells under ``CPU_COLUMNS``."""
    if not cpu:
        return " | ".join(["n/a"] * 6)
    return (
        f"{cpu['web_ms']} | {cpu['database_ms']} | {cpu['redis_ms']} | {cpu['load_ms']} | "
        f"{cpu['machine_busy_pct']:.0f} % | {cpu['steal_pct']:.1f} %"
    )


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    connections_per_worker: list[int] = field(default_factory=list)  # open loop: how the clients spread
    cpu: dict[str, float] = field(default_factory=dict)  # open loop: CPU per request, by who spent it (cpu_share)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "wall_s": round(self.wall_s, 3),
            "connections_per_worker": self.connections_per_worker,
            "cpu": self.cpu,
            **percentiles(self.latencies_ms),
        }


class HttpClient:
    """A minimal HTTP/1.1 client for load generation: keep-alive connections to one loopback
    server, at most ``limit`` requests in flight, the whole request written at once, the answer
    read by Content-Length (or chunks). The load generator shares the machine's cores with the
    server, so its own cost is part of every figure: aiohttp spent about a millisecond of CPU per
    request here, this client a fraction of that. Errors surface as ``ConnectionError`` or
    ``asyncio.IncompleteReadError`` (both ``OSError``/``EOFError``), and the connection is dropped.

    Idle connections are reused least recently used first, so the requests rotate over every
    connection ``connect`` opened, as they would from that many independent clients. (Reusing the
    most recent one instead sent a whole open-loop run down the one or two connections it ever
    needed, so one web worker process served everything while the other idled.)"""

    def __init__(self, base_url: str, *, limit: int) -> None:
        rest = base_url.split("://", 1)[-1].rstrip("/")
        host, _, port = rest.partition(":")
        self.host, self.port = host, int(port or 80)
        self._host_header = f"Host: {rest}\r\n".encode()
        self._idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self._slots = asyncio.Semaphore(limit)

    async def connect(self, clients: int) -> None:
        """Open ``clients`` keep-alive connections up front, one at a time."""
        for _ in range(clients):
            self._idle.append(await asyncio.open_connection(self.host, self.port))

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        message = self._head(method, path, body, headers or {})
        async with self._slots:
            while self._idle:  # a kept-alive connection the server may have closed meanwhile
                reader, writer = self._idle.popleft()
                try:
                    writer.write(message)
                    status_line = await reader.readuntil(b"\r\n")
                except (OSError, asyncio.IncompleteReadError):
                    writer.close()  # closed while idle, before it read anything of ours: take another
                    continue
                return await self._finish(reader, writer, status_line)
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(message)
            return await self._finish(reader, writer, None)

    async def _finish(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status_line: bytes | None
    ) -> tuple[int, bytes]:
        try:
            status, content, reusable = await self._answer(reader, status_line)
        except BaseException:
            writer.close()
            raise
        if reusable:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return status, content

    def _head(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        head.extend(f"{name}: {value}\r\n".encode() for name, value in headers.items())
        head.append(f"Content-Length: {len(body)}\r\n\r\n".encode())
        return b"".join(head) + body

    @staticmethod
    async def _answer(reader: asyncio.StreamReader, status_line: bytes | None) -> tuple[int, bytes, bool]:
        status_line = status_line or await reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, reusable = 0, False, True
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                reusable = value.strip().lower() != b"close"
        if not chunked:
            return status, await reader.readexactly(length), reusable
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer
        return status, b"".join(parts), reusable

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


RequestFn = Callable[[HttpClient, int], Awaitable[tuple[bool, str]]]
LOAD_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


async def post_ok(
    client: HttpClient, path: str, body: bytes, headers: dict[str, str], *, method: str = "POST"
) -> tuple[bool, str]:
    """One request as a load-loop step: (answered 200?, what went wrong)."""
    try:
        status, _ = await client.request(method, path, body, headers)
    except LOAD_ERRORS as exc:
        return False, type(exc).__name__
    return status == 200, f"HTTP {status}"


async def closed_loop(*, base_url: str, total: int, concurrency: int, request: RequestFn) -> LoadResult:
    """`concurrency` clients each send their next request when the previous one answered."""
    result = LoadResult()
    counter = iter(range(total))
    http = HttpClient(base_url, limit=concurrency)

    async def client() -> None:
        for i in counter:
            started = time.perf_counter()
            result.sent += 1
            ok, what = await request(http, i)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            if ok:
                result.ok += 1
            else:
                result.error(what)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client() for _ in range(concurrency)))
    finally:
        http.close()
    result.wall_s = time.perf_counter() - started
    return result


async def open_loop(
    *,
    base_url: str,
    rate: float,
    duration_s: float,
    request: RequestFn,
    max_in_flight: int = 512,
    clients: int = OPEN_LOOP_CLIENTS,
    spread: Callable[[], list[int]] | None = None,
    cpu: Callable[[], CpuSample] | None = None,
) -> LoadResult:
    """Requests start on a fixed schedule whatever the server does (no coordinated omission):
    each latency is measured from the request's scheduled start, so queueing counts. They rotate
    over ``clients`` connections opened before the clock starts (more open if all are busy);
    ``spread`` (``Server.connections_per_worker``) records how those landed on the workers, and
    ``cpu`` (``Server.cpu_sample``) where the CPU went while they ran (``cpu_share``)."""
    result = LoadResult()
    total = int(rate * duration_s)
    interval = 1.0 / rate
    http = HttpClient(base_url, limit=max_in_flight)
    in_flight: set[asyncio.Task[None]] = set()

    async def one(i: int, scheduled: float) -> None:
        ok, what = await request(http, i)
        result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
        if ok:
            result.ok += 1
        else:
            result.error(what)

    try:
        await http.connect(clients)
        if spread is not None:
            await asyncio.sleep(0.05)  # let the last connects be accepted
            result.connections_per_worker = spread()
        before = cpu() if cpu is not None else None
        start = time.perf_counter()
        for i in range(total):
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                result.error("client in-flight cap reached")
                continue
            result.sent += 1
            task = asyncio.create_task(one(i, scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=60)
        if before is not None and cpu is not None:
            result.cpu = cpu_share(before, cpu(), requests=result.sent)
    finally:
        http.close()
    result.wall_s = time.perf_counter() - start
    return result


def cpu_probe_ms() -> float:
    """Median of 7 timings of a fixed pure-Python loop: how fast this machine runs right now.
    Its speed moves by a third from hour to hour (shared host), so every report carries it."""
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i * i
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def machine_facts() -> dict[str, str]:
    cpu = "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text()
        match = re.search(r"model name\s*:\s*(.+)", text)
        cpu = match.group(1).strip() if match else cpu
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    import django

    with psycopg.connect(admin_dsn()) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        vec = conn.execute("SELECT default_version FROM pg_available_extensions WHERE name='vector'").fetchone()
    import redis
    from django.conf import settings

    info = redis.Redis.from_url(settings.REDIS_URL).info("server")
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": f"{pg} (pgvector {vec[0] if vec else 'n/a'})",
        "redis": f"{'valkey ' + info.get('valkey_version', '') if 'valkey_version' in info else 'redis'} "
        f"{info.get('redis_version', '')}".strip(),
        "cpu probe": f"{cpu_probe_ms()} ms for a fixed Python loop, median of 7 (lower is faster)",
    }


def write_section(*, name: str, markdown: str, data: dict[str, Any]) -> Path:
    """Replace this benchmark's section of docs/benchmarks.md and keep the raw JSON in var/bench/."""
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    raw.write_text(json.dumps(data, indent=2, default=str))
    doc = ROOT / "docs" / "benchmarks.md"
    header = "# Benchmarks\n\nGenerated by `make bench`; each section is rewritten by its scenario.\n"
    text = doc.read_text() if doc.exists() else header
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
    return raw
