"""Evaluation on a generated world with known ground truth (``simulator.world``).

``world_ingest`` stores a world's messages through the real ingestion path (validation, dedupe,
identity resolution, features: ``events.services.event_batch_ingest``), in time order, as a
storefront would have sent them. ``evaluation_run`` then trains every kind on that workspace and
reports held-out metrics against the naive baselines (the ``scoring_evaluate`` command writes
them to docs/models.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts.models import Workspace
from events.services import event_batch_ingest
from events.validation import validate_batch
from profiles.features import FeatureEvent, feature_config
from scoring.config import order_events, training_config
from scoring.models import ModelKind
from scoring.replay import EventReplaySource, FeatureSource, Snapshot, feature_event, replay_person
from scoring.training import TrainedModel, train_classifier, train_clv
from simulator.world import World

INGEST_BATCH = 2000


class WorldIngestError(ValueError):
    pass


def world_ingest(
    *,
    workspace: Workspace,
    world: World,
    received_at: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Validate and ingest every message of ``world``; returns the number stored."""
    received_at = received_at or timezone.now()
    stored = 0
    batches = [world.messages[i : i + INGEST_BATCH] for i in range(0, len(world.messages), INGEST_BATCH)]
    for index, batch in enumerate(batches):
        messages, errors = validate_batch({"batch": batch}, received_at=received_at)
        if errors:
            raise WorldIngestError(f"world message rejected: {errors[0].as_json()}")
        stored += event_batch_ingest(workspace=workspace, messages=messages, received_at=received_at).accepted
        if progress:
            progress(index + 1, len(batches))
    return stored


class MemorySource:
    """A ``FeatureSource`` over histories held in memory ({person: [FeatureEvent] sorted by time}),
    replayed with the same code as ``EventReplaySource``. For fast model-quality checks on a
    generated world without going through ingestion (identity is the world's own person index)."""

    def __init__(self, histories: dict[str, list[FeatureEvent]]) -> None:
        self.histories = histories
        self.config = feature_config()
        self.order_events = order_events()

    def snapshots(
        self,
        *,
        cutoffs: Sequence[float] = (),
        anchors: Mapping[str, Sequence[float]] | None = None,
        horizon_seconds: float = 0.0,
    ) -> Iterator[Snapshot]:
        for person_id in sorted(self.histories):
            times = anchors.get(person_id, ()) if anchors is not None else cutoffs
            if times:
                yield from replay_person(
                    person_id,
                    self.histories[person_id],
                    times,
                    config=self.config,
                    order_events=self.order_events,
                    horizon_seconds=horizon_seconds,
                )


def world_histories(world: World) -> dict[str, list[FeatureEvent]]:
    """Each simulated person's events as the feature engine sees them, keyed by a stable id."""
    index_of = {p.anonymous_id: p.index for p in world.people}
    index_of.update({p.second_anonymous_id: p.index for p in world.people if p.second_anonymous_id})
    histories: dict[str, list[FeatureEvent]] = {}
    for message in world.messages:
        person = index_of[message["anonymousId"]]
        histories.setdefault(f"person-{person:06d}", []).append(
            feature_event(
                type=message["type"],
                name=message.get("event") or message.get("name") or "",
                timestamp=datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00")),
                properties=message.get("properties") or {},
            )
        )
    for events in histories.values():
        events.sort(key=lambda e: e.at)
    return histories


@dataclass
class EvaluationResult:
    models: dict[str, TrainedModel]
    seconds: dict[str, float]
    events: int

    def summary(self) -> dict[str, Any]:
        return {kind: model.metrics for kind, model in self.models.items()}


def evaluation_run(
    *,
    source: FeatureSource | None = None,
    workspace: Workspace | None = None,
    end: datetime,
    seed: int,
    events: int = 0,
) -> EvaluationResult:
    """Train conversion, churn and CLV as of ``end`` on ``source`` (default: the workspace's event
    store), without writing anything."""
    config = training_config()
    models: dict[str, TrainedModel] = {}
    seconds: dict[str, float] = {}
    if source is None:
        if workspace is None:
            raise ValueError("a source or a workspace is needed")
        source = EventReplaySource(workspace)
    for kind in (ModelKind.CONVERSION, ModelKind.CHURN, ModelKind.CLV):
        started = time.perf_counter()
        if kind == ModelKind.CLV:
            models[kind] = train_clv(source=source, end=end.timestamp(), config=config, seed=seed)
        else:
            models[kind] = train_classifier(kind=kind, source=source, end=end.timestamp(), config=config, seed=seed)
        seconds[kind] = time.perf_counter() - started
    return EvaluationResult(models=models, seconds=seconds, events=events)


