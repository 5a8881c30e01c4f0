"""Drift: PSI per input and score between the training rows (kept as a percentile sketch) and the
people a model scores now."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.classifier import fit_logistic
from scoring.drift import drift_rows, drift_summary
from scoring.feature_spec import FeatureDef, FeatureSpec, PersonFeatures, count_key
from scoring.metrics import population_stability_index
from scoring.training import reference_sketch


def _people(rng: np.random.Generator, n: int, *, quiet: float = 0.0) -> list[PersonFeatures]:
    people = []
    for i in range(n):
        views = int(rng.poisson(1.5))  # a discrete feature with many zeros
        people.append(
            PersonFeatures(
                f"p{i}",
                0.0,
                {
                    "days_since_last_seen": float(rng.exponential(5.0)) + quiet,
                    "event_counts": {"Product Viewed": {"7d": views, "30d": views + int(rng.poisson(2))}},
                },
                None,
            )
        )
    return people


@pytest.mark.parametrize("sample", ["continuous", "discrete"])
def test_the_sketch_reproduces_the_training_distribution(sample: str) -> None:
    rng = np.random.default_rng(5)
    values = rng.exponential(3.0, 5000) if sample == "continuous" else rng.poisson(0.7, 5000).astype(float)
    sketch = reference_sketch(values)
    assert len(sketch) == 101 and set(sketch) <= set(values.tolist())  # real values, no interpolation
    assert population_stability_index(sketch, values).value < 0.02
    assert population_stability_index(sketch, values + 2.0).level == "significant"


def test_drift_rows_flag_the_inputs_that_moved() -> None:
    rng = np.random.default_rng(9)
    spec = FeatureSpec([FeatureDef("recency_days"), FeatureDef(count_key("Product Viewed", "7d"))])
    train = _people(rng, 3000)
    labels = [int(rng.random() < 1 / (1 + p.computed["days_since_last_seen"])) for p in train]
    model = fit_logistic(spec=spec, people=train, labels=labels, seed=1)
    matrix = spec.matrix(train)
    reference = {
        "features": {key: reference_sketch(matrix[:, i]) for i, key in enumerate(spec.keys)},
        "score": reference_sketch(model.predict(matrix)),
    }
    same = drift_rows(model=model, reference=reference, recent=_people(rng, 1500))
    assert same[0]["name"] == "score"
    assert all(row["level"] == "stable" for row in same), same
    moved = {
        row["name"]: row for row in drift_rows(model=model, reference=reference, recent=_people(rng, 1500, quiet=20))
    }
    assert moved["recency_days"]["level"] == "significant" and moved["score"]["level"] == "significant"
    assert moved[count_key("Product Viewed", "7d")]["level"] == "stable"
    assert drift_summary(list(moved.values()))["significant"] == 2
    assert drift_rows(model=model, reference=reference, recent=_people(rng, 5)) == []  # too few people to say
