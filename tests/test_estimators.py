"""The PD model families honour the scikit-learn estimator contract, and the split into
estimator + calibration gives exactly the numbers of the model before the split."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from credit_lab.core.config import ModelParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.models.calibration import CalibratedPD, fit_calibrated
from credit_lab.models.champion import SegmentedModel
from credit_lab.models.explain import explain, tree_shap
from credit_lab.models.gbm import PDModel
from credit_lab.models.scorecard import ScorecardModel, WoEScorecard
from credit_lab.models.validation import choose_calibration

PARAMS = ModelParams(max_iter=30, min_samples_leaf=20, learning_rate=0.1, calibration="auto")
MONO = {"a": 1, "b": -1, "c": 0}


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n),
                      "is_new_customer": rng.random(n) < 0.3})
    X.loc[rng.random(n) < 0.1, "c"] = np.nan
    logit = -2.3 + 1.2 * X["a"] - 0.8 * X["b"] + np.where(X["is_new_customer"], 0.8 * X["c"].fillna(0), 0.0)
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()


@pytest.fixture(scope="module")
def samples():
    X, y = _data(4000, 11)
    return X.iloc[:3000], y[:3000], X.iloc[3000:], y[3000:]


def _families() -> dict[str, object]:
    gbm = PDModel.from_params(["a", "b", "c"], PARAMS, random_state=4, monotone=MONO)
    card = ScorecardModel.from_params(["a", "b", "c"], PARAMS, random_state=4, monotone=MONO)
    segmented = SegmentedModel({"new": PDModel.from_params(["a", "c"], PARAMS, monotone=MONO),
                                "existing": ScorecardModel.from_params(["a", "b"], PARAMS)},
                               fallback=PDModel.from_params(["a", "b", "c"], PARAMS, monotone=MONO))
    return {"gbm": gbm, "scorecard": card, "segmented": segmented,
            "calibrated": CalibratedPD.from_params(clone(gbm), PARAMS, random_state=4)}


def _fit(name: str, model, samples):
    X, y, Xc, yc = samples
    if name == "calibrated":  # calibration sits on an estimator fitted on the fit sample
        model.estimator.fit(X, y)
        return model.fit(Xc, yc)
    return model.fit(X, y)


def _is_fitted(model) -> bool:
    try:
        check_is_fitted(model)
    except Exception:  # noqa: BLE001 - NotFittedError, or a sub-model's missing attribute
        return False
    return True


@pytest.mark.parametrize("name", ["gbm", "scorecard", "segmented", "calibrated"])
def test_clone_is_unfitted_with_equal_params_and_refits_to_identical_predictions(name, samples):
    X, _, Xc, _ = samples
    model = _fit(name, _families()[name], samples)
    assert _is_fitted(model)
    twin = clone(model)
    assert not _is_fitted(twin)
    assert type(twin) is type(model)
    assert twin.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    assert repr(twin) == repr(model)  # every parameter (nested ones too) equal
    _fit(name, twin, samples)
    for method in ("predict_proba", "raw_log_odds", "predict_pd"):
        assert np.array_equal(getattr(twin, method)(Xc), getattr(model, method)(Xc)), method
    proba = model.predict_proba(Xc)
    assert proba.shape == (len(Xc), 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == [0, 1]
    assert np.array_equal(model.decision_function(Xc), model.raw_log_odds(Xc))


@pytest.mark.parametrize("name", ["gbm", "scorecard", "segmented", "calibrated"])
def test_get_params_set_params_round_trip(name):
    model = _families()[name]
    params = model.get_params(deep=True)
    copy = clone(model).set_params(**{k: v for k, v in params.items() if "__" not in k})
    assert repr(copy.get_params(deep=False)) == repr(model.get_params(deep=False))
    if name in ("gbm", "calibrated"):
        key = "learning_rate" if name == "gbm" else "estimator__learning_rate"
        changed = clone(model).set_params(**{key: 0.2})
        assert changed.get_params(deep=True)[key] == 0.2 and model.get_params(deep=True)[key] == 0.1
    if name == "segmented":
        changed = clone(model).set_params(fallback__max_iter=12)
        assert changed.fallback.max_iter == 12 and model.fallback.max_iter == PARAMS.max_iter
    if name == "scorecard":
        assert clone(model).set_params(max_bins=3).max_bins == 3


def test_calibrated_gbm_equals_the_booster_plus_the_same_calibration_bit_for_bit(samples):
    X, y, Xc, yc = samples
    model = fit_calibrated(PDModel.from_params(["a", "b", "c"], PARAMS, random_state=4, monotone=MONO),
                           X, y, Xc, yc, params=PARAMS)
    booster = HistGradientBoostingClassifier(
        max_iter=PARAMS.max_iter, learning_rate=PARAMS.learning_rate, max_leaf_nodes=PARAMS.max_leaf_nodes,
        min_samples_leaf=PARAMS.min_samples_leaf, l2_regularization=PARAMS.l2_regularization,
        monotonic_cst=[1, -1, 0], early_stopping=False, random_state=4,
    ).fit(X[["a", "b", "c"]].to_numpy(dtype=float), y)
    raw_cal = booster.decision_function(Xc[["a", "b", "c"]].to_numpy(dtype=float))
    folds = int(min(5, yc.sum(), len(yc) - yc.sum()))
    calibrator = choose_calibration(raw_cal, yc, folds=folds, seed=4, target_mean=None, method="auto")
    raw = booster.decision_function(Xc[["a", "b", "c"]].to_numpy(dtype=float))
    assert np.array_equal(model.raw_log_odds(Xc), raw)
    assert np.array_equal(model.predict_pd(Xc), calibrator.predict(raw))
    assert model.calibrator_.method == calibrator.method
    expl, err = explain(model, Xc)
    values, base = tree_shap(booster, Xc[["a", "b", "c"]].to_numpy(dtype=float))
    assert np.array_equal(expl.values, values) and expl.base_value == base and err < 1e-9


def test_calibrated_scorecard_equals_the_card_plus_the_same_calibration_bit_for_bit(samples):
    X, y, Xc, yc = samples
    params = PARAMS.model_copy(update={"calibration": "platt", "central_tendency": 0.09})
    model = fit_calibrated(ScorecardModel.from_params(["a", "b", "c"], params, random_state=4, monotone=MONO),
                           X, y, Xc, yc, params=params)
    s = params.scorecard
    card = WoEScorecard(["a", "b", "c"], min_iv=s.min_iv, max_features=s.max_features, max_bins=s.max_bins,
                        min_bin_share=s.min_bin_share, C=s.C, random_state=4,
                        monotonic={"a": "ascending", "b": "descending"}).fit(X[["a", "b", "c"]], y)
    raw = card.raw_log_odds(Xc[card.features_])
    folds = int(min(5, yc.sum(), len(yc) - yc.sum()))
    calibrator = choose_calibration(raw, yc, folds=folds, seed=4, target_mean=0.09, method="platt")
    assert model.features_ == card.features_
    assert np.array_equal(model.raw_log_odds(Xc), raw)
    assert np.array_equal(model.predict_pd(Xc), calibrator.predict(raw))
    expl, _ = explain(model, Xc)
    assert np.array_equal(expl.values, card.explanation(Xc[card.features_]).values)


def test_calibration_wants_a_fitted_estimator_and_both_outcomes(samples):
    X, y, Xc, yc = samples
    with pytest.raises(CreditLabError, match="fit_calibrated"):
        CalibratedPD(PDModel(["a", "b"])).fit(Xc, yc)
    with pytest.raises(CreditLabError, match="calibration sample has only one outcome"):
        fit_calibrated(PDModel(["a", "b"], max_iter=10), X, y, Xc, yc * 0)


def test_calibrated_model_answers_what_downstream_code_reads(samples):
    X, y, Xc, yc = samples
    for est in (PDModel.from_params(["a", "b", "c"], PARAMS, monotone=MONO),
                ScorecardModel.from_params(["a", "b", "c"], PARAMS)):
        model = fit_calibrated(est, X, y, Xc, yc, params=PARAMS)
        assert model.family == est.family and model.features_ == est.features_
        assert model.monotone_cst_ == est.monotone_cst_ and model.unused_features_ == est.unused_features_
        assert model.matrix_frame(Xc).shape == (len(Xc), len(est.features_))
        assert {"method", "shift", "comparison"} <= set(dir(model.calibrator_))


def test_a_pd_model_pickled_with_its_own_calibration_is_refused_not_silently_uncalibrated():
    legacy = PDModel.__new__(PDModel)
    with pytest.raises(CreditLabError, match="rerun the model stage"):
        legacy.__setstate__({"features": ["a"], "calibrator_": object(), "gbm_": None})


def test_a_feature_seen_in_few_rows_or_only_as_special_codes_does_not_break_the_fit(samples):
    """scikit-learn's binning fails on a column with no value: a feature seen only in a fold's held-out
    rows (the rounds' cross-validation), or only as special codes, must not reach it empty."""
    X, y, Xc, _ = samples
    X = X.assign(rare=np.nan, coded=-1.0)
    X.iloc[0, X.columns.get_loc("rare")] = 5.0  # observed once: all other folds fit without it
    model = PDModel(["a", "b", "rare", "coded"], max_iter=20, min_samples_leaf=20, special_codes={"coded": [-1.0]},
                    cv_rounds_below_defaults=10_000, cv_folds=5, monotone={"a": 1, "b": -1, "rare": 0, "coded": 0})
    model.fit(X, y)
    assert model.unused_features_ == ["coded"] and "rare" in model.features_
    assert model.rounds_basis_.startswith("5-fold cross-validation")
    assert np.isfinite(model.predict_proba(Xc.assign(rare=np.nan, coded=-1.0))[:, 1]).all()
