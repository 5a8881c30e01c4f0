"""Decision benchmark (issue: decision engine).

1. In process, the engine alone: ``decisions.engine.decide`` on a prepared snapshot with 50
   candidate actions (eligibility conditions, guardrails, Thompson sampling with the logged
   propensity estimated from 256 extra draws, explanation).
2. In process with the database: ``decision_make`` for one person (load profile, features,
   scores, contacts and suppressions under the person's lock, decide, insert the decision).
3. Over HTTP at fixed arrival rates (open loop): ``POST /v1/decide`` beside the framework
   floor, ``GET /api/v1/ping/`` (a trivial endpoint behind the same secret-key authentication).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.harness import (
    CPU_COLUMNS,
    OPEN_LOOP_CLIENTS,
    HttpClient,
    LoadResult,
    Server,
    bench_database_url,
    bench_redis_url,
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

ACTIONS = int(os.environ.get("BENCH_ACTIONS", "50"))
PEOPLE = int(os.environ.get("BENCH_DECIDE_PEOPLE", "1000"))
ENGINE_CALLS = int(os.environ.get("BENCH_ENGINE_CALLS", "5000"))
DB_CALLS = int(os.environ.get("BENCH_DB_CALLS", "1000"))
RATES = [int(r) for r in os.environ.get("BENCH_DECIDE_RATES", "50,100,200").split(",")]
RATE_SECONDS = float(os.environ.get("BENCH_RATE_SECONDS", "20"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
CHANNELS = ["email", "in_app", "push", "sms"]
KINDS = ["offer", "message", "service", "retention"]


def _action_values(i: int) -> dict[str, Any]:
    return {
        "key": f"action-{i}",
        "name": f"Action {i}",
        "channel": CHANNELS[i % 4],
        "kind": KINDS[i % 4],
        "subject": "For you",
        "content": f"Hi {{traits.first_name|there}}, offer {i}",
        "value_model": "fixed",
        "value_amount": 20 + i,
        "cost": 0.5,
        # Every bench person (plan gold, no churn score yet) is eligible for every action, so each
        # decision really weighs 50 candidates: rendering, guardrails, Thompson sampling.
        "eligibility": f"traits.plan in ['gold', 'silver'] and not (scores.churn > 0.{9 - i % 5})",
        "risk_tier": "low",
    }


def _setup() -> tuple[str, str, list[str]]:
    """Fresh database with a workspace, 50 actions, a live policy and PEOPLE people with consent."""
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ["REDIS_URL"] = bench_redis_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.selectors import write_key_active
    from accounts.services import secret_key_create, user_create, workspace_create
    from decisions.services import action_save, guardrails_save, policy_save
    from events.services import event_batch_ingest
    from events.validation import validate_batch

    call_command("migrate", verbosity=0, interactive=False)
    owner = user_create(username="bench", password=uuid.uuid4().hex)
    workspace = workspace_create(name="Bench", owner=owner)
    _, secret = secret_key_create(workspace=workspace, name="bench", actor=owner)
    for i in range(ACTIONS):
        action_save(workspace=workspace, actor=owner, values=_action_values(i))
    policy_save(
        workspace=workspace, actor=owner, values={"key": "main", "name": "Main", "status": "live", "holdout_share": 0.1}
    )
    guardrails_save(workspace=workspace, actor=owner, contact_policy={"quiet_start": None, "quiet_end": None})
    users = [f"user-{i}" for i in range(PEOPLE)]
    for start in range(0, len(users), 200):
        batch = [
            {
                "type": "identify",
                "userId": user,
                "messageId": str(uuid.uuid4()),
                "traits": {"first_name": user, "plan": "gold", "consent": dict.fromkeys(CHANNELS, True)},
            }
            for user in users[start : start + 200]
        ]
        messages, errors = validate_batch({"batch": batch}, received_at=datetime.now(UTC))
        assert not errors, errors
        event_batch_ingest(workspace=workspace, messages=messages)
    key = write_key_active(workspace=workspace)
    assert key is not None
    return secret, str(workspace.id), users


def _engine_only() -> dict[str, float]:
    from decisions.engine import ActionSpec, Snapshot, decide

    actions = [
        ActionSpec(
            key=v["key"],
            name=v["name"],
            channel=v["channel"],
            kind=v["kind"],
            subject=v["subject"],
            content=v["content"],
            value_model="fixed",
            value_amount=float(v["value_amount"]),
            value_share=0.0,
            value_expression="",
            cost=0.5,
            discount_percent=None,
            eligibility=v["eligibility"],
            risk_tier="low",
            autonomy="act_alone",
        )
        for v in map(_action_values, range(ACTIONS))
    ]
    snapshot = Snapshot(
        person="Ana",
        data={
            "traits": {"first_name": "Ana", "plan": "gold"},
            "features": {"count_7d": 3},
            "scores": {"conversion": 0.3, "churn": 0.2},
            "context": {},
            "profile": {"id": "x"},
        },
        actions=actions,
        arms={},
        consent=dict.fromkeys(CHANNELS, True),
        timezone="Europe/Lisbon",
        contacts=[],
        suppressions=[],
        contact_policy={},
        brand_safety={"banned_phrases": ["free money"]},
        policy_key="main",
        policy_version=1,
        explore=True,
        holdout_share=0.1,
        holdout_key="x",
        context_features=[],
    )
    now = datetime.now(UTC)
    for seed in range(300):
        decide(snapshot, seed=seed, now=now)
    samples = []
    for seed in range(ENGINE_CALLS):
        started = time.perf_counter()
        decide(snapshot, seed=seed, now=now)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def _with_database(users: list[str]) -> dict[str, float]:
    from accounts.models import Workspace
    from decisions.services import decision_make
    from profiles.selectors import profile_by_identifier

    workspace = Workspace.objects.get(slug="bench")
    rng = random.Random(3)
    samples = []
    for _ in range(DB_CALLS):
        profile = profile_by_identifier(workspace=workspace, kind="user_id", value=rng.choice(users))
        assert profile is not None
        started = time.perf_counter()
        decision_make(workspace=workspace, profile=profile, context={"page": "/home"})
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


async def _http(server: Server, secret: str, users: list[str]) -> dict[str, LoadResult]:
    url, spread, cpu = server.url, server.connections_per_worker, server.cpu_sample
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    rng = random.Random(11)

    async def decide(client: HttpClient, _: int) -> tuple[bool, str]:
        body = {"person": {"userId": rng.choice(users)}, "context": {"page": "/checkout", "channel": "in_app"}}
        return await post_ok(client, "/v1/decide", json.dumps(body).encode(), headers)

    async def ping(client: HttpClient, _: int) -> tuple[bool, str]:
        return await post_ok(client, "/api/v1/ping/", b"", headers, method="GET")

    results: dict[str, LoadResult] = {}
    for warm in (decide, ping):  # warm-up: both paths, both worker processes
        await open_loop(base_url=url, rate=20, duration_s=2, request=warm)
    for rate in RATES:
        for name, request in (("ping", ping), ("decide", decide)):
            results[f"{name}_{rate}"] = await open_loop(
                base_url=url, rate=rate, duration_s=RATE_SECONDS, request=request, spread=spread, cpu=cpu
            )
    return results


def main() -> None:
    recreate_database()
    flush_bench_redis()
    secret, _, users = _setup()
    facts = machine_facts()
    from core.startup import freeze_long_lived

    freeze_long_lived()  # as a web process does at start-up (core/startup.py): the engine runs there
    engine = _engine_only()
    database = _with_database(users)
    with Server(port=free_port(), workers=WEB_WORKERS) as server:
        http = asyncio.run(_http(server, secret, users))
    flush_bench_redis()
    lines = [
        "## Decisions",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make bench` (`bench/decide.py`).",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()) + ".",
        f"Catalog: {ACTIONS} actions across 4 channels, each with an eligibility condition that every bench person "
        f"meets (so every decision weighs all {ACTIONS}); a live policy with "
        f"Thompson sampling (propensity from 256 extra draws) and a 10% holdout; {PEOPLE} people with consent.",
        "",
        "| in process | calls | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
        f"| engine alone (`decide`, {ACTIONS} candidates) | {ENGINE_CALLS} | {engine['p50']} | {engine['p95']} | "
        f"{engine['p99']} | {engine['max']} |",
        f"| `decision_make` with the database (load, lock, decide, insert) | {DB_CALLS} | {database['p50']} | "
        f"{database['p95']} | {database['p99']} | {database['max']} |",
        "",
        "The in-process rows run after the start-up objects are frozen out of the garbage collector, as in "
        "a web process (`core/startup.py`).",
        "",
        f"Over HTTP: `python -m cep.serve` (uvicorn) with {WEB_WORKERS} worker processes on 127.0.0.1, `DEBUG=0`, "
        "open loop (latency from "
        f"each request's scheduled start), {RATE_SECONDS:.0f} s per rate; the load generator "
        "(one process, `bench.harness.HttpClient`) shares the 2 cores. Each run's requests rotate over "
        f"{OPEN_LOOP_CLIENTS} keep-alive connections opened before its clock starts (least recently used first), "
        "like that many storefront back ends; each worker has its own listening socket and Linux hashes each "
        "connection to one (the table shows how they landed).",
        "",
        "| endpoint | rate /s | connections per worker | requests | p50 ms | p95 ms | p99 ms | errors "
        "| p50 ratio to floor | p99 ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in RATES:
        floor, ours = http[f"ping_{rate}"].summary(), http[f"decide_{rate}"].summary()
        spreads = ["/".join(str(n) for n in summary["connections_per_worker"]) for summary in (floor, ours)]
        lines.append(
            f"| floor `GET /api/v1/ping/` | {rate} | {spreads[0]} | {floor['sent']} | {floor['p50']} | "
            f"{floor['p95']} | "
            f"{floor['p99']} | {sum(floor['errors'].values())} | 1 | 1 |"
        )
        lines.append(
            f"| `POST /v1/decide` | {rate} | {spreads[1]} | {ours['sent']} | {ours['p50']} | {ours['p95']} | "
            f"{ours['p99']} | "
            f"{sum(ours['errors'].values())} | {ours['p50'] / floor['p50']:.1f} | "
            f"{ours['p99'] / floor['p99']:.1f} |"
        )
    lines += [
        "",
        "Where the CPU went, in milliseconds per request (`bench.harness.cpu_share`): the web server's "
        "processes, PostgreSQL's, Redis's and the load generator's, and how busy the machine's 2 cores were "
        "(steal: time the host gave them to someone else). Latency at a rate follows how close the cores run "
        "to full.",
        "",
        f"| endpoint | rate /s | {CPU_COLUMNS} |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {label} | {rate} | {cpu_cells(http[f'{name}_{rate}'].cpu)} |"
            for rate in RATES
            for label, name in (("floor `GET /api/v1/ping/`", "ping"), ("`POST /v1/decide`", "decide"))
        ],
    ]
    lines += ["", "Targets: engine p99 < 2 ms with 50 candidates; `/v1/decide` p50 <= 10 ms and p99 <= 50 ms at 200/s."]
    markdown = "\n".join(lines)
    raw = write_section(
        name="decide",
        markdown=markdown,
        data={
            "facts": facts,
            "engine": engine,
            "database": database,
            "http": {k: v.summary() for k, v in http.items()},
        },
    )
    print(markdown)
    print(f"raw results: {raw}")


if __name__ == "__main__":
    main()
