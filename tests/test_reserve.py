import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_lab.config import ReserveParams
from credit_lab.reserve import el_summary, expected_loss, exposure_at_default

R = ReserveParams(lgd=0.45, ccf=0.5)


def frame(**cols):
    base = {"pd": [0.1], "receivables_open": [400.0], "proposed_limit": [1000.0], "insurance_cover_pct": [0.9],
            "insured_limit": [500.0], "guarantee_amount": [100.0], "grade": ["E"], "industry": ["Retail"]}
    base.update(cols)
    return pd.DataFrame(base)


def test_hand_worked_expected_loss_with_insurance_and_guarantee():
    out = expected_loss(frame(), R).iloc[0]
    assert out["ead"] == pytest.approx(400 + 0.5 * 600)  # 700
    assert out["insured_exposure"] == pytest.approx(0.9 * 500)  # cover share of the insured limit
    assert out["guaranteed_exposure"] == pytest.approx(100)
    assert out["net_exposure"] == pytest.approx(150)
    assert out["lgd_net"] == pytest.approx(0.45 * 150 / 700)
    assert out["el"] == pytest.approx(0.1 * 0.45 * 150)
    assert out["el_gross"] == pytest.approx(0.1 * 0.45 * 700)


def test_ead_when_drawn_above_limit_and_zero_exposure():
    assert exposure_at_default(pd.Series([1200.0]), pd.Series([1000.0]), 0.5).iloc[0] == 1200
    out = expected_loss(frame(receivables_open=[0.0], proposed_limit=[0.0]), R).iloc[0]
    assert out["ead"] == 0 and out["el"] == 0 and out["lgd_net"] == 0.45


def test_guarantee_never_covers_more_than_is_left():
    out = expected_loss(frame(guarantee_amount=[10_000.0]), R).iloc[0]
    assert out["guaranteed_exposure"] == pytest.approx(700 - 450) and out["net_exposure"] == 0


@settings(max_examples=150, deadline=None)
@given(st.floats(1e-4, 0.5), st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1), st.floats(0, 1e6),
       st.floats(0, 1e6), st.floats(1.01, 3))
def test_el_rises_with_pd_and_mitigation_only_lowers_it(pd_, drawn, limit, cover, insured, guarantee, bump):
    f = frame(pd=[pd_, min(pd_ * bump, 1.0)], receivables_open=[drawn] * 2, proposed_limit=[limit] * 2,
              insurance_cover_pct=[cover] * 2, insured_limit=[insured] * 2, guarantee_amount=[guarantee] * 2,
              grade=["E"] * 2, industry=["X"] * 2)
    out = expected_loss(f, R)
    assert out["el"].iloc[1] >= out["el"].iloc[0] - 1e-9
    assert (out["el"] <= out["el_gross"] + 1e-9).all() and (out["net_exposure"] >= 0).all()
    assert (out["net_exposure"] <= out["ead"] + 1e-9).all()


def test_summary_totals_add_up():
    f = frame(pd=[0.01, 0.2, 0.05], receivables_open=[100.0, 200.0, 300.0], proposed_limit=[500.0] * 3,
              insurance_cover_pct=[0.0] * 3, insured_limit=[0.0] * 3, guarantee_amount=[0.0] * 3,
              grade=["A", "G", "A"], industry=["X", "Y", "X"])
    exp = f.join(expected_loss(f, R))
    s = el_summary(exp, "grade")
    assert s.loc["Total", "el"] == pytest.approx(exp["el"].sum())
    assert s.drop(index="Total")["el"].sum() == pytest.approx(s.loc["Total", "el"])
    assert s.loc["A", "customers"] == 2
    assert np.isclose(s.loc["A", "el"], 0.01 * 0.45 * 300 + 0.05 * 0.45 * 400)
