"""CLV from real-time features: inputs read from the features, the serving arithmetic equal to
scoring.clv, the no-dropout fallback, and JSON artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scoring.clv import BgNbdParams, GammaGammaParams, customer_lifetime_value
from scoring.clv_model import ClvArtifact, ClvInputs, NbdParams, clv_inputs, fit_clv
from scoring.feature_spec import DAY, PersonFeatures

NOW = 1_750_000_000.0


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _person(
    *, orders: int, first_days_ago: float | None, last_days_ago: float | None, revenue: float
) -> PersonFeatures:
    computed = {
        "orders_total": orders,
        "revenue_total": revenue,
        "last_order_at": None if last_days_ago is None else _iso(NOW - last_days_ago * DAY),
    }
    first = None if first_days_ago is None else NOW - first_days_ago * DAY
    return PersonFeatures("p", NOW, computed, first)


def test_inputs_come_from_the_features() -> None:
    inputs = clv_inputs(_person(orders=3, first_days_ago=40, last_days_ago=10, revenue=150.0))
    assert inputs is not None
    assert (inputs.frequency, inputs.recency, inputs.T) == pytest.approx((2, 30, 40))
    assert inputs.monetary_value == 50.0 and inputs.last_order_days_ago == pytest.approx(10)
    assert clv_inputs(_person(orders=0, first_days_ago=None, last_days_ago=None, revenue=0)) is None
    same_visit = clv_inputs(_person(orders=2, first_days_ago=5, last_days_ago=5 - 0.5 / 24, revenue=20.0))
    assert same_visit is not None and (same_visit.frequency, same_visit.recency) == (0, 0)


@pytest.mark.parametrize(
    "inputs",
    [
        ClvInputs(frequency=0, recency=0, T=12, monetary_value=40, orders=1, last_order_days_ago=12),
        ClvInputs(frequency=3, recency=50, T=60, monetary_value=35, orders=4, last_order_days_ago=10),
        ClvInputs(frequency=12, recency=20, T=200, monetary_value=90, orders=13, last_order_days_ago=180),
    ],
)
def test_serving_arithmetic_equals_the_model_code(inputs: ClvInputs) -> None:
    purchases = BgNbdParams(r=0.6, alpha=20.0, a=0.8, b=2.5)
    spend = GammaGammaParams(p=6.0, q=3.7, gamma=15.0)
    artifact = ClvArtifact(purchases=purchases, spend=spend, mean_order_value=30.0, horizon_days=90.0)
    value = artifact.value(inputs)
    x, t_x, age = [inputs.frequency], [inputs.recency], [inputs.T]
    expected = purchases.expected_purchases(90.0, frequency=x, recency=t_x, T=age)[0]
    assert value["expected_purchases"] == pytest.approx(expected, rel=1e-12)
    assert value["probability_alive"] == pytest.approx(purchases.probability_alive(frequency=x, recency=t_x, T=age)[0])
    own_mean = [inputs.monetary_value if inputs.frequency else 0.0]
    clv = customer_lifetime_value(
        purchases=purchases,
        spend=spend,
        frequency=x,
        recency=t_x,
        T=age,
        monetary_value=own_mean,
        periods=1,
        period_length=90.0,
    )[0]
    assert value["clv"] == pytest.approx(clv, rel=1e-12)


def test_without_visible_dropout_the_fit_falls_back_to_nbd() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(400):  # Poisson buyers who never leave, observed 40 days
        rate = rng.gamma(2.0, 0.05)
        times = np.cumsum(rng.exponential(1 / rate, 30))
        times = times[times < 40]
        if times.size == 0:
            continue
        x = times.size - 1
        rows.append(
            ClvInputs(float(x), float(times[-1] - times[0]) if x else 0.0, float(40 - times[0]), 30.0, x + 1, 0.0)
        )
    model = fit_clv(rows, horizon_days=30)
    assert model.purchase_model == "nbd"
    assert isinstance(model.purchases, NbdParams)
    predicted = model.expected_purchases(rows, 30.0)
    assert np.all(np.isfinite(predicted)) and np.all(predicted > 0)
    rebuilt = ClvArtifact.from_json(json.loads(json.dumps(model.as_json())))
    assert rebuilt.value(rows[0]) == model.value(rows[0])


def test_customers_who_drop_out_get_bgnbd() -> None:
    truth = BgNbdParams(r=0.8, alpha=6.0, a=0.7, b=3.0)
    rng = np.random.default_rng(11)
    rows = []
    for _ in range(3000):
        rate, dropout = rng.gamma(truth.r, 1 / truth.alpha), rng.beta(truth.a, truth.b)
        clock, x, last = 0.0, 0, 0.0
        while True:
            clock += rng.exponential(1 / rate)
            if clock > 52 or rng.random() < dropout:
                break
            x, last = x + 1, clock
        rows.append(ClvInputs(float(x), last, 52.0, 25.0 + x, x + 1, 52.0 - last))
    model = fit_clv(rows, horizon_days=26)
    assert model.purchase_model == "bgnbd"
    assert model.spend is not None
    fitted = model.purchases
    assert isinstance(fitted, BgNbdParams)
    assert fitted.a > 0.01 and fitted.b < 1000  # a dropout process was identified, not the p -> 0 boundary
    silent = ClvInputs(frequency=4, recency=5, T=52, monetary_value=30, orders=5, last_order_days_ago=47)
    assert model.value(silent)["probability_alive"] < 0.5  # four quick orders then a long silence: probably gone


def test_an_artifact_names_exactly_one_purchase_model() -> None:
    model = ClvArtifact(purchases=NbdParams(r=1.0, alpha=10.0), spend=None, mean_order_value=20.0, horizon_days=90)
    data = model.as_json()
    assert data["bgnbd"] is None and data["nbd"] == {"r": 1.0, "alpha": 10.0}
    with pytest.raises(ValueError, match="exactly one"):
        ClvArtifact.from_json({**data, "nbd": None})
    with pytest.raises(ValueError):
        ClvArtifact.from_json({**data, "horizon_days": -1})
    with pytest.raises(ValueError):
        ClvArtifact.from_json({**data, "nbd": {"r": -1.0, "alpha": 1.0}})
