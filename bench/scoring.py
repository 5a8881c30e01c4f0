"""Scoring benchmark (issue: scoring): how long it takes to score one person in process.

On a scratch database: a generated world (``simulator.world``) is ingested through the real path,
conversion, churn and CLV models are trained on it and made active, and then, with each person's
feature state already loaded from ``ProfileFeatures``:

1. ``score_person`` alone: the three active models on already computed features;
2. features from the stored state as of now (``features_compute``) plus ``score_person``: what a
   real-time update computes per person (the headline number, target well under 2 ms);
3. ``scores_refresh`` for one person: the same plus loading the state, writing the scores and
   checking the "score changed" triggers (one transaction);
4. re-scoring everyone after a promotion (``scores_rescore_all``), as people per second.

Every loop is bounded by a call count.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import (
    bench_database_url,
    bench_redis_url,
    flush_bench_redis,
    machine_facts,
    percentiles,
    recreate_database,
    write_section,
)

PEOPLE = int(os.environ.get("BENCH_SCORING_PEOPLE", "500"))
DAYS = int(os.environ.get("BENCH_SCORING_DAYS", "120"))
CALLS = int(os.environ.get("BENCH_SCORING_CALLS", "10000"))
REFRESH_CALLS = int(os.environ.get("BENCH_SCORING_REFRESH_CALLS", "1000"))


def _close_connections() -> None:
    """Another scenario may have run first in this process (``python -m bench``): let go of its
    database connections before the scratch database is recreated under them."""
    from django.conf import settings

    if settings.configured:
        from django.db import connections

        connections.close_all()


def _setup() -> None:
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ["REDIS_URL"] = bench_redis_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _timed(calls: int, fn: Callable[[int], Any]) -> list[float]:
    samples: list[float] = []
    for i in range(calls):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:  # noqa: PLR0915 - one linear scenario
    _close_connections()
    recreate_database()
    flush_bench_redis()
    _setup()
    from accounts.services import user_create, workspace_create
    from cep.celery import app
    from core import domain_events
    from profiles.features import feature_config
    from profiles.models import ProfileFeatures
    from scoring.config import order_events
    from scoring.evaluation import evaluation_run, world_ingest
    from scoring.realtime import active_models, score_person
    from scoring.replay import person_features_now
    from scoring.services import model_version_create, model_version_promote, scores_refresh, scores_rescore_all
    from simulator.world import WorldConfig, world_generate

    # No worker serves this scratch database: re-score in process, and leave the ingest queue alone.
    app.conf.task_always_eager = True
    domain_events.unsubscribe(domain_events.EVENT_INGESTED, "scoring.scores_refresh")
    domain_events.unsubscribe(domain_events.PROFILE_MERGED, "scoring.scores_merge")

    facts = machine_facts()
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    world = world_generate(WorldConfig(people=PEOPLE, days=DAYS, seed=7, end=now))
    owner = user_create(username=f"bench-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex)
    workspace = workspace_create(name="Scoring bench", owner=owner)
    started = time.perf_counter()
    stored = world_ingest(workspace=workspace, world=world, received_at=now)
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    trained = evaluation_run(workspace=workspace, end=now, seed=7)
    train_s = time.perf_counter() - started
    for model in trained.models.values():
        version = model_version_create(workspace=workspace, trained=model, created_by="bench")
        model_version_promote(version=version, actor=None, reason="benchmark")

    models = active_models(workspace.id)
    config = feature_config()
    orders = order_events()
    states = list(
        ProfileFeatures.objects.filter(workspace=workspace, profile__merged_into__isnull=True).values_list(
            "profile_id", "state"
        )
    )
    moment = time.time()
    people = [
        person_features_now(profile_id=str(pid), state=state, now=moment, config=config, order_events=orders)
        for pid, state in states
    ]
    features = sum(len(m.model.spec) for m in models.models if hasattr(m.model, "spec"))

    score_only = _timed(CALLS, lambda i: score_person(models, people[i % len(people)]))

    def features_and_score(i: int) -> None:
        pid, state = states[i % len(states)]
        person = person_features_now(
            profile_id=str(pid), state=state, now=time.time(), config=config, order_events=orders
        )
        score_person(models, person)

    full = _timed(CALLS, features_and_score)
    refresh = _timed(
        REFRESH_CALLS, lambda i: scores_refresh(workspace=workspace, profile_ids=[states[i % len(states)][0]])
    )
    started = time.perf_counter()
    rescored = scores_rescore_all(workspace=workspace)
    rescore_s = time.perf_counter() - started

    rate = round(rescored / rescore_s)
    results: dict[str, dict[str, float]] = {
        "score_only": percentiles(score_only),
        "features_and_score": percentiles(full),
        "refresh_one": percentiles(refresh),
        "rescore_all": {"people": rescored, "seconds": round(rescore_s, 3), "people_per_s": rate},
    }
    kinds = ", ".join(f"{m.kind} v{m.version}" for m in models.models)
    lines = [
        "## Scoring one person",
        "",
        f"Machine: {facts['cpu']}, {facts['memory']}; Python {facts['python']}, PostgreSQL {facts['postgresql']}.",
        f"World: {PEOPLE} people over {DAYS} days, {stored:,} events ingested in {ingest_s:.1f} s; "
        f"{len(states)} people with features. Active models: {kinds} ({features} classifier inputs); "
        f"training all three took {train_s:.1f} s. One process, one thread.",
        "",
        "| what (per person) | calls | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for label, key, calls in (
        ("3 models on computed features (`score_person`)", "score_only", CALLS),
        ("features from the stored state + 3 models, with explanations", "features_and_score", CALLS),
        ("`scores_refresh`: load state, score, write, triggers (1 transaction)", "refresh_one", REFRESH_CALLS),
    ):
        r = results[key]
        lines.append(f"| {label} | {calls:,} | {r['p50']} | {r['p95']} | {r['p99']} | {r['max']} |")
    lines += [
        "",
        f"Re-scoring everyone after a promotion: {rescored} people in {rescore_s:.2f} s ({rate:,} people/s).",
        "",
        "Target: scoring one person in process well under 2 ms (second row). The models are JSON parameters: "
        "a dot product and an interpolation per classifier, closed-form BG/NBD and Gamma-Gamma for CLV.",
    ]
    markdown = "\n".join(lines)
    raw = write_section(name="scoring", markdown=markdown, data={"facts": facts, "results": results})
    print(markdown)
    print(f"raw results: {raw}")


if __name__ == "__main__":
    main()
