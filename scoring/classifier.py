"""Calibrated logistic regression: fitted with scikit-learn, stored and served as plain JSON.

Training (``fit_logistic``): features are standardised, the L2 strength of a scikit-learn
``LogisticRegression`` (Newton-Cholesky solver) is chosen from a small grid by out-of-fold log loss
(k folds by person, so no person's rows are both fitted and scored on), the model is refitted on
all training rows, and a calibration map from its log-odds to probabilities is fitted on the
out-of-fold log-odds of the chosen strength. The calibrator is isotonic regression or Platt scaling, whichever has
the lower Brier score when fitted on one half of the out-of-fold rows and scored on the other
(both ways round).

Serving (``LogisticArtifact``): the artifact is numbers only (means, scales, coefficients,
intercept, the calibration map) so a prediction is a dot product and an interpolation in numpy;
nothing is unpickled. ``explain`` gives each feature's contribution in probability: the score
minus the score with that feature at its training mean, holding the others fixed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from scoring.feature_spec import FeatureSpec, PersonFeatures

ARTIFACT_FORMAT = "cep.logistic.v1"
# Served probabilities stay inside [floor, 1 - floor]: isotonic maps can reach exactly 0 or 1, and no
# behavioural model is certain.
PROBABILITY_FLOOR = 0.001
EXPLAIN_MIN_DELTA = 0.005  # contributions smaller than this are not worth a sentence


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value)) if value > -700 else 0.0


def _sigmoid_array(values: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(values, -700, 700))), dtype=np.float64)


FloatArray = npt.NDArray[np.float64]


def _finite_array(name: str, values: Any, size: int | None = None) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or (size is not None and array.size != size) or not np.all(np.isfinite(array)):
        raise ValueError(f"artifact field {name!r} must be {size or 'some'} finite numbers")
    return array


@dataclass(frozen=True)
class Calibration:
    """Maps log-odds to probabilities: ``isotonic`` (piecewise-linear through ``x``/``y``) or
    ``platt`` (``sigmoid(a · logit + b)``)."""

    method: str
    x: FloatArray | None = None
    y: FloatArray | None = None
    a: float = 1.0
    b: float = 0.0

    def apply(self, logits: FloatArray) -> FloatArray:
        if self.method == "isotonic":
            assert self.x is not None and self.y is not None
            return np.interp(logits, self.x, self.y)
        return 1.0 / (1.0 + np.exp(-(self.a * logits + self.b)))

    def apply_one(self, logit: float) -> float:
        if self.method == "isotonic":
            assert self.x is not None and self.y is not None
            return float(np.interp(logit, self.x, self.y))
        value = self.a * logit + self.b
        return 1.0 / (1.0 + math.exp(-value)) if value > -700 else 0.0

    def as_json(self) -> dict[str, Any]:
        if self.method == "isotonic":
            assert self.x is not None and self.y is not None
            return {"method": "isotonic", "x": self.x.tolist(), "y": self.y.tolist()}
        return {"method": "platt", "a": self.a, "b": self.b}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        method = data.get("method")
        if method == "isotonic":
            x = _finite_array("calibration.x", data["x"])
            y = _finite_array("calibration.y", data["y"], x.size)
            if x.size < 1 or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0) or y.min() < 0 or y.max() > 1:
                raise ValueError("isotonic calibration must be non-decreasing probabilities")
            return cls(method="isotonic", x=x, y=y)
        if method == "platt":
            a, b = float(data["a"]), float(data["b"])
            if not (math.isfinite(a) and math.isfinite(b)):
                raise ValueError("platt calibration must be finite")
            return cls(method="platt", a=a, b=b)
        raise ValueError(f"unknown calibration method {method!r}")


@dataclass(frozen=True)
class Contribution:
    key: str
    raw: float | None
    delta: float  # score minus the score with this feature at its training mean


@dataclass(frozen=True)
class LogisticArtifact:
    spec: FeatureSpec
    mean: FloatArray
    scale: FloatArray
    coef: FloatArray
    intercept: float
    calibration: Calibration
    regularisation: float | None = None  # the chosen inverse L2 strength C (training record only)

    # --- batch -------------------------------------------------------------------------------------
    def logits(self, matrix: FloatArray) -> FloatArray:
        return ((matrix - self.mean) / self.scale) @ self.coef + self.intercept

    def predict(self, matrix: FloatArray) -> FloatArray:
        return np.clip(self.calibration.apply(self.logits(matrix)), PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)

    def predict_people(self, people: Sequence[PersonFeatures]) -> FloatArray:
        return self.predict(self.spec.matrix(people))

    # --- one person --------------------------------------------------------------------------------
    def score(self, person: PersonFeatures, *, explain: int = 3) -> tuple[float, list[Contribution]]:
        """Probability and the ``explain`` strongest contributions (by absolute size)."""
        raw = self.spec.raw(person)
        z = (self.spec.vector(person, raw) - self.mean) / self.scale
        terms = z * self.coef
        logit = float(terms.sum()) + self.intercept
        probability = min(1.0 - PROBABILITY_FLOOR, max(PROBABILITY_FLOOR, self.calibration.apply_one(logit)))
        if explain <= 0:
            return probability, []
        without = np.clip(self.calibration.apply(logit - terms), PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        deltas = probability - without
        if np.max(np.abs(deltas)) < EXPLAIN_MIN_DELTA:
            # The calibration map is flat here (its extremes): measure on the model's own logistic scale.
            deltas = _sigmoid(logit) - _sigmoid_array(logit - terms)
        order = np.argsort(-np.abs(deltas), kind="stable")[:explain]
        return probability, [Contribution(self.spec.keys[i], raw[i], float(deltas[i])) for i in order]

    # --- storage -----------------------------------------------------------------------------------
    def as_json(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "features": self.spec.as_json(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "calibration": self.calibration.as_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogisticArtifact:
        if data.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"not a {ARTIFACT_FORMAT} artifact")
        spec = FeatureSpec.from_json(data["features"])
        n = len(spec)
        scale = _finite_array("scale", data["scale"], n)
        if np.any(scale <= 0):
            raise ValueError("artifact scales must be positive")
        intercept = float(data["intercept"])
        if not math.isfinite(intercept):
            raise ValueError("artifact intercept must be finite")
        return cls(
            spec=spec,
            mean=_finite_array("mean", data["mean"], n),
            scale=scale,
            coef=_finite_array("coef", data["coef"], n),
            intercept=intercept,
            calibration=Calibration.from_json(data["calibration"]),
        )


def person_fold(profile_id: str, *, seed: int, folds: int) -> int:
    digest = hashlib.blake2b(f"{seed}|{profile_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % folds


def _logistic(seed: int, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, solver="newton-cholesky", max_iter=200, random_state=seed)


def _fit_isotonic(logits: FloatArray, labels: FloatArray) -> Calibration:
    """Centred isotonic regression: the pool-adjacent-violators fit, then one point per block at
    the block's mean log-odds, joined by straight lines. Unlike the step function it has no flat
    plateaus inside the data (no ties in the ranking, and every input can move the score), and
    it calibrates as well (Oron & Flournoy 2017, "Centered isotonic regression")."""
    fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(logits, labels).predict(logits)
    order = np.argsort(logits, kind="stable")
    xs, ys = logits[order], np.asarray(fitted, dtype=np.float64)[order]
    starts = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])
    ends = np.r_[starts[1:], ys.size]
    centres = np.array([xs[a:b].mean() for a, b in zip(starts, ends, strict=True)])
    values = ys[starts]
    keep = np.r_[True, np.diff(centres) > 0]  # blocks of equal log-odds cannot be told apart
    return Calibration(method="isotonic", x=centres[keep], y=values[keep])


def _fit_platt(logits: FloatArray, labels: FloatArray, seed: int) -> Calibration:
    model = LogisticRegression(C=1e6, solver="newton-cholesky", max_iter=200, random_state=seed).fit(
        logits.reshape(-1, 1), labels
    )
    return Calibration(method="platt", a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))


def _brier(calibration: Calibration, logits: FloatArray, labels: FloatArray) -> float:
    return float(np.mean((np.clip(calibration.apply(logits), 0, 1) - labels) ** 2))


def _choose_calibration(logits: FloatArray, labels: FloatArray, halves: npt.NDArray[np.bool_], seed: int) -> str:
    """Isotonic or Platt, by Brier score across two halves of the out-of-fold rows."""
    scores = {"isotonic": 0.0, "platt": 0.0}
    for fit_mask in (halves, ~halves):
        score_mask = ~fit_mask
        fit_labels = labels[fit_mask]
        if fit_labels.min(initial=1) == fit_labels.max(initial=0) or not score_mask.any():
            return "platt"  # too little data to judge: the two-parameter map is the safe choice
        scores["isotonic"] += _brier(
            _fit_isotonic(logits[fit_mask], fit_labels), logits[score_mask], labels[score_mask]
        )
        scores["platt"] += _brier(
            _fit_platt(logits[fit_mask], fit_labels, seed), logits[score_mask], labels[score_mask]
        )
    return "isotonic" if scores["isotonic"] < scores["platt"] else "platt"


REGULARISATION_GRID: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def _log_loss(logits: FloatArray, labels: FloatArray) -> float:
    # mean of log(1 + exp(-s * logit)) with s = +1/-1, computed stably
    signed = np.where(labels > 0.5, logits, -logits)
    return float(np.mean(np.logaddexp(0.0, -signed)))


def _out_of_fold(
    z: FloatArray, y: FloatArray, fold_of: npt.NDArray[np.int64], *, folds: int, seed: int, c: float
) -> FloatArray:
    out = np.zeros(y.size)
    for fold in range(folds):
        held = fold_of == fold
        train = ~held
        if not held.any():
            continue
        if y[train].min() == y[train].max():
            raise ValueError("a training fold has a single class; more data is needed")
        out[held] = _logistic(seed, c).fit(z[train], y[train]).decision_function(z[held])
    return out


def fit_logistic(
    *,
    spec: FeatureSpec,
    people: Sequence[PersonFeatures],
    labels: Sequence[int],
    seed: int,
    folds: int = 5,
    grid: Sequence[float] = REGULARISATION_GRID,
) -> LogisticArtifact:
    """Fit and calibrate on ``people`` (feature rows) and 0/1 ``labels``. The L2 strength is chosen
    from ``grid`` by out-of-fold log loss (folds by person); those out-of-fold log-odds also fit the
    calibration map. Deterministic in ``seed``."""
    matrix = spec.matrix(people)
    y = np.asarray(labels, dtype=np.float64)
    if matrix.shape[0] != y.size:
        raise ValueError("one label per row")
    if y.size < 2 * folds or y.min() == y.max():
        raise ValueError("training needs both classes and at least two rows per fold")
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (matrix - mean) / scale

    fold_of = np.array([person_fold(p.profile_id, seed=seed, folds=folds) for p in people], dtype=np.int64)
    best: tuple[float, float, FloatArray] | None = None
    for c in grid:
        out_of_fold = _out_of_fold(z, y, fold_of, folds=folds, seed=seed, c=c)
        loss = _log_loss(out_of_fold, y)
        if best is None or loss < best[0] - 1e-12:
            best = (loss, c, out_of_fold)
    assert best is not None
    _, c, out_of_fold = best
    halves = np.array([person_fold(p.profile_id, seed=seed + 1, folds=2) == 0 for p in people])
    method = _choose_calibration(out_of_fold, y, halves, seed)
    calibration = _fit_isotonic(out_of_fold, y) if method == "isotonic" else _fit_platt(out_of_fold, y, seed)

    final = _logistic(seed, c).fit(z, y)
    return LogisticArtifact(
        spec=spec,
        mean=mean,
        scale=scale,
        coef=np.asarray(final.coef_[0], dtype=np.float64),
        intercept=float(final.intercept_[0]),
        calibration=calibration,
        regularisation=c,
    )
