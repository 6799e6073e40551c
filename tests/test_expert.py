"""The expert scorecard and low-default calibration: hand-worked points, re-weighting, published MPE tables."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from credit_lab.core.config import ExpertParams, RunParams, params_from_dict
from credit_lab.core.exceptions import CreditLabError, ParamsError
from credit_lab.models.expert import NO_INFORMATION, ExpertScorecard, annual_cohorts
from credit_lab.models.expert_development import choose_method
from credit_lab.models.explain import check_additivity
from credit_lab.models.low_default import most_prudent_pd, upper_confidence_bound

# a two-criterion policy small enough to work by hand
POLICY = ExpertParams(
    dimension_weights_existing={"payment_history": 0.6, "financial_strength": 0.4},
    dimension_weights_new={"payment_history": 0.0, "financial_strength": 1.0},
    criteria={
        "late_days": {"dimension": "payment_history", "weight": 1, "bands": [[5, 100], [30, 50], [None, 0]]},
        "ratio": {"dimension": "financial_strength", "weight": 1, "bands": [[1.0, 0], [2.0, 60], [None, 100]]},
    },
    risk_classes=[{"name": "A", "score_min": 70, "pd": 0.01}, {"name": "B", "score_min": 40, "pd": 0.05},
                  {"name": "C", "score_min": 0, "pd": 0.2}],
)


def _book():
    return pd.DataFrame({
        "late_days": [2.0, 10.0, 40.0, np.nan, 3.0, np.nan],
        "ratio": [2.5, 1.5, 0.5, 1.5, np.nan, np.nan],
        "is_new_customer": [False, False, False, False, True, True],
    }, index=pd.Index(list("abcdef"), name="customer_id"))


@pytest.mark.unit
def test_points_weights_and_score_by_hand():
    book = _book()
    m = ExpertScorecard(POLICY).fit(book)
    pts = m.points(book)
    assert pts["late_days"].tolist()[:3] == [100, 50, 0] and pts["ratio"].tolist()[:3] == [100, 60, 0]
    score = m.score(book)
    # a: 0.6*100 + 0.4*100; b: 0.6*50 + 0.4*60; c: 0
    assert score[:3] == pytest.approx([100.0, 54.0, 0.0])
    # d lacks late_days: all weight on ratio (60); e is new: payment history weighs 0 and ratio is missing,
    # so nothing with weight is known and the policy's score without information applies
    assert score[3] == pytest.approx(60.0)
    assert score[4] == pytest.approx(POLICY.score_without_information)
    assert score[5] == pytest.approx(POLICY.score_without_information)
    missing = m.missing_criteria(book)
    assert missing.loc["d", "criteria_missing"] == "late_days"
    assert missing.loc["d", "weight_missing_share"] == pytest.approx(0.6)
    assert missing.loc["e", "criteria_missing"] == "ratio"  # late_days carries no weight for a new customer
    assert missing.loc["a", "weight_missing_share"] == 0.0


@pytest.mark.unit
def test_contributions_add_up_to_the_score_and_explanation_to_the_log_odds():
    book = _book()
    m = ExpertScorecard(POLICY).fit(book)
    contrib = m.contributions(book)
    np.testing.assert_allclose(contrib.sum(axis=1), m.score(book), atol=1e-12)
    assert contrib.loc["e", NO_INFORMATION] == POLICY.score_without_information
    expl = m.explanation(book)
    assert check_additivity(expl.values, expl.base_value, expl.output, 1e-9) < 1e-9
    # the worst-paying customer's payment criterion raises its log-odds (beta < 0: fewer points, more risk)
    assert expl.frame().loc["c", "late_days"] > 0 > expl.frame().loc["a", "late_days"]


@pytest.mark.unit
def test_log_odds_scale_is_the_least_squares_line_through_the_class_table():
    m = ExpertScorecard(POLICY).fit(_book())
    mids = np.array([85.0, 55.0, 20.0])
    logits = np.log(np.array([0.01, 0.05, 0.2]) / (1 - np.array([0.01, 0.05, 0.2])))
    fit = stats.linregress(mids, logits)
    assert m.beta_ == pytest.approx(fit.slope) and m.alpha_ == pytest.approx(fit.intercept)


@pytest.mark.unit
def test_pd_table_and_long_run_rate():
    book = _book()
    m = ExpertScorecard(POLICY).fit(book)
    assert m.predict_pd(book).tolist() == [0.01, 0.05, 0.2, 0.05, 0.2, 0.2]
    assert m.risk_class(book).tolist() == ["A", "B", "C", "B", "C", "C"]
    lr = ExpertScorecard(POLICY.model_copy(update={"pd_from": "long_run_rate", "long_run_default_rate": 0.03}))
    pd_ = lr.fit(book).predict_pd(book)
    assert pd_.mean() == pytest.approx(0.03, abs=1e-9)
    assert pd_[0] < pd_[1] < pd_[2]  # the ranking of the score is kept


@pytest.mark.unit
def test_relative_bands_and_categories():
    policy = ExpertParams(
        dimension_weights_existing={"prospects": 1.0}, dimension_weights_new={"prospects": 1.0},
        criteria={"outlook": {"dimension": "prospects", "relative": True, "bands": [[0.5, 0], [None, 100]]},
                  "sector": {"dimension": "prospects", "categories": {"retail": 20, "utilities": 90}}})
    book = pd.DataFrame({"outlook": [1.0, 2.0, 3.0, 4.0], "sector": ["retail", "utilities", "retail", "mining"]})
    m = ExpertScorecard(policy).fit(book)
    pts = m.points(book)
    assert pts["outlook"].tolist() == [0, 0, 100, 100]  # median edge 2.5, learnt on the book
    assert pts["sector"].iloc[:3].tolist() == [20, 90, 20] and np.isnan(pts["sector"].iloc[3])  # unknown: missing
    assert m.edges_["outlook"] == pytest.approx([2.5])
    # a relative criterion with no value in the book has no bands: the policy table says so, not "below nan"
    empty = ExpertScorecard(policy).fit(book.assign(outlook=np.nan))
    table = empty.points_table().set_index("criterion")
    assert "no value in this book" in table.loc["outlook", "band"] and "nan" not in table.to_string().replace(
        "NaN", "")


@pytest.mark.unit
def test_bad_policy_is_refused_with_the_key():
    with pytest.raises(ParamsError, match="last band's edge must be null"):
        params_from_dict({"model": {"expert": {"criteria": {
            "x": {"dimension": "operations", "bands": [[1, 0], [2, 100]]}}}}})
    with pytest.raises(ParamsError, match="score_min must decrease"):
        params_from_dict({"model": {"expert": {"risk_classes": [{"name": "1", "score_min": 10, "pd": 0.1},
                                                                {"name": "2", "score_min": 20, "pd": 0.2}]}}})
    with pytest.raises(ParamsError, match="long_run_default_rate"):
        params_from_dict({"model": {"expert": {"pd_from": "long_run_rate"}}})


@pytest.mark.unit
def test_no_criterion_in_the_data_is_a_clear_error():
    from credit_lab.models.expert import require_criteria

    m = ExpertScorecard(POLICY).fit(pd.DataFrame({"other": [1.0]}))
    with pytest.raises(CreditLabError, match="model.expert.criteria"):
        require_criteria(m, pd.DataFrame({"other": [1.0]}))


# ---- most prudent estimation (Pluto and Tasche 2005) ----------------------------------------------------

@pytest.mark.unit
@pytest.mark.parametrize("gamma, expected", [
    # Pluto & Tasche (2005), Table 1: no defaults, grades A/B/C with 100/400/300 obligors
    (0.5, [0.09, 0.10, 0.23]), (0.75, [0.17, 0.20, 0.46]), (0.9, [0.29, 0.33, 0.76]),
    (0.95, [0.37, 0.43, 0.99]), (0.99, [0.57, 0.66, 1.52]), (0.999, [0.86, 0.98, 2.28]),
])
def test_most_prudent_estimates_match_the_published_no_default_table(gamma, expected):
    got = most_prudent_pd([100, 400, 300], [0, 0, 0], gamma)["pd_mpe"].to_numpy() * 100
    np.testing.assert_allclose(got.round(2), expected)


@pytest.mark.unit
def test_most_prudent_estimates_with_defaults_solve_the_binomial_equation():
    # few defaults (0, 2, 1): each grade's bound is the p with P[Bin(N_k, p) <= D_k] = 1 - gamma, pooled downwards
    gamma = 0.9
    got = most_prudent_pd([100, 400, 300], [0, 2, 1], gamma)
    for k, (n, d) in enumerate([(800, 3), (700, 3), (300, 1)]):
        p = optimize.brentq(lambda x, n=n, d=d: stats.binom.cdf(d, n, x) - (1 - gamma), 1e-9, 0.5, xtol=1e-14)
        assert got["pd_mpe"].iloc[k] == pytest.approx(p, rel=1e-7)
    assert got["pd_mpe"].is_monotonic_increasing
    assert upper_confidence_bound(10, 0, 0.5) == pytest.approx(1 - 0.5 ** 0.1)
    assert np.isnan(upper_confidence_bound(0, 0, 0.9))


@pytest.mark.unit
def test_calibration_on_outcomes_uses_the_most_prudent_bound_per_class():
    book = _book()
    m = ExpertScorecard(POLICY).fit(book)
    # 60 labelled customer-periods: 20 per class A/B/C with 0, 1, 3 defaults
    lab = pd.DataFrame({"late_days": [2.0] * 20 + [10.0] * 20 + [40.0] * 20,
                        "ratio": [2.5] * 20 + [1.5] * 20 + [0.5] * 20, "is_new_customer": False})
    y = np.r_[np.zeros(20), np.r_[1, np.zeros(19)], np.r_[np.ones(3), np.zeros(17)]]
    m.calibrate(lab, y, confidence=0.75)
    table = m.calibrator_.classes
    expected = most_prudent_pd([20, 20, 20], [0, 1, 3], 0.75)["pd_mpe"].to_numpy()
    np.testing.assert_allclose(table["pd"].to_numpy(), expected)
    assert m.predict_pd(book)[0] == pytest.approx(expected[0])
    assert m.calibrator_.method == "most_prudent"


@pytest.mark.unit
def test_annual_cohorts_keep_snapshots_a_horizon_apart():
    dates = pd.to_datetime(["2024-01-01", "2023-10-01", "2023-07-01", "2023-04-01", "2023-01-01"])
    train = pd.DataFrame({"snapshot_date": np.repeat(dates, 2), "default_in_horizon": 0})
    kept = annual_cohorts(train, 12)["snapshot_date"].unique()
    assert sorted(pd.to_datetime(kept)) == [pd.Timestamp("2023-01-01"), pd.Timestamp("2024-01-01")]


@pytest.mark.unit
def test_method_follows_the_defaults_in_the_data():
    p = RunParams()
    assert choose_method(p, None, False).method == "expert"
    rng = np.random.default_rng(0)
    snaps = pd.to_datetime(["2023-01-01", "2023-07-01", "2024-01-01"])

    def train(rate):
        n = 3000
        return pd.DataFrame({"snapshot_date": np.repeat(snaps, n // 3),
                             "default_in_horizon": (rng.random(n) < rate).astype(int)},
                            index=pd.Index([f"c{i % 1000}" for i in range(n)], name="customer_id"))
    few, many = choose_method(p, train(0.005), False), choose_method(p, train(0.08), False)
    assert few.method == "expert" and "fewer than model.min_fit_defaults" in few.reason
    assert many.method == "statistical" and many.fit_defaults >= p.model.min_fit_defaults
    forced = p.model_copy(update={"model": p.model.model_copy(update={"method": "expert"})})
    assert choose_method(forced, train(0.08), False).method == "expert"


@pytest.mark.unit
def test_external_score_weighs_most_for_new_customers(tmp_path):
    from credit_lab.run.stages.context import StageContext
    from credit_lab.run.stages.s02_features import _with_external_score

    params = params_from_dict({"model": {"expert": {"external_score_column": "bureau_score"}}})
    ctx = StageContext(tmp_path, params)
    ctx.data_dir.mkdir()
    ctx.write("customers.parquet", pd.DataFrame({"customer_id": ["a", "b"], "bureau_score": ["85", None]}))
    feats = _with_external_score(ctx, pd.DataFrame({"tenure_months": [3.0, 3.0], "is_new_customer": [True, True]},
                                                   index=pd.Index(["a", "b"], name="customer_id")))
    assert feats["bureau_score"].tolist()[0] == 85.0 and np.isnan(feats["bureau_score"].iloc[1])
    m = ExpertScorecard(params.model.expert, external_column="bureau_score").fit(feats)
    w = m.nominal_weights()
    assert w.loc["external_score", "weight_new"] == pytest.approx(0.25)
    assert w.loc["external_score", "weight_existing"] == pytest.approx(0.05)
    assert m.points(feats).loc["a", "external_score"] == 100  # 85 is in the top band of a 0-100 score
    # a text value in the mapped column is refused with the customer and the fix
    ctx.write("customers.parquet", pd.DataFrame({"customer_id": ["a"], "bureau_score": ["AA-"]}))
    with pytest.raises(CreditLabError, match="customers.bureau_score.*'AA-' for customer 'a'"):
        _with_external_score(ctx, feats.iloc[:1])


@pytest.mark.unit
def test_without_criteria_in_the_data_few_defaults_fall_back_to_the_statistical_models():
    p = RunParams()
    train = pd.DataFrame({"sample": ["fit"] * 200 + ["calibration"] * 100,
                          "default_in_horizon": np.r_[np.ones(8), np.zeros(192), np.ones(3), np.zeros(97)]})
    assert choose_method(p, train, True).method == "expert"
    fallback = choose_method(p, train, True, expert_possible=False)
    assert fallback.method == "statistical" and "model.expert.criteria" in fallback.reason
    train.loc[train["sample"] == "calibration", "default_in_horizon"] = 0
    with pytest.raises(CreditLabError, match="too few to fit and calibrate.*model.expert.criteria"):
        choose_method(p, train, True, expert_possible=False)
