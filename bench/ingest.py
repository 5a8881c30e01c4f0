"""Ingestion benchmark (issue: ingestion and identity).

Measures, on this machine, against the real web server on loopback:
1. durable events/s for /v1/batch with 100 events per request (closed loop, C clients);
2. durable events/s for single /v1/track calls (closed loop, C clients);
3. p50/p95/p99 latency of single /v1/track at fixed arrival rates (open loop);
4. the raw floor: the same rows inserted with plain psycopg (one transaction per 100 rows,
   and one per row), so our throughput is reported as a share of what the database alone does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
import uuid
from typing import Any

import psycopg

from bench.harness import (
    CPU_COLUMNS,
    OPEN_LOOP_CLIENTS,
    HttpClient,
    LoadResult,
    Server,
    bench_database_url,
    bench_redis_url,
    closed_loop,
    cpu_cells,
    flush_bench_redis,
    free_port,
    machine_facts,
    open_loop,
    percentiles,
    post_ok,
    recreate_database,
    write_section,
)

PEOPLE = int(os.environ.get("BENCH_PEOPLE", "2000"))
BATCH_REQUESTS = int(os.environ.get("BENCH_BATCH_REQUESTS", "300"))  # x100 events
NEW_BATCH_REQUESTS = int(os.environ.get("BENCH_NEW_BATCH_REQUESTS", "100"))  # x100 events, each a new person
SINGLE_REQUESTS = int(os.environ.get("BENCH_SINGLE_REQUESTS", "3000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
RATES = [int(r) for r in os.environ.get("BENCH_RATES", "50,100,200,300").split(",")]
RATE_SECONDS = float(os.environ.get("BENCH_RATE_SECONDS", "20"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))

CATEGORIES = ["shoes", "coffee", "books", "garden", "audio", "kitchen"]


def _event(rng: random.Random, person: int | str | None = None) -> dict[str, Any]:
    """One event of the mix, from ``person`` (a random one of the PEOPLE when not given)."""
    if person is None:
        person = rng.randrange(PEOPLE)
    roll = rng.random()
    base: dict[str, Any] = {
        "messageId": str(uuid.uuid4()),
        "userId": f"user-{person}",
        "anonymousId": f"anon-{person}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "context": {"ip": "127.0.0.1", "library": {"name": "bench", "version": "1"}},
    }
    category = CATEGORIES[person % len(CATEGORIES)] if isinstance(person, int) else rng.choice(CATEGORIES)
    if roll < 0.05:
        return {**base, "type": "identify", "traits": {"email": f"user-{person}@example.com", "plan": "gold"}}
    if roll < 0.15:
        return {**base, "type": "page", "name": "Pricing", "properties": {"path": "/pricing"}}
    if roll < 0.20:
        return {
            **base,
            "type": "track",
            "event": "Order Completed",
            "properties": {"revenue": round(rng.uniform(10, 300), 2), "currency": "EUR", "category": category},
        }
    if roll < 0.35:
        return {
            **base,
            "type": "track",
            "event": "Product Added",
            "properties": {"sku": f"SKU-{rng.randrange(500)}", "category": category, "price": 19.9},
        }
    return {
        **base,
        "type": "track",
        "event": "Product Viewed",
        "properties": {"sku": f"SKU-{rng.randrange(500)}", "category": category, "name": "Item"},
    }


def _setup() -> str:
    """Fresh database, migrated, with one workspace; returns its write key."""
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ["REDIS_URL"] = bench_redis_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.selectors import write_key_active
    from accounts.services import user_create, workspace_create

    call_command("migrate", verbosity=0, interactive=False)
    owner = user_create(username="bench", password=uuid.uuid4().hex)
    workspace = workspace_create(name="Bench", owner=owner)
    key = write_key_active(workspace=workspace)
    assert key is not None
    return key.key


def _auth(write_key: str) -> dict[str, str]:
    token = base64.b64encode(f"{write_key}:".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def _phases(server: Server, write_key: str) -> tuple[dict[str, LoadResult], dict[str, int]]:
    """Run each load phase and count the events PostgreSQL holds after it (durable)."""
    url = server.url
    headers = _auth(write_key)
    rng = random.Random(42)

    async def post(client: HttpClient, path: str, body: dict[str, Any]) -> tuple[bool, str]:
        return await post_ok(client, path, json.dumps(body).encode(), headers)

    async def batch(client: HttpClient, _: int) -> tuple[bool, str]:
        return await post(client, "/v1/batch", {"batch": [_event(rng) for _ in range(100)]})

    async def seed(client: HttpClient, i: int) -> tuple[bool, str]:
        people = range(i * 100, min(PEOPLE, (i + 1) * 100))
        events = [
            {
                "type": "identify",
                "messageId": str(uuid.uuid4()),
                "userId": f"user-{person}",
                "anonymousId": f"anon-{person}",
                "traits": {"email": f"user-{person}@example.com", "plan": "gold"},
            }
            for person in people
        ]
        return await post(client, "/v1/batch", {"batch": events})

    async def batch_new(client: HttpClient, _: int) -> tuple[bool, str]:
        return await post(client, "/v1/batch", {"batch": [_event(rng, f"new-{uuid.uuid4()}") for _ in range(100)]})

    async def single(client: HttpClient, _: int) -> tuple[bool, str]:
        event = _event(rng)
        path = {"track": "/v1/track", "page": "/v1/page", "identify": "/v1/identify"}[event["type"]]
        return await post(client, path, event)

    async def track(client: HttpClient, _: int) -> tuple[bool, str]:
        event = _event(rng)
        if event["type"] != "track":
            event = {**event, "type": "track", "event": "Product Viewed", "properties": {"category": "shoes"}}
        return await post(client, "/v1/track", event)

    phases: list[tuple[str, Any]] = [
        # Not reported: every person identified once, then the tables analyzed (below).
        ("seed", lambda: closed_loop(base_url=url, total=-(-PEOPLE // 100), concurrency=4, request=seed)),
        ("warmup", lambda: closed_loop(base_url=url, total=50, concurrency=4, request=single)),
        ("batch", lambda: closed_loop(base_url=url, total=BATCH_REQUESTS, concurrency=CONCURRENCY, request=batch)),
        (
            "batch_new",
            lambda: closed_loop(base_url=url, total=NEW_BATCH_REQUESTS, concurrency=CONCURRENCY, request=batch_new),
        ),
        ("single", lambda: closed_loop(base_url=url, total=SINGLE_REQUESTS, concurrency=CONCURRENCY, request=single)),
        *[
            (
                f"rate_{rate}",
                lambda rate=rate: open_loop(
                    base_url=url,
                    rate=rate,
                    duration_s=RATE_SECONDS,
                    request=track,
                    spread=server.connections_per_worker,
                    cpu=server.cpu_sample,
                ),
            )
            for rate in RATES
        ],
    ]
    results: dict[str, LoadResult] = {}
    stored: dict[str, int] = {}
    for name, run in phases:
        before = _stored_events()
        results[name] = asyncio.run(run())
        stored[name] = _stored_events() - before
        if name == "seed":
            _analyze()
    return results, stored


def _acknowledged(phase: str, result: LoadResult) -> int:
    """Events the API accepted in a phase (every answer was a 200 with all items stored)."""
    if phase == "seed":
        return PEOPLE if result.ok == result.sent else result.ok * 100
    return result.ok * (100 if phase.startswith("batch") else 1)


def _analyze() -> None:
    """What autovacuum does within a minute of a new install's first traffic. Migrations leave
    the new tables recorded as empty (an index built on an empty table sets its row count to 0),
    and until they are analyzed the planner keeps seq-scanning them: every web process's cached
    plans for the identity lookups and the foreign-key checks at commit scan the whole table."""
    with psycopg.connect(bench_database_url(), autocommit=True) as conn:
        conn.execute("ANALYZE")


def _stored_events() -> int:
    with psycopg.connect(bench_database_url()) as conn:
        row = conn.execute("SELECT count(*) FROM events_event").fetchone()
    return int(row[0]) if row else 0


def _raw_floor(sample: int) -> dict[str, Any]:
    """Insert copies of stored rows with plain psycopg into a scratch table shaped like ours."""
    from events.models import Event

    table = Event._meta.db_table
    pk = Event._meta.pk.column
    with psycopg.connect(bench_database_url()) as conn:
        conn.execute(f"CREATE TEMP TABLE floor_events (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)")
        cur = conn.execute(f"SELECT * FROM {table} LIMIT %s", [sample])
        columns = [d.name for d in cur.description]  # type: ignore[union-attr]
        rows = cur.fetchall()
        conn.commit()
        unique_text = [i for i, c in enumerate(columns) if c in ("message_id",)]
        pk_index = columns.index(pk)

        def fresh(row: tuple[Any, ...], n: int) -> tuple[Any, ...]:
            values = list(row)
            values[pk_index] = uuid.uuid4() if isinstance(values[pk_index], uuid.UUID) else 10_000_000 + n
            for i in unique_text:
                values[i] = f"floor-{n}"
            return tuple(_adapt(v) for v in values)

        placeholders = ", ".join(["%s"] * len(columns))
        insert = f"INSERT INTO floor_events ({', '.join(columns)}) VALUES ({placeholders})"
        prepared = [fresh(row, n) for n, row in enumerate(rows)]

        started = time.perf_counter()
        for i in range(0, len(prepared), 100):
            with conn.cursor() as cur:
                cur.executemany(insert, prepared[i : i + 100])
            conn.commit()
        batch_s = time.perf_counter() - started

        conn.execute("TRUNCATE floor_events")
        conn.commit()
        singles = prepared[: min(len(prepared), 3000)]
        latencies = []
        started = time.perf_counter()
        for row in singles:
            t0 = time.perf_counter()
            conn.execute(insert, row)
            conn.commit()
            latencies.append((time.perf_counter() - t0) * 1000)
        single_s = time.perf_counter() - started
    return {
        "rows": len(prepared),
        "batch100_events_per_s": round(len(prepared) / batch_s, 1),
        "single_events_per_s": round(len(singles) / single_s, 1),
        "single_latency_ms": percentiles(latencies),
    }


def _adapt(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value) if isinstance(value, dict | list) else value


def _markdown(facts: dict[str, str], res: dict[str, LoadResult], stored: dict[str, int], floor: dict[str, Any]) -> str:
    batch, batch_new, single = res["batch"], res["batch_new"], res["single"]
    batch_eps = stored["batch"] / batch.wall_s
    new_eps = stored["batch_new"] / batch_new.wall_s
    single_eps = stored["single"] / single.wall_s
    lines = [
        "## Ingestion",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make bench` (`bench/ingest.py`).",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()) + ".",
        f"Server: `python -m cep.serve` (uvicorn) with {WEB_WORKERS} worker processes, `DEBUG=0`, on 127.0.0.1; "
        "the load generator "
        "(`bench.harness.HttpClient`, one process) runs on the same 2 cores, so every figure includes its CPU cost.",
        f"Data: {PEOPLE} people, each identified once before the timed phases, then `ANALYZE` (what autovacuum "
        "does within a minute of a new install's first traffic); mix 65% Product Viewed, 15% Product Added, "
        "5% Order Completed, 10% page, 5% identify; every event carries userId and anonymousId. "
        "The new-people row sends the same mix from people never seen before (each event creates a profile, "
        "two identifiers and a features row). Durable = counted in PostgreSQL after each phase "
        "(and checked equal to what the API acknowledged). "
        "No Celery worker runs: the after-commit tasks queue in Redis.",
        "",
        "| load | requests | events stored | events/s (durable) | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
        f"| `/v1/batch`, 100 events each, {CONCURRENCY} clients closed loop | {batch.sent} | {stored['batch']} | "
        f"{batch_eps:,.0f} | {batch.summary()['p50']} | {batch.summary()['p95']} | {batch.summary()['p99']} | "
        f"{sum(batch.errors.values())} |",
        f"| `/v1/batch`, 100 events each from new people, {CONCURRENCY} clients closed loop | {batch_new.sent} | "
        f"{stored['batch_new']} | {new_eps:,.0f} | {batch_new.summary()['p50']} | {batch_new.summary()['p95']} | "
        f"{batch_new.summary()['p99']} | {sum(batch_new.errors.values())} |",
        f"| single calls (track/page/identify), {CONCURRENCY} clients closed loop | {single.sent} | "
        f"{stored['single']} | {single_eps:,.0f} | {single.summary()['p50']} | {single.summary()['p95']} | "
        f"{single.summary()['p99']} | {sum(single.errors.values())} |",
    ]
    for rate in RATES:
        r = res[f"rate_{rate}"]
        s = r.summary()
        spread = "/".join(str(n) for n in r.connections_per_worker)
        lines.append(
            f"| `/v1/track` open loop at {rate}/s for {RATE_SECONDS:.0f} s (connections per worker {spread}) | "
            f"{r.sent} | {stored[f'rate_{rate}']} | "
            f"{stored[f'rate_{rate}'] / r.wall_s:,.0f} | {s['p50']} | {s['p95']} | {s['p99']} | "
            f"{sum(r.errors.values())} |"
        )
    lines += [
        "",
        "Where the CPU went in the open-loop rows, in milliseconds per request (`bench.harness.cpu_share`): "
        "the web server's processes, PostgreSQL's, Redis's and the load generator's, and how busy the "
        "machine's 2 cores were (steal: time the host gave them to someone else).",
        "",
        f"| `/v1/track` rate | {CPU_COLUMNS} |",
        "|---|---|---|---|---|---|---|",
        *[f"| {rate}/s | {cpu_cells(res[f'rate_{rate}'].cpu)} |" for rate in RATES],
        "",
        "Raw floor: the same rows (copied from what the API stored) inserted by plain psycopg into a table "
        "with the same columns and indexes, one process, no HTTP, no validation, no identity or features:",
        "",
        "| floor | events/s | ratio ours / floor |",
        "|---|---|---|",
        f"| 100 rows per transaction | {floor['batch100_events_per_s']:,.0f} | "
        f"{batch_eps / floor['batch100_events_per_s']:.2f} |",
        f"| 1 row per transaction (p50 {floor['single_latency_ms']['p50']} ms, "
        f"p99 {floor['single_latency_ms']['p99']} ms) | {floor['single_events_per_s']:,.0f} | "
        f"{single_eps / floor['single_events_per_s']:.2f} |",
        "",
        "Targets: batch >= 2,000 events/s durable with features updated; single-event p99 <= 25 ms at 200 events/s.",
        "Latency in the open-loop rows is measured from each request's scheduled start, so queueing is included. "
        f"Their requests rotate over {OPEN_LOOP_CLIENTS} keep-alive connections opened before the clock starts "
        "(least recently used first), like that many storefront clients; the row shows how the connections "
        "landed on the web workers (a listening socket per worker; Linux hashes each connection to one).",
    ]
    return "\n".join(lines)


def main() -> None:
    recreate_database()
    flush_bench_redis()
    write_key = _setup()
    facts = machine_facts()
    with Server(port=free_port(), workers=WEB_WORKERS) as server:
        results, stored = _phases(server, write_key)
    for name, result in results.items():
        acknowledged = _acknowledged(name, result)
        if stored[name] != acknowledged:
            raise SystemExit(f"{name}: {acknowledged} events acknowledged but {stored[name]} stored")
    floor = _raw_floor(min(sum(stored.values()), 20_000))
    flush_bench_redis()  # the "event ingested" tasks no worker consumed during the run
    markdown = _markdown(facts, results, stored, floor)
    raw = write_section(
        name="ingest",
        markdown=markdown,
        data={
            "facts": facts,
            "results": {k: v.summary() for k, v in results.items()},
            "stored": stored,
            "floor": floor,
        },
    )
    print(markdown)
    print(f"raw results: {raw}")


if __name__ == "__main__":
    main()
