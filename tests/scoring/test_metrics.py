from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.calibration import calibration_curve

from scoring.metrics import (
    PSI_MODERATE,
    PSI_SIGNIFICANT,
    brier_score,
    calibration_table,
    lift_at_top,
    population_stability_index,
    psi_level,
    roc_auc,
)


@pytest.fixture
def scored_sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    probabilities = rng.beta(2, 5, 2000)
    labels = (rng.random(2000) < probabilities).astype(int)
    return labels, probabilities


# --- ROC AUC --------------------------------------------------------------------------------------------------------


def test_roc_auc_by_hand() -> None:
    # Positives 0.35, 0.8 against negatives 0.1, 0.4: 3 of the 4 pairs are ordered correctly.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_counts_a_tie_as_half() -> None:
    # Pairs (0.5 vs 0.5) = 1/2, (0.5 vs 0.2) = 1, (0.9 vs 0.5) = 1, (0.9 vs 0.2) = 1.
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(3.5 / 4)


def test_roc_auc_extremes() -> None:
    assert roc_auc([0, 0, 1, 1], [1, 2, 3, 4]) == 1.0
    assert roc_auc([1, 1, 0, 0], [1, 2, 3, 4]) == 0.0
    assert roc_auc([True, False, True, False], [5, 5, 5, 5]) == 0.5


