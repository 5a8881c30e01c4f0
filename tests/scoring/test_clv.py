from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from scoring.cdnow import CdnowSummary, DatasetNotFoundError, load_cdnow_summary
from scoring.clv import BgNbdParams, GammaGammaParams, customer_lifetime_value

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", CDNOW sample of 2357 customers.
PAPER_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_BGNBD_LOG_LIKELIHOOD = -9582.4
# Fader, Hardie & Lee (2005), "RFM and CLV", the 946 CDNOW customers with repeat purchases.
PAPER_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}

# Outputs of lifetimes 0.11.3 (BetaGeoFitter / GammaGammaFitter, on pandas 3.1.1) for the first four CDNOW
# customers, with the parameters lifetimes fitted; an independent implementation to compare against.
LIFETIMES_BGNBD = BgNbdParams(r=0.24259292827982182, alpha=4.413532265271819, a=0.7928859664406882, b=2.42575238262586)
LIFETIMES_GAMMA_GAMMA = GammaGammaParams(p=6.248802496075312, q=3.744588460923114, gamma=15.44774806492914)
LIFETIMES_EXPECTED_PURCHASES_39_WEEKS = [
    1.2259104241743999,
    0.20325062425619006,
    0.1947808579394776,
    0.1947808579394776,
]
LIFETIMES_PROBABILITY_ALIVE = [0.726609136799059, 0.2122273880722099, 1.0, 1.0]
LIFETIMES_EXPECTED_ORDER_VALUE = [24.658616189236472, 18.911479869929103, 35.17100215250665, 35.17100215250665]
# customer_lifetime_value(time=12, freq="W", discount_rate=0.01): 12 periods of 4.345 weeks, 1% per period.
LIFETIMES_CLV = [36.27849576362541, 4.637466328569604, 8.344093121809983, 8.344093121809983]


@pytest.fixture(scope="module")
def cdnow() -> CdnowSummary:
    return load_cdnow_summary()


@pytest.fixture(scope="module")
def bgnbd(cdnow: CdnowSummary) -> BgNbdParams:
    return BgNbdParams.fit(cdnow.frequency, cdnow.recency, cdnow.T)


@pytest.fixture(scope="module")
def gamma_gamma(cdnow: CdnowSummary) -> GammaGammaParams:
    repeat = cdnow.repeat_customers()
    return GammaGammaParams.fit(repeat.frequency, repeat.monetary_value)


# --- the CDNOW data -------------------------------------------------------------------------------------------------


def test_cdnow_summary_is_the_papers_sample(cdnow: CdnowSummary) -> None:
    assert len(cdnow) == 2357
    assert len(cdnow.repeat_customers()) == 946
    assert cdnow.customer_id[0] == 1
    assert (cdnow.frequency[0], cdnow.recency[0], cdnow.T[0], cdnow.monetary_value[0]) == (2, 30.43, 38.86, 22.35)
    assert np.all(cdnow.T <= 39) and np.all(cdnow.recency <= cdnow.T)
    assert np.all(cdnow.monetary_value[cdnow.frequency == 0] == 0)
    assert np.all(cdnow.repeat_customers().monetary_value > 0)


