"""Training pipelines: build point-in-time sets, fit, and measure on held-out data. No writes: the
services persist what comes back (``TrainedModel``) and decide on promotion.

Held-out data is out of time: training rows come from cut-offs whose label windows all end by the
held-out cut-off, and the held-out rows are every eligible person at that cut-off (features up to
it, labels after it). The model evaluated there is the model served; it is not refitted on the
held-out rows, so the stored metrics describe exactly what runs.

Each classifier is compared on the same held-out rows with a naive baseline: the same calibrated
logistic regression on recency (days since last activity) alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from profiles.features import order_revenue
from scoring.classifier import LogisticArtifact, fit_logistic
from scoring.clv_model import ClvArtifact, ClvInputs, clv_inputs, fit_clv
from scoring.config import TrainingConfig, cancel_events, label_window, order_events
from scoring.datasets import LabelRule, TrainingSet, labelled_set_build, training_cutoffs, training_set_build
from scoring.feature_spec import (
    DAY,
    RECENCY_ONLY,
    FeatureSpec,
    PersonFeatures,
    frequent_event_names,
    label,
    spec_for_event_names,
)
from scoring.metrics import brier_score, calibration_table, lift_at_top, roc_auc
from scoring.models import ModelKind
from scoring.replay import FeatureSource, check_no_leakage, moment

Progress = Callable[[float, str], None]
REFERENCE_POINTS = 101  # percentiles 0..100 kept per feature as the drift reference
LOGISTIC = "logistic_regression"
BGNBD = "bg_nbd+gamma_gamma"
NBD = "nbd+gamma_gamma"


class NotEnoughData(ValueError):
    """The workspace's data cannot support this model yet (the message says what is missing)."""


def _noop(fraction: float, message: str) -> None:
    return None


@dataclass
class Holdout:
    """The held-out rows a candidate was measured on, kept in memory to measure the active model on."""

    people: list[PersonFeatures]
    labels: list[int] = field(default_factory=list)  # classifiers
    clv_rows: list[ClvInputs] = field(default_factory=list)  # CLV
    clv_actual: list[int] = field(default_factory=list)
    clv_days: float = 0.0


@dataclass
class TrainedModel:
    kind: str
    action: str
    algorithm: str
    artifact: dict[str, Any]
    features: list[dict[str, str]]
    training_window: dict[str, Any]
    training_set: dict[str, Any]
    metrics: dict[str, Any]
    reference: dict[str, Any]
    holdout: Holdout


# --- metrics ----------------------------------------------------------------------------------------------------------


def classifier_metrics(labels: Sequence[int], probabilities: Sequence[float]) -> dict[str, Any]:
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    both = y.size > 0 and 0 < y.sum() < y.size
    return {
        "rows": int(y.size),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()) if y.size else None,
        "mean_predicted": float(p.mean()) if p.size else None,
        "auc": roc_auc(y, p) if both else None,
        "brier": brier_score(y, p) if y.size else None,
        "lift_top_decile": lift_at_top(y, p, fraction=0.1) if both else None,
        "calibration": [asdict(row) for row in calibration_table(y, p, n_bins=10, strategy="quantile")]
        if y.size
        else [],
    }


def evaluate_classifier(artifact: Mapping[str, Any], holdout: Holdout) -> dict[str, Any]:
    model = LogisticArtifact.from_json(artifact)
    return classifier_metrics(holdout.labels, model.predict_people(holdout.people).tolist())


def clv_metrics(predicted: Sequence[float], actual: Sequence[int], *, baseline: Sequence[float]) -> dict[str, Any]:
    pred = np.asarray(predicted, dtype=np.float64)
    real = np.asarray(actual, dtype=np.float64)
    naive = np.asarray(baseline, dtype=np.float64)
    bought = (real > 0).astype(np.float64)
    both = 0 < bought.sum() < bought.size
    order = np.argsort(pred, kind="stable")
    deciles = []
    for chunk in np.array_split(order, min(10, max(1, pred.size))):
        if chunk.size:
            deciles.append(
                {
                    "count": int(chunk.size),
                    "mean_predicted": float(pred[chunk].mean()),
                    "mean_actual": float(real[chunk].mean()),
                }
            )
    return {
        "rows": int(pred.size),
        "purchases_mae": float(np.abs(pred - real).mean()),
        "purchases_predicted_total": float(pred.sum()),
        "purchases_actual_total": float(real.sum()),
        "repeat_auc": roc_auc(bought, pred) if both else None,
        "baseline": {
            "name": "historical rate",
            "purchases_mae": float(np.abs(naive - real).mean()),
            "purchases_predicted_total": float(naive.sum()),
            "repeat_auc": roc_auc(bought, naive) if both else None,
        },
        "calibration_deciles": deciles,
    }


