import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_lab.config import LimitParams
from credit_lab.limits import set_limits

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
