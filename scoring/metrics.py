"""Evaluation metrics for the model registry: discrimination, calibration, lift, and drift (PSI).

Labels are binary (0/1 or bool); scores are real numbers, probabilities are in [0, 1]. Every function takes
one-dimensional, non-empty, finite inputs and raises ValueError with a plain message otherwise.
See ``docs/models.md`` for the definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from sklearn.metrics import brier_score_loss, roc_auc_score

FloatArray = npt.NDArray[np.float64]
DriftLevel = Literal["stable", "moderate", "significant"]

#: PSI below this: no meaningful shift.
PSI_MODERATE = 0.1
#: PSI at or above this: a significant shift; investigate and consider retraining.
PSI_SIGNIFICANT = 0.25


# --- input validation -----------------------------------------------------------------------------------------------


def _sample(name: str, values: npt.ArrayLike) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return array


def _labels_and_scores(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, score_name: str = "y_score", probabilities: bool = False
) -> tuple[FloatArray, FloatArray]:
    labels = _sample("y_true", y_true)
    scores = _sample(score_name, y_score)
    if labels.size != scores.size:
        raise ValueError(f"y_true and {score_name} differ in length ({labels.size} vs {scores.size})")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("y_true must contain only 0 and 1")
    if probabilities and not np.all((scores >= 0) & (scores <= 1)):
        raise ValueError(f"{score_name} must be probabilities in [0, 1]")
    return labels, scores


def _require_both_classes(labels: FloatArray, metric: str) -> None:
    if labels.min() == labels.max():
        raise ValueError(f"{metric} is undefined when y_true holds only one class (all {int(labels[0])})")


# --- discrimination and accuracy ------------------------------------------------------------------------------------


def roc_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(score of a random positive > score of a random negative), ties count 1/2."""
    labels, scores = _labels_and_scores(y_true, y_score)
    _require_both_classes(labels, "ROC AUC")
    return float(roc_auc_score(labels, scores))


def brier_score(y_true: npt.ArrayLike, y_prob: npt.ArrayLike) -> float:
    """Mean squared difference between predicted probability and outcome: mean((p - y)^2); lower is better."""
    labels, probabilities = _labels_and_scores(y_true, y_prob, score_name="y_prob", probabilities=True)
    return float(brier_score_loss(labels, probabilities))


# --- calibration ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One row of a calibration table: predictions in [lower, upper) (the last bin includes upper)."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None  # None for an empty bin
    observed_rate: float | None  # None for an empty bin


def calibration_table(
    y_true: npt.ArrayLike,
    y_prob: npt.ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> list[CalibrationBin]:
    """Mean predicted probability against the observed positive rate, per bin of predicted probability.

    ``uniform``: ``n_bins`` equal-width bins on [0, 1], empty bins included. ``quantile``: bins at quantiles of
    the predictions, so each holds about the same count; tied quantiles merge, which can leave fewer bins.
    """
    labels, probabilities = _labels_and_scores(y_true, y_prob, score_name="y_prob", probabilities=True)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError("n_bins must be a positive integer")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(probabilities, np.linspace(0.0, 1.0, n_bins + 1)))
        if edges.size == 1:  # every prediction is the same value
            edges = np.array([edges[0], edges[0]])
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")

    bin_count = edges.size - 1
    index = np.searchsorted(edges[1:-1], probabilities, side="right")
    counts = np.bincount(index, minlength=bin_count)
    predicted_sums = np.bincount(index, weights=probabilities, minlength=bin_count)
    positive_sums = np.bincount(index, weights=labels, minlength=bin_count)
    table = []
    for i in range(bin_count):
        count = int(counts[i])
        table.append(
            CalibrationBin(
                lower=float(edges[i]),
                upper=float(edges[i + 1]),
                count=count,
                mean_predicted=float(predicted_sums[i] / count) if count else None,
                observed_rate=float(positive_sums[i] / count) if count else None,
            )
        )
    return table


# --- lift -----------------------------------------------------------------------------------------------------------