def evaluate_clv(artifact: Mapping[str, Any], holdout: Holdout) -> dict[str, Any]:
    model = ClvArtifact.from_json(artifact)
    predicted = model.expected_purchases(holdout.clv_rows, holdout.clv_days).tolist()
    return clv_metrics(predicted, holdout.clv_actual, baseline=_naive_purchases(holdout.clv_rows, holdout.clv_days))


def evaluate(kind: str, artifact: Mapping[str, Any], holdout: Holdout) -> dict[str, Any]:
    return evaluate_clv(artifact, holdout) if kind == ModelKind.CLV else evaluate_classifier(artifact, holdout)


def reference_sketch(values: npt.ArrayLike) -> list[float]:
    """The 0th..100th percentiles as values the sample actually takes (``inverted_cdf``): each
    point stands for 1 % of the rows, so a discrete feature keeps its levels and their shares.
    (Interpolated percentiles would invent values between levels and break the PSI bins.)"""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return []
    return np.percentile(data, np.linspace(0, 100, REFERENCE_POINTS), method="inverted_cdf").tolist()


def _reference(spec: FeatureSpec, people: Sequence[PersonFeatures], scores: Sequence[float]) -> dict[str, Any]:
    matrix = spec.matrix(people)
    return {
        "features": {key: reference_sketch(matrix[:, i]) for i, key in enumerate(spec.keys)},
        "score": reference_sketch(scores),
    }


def _features_json(spec: FeatureSpec) -> list[dict[str, str]]:
    return [{"key": key, "label": label(key)} for key in spec.keys]


# --- classifiers ------------------------------------------------------------------------------------------------------


def _require(data: TrainingSet, config: TrainingConfig, what: str) -> None:
    if data.rows < config.min_rows:
        raise NotEnoughData(f"{what}: {data.rows} rows, at least {config.min_rows} are needed")
    negatives = data.rows - data.positives
    if min(data.positives, negatives) < config.min_positives:
        raise NotEnoughData(
            f"{what}: {data.positives} positive and {negatives} negative rows, "
            f"at least {config.min_positives} of each are needed"
        )


def _split(data: TrainingSet, holdout_cutoff: float) -> tuple[TrainingSet, TrainingSet]:
    train = TrainingSet(kind=data.kind, cutoffs=[c for c in data.cutoffs if c < holdout_cutoff], seed=data.seed)
    held = TrainingSet(kind=data.kind, cutoffs=[holdout_cutoff], seed=data.seed)
    for person, value, future in zip(data.people, data.labels, data.futures, strict=True):
        target = held if person.as_of >= holdout_cutoff else train
        target.people.append(person)
        target.labels.append(value)
        target.futures.append(future)
    return train, held


def fit_classifier_on(
    *,
    kind: str,
    action: str,
    train: TrainingSet,
    held: TrainingSet,
    config: TrainingConfig,
    window: dict[str, Any],
    progress: Progress = _noop,
) -> TrainedModel:
    """Fit the model and the recency-only baseline on ``train``; measure both on ``held``."""
    _require(train, config, "training rows")
    if held.positives in (0, held.rows):
        raise NotEnoughData(f"held-out rows: {held.rows} rows with {held.positives} positive; both classes are needed")
    seed = train.seed
    names = frequent_event_names(train.people, limit=config.event_name_features)
    spec = spec_for_event_names(names)
    progress(0.55, f"fitting {len(spec)} features on {train.rows} rows")
    model = fit_logistic(spec=spec, people=train.people, labels=train.labels, seed=seed)
    baseline = fit_logistic(spec=FeatureSpec(RECENCY_ONLY), people=train.people, labels=train.labels, seed=seed)
    progress(0.75, "measuring on held-out rows")
    holdout = Holdout(people=held.people, labels=held.labels)
    held_scores = model.predict_people(held.people)
    metrics = {
        "heldout": classifier_metrics(held.labels, held_scores.tolist()),
        "baseline": {"name": "recency only", **evaluate_classifier(baseline.as_json(), holdout)},
        "training": {"rows": train.rows, "positives": train.positives},
        "calibration_method": model.calibration.method,
        "regularisation_c": model.regularisation,
        "coefficients": [
            {"key": key, "label": label(key), "weight": weight}
            for key, weight in sorted(
                zip(spec.keys, map(float, model.coef), strict=True), key=lambda item: -abs(item[1])
            )
        ],
    }
    return TrainedModel(
        kind=kind,
        action=action,
        algorithm=f"{LOGISTIC}+{model.calibration.method}",
        artifact=model.as_json(),
        features=_features_json(spec),
        training_window=window,
        training_set={"train": train.summary(), "heldout": held.summary()},
        metrics=metrics,
        reference=_reference(spec, train.people, model.predict_people(train.people).tolist()),
        holdout=holdout,
    )


