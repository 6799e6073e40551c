"""Portfolio loss distribution: closed forms, Monte Carlo, the fast conditional-FFT method, contributions.

Reference values are computed here independently of the module: Basel II formulas with scipy's
``norm``, the Basel II Annex 5 risk-weight table, and exact loss distributions by Gauss-Hermite
quadrature over the factors with brute-force convolution of the (integer) obligor losses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from credit_lab.core.exceptions import CreditLabError
from credit_lab.risk.loss_distribution import (
    LossModelError,
    LossPortfolio,
    basel_correlation,
    basel_maturity_adjustment,
    fast_loss,
    irb_capital,
    irb_capital_rate,
    irb_risk_weight,
    large_portfolio_loss,
    loss_distribution,
    monte_carlo_loss,
    recommended_reserve,
    vasicek_quantile,
)

LEVELS = (0.99, 0.995, 0.999)
# A coarser lattice and fewer control draws than the defaults keep the suite fast; the defaults
# themselves are exercised by the homogeneous-portfolio tests.
QUICK = {"grid_points": 1 << 13, "n_control": 1 << 13}


# ---------------------------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------------------------

def hand_irb_k(pd, lgd, m):
    """Basel II para. 272 written out with scipy.stats.norm."""
    w = (1 - math.exp(-50 * pd)) / (1 - math.exp(-50))
    r = 0.12 * w + 0.24 * (1 - w)
    b = (0.11852 - 0.05478 * math.log(pd)) ** 2
    cond = norm.cdf((norm.ppf(pd) + math.sqrt(r) * norm.ppf(0.999)) / math.sqrt(1 - r))
    return lgd * (cond - pd) * (1 + (m - 2.5) * b) / (1 - 1.5 * b)


def exact_distribution(pd, loss_int, rho, sector, corr, nodes=48, leave_out=None):
    """Exact pmf of sum(loss_int * D) (and E[D_j 1{L = v}] for j = leave_out) by quadrature + convolution."""
    x, wq = np.polynomial.hermite_e.hermegauss(nodes)
    wq = wq / math.sqrt(2 * math.pi)
    d = corr.shape[0]
    a = np.linalg.cholesky(corr)
    zs = np.stack([g.ravel() for g in np.meshgrid(*([x] * d), indexing="ij")], axis=1)
    ws = np.prod(np.stack([g.ravel() for g in np.meshgrid(*([wq] * d), indexing="ij")], axis=1), axis=1)
    total = int(loss_int.sum())
    pmf = np.zeros(total + 1)
    joint = np.zeros(total + 1)
    c = norm.ppf(pd)
    for z, w in zip(zs, ws):
        p = norm.cdf((c - np.sqrt(rho) * (a @ z)[sector]) / np.sqrt(1 - rho))
        f = np.zeros(total + 1)
        f[0] = 1.0
        for i, (pi, ki) in enumerate(zip(p, loss_int)):
            if i == leave_out:
                continue
            g = (1 - pi) * f
            g[ki:] += pi * f[: f.size - ki]
            f = g
        if leave_out is not None:
            j, kj = leave_out, loss_int[leave_out]
            with_j = (1 - p[j]) * f
            with_j[kj:] += p[j] * f[: f.size - kj]
            joint_j = np.zeros(total + 1)
            joint_j[kj:] = p[j] * f[: f.size - kj]  # E[D_j 1{L = v}]
            pmf += w * with_j
            joint += w * joint_j
        else:
            pmf += w * f
    return pmf, joint


def exact_var_es(pmf, q):
    cdf = np.cumsum(pmf)
    v = np.arange(pmf.size)
    x = int(np.argmax(cdf >= q - 1e-15))
    es = ((v * pmf)[x + 1:].sum() + x * (cdf[x] - q)) / (1 - q)
    return x, es


def binomial_mixture_quantile(n, pd, rho, lgd, q, nodes=4001):
    """Exact quantile of lgd * (number of defaults) / n for n identical obligors, one factor."""
    y = np.linspace(-9, 9, nodes)
    wy = norm.pdf(y) * (y[1] - y[0])
    p = norm.cdf((norm.ppf(pd) - math.sqrt(rho) * y) / math.sqrt(1 - rho))
    from scipy.stats import binom

    ks = np.arange(n + 1)
    lo, hi = 0, n
    while hi - lo > 1:  # smallest k with P(K <= k) >= q
        mid = (lo + hi) // 2
        if float(wy @ binom.cdf(mid, n, p)) >= q:
            hi = mid
        else:
            lo = mid
    del ks
    return lgd * hi / n


# ---------------------------------------------------------------------------------------------
# Small portfolios used by several tests
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_case():
    """30 obligors with integer losses (one large name), two correlated sectors."""
    rng = np.random.default_rng(11)
    n = 30
    pdv = rng.uniform(0.005, 0.15, n)
    loss = rng.integers(1, 16, n)
    loss[0] = 40
    sector = rng.integers(0, 2, n)
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    rho = rng.uniform(0.15, 0.3, n)
    pf = LossPortfolio.from_arrays(pdv, loss.astype(float), 1.0, sector, corr, rho=rho)
    pmf, joint = exact_distribution(pdv, loss, rho, sector, corr, leave_out=0)
    fast = fast_loss(pf, seed=4, lattice_step=1.0)
    return pf, pmf, joint, fast


def medium_portfolio(n=400, seed=5, big=None):
    rng = np.random.default_rng(seed)
    pdv = np.exp(rng.uniform(np.log(0.002), np.log(0.15), n))
    ead = rng.lognormal(0.0, 1.3, n)
    if big is not None:
        ead[0] = big * ead.sum()
        pdv[0] = 0.02
    sector = rng.integers(0, 3, n)
    corr = np.array([[1.0, 0.6, 0.4], [0.6, 1.0, 0.5], [0.4, 0.5, 1.0]])
    return LossPortfolio.from_arrays(pdv, ead, 0.45, sector, corr, sector_rho=[0.15, 0.2, 0.25])


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pd_, rw, rw_sme", [
    (0.0003, 0.1444, 0.1130), (0.001, 0.2965, 0.2330), (0.01, 0.9232, 0.7240), (0.03, 1.2844, 0.9758),
])
def test_irb_risk_weights_match_basel_annex5(pd_, rw, rw_sme):
    # Basel II (June 2006) Annex 5, corporate, LGD 45 %, M = 2.5; SME column: turnover EUR 5 million.
    assert irb_risk_weight(pd_, 0.45, 2.5) == pytest.approx(rw, abs=6e-5)
    assert irb_risk_weight(pd_, 0.45, 2.5, sme_turnover=5.0) == pytest.approx(rw_sme, abs=6e-5)


@pytest.mark.parametrize("pd_, lgd, m", [(0.001, 0.45, 2.5), (0.02, 0.6, 1.0), (0.15, 0.3, 5.0)])
def test_irb_capital_matches_hand_computation(pd_, lgd, m):
    assert irb_capital(pd_, lgd, m) == pytest.approx(hand_irb_k(pd_, lgd, m), rel=1e-12)


@pytest.mark.parametrize("pd_", [0.0005, 0.01, 0.08, 0.3])
def test_irb_capital_applies_the_basel_maturity_bounds(pd_):
    # Basel II para. 320: M = max(1, min(M, 5)). A 7-year maturity costs what a 5-year one does, and
    # half a year what one year does; both against the closed form written out with scipy's norm.
    at5 = hand_irb_k(pd_, 0.45, 5.0)
    assert irb_capital(pd_, 0.45, 5.0) == pytest.approx(at5, rel=1e-12)
    assert irb_capital(pd_, 0.45, 7.0) == pytest.approx(at5, rel=1e-12)
    assert irb_capital(pd_, 0.45, np.array([0.5, 7.0])) == pytest.approx(
        [hand_irb_k(pd_, 0.45, 1.0), at5], rel=1e-12)
    # the floored one-year form the limits and concentration use takes the same bounds
    assert float(irb_capital_rate(pd_, 0.45, maturity_years=7.0)) == pytest.approx(at5, rel=1e-12)
    assert float(irb_capital_rate(pd_, 0.45, maturity_years=0.25)) == pytest.approx(
        hand_irb_k(pd_, 0.45, 1.0), rel=1e-12)
    # the adjustment itself stays the bare formula (M = 1 strips it; the bounds are the capital's)
    b = (0.11852 - 0.05478 * math.log(pd_)) ** 2
    assert basel_maturity_adjustment(pd_, 7.0) == pytest.approx((1 + 4.5 * b) / (1 - 1.5 * b), rel=1e-12)


def test_irb_capital_rejects_a_maturity_that_is_not_a_positive_number():
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(LossModelError, match="maturity"):
            irb_capital(0.01, 0.45, bad)


def test_basel_correlation_and_maturity_edges():
    assert basel_correlation(1e-9) == pytest.approx(0.24, abs=1e-6)
    assert basel_correlation(0.5) == pytest.approx(0.12, abs=1e-6)
    # SME: a turnover of 5 or less takes the full 0.04 off, 50 or more nothing.
    assert basel_correlation(0.01, sme_turnover=1.0) == pytest.approx(basel_correlation(0.01) - 0.04)
    assert basel_correlation(0.01, sme_turnover=80.0) == pytest.approx(basel_correlation(0.01))
    assert basel_maturity_adjustment(0.01, 1.0) == pytest.approx(1.0)
    assert basel_maturity_adjustment(0.01, 5.0) > basel_maturity_adjustment(0.01, 2.5) > 1.0


def test_vasicek_quantile_hand_value_and_irb_identity():
    q = vasicek_quantile(0.02, 0.15, 0.999, lgd=0.45)
    hand = 0.45 * norm.cdf((norm.ppf(0.02) + math.sqrt(0.15) * norm.ppf(0.999)) / math.sqrt(0.85))
    assert q == pytest.approx(hand, rel=1e-12)
    r = basel_correlation(0.02)
    assert irb_capital(0.02, 0.45, 1.0) == pytest.approx(vasicek_quantile(0.02, r, 0.999, 0.45) - 0.45 * 0.02)


@settings(max_examples=60, deadline=None)
@given(pd_=st.floats(1e-4, 0.5), rho=st.floats(0.0, 0.9), q1=st.floats(0.5, 0.99), dq=st.floats(1e-4, 0.009))
def test_vasicek_quantile_is_monotone(pd_, rho, q1, dq):
    assert vasicek_quantile(pd_, rho, q1 + dq) >= vasicek_quantile(pd_, rho, q1)
    assert vasicek_quantile(min(pd_ * 1.5, 0.9), rho, q1) >= vasicek_quantile(pd_, rho, q1)
    assert 0.0 <= irb_capital(pd_, 0.45, 1.0) <= 0.45


def test_closed_forms_reject_bad_inputs():
    with pytest.raises(LossModelError, match="pd"):
        vasicek_quantile(1.2, 0.1, 0.99)
    with pytest.raises(LossModelError, match="confidence"):
        vasicek_quantile(0.1, 0.1, 1.0)
    with pytest.raises(LossModelError, match="rho"):
        vasicek_quantile(0.1, 1.0, 0.99)
    with pytest.raises(LossModelError, match="lgd"):
        irb_capital(0.01, 1.5)


# ---------------------------------------------------------------------------------------------
# Large homogeneous portfolios: Vasicek and IRB limits
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def homogeneous():
    n, pd_, lgd = 20_000, 0.02, 0.45
    rho = basel_correlation(pd_)
    pf = LossPortfolio.from_arrays(np.full(n, pd_), np.ones(n), lgd, np.zeros(n, int), [[1.0]], rho=rho)
    return pf, n, pd_, lgd, rho, fast_loss(pf, seed=3, contributions=False)


@pytest.mark.parametrize("q", [0.99, 0.999])
def test_homogeneous_quantile_converges_to_vasicek(homogeneous, q):
    _pf, n, pd_, lgd, rho, res = homogeneous
    model = res.var[q] / n
    exact = binomial_mixture_quantile(n, pd_, rho, lgd, q)       # the finite portfolio, exactly
    vas = vasicek_quantile(pd_, rho, q, lgd)                      # its infinitely granular limit
    granularity = abs(exact - vas) / vas
    ci = res.error.loc[q, "var_rel_ci95"]
    assert granularity < 0.01                                     # 20 000 names: nearly the limit
    assert abs(model - exact) / exact <= ci + 2e-3                # lattice rounding of 0.45 / step
    assert abs(model - vas) / vas <= granularity + ci + 2e-3


def test_homogeneous_unexpected_loss_approaches_irb_k(homogeneous):
    _pf, n, pd_, lgd, rho, res = homogeneous
    ul_per_unit = res.unexpected_loss(0.999) / n
    k = irb_capital(pd_, lgd, maturity=1.0)
    exact_ul = binomial_mixture_quantile(n, pd_, rho, lgd, 0.999) - lgd * pd_
    tol = abs(exact_ul - k) / k + res.error.loc[0.999, "var_rel_ci95"] * res.var[0.999] / res.unexpected_loss(
        0.999) + 3e-3
    assert ul_per_unit == pytest.approx(k, rel=tol)
    assert res.expected_loss == pytest.approx(n * pd_ * lgd)


# ---------------------------------------------------------------------------------------------
# Fast method against exact and Monte Carlo distributions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("q", LEVELS)
def test_fast_matches_exact_distribution_of_small_portfolio(small_case, q):
    _pf, pmf, _, fast = small_case
    x, es = exact_var_es(pmf, q)
    assert fast.var[q] == pytest.approx(x, abs=1.0)  # integer losses: at most one lattice atom apart
    assert abs(fast.es[q] - es) <= fast.error.loc[q, "es_ci95"] + 1e-3 * es


def test_fast_default_grid_close_to_exact(small_case):
    pf, pmf, _, _ = small_case
    res = fast_loss(pf, seed=9, contributions=False, n_scenarios=256, **QUICK)
    for q in LEVELS:
        _x, es = exact_var_es(pmf, q)
        # lattice not aligned with the integer losses: rounding moves each loss by < 1 step (~0.01)
        assert abs(res.es[q] - es) <= res.error.loc[q, "es_ci95"] + 0.01 * es


@pytest.fixture(scope="module")
def medium_fast():
    pf = medium_portfolio()
    return pf, fast_loss(pf, seed=1, contributions=False, **QUICK)


def test_fast_matches_plain_monte_carlo(medium_fast):
    pf, fast = medium_fast
    mc = monte_carlo_loss(pf, 100_000, seed=2, contributions=False, keep_samples=False)
    for q in LEVELS:
        tol_v = 1.5 * (fast.error.loc[q, "var_ci95"] + mc.error.loc[q, "var_ci95"])
        tol_e = 1.5 * (fast.error.loc[q, "es_ci95"] + mc.error.loc[q, "es_ci95"])
        assert abs(fast.var[q] - mc.var[q]) <= tol_v
        assert abs(fast.es[q] - mc.es[q]) <= tol_e
    assert mc.diagnostics["sample_mean"] == pytest.approx(pf.expected_loss, rel=0.02)


def test_fast_reports_a_small_error_and_bounds(medium_fast):
    _pf, res = medium_fast
    assert res.error["var_rel_ci95"].max() < 0.01 and res.error["es_rel_ci95"].max() < 0.01
    assert res.diagnostics["series_truncation_bound"] < 1e-8
    assert res.method == "fast" and res.seed == 1
    assert list(res.quantiles.index) == sorted(res.quantiles.index)
    assert np.all(np.diff(res.quantiles.dropna().to_numpy()) >= 0)


def test_fast_is_reproducible_and_seed_dependent():
    pf = medium_portfolio(n=150)
    a = fast_loss(pf, seed=7, n_scenarios=128, contributions=False, **QUICK)
    b = fast_loss(pf, seed=7, n_scenarios=128, contributions=False, **QUICK)
    c = fast_loss(pf, seed=8, n_scenarios=128, contributions=False, **QUICK)
    assert a.var == b.var and a.es == b.es
    assert a.es[0.999] != c.es[0.999]


def test_random_lgd_agrees_with_monte_carlo():
    rng = np.random.default_rng(2)
    n = 120
    pf = LossPortfolio.from_arrays(rng.uniform(0.01, 0.1, n), rng.lognormal(0, 1, n), 0.4,
                                   rng.integers(0, 2, n), [[1, 0.5], [0.5, 1]], rho=0.2, lgd_std=0.2)
    fast = fast_loss(pf, seed=2, contributions=False, **QUICK)
    mc = monte_carlo_loss(pf, 100_000, seed=3, contributions=False)
    q = 0.99
    assert abs(fast.es[q] - mc.es[q]) <= 1.5 * (fast.error.loc[q, "es_ci95"] + mc.error.loc[q, "es_ci95"])
    fixed = LossPortfolio.from_arrays(pf.pd, pf.exposure, 0.4, pf.sector, pf.corr, rho=0.2)
    assert fast.es[0.999] > fast_loss(fixed, seed=2, contributions=False, **QUICK).es[0.999]


def card_like_book(n, seed=16):
    """A card-table-like book in one segment: 20 % of PDs in 30-95 %, the rest around 3 %; lognormal EADs."""
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.2
    pd_ = np.where(high, rng.uniform(0.3, 0.95, n), np.clip(np.exp(rng.normal(math.log(0.03), 1.2, n)), 1e-4, 0.3))
    return LossPortfolio.from_arrays(pd_, rng.lognormal(math.log(5000), 1.0, n), 0.45, np.zeros(n, int), [[1.0]],
                                     rho="basel")


def test_small_high_pd_book_gets_a_lattice_sized_by_the_book():
    # Issue 16: 1,000 obligors took twice as long as 30,000, because every scenario's window filled the
    # whole 32,768-point lattice. The lattice is now sized by the book: the small book's work (lattice
    # points, largest FFT window) is bounded, a large book keeps the default grid, and the VaR agrees
    # with the fixed lattice's within the sampling error.
    small = card_like_book(1000)
    adaptive = fast_loss(small, seed=4, n_scenarios=128, contributions=False)
    fixed = fast_loss(small, seed=4, n_scenarios=128, contributions=False, adaptive_grid=False)
    assert fixed.diagnostics["grid_points"] == 1 << 15
    assert adaptive.diagnostics["grid_points"] <= 1 << 14
    assert adaptive.diagnostics["max_window"] <= 1 << 14 < fixed.diagnostics["max_window"]
    step = adaptive.diagnostics["lattice_step"]                       # the VaR is a lattice point
    for q in LEVELS:
        assert abs(adaptive.var[q] - fixed.var[q]) <= (adaptive.error.loc[q, "var_ci95"]
                                                       + fixed.error.loc[q, "var_ci95"] + step)
        assert abs(adaptive.es[q] - fixed.es[q]) <= adaptive.error.loc[q, "es_ci95"] + fixed.error.loc[q, "es_ci95"]
    large = fast_loss(card_like_book(20_000), seed=4, n_scenarios=64, contributions=False)
    assert large.diagnostics["grid_points"] == 1 << 15               # names below a lattice step: no coarsening
    assert large.diagnostics["max_window"] < adaptive.diagnostics["grid_points"]


# ---------------------------------------------------------------------------------------------
# Euler contributions
# ---------------------------------------------------------------------------------------------

def test_fast_contributions_add_up_and_match_exact(small_case):
    pf, pmf, joint, fast = small_case
    ob, sec = fast.obligor_contributions, fast.sector_contributions
    for q in LEVELS:
        tag = f"{100 * q:g}"
        assert ob[f"es_{tag}"].sum() == pytest.approx(fast.es[q], rel=1e-12)
        assert ob[f"var_{tag}"].sum() == pytest.approx(fast.var[q], rel=1e-12)
        assert sec[f"es_{tag}"].sum() == pytest.approx(fast.es[q], rel=1e-12)
        # the unscaled lattice sums equal E[L 1{L >= VaR}] (exact identity up to series truncation)
        assert fast.diagnostics["additivity_residual"][q] < 1e-8
    assert ob["el"].sum() == pytest.approx(pf.expected_loss)
    # exact share of the large name in the 99.9 % tail: E[L_0 1{L >= VaR}] / E[L 1{L >= VaR}]
    x, _ = exact_var_es(pmf, 0.999)
    v = np.arange(pmf.size)
    exact_share = 40 * joint[x:].sum() / (v * pmf)[x:].sum()
    share = ob["es_99.9"].iloc[0] / fast.es[0.999]
    assert share == pytest.approx(exact_share, rel=0.03)


def test_concentrated_name_gets_larger_contribution_per_unit():
    pf = medium_portfolio(n=300, big=0.08)
    res = fast_loss(pf, seed=1, n_scenarios=256, **QUICK)
    ob = res.obligor_contributions
    per_unit = ob["es_99.9"] / pf.loss_given_default
    same_pd = (np.abs(pf.pd - 0.02) < 0.01) & (np.arange(pf.n_obligors) > 0)
    assert per_unit.iloc[0] > 1.5 * per_unit[same_pd].median()
    assert ob["es_99.9"].iloc[0] == ob["es_99.9"].max()


def test_monte_carlo_contributions_add_up():
    pf = medium_portfolio(n=80)
    res = monte_carlo_loss(pf, 20_000, seed=4)
    for q in LEVELS:
        tag = f"{100 * q:g}"
        assert res.obligor_contributions[f"es_{tag}"].sum() == pytest.approx(res.es[q], rel=1e-9)
        assert res.obligor_contributions[f"var_{tag}"].sum() == pytest.approx(res.var[q], rel=1e-9)
        assert res.sector_contributions[f"es_{tag}"].sum() == pytest.approx(res.es[q], rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

def test_risk_increases_with_pd_and_correlation_and_es_exceeds_var():
    base = medium_portfolio(n=200)
    kw = dict(seed=3, n_scenarios=256, contributions=False, **QUICK)
    r0 = fast_loss(base, **kw)
    higher_pd = LossPortfolio.from_arrays(np.minimum(base.pd * 1.5, 0.5), base.exposure, base.lgd, base.sector,
                                          base.corr, rho=base.rho)
    higher_rho = LossPortfolio.from_arrays(base.pd, base.exposure, base.lgd, base.sector, base.corr,
                                           rho=base.rho + 0.1)
    r_pd, r_rho = fast_loss(higher_pd, **kw), fast_loss(higher_rho, **kw)
    for q in LEVELS:
        assert r0.es[q] >= r0.var[q]
        assert r_pd.var[q] > r0.var[q] and r_pd.es[q] > r0.es[q]
        assert r_rho.var[q] > r0.var[q] and r_rho.es[q] > r0.es[q]
    assert r0.var[0.99] < r0.var[0.995] < r0.var[0.999]


def test_single_huge_exposure_raises_tail_beyond_large_portfolio_shortcut():
    small = medium_portfolio(n=1500)
    ead = np.append(small.exposure, 0.05 * small.exposure.sum())
    big = LossPortfolio.from_arrays(np.append(small.pd, 0.03), ead, 0.45, np.append(small.sector, 0), small.corr,
                                    rho=np.append(small.rho, 0.2))
    q = 0.999
    fast_small, fast_big = (fast_loss(p, seed=1, contributions=False, **QUICK).var[q] for p in (small, big))
    lp_small, lp_big = (large_portfolio_loss(p, 200_000, seed=1).var[q] for p in (small, big))  # same draws
    name_loss = 0.45 * ead[-1]
    # The shortcut only adds the name's conditional expected loss; the exact tail sees it default.
    assert fast_big - fast_small > 1.5 * (lp_big - lp_small)
    # Name concentration (exact minus shortcut) grows by more than 10 % of the name's loss.
    assert (fast_big - lp_big) - (fast_small - lp_small) > 0.1 * name_loss


def test_recommended_reserve_is_el_plus_ul():
    pf = medium_portfolio(n=100)
    res = fast_loss(pf, seed=2, n_scenarios=128, contributions=False, **QUICK)
    for q in LEVELS:
        assert recommended_reserve(res, q) == pytest.approx(res.expected_loss + res.unexpected_loss(q))
        assert recommended_reserve(res, q) == pytest.approx(res.var[q])
    assert recommended_reserve(res, 0.9995) == pytest.approx(res.quantiles[0.9995])
    with pytest.raises(LossModelError, match="0.42"):
        recommended_reserve(res, 0.42)


def test_dispatcher_and_summary():
    pf = medium_portfolio(n=60)
    res = loss_distribution(pf, "monte_carlo", n_scenarios=5_000, seed=1, contributions=False)
    assert res.method == "monte_carlo" and res.samples.shape == (5_000,)
    assert set(res.summary().columns) >= {"var", "es", "expected_loss", "var_ci95"}
    with pytest.raises(LossModelError, match="method"):
        loss_distribution(pf, "magic")


# ---------------------------------------------------------------------------------------------
# Invalid inputs
# ---------------------------------------------------------------------------------------------

GOOD = {"pd": [0.01, 0.02, 0.03], "exposure": [1.0, 2.0, 3.0], "lgd": 0.45, "sector": [0, 1, 1],
            "corr": [[1.0, 0.3], [0.3, 1.0]], "rho": 0.2}


def build(**changes):
    kw = dict(GOOD)
    kw.update(changes)
    return LossPortfolio.from_arrays(kw.pop("pd"), kw.pop("exposure"), kw.pop("lgd"), kw.pop("sector"),
                                     kw.pop("corr"), **kw)


@pytest.mark.parametrize("changes, pattern", [
    ({"pd": [0.0, 0.02, 0.03]}, r"pd\[0\] = 0.0 is outside \(0, 1\)"),
    ({"pd": [0.01, 1.2, 0.03]}, r"pd\[1\] = 1.2 is outside"),
    ({"pd": [0.01, float("nan"), 0.03]}, r"pd\[1\] = nan is not a finite number"),
    ({"exposure": [1.0, -2.0, 3.0]}, r"exposure\[1\] = -2.0 is negative"),
    ({"exposure": [1.0, float("nan"), 3.0]}, r"exposure\[1\] = nan is not a finite"),
    ({"exposure": [1.0, 2.0]}, r"exposure has shape \(2,\) but pd has 3 obligors"),
    ({"sector": [0, 1]}, r"sector has shape \(2,\)"),
    ({"sector": [0, 1, 2]}, r"sector\[2\] = 2 is not a row of corr"),
    ({"lgd": [0.4, 1.3, 0.4]}, r"lgd\[1\] = 1.3 is outside \[0, 1\]"),
    ({"rho": 1.0}, r"outside \[0, 1\)"),
    ({"corr": [[1.0, 1.5], [1.5, 1.0]]}, r"outside \[-1, 1\]"),
    ({"corr": [[1.0, 0.3], [0.2, 1.0]]}, r"not symmetric"),
    ({"corr": [[2.0, 0.3], [0.3, 2.0]]}, r"unit diagonal"),
    ({"corr": [[1.0, 0.3], [0.3, float("nan")]]}, r"NaN"),
    ({"lgd_std": 0.6}, r"lgd_std\[0\] = 0.6 is impossible"),
    ({"rho": None}, r"exactly one of rho"),
])
def test_invalid_inputs_raise_clear_errors(changes, pattern):
    with pytest.raises(LossModelError, match=pattern) as info:
        build(**changes)
    assert isinstance(info.value, ValueError) and isinstance(info.value, CreditLabError)


def test_non_psd_correlation_is_rejected():
    corr = [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]
    with pytest.raises(LossModelError, match="not positive semi-definite: its smallest eigenvalue is -"):
        build(sector=[0, 1, 2], corr=corr)


def test_method_arguments_are_checked():
    pf = build()
    with pytest.raises(LossModelError, match="seed"):
        fast_loss(pf, seed=-1)
    with pytest.raises(LossModelError, match="n_replicates"):
        fast_loss(pf, n_replicates=1)
    with pytest.raises(LossModelError, match="levels"):
        monte_carlo_loss(pf, 1000, levels=(1.5,))
    with pytest.raises(LossModelError, match="n_scenarios"):
        monte_carlo_loss(pf, 100, levels=(0.999,))
    with pytest.raises(LossModelError, match="lattice_step"):
        fast_loss(pf, lattice_step=-1.0)