def test_cdnow_loader_does_not_import_lifetimes() -> None:
    code = (
        "import sys; from scoring.cdnow import load_cdnow_summary; load_cdnow_summary(); "
        "print('lifetimes' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_cdnow_loader_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="not found"):
        load_cdnow_summary(tmp_path / "missing.csv")


def test_cdnow_loader_rejects_a_file_with_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("ID,frequency,recency,T\n1,2,30.43,38.86\n")
    with pytest.raises(ValueError, match="expected columns"):
        load_cdnow_summary(path)


# --- BG/NBD against the paper ---------------------------------------------------------------------------------------


def test_bgnbd_fit_reproduces_the_published_cdnow_parameters(bgnbd: BgNbdParams) -> None:
    assert bgnbd.r == pytest.approx(PAPER_BGNBD["r"], abs=0.01)
    assert bgnbd.alpha == pytest.approx(PAPER_BGNBD["alpha"], abs=0.01)
    assert bgnbd.a == pytest.approx(PAPER_BGNBD["a"], abs=0.01)
    assert bgnbd.b == pytest.approx(PAPER_BGNBD["b"], abs=0.01)


def test_bgnbd_fit_reaches_the_published_log_likelihood(bgnbd: BgNbdParams, cdnow: CdnowSummary) -> None:
    assert bgnbd.log_likelihood(cdnow.frequency, cdnow.recency, cdnow.T) == pytest.approx(
        PAPER_BGNBD_LOG_LIKELIHOOD, abs=0.1
    )


def test_bgnbd_fit_is_a_maximum(bgnbd: BgNbdParams, cdnow: CdnowSummary) -> None:
    best = bgnbd.log_likelihood(cdnow.frequency, cdnow.recency, cdnow.T)
    for name in ("r", "alpha", "a", "b"):
        for factor in (0.98, 1.02):
            values = {"r": bgnbd.r, "alpha": bgnbd.alpha, "a": bgnbd.a, "b": bgnbd.b}
            values[name] *= factor
            assert BgNbdParams(**values).log_likelihood(cdnow.frequency, cdnow.recency, cdnow.T) < best


def test_bgnbd_fit_does_not_depend_on_the_starting_point(bgnbd: BgNbdParams, cdnow: CdnowSummary) -> None:
    other = BgNbdParams.fit(
        cdnow.frequency, cdnow.recency, cdnow.T, initial=BgNbdParams(r=3.0, alpha=50.0, a=0.1, b=10.0)
    )
    assert (other.r, other.alpha, other.a, other.b) == pytest.approx((bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b), rel=1e-4)


def test_bgnbd_fit_follows_the_time_unit(bgnbd: BgNbdParams, cdnow: CdnowSummary) -> None:
    in_days = BgNbdParams.fit(cdnow.frequency, cdnow.recency * 7, cdnow.T * 7)
    assert (in_days.r, in_days.alpha / 7, in_days.a, in_days.b) == pytest.approx(
        (bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b), rel=1e-4
    )


def test_papers_example_customer_expects_1_226_purchases_in_39_weeks(bgnbd: BgNbdParams) -> None:
    # Paper, section 5: x = 2, t_x = 30.43, T = 38.86 weeks; 1.226 expected purchases in the next 39 weeks.
    expected = bgnbd.expected_purchases(39, frequency=2, recency=30.43, T=38.86)
    assert float(expected) == pytest.approx(1.226, abs=5e-4)


def test_bgnbd_matches_lifetimes_on_the_same_parameters(cdnow: CdnowSummary) -> None:
    customers = {"frequency": cdnow.frequency[:4], "recency": cdnow.recency[:4], "T": cdnow.T[:4]}
    expected = LIFETIMES_BGNBD.expected_purchases(39, **customers)
    alive = LIFETIMES_BGNBD.probability_alive(**customers)
    assert expected.tolist() == pytest.approx(LIFETIMES_EXPECTED_PURCHASES_39_WEEKS, rel=1e-9)
    assert alive.tolist() == pytest.approx(LIFETIMES_PROBABILITY_ALIVE, rel=1e-9)


def _paper_eq_10(params: BgNbdParams, t: float, x: float, t_x: float, T: float) -> float:
    """Eq. 10 of the paper as printed, with the Gauss hypergeometric function taken directly."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    hypergeometric = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    numerator = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hypergeometric)
    denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return float(numerator / denominator)


@pytest.mark.parametrize(
    ("t", "x", "t_x", "T"),
    [(39, 2, 30.43, 38.86), (39, 0, 0, 38.86), (10, 5, 20, 38), (100, 20, 38, 38.86), (1000, 200, 300, 300)],
)
def test_expected_purchases_equal_the_printed_formula(
    bgnbd: BgNbdParams, t: float, x: float, t_x: float, T: float
) -> None:
    expected = bgnbd.expected_purchases(t, frequency=x, recency=t_x, T=T)
    assert float(expected) == pytest.approx(_paper_eq_10(bgnbd, t, x, t_x, T), rel=1e-9)


def test_a_new_customer_expects_the_unconditional_mean(bgnbd: BgNbdParams) -> None:
    # Paper eq. 9: E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))].
    r, alpha, a, b = bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b
    for t in (1.0, 39.0, 78.0):
        unconditional = (
            (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
        )
        assert float(bgnbd.expected_purchases(t, frequency=0, recency=0, T=0)) == pytest.approx(unconditional, rel=1e-9)


def test_parameters_with_a_equal_to_one_are_usable() -> None:
    at_one = BgNbdParams(r=0.5, alpha=5.0, a=1.0, b=2.0)
    near = BgNbdParams(r=0.5, alpha=5.0, a=1.0 + 1e-4, b=2.0)
    value = float(at_one.expected_purchases(20, frequency=3, recency=10, T=15))
    assert np.isfinite(value)
    assert value == pytest.approx(float(near.expected_purchases(20, frequency=3, recency=10, T=15)), rel=1e-3)


# --- BG/NBD invariants ----------------------------------------------------------------------------------------------


def test_expected_purchases_grow_with_the_horizon(bgnbd: BgNbdParams, cdnow: CdnowSummary) -> None:
    horizons = np.array([0.0, 1.0, 4.0, 13.0, 39.0, 52.0, 104.0])[:, None]
    expected = bgnbd.expected_purchases(horizons, frequency=cdnow.frequency, recency=cdnow.recency, T=cdnow.T)
    assert expected.shape == (horizons.size, len(cdnow))
    assert np.all(expected[0] == 0)
    assert np.all(np.diff(expected, axis=0) > 0)


def test_probability_alive_is_a_probability(bgnbd: BgNbdParams, cdnow: CdnowSummary) -> None:
    alive = bgnbd.probability_alive(frequency=cdnow.frequency, recency=cdnow.recency, T=cdnow.T)
    assert alive.shape == (len(cdnow),)
    assert np.all((alive >= 0) & (alive <= 1))
    assert np.all(alive[cdnow.frequency == 0] == 1)
    assert np.all(alive[cdnow.frequency > 0] < 1)


def test_a_customer_with_no_repeat_purchases_is_alive(bgnbd: BgNbdParams) -> None:
    assert float(bgnbd.probability_alive(frequency=0, recency=0, T=1000)) == 1.0


def test_a_long_silence_lowers_the_probability_alive(bgnbd: BgNbdParams) -> None:
    alive = bgnbd.probability_alive(frequency=5, recency=10, T=np.array([10.0, 20.0, 40.0, 80.0]))
    assert np.all(np.diff(alive) < 0)
    assert alive[0] > 0.5 > alive[-1]


def test_the_fit_recovers_the_parameters_of_simulated_customers() -> None:
    truth = BgNbdParams(r=0.8, alpha=6.0, a=0.7, b=3.0)
    rng = np.random.default_rng(20050301)
    n, T = 10000, 52.0
    rate = rng.gamma(truth.r, 1 / truth.alpha, n)
    dropout = rng.beta(truth.a, truth.b, n)
    frequency, recency, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        clock[active] += rng.exponential(1 / rate[active])
        purchased = active & (clock <= T)
        frequency[purchased] += 1
        recency[purchased] = clock[purchased]
        active = purchased & (rng.random(n) >= dropout)
    fitted = BgNbdParams.fit(frequency, recency, np.full(n, T))
    assert (fitted.r, fitted.alpha, fitted.a, fitted.b) == pytest.approx(
        (truth.r, truth.alpha, truth.a, truth.b), rel=0.2
    )


# --- Gamma-Gamma ----------------------------------------------------------------------------------------------------


def test_gamma_gamma_fit_reproduces_the_published_cdnow_parameters(gamma_gamma: GammaGammaParams) -> None:
    # Published to two decimals; the maximum lies within a rounding step of them.
    assert gamma_gamma.p == pytest.approx(PAPER_GAMMA_GAMMA["p"], abs=0.01)
    assert gamma_gamma.q == pytest.approx(PAPER_GAMMA_GAMMA["q"], abs=0.01)
    assert gamma_gamma.gamma == pytest.approx(PAPER_GAMMA_GAMMA["gamma"], abs=0.02)


def test_gamma_gamma_fit_follows_the_currency_unit(gamma_gamma: GammaGammaParams, cdnow: CdnowSummary) -> None:
    repeat = cdnow.repeat_customers()
    in_cents = GammaGammaParams.fit(repeat.frequency, repeat.monetary_value * 100)
    assert (in_cents.p, in_cents.q, in_cents.gamma / 100) == pytest.approx(
        (gamma_gamma.p, gamma_gamma.q, gamma_gamma.gamma), rel=1e-4
    )


def test_gamma_gamma_matches_lifetimes_on_the_same_parameters(cdnow: CdnowSummary) -> None:
    value = LIFETIMES_GAMMA_GAMMA.expected_order_value(
        frequency=cdnow.frequency[:4], monetary_value=cdnow.monetary_value[:4]
    )
    assert value.tolist() == pytest.approx(LIFETIMES_EXPECTED_ORDER_VALUE, rel=1e-9)


def test_expected_order_value_shrinks_towards_the_population_mean(gamma_gamma: GammaGammaParams) -> None:
    population = gamma_gamma.population_mean_order_value
    assert float(gamma_gamma.expected_order_value(frequency=0, monetary_value=0)) == pytest.approx(population)
    frequency = np.array([1.0, 2.0, 5.0, 20.0, 1000.0])
    for own in (5.0, 100.0):
        value = gamma_gamma.expected_order_value(frequency=frequency, monetary_value=own)
        low, high = min(own, population), max(own, population)
        assert np.all((value > low) & (value < high))
        assert np.all(np.diff(np.abs(value - own)) < 0)  # more purchases, more weight on the customer's own mean
        assert value[-1] == pytest.approx(own, rel=0.01)


def test_the_spend_fit_recovers_the_parameters_of_simulated_customers() -> None:
    truth = GammaGammaParams(p=4.0, q=3.0, gamma=20.0)
    rng = np.random.default_rng(20050401)
    n = 20000
    frequency = rng.integers(1, 8, n).astype(float)
    nu = rng.gamma(truth.q, 1 / truth.gamma, n)
    # The sum of x Gamma(p, rate nu) values is Gamma(p x, rate nu).
    mean_spend = rng.gamma(truth.p * frequency, 1 / nu) / frequency
    fitted = GammaGammaParams.fit(frequency, mean_spend)
    assert (fitted.p, fitted.q, fitted.gamma) == pytest.approx((truth.p, truth.q, truth.gamma), rel=0.1)


# --- CLV ------------------------------------------------------------------------------------------------------------


def test_clv_matches_lifetimes_on_the_same_parameters(cdnow: CdnowSummary) -> None:
    clv = customer_lifetime_value(
        purchases=LIFETIMES_BGNBD,
        spend=LIFETIMES_GAMMA_GAMMA,
        frequency=cdnow.frequency[:4],
        recency=cdnow.recency[:4],
        T=cdnow.T[:4],
        monetary_value=cdnow.monetary_value[:4],
        periods=12,
        period_length=4.345,
        discount_rate=0.01,
    )
    assert clv.tolist() == pytest.approx(LIFETIMES_CLV, rel=1e-9)


def test_undiscounted_clv_is_expected_purchases_times_order_value(
    bgnbd: BgNbdParams, gamma_gamma: GammaGammaParams, cdnow: CdnowSummary
) -> None:
    clv = customer_lifetime_value(
        purchases=bgnbd,
        spend=gamma_gamma,
        frequency=cdnow.frequency,
        recency=cdnow.recency,
        T=cdnow.T,
        monetary_value=cdnow.monetary_value,
        periods=12,
        period_length=52 / 12,
    )
    purchases = bgnbd.expected_purchases(52, frequency=cdnow.frequency, recency=cdnow.recency, T=cdnow.T)
    order_value = gamma_gamma.expected_order_value(frequency=cdnow.frequency, monetary_value=cdnow.monetary_value)
    np.testing.assert_allclose(clv, purchases * order_value, rtol=1e-12)
    assert np.all(clv > 0)


def test_discounting_lowers_clv_and_longer_horizons_raise_it(bgnbd: BgNbdParams, gamma_gamma: GammaGammaParams) -> None:
    customer = {"frequency": 3, "recency": 20.0, "T": 30.0, "monetary_value": 40.0}

    def clv(periods: int, discount_rate: float) -> float:
        return float(
            customer_lifetime_value(
                purchases=bgnbd,
                spend=gamma_gamma,
                periods=periods,
                period_length=4.345,
                discount_rate=discount_rate,
                **customer,
            )
        )

    assert clv(12, 0.01) < clv(12, 0.0)
    assert clv(12, 0.05) < clv(12, 0.01)
    assert clv(6, 0.01) < clv(12, 0.01) < clv(24, 0.01)


# --- bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([-1, 2], [0, 5], [10, 10], "frequency must be >= 0"),
        ([1.5, 2], [3, 5], [10, 10], "whole number"),
        ([1, 2], [-3, 5], [10, 10], "recency must be >= 0"),
        ([1, 2], [3, 5], [10, -10], "T must be >= 0"),
        ([1, 2], [3, 12], [10, 10], "recency must not exceed T"),
        ([0, 2], [3, 5], [10, 10], "recency must be 0 when frequency is 0"),
        ([1, 2], [0, 5], [10, 10], "recency must be > 0 when frequency is > 0"),
        ([1, np.nan], [3, 5], [10, 10], "finite"),
        ([1, 2], [3, 5], [10, np.inf], "finite"),
        ([1, 2, 3], [3, 5], [10, 10], "same shape"),
        (["a", 2], [3, 5], [10, 10], "numeric"),
    ],
)
def test_bad_customer_data_is_rejected(
    bgnbd: BgNbdParams, frequency: list[float], recency: list[float], T: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BgNbdParams.fit(frequency, recency, T)
    with pytest.raises(ValueError, match=message):
        bgnbd.probability_alive(frequency=frequency, recency=recency, T=T)
    with pytest.raises(ValueError, match=message):
        bgnbd.expected_purchases(10, frequency=frequency, recency=recency, T=T)


def test_fitting_needs_a_one_dimensional_non_empty_sample() -> None:
    with pytest.raises(ValueError, match="at least one customer"):
        BgNbdParams.fit([], [], [])
    with pytest.raises(ValueError, match="one-dimensional"):
        BgNbdParams.fit([[1]], [[2]], [[3]])
    with pytest.raises(ValueError, match="at least one customer"):
        GammaGammaParams.fit([], [])
    with pytest.raises(ValueError, match="without any repeat purchase"):
        BgNbdParams.fit([0, 0, 0], [0, 0, 0], [10, 20, 30])


def test_a_negative_horizon_is_rejected(bgnbd: BgNbdParams) -> None:
    with pytest.raises(ValueError, match="t must be >= 0"):
        bgnbd.expected_purchases(-1, frequency=2, recency=3, T=5)


@pytest.mark.parametrize("field", ["r", "alpha", "a", "b"])
@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_bgnbd_parameters_must_be_positive(field: str, bad: float) -> None:
    values = {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0, field: bad}
    with pytest.raises(ValueError, match=field):
        BgNbdParams(**values)


@pytest.mark.parametrize(
    ("frequency", "monetary_value", "message"),
    [
        ([0, 2], [0, 5], "repeat customers only"),
        ([1, 2], [0, 5], "positive monetary_value"),
        ([1, 2], [-4, 5], "monetary_value must be >= 0"),
        ([1, -2], [4, 5], "frequency must be >= 0"),
        ([1, 2], [4, np.nan], "finite"),
    ],
)
def test_bad_spend_data_is_rejected(frequency: list[float], monetary_value: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GammaGammaParams.fit(frequency, monetary_value)


def test_an_infinite_population_mean_is_reported() -> None:
    heavy_tailed = GammaGammaParams(p=0.5, q=0.8, gamma=10.0)
    with pytest.raises(ValueError, match="q <= 1"):
        _ = heavy_tailed.population_mean_order_value
    with pytest.raises(ValueError, match="infinite"):
        heavy_tailed.expected_order_value(frequency=0, monetary_value=0)
    assert float(heavy_tailed.expected_order_value(frequency=3, monetary_value=20)) > 0


@pytest.mark.parametrize(
    ("periods", "period_length", "discount_rate", "message"),
    [
        (0, 4.345, 0.01, "periods"),
        (1.5, 4.345, 0.01, "periods"),
        (12, 0.0, 0.01, "period_length"),
        (12, 4.345, -0.01, "discount_rate"),
    ],
)
def test_bad_clv_settings_are_rejected(
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    periods: int,
    period_length: float,
    discount_rate: float,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        customer_lifetime_value(
            purchases=bgnbd,
            spend=gamma_gamma,
            frequency=2,
            recency=30.43,
            T=38.86,
            monetary_value=22.35,
            periods=periods,
            period_length=period_length,
            discount_rate=discount_rate,
        )
