"""Model families behind one interface: segments, scorecard, calibration choice, grouped reasons."""

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import ModelParams
from credit_lab.models.calibration import fit_calibrated, fit_calibration
from credit_lab.models.champion import SegmentedModel, candidate_table
from credit_lab.models.explain import Explanation, explain, grouped_reason_codes
from credit_lab.models.gbm import PDModel
from credit_lab.models.scorecard import ScorecardModel
from credit_lab.models.validation import auc


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n),
                      "is_new_customer": rng.random(n) < 0.3})
    X.loc[rng.random(n) < 0.1, "c"] = np.nan
    logit = -2.5 + 1.2 * X["a"] - 0.8 * X["b"] + np.where(X["is_new_customer"], 0.8 * X["c"].fillna(0), 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    return X, y


PARAMS = ModelParams(max_iter=40, min_samples_leaf=20, learning_rate=0.1)


@pytest.fixture(scope="module")
def fitted():
    X, y = _data(6000, 0)
    fit, cal = slice(0, 4500), slice(4500, 6000)
    new = X["is_new_customer"].to_numpy()
    mono = {"a": 1, "b": -1, "c": 0}
    gbm = lambda features: PDModel.from_params(features, PARAMS, monotone=mono)  # noqa: E731
    single = fit_calibrated(gbm(["a", "b", "c"]), X.iloc[fit], y[fit], X.iloc[cal], y[cal], params=PARAMS)
    f_new, c_new = new[fit], new[cal]
    seg_new = fit_calibrated(gbm(["a", "c"]), X.iloc[fit][f_new], y[fit][f_new],
                             X.iloc[cal][c_new], y[cal][c_new], params=PARAMS)
    seg_old = fit_calibrated(gbm(["a", "b"]), X.iloc[fit][~f_new], y[fit][~f_new],
                             X.iloc[cal][~c_new], y[cal][~c_new], params=PARAMS)
    segmented = SegmentedModel({"new": seg_new, "existing": seg_old}, fallback=single)
    card = fit_calibrated(ScorecardModel.from_params(["a", "b", "c"], PARAMS), X.iloc[fit], y[fit], X.iloc[cal],
                          y[cal], params=PARAMS)
    return X, y, single, segmented, seg_new, seg_old, card


def test_router_sends_each_customer_to_its_segment_model(fitted):
    X, _, _, segmented, seg_new, seg_old, _ = fitted
    new = X["is_new_customer"].to_numpy()
    p = segmented.predict_pd(X)
    assert np.array_equal(p[new], seg_new.predict_pd(X[new]))
    assert np.array_equal(p[~new], seg_old.predict_pd(X[~new]))
    only_old = SegmentedModel({"existing": seg_old}, fallback=fitted[2])
    assert np.array_equal(only_old.predict_pd(X)[new], fitted[2].predict_pd(X[new]))


def test_segmented_explanation_is_exact_and_zero_for_features_a_segment_model_lacks(fitted):
    X, _, _, segmented, seg_new, seg_old, _ = fitted
    expl, err = explain(segmented, X, 1e-9)
    assert err < 1e-9 and expl.feature_names == segmented.features_
    new = X["is_new_customer"].to_numpy()
    b = expl.feature_names.index("b")
    assert np.all(expl.values[new, b] == 0.0)  # the new-customer model does not use b
    sub, _ = explain(seg_new, X[new])
    assert np.allclose(expl.base_values()[new], sub.base_value)
    assert not np.allclose(expl.base_values()[~new], sub.base_value)  # each model keeps its own base value
    assert np.allclose(expl.base_values() + expl.values.sum(axis=1), segmented.raw_log_odds(X), atol=1e-9)


def test_scorecard_explanation_is_coefficient_times_woe(fitted):
    X, _, _, _, _, _, card = fitted
    expl, err = explain(card, X.head(200), 1e-9)
    woe = card.card_.transform(X.head(200)[card.features_])
    coef = card.card_.coef_
    for f in card.features_:
        assert np.allclose(expl.values[:, expl.feature_names.index(f)], coef[f] * woe[f])
    assert err < 1e-12 and np.isclose(expl.base_value, card.card_.intercept_)


def test_both_families_answer_the_same_interface(fitted):
    X, y, single, segmented, _, _, card = fitted
    for model in (single, segmented, card):
        p = model.predict_pd(X)
        assert p.shape == (len(X),) and (p > 0).all() and (p < 1).all()
        assert auc(y, p) > 0.7
        assert len(model.monotone_cst_) == len(model.features_)


def test_candidate_table_ranks_on_the_last_sample(fitted):
    X, y, single, segmented, _, _, card = fitted
    preds = {n: m.predict_pd(X) for n, m in {"gbm": single, "segmented gbm": segmented, "scorecard": card}.items()}
    noise = np.random.default_rng(1).random(len(y))
    table = candidate_table({"dev": (y, preds), "oot": (y, {**preds, "noise": noise})}, champion="segmented gbm")
    oot = table[table["sample"] == "oot"].set_index("candidate")
    assert oot.loc["noise", "rank_out_of_time"] == 4
    assert oot.loc["gbm", "auc"] == pytest.approx(auc(y, preds["gbm"]))
    assert oot.loc["gbm", "accuracy_ratio"] == pytest.approx(2 * oot.loc["gbm", "auc"] - 1)
    assert (table.loc[table["candidate"] == "segmented gbm", "role"] == "champion").all()


def test_calibration_choice_forced_method_and_central_tendency():
    rng = np.random.default_rng(3)
    raw = rng.normal(-3, 1, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-raw))).astype(int)
    auto = fit_calibration(raw, y, "auto")
    assert auto.method in ("platt", "isotonic") and set(auto.comparison.columns) >= {"brier", "log_loss", "chosen"}
    iso = fit_calibration(raw, y, "isotonic")
    assert iso.method == "isotonic" and iso.comparison.loc["isotonic", "chosen"]
    ct = fit_calibration(raw, y, "platt", central_tendency=0.08)
    assert np.mean(ct.predict(raw)) == pytest.approx(0.08, abs=1e-8)
    order = np.argsort(raw)
    assert np.all(np.diff(ct.predict(raw)[order]) >= 0)  # the shift keeps the ranking


