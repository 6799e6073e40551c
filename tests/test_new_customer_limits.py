"""New customers: a limit from what they declared, under the new-customer caps, in both methods.

Hand-worked on books of a few rows; ``P`` is the shipped defaults (headroom 1.25, new-customer cap
50,000, at most the requested limit, rounding to 1,000).
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtri

from credit_lab.core.config import LimitParams
from credit_lab.data.contract import SCHEMAS, validate_table
from credit_lab.limits.letters import CUSTOMER_WORDING
from credit_lab.limits.optimizer import irb_capital_rate
from credit_lab.limits.setting import optimization_inputs, optimize_book, set_limits

P = LimitParams()
MONTH = 30.4375  # days


def book(**cols):
    """A new applicant by default: no orders, no revenue figure, no limit today, grade E."""
    base = {"pd": [0.03], "grade": ["E"], "credit_limit": [0.0], "payment_terms_days": [30],
            "sales_in_window": [0.0], "tenure_months": [0.0], "revenue_latest": [np.nan],
            "is_new_customer": [True], "requested_limit": [np.nan], "expected_monthly_purchases": [np.nan]}
    base.update(cols)
    return pd.DataFrame(base, index=[f"N{i}" for i in range(len(base["pd"]))])


# ------------------------------------------------------------------ rules

def test_declared_purchases_size_a_new_customer_under_rules():
    out = set_limits(book(expected_monthly_purchases=[20_000.0], requested_limit=[40_000.0]), P, 12).iloc[0]
    # 20,000 a month x 30 days of terms (0.9856 months) x headroom 1.25 = 24,640.66, rounded down
    assert out["capacity_cap"] == pytest.approx(20_000 * 30 / MONTH * 1.25)
    assert out["capacity_basis"] == "declared purchases"
    assert out["proposed_limit"] == 24_000 and out["decided_by"] == "capacity"
    assert out["new_customer_cap"] == 50_000 and out["request_cap"] == 40_000
    assert out["limit_reason"] == ("Limit 24,000 (+24,000 vs today): the purchases it declared it expects, over "
                                   "its payment terms, cap the limit (no ordering history yet).")


def test_a_requested_limit_alone_sizes_the_limit_and_is_never_exceeded():
    b = book(requested_limit=[30_000.0] * 3, expected_monthly_purchases=[np.nan, 100_000.0, 100_000.0],
             pd=[0.03] * 3, grade=["E"] * 3, credit_limit=[0.0] * 3, payment_terms_days=[30] * 3,
             sales_in_window=[0.0] * 3, tenure_months=[0.0] * 3, revenue_latest=[np.nan] * 3,
             is_new_customer=[True] * 3)
    out = set_limits(b, P, 12)
    # N0 declared only a request: sized on it
    assert out.loc["N0", "capacity_basis"] == "requested limit" and out.loc["N0", "proposed_limit"] == 30_000
    assert "the limit it requested caps the limit" in out.loc["N0", "limit_reason"]
    # N1 declares purchases worth 123,203 of limit, but asked for 30,000: it gets what it asked for
    assert out.loc["N1", "capacity_cap"] == pytest.approx(100_000 * 30 / MONTH * 1.25)
    assert out.loc["N1", "proposed_limit"] == 30_000 and out.loc["N1", "decided_by"] == "requested_limit"
    assert "a new customer gets at most the limit it requested" in out.loc["N1", "limit_reason"]
    half = set_limits(b.loc[["N2"]], LimitParams(new_customer_cap_share_of_request=0.5), 12).iloc[0]
    assert half["proposed_limit"] == 15_000 and "at most 50% of the limit it requested" in half["limit_reason"]


def test_the_absolute_cap_binds_and_the_reason_says_so():
    b = book(expected_monthly_purchases=[100_000.0], requested_limit=[200_000.0], payment_terms_days=[60])
    out = set_limits(b, P, 12).iloc[0]
    assert out["capacity_cap"] == pytest.approx(100_000 * 60 / MONTH * 1.25)  # 246,407
    assert out["proposed_limit"] == 50_000 and out["decided_by"] == "new_customer_cap"
    assert out["limit_reason"] == ("Limit 50,000 (+50,000 vs today): a new customer's limit is capped at 50,000 "
                                   "until it has a payment history.")
    # null switches each cap off: then the request, then the declared purchases decide
    no_cap = set_limits(b, LimitParams(new_customer_cap=None), 12).iloc[0]
    assert no_cap["proposed_limit"] == 200_000 and no_cap["decided_by"] == "requested_limit"
    neither = set_limits(b, LimitParams(new_customer_cap=None, new_customer_cap_share_of_request=None), 12).iloc[0]
    assert neither["proposed_limit"] == 246_000 and neither["decided_by"] == "capacity"
    assert np.isnan(neither["new_customer_cap"]) and np.isnan(neither["request_cap"])


def test_revenue_still_caps_declared_purchases():
    b = book(expected_monthly_purchases=[100_000.0], revenue_latest=[300_000.0])
    out = set_limits(b, P, 12).iloc[0]
    assert out["capacity_cap"] == pytest.approx(30_000) and out["capacity_basis"] == "revenue"
    assert out["proposed_limit"] == 30_000


def test_an_existing_customer_is_untouched():
    # Ordering history, tenure 40 months, a limit above the new-customer cap; it also carries a stale request.
    existing = dict(credit_limit=[400_000.0], sales_in_window=[3_600_000.0], tenure_months=[40.0],
                    revenue_latest=[1e8], is_new_customer=[False])
    declared = set_limits(book(**existing, requested_limit=[10_000.0], expected_monthly_purchases=[1_000.0]), P, 12)
    plain = set_limits(book(**existing).drop(columns=["requested_limit", "expected_monthly_purchases",
                                                      "is_new_customer"]), P, 12)
    pd.testing.assert_frame_equal(declared, plain)
    row = declared.iloc[0]
    # 300,000 a month x 30 days x 1.25 = 369,610: above both new-customer caps, which do not apply
    assert row["proposed_limit"] == 369_000 and row["capacity_basis"] == "purchases"
    assert np.isnan(row["new_customer_cap"]) and np.isnan(row["request_cap"])


def test_a_new_customer_with_a_history_keeps_its_purchases_as_the_basis():
    # tenure 6 months, ordering and paying: sized on its purchases, and past the new-customer cap
    b = book(sales_in_window=[600_000.0], tenure_months=[6.0], credit_limit=[80_000.0],
             expected_monthly_purchases=[1_000.0], has_payment_history=[1.0])
    out = set_limits(b, P, 12).iloc[0]
    assert out["capacity_basis"] == "purchases"  # 100,000 a month, not the declared 1,000
    assert np.isnan(out["new_customer_cap"]) and out["decided_by"] != "new_customer_cap"
    # without a payment history yet the cap holds, but never below the limit it already has
    applicant = set_limits(b.assign(has_payment_history=[0.0]), P, 12).iloc[0]
    assert applicant["new_customer_cap"] == 80_000 and applicant["proposed_limit"] <= 80_000
    fresh = set_limits(b.assign(has_payment_history=[0.0], credit_limit=[0.0]), P, 12).iloc[0]
    assert fresh["proposed_limit"] == 50_000 and fresh["decided_by"] == "new_customer_cap"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-5, 0.19), st.sampled_from(list("ABCDEFG")), st.booleans(),
                          st.one_of(st.none(), st.floats(0, 1e7)), st.one_of(st.none(), st.floats(0, 1e7)),
                          st.floats(0, 1e7), st.sampled_from([14, 30, 60, 90])), min_size=1, max_size=20))
def test_no_new_customer_gets_more_than_the_caps_or_its_request(rows):
    pd_, grade, is_new, request, monthly, sales, terms = map(list, zip(*rows))
    n = len(rows)
    b = book(pd=pd_, grade=grade, is_new_customer=is_new, payment_terms_days=terms, sales_in_window=sales,
             requested_limit=[np.nan if r is None else r for r in request],
             expected_monthly_purchases=[np.nan if m is None else m for m in monthly],
             credit_limit=[70_000.0] * n, tenure_months=[5.0] * n, revenue_latest=[np.nan] * n)
    out = set_limits(b, P, 12)
    new = b["is_new_customer"]  # no has_payment_history column: the segment flag says who is new
    assert (out.loc[new, "proposed_limit"] <= np.maximum(P.new_customer_cap, b.loc[new, "credit_limit"])).all()
    asked = new & (b["requested_limit"] > 0)
    assert (out.loc[asked, "proposed_limit"] <= b.loc[asked, "requested_limit"] + 1e-6).all()
    assert out.loc[~new, "new_customer_cap"].isna().all() and out.loc[~new, "request_cap"].isna().all()


# ------------------------------------------------------------------ optimizer

def _three():
    """A new customer declaring large purchases, one declaring only a request, an existing one ordering."""
    ids = pd.Index(["NEW_DECLARED", "NEW_REQUEST", "OLD"], name="customer_id")
    book3 = pd.DataFrame({
        "pd": [0.01] * 3, "grade": ["C"] * 3, "industry": ["X", "X", "Y"], "region": ["N"] * 3,
        "credit_limit": [0.0, 0.0, 200_000.0], "payment_terms_days": [60, 30, 60],
        "revenue_latest": [np.nan, np.nan, 5e6], "days_beyond_terms_mean": [np.nan, np.nan, 0.0],
        "insurance_cover_pct": [0.0] * 3, "insured_limit": [0.0] * 3, "sales_in_window": [0.0, 0.0, 1_200_000.0],
        "tenure_months": [0.0, 0.0, 48.0], "is_new_customer": [True, True, False],
        "requested_limit": [200_000.0, 30_000.0, np.nan], "expected_monthly_purchases": [100_000.0, np.nan, np.nan],
    }, index=ids)
    purchases = pd.DataFrame({"monthly_purchases_mean": [np.nan, np.nan, 100_000.0],
                              "monthly_purchases_cv": [np.nan, np.nan, 0.3], "months_observed": [0, 0, 12]},
                             index=ids)
    return book3, purchases


_NO_BUDGETS = dict(el_budget_vs_current=None, exposure_budget_vs_current=None, max_change_per_review=None)


def _closed_form(mean, cv, gross_margin, collection_days, pd_, params):
    """The newsvendor optimum a * P(D > L*) = k, by hand (no budget, no cap binds it)."""
    ul = irb_capital_rate(np.array([pd_]), np.array([0.45]))[0]
    a = gross_margin - params.cost_of_funds_rate * collection_days / 365.0
    k = pd_ * 0.45 + params.capital_rate * ul
    sigma = np.sqrt(np.log1p(cv**2))
    mu = np.log(mean) - sigma**2 / 2
    return float(np.exp(mu - sigma * ndtri(k / a)))


def test_optimization_inputs_take_the_need_from_declarations():
    book3, purchases = _three()
    inputs, basis = optimization_inputs(book3, purchases, LimitParams(**_NO_BUDGETS), lgd=0.45)
    assert basis.tolist() == ["declared purchases", "requested limit", "ordering history"]
    assert inputs.loc["NEW_DECLARED", "mean_demand"] == pytest.approx(100_000 * 60 / MONTH)
    assert inputs.loc["NEW_REQUEST", "mean_demand"] == 30_000
    assert inputs.loc["NEW_DECLARED", "demand_cv"] == P.demand_cv_default  # no orders to measure it on
    assert inputs["new_customer_cap"].tolist() == [50_000, 50_000, np.inf]
    assert inputs["requested_limit_cap"].tolist() == [200_000, 30_000, np.inf]


def test_the_optimizer_respects_the_new_customer_caps_like_the_rules():
    book3, purchases = _three()
    params = LimitParams(**_NO_BUDGETS)
    table, result, problem = optimize_book(book3, purchases, params, lgd=0.45)
    free, _, _ = optimize_book(book3, purchases, LimitParams(**_NO_BUDGETS, new_customer_cap=None,
                                                             new_customer_cap_share_of_request=None), lgd=0.45)
    # Without the caps each customer gets its own optimum (nothing couples them): by hand
    declared_opt = _closed_form(100_000 * 60 / MONTH, 0.5, 0.25, 60, 0.01, params)
    request_opt = _closed_form(30_000, 0.5, 0.25, 30, 0.01, params)
    old_opt = _closed_form(100_000 * 60 / MONTH, 0.3 / np.sqrt(60 / MONTH), 0.25, 60, 0.01, params)
    assert free["proposed_limit"].tolist() == pytest.approx([declared_opt, request_opt, old_opt], rel=1e-6)
    assert declared_opt > 50_000 and request_opt > 30_000  # so the caps below bind
    # With them: the absolute cap, the request, and the existing customer as before
    assert table["proposed_limit"].tolist() == pytest.approx([50_000, 30_000, old_opt], rel=1e-9)
    assert table["decided_by"].tolist() == ["new_customer_cap", "requested_limit", "profit_optimum"]
    assert table.loc["NEW_DECLARED", "limit_reason"] == (
        "Limit 50,000 (+50,000 vs today): a new customer's limit is capped at 50,000 until it has a payment "
        "history. Its purchase need is the one it declared (no ordering history yet).")
    assert table.loc["NEW_REQUEST", "demand_basis"] == "requested limit"
    # the rules method lands on the same two new-customer limits
    rules = set_limits(book3, params, 12)
    assert rules.loc[["NEW_DECLARED", "NEW_REQUEST"], "proposed_limit"].tolist() == [50_000, 30_000]
    # (sized on its request, the request caps NEW_REQUEST twice over: the tie goes to capacity, basis "requested limit")
    assert rules.loc[["NEW_DECLARED", "NEW_REQUEST"], "decided_by"].tolist() == ["new_customer_cap", "capacity"]
    assert rules.loc["NEW_REQUEST", "capacity_basis"] == "requested limit"


def test_the_caps_hold_under_budgets_and_the_change_band():
    book3, purchases = _three()
    book3.loc["NEW_DECLARED", "credit_limit"] = 40_000.0  # a new customer with a provisional limit under the cap
    table, result, problem = optimize_book(book3, purchases, LimitParams(), lgd=0.45)  # shipped budgets and band
    assert table.loc["NEW_DECLARED", "proposed_limit"] <= 50_000 + 1e-6  # the cap beats the band's top (52,000)
    assert table.loc["NEW_DECLARED", "decided_by"] == "new_customer_cap"
    assert table.loc["NEW_REQUEST", "proposed_limit"] <= 30_000 + 1e-6


# ------------------------------------------------------------------ data and letters

def test_the_customers_contract_takes_the_declared_columns():
    raw = pd.DataFrame({"customer_id": ["A", "B", "C"], "industry": ["X"] * 3, "region": ["N"] * 3,
                        "onboarding_date": ["2024-12-01"] * 3, "payment_terms_days": ["30"] * 3,
                        "credit_limit": ["0"] * 3, "requested_limit": ["25,000", None, "-5"],
                        "expected_monthly_purchases": ["10000", None, "1"]})  # None: an empty CSV cell
    table, reasons, violations, assumptions = validate_table(raw, SCHEMAS["customers"])
    assert table["requested_limit"].iloc[0] == 25_000 and np.isnan(table["requested_limit"].iloc[1])
    assert reasons.tolist() == ["", "", "requested_limit:range"]  # empty = not declared; negative refused
    assert [(v.column, v.rule) for v in violations] == [("requested_limit", "range")]
    absent, _, _, notes = validate_table(raw.drop(columns=["requested_limit", "expected_monthly_purchases"]),
                                         SCHEMAS["customers"])
    assert absent["requested_limit"].isna().all() and absent["expected_monthly_purchases"].isna().all()
    assert any(n.startswith("customers.requested_limit not supplied") for n in notes)


def test_letters_word_the_new_customer_drivers():
    assert {"new_customer_cap", "requested_limit"} <= set(CUSTOMER_WORDING)
