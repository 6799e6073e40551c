import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_lab.core.config import LimitParams
from credit_lab.limits.setting import set_limits

P = LimitParams()  # own equity 50M x 5% = 2.5M single-name cap; grade E cap 1M; cut-off 0.20


def book(**cols):
    base = {"pd": [0.03], "grade": ["E"], "credit_limit": [10_000.0], "payment_terms_days": [30],
            "sales_in_window": [120_000.0], "tenure_months": [40.0], "revenue_latest": [1_000_000.0]}
    base.update(cols)
    return pd.DataFrame(base, index=[f"C{i}" for i in range(len(base["pd"]))])


def test_capacity_decides_a_small_buyer():
    out = set_limits(book(), P, 12).iloc[0]
    expected_cap = 10_000 * 30 / 30.4375 * 1.25  # monthly purchases x terms in months x headroom
    assert out["capacity_cap"] == pytest.approx(expected_cap)
    assert out["proposed_limit"] == 12_000 and out["decided_by"] == "capacity"
    assert out["capacity_basis"] == "purchases" and out["limit_change"] == 2_000
    assert "+2,000" in out["limit_reason"]


def test_revenue_caps_capacity_when_purchases_are_large():
    out = set_limits(book(sales_in_window=[12e6], revenue_latest=[2e6]), P, 12).iloc[0]
    assert out["capacity_cap"] == pytest.approx(200_000) and out["capacity_basis"] == "revenue"


def test_risk_grade_single_name_and_cutoff_decide():
    b = book(pd=[0.03, 0.001, 0.30], grade=["E", "A", "H"], sales_in_window=[1e9] * 3, revenue_latest=[1e10] * 3)
    out = set_limits(b, P, 12)
    assert out["decided_by"].tolist() == ["risk_grade", "single_name", "pd_cutoff"]
    assert out["proposed_limit"].tolist() == [1_000_000, 2_500_000, 0]


def test_short_tenure_uses_the_months_observed():
    out = set_limits(book(tenure_months=[3.0], sales_in_window=[30_000.0]), P, 12).iloc[0]
    assert out["capacity_cap"] == pytest.approx(10_000 * 30 / 30.4375 * 1.25)


def test_no_purchases_no_revenue_keeps_todays_limit():
    out = set_limits(book(sales_in_window=[0.0], revenue_latest=[np.nan]), P, 12).iloc[0]
    assert out["capacity_basis"] == "current_limit" and out["proposed_limit"] == 10_000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-5, 0.99), st.sampled_from(list("ABCDEFGH")), st.floats(0, 1e9),
                          st.floats(0, 1e8), st.floats(0.5, 200), st.one_of(st.none(), st.floats(1, 1e10)),
                          st.sampled_from([14, 30, 60, 90])), min_size=1, max_size=30))
def test_no_limit_exceeds_any_cap(rows):
    pd_, grade, sales, limit, tenure, revenue, terms = map(list, zip(*rows))
    b = book(pd=pd_, grade=grade, sales_in_window=sales, credit_limit=limit, tenure_months=tenure,
             revenue_latest=[np.nan if r is None else r for r in revenue], payment_terms_days=terms)
    out = set_limits(b, P, 12)
    assert (out["proposed_limit"] >= 0).all()
    assert (out["proposed_limit"] <= out["capacity_cap"] + 1e-6).all()
    assert (out["proposed_limit"] <= out["risk_cap"] + 1e-6).all()
    assert (out["proposed_limit"] <= P.own_equity * P.single_name_cap_pct).all()
    assert (out.loc[b["pd"] > P.pd_cutoff, "proposed_limit"] == 0).all()
    assert (out["proposed_limit"] % P.rounding == 0).all()


# ------------------------------------------------------------------ portfolio optimization glue

from credit_lab.limits.optimizer import constraint_violations  # noqa: E402
from credit_lab.limits.setting import optimization_inputs, optimize_book, purchase_statistics  # noqa: E402


