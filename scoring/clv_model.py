"""CLV from real-time features: BG/NBD + Gamma-Gamma (``scoring.clv``) fitted on the workspace's
customers, stored as JSON parameters, and applied to one person's features in days.

Per customer, from ``PersonFeatures`` at a moment ``now`` (time unit: days):

- x = orders - 1 (repeat orders); t_x = last order - first order; T = now - first order;
  orders less than an hour apart count as one purchase occasion (x = 0 when all are);
- z̄ = revenue / orders, the mean order value. The features keep totals, not the first order's
  value, so the first order is not excluded as Gamma-Gamma's definition asks (docs/models.md).

People without an order get no CLV (BG/NBD describes customers after their first purchase).
If there are too few repeat customers for Gamma-Gamma, the mean order value of the customers is
used as everyone's expected order value.

When the customers show no dropout (short histories often do), the BG/NBD likelihood is largest
at its boundary p -> 0 (a -> 0, b -> infinity) and the fit fails or returns extreme values that
make the hypergeometric term meaningless. The model used is then BG/NBD's own limit as p -> 0, the
NBD (Gamma-Poisson) purchase model: E[Y(t) | x, T] = (r + x) / (alpha + T) * t, everyone alive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from scoring.clv import BgNbdParams, FitError, GammaGammaParams
from scoring.feature_spec import DAY, PersonFeatures, parse_iso

ARTIFACT_FORMAT = "cep.clv.v1"
SAME_OCCASION_DAYS = 1.0 / 24
MIN_REPEAT_CUSTOMERS = 10
# BG/NBD fits this close to the no-dropout boundary are replaced by the NBD limit.
MIN_DROPOUT_A = 1e-3
MAX_DROPOUT_B = 1e4
NBD_LOG_BOUND = 20.0
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class NbdParams:
    """NBD purchase model (BG/NBD without dropout): rate lambda ~ Gamma(shape r, rate alpha)."""

    r: float
    alpha: float

    def __post_init__(self) -> None:
        for name in ("r", "alpha"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"NBD parameter {name} must be a positive finite number, got {value!r}")

    @classmethod
    def fit(cls, frequency: FloatArray, T: FloatArray) -> NbdParams:
        """Maximum likelihood of x repeat purchases over T: log L = lnG(r+x) - lnG(r) + r ln a - (r+x) ln(a+T)."""
        unit = float(T.max()) if T.size and T.max() > 0 else 1.0
        age = T / unit
        x = frequency

        def negative(log_params: FloatArray) -> tuple[float, FloatArray]:
            r, alpha = np.exp(log_params)
            ll = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + age)
            d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - np.log(alpha + age)
            d_alpha = r / alpha - (r + x) / (alpha + age)
            gradient = np.array([float(d_r.mean()) * r, float(d_alpha.mean()) * alpha])
            return -float(ll.mean()), -gradient

        result = optimize.minimize(
            negative,
            np.zeros(2),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-NBD_LOG_BOUND, NBD_LOG_BOUND)] * 2,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
        r, alpha = np.exp(np.asarray(result.x, dtype=np.float64))
        if not (np.all(np.isfinite(result.x)) and np.all(np.abs(result.x) < NBD_LOG_BOUND - 1e-6)):
            raise FitError("NBD fit ran to a parameter bound: the data do not identify purchase rates")
        return cls(r=float(r), alpha=float(alpha) * unit)

    def expected_purchases(
        self,
        t: float,
        *,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
    ) -> FloatArray:
        x = np.asarray(frequency, dtype=np.float64)
        age = np.asarray(T, dtype=np.float64)
        return np.asarray((self.r + x) / (self.alpha + age) * t, dtype=np.float64)

    def probability_alive(
        self,
        *,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
    ) -> FloatArray:
        return np.ones_like(np.asarray(frequency, dtype=np.float64))


def _bgnbd_usable(params: BgNbdParams, x: FloatArray, t_x: FloatArray, age: FloatArray) -> bool:
    if params.a < MIN_DROPOUT_A or params.b > MAX_DROPOUT_B:
        return False
    predicted = params.expected_purchases(30.0, frequency=x, recency=t_x, T=age)
    return bool(np.all(np.isfinite(predicted)) and np.all(predicted >= 0))


@dataclass(frozen=True, slots=True)
class ClvInputs:
    frequency: float
    recency: float
    T: float
    monetary_value: float
    orders: int
    last_order_days_ago: float


def clv_inputs(person: PersonFeatures) -> ClvInputs | None:
    computed = person.computed
    orders = int(computed.get("orders_total") or 0)
    first = person.first_order_at
    last = parse_iso(computed.get("last_order_at"))
    if orders < 1 or first is None or last is None:
        return None
    age = max(0.0, (person.as_of - first) / DAY)
    span = min(age, max(0.0, (last - first) / DAY))
    repeat = orders - 1
    if span < SAME_OCCASION_DAYS:
        repeat, span = 0, 0.0
    revenue = float(computed.get("revenue_total") or 0.0)
    return ClvInputs(
        frequency=float(repeat),
        recency=span,
        T=age,
        monetary_value=max(0.0, revenue / orders),
        orders=orders,
        last_order_days_ago=max(0.0, (person.as_of - last) / DAY),
    )


def inputs_arrays(rows: Sequence[ClvInputs]) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    return (
        np.array([r.frequency for r in rows]),
        np.array([r.recency for r in rows]),
        np.array([r.T for r in rows]),
        np.array([r.monetary_value for r in rows]),
    )


@dataclass(frozen=True)
class ClvArtifact:
    purchases: BgNbdParams | NbdParams
    spend: GammaGammaParams | None
    mean_order_value: float
    horizon_days: float

    def expected_purchases(self, rows: Sequence[ClvInputs], days: float) -> FloatArray:
        x, t_x, age, _ = inputs_arrays(rows)
        return self.purchases.expected_purchases(days, frequency=x, recency=t_x, T=age)

    def expected_order_value(self, rows: Sequence[ClvInputs]) -> FloatArray:
        x, _, _, z = inputs_arrays(rows)
        if self.spend is None:
            return np.full(x.shape, self.mean_order_value)
        # Gamma-Gamma's own mean is defined for customers with repeat purchases and z̄ > 0;
        # for the others it is the population mean (x = 0 ignores z̄).
        usable = (x > 0) & (z > 0)
        return self.spend.expected_order_value(
            frequency=np.where(usable, x, 0.0), monetary_value=np.where(usable, z, 0.0)
        )

    def value(self, inputs: ClvInputs) -> dict[str, float]:
        """CLV over the horizon with its parts, for one customer. Scalar arithmetic (the same
        formulas as ``scoring.clv``; a test holds them equal) because this runs on every event."""
        x, t_x, age, t = inputs.frequency, inputs.recency, inputs.T, self.horizon_days
        purchases_model = self.purchases
        if isinstance(purchases_model, NbdParams):
            alive = 1.0
            purchases = (purchases_model.r + x) / (purchases_model.alpha + age) * t
        elif abs(purchases_model.a - 1.0) < 1e-6:  # the closed form is 0/0 there: use the array code
            xs, rs, ts = np.array([x]), np.array([t_x]), np.array([age])
            purchases = float(purchases_model.expected_purchases(t, frequency=xs, recency=rs, T=ts)[0])
            alive = float(purchases_model.probability_alive(frequency=xs, recency=rs, T=ts)[0])
        else:
            r, alpha, a, b = purchases_model.r, purchases_model.alpha, purchases_model.a, purchases_model.b
            if x > 0:
                log_odds_dead = (
                    math.log(a) - math.log(b + x - 1) + (r + x) * (math.log(alpha + age) - math.log(alpha + t_x))
                )
                alive = 1.0 / (1.0 + math.exp(log_odds_dead)) if log_odds_dead < 700 else 0.0
            else:
                alive = 1.0
            c = a + b + x - 1
            one_minus_z = (alpha + age) / (alpha + age + t)
            z = t / (alpha + age + t)
            tail = one_minus_z ** (a - 1) * float(special.hyp2f1(a + b - 1 - r, a - 1, c, z))
            purchases = alive * c / (a - 1) * (1.0 - tail)
        spend = self.spend
        if spend is None:
            order_value = self.mean_order_value
        elif x > 0 and inputs.monetary_value > 0:
            order_value = spend.p * (spend.gamma + x * inputs.monetary_value) / (spend.p * x + spend.q - 1)
        else:
            order_value = spend.p * spend.gamma / (spend.q - 1)
        if not (math.isfinite(purchases) and math.isfinite(order_value)):
            raise ValueError("CLV is not finite for these inputs")
        return {
            "clv": purchases * order_value,
            "expected_purchases": purchases,
            "probability_alive": alive,
            "expected_order_value": order_value,
            "horizon_days": t,
        }

    @property
    def purchase_model(self) -> str:
        return "bgnbd" if isinstance(self.purchases, BgNbdParams) else "nbd"

    def as_json(self) -> dict[str, Any]:
        purchases = self.purchases
        return {
            "format": ARTIFACT_FORMAT,
            "time_unit": "days",
            "bgnbd": {"r": purchases.r, "alpha": purchases.alpha, "a": purchases.a, "b": purchases.b}
            if isinstance(purchases, BgNbdParams)
            else None,
            "nbd": {"r": purchases.r, "alpha": purchases.alpha} if isinstance(purchases, NbdParams) else None,
            "gamma_gamma": None
            if self.spend is None
            else {"p": self.spend.p, "q": self.spend.q, "gamma": self.spend.gamma},
            "mean_order_value": self.mean_order_value,
            "horizon_days": self.horizon_days,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClvArtifact:
        if data.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"not a {ARTIFACT_FORMAT} artifact")
        bg, nbd = data.get("bgnbd"), data.get("nbd")
        gg = data.get("gamma_gamma")
        if (bg is None) == (nbd is None):
            raise ValueError("a CLV artifact has exactly one purchase model: bgnbd or nbd")
        purchases: BgNbdParams | NbdParams
        if bg is not None:
            purchases = BgNbdParams(r=float(bg["r"]), alpha=float(bg["alpha"]), a=float(bg["a"]), b=float(bg["b"]))
        else:
            assert nbd is not None
            purchases = NbdParams(r=float(nbd["r"]), alpha=float(nbd["alpha"]))
        mean_order_value = float(data["mean_order_value"])
        horizon = float(data["horizon_days"])
        if not (math.isfinite(mean_order_value) and mean_order_value >= 0 and math.isfinite(horizon) and horizon > 0):
            raise ValueError("mean order value and horizon must be finite, the horizon positive")
        return cls(
            purchases=purchases,
            spend=None
            if gg is None
            else GammaGammaParams(p=float(gg["p"]), q=float(gg["q"]), gamma=float(gg["gamma"])),
            mean_order_value=mean_order_value,
            horizon_days=horizon,
        )


def fit_clv(rows: Sequence[ClvInputs], *, horizon_days: float) -> ClvArtifact:
    """Fit BG/NBD (or its no-dropout limit, NBD) on every customer and Gamma-Gamma on the repeat
    customers. Raises ValueError without any repeat purchase, ``FitError`` when not even NBD fits."""
    if not rows:
        raise ValueError("no customers with an order to fit CLV on")
    x, t_x, age, z = inputs_arrays(rows)
    purchases: BgNbdParams | NbdParams
    try:
        fitted = BgNbdParams.fit(x, t_x, age)
        purchases = fitted if _bgnbd_usable(fitted, x, t_x, age) else NbdParams.fit(x, age)
    except FitError:
        purchases = NbdParams.fit(x, age)
    repeat = (x > 0) & (z > 0)
    spend: GammaGammaParams | None = None
    if int(repeat.sum()) >= MIN_REPEAT_CUSTOMERS:
        try:
            spend = GammaGammaParams.fit(x[repeat], z[repeat])
            if spend.q <= 1:
                spend = None  # infinite population mean: not usable for people without repeats
        except (FitError, ValueError):
            spend = None
    mean_order_value = float(z[z > 0].mean()) if np.any(z > 0) else 0.0
    return ClvArtifact(purchases=purchases, spend=spend, mean_order_value=mean_order_value, horizon_days=horizon_days)
