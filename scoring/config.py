"""Scoring settings with their defaults (cep/settings.py sets them; docs/models.md explains them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from scoring.models import ModelKind


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def order_events() -> list[str]:
    return list(_get("PROFILE_ORDER_EVENTS", ["Order Completed"]))


def cancel_events() -> list[str]:
    return list(_get("SCORING_CANCEL_EVENTS", ["Subscription Cancelled", "Account Deleted"]))


@dataclass(frozen=True)
class LabelWindow:
    """How a kind's training rows are chosen and labelled."""

    horizon_days: float  # label: what happens in (cut-off, cut-off + horizon]
    population_days: float  # rows: people last active within this many days before the cut-off


def label_window(kind: str) -> LabelWindow:
    if kind == ModelKind.CONVERSION:
        return LabelWindow(
            horizon_days=float(_get("SCORING_CONVERSION_HORIZON_DAYS", 14)),
            population_days=float(_get("SCORING_CONVERSION_POPULATION_DAYS", 90)),
        )
    if kind == ModelKind.CHURN:
        return LabelWindow(
            horizon_days=float(_get("SCORING_CHURN_HORIZON_DAYS", 30)),
            population_days=float(_get("SCORING_CHURN_POPULATION_DAYS", 30)),
        )
    if kind == ModelKind.CLV:
        return LabelWindow(
            horizon_days=float(_get("SCORING_CLV_HOLDOUT_DAYS", 30)),
            population_days=float(_get("SCORING_CONVERSION_POPULATION_DAYS", 90)),
        )
    if kind == ModelKind.RESPONSE:
        return LabelWindow(horizon_days=0.0, population_days=float("inf"))
    raise ValueError(f"unknown model kind {kind!r}")


@dataclass(frozen=True)
class TrainingConfig:
    cutoffs: int  # training cut-offs per kind (the held-out cut-off comes after them)
    step_days: float  # days between training cut-offs
    max_rows: int  # training rows kept (a seeded sample beyond this)
    min_rows: int
    min_positives: int  # of each class
    event_name_features: int  # most common event names turned into count features
    seed: int
    clv_horizon_days: float  # CLV and expected purchases are over this many days


def training_config() -> TrainingConfig:
    return TrainingConfig(
        cutoffs=int(_get("SCORING_TRAINING_CUTOFFS", 4)),
        step_days=float(_get("SCORING_CUTOFF_STEP_DAYS", 7)),
        max_rows=int(_get("SCORING_MAX_TRAINING_ROWS", 50_000)),
        min_rows=int(_get("SCORING_MIN_TRAINING_ROWS", 200)),
        min_positives=int(_get("SCORING_MIN_POSITIVES", 20)),
        event_name_features=int(_get("SCORING_EVENT_NAME_FEATURES", 8)),
        seed=int(_get("SCORING_SEED", 7)),
        clv_horizon_days=float(_get("SCORING_CLV_HORIZON_DAYS", 90)),
    )


@dataclass(frozen=True)
class PromotionConfig:
    min_auc_gain: float  # a classifier must beat the active AUC by more than this ...
    max_brier_increase: float  # ... without a Brier score worse by more than this
    clv_min_mae_gain: float  # CLV: relative reduction of the held-out purchase-count error


def promotion_config() -> PromotionConfig:
    return PromotionConfig(
        min_auc_gain=float(_get("SCORING_PROMOTION_MIN_AUC_GAIN", 0.001)),
        max_brier_increase=float(_get("SCORING_PROMOTION_MAX_BRIER_INCREASE", 0.002)),
        clv_min_mae_gain=float(_get("SCORING_PROMOTION_CLV_MIN_MAE_GAIN", 0.01)),
    )


def response_min_rows() -> int:
    return int(_get("SCORING_RESPONSE_MIN_ROWS", 200))


def drift_sample_size() -> int:
    return int(_get("SCORING_DRIFT_SAMPLE", 2000))


def drift_recent_days() -> float:
    """Drift compares the training rows with people active within this many days."""
    return float(_get("SCORING_DRIFT_RECENT_DAYS", 30))


def explain_top() -> int:
    return int(_get("SCORING_EXPLAIN_TOP", 3))


def score_triggers() -> list[dict[str, Any]]:
    return list(
        _get(
            "SCORING_SCORE_TRIGGERS",
            [
                {"kind": "conversion", "threshold": 0.5},
                {"kind": "churn", "threshold": 0.7},
                {"kind": "clv", "drop_share": 0.3},
            ],
        )
    )
