"""Drift: population stability index (``scoring.metrics.population_stability_index``) of every model
input and of the score, between the training rows and the people the model scores now.

The training side is stored with the model version (``ModelVersion.reference``): the 0th to 100th
percentiles of each input and of the score over the training rows, 101 points that reproduce the
training distribution's quantiles, so the PSI bins are the training deciles. The recent side is a
sample of the workspace's people who belong to the model's population now (the same eligibility
rule as the training rows), with features computed as of now from their stored feature state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scoring.classifier import LogisticArtifact
from scoring.clv_model import ClvArtifact, clv_inputs
from scoring.feature_spec import PersonFeatures, label
from scoring.metrics import PSI_MODERATE, PSI_SIGNIFICANT, population_stability_index

MIN_RECENT = 20
CLV_INPUT_LABELS = {
    "frequency": "repeat orders",
    "recency": "days from first to last order",
    "T": "days since the first order",
    "monetary_value": "mean order value",
}


def _row(name: str, title: str, kind: str, reference: Sequence[float], recent: Sequence[float]) -> dict[str, Any]:
    result = population_stability_index(reference, recent)
    return {
        "name": name,
        "label": title,
        "type": kind,
        "psi": round(result.value, 4),
        "level": result.level,
        "reference_share": [round(s, 4) for s in result.reference_share],
        "recent_share": [round(s, 4) for s in result.recent_share],
    }


def drift_rows(
    *, model: LogisticArtifact | ClvArtifact, reference: Mapping[str, Any], recent: Sequence[PersonFeatures]
) -> list[dict[str, Any]]:
    """PSI rows, the score first, then inputs by decreasing PSI. Empty when the recent sample is
    smaller than ``MIN_RECENT`` people (PSI on a handful of people is noise)."""
    features: Mapping[str, Sequence[float]] = reference.get("features") or {}
    rows: list[dict[str, Any]] = []
    if isinstance(model, ClvArtifact):
        inputs = [found for p in recent if (found := clv_inputs(p)) is not None]
        if len(inputs) < MIN_RECENT:
            return []
        columns = {
            "frequency": [row.frequency for row in inputs],
            "recency": [row.recency for row in inputs],
            "T": [row.T for row in inputs],
            "monetary_value": [row.monetary_value for row in inputs],
        }
        scores = (model.expected_purchases(inputs, model.horizon_days) * model.expected_order_value(inputs)).tolist()
        for key, values in columns.items():
            if key in features:
                rows.append(_row(key, CLV_INPUT_LABELS[key], "feature", features[key], values))
    else:
        if len(recent) < MIN_RECENT:
            return []
        matrix = model.spec.matrix(recent)
        scores = model.predict(matrix).tolist()
        for column, key in enumerate(model.spec.keys):
            if key in features:
                rows.append(_row(key, label(key), "feature", features[key], matrix[:, column].tolist()))
    rows.sort(key=lambda row: -row["psi"])
    if reference.get("score"):
        rows.insert(0, _row("score", "model score", "score", reference["score"], scores))
    return rows


def drift_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    values = np.array([row["psi"] for row in rows]) if rows else np.zeros(0)
    return {
        "max_psi": float(values.max()) if values.size else 0.0,
        "significant": int((values >= PSI_SIGNIFICANT).sum()),
        "moderate": int(((values >= PSI_MODERATE) & (values < PSI_SIGNIFICANT)).sum()),
    }
