"""The competition term and strategic floors of the limit optimizer: derivation, exactness, properties, params."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import cumulative_trapezoid, quad
from scipy.stats import lognorm

from credit_lab.core.config import LimitParams, params_from_dict
from credit_lab.core.exceptions import ParamsError
from credit_lab.limits.optimizer import (
    DECIDED_BY,
    LimitPolicy,
    annuity_factor,
    build_problem,
    competition_frontier,
    constraint_violations,
    optimize_limits,
    relationship_value,
    relationship_value_kept,
    retention_margin,
    segment_tradeoff,
    single_customer_optimum,
    solve_with_highs,
    synthetic_limit_inputs,
)
from credit_lab.limits.setting import optimize_book
from credit_lab.run.assumptions import DEFAULT, PARAMS_FILE, decision_settings

FAST_PATH = {"base_customers": 60, "band_min": 150, "band_factor": 10.0, "target_min": 40}
FREE = LimitPolicy(own_equity=math.inf, max_change=None)  # no budget binds


def _with_competition(customers: pd.DataFrame, seed: int, strategic_share: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = customers.copy()
    out["relationship_value"] = out["mean_demand"] * rng.uniform(0.0, 6.0, len(out))
    codes = pd.factorize(out["industry"], sort=True)[0]
    out["competitive_intensity"] = (codes % 4) / 3.0
    if strategic_share:
        out["strategic_floor"] = np.where(rng.random(len(out)) < strategic_share, 0.8 * out["mean_demand"], np.nan)
    return out


def _sales_by_quadrature(limit: float, mean: float, cv: float) -> float:
    """E[min(D, L)] = integral of P(D > x) over [0, L], independently of the closed form."""
    s2 = math.log1p(cv * cv)
    dist = lognorm(s=math.sqrt(s2), scale=math.exp(math.log(mean) - s2 / 2))
    return quad(dist.sf, 0.0, limit, limit=200, epsabs=1e-10)[0]


# ------------------------------------------------------------------ the derivation


def test_retained_value_is_a_constant_plus_a_margin_on_expected_sales():
    mean, cv, value, c = 40_000.0, 0.6, 250_000.0, 0.7
    for limit in (0.0, 10_000.0, 40_000.0, 90_000.0):
        sales = _sales_by_quadrature(limit, mean, cv)
        unmet = (mean - sales) / mean  # E[(D - L)+] / E[D]
        direct = value * (1.0 - c * unmet)  # V x (1 - P(lose))
        kept = relationship_value_kept(limit, mean, cv, value, c)
        linear = value * (1.0 - c) + retention_margin(value, c, mean) * sales
        assert kept == pytest.approx(direct, rel=1e-7) and linear == pytest.approx(direct, rel=1e-7)


def test_relationship_value_hand_worked():
    # 10 % net margin on 10,000 a month for 3 years at 10 %, a 12-month relationship counted half of 24 months
    v = relationship_value([0.10, -0.02, 0.10, 0.10], [120_000.0, 120_000.0, np.nan, 120_000.0], [12, 60, 60, 48],
                           relationship_years=3, discount_rate=0.10, full_value_tenure_months=24)
    annuity = 1 / 1.1 + 1 / 1.1 ** 2 + 1 / 1.1 ** 3
    assert annuity_factor(3, 0.10) == pytest.approx(annuity)
    assert v[0] == pytest.approx(0.10 * 120_000 * annuity * 0.5)
    assert v[1] == 0.0 and v[2] == 0.0  # negative margin, no ordering history: nothing to keep
    assert v[3] == pytest.approx(0.10 * 120_000 * annuity)
    assert annuity_factor(2.5, 0.0) == 2.5


def test_single_customer_closed_form_matches_a_brute_force_grid_on_the_extended_profit():
    rng = np.random.default_rng(4)
    for _ in range(6):
        mean, cv = rng.uniform(5_000, 80_000), rng.uniform(0.2, 1.2)
        a, k = rng.uniform(0.02, 0.2), rng.uniform(0.005, 0.05)
        value, c = mean * rng.uniform(0.5, 8.0), rng.uniform(0.1, 1.0)
        r = float(retention_margin(value, c, mean))
        closed = float(single_customer_optimum(mean, cv, a + r, k))
        # E[min(D, L)] on a fine grid as the running integral of P(D > x): no closed form involved
        s2 = math.log1p(cv * cv)
        grid = np.linspace(0.0, 3.0 * closed, 200_001)
        survival = lognorm(s=math.sqrt(s2), scale=math.exp(math.log(mean) - s2 / 2)).sf(grid)
        sales = cumulative_trapezoid(survival, grid, initial=0.0)
        extended = a * sales - k * grid + value * (1.0 - c * (1.0 - sales / mean))
        brute = grid[int(extended.argmax())]
        assert brute == pytest.approx(closed, rel=1e-3)
        assert closed >= float(single_customer_optimum(mean, cv, a, k))  # retention only ever raises it


# ------------------------------------------------------------------ exactness


@pytest.mark.parametrize("seed,n,tightness", [(1, 400, 0.5), (2, 1500, 0.7), (3, 250, 0.3)])
def test_optimum_with_competition_matches_the_reference_solver(seed, n, tightness):
    customers, policy = synthetic_limit_inputs(n, seed=seed, tightness=tightness)
    problem = build_problem(_with_competition(customers, seed, strategic_share=0.03), policy)
    assert problem.retention_margin.max() > 0
    fast = optimize_limits(problem, seed=seed, tuning=FAST_PATH)
    ref = solve_with_highs(problem)
    assert fast.objective == pytest.approx(ref.objective, rel=1e-9)
    assert fast.duality_gap <= 1e-9
    assert max(constraint_violations(problem, fast.limits).values()) <= 1e-9
    # the pieces are the extended objective, exact on the breakpoints
    bp = problem.pieces.breakpoints
    exact = np.stack([problem.expected_profit(bp[:, j]) for j in range(bp.shape[1])], axis=1)
    pwl = np.stack([problem.piecewise_value(bp[:, j]) for j in range(bp.shape[1])], axis=1)
    assert np.allclose(pwl, exact, rtol=1e-9, atol=1e-6)


def test_intensity_zero_reproduces_today_s_limits_exactly():
    customers, policy = synthetic_limit_inputs(600, seed=5)
    with_columns = _with_competition(customers, 5).assign(competitive_intensity=0.0)
    today = optimize_limits(build_problem(customers, policy), seed=0)
    off = optimize_limits(build_problem(with_columns, policy), seed=0)
    assert np.array_equal(today.limits, off.limits)
    assert np.array_equal(today.decided_by, off.decided_by) and today.objective == off.objective


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), raise_to=st.floats(0.05, 1.0))
def test_raising_a_segment_s_intensity_never_lowers_its_limits_when_no_budget_binds(seed, raise_to):
    customers, _ = synthetic_limit_inputs(80, n_industries=3, n_regions=2, seed=seed)
    base = _with_competition(customers, seed)
    target = str(base["industry"].iloc[0])
    in_target = (base["industry"].astype(str) == target).to_numpy()
    raised = base.assign(competitive_intensity=np.where(in_target, np.maximum(base["competitive_intensity"], raise_to),
                                                        base["competitive_intensity"]))
    before = optimize_limits(build_problem(base, FREE)).limits
    after = optimize_limits(build_problem(raised, FREE)).limits
    assert np.all(after[in_target] >= before[in_target] - 1e-9 * np.maximum(1.0, before[in_target]))
    assert np.array_equal(after[~in_target], before[~in_target])


# ------------------------------------------------------------------ reasons


def test_a_limit_raised_by_the_retention_term_says_so():
    customers, _ = synthetic_limit_inputs(300, seed=6)
    problem = build_problem(_with_competition(customers, 6), FREE)
    result = optimize_limits(problem)
    tagged = result.decided_by == "relationship_value"
    assert tagged.any() and "relationship_value" in DECIDED_BY
    assert np.all(result.limits[tagged] > problem.optimum_without_retention[tagged] * 1.01)
    assert np.all(problem.retention_margin[tagged] > 0)
    # captive customers are never put down to retention
    assert not np.any(tagged & (problem.competitive_intensity == 0))


# ------------------------------------------------------------------ strategic floors


def test_strategic_floor_shadow_price_equals_the_objective_s_change_when_the_floor_moves():
    customers, policy = synthetic_limit_inputs(400, seed=8, tightness=0.5)
    base = _with_competition(customers, 8, strategic_share=0.15)
    problem = build_problem(base, policy)
    result = optimize_limits(problem, seed=0)
    floors = result.constraints[result.constraints["kind"] == "strategic_floor"]
    binding = floors[floors["binding"] & (floors["shadow_price"] > 1e-4)]
    assert len(binding) >= 2
    for name, row in binding.head(3).iterrows():
        cid = name.removeprefix("strategic_floor[").rstrip("]")
        delta = 1e-4 * row["budget"]
        moved = {}
        for sign in (-1.0, 1.0):
            changed = base.copy()
            changed.loc[cid, "strategic_floor"] = row["budget"] + sign * delta
            moved[sign] = optimize_limits(build_problem(changed, policy), seed=0).objective
        # objective gained per unit the floor is lowered, and lost per unit it is raised
        assert (moved[-1.0] - result.objective) / delta == pytest.approx(row["shadow_price"], rel=2e-3, abs=1e-7)
        assert (result.objective - moved[1.0]) / delta == pytest.approx(row["shadow_price"], rel=2e-3, abs=1e-7)
    ref = solve_with_highs(problem)
    assert ref.objective == pytest.approx(result.objective, rel=1e-9)


def test_hard_caps_and_the_pd_cutoff_win_over_a_strategic_floor():
    customers, policy = synthetic_limit_inputs(300, seed=9)
    policy = replace(policy, el_budget=math.inf, exposure_budget=math.inf, industry_caps={}, region_caps={})
    c = customers.assign(strategic_floor=2.0 * customers["mean_demand"])
    problem = build_problem(c, policy)
    result = optimize_limits(problem)
    cut = problem.pd > policy.pd_cutoff
    assert np.all(result.limits[cut] == 0.0) and np.all(result.decided_by[cut] == "pd_cutoff")
    insured = c["insurer_cap"].notna().to_numpy() & ~cut & (c["insurer_cap"].to_numpy() < 2.0 * c["mean_demand"])
    assert np.all(result.limits[insured] <= c["insurer_cap"].to_numpy()[insured] + 1e-9)
    held = (result.decided_by == "strategic_floor")
    assert held.any() and np.allclose(result.limits[held], 2.0 * c["mean_demand"].to_numpy()[held])


# ------------------------------------------------------------------ frontier and trade-off


def test_frontier_and_tradeoff_with_and_without_the_term():
    customers, policy = synthetic_limit_inputs(300, seed=10)
    problem = build_problem(_with_competition(customers, 10), policy)
    frontier = competition_frontier(problem, n_points=4)
    table = frontier.table.pivot(index="el_budget", columns="term")
    # at every budget, the limits set with the term keep more value in total, those without earn more now
    total_with, total_without = table["total_value"]["with competition"], table["total_value"]["without"]
    assert np.all(total_with >= total_without - 1e-4 * total_without.abs())
    assert np.all(table["margin_now"]["without"] >= table["margin_now"]["with competition"] - 1e-4
                  * table["margin_now"]["without"].abs())
    assert np.all(table["el_used"].to_numpy() <= table.index.to_numpy()[:, None] * (1 + 1e-9) + 1e-6)
    free_with = optimize_limits(build_problem(_with_competition(customers, 10), FREE)).limits
    free_without = optimize_limits(build_problem(customers, FREE)).limits
    by_industry = segment_tradeoff(problem, free_with, free_without)
    assert np.all(by_industry["relationship_value_kept_with"] >= by_industry["relationship_value_kept_without"] - 1e-6)
    assert np.all(by_industry["expected_loss_with"] >= by_industry["expected_loss_without"] - 1e-6)
    assert by_industry["relationship_value_kept_with"].sum() <= by_industry["relationship_value"].sum() + 1e-6


# ------------------------------------------------------------------ the book, params and assumptions


def _book(n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"K{i:03d}" for i in range(n)], name="customer_id")
    book = pd.DataFrame({
        "pd": rng.uniform(0.002, 0.05, n), "grade": "C", "industry": np.where(np.arange(n) % 2, "Retail", "Metals"),
        "region": "North", "credit_limit": rng.uniform(5_000, 60_000, n).round(-2), "payment_terms_days": 60,
        "revenue_latest": 1e6, "days_beyond_terms_mean": 5.0, "insurance_cover_pct": 0.0, "insured_limit": 0.0,
        "tenure_months": rng.integers(3, 80, n).astype(float), "key_account": np.arange(n) % 10 == 0,
    }, index=ids)
    purchases = pd.DataFrame({"monthly_purchases_mean": rng.uniform(5_000, 40_000, n),
                              "monthly_purchases_cv": rng.uniform(0.2, 0.8, n), "months_observed": 12}, index=ids)
    return book, purchases


NO_BUDGETS = {"el_budget_vs_current": None, "exposure_budget_vs_current": None, "industry_cap_share": None,
              "region_cap_share": None, "risk_cap_by_grade": {"C": 1e9}, "max_change_per_review": None}


def test_optimize_book_with_competition_and_strategic_customers():
    book, purchases = _book()
    plain, _, _ = optimize_book(book, purchases, LimitParams(**NO_BUDGETS), lgd=0.45)
    zero, _, _ = optimize_book(book, purchases, LimitParams(**NO_BUDGETS, competition={"relationship_years": 5}),
                               lgd=0.45)
    pd.testing.assert_series_equal(plain["proposed_limit"], zero["proposed_limit"])
    params = LimitParams(**NO_BUDGETS, competition={"intensity_by_industry": {"Retail": 0.8, "Textiles": 0.5}},
                         strategic={"flag_column": "key_account", "customers": ["K001", "nobody"],
                                    "protected_share_of_need": 1.2})
    table, result, problem = optimize_book(book, purchases, params, lgd=0.45)
    retail = book["industry"] == "Retail"
    assert (table.loc[retail, "proposed_limit"] >= plain.loc[retail, "proposed_limit"] - 1e-6).all()
    assert (table.loc[retail, "competitive_intensity"] == 0.8).all() and (table.loc[~retail, "competitive_intensity"]
                                                                         == 0).all()
    assert (table["relationship_value_kept"] <= table["relationship_value"] + 1e-6).all()
    raised = table["decided_by"] == "relationship_value"
    assert raised.any() and table.loc[raised, "limit_reason"].str.contains("Without weighing competition").all()
    strategic = book["key_account"] | (book.index == "K001")
    assert table["strategic_floor"].notna().eq(strategic).all()
    assert (table.loc[strategic, "proposed_limit"] >= table.loc[strategic, "strategic_floor"] * (1 - 1e-9)).all()
    notes = " ".join(table.attrs["notes"])
    assert "Textiles" in notes and "nobody" in notes and "strategic customer(s)" in notes
    assert len(result.constraints.loc[result.constraints["kind"] == "strategic_floor"]) == int(strategic.sum())
    with pytest.raises(ParamsError, match="limits.strategic.flag_column = 'vip'"):
        optimize_book(book, purchases, LimitParams(**NO_BUDGETS, strategic={"flag_column": "vip"}), lgd=0.45)


@pytest.mark.parametrize("limits,key", [
    ({"competition": {"default_intensity": 1.5}}, "limits.competition.default_intensity"),
    ({"competition": {"intensity_by_industry": {"Retail": -0.1}}}, "limits.competition.intensity_by_industry"),
    ({"competition": {"relationship_years": 0}}, "limits.competition.relationship_years"),
    ({"competition": {"discount_rate": 2}}, "limits.competition.discount_rate"),
    ({"competition": {"intensity": 0.3}}, "limits.competition.intensity"),
    ({"strategic": {"protected_share_of_need": 0}}, "limits.strategic.protected_share_of_need"),
    ({"strategic": {"top_by_margin": -1}}, "limits.strategic.top_by_margin"),
])
def test_bad_competition_params_name_the_key(limits, key):
    with pytest.raises(ParamsError, match=key.replace(".", r"\.")):
        params_from_dict({"limits": limits})


def test_build_problem_checks_the_competition_columns():
    customers, policy = synthetic_limit_inputs(20, seed=1)
    for column, value in (("competitive_intensity", 1.2), ("relationship_value", -5.0), ("strategic_floor", -1.0)):
        with pytest.raises(ValueError, match=column):
            build_problem(customers.assign(**{column: value}), policy)


def test_the_assumptions_list_competition_and_strategic_customers():
    rows = {s.key: s for s in decision_settings(params_from_dict({}))}
    comp, strat = rows["limits.competition.default_intensity"], rows["limits.strategic.protected_share_of_need"]
    assert comp.source == DEFAULT and comp.effect.startswith("no competition term")
    assert strat.source == DEFAULT and strat.value == "no strategic customers"
    rows = {s.key: s for s in decision_settings(params_from_dict({"limits": {
        "competition": {"intensity_by_industry": {"Retail": 0.6}}, "strategic": {"top_by_margin": 20}}}))}
    comp, strat = rows["limits.competition.default_intensity"], rows["limits.strategic.protected_share_of_need"]
    assert comp.source == PARAMS_FILE and comp.keys_set == ("limits.competition.intensity_by_industry",)
    assert comp.value == "Retail 0.6; other industries 0" and "risks its relationship" in comp.effect
    assert strat.value == "80% of need; top 20 by margin" and strat.source == PARAMS_FILE
    rules = {s.key: s for s in decision_settings(params_from_dict({"limits": {"method": "rules"}}))}
    assert rules["limits.competition.default_intensity"].effect.startswith("not used")


def test_replace_keeps_the_competition_arrays():
    customers, policy = synthetic_limit_inputs(50, seed=2)
    problem = build_problem(_with_competition(customers, 2), policy)
    looser = problem.with_budgets(el_budget=math.inf)
    assert looser.retention_margin is problem.retention_margin
    plain = problem.without_competition()
    assert not plain.retention_margin.any() and np.array_equal(plain.profit_optimum, problem.optimum_without_retention)
    assert replace(plain).relationship_value.sum() == 0.0


def test_supplier_concentration_gives_the_documented_default_intensity_unless_one_is_stated():
    from credit_lab.core.competition_params import CompetitionParams, intensity_from_supplier_hhi

    assert [intensity_from_supplier_hhi(h) for h in (0, 2_000, 10_000)] == [1.0, 0.8, 0.0]
    comp = CompetitionParams(supplier_hhi_by_industry={"Retail": 2000, "Mining": 2600},
                             intensity_by_industry={"Mining": 0.5})
    assert comp.intensities() == {"Retail": 0.8, "Mining": 0.5}  # a stated intensity wins over the rule of thumb
    with pytest.raises(ValueError, match="lies in \\[0, 10000\\]"):
        CompetitionParams(supplier_hhi_by_industry={"Retail": 12_000})
    book, purchases = _book()
    table, _, _ = optimize_book(book, purchases, LimitParams(**NO_BUDGETS, competition={
        "supplier_hhi_by_industry": {"Retail": 2000}}), lgd=0.45)
    retail = book["industry"] == "Retail"
    assert (table.loc[retail, "competitive_intensity"] == 0.8).all()
    assert (table.loc[~retail, "competitive_intensity"] == 0).all()
    assert any("Retail HHI 2,000 -> 0.80" in n for n in table.attrs["notes"])