def _f(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _row(name: str, model: float | None, baseline: float | None, digits: int, *, higher: bool) -> str:
    """A table row with the better of the two in bold (neither on a tie)."""
    cells = [_f(model, digits), _f(baseline, digits)]
    if model is not None and baseline is not None and round(model, digits) != round(baseline, digits):
        better = 0 if (model > baseline) == higher else 1
        cells[better] = f"**{cells[better]}**"
    return f"| {name} | {cells[0]} | {cells[1]} |"


def _classifier_section(title: str, model: TrainedModel) -> list[str]:
    heldout, baseline = model.metrics["heldout"], model.metrics["baseline"]
    window = model.training_window
    lines = [
        f"#### {title}",
        "",
        f"Label: {window['label']} within {window['horizon_days']:.0f} days after the cut-off. Trained on "
        f"{model.training_set['train']['rows']} rows ({model.training_set['train']['positives']} positive) from "
        f"{len(window['cutoffs'])} cut-offs; held out: every eligible person at the last complete cut-off, "
        f"{heldout['rows']} rows ({heldout['positives']} positive). Algorithm: `{model.algorithm}` "
        f"(C = {model.metrics.get('regularisation_c')}).",
        "",
        "| held-out metric | model | recency only |",
        "|---|---|---|",
        _row("ROC AUC", heldout["auc"], baseline["auc"], 3, higher=True),
        _row("Brier score (lower is better)", heldout["brier"], baseline["brier"], 4, higher=False),
        _row("lift at top decile", heldout["lift_top_decile"], baseline["lift_top_decile"], 2, higher=True),
        f"| mean predicted / observed rate | {_f(heldout['mean_predicted'])} / {_f(heldout['base_rate'])} | "
        f"{_f(baseline['mean_predicted'])} / {_f(baseline['base_rate'])} |",
        "",
        "Calibration on the held-out rows (deciles of the model's predictions):",
        "",
        "| predicted from | to | people | mean predicted | observed rate |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_f(row['lower'])} | {_f(row['upper'])} | {row['count']} | {_f(row['mean_predicted'])} | "
        f"{_f(row['observed_rate'])} |"
        for row in heldout["calibration"]
        if row["count"]
    ]
    lines += [
        "",
        "Strongest inputs (weights on standardised inputs): "
        + ", ".join(f"{c['label']} {c['weight']:+.2f}" for c in model.metrics["coefficients"][:6])
        + ".",
        "",
    ]
    return lines


def evaluation_markdown(
    *, result: EvaluationResult, world: World, stored: int, profiles: int, ingest_seconds: float, command: str
) -> str:
    config = world.config
    conversion = result.models[ModelKind.CONVERSION]
    churn = result.models[ModelKind.CHURN]
    clv = result.models[ModelKind.CLV]
    metrics = clv.metrics
    lines = [
        f"Generated by `{command}` on a world of {config.people} people over {config.days} days "
        f"(seed {config.seed}; `simulator/world.py`): {len(world.messages):,} messages, {stored:,} stored through "
        f"the real ingestion path in {ingest_seconds:.1f} s, {profiles:,} live profiles after identity merges. "
        f"Training took {result.seconds[ModelKind.CONVERSION]:.1f} s (conversion), "
        f"{result.seconds[ModelKind.CHURN]:.1f} s (churn) and {result.seconds[ModelKind.CLV]:.1f} s (CLV).",
        "",
    ]
    lines += _classifier_section("Conversion propensity", conversion)
    lines += _classifier_section("Churn risk", churn)
    lines += [
        "#### Lifetime value",
        "",
        f"`{clv.algorithm}` ({metrics.get('purchase_model')}; Gamma-Gamma {metrics.get('gamma_gamma')}) fitted on "
        f"{metrics['rows']} customers as of {clv.training_window['heldout_cutoff'][:10]}, checked on their orders in "
        f"the {clv.training_window['horizon_days']:.0f} days after. Naive baseline: each customer keeps buying at "
        "their own historical rate.",
        "",
        "| held-out metric | BG/NBD + Gamma-Gamma | naive rate |",
        "|---|---|---|",
        _row(
            "orders per customer, mean absolute error",
            metrics["purchases_mae"],
            metrics["baseline"]["purchases_mae"],
            3,
            higher=False,
        ),
        f"| orders predicted in total (actual {metrics['purchases_actual_total']:.0f}) | "
        f"{metrics['purchases_predicted_total']:.0f} | {metrics['baseline']['purchases_predicted_total']:.0f} |",
        _row("AUC for ordering again", metrics["repeat_auc"], metrics["baseline"]["repeat_auc"], 3, higher=True),
        f"| revenue predicted in total (actual {metrics['revenue_actual_total']:,.0f}) | "
        f"{metrics['revenue_predicted_total']:,.0f} | |",
        "",
    ]
    return "\n".join(lines)