def test_purchase_statistics_hand_worked():
    inv = pd.DataFrame({
        "customer_id": ["A", "A", "A", "B"],
        "invoice_date": pd.to_datetime(["2024-10-05", "2024-10-20", "2024-12-01", "2023-01-01"]),
        "amount": [100.0, 200.0, 600.0, 50.0],
    })
    stats = purchase_statistics(inv, pd.Timestamp("2025-01-01"), 12, pd.Index(["A", "B", "C"]))
    # A: October 300, November 0, December 600 -> three months observed from its first order
    assert stats.loc["A", "months_observed"] == 3
    assert stats.loc["A", "monthly_purchases_mean"] == pytest.approx(300.0)
    assert stats.loc["A", "monthly_purchases_cv"] == pytest.approx(np.std([300, 0, 600], ddof=1) / 300)
    assert stats.loc["B", "months_observed"] == 0 and np.isnan(stats.loc["B", "monthly_purchases_mean"])
    assert stats.loc["C", "months_observed"] == 0


def _book():
    return pd.DataFrame({
        "pd": [0.01, 0.02, 0.5, 0.03], "grade": ["C", "D", "H", "E"], "industry": ["X", "X", "Y", "Y"],
        "region": ["N", "S", "N", "S"], "credit_limit": [10_000.0, 50_000.0, 5_000.0, 0.0],
        "payment_terms_days": [30, 60, 30, 45], "revenue_latest": [1e6, np.nan, 2e5, np.nan],
        "days_beyond_terms_mean": [5.0, np.nan, 40.0, np.nan], "insurance_cover_pct": [0.9, 0.0, 0.0, 0.0],
        "insured_limit": [8_000.0, 0.0, 0.0, 0.0],
    }, index=pd.Index(["A", "B", "C", "D"], name="customer_id"))


def test_optimization_inputs_take_need_from_orders_then_revenue_then_limit():
    purchases = pd.DataFrame({"monthly_purchases_mean": [3000.0, np.nan, np.nan, np.nan],
                              "monthly_purchases_cv": [0.4, np.nan, np.nan, np.nan],
                              "months_observed": [12, 0, 0, 0]}, index=_book().index)
    inputs, basis = optimization_inputs(_book(), purchases, P, lgd=0.45)
    assert basis.tolist() == ["ordering history", "today's limit", "revenue", "none"]
    assert inputs.loc["A", "mean_demand"] == pytest.approx(3000 * 30 / 30.4375)
    assert inputs.loc["A", "demand_cv"] == pytest.approx(0.4)  # terms under a month: no scaling
    assert inputs.loc["B", "demand_cv"] == P.demand_cv_default
    assert inputs.loc["C", "mean_demand"] == pytest.approx(2e5 * P.revenue_cap_pct)
    assert inputs.loc["A", "collection_days"] == 35 and inputs.loc["B", "collection_days"] == 60
    assert inputs.loc["A", "insurer_cap"] == 8_000 and np.isinf(inputs.loc["B", "insurer_cap"])


def test_optimized_book_meets_every_constraint(small_tables):
    """On a scored synthetic book: all constraints hold on the output, recomputed independently."""
    from credit_lab.core.config import FeatureParams, RunParams
    from credit_lab.features.point_in_time import build_features
    from credit_lab.models.grading import assign_grades

    as_of = pd.Timestamp("2025-01-01")
    feats = build_features(small_tables, as_of, FeatureParams())
    cust = small_tables["customers"].set_index("customer_id")
    rng = np.random.default_rng(0)
    book = feats.join(cust[["payment_terms_days", "insurance_cover_pct", "insured_limit"]])
    book["pd"] = np.clip(rng.lognormal(np.log(0.02), 1.0, len(book)), 1e-4, 0.9)
    book["grade"] = assign_grades(book["pd"].to_numpy(), RunParams().master_scale)
    purchases = purchase_statistics(small_tables["invoices"], as_of, 12, book.index)
    params = LimitParams(el_budget_vs_current=0.55, industry_cap_share=0.2)
    table, result, problem = optimize_book(book, purchases, params, lgd=0.45, seed=1)
    assert set(table["decided_by"]) <= {"profit_optimum", "el_budget", "exposure_budget", "industry_cap",
                                        "region_cap", "single_name_cap", "change_cap", "insurer_cap",
                                        "grade_bound", "pd_cutoff", "new_customer_cap", "requested_limit",
                                        "no_demand_data"}
    violations = constraint_violations(problem, result.limits)
    assert max(violations.values()) <= 1e-9
    lim = table["proposed_limit"]
    assert (lim[book["pd"] > params.pd_cutoff] == 0).all()
    assert (lim <= params.own_equity * params.single_name_cap_pct + 1e-6).all()
    no_history = book["has_payment_history"] == 0
    assert (lim[no_history] <= np.maximum(params.new_customer_cap, table.loc[no_history, "current_limit"]) + 1e-6).all()
    banded = table["current_limit"] > 0
    upper_band = table.loc[banded, "current_limit"] * 1.3
    assert (lim[banded] <= upper_band + 1e-6).all()
    el_today = (book["pd"] * 0.45 * book["credit_limit"]).sum()
    assert (book["pd"] * 0.45 * lim).sum() <= 0.55 * el_today * (1 + 1e-9)
    assert result.binding.index.tolist()  # the tight EL budget binds
    assert result.shadow_prices["el_budget"] > 0