def test_roc_auc_is_the_mann_whitney_statistic(scored_sample: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = scored_sample
    positives, negatives = scores[labels == 1], scores[labels == 0]
    u = mannwhitneyu(positives, negatives).statistic
    assert roc_auc(labels, scores) == pytest.approx(u / (positives.size * negatives.size), rel=1e-12)


# --- Brier ----------------------------------------------------------------------------------------------------------


def test_brier_score_by_hand() -> None:
    # ((0.1 - 0)^2 + (0.9 - 1)^2 + (0.6 - 1)^2) / 3 = (0.01 + 0.01 + 0.16) / 3
    assert brier_score([0, 1, 1], [0.1, 0.9, 0.6]) == pytest.approx(0.06)


def test_brier_score_bounds() -> None:
    assert brier_score([0, 1], [0.0, 1.0]) == 0.0
    assert brier_score([0, 1], [1.0, 0.0]) == 1.0
    assert brier_score([1, 1, 1], [0.25, 0.25, 0.25]) == pytest.approx(0.5625)  # one class is fine for Brier


def test_brier_score_is_the_mean_squared_error(scored_sample: tuple[np.ndarray, np.ndarray]) -> None:
    labels, probabilities = scored_sample
    assert brier_score(labels, probabilities) == pytest.approx(float(np.mean((probabilities - labels) ** 2)))


# --- calibration ----------------------------------------------------------------------------------------------------


def test_calibration_table_by_hand() -> None:
    table = calibration_table([0, 1, 0, 1, 1], [0.05, 0.15, 0.12, 0.95, 1.0], n_bins=10)
    assert len(table) == 10
    assert [row.count for row in table] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert (table[0].lower, table[0].upper) == (0.0, pytest.approx(0.1))
    assert (table[0].mean_predicted, table[0].observed_rate) == (pytest.approx(0.05), 0.0)
    assert (table[1].mean_predicted, table[1].observed_rate) == (pytest.approx(0.135), 0.5)
    assert table[2].mean_predicted is None and table[2].observed_rate is None
    assert (table[9].mean_predicted, table[9].observed_rate) == (pytest.approx(0.975), 1.0)  # 1.0 is in the last bin


def test_calibration_table_agrees_with_sklearn(scored_sample: tuple[np.ndarray, np.ndarray]) -> None:
    labels, probabilities = scored_sample
    for strategy in ("uniform", "quantile"):
        table = calibration_table(labels, probabilities, n_bins=8, strategy=strategy)
        filled = [row for row in table if row.count]
        observed, predicted = calibration_curve(labels, probabilities, n_bins=8, strategy=strategy)
        assert [row.observed_rate for row in filled] == pytest.approx(observed.tolist())
        assert [row.mean_predicted for row in filled] == pytest.approx(predicted.tolist())
        assert sum(row.count for row in table) == labels.size


def test_quantile_calibration_bins_hold_similar_counts(scored_sample: tuple[np.ndarray, np.ndarray]) -> None:
    labels, probabilities = scored_sample
    counts = [row.count for row in calibration_table(labels, probabilities, n_bins=5, strategy="quantile")]
    assert counts == [400, 400, 400, 400, 400]


def test_calibration_of_a_constant_prediction_is_one_bin() -> None:
    table = calibration_table([0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3], strategy="quantile")
    assert len(table) == 1
    assert (table[0].count, table[0].mean_predicted, table[0].observed_rate) == (4, pytest.approx(0.3), 0.5)


# --- lift -----------------------------------------------------------------------------------------------------------


def test_lift_at_top_decile_by_hand() -> None:
    scores = np.arange(20, 0, -1)  # 20 customers, best first
    labels = np.zeros(20, dtype=int)
    labels[[0, 1, 7, 12, 19]] = 1  # base rate 5/20; both of the top 2 are positive
    assert lift_at_top(labels, scores) == pytest.approx(1.0 / 0.25)
    assert lift_at_top(labels, scores, fraction=0.5) == pytest.approx((3 / 10) / 0.25)
    assert lift_at_top(labels, scores, fraction=1.0) == pytest.approx(1.0)


def test_lift_shares_a_tied_group_straddling_the_cut_off() -> None:
    # Top 20% of 10 = 2 customers: the one scored 5 (positive), then 1 of the 3 scored 4 (1 of them positive).
    scores = [5, 4, 4, 4, 1, 1, 1, 1, 1, 1]
    labels = [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    expected = ((1 + 1 / 3) / 2) / (3 / 10)
    assert lift_at_top(labels, scores, fraction=0.2) == pytest.approx(expected)
    order = np.random.default_rng(3).permutation(10)
    assert lift_at_top(np.array(labels)[order], np.array(scores)[order], fraction=0.2) == pytest.approx(expected)


def test_lift_of_an_uninformative_score_is_one() -> None:
    assert lift_at_top([0, 1, 0, 0, 1, 0, 0, 0, 1, 1], [0.5] * 10) == pytest.approx(1.0)


# --- PSI ------------------------------------------------------------------------------------------------------------


def test_psi_of_the_same_distribution_is_zero() -> None:
    sample = np.random.default_rng(1).normal(size=5000)
    result = population_stability_index(sample, sample)
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert result.level == "stable"
    assert len(result.cut_points) == 9
    assert result.reference_share == pytest.approx([0.1] * 10)


def test_psi_by_hand() -> None:
    reference = np.arange(100.0)  # quartile cut points 24, 49, 74: a quarter of it in each bin
    recent = np.repeat([0.0, 30.0, 60.0, 90.0], [10, 20, 30, 40])
    result = population_stability_index(reference, recent, n_bins=4)
    assert result.cut_points == (24.0, 49.0, 74.0)
    assert result.reference_share == pytest.approx((0.25, 0.25, 0.25, 0.25))
    assert result.recent_share == pytest.approx((0.1, 0.2, 0.3, 0.4))
    expected = sum((a - 0.25) * math.log(a / 0.25) for a in (0.1, 0.2, 0.3, 0.4))
    assert result.value == pytest.approx(expected)
    assert result.level == "moderate"  # 0.2285...


def test_psi_floors_empty_bins_at_epsilon() -> None:
    reference = np.arange(100.0)
    recent = np.full(50, -5.0)  # everything below the reference range: first bin only
    result = population_stability_index(reference, recent, n_bins=4, epsilon=1e-4)
    assert result.recent_share == (1.0, 0.0, 0.0, 0.0)
    expected = (1 - 0.25) * math.log(1 / 0.25) + 3 * (1e-4 - 0.25) * math.log(1e-4 / 0.25)
    assert result.value == pytest.approx(expected)
    assert math.isfinite(result.value)
    assert result.level == "significant"


def test_psi_grows_with_the_shift() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(size=20000)
    values = [population_stability_index(reference, rng.normal(shift, 1, 20000)).value for shift in (0, 0.2, 0.5, 1)]
    assert values == sorted(values)
    assert values[0] < PSI_MODERATE < values[2]
    assert values[-1] > PSI_SIGNIFICANT


def test_psi_of_a_discrete_feature_merges_tied_cut_points() -> None:
    reference = np.array([0] * 70 + [1] * 30)
    result = population_stability_index(reference, np.array([0] * 40 + [1] * 60))
    assert result.cut_points == (0.0, 1.0)
    assert result.reference_share == pytest.approx((0.7, 0.3, 0.0))  # the last bin holds values above 1
    assert result.recent_share == pytest.approx((0.4, 0.6, 0.0))
    expected = (0.4 - 0.7) * math.log(0.4 / 0.7) + (0.6 - 0.3) * math.log(0.6 / 0.3)
    assert result.value == pytest.approx(expected)


def test_psi_of_a_discrete_feature_sees_new_values_above_the_range() -> None:
    reference = np.array([0] * 70 + [1] * 30)
    result = population_stability_index(reference, np.array([0] * 70 + [1] * 20 + [2] * 10))
    assert result.recent_share == pytest.approx((0.7, 0.2, 0.1))
    expected = (0.2 - 0.3) * math.log(0.2 / 0.3) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert result.value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.1, "moderate"),
        (0.2499, "moderate"),
        (0.25, "significant"),
        (3.0, "significant"),
    ],
)
def test_psi_thresholds(value: float, level: str) -> None:
    assert psi_level(value) == level