def train_classifier(
    *, kind: str, source: FeatureSource, end: float, config: TrainingConfig, seed: int, progress: Progress = _noop
) -> TrainedModel:
    """Conversion or churn: rows at the training cut-offs, held out at the last complete cut-off."""
    window = label_window(kind)
    cutoffs, holdout_cutoff = training_cutoffs(
        end=end, horizon_days=window.horizon_days, count=config.cutoffs, step_days=config.step_days
    )
    rule = LabelRule(
        kind=kind, window=window, order_events=frozenset(order_events()), cancel_events=frozenset(cancel_events())
    )
    progress(0.1, f"replaying events to {len(cutoffs) + 1} cut-offs")
    data = training_set_build(
        source=source, rule=rule, cutoffs=[*cutoffs, holdout_cutoff], seed=seed, max_rows=config.max_rows
    )
    train, held = _split(data, holdout_cutoff)
    description = {
        "cutoffs": [moment(c).isoformat() for c in cutoffs],
        "heldout_cutoff": moment(holdout_cutoff).isoformat(),
        "horizon_days": window.horizon_days,
        "population_days": window.population_days,
        "end": moment(end).isoformat(),
        "label": "an order" if kind == ModelKind.CONVERSION else "no activity, or a cancellation,",
    }
    return fit_classifier_on(
        kind=kind, action="", train=train, held=held, config=config, window=description, progress=progress
    )


# --- response propensity ----------------------------------------------------------------------------------------------


def train_response(
    *,
    action: str,
    outcomes: Mapping[tuple[str, float], int],
    source: FeatureSource,
    config: TrainingConfig,
    seed: int,
    progress: Progress = _noop,
) -> TrainedModel:
    """One action's response model from a labelled table {(profile id, decided at): responded}.
    The latest fifth of the decisions (by time) is held out."""
    progress(0.1, f"replaying events to {len(outcomes)} decisions of {action}")
    data = labelled_set_build(
        source=source, kind=ModelKind.RESPONSE, outcomes=outcomes, seed=seed, max_rows=config.max_rows
    )
    if data.rows < 5:
        raise NotEnoughData(f"{action}: only {data.rows} decisions with history")
    moments = sorted(p.as_of for p in data.people)
    holdout_cutoff = moments[int(len(moments) * 0.8)]
    train, held = _split(data, holdout_cutoff)
    description = {
        "from": moment(moments[0]).isoformat(),
        "heldout_cutoff": moment(holdout_cutoff).isoformat(),
        "to": moment(moments[-1]).isoformat(),
        "label": f"responded to {action}",
    }
    return fit_classifier_on(
        kind=ModelKind.RESPONSE,
        action=action,
        train=train,
        held=held,
        config=config,
        window=description,
        progress=progress,
    )


# --- CLV --------------------------------------------------------------------------------------------------------------


def _naive_purchases(rows: Sequence[ClvInputs], days: float) -> list[float]:
    """Baseline: each customer keeps buying at their historical rate (orders per day since the first)."""
    return [(r.frequency + 1) / max(r.T, 1.0) * days for r in rows]