def test_infeasible_budget_names_the_params_keys(small_tables):
    from credit_lab.limits.optimizer import InfeasibleLimitsError

    book = _book().drop(index="D")
    purchases = pd.DataFrame({"monthly_purchases_mean": [3000.0, 500.0, 100.0],
                              "monthly_purchases_cv": [0.4, 0.4, 0.4], "months_observed": [12, 12, 12]},
                             index=book.index)
    with pytest.raises(InfeasibleLimitsError, match="limits.el_budget_vs_current"):
        optimize_book(book, purchases, LimitParams(el_budget_vs_current=0.01, on_infeasible_budget="fail"),
                      lgd=0.45)


def _hint_book(scale: float = 1.0):
    """Three customers scored by a fitted model (PD rises with days beyond terms, falls with tenure; disputes
    are noise), limits, revenue and purchases times ``scale``; their optimized limits with hints, and the book."""
    from credit_lab.core.config import RunParams
    from credit_lab.models.grading import assign_grades
    from tests.test_models import fitted

    model = fitted()
    features = pd.DataFrame({"days_beyond_terms_mean": [40.0, 0.0, 25.0], "tenure_months": [60.0, 60.0, 60.0],
                             "dispute_rate": [0.0, 0.0, 0.0]}, index=pd.Index(["LATE", "PUNCTUAL", "MID"]))
    pd_ = model.predict_pd(features)
    book = pd.DataFrame({
        "pd": pd_, "grade": assign_grades(pd_, RunParams().master_scale), "industry": ["X", "X", "Y"],
        "region": ["N", "N", "S"], "credit_limit": [100_000.0 * scale] * 3,
        "payment_terms_days": [60, 60, 60], "revenue_latest": [5e6 * scale] * 3,
        "days_beyond_terms_mean": [40.0, 0.0, 25.0], "insurance_cover_pct": [0.0] * 3, "insured_limit": [0.0] * 3,
    }, index=features.index)
    purchases = pd.DataFrame({"monthly_purchases_mean": [60_000.0 * scale] * 3, "monthly_purchases_cv": [0.3] * 3,
                              "months_observed": [12] * 3}, index=book.index)
    params = LimitParams(el_budget_vs_current=None, exposure_budget_vs_current=None, max_change_per_review=None,
                         pd_cutoff=0.99)
    table, _, _ = optimize_book(book, purchases, params, lgd=0.45, model=model, features=features,
                                master_scale=RunParams().master_scale)
    return table, book


def test_hints_name_the_behaviour_that_raises_the_limit():
    table, book = _hint_book()
    assert table.loc["LATE", "hint"] == "paying within terms"
    assert table.loc["LATE", "hint_pd"] < book.loc["LATE", "pd"]
    assert table.loc["LATE", "hint_limit"] > table.loc["LATE", "proposed_limit"]
    assert table.loc["PUNCTUAL", "hint"] == ""  # nothing in its own behaviour to improve
    from credit_lab.limits.setting import reason_sentence

    sentence = reason_sentence(table.loc["LATE"].copy())
    assert "Paying within terms would lower the PD to" in sentence
    assert f"{table.loc['LATE', 'hint_limit']:,.0f}" in sentence


def test_hints_reach_a_book_of_small_limits():
    # the same late payer with limits 1,000 times smaller: a gain of a few hundred is still 5%+ of its limit
    table, _ = _hint_book(scale=0.001)
    assert table.loc["LATE", "hint"] == "paying within terms"
    assert table.loc["LATE", "hint_limit"] - table.loc["LATE", "proposed_limit"] < 1000  # below the absolute bar