def test_grouped_reasons_sum_their_features_and_name_missing_information():
    data = pd.DataFrame({"late_mean": [5.0, np.nan], "late_max": [30.0, np.nan], "ratio": [0.5, 0.9]},
                        index=["A", "B"])
    values = np.array([[0.3, 0.4, 0.5], [0.2, 0.1, -0.1]])
    expl = Explanation(values, -3.0, data, -3.0 + values.sum(axis=1))
    groups = {"lateness": ("pays late", "payment punctuality", ("late_mean", "late_max"))}
    r = grouped_reason_codes(expl, groups, top=2, phrases={"ratio": "weak ratio"})
    assert r.loc["A", "reason_1"] == "pays late" and r.loc["A", "reason_1_log_odds"] == pytest.approx(0.7)
    assert r.loc["A", "reason_1_feature"] == "late_max" and r.loc["A", "reason_2"] == "weak ratio"
    assert r.loc["B", "reason_1"] == "missing information on payment punctuality"
    assert r.loc["B", "reason_2"] == ""  # ratio lowers B's PD: not a reason


def test_fast_explanations_equal_shap_tree_explainer_for_every_segment(fitted):
    X, _, _, segmented, _, _, _ = fitted
    fast, _ = explain(segmented, X.head(300))
    ref, _ = explain(segmented, X.head(300), engine="shap")
    assert np.max(np.abs(fast.values - ref.values)) <= 1e-9
    assert np.allclose(fast.base_values(), ref.base_values(), atol=1e-12)
    with pytest.raises(ValueError, match="engine"):
        explain(fitted[2], X.head(5), engine="lime")