def train_clv(
    *, source: FeatureSource, end: float, config: TrainingConfig, seed: int, progress: Progress = _noop
) -> TrainedModel:
    """Fit BG/NBD + Gamma-Gamma on customers as of ``end - holdout``; measure predicted against
    actual purchases in the held-out window."""
    window = label_window(ModelKind.CLV)
    holdout_days = window.horizon_days
    cutoff = end - holdout_days * DAY
    orders = frozenset(order_events())
    progress(0.1, "replaying events to the CLV cut-off")
    people: list[PersonFeatures] = []
    rows: list[ClvInputs] = []
    actual: list[int] = []
    revenue: list[float] = []
    for snapshot in source.snapshots(cutoffs=[cutoff], horizon_seconds=holdout_days * DAY):
        check_no_leakage(snapshot.person, snapshot.cutoff)
        inputs = clv_inputs(snapshot.person)
        if inputs is None:
            continue
        future_orders = [
            e for e in snapshot.future if e.name in orders and cutoff < e.at <= cutoff + holdout_days * DAY
        ]
        people.append(snapshot.person)
        rows.append(inputs)
        actual.append(len(future_orders))
        revenue.append(sum(order_revenue(e.properties) for e in future_orders))
    order = sorted(range(len(rows)), key=lambda i: people[i].profile_id)
    people, rows = [people[i] for i in order], [rows[i] for i in order]
    actual, revenue = [actual[i] for i in order], [revenue[i] for i in order]
    if len(rows) < config.min_rows // 2 or sum(1 for r in rows if r.frequency > 0) < config.min_positives:
        raise NotEnoughData(
            f"CLV: {len(rows)} customers, {sum(1 for r in rows if r.frequency > 0)} with a repeat order; "
            f"at least {config.min_rows // 2} customers and {config.min_positives} repeat customers are needed"
        )
    progress(0.5, f"fitting BG/NBD and Gamma-Gamma on {len(rows)} customers")
    model = fit_clv(rows, horizon_days=config.clv_horizon_days)
    holdout = Holdout(people=people, clv_rows=rows, clv_actual=actual, clv_days=holdout_days)
    progress(0.75, "measuring on the held-out window")
    metrics = evaluate_clv(model.as_json(), holdout)
    predicted_value = model.expected_purchases(rows, holdout_days) * model.expected_order_value(rows)
    metrics["revenue_mae"] = float(np.abs(predicted_value - np.asarray(revenue)).mean())
    metrics["revenue_predicted_total"] = float(predicted_value.sum())
    metrics["revenue_actual_total"] = float(sum(revenue))
    metrics["repeat_customers"] = sum(1 for r in rows if r.frequency > 0)
    metrics["gamma_gamma"] = "fitted" if model.spend is not None else "too few repeat customers: mean order value"
    metrics["purchase_model"] = (
        "BG/NBD" if model.purchase_model == "bgnbd" else "NBD (no dropout identified: BG/NBD's limit p -> 0)"
    )
    clv_now = (model.expected_purchases(rows, config.clv_horizon_days) * model.expected_order_value(rows)).tolist()
    fingerprint = TrainingSet(kind=ModelKind.CLV, cutoffs=[cutoff], seed=seed, people=people, labels=actual)
    return TrainedModel(
        kind=ModelKind.CLV,
        action="",
        algorithm=BGNBD if model.purchase_model == "bgnbd" else NBD,
        artifact=model.as_json(),
        features=[
            {"key": "frequency", "label": "repeat orders"},
            {"key": "recency", "label": "days from first to last order"},
            {"key": "T", "label": "days since the first order"},
            {"key": "monetary_value", "label": "mean order value"},
        ],
        training_window={
            "cutoffs": [moment(cutoff).isoformat()],
            "heldout_cutoff": moment(cutoff).isoformat(),
            "horizon_days": holdout_days,
            "serving_horizon_days": config.clv_horizon_days,
            "end": moment(end).isoformat(),
            "label": "orders in the held-out window",
        },
        training_set={"train": fingerprint.summary()},
        metrics=metrics,
        reference={
            "features": {
                "frequency": reference_sketch([r.frequency for r in rows]),
                "recency": reference_sketch([r.recency for r in rows]),
                "T": reference_sketch([r.T for r in rows]),
                "monetary_value": reference_sketch([r.monetary_value for r in rows]),
            },
            "score": reference_sketch(clv_now),
        },
        holdout=holdout,
    )
