"""Customer lifetime value: the BG/NBD purchase model and the Gamma-Gamma spend model.

BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
Pareto/NBD Model", Marketing Science 24(2). Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV:
Using Iso-Value Curves for Customer Base Analysis", Journal of Marketing Research 42(4), with the
likelihood as written in Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value".

Inputs per customer, all measured in one time unit of the caller's choice (CDNOW uses weeks):

- ``frequency`` (x): number of repeat purchases, i.e. purchases after the first one;
- ``recency`` (t_x): time from the first purchase to the last one (0 when x = 0);
- ``T``: time from the first purchase to the end of the observation window;
- ``monetary_value`` (z-bar): mean value of the repeat purchases (the first one is excluded).

Pure numpy/scipy; no Django. See ``docs/models.md`` for the formulas and their validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

FloatArray = npt.NDArray[np.float64]

# The optimiser works on log-parameters; these bounds keep exp() finite and only bind on degenerate data.
_LOG_PARAM_BOUND = 25.0
# Largest |gradient| of the mean log-likelihood (w.r.t. log-parameters) accepted as a maximum.
_GRADIENT_TOLERANCE = 1e-6
# |log parameter| beyond this (a factor of ~1e6 from 1) in a failed fit is reported as drift to a boundary.
_DEGENERATE_LOG_PARAM = 14.0
# |a - 1| below this uses a symmetric average around a = 1, where the closed form is 0/0.
_A_NEAR_ONE = 1e-6


class FitError(RuntimeError):
    """The maximum-likelihood optimiser did not converge."""


# --- input validation -----------------------------------------------------------------------------------------------


def _as_float_array(name: str, values: npt.ArrayLike) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric") from exc
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return array


def _fail_where(mask: npt.NDArray[np.bool_], message: str) -> None:
    if np.any(mask):
        rows = np.flatnonzero(mask)
        raise ValueError(f"{message} ({rows.size} row(s), first at flat index {int(rows[0])})")


def _broadcast(**arrays: FloatArray) -> list[FloatArray]:
    try:
        return [np.asarray(array, dtype=np.float64) for array in np.broadcast_arrays(*arrays.values())]
    except ValueError as exc:
        names = ", ".join(arrays)
        raise ValueError(f"{names} must have the same shape (or broadcast together)") from exc


def _check_frequency(frequency: FloatArray) -> None:
    _fail_where(frequency < 0, "frequency must be >= 0")
    _fail_where(frequency != np.floor(frequency), "frequency must be a whole number of repeat purchases")


def _validate_rft(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, age = _broadcast(
        frequency=_as_float_array("frequency", frequency),
        recency=_as_float_array("recency", recency),
        T=_as_float_array("T", T),
    )
    _check_frequency(x)
    _fail_where(t_x < 0, "recency must be >= 0")
    _fail_where(age < 0, "T must be >= 0")
    _fail_where(t_x > age, "recency must not exceed T")
    _fail_where((x == 0) & (t_x > 0), "recency must be 0 when frequency is 0")
    _fail_where((x > 0) & (t_x == 0), "recency must be > 0 when frequency is > 0")
    return x, t_x, age


def _validate_spend(frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, z = _broadcast(
        frequency=_as_float_array("frequency", frequency),
        monetary_value=_as_float_array("monetary_value", monetary_value),
    )
    _check_frequency(x)
    _fail_where(z < 0, "monetary_value must be >= 0")
    return x, z


def _require_fit_sample(*arrays: FloatArray) -> None:
    if arrays[0].ndim != 1:
        raise ValueError("fitting needs one-dimensional arrays, one entry per customer")
    if arrays[0].size == 0:
        raise ValueError("fitting needs at least one customer")


def _collapse(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Unique rows and their counts: identical customers share one likelihood term."""
    unique, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return [np.ascontiguousarray(unique[:, i]) for i in range(unique.shape[1])], counts.astype(np.float64)


