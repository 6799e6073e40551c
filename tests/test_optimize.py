"""Portfolio limit optimization: closed form, exactness against HiGHS, duals, frontier, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import lognorm

from credit_lab.core.exceptions import CreditLabError
from credit_lab.limits.optimizer import (
    DECIDED_BY,
    InfeasibleLimitsError,
    LimitPolicy,
    OptimizationInputError,
    build_problem,
    efficient_frontier,
    expected_profit,
    irb_capital_rate,
    net_margin_rate,
    optimize_limits,
    piecewise_profit,
    risk_cost_rate,
    single_customer_optimum,
    solve_with_highs,
    synthetic_limit_inputs,
)

# Small working sets and a small base case so that tests of a few hundred customers run
# the sampling, refinement and sifting stages, not just one direct LP.
FAST_PATH = {"base_customers": 60, "band_min": 150, "band_factor": 10.0, "target_min": 40}
# No refinement and tiny working sets: the sifting loop has to repair rough prices.
SIFT_ONLY = {"base_customers": 50, "refine_rounds": 0, "target_min": 20, "target_factor": 0.2}
PATHS = {"default": None, "fast": FAST_PATH, "sift": SIFT_ONLY}
REL = 1e-9  # constraint tolerance, relative to max(1, |bound|)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _random_case(seed: int, n: int, n_ind: int, n_reg: int, tightness: float, max_change: float | None,
                 pd_cutoff: float) -> tuple[pd.DataFrame, LimitPolicy]:
    rng = np.random.default_rng(seed)
    pd_ = 10 ** rng.uniform(-3.5, -0.5, n)
    lgd = rng.uniform(0.2, 0.7, n)
    ccf = rng.uniform(0.5, 1.0, n)
    mean = np.exp(rng.normal(np.log(50_000.0), 1.2, n))
    current = np.round(mean * rng.uniform(0.0, 2.0, n), -2) * (rng.random(n) > 0.15)
    customers = pd.DataFrame({
        "mean_demand": mean,
        "demand_cv": rng.uniform(0.1, 1.5, n),
        "gross_margin": rng.uniform(-0.01, 0.3, n),
        "collection_days": rng.uniform(0.0, 150.0, n),
        "pd": pd_, "lgd": lgd, "ccf": ccf,
        "ul_rate": irb_capital_rate(pd_, lgd) * ccf,
        "industry": [f"i{k}" for k in rng.integers(0, n_ind, n)],
        "region": [f"r{k}" for k in rng.integers(0, n_reg, n)],
        "grade": np.where(pd_ < 0.005, "A", np.where(pd_ < 0.03, "B", "C")),
        "current_limit": current,
        "insurer_cap": np.where(rng.random(n) < 0.3, mean * rng.uniform(0.3, 2.0, n), np.nan),
    }, index=[f"cust{i}" for i in range(n)])
    base = LimitPolicy(own_equity=float(mean.sum()) * 0.5, single_name_pct=0.01 + 0.1 * rng.random(),
                       grade_bounds={"A": (1_000.0, math.inf), "B": (0.0, 300_000.0), "C": (0.0, 60_000.0)},
                       max_change=max_change, pd_cutoff=pd_cutoff)
    loose = build_problem(customers, base)
    lo_use, hi_use = loose.usage(loose.lower), loose.usage(loose.profit_optimum)

    def budget(r: int) -> float:
        t = min(1.5, max(0.0, tightness * rng.uniform(0.6, 1.4)))
        return float(lo_use[r] + t * (hi_use[r] - lo_use[r]))

    ni = len(loose.industry_names)
    policy = LimitPolicy(
        **{**base.__dict__,
           "el_budget": budget(0),
           "exposure_budget": budget(1) if rng.random() < 0.7 else math.inf,
           "industry_caps": {name: budget(2 + i) for i, name in enumerate(loose.industry_names) if rng.random() < 0.6},
           "region_caps": {name: budget(2 + ni + i) for i, name in enumerate(loose.region_names)
                           if rng.random() < 0.6}})
    return customers, policy


def _max_violation(customers: pd.DataFrame, policy: LimitPolicy, limits: np.ndarray) -> float:
    """Largest constraint violation, recomputed from the raw inputs (not from the solver)."""
    L = pd.Series(limits, index=customers.index)
    worst = [0.0]

    def record(excess, bound):
        v = np.asarray(excess, dtype=float) / np.maximum(1.0, np.abs(np.asarray(bound, dtype=float)))
        worst.append(float(np.max(v, initial=0.0)))

    el = customers["pd"] * customers["lgd"] * customers["ccf"]
    if math.isfinite(policy.el_budget):
        record((el * L).sum() - policy.el_budget, policy.el_budget)
    if math.isfinite(policy.exposure_budget):
        record(L.sum() - policy.exposure_budget, policy.exposure_budget)
    for col, caps in (("industry", policy.industry_caps), ("region", policy.region_caps)):
        sums = L.groupby(customers[col]).sum()
        for name, cap in caps.items():
            record(sums.get(name, 0.0) - cap, cap)
    cut = customers["pd"] > policy.pd_cutoff
    record(np.abs(L[cut]), 0.0)
    cur = customers["current_limit"]
    banded = (cur > 0) & (policy.max_change is not None)
    c = policy.max_change or 0.0
    gmin = customers["grade"].map(lambda g: policy.grade_bounds[g][0])
    gmax = customers["grade"].map(lambda g: policy.grade_bounds[g][1])
    hard = np.minimum.reduce([
        np.full(len(L), policy.own_equity * policy.single_name_pct), gmax.to_numpy(),
        np.where(banded, (1 + c) * cur, np.inf), customers["insurer_cap"].fillna(np.inf).to_numpy()])
    record(L - hard, hard)
    floor = np.maximum(gmin, np.where(banded, (1 - c) * cur, 0.0))
    # The caps win over the floor when they conflict.
    need = np.where(cut, 0.0, np.minimum(floor, hard))
    record(need - L, need)
    record(-L, 0.0)
    return max(worst)


# ---------------------------------------------------------------------------
# single customer: closed form
# ---------------------------------------------------------------------------

PARAMS = [  # mean, cv, gross margin, days, pd, lgd, ul_rate
    (50_000.0, 0.5, 0.15, 60.0, 0.01, 0.45, 0.05),
    (1_000_000.0, 1.2, 0.08, 90.0, 0.002, 0.6, 0.02),
    (3_000.0, 0.2, 0.30, 10.0, 0.05, 0.4, 0.10),
    (20_000.0, 0.8, 0.05, 120.0, 0.0005, 0.3, 0.01),
]


@pytest.mark.parametrize("mean,cv,gm,days,pd_,lgd,ul", PARAMS)
def test_closed_form_is_the_numeric_maximum(mean, cv, gm, days, pd_, lgd, ul):
    a = net_margin_rate(gm, days, 0.05)
    k = risk_cost_rate(pd_, lgd, ul, 0.10)
    L_star = float(single_customer_optimum(mean, cv, a, k))
    # Newsvendor condition a * P(D > L*) = k with D lognormal(mean, cv).
    sigma = math.sqrt(math.log1p(cv * cv))
    dist = lognorm(s=sigma, scale=mean * math.exp(-0.5 * sigma * sigma))
    assert a * dist.sf(L_star) == pytest.approx(k, rel=1e-9)
    res = minimize_scalar(lambda L: -float(expected_profit(L, mean, cv, a, k)), bounds=(0.0, 20 * mean),
                          method="bounded", options={"xatol": 1e-6 * mean})
    assert L_star == pytest.approx(res.x, rel=1e-4)
    # E[min(D, L)] against numeric integration of the survival function.
    grid = np.linspace(0.0, L_star, 200_001)
    sf = dist.sf(grid)
    sales = float(((sf[1:] + sf[:-1]) * 0.5 * np.diff(grid)).sum())
    assert float(expected_profit(L_star, mean, cv, 1.0, 0.0)) == pytest.approx(sales, rel=1e-6)


def test_unprofitable_customer_gets_zero():
    assert float(single_customer_optimum(10_000.0, 0.5, 0.01, 0.02)) == 0.0
    assert float(single_customer_optimum(10_000.0, 0.5, 0.05, 0.01, lower=2_000.0)) > 2_000.0


def _one_customer(mean, cv, gm, days, pd_, lgd, ul, current=0.0, **policy):
    cols = {"mean_demand": [mean], "demand_cv": [cv], "gross_margin": [gm], "collection_days": [days],
            "pd": [pd_], "lgd": [lgd], "ul_rate": [ul], "industry": ["x"], "region": ["y"], "grade": ["A"],
            "current_limit": [current]}
    return build_problem(cols, LimitPolicy(**policy))


@pytest.mark.parametrize("mean,cv,gm,days,pd_,lgd,ul", PARAMS)
@pytest.mark.parametrize("solver", [optimize_limits, solve_with_highs])
def test_single_customer_solver_equals_closed_form(mean, cv, gm, days, pd_, lgd, ul, solver):
    a = net_margin_rate(gm, days, 0.05)
    k = risk_cost_rate(pd_, lgd, ul, 0.10)
    L_star = float(single_customer_optimum(mean, cv, a, k))
    # A finite but loose EL budget makes it a real LP; the optimum is a breakpoint.
    prob = _one_customer(mean, cv, gm, days, pd_, lgd, ul, el_budget=1e12, max_change=None)
    res = solver(prob)
    assert res.limits[0] == pytest.approx(L_star, rel=1e-12)
    assert res.decided_by[0] == "profit_optimum"
    # With a change band and a single-name cap the bounded closed form still holds.
    for current, cap in ((0.5 * L_star, math.inf), (3.0 * L_star, math.inf), (L_star, 0.9 * L_star)):
        prob = _one_customer(mean, cv, gm, days, pd_, lgd, ul, current=current, el_budget=1e12, max_change=0.3,
                             own_equity=cap, single_name_pct=1.0)
        lo, hi = 0.7 * current, min(1.3 * current, cap)
        res = solver(prob)
        assert res.limits[0] == pytest.approx(min(max(L_star, lo), hi), rel=1e-12)


def test_single_customer_with_binding_el_budget_uses_it_exactly():
    mean, cv, gm, days, pd_, lgd, ul = PARAMS[0]
    free = _one_customer(mean, cv, gm, days, pd_, lgd, ul, max_change=None)
    L_star = free.profit_optimum[0]
    budget = 0.5 * free.el_rate[0] * L_star
    res = optimize_limits(free.with_budgets(el_budget=budget))
    assert res.limits[0] == pytest.approx(budget / free.el_rate[0], rel=1e-12)
    assert res.decided_by[0] == "el_budget"
    assert res.shadow_prices["el_budget"] > 0


def test_many_independent_customers_each_get_the_closed_form():
    customers, policy = synthetic_limit_inputs(3000, seed=5)
    loose = LimitPolicy(**{**policy.__dict__, "el_budget": 1e15, "exposure_budget": 1e15,
                           "industry_caps": {}, "region_caps": {}})
    prob = build_problem(customers, loose)
    res = optimize_limits(prob, tuning=FAST_PATH)
    np.testing.assert_allclose(res.limits, prob.profit_optimum, rtol=1e-12, atol=0)


def test_piecewise_model_is_exact_on_breakpoints_and_concave():
    rng = np.random.default_rng(3)
    n = 400
    mean = np.exp(rng.normal(10, 1, n))
    cv = rng.uniform(0.1, 2.0, n)
    a = rng.uniform(-0.02, 0.3, n)
    k = rng.uniform(0.0, 0.05, n)
    lower = mean * rng.uniform(0, 0.5, n) * (rng.random(n) < 0.5)
    upper = lower + mean * rng.uniform(0, 3, n)
    for K in (2, 5, 9):
        pw = piecewise_profit(mean, cv, a, k, lower, upper, n_pieces=K)
        assert pw.breakpoints.shape == (n, K + 1)
        assert np.all(np.diff(pw.breakpoints, axis=1) >= 0)
        assert np.all(np.diff(pw.slopes, axis=1) <= 0), "slopes must not increase"
        exact = expected_profit(pw.breakpoints, mean[:, None], cv[:, None], a[:, None], k[:, None])
        approx = np.stack([pw.value(pw.breakpoints[:, j]) for j in range(K + 1)], axis=1)
        np.testing.assert_allclose(approx, exact, rtol=1e-9, atol=1e-9 * mean.max())
        opt = np.clip(single_customer_optimum(mean, cv, a, k), lower, upper)
        assert np.all(np.isclose(pw.breakpoints, opt[:, None], rtol=1e-14, atol=0).any(axis=1))


def test_irb_capital_rate_matches_basel_reference():
    # Basel corporate curve: PD 1 %, LGD 45 %, M 2.5 years -> risk weight 92.32 %.
    assert float(irb_capital_rate(0.01, 0.45, maturity_years=2.5)) * 12.5 == pytest.approx(0.9232, abs=5e-4)
    assert np.all(np.diff(irb_capital_rate(np.array([0.001, 0.01, 0.05]), 0.45)) > 0)


# ---------------------------------------------------------------------------
# portfolio: exactness against HiGHS
# ---------------------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(50, 2000), n_ind=st.integers(1, 10), n_reg=st.integers(1, 5),
       tightness=st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0, 1.3]), max_change=st.sampled_from([None, 0.1, 0.3]),
       pd_cutoff=st.sampled_from([0.02, 0.1, 1.0]), path=st.sampled_from(sorted(PATHS)))
def test_fast_solver_matches_highs(seed, n, n_ind, n_reg, tightness, max_change, pd_cutoff, path):
    customers, policy = _random_case(seed, n, n_ind, n_reg, tightness, max_change, pd_cutoff)
    prob = build_problem(customers, policy)
    res = optimize_limits(prob, seed=seed, tuning=PATHS[path])
    ref = solve_with_highs(prob)
    assert abs(res.objective - ref.objective) <= 1e-6 * max(1.0, abs(ref.objective))
    assert _max_violation(customers, policy, res.limits) <= REL
    assert res.duality_gap <= 1e-9
    assert set(res.decided_by) <= set(DECIDED_BY)
    assert np.all(res.limits[customers["pd"].to_numpy() > pd_cutoff] == 0.0)


@pytest.mark.parametrize("seed,tightness", [(11, 0.5), (12, 0.15), (13, 0.75)])
def test_fast_solver_matches_highs_on_medium_instances(seed, tightness):
    customers, policy = synthetic_limit_inputs(5000, seed=seed, tightness=tightness)
    prob = build_problem(customers, policy)
    res = optimize_limits(prob, seed=seed)
    ref = solve_with_highs(prob)
    assert abs(res.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    assert _max_violation(customers, policy, res.limits) <= REL
    assert res.binding.shape[0] >= 3, "the synthetic budgets are meant to bind"
    # The optimum does not depend on the sampling seed.
    again = optimize_limits(prob, seed=seed + 1, initial_prices=None)
    assert again.objective == pytest.approx(res.objective, rel=1e-9)


def test_shadow_prices_match_highs_duals_and_finite_differences():
    customers, policy = synthetic_limit_inputs(1500, seed=21, tightness=0.5)
    prob = build_problem(customers, policy)
    res = optimize_limits(prob, tuning=FAST_PATH)
    ref = solve_with_highs(prob, method="highs-ds")
    binding = res.binding
    assert binding.shape[0] >= 3
    checked = 0
    for name, row in binding.iterrows():
        delta = 1e-6 * row["budget"]
        if name == "el_budget":
            up, down = prob.with_budgets(el_budget=row["budget"] + delta), prob.with_budgets(
                el_budget=row["budget"] - delta)
        elif name == "exposure_budget":
            up, down = prob.with_budgets(exposure_budget=row["budget"] + delta), prob.with_budgets(
                exposure_budget=row["budget"] - delta)
        else:
            kind = "industry_caps" if row["kind"] == "industry_cap" else "region_caps"
            key = name.split("[", 1)[1].rstrip("]")
            caps = dict(getattr(policy, kind))
            up = prob.with_budgets(**{kind: {**caps, key: caps[key] + delta}})
            down = prob.with_budgets(**{kind: {**caps, key: caps[key] - delta}})
        right = (optimize_limits(up).objective - res.objective) / delta
        left = (res.objective - optimize_limits(down).objective) / delta
        if not math.isclose(left, right, rel_tol=1e-4, abs_tol=1e-9):
            continue  # degenerate: the dual is not unique here
        price = row["shadow_price"]
        assert price == pytest.approx(right, rel=1e-4, abs=1e-9)
        assert price == pytest.approx(ref.shadow_prices[name], rel=1e-6, abs=1e-12)
        checked += 1
    assert checked >= 3


def test_warm_start_and_fast_path_reach_the_same_optimum():
    customers, policy = synthetic_limit_inputs(2500, seed=8, tightness=0.4)
    prob = build_problem(customers, policy)
    base = optimize_limits(prob)
    fast = optimize_limits(prob, tuning=FAST_PATH)
    warm = optimize_limits(prob, initial_prices=base.prices * 1.2, tuning=FAST_PATH)
    cold = optimize_limits(prob, initial_prices=np.zeros_like(base.prices), tuning=FAST_PATH)
    rough = optimize_limits(prob, initial_prices=base.prices * 0.5, tuning=SIFT_ONLY)
    # Rough prices leave fixed pieces on the wrong side: the sifting rounds must repair them.
    assert sum(r["violations"] for r in rough.stats) > 0
    for other in (fast, warm, cold, rough):
        assert other.objective == pytest.approx(base.objective, rel=1e-9)
        assert _max_violation(customers, policy, other.limits) <= REL
        assert other.duality_gap <= 1e-9


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

def test_frontier_is_monotone_and_concave_and_marks_current_portfolio():
    customers, policy = synthetic_limit_inputs(800, seed=4, tightness=0.5)
    prob = build_problem(customers, policy)
    fr = efficient_frontier(prob, n_points=9)
    t = fr.table
    assert len(t) == 9
    profit = t["expected_profit"].to_numpy()
    scale = max(1.0, abs(profit).max())
    assert np.all(np.diff(profit) >= -1e-9 * scale)
    slopes = np.diff(profit) / np.diff(t["el_budget"].to_numpy())
    assert np.all(np.diff(slopes) <= 1e-6 * max(1.0, abs(slopes).max()))
    assert np.all(t["el_used"] <= t["el_budget"] * (1 + 1e-9) + 1e-9)
    assert np.all(np.diff(t["el_shadow_price"]) <= 1e-9)
    assert math.isfinite(fr.current_el) and math.isfinite(fr.current_profit)
    # A frontier point is the same optimum as a direct solve at that budget.
    mid = t.iloc[4]
    direct = solve_with_highs(prob.with_budgets(el_budget=float(mid["el_budget"])))
    assert mid["expected_profit"] == pytest.approx(direct.objective, rel=1e-9)
    # Piecewise chords lie below the concave exact profit.
    assert np.all(t["expected_profit_exact"] >= t["expected_profit"] - 1e-9 * scale)


@pytest.mark.parametrize("seed", [31, 32])
def test_limits_respect_cutoff_band_and_caps(seed):
    customers, policy = _random_case(seed, 1200, 6, 3, 0.4, 0.3, 0.05)
    prob = build_problem(customers, policy)
    res = optimize_limits(prob, tuning=FAST_PATH)
    out = res.to_frame()
    cut = customers["pd"] > policy.pd_cutoff
    assert cut.any() and (out.loc[cut, "limit"] == 0).all()
    assert (out.loc[cut, "decided_by"] == "pd_cutoff").all()
    cur = customers["current_limit"]
    banded = (cur > 0) & ~cut & ~prob.bound_conflict
    assert (out.loc[banded, "limit"] >= 0.7 * cur[banded] * (1 - 1e-12)).all()
    assert (out.loc[cur > 0, "limit"] <= 1.3 * cur[cur > 0] * (1 + 1e-12)).all()
    insured = customers["insurer_cap"].notna()
    assert (out.loc[insured, "limit"] <= customers.loc[insured, "insurer_cap"] * (1 + 1e-12)).all()
    assert (out["limit"] <= policy.own_equity * policy.single_name_pct * (1 + 1e-12)).all()
    assert _max_violation(customers, policy, res.limits) <= REL


def test_decided_by_names_the_binding_constraint():
    customers, policy = synthetic_limit_inputs(3000, seed=9, tightness=0.4)
    prob = build_problem(customers, policy)
    res = optimize_limits(prob)
    out = res.to_frame()
    counts = out["decided_by"].value_counts()
    for label in ("el_budget", "change_cap", "pd_cutoff", "profit_optimum"):
        assert counts.get(label, 0) > 0, label
    coupled = out["decided_by"].isin(["el_budget", "exposure_budget", "industry_cap", "region_cap"])
    # Held back by a budget: below its own optimum, and that budget has a positive price.
    assert (out.loc[coupled, "limit"] < out.loc[coupled, "profit_optimum"]).all()
    rows = set(out.loc[coupled, "decided_by_constraint"])
    assert rows <= set(res.binding.index)
    at_opt = out["decided_by"] == "profit_optimum"
    np.testing.assert_allclose(out.loc[at_opt, "limit"], out.loc[at_opt, "profit_optimum"], rtol=1e-9)


def test_floor_above_cap_is_reported_and_the_cap_wins():
    cols = {"mean_demand": [100_000.0, 80_000.0], "demand_cv": [0.5, 0.5], "gross_margin": [0.2, 0.2],
            "collection_days": [30.0, 30.0], "pd": [0.01, 0.01], "lgd": [0.4, 0.4], "ul_rate": [0.05, 0.05],
            "industry": ["a", "a"], "region": ["r", "r"], "grade": ["A", "A"],
            "current_limit": [200_000.0, 50_000.0], "customer_id": ["big", "small"]}
    prob = build_problem(cols, LimitPolicy(own_equity=1_000_000.0, single_name_pct=0.1, max_change=0.3,
                                           el_budget=1e9))
    assert prob.bound_conflict.tolist() == [True, False]
    res = optimize_limits(prob)
    assert res.limits[0] == pytest.approx(100_000.0)
    assert res.decided_by[0] == "single_name_cap"


def test_zero_capacity_rows_and_no_coupling_rows():
    customers, policy = synthetic_limit_inputs(600, seed=2, tightness=0.0)
    prob = build_problem(customers, policy)
    res = optimize_limits(prob, tuning=FAST_PATH)
    np.testing.assert_allclose(res.limits, prob.lower, rtol=0, atol=1e-9 * prob.upper.max())
    free = build_problem(customers, LimitPolicy(**{**policy.__dict__, "el_budget": math.inf,
                                                   "exposure_budget": math.inf, "industry_caps": {},
                                                   "region_caps": {}}))
    res = optimize_limits(free)
    np.testing.assert_allclose(res.limits, free.profit_optimum, rtol=1e-12)
    assert res.constraints.empty


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_inputs():
    return synthetic_limit_inputs(200, seed=1)


def test_negative_budget_is_rejected(small_inputs):
    customers, policy = small_inputs
    with pytest.raises(OptimizationInputError, match=r"el_budget.*-5.*>= 0") as err:
        build_problem(customers, LimitPolicy(**{**policy.__dict__, "el_budget": -5.0}))
    assert isinstance(err.value, CreditLabError) and isinstance(err.value, ValueError)
    prob = build_problem(customers, policy)
    with pytest.raises(OptimizationInputError, match="industry_caps"):
        prob.with_budgets(industry_caps={prob.industry_names[0]: -1.0})


def test_nan_pd_names_the_customer(small_inputs):
    customers, policy = small_inputs
    bad = customers.copy()
    bad.iloc[7, bad.columns.get_loc("pd")] = np.nan
    with pytest.raises(OptimizationInputError, match=r"'pd'.*C0000007.*nan"):
        build_problem(bad, policy)


def test_mismatched_lengths_are_rejected(small_inputs):
    customers, policy = small_inputs
    cols = {c: customers[c].to_numpy() for c in customers.columns}
    cols["lgd"] = cols["lgd"][:-3]
    with pytest.raises(OptimizationInputError, match=r"'lgd' has 197 values.*200"):
        build_problem(cols, policy)


def test_other_inconsistent_inputs(small_inputs):
    customers, policy = small_inputs
    with pytest.raises(OptimizationInputError, match="industry_caps.*nope"):
        build_problem(customers, LimitPolicy(**{**policy.__dict__, "industry_caps": {"nope": 1.0}}))
    with pytest.raises(OptimizationInputError, match="lack column"):
        build_problem(customers.drop(columns="grade"), policy)
    with pytest.raises(OptimizationInputError, match="grade_bounds.*'F'"):
        build_problem(customers, LimitPolicy(**{**policy.__dict__, "grade_bounds": {"A": (0.0, 1e6)}}))
    with pytest.raises(OptimizationInputError, match="demand_cv"):
        build_problem(customers.assign(demand_cv=0.0), policy)
    with pytest.raises(OptimizationInputError, match="n_pieces"):
        build_problem(customers, LimitPolicy(**{**policy.__dict__, "n_pieces": 1}))
    dup = pd.concat([customers.iloc[:3], customers.iloc[:1]])
    with pytest.raises(OptimizationInputError, match="more than once"):
        build_problem(dup, policy)


def test_floors_above_a_budget_are_infeasible(small_inputs):
    customers, policy = small_inputs
    prob = build_problem(customers, policy)
    floor_el = float((prob.el_rate * prob.lower).sum())
    with pytest.raises(InfeasibleLimitsError, match=r"el_budget.*raise policy.el_budget to at least"):
        optimize_limits(prob.with_budgets(el_budget=0.5 * floor_el))
    with pytest.raises(InfeasibleLimitsError):
        solve_with_highs(prob.with_budgets(el_budget=0.5 * floor_el))
