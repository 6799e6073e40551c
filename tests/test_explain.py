import numpy as np
import pandas as pd
import pytest

from credit_lab.core.exceptions import ExplanationError
from credit_lab.models.explain import Explanation, check_additivity, explain, reason_codes
from tests.test_models import fitted, make_data


def test_shap_adds_up_to_the_log_odds():
    model = fitted()
    X, _ = make_data(n=500, seed=5)
    X.loc[X.index[:50], "dispute_rate"] = np.nan  # missing values are explained too
    expl, err = explain(model, X)
    assert err <= 1e-6
    np.testing.assert_allclose(expl.base_value + expl.values.sum(axis=1), model.raw_log_odds(X), atol=1e-6)


def test_additivity_check_fails_when_broken():
    model = fitted()
    X, _ = make_data(n=100, seed=6)
    expl, _ = explain(model, X)
    broken = expl.values.copy()
    broken[7, 0] += 1e-4
    with pytest.raises(ExplanationError, match="row 7"):
        check_additivity(broken, expl.base_value, expl.output)
    with pytest.raises(ExplanationError):
        check_additivity(expl.values, expl.base_value + 1e-3, expl.output)


def test_reason_codes_pick_the_largest_adverse_contributions():
    data = pd.DataFrame({"days_beyond_terms_mean": [30.0, 1.0], "tenure_months": [3.0, 100.0],
                         "current_ratio": [np.nan, 2.0]}, index=["C1", "C2"])
    values = np.array([[0.9, 0.4, 0.6], [-0.2, -0.5, 0.1]])
    expl = Explanation(values, -3.0, data, -3.0 + values.sum(axis=1))
    r = reason_codes(expl, top=3)
    assert r.loc["C1", "reason_1"] == "pays invoices late on average"
    assert r.loc["C1", "reason_2"].startswith("no information on: current assets")
    assert r.loc["C1", "reason_3"] == "short relationship"
    assert r.loc["C2", "reason_1"] == "weak liquidity (current ratio)"
    assert r.loc["C2", "reason_2"] == "" and r.loc["C2", "reason_2_feature"] == ""
    assert r.loc["C1", "reason_1_log_odds"] == pytest.approx(0.9)