# --- bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [roc_auc, brier_score, lift_at_top])
def test_empty_input_is_rejected(metric) -> None:
    with pytest.raises(ValueError, match="empty"):
        metric([], [])


def test_empty_input_is_rejected_by_calibration_and_psi() -> None:
    with pytest.raises(ValueError, match="y_true is empty"):
        calibration_table([], [])
    with pytest.raises(ValueError, match="reference is empty"):
        population_stability_index([], [1.0])
    with pytest.raises(ValueError, match="recent is empty"):
        population_stability_index([1.0], [])


def test_roc_auc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="only one class"):
        roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="only one class"):
        roc_auc([0, 0], [0.2, 0.5])


def test_lift_needs_a_positive_and_a_sensible_fraction() -> None:
    with pytest.raises(ValueError, match="no positives"):
        lift_at_top([0, 0, 0], [0.2, 0.5, 0.9])
    for fraction in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            lift_at_top([0, 1, 0], [0.2, 0.5, 0.9], fraction=fraction)


@pytest.mark.parametrize(
    ("y_true", "y_score", "message"),
    [
        ([0, 1, 1], [0.2, 0.5], "differ in length"),
        ([0, 2, 1], [0.2, 0.5, 0.7], "only 0 and 1"),
        ([0, 1, 1], [0.2, np.nan, 0.7], "finite"),
        ([[0, 1]], [[0.2, 0.5]], "one-dimensional"),
        (["no", "yes"], [0.2, 0.5], "numeric"),
    ],
)
def test_malformed_labels_and_scores_are_rejected(y_true: list, y_score: list, message: str) -> None:
    for metric in (roc_auc, brier_score, calibration_table, lift_at_top):
        with pytest.raises(ValueError, match=message):
            metric(y_true, y_score)


def test_probabilities_must_be_in_the_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        brier_score([0, 1], [0.2, 1.3])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibration_table([0, 1], [-0.1, 0.5])
    assert roc_auc([0, 1], [-3.0, 12.0]) == 1.0  # scores for AUC need not be probabilities


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_bins"):
        calibration_table([0, 1], [0.2, 0.5], n_bins=0)
    with pytest.raises(ValueError, match="strategy"):
        calibration_table([0, 1], [0.2, 0.5], strategy="kmeans")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_bins"):
        population_stability_index([1.0, 2.0], [1.0], n_bins=1)
    with pytest.raises(ValueError, match="epsilon"):
        population_stability_index([1.0, 2.0], [1.0], epsilon=0)
    with pytest.raises(ValueError, match="PSI"):
        psi_level(-0.1)
