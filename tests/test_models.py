import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from credit_lab.core.config import Grade, ModelParams, ScoreScaling
from credit_lab.core.exceptions import CreditLabError
from credit_lab.models.calibration import fit_calibrated
from credit_lab.models.gbm import PDModel
from credit_lab.models.grading import assign_grades, grade_table, score_points
from credit_lab.models.metrics import kolmogorov_smirnov as ks_statistic
from credit_lab.models.metrics import validation_metrics

SCALE = (Grade(grade="A", pd_max=0.01), Grade(grade="B", pd_max=0.05), Grade(grade="C", pd_max=1.0))


def make_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    late = rng.gamma(2.0, 5.0, n)
    tenure = rng.uniform(0, 120, n)
    noise = rng.normal(size=n)
    logit = -4 + 0.12 * late - 0.01 * tenure
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"days_beyond_terms_mean": late, "tenure_months": tenure, "dispute_rate": noise})
    return X, pd.Series(y)


def fitted(calibration="platt"):
    X, y = make_data()
    Xc, yc = make_data(seed=1)
    params = ModelParams(max_iter=40, calibration=calibration)
    return fit_calibrated(PDModel.from_params(list(X.columns), params, random_state=3), X, y, Xc, yc, params=params)


def test_grades_follow_band_edges():
    assert list(assign_grades(np.array([0.0, 0.01, 0.0100001, 0.05, 0.5, 1.0]), SCALE)) == \
        ["A", "A", "B", "B", "C", "C"]


def test_pdo_scaling_hand_values():
    s = ScoreScaling(base_score=600, base_odds=50, pdo=20)
    pd_at_base = 1 / 51  # odds 50:1
    pd_double = 1 / 101  # odds 100:1
    assert score_points(np.array([pd_at_base]), s)[0] == pytest.approx(600)
    assert score_points(np.array([pd_double]), s)[0] == pytest.approx(620)
    assert score_points(np.array([1 / 26]), s)[0] == pytest.approx(580)


def test_ks_hand_case():
    y = np.array([1, 1, 0, 0])
    assert ks_statistic(y, np.array([0.9, 0.8, 0.2, 0.1])) == pytest.approx(1.0)
    assert ks_statistic(y, np.array([0.9, 0.1, 0.8, 0.2])) == pytest.approx(0.5)


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    m = validation_metrics("x", y, p)
    assert m.auc == pytest.approx(roc_auc_score(y, p)) and m.gini == pytest.approx(2 * m.auc - 1)
    assert m.brier == pytest.approx(brier_score_loss(y, p)) and m.n_defaults == y.sum()


@pytest.mark.parametrize("calibration", ["platt", "isotonic"])
def test_model_is_monotone_and_calibrated(calibration):
    model = fitted(calibration)
    X, y = make_data(seed=2)
    grid = X.iloc[:200].copy()
    for feature, direction in (("days_beyond_terms_mean", 1), ("tenure_months", -1)):
        lo, hi = grid.copy(), grid.copy()
        hi[feature] = lo[feature] + 10
        diff = model.raw_log_odds(hi) - model.raw_log_odds(lo)
        assert (direction * diff >= -1e-12).all(), feature
    pd_ = model.predict_pd(X)
    assert abs(pd_.mean() - y.mean()) < 0.02  # calibrated on the level
    assert roc_auc_score(y, pd_) > 0.7


def test_never_observed_feature_is_left_out_and_single_class_refused():
    X, y = make_data()
    X["current_ratio"] = np.nan
    model = fit_calibrated(PDModel.from_params(list(X.columns), ModelParams(max_iter=10), 0), X, y, X, y)
    assert model.unused_features_ == ["current_ratio"] and "current_ratio" not in model.features_
    with pytest.raises(CreditLabError, match="only one outcome"):
        fit_calibrated(PDModel.from_params(list(X.columns), ModelParams(max_iter=10), 0), X, y * 0, X, y)


def test_grade_table_counts_and_rates():
    g = grade_table(np.array(["A", "A", "C"]), np.array([0.005, 0.007, 0.4]), np.array([0, 1, 1]), SCALE)
    row_a = g.set_index("grade").loc["A"]
    assert row_a["customers"] == 2 and row_a["observed_default_rate"] == 0.5 and row_a["mean_pd"] == 0.006
    assert g.set_index("grade").loc["B", "customers"] == 0