def lift_at_top(y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, fraction: float = 0.1) -> float:
    """Positive rate among the top ``fraction`` by score divided by the overall positive rate (top decile: 0.1).

    The top set holds exactly ``fraction * n`` customers; a group of tied scores straddling the cut-off counts
    with its mean positive rate for the part inside, so the result does not depend on the order of ties.
    """
    labels, scores = _labels_and_scores(y_true, y_score)
    if not (0 < fraction <= 1):
        raise ValueError("fraction must be in (0, 1]")
    positives = float(labels.sum())
    if positives == 0:
        raise ValueError("lift is undefined when y_true has no positives")

    _, group = np.unique(scores, return_inverse=True)
    group_sizes = np.bincount(group)[::-1]  # highest score first
    group_positives = np.bincount(group, weights=labels)[::-1]
    top_size = fraction * labels.size
    cumulative = np.cumsum(group_sizes)
    straddling = int(np.searchsorted(cumulative, top_size, side="left"))
    before = float(cumulative[straddling - 1]) if straddling else 0.0
    top_positives = float(group_positives[:straddling].sum())
    top_positives += (top_size - before) * group_positives[straddling] / group_sizes[straddling]
    return (top_positives / top_size) / (positives / labels.size)


# --- drift ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PopulationStability:
    """PSI between a reference and a recent sample, with the per-bin shares it was computed from.

    Bin i covers (cut_points[i-1], cut_points[i]]; the first and last bins are open-ended.
    """

    value: float
    level: DriftLevel
    cut_points: tuple[float, ...]
    reference_share: tuple[float, ...]
    recent_share: tuple[float, ...]


def psi_level(value: float) -> DriftLevel:
    """Conventional reading of a PSI value: < 0.1 stable, 0.1 to < 0.25 moderate, >= 0.25 significant."""
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"PSI must be a finite number >= 0, got {value!r}")
    if value < PSI_MODERATE:
        return "stable"
    if value < PSI_SIGNIFICANT:
        return "moderate"
    return "significant"


def population_stability_index(
    reference: npt.ArrayLike,
    recent: npt.ArrayLike,
    *,
    n_bins: int = 10,
    epsilon: float = 1e-4,
) -> PopulationStability:
    """PSI = sum_i (recent_i - reference_i) * ln(recent_i / reference_i) over bins of a numeric feature or score.

    Cut points are the reference's empirical quantiles (values of the reference itself) at 1/n_bins, ...,
    (n_bins-1)/n_bins, duplicates merged, so a discrete feature gets one bin per value it takes (or fewer) and a
    continuous one ``n_bins`` bins of equal reference share. The outer bins are open, so recent values outside
    the reference range are counted. Shares below ``epsilon`` (empty bins) are raised to ``epsilon`` before the
    log so the sum stays finite.
    """
    reference_values = _sample("reference", reference)
    recent_values = _sample("recent", recent)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 2:
        raise ValueError("n_bins must be an integer >= 2")
    if not (0 < epsilon < 1):
        raise ValueError("epsilon must be in (0, 1)")

    cut_points = np.unique(np.quantile(reference_values, np.arange(1, n_bins) / n_bins, method="inverted_cdf"))
    bin_count = cut_points.size + 1
    reference_share = (
        np.bincount(np.searchsorted(cut_points, reference_values, side="left"), minlength=bin_count)
        / reference_values.size
    )
    recent_share = (
        np.bincount(np.searchsorted(cut_points, recent_values, side="left"), minlength=bin_count) / recent_values.size
    )
    expected = np.maximum(reference_share, epsilon)
    actual = np.maximum(recent_share, epsilon)
    value = float(np.sum((actual - expected) * np.log(actual / expected)))
    return PopulationStability(
        value=value,
        level=psi_level(value),
        cut_points=tuple(float(c) for c in cut_points),
        reference_share=tuple(float(s) for s in reference_share),
        recent_share=tuple(float(s) for s in recent_share),
    )