def test_budget_below_the_bands_floors_lifts_the_reduction_edge_and_says_so():
    book = _book().drop(index="D")
    purchases = pd.DataFrame({"monthly_purchases_mean": [3000.0, 500.0, 100.0],
                              "monthly_purchases_cv": [0.4, 0.4, 0.4], "months_observed": [12, 12, 12]},
                             index=book.index)
    params = LimitParams(el_budget_vs_current=0.1)
    table, result, problem = optimize_book(book, purchases, params, lgd=0.45)
    assert any("lower edge was lifted" in note for note in table.attrs["notes"])
    el = (book["pd"] * 0.45 * table["proposed_limit"]).sum()
    assert el <= 0.1 * (book["pd"] * 0.45 * book["credit_limit"]).sum() * (1 + 1e-9)
    assert (table["proposed_limit"] <= 1.3 * table["current_limit"] + 1e-6).all()  # increases still banded


def test_grade_minimum_is_a_floor():
    book = _book().drop(index="D")
    purchases = pd.DataFrame({"monthly_purchases_mean": [3000.0, 500.0, 100.0],
                              "monthly_purchases_cv": [0.4, 0.4, 0.4], "months_observed": [12, 12, 12]},
                             index=book.index)
    params = LimitParams(min_limit_by_grade={"C": 9_500.0}, max_change_per_review=None, insured_limit_caps=False,
                         el_budget_vs_current=None, exposure_budget_vs_current=None)
    table, _, _ = optimize_book(book, purchases, params, lgd=0.45)
    assert table.loc["A", "proposed_limit"] >= 9_500.0 - 1e-6  # grade C
    assert table.loc["C", "proposed_limit"] == 0  # grade H, above the PD cut-off: the cut-off wins


# ------------------------------------------------------------------ share caps on the book's segments

def _segment_book(industries, regions, current=100_000.0, monthly=1_000_000.0):
    """Customers whose demand far exceeds today's limits, so any binding cap decides their limit."""
    n = len(industries)
    ids = pd.Index([f"K{i}" for i in range(n)], name="customer_id")
    book = pd.DataFrame({
        "pd": [0.01] * n, "grade": ["C"] * n, "industry": industries, "region": regions,
        "credit_limit": [current] * n, "payment_terms_days": [30] * n, "revenue_latest": [1e8] * n,
        "days_beyond_terms_mean": [0.0] * n, "insurance_cover_pct": [0.0] * n, "insured_limit": [0.0] * n,
    }, index=ids)
    purchases = pd.DataFrame({"monthly_purchases_mean": [monthly] * n, "monthly_purchases_cv": [0.3] * n,
                              "months_observed": [12] * n}, index=ids)
    return book, purchases


def test_a_share_cap_on_a_one_segment_book_is_off_and_the_notes_say_so():
    """One industry and one region ('all', as in table mode without those columns): with the default
    shares (0.25, 0.40) the caps would hold the whole book to a quarter of the exposure budget."""
    book, purchases = _segment_book(["all"] * 4, ["all"] * 4)
    params = LimitParams(el_budget_vs_current=None)  # exposure budget: today's total, 400k
    table, result, problem = optimize_book(book, purchases, params, lgd=0.45)
    assert not [r for r in result.constraints.index if r.startswith(("industry_cap", "region_cap"))]
    assert not table["decided_by"].isin(["industry_cap", "region_cap"]).any()
    # Demand is far above the limits: the exposure budget is the only portfolio limit, used in full
    # (with the caps, the industry cap held the book to 100k and the change band had to be lifted).
    assert table["proposed_limit"].sum() == pytest.approx(400_000.0, rel=1e-6)
    notes = table.attrs["notes"]
    assert ("limits.industry_cap_share = 0.25 is not applied: the book has one industry ('all'), so a share cap "
            "would cap the whole book, not a concentration.") in notes
    assert ("limits.region_cap_share = 0.4 is not applied: the book has one region ('all'), so a share cap "
            "would cap the whole book, not a concentration.") in notes
    assert not any("lower edge was lifted" in n for n in notes)
    assert table.attrs["share_caps"]["industry"] == {"share": 0.25, "segments": 1, "applied": False}


