import pandas as pd
import pytest

from credit_lab.risk.stress import StressInputError, StressScenario, stressed_book


def book():
    return pd.DataFrame({"pd": [0.01, 0.02, 0.4], "lgd": [0.45, 0.95, 0.45], "ead": [100.0, 500.0, 50.0],
                         "industry": ["Retail", "Energy", "Retail"], "insured_limit": [80.0, 0.0, 10.0]},
                        index=["A", "B", "C"])


def test_multipliers_uplift_and_caps():
    out, notes = stressed_book(book(), StressScenario("s", pd_multiplier=3.0, lgd_uplift=0.1,
                                                      industry_pd_multiplier={"Retail": 2.0}))
    assert out["pd"].tolist() == pytest.approx([0.06, 0.06, 1 - 1e-9])  # 0.4 x 6 capped below 1
    assert out["lgd"].tolist() == pytest.approx([0.55, 1.0, 0.55])
    assert notes == []


def test_largest_industry_insurer_failure_and_top_defaults():
    out, _ = stressed_book(book(), StressScenario("s", industry_pd_multiplier={"largest": 2.0}, insurer_fails=True,
                                                  largest_defaults=1))
    assert out.loc["B", "pd"] == pytest.approx(1 - 1e-9)  # B is both the largest EAD and in Energy
    assert out.loc["A", "pd"] == 0.01 and (out["insured_limit"] == 0).all()
    out, notes = stressed_book(book(), StressScenario("s", industry_pd_multiplier={"Mining": 2.0}))
    assert "not in the book" in notes[0] and out["pd"].equals(book()["pd"])


def test_invalid_scenarios():
    with pytest.raises(StressInputError, match="'bad'"):
        StressScenario("bad", pd_multiplier=0)
    with pytest.raises(StressInputError):
        StressScenario("bad", lgd_uplift=2)