def _maximise(
    negative_mean_ll: Callable[[FloatArray], tuple[float, FloatArray]],
    initial: FloatArray,
    names: tuple[str, ...],
    model: str,
) -> FloatArray:
    bounds = [(-_LOG_PARAM_BOUND, _LOG_PARAM_BOUND)] * initial.size
    result = optimize.minimize(
        negative_mean_ll,
        np.log(initial),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
    )
    log_params = np.asarray(result.x, dtype=np.float64)
    gradient = np.asarray(result.jac, dtype=np.float64)
    # A line search can stop "abnormally" at the optimum when the objective is flat to round-off; that is a result.
    converged = result.success or float(np.max(np.abs(gradient))) <= _GRADIENT_TOLERANCE
    if converged and np.all(np.isfinite(log_params)) and np.all(np.abs(log_params) < _LOG_PARAM_BOUND - 1e-6):
        return np.exp(log_params)
    drifting = [name for name, value in zip(names, log_params, strict=True) if abs(value) > _DEGENERATE_LOG_PARAM]
    if drifting:
        raise FitError(
            f"{model} fit did not converge: {', '.join(drifting)} drift towards 0 or infinity; the data do not "
            "identify the model (too few customers or repeat purchases, or no heterogeneity between customers)"
        )
    raise FitError(f"{model} fit did not converge: {result.message}")


# --- BG/NBD -----------------------------------------------------------------------------------------------------------