def test_a_named_cap_on_a_one_segment_book_stays():
    book, purchases = _segment_book(["all"] * 4, ["all"] * 4)
    params = LimitParams(el_budget_vs_current=None, industry_caps={"all": 300_000.0}, max_change_per_review=None)
    table, result, problem = optimize_book(book, purchases, params, lgd=0.45)
    assert "industry_cap[all]" in result.constraints.index and "region_cap[all]" not in result.constraints.index
    assert table["proposed_limit"].sum() == pytest.approx(300_000.0, rel=1e-6)


def test_a_share_cap_on_two_industries_still_binds():
    book, purchases = _segment_book(["X", "X", "X", "Y"], ["all"] * 4)
    purchases.loc["K3", "monthly_purchases_mean"] = 10_000.0  # Y needs little
    params = LimitParams(el_budget_vs_current=None, industry_cap_share=0.6, max_change_per_review=None)
    table, result, problem = optimize_book(book, purchases, params, lgd=0.45)
    x = table.index[book["industry"] == "X"]
    assert table.loc[x, "proposed_limit"].sum() == pytest.approx(0.6 * 400_000.0, rel=1e-6)
    assert result.shadow_prices["industry_cap[X]"] > 0
    assert "industry_cap[X]" in result.binding.index
    assert table.attrs["share_caps"]["industry"] == {"share": 0.6, "segments": 2, "applied": True}
    assert not any("industry_cap_share" in n for n in table.attrs["notes"])  # 0.6 >= 1/2: nothing to say
    assert any("region_cap_share = 0.4 is not applied" in n for n in table.attrs["notes"])


def test_a_share_below_one_over_the_segments_is_applied_and_reported():
    book, purchases = _segment_book(["X", "X", "Y", "Y"], ["N", "S", "N", "S"])
    params = LimitParams(el_budget_vs_current=None, industry_cap_share=0.25, region_cap_share=None,
                         max_change_per_review=None)
    table, result, problem = optimize_book(book, purchases, params, lgd=0.45)
    assert table["proposed_limit"].sum() == pytest.approx(2 * 0.25 * 400_000.0, rel=1e-6)
    assert ("limits.industry_cap_share = 0.25 is below 1/2 (the book has 2 industries): even a book spread evenly "
            "over them can use at most 50% of the exposure budget; the cap is applied as set.") in table.attrs["notes"]


def test_share_caps_without_an_exposure_budget_say_they_are_off():
    book, purchases = _segment_book(["X", "Y"], ["N", "S"])
    params = LimitParams(el_budget_vs_current=None, exposure_budget_vs_current=None)
    table, result, _ = optimize_book(book, purchases, params, lgd=0.45)
    assert not [r for r in result.constraints.index if r.startswith(("industry_cap", "region_cap"))]
    assert any(n.startswith("limits.industry_cap_share = 0.25 is not applied: there is no exposure budget")
               for n in table.attrs["notes"])


def test_shipped_defaults_that_do_not_fit_the_book_switch_off_and_say_so():
    from credit_lab.limits.setting import defaults_that_fit

    # a card-like book: 3 of 10 accounts above the 20% cut-off, limits far above the grade caps
    book = pd.DataFrame({"pd": [0.25, 0.3, 0.22] + [0.1] * 7, "grade": ["H"] * 3 + ["G"] * 7,
                         "credit_limit": [500_000.0] * 10})
    fitted, notes = defaults_that_fit(LimitParams(), book)
    assert fitted.pd_cutoff == 1.0 and np.isinf(fitted.risk_cap_by_grade["G"])
    assert "would close 3 of the 10 accounts" in notes[0] and "Set limits.pd_cutoff" in notes[0]
    assert "risk_cap_by_grade" in notes[1] and "would cut 10 of the 10" in notes[1]
    # the same values set in the params file are the user's policy and always apply
    chosen = LimitParams.model_validate({"pd_cutoff": 0.2, "risk_cap_by_grade": LimitParams().risk_cap_by_grade})
    kept, none = defaults_that_fit(chosen, book)
    assert kept.pd_cutoff == 0.2 and kept.risk_cap_by_grade["G"] == 200_000 and none == []
    # a trade-credit book where the default cuts 1 account in 20 keeps it
    small = pd.DataFrame({"pd": [0.3] + [0.02] * 19, "grade": ["H"] + ["D"] * 19, "credit_limit": [50_000.0] * 20})
    same, quiet = defaults_that_fit(LimitParams(), small)
    assert same.pd_cutoff == 0.2 and quiet == []
