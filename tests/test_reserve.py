import numpy as np
import pandas as pd
import pytest

from credit_lab.risk.expected_loss import el_summary, exposure_at_default


def test_ead_draws_the_ccf_share_of_the_undrawn_limit():
    ead = exposure_at_default(pd.Series([400.0, 1200.0, 0.0]), pd.Series([1000.0, 1000.0, 0.0]), 0.5)
    assert ead.tolist() == [400 + 0.5 * 600, 1200, 0]  # drawn above the limit: no undrawn part


def test_summary_totals_add_up():
    exp = pd.DataFrame({"grade": ["A", "G", "A"], "ead": [100.0, 200.0, 300.0], "net_exposure": [50.0, 200.0, 0.0],
                        "el_gross": [1.0, 20.0, 3.0], "el": [0.5, 20.0, 0.0]})
    s = el_summary(exp, "grade")
    assert s.loc["Total", "el"] == pytest.approx(exp["el"].sum())
    assert s.drop(index="Total")["el"].sum() == pytest.approx(s.loc["Total", "el"])
    assert s.loc["A", "customers"] == 2 and s.loc["A", "ead"] == 400
    assert np.isclose(s.loc["A", "el_rate_of_ead"], 0.5 / 400)