def _bgnbd_row_terms(
    params: tuple[float, float, float, float], x: FloatArray, t_x: FloatArray, age: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and its gradient with respect to (log r, log alpha, log a, log b)."""
    r, alpha, a, b = params
    repeat = x > 0
    log_a3 = -(r + x) * np.log(alpha + age)
    log_a4 = np.full_like(x, -np.inf)
    log_a4[repeat] = np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    log_tail = np.logaddexp(log_a3, log_a4)
    w4 = np.exp(log_a4 - log_tail)  # share of the "dropped out after the last purchase" branch
    w3 = 1.0 - w4

    ll = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
        + log_tail
    )
    d_r = (
        special.digamma(r + x)
        - special.digamma(r)
        + np.log(alpha)
        - w3 * np.log(alpha + age)
        - w4 * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - w3 * (r + x) / (alpha + age) - w4 * (r + x) / (alpha + t_x)
    d_a = special.digamma(a + b) - special.digamma(a + b + x) + w4 / a
    inv_b = np.zeros_like(x)
    inv_b[repeat] = 1.0 / (b + x[repeat] - 1)
    d_b = special.digamma(b + x) - special.digamma(a + b + x) - special.digamma(b) + special.digamma(a + b) - w4 * inv_b
    gradient = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return ll, gradient


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """Fitted BG/NBD parameters.

    Purchase rate lambda ~ Gamma(shape r, rate alpha); after each purchase a customer drops out with
    probability p ~ Beta(a, b). ``alpha`` is in the caller's time unit.
    """

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        for name in ("r", "alpha", "a", "b"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"BG/NBD parameter {name} must be a positive finite number, got {value!r}")

    @classmethod
    def fit(
        cls,
        frequency: npt.ArrayLike,
        recency: npt.ArrayLike,
        T: npt.ArrayLike,
        *,
        initial: BgNbdParams | None = None,
    ) -> BgNbdParams:
        """Maximum-likelihood estimate from one (frequency, recency, T) row per customer.

        Needs at least one customer with a repeat purchase. Tiny or degenerate samples can still give extreme
        parameters (or a FitError); validate a fit on held-out data before using it.
        """
        x, t_x, age = _validate_rft(frequency, recency, T)
        _require_fit_sample(x, t_x, age)
        if not np.any(x > 0):
            raise ValueError("BG/NBD cannot be fitted without any repeat purchase (every frequency is 0)")
        # Fit in units of the longest observation window: alpha scales with time, the other parameters do not,
        # and the maximiser of the likelihood is unchanged. Keeps the optimiser's scale independent of the unit.
        unit = float(age.max())
        (x, t_x, age), weights = _collapse(x, t_x / unit, age / unit)
        total = float(weights.sum())

        def negative_mean_ll(log_params: FloatArray) -> tuple[float, FloatArray]:
            r, alpha, a, b = np.exp(log_params)
            ll, gradient = _bgnbd_row_terms((r, alpha, a, b), x, t_x, age)
            return -float(weights @ ll) / total, -(gradient @ weights) / total

        start = initial or cls(r=1.0, alpha=unit, a=1.0, b=1.0)
        r, alpha, a, b = _maximise(
            negative_mean_ll,
            np.array([start.r, start.alpha / unit, start.a, start.b]),
            ("r", "alpha", "a", "b"),
            "BG/NBD",
        )
        alpha *= unit
        return cls(r=float(r), alpha=float(alpha), a=float(a), b=float(b))

    def log_likelihood(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> float:
        """Total log-likelihood of the customers (paper eq. 6, summed)."""
        x, t_x, age = _validate_rft(frequency, recency, T)
        ll, _ = _bgnbd_row_terms((self.r, self.alpha, self.a, self.b), x.ravel(), t_x.ravel(), age.ravel())
        return float(ll.sum())

    def probability_alive(self, *, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """P(customer has not dropped out by T | x, t_x, T); exactly 1 when x = 0."""
        x, t_x, age = _validate_rft(frequency, recency, T)
        return self._probability_alive(x, t_x, age)

    def _probability_alive(self, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
        repeat = x > 0
        log_odds_dead = np.full_like(x, -np.inf)
        log_odds_dead[repeat] = (
            np.log(self.a)
            - np.log(self.b + x[repeat] - 1)
            + (self.r + x[repeat]) * (np.log(self.alpha + age[repeat]) - np.log(self.alpha + t_x[repeat]))
        )
        return np.asarray(special.expit(-log_odds_dead), dtype=np.float64)

    def expected_purchases(
        self, t: npt.ArrayLike, *, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """E[number of purchases in (T, T + t] | x, t_x, T] (paper eq. 10)."""
        horizon = _as_float_array("t", t)
        _fail_where(horizon < 0, "t must be >= 0")
        x, t_x, age = _validate_rft(frequency, recency, T)
        horizon, x, t_x, age = _broadcast(t=horizon, frequency=x, recency=t_x, T=age)
        alive = self._probability_alive(x, t_x, age)
        if abs(self.a - 1.0) < _A_NEAR_ONE:
            below = self._expected_if_alive(horizon, x, age, a=1.0 - _A_NEAR_ONE)
            above = self._expected_if_alive(horizon, x, age, a=1.0 + _A_NEAR_ONE)
            return alive * (below + above) / 2
        return alive * self._expected_if_alive(horizon, x, age, a=self.a)

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, age: FloatArray, *, a: float) -> FloatArray:
        # Eq. 10 numerator: (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],
        # z = t/(alpha+T+t). Euler's transformation 2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the
        # product into (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose first two arguments do not grow with x.
        r, alpha, b = self.r, self.alpha, self.b
        c = a + b + x - 1
        one_minus_z = (alpha + age) / (alpha + age + t)
        z = t / (alpha + age + t)
        tail = one_minus_z ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)
        return np.asarray(c / (a - 1) * (1.0 - tail), dtype=np.float64)


# --- Gamma-Gamma ------------------------------------------------------------------------------------------------------


def _gamma_gamma_row_terms(
    params: tuple[float, float, float], x: FloatArray, z: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log density of the mean spend z given x, and its gradient w.r.t. (log p, log q, log gamma)."""
    p, q, gamma = params
    px = p * x
    log_spend = np.log(gamma + x * z)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(z)
        + px * np.log(x)
        - (px + q) * log_spend
    )
    d_p = x * (special.digamma(px + q) - special.digamma(px) + np.log(z) + np.log(x) - log_spend)
    d_q = special.digamma(px + q) - special.digamma(q) + np.log(gamma) - log_spend
    d_gamma = q / gamma - (px + q) / (gamma + x * z)
    return ll, np.stack([d_p * p, d_q * q, d_gamma * gamma])


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters.

    A customer's transaction values are Gamma(shape p, rate nu); nu ~ Gamma(shape q, rate gamma) across
    customers (``gamma`` is the paper's gamma, called v in the lifetimes package). Spend is assumed independent
    of the purchase process.
    """

    p: float
    q: float
    gamma: float

    def __post_init__(self) -> None:
        for name in ("p", "q", "gamma"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"Gamma-Gamma parameter {name} must be a positive finite number, got {value!r}")

    @classmethod
    def fit(
        cls,
        frequency: npt.ArrayLike,
        monetary_value: npt.ArrayLike,
        *,
        initial: GammaGammaParams | None = None,
    ) -> GammaGammaParams:
        """Maximum-likelihood estimate from customers with at least one repeat purchase.

        Pass only customers with frequency > 0 and their mean repeat-purchase value (> 0).
        """
        x, z = _validate_spend(frequency, monetary_value)
        _require_fit_sample(x, z)
        _fail_where(x == 0, "Gamma-Gamma is fitted on repeat customers only: frequency must be > 0")
        _fail_where(z == 0, "Gamma-Gamma needs a positive monetary_value for every customer it is fitted on")
        # Fit in units of the mean spend: gamma scales with money, p and q do not (same maximiser).
        unit = float(z.mean())
        (x, z), weights = _collapse(x, z / unit)
        total = float(weights.sum())

        def negative_mean_ll(log_params: FloatArray) -> tuple[float, FloatArray]:
            p, q, gamma = np.exp(log_params)
            ll, gradient = _gamma_gamma_row_terms((p, q, gamma), x, z)
            return -float(weights @ ll) / total, -(gradient @ weights) / total

        start = initial or cls(p=1.0, q=1.0, gamma=unit)
        p, q, gamma = _maximise(
            negative_mean_ll,
            np.array([start.p, start.q, start.gamma / unit]),
            ("p", "q", "gamma"),
            "Gamma-Gamma",
        )
        gamma *= unit
        return cls(p=float(p), q=float(q), gamma=float(gamma))

    def log_likelihood(self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> float:
        """Total log-likelihood of repeat customers' mean spend."""
        x, z = _validate_spend(frequency, monetary_value)
        _fail_where((x == 0) | (z == 0), "the likelihood is defined for frequency > 0 and monetary_value > 0")
        ll, _ = _gamma_gamma_row_terms((self.p, self.q, self.gamma), x.ravel(), z.ravel())
        return float(ll.sum())

    @property
    def population_mean_order_value(self) -> float:
        """E[Z] for a customer we know nothing about: p * gamma / (q - 1), finite only for q > 1."""
        if self.q <= 1:
            raise ValueError(f"the population mean order value is infinite when q <= 1 (q = {self.q})")
        return self.p * self.gamma / (self.q - 1)

    def expected_order_value(self, *, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> FloatArray:
        """E[Z | x, z-bar] = p (gamma + x z-bar) / (p x + q - 1).

        A weighted mean of the population mean (weight (q-1)/(px+q-1)) and the customer's own mean (px/(px+q-1)).
        For frequency 0 the customer's monetary_value is ignored and the population mean is returned.
        """
        x, z = _validate_spend(frequency, monetary_value)
        denominator = self.p * x + self.q - 1
        _fail_where(denominator <= 0, "expected order value is infinite where p * frequency + q <= 1")
        return np.asarray(self.p * (self.gamma + x * z) / denominator, dtype=np.float64)


# --- CLV --------------------------------------------------------------------------------------------------------------


def customer_lifetime_value(
    *,
    purchases: BgNbdParams,
    spend: GammaGammaParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    periods: int,
    period_length: float,
    discount_rate: float = 0.0,
) -> FloatArray:
    """Expected (discounted) revenue over the next ``periods`` periods of ``period_length`` time units each.

    CLV = sum_{i=1..periods} (E[Y(i L)] - E[Y((i-1) L)]) * E[Z] / (1 + d)^i, where E[Y] is the BG/NBD
    conditional expectation, E[Z] the Gamma-Gamma expected order value, L the period length and d the discount
    rate per period (cash flows discounted at the end of each period). With CDNOW's weekly data, 12 monthly
    periods are ``periods=12, period_length=52 / 12``.
    """
    if isinstance(periods, bool) or not isinstance(periods, int | np.integer) or periods < 1:
        raise ValueError("periods must be a positive integer")
    if not (np.isfinite(period_length) and period_length > 0):
        raise ValueError("period_length must be a positive finite number of time units")
    if not (np.isfinite(discount_rate) and discount_rate >= 0):
        raise ValueError("discount_rate must be a finite number >= 0")
    x, t_x, age = _validate_rft(frequency, recency, T)
    _, z = _validate_spend(frequency, monetary_value)
    x, t_x, age, z = _broadcast(frequency=x, recency=t_x, T=age, monetary_value=z)

    order_value = spend.expected_order_value(frequency=x, monetary_value=z)
    value = np.zeros_like(order_value)
    previous = np.zeros_like(order_value)
    for i in range(1, int(periods) + 1):
        cumulative = purchases.expected_purchases(i * period_length, frequency=x, recency=t_x, T=age)
        value += (cumulative - previous) * order_value / (1.0 + discount_rate) ** i
        previous = cumulative
    return value
