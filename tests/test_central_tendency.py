"""The long-run default rate and the rule that re-anchors calibrated PDs to it (model.central_tendency)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from credit_lab.core.config import ModelParams, RunParams
from credit_lab.models.calibration import fit_calibrated, fit_calibration
from credit_lab.models.central_tendency import LongRunRate, anchor_central_tendency, long_run_default_rate
from credit_lab.models.development import (
    Development,
    RunSettings,
    calibration_summary,
    check_central_tendency,
    development_long_run,
    fit_candidates,
    unanchored,
)
from credit_lab.models.gbm import PDModel
from credit_lab.models.validation import hosmer_lemeshow
from credit_lab.models.validation_inputs import ValidationInputError


def _cohort(snapshot: str, rows: int, defaults: int) -> pd.DataFrame:
    return pd.DataFrame({"snapshot_date": pd.Timestamp(snapshot), "default_in_horizon": [1] * defaults +
                         [0] * (rows - defaults)})


# Three development cohorts: 2023-07 (100 rows, 5 defaults: 5%), 2024-01 (100 rows, 2: 2%) and
# 2024-07 (300 rows, 24: 8%). Long-run rate = (5% + 2% + 8%) / 3 = 5% (pooled it would be 31/500 =
# 6.2%). With a 12-month horizon 2024-01 shares outcome months with 2024-07, so the independent rows
# are 2024-07's and 2023-07's: 400.
WINDOW = pd.concat([_cohort("2023-07-01", 100, 5), _cohort("2024-01-01", 100, 2), _cohort("2024-07-01", 300, 24)],
                   ignore_index=True)


def _calibration_sample(rate: float, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores and outcomes whose default rate is exactly ``rate`` (riskier scores default more)."""
    rng = np.random.default_rng(3)
    raw = rng.normal(size=n)
    y = np.zeros(n, dtype=int)
    bads = int(round(rate * n))
    y[rng.choice(n, size=bads, replace=False, p=np.exp(raw) / np.exp(raw).sum())] = 1
    return raw, y


def test_long_run_rate_is_the_mean_of_the_cohort_rates_with_independent_rows_counted_once():
    lr = long_run_default_rate(WINDOW["default_in_horizon"], WINDOW["snapshot_date"], horizon_months=12)
    assert lr.rate == pytest.approx(0.05, abs=1e-15)
    assert lr.independent_rows == 400
    assert lr.cohorts["default_rate"].tolist() == pytest.approx([0.05, 0.02, 0.08])
    assert lr.cohorts["independent"].tolist() == [True, False, True]
    pooled = long_run_default_rate(WINDOW["default_in_horizon"])  # no snapshots: one cohort
    assert pooled.rate == pytest.approx(31 / 500) and pooled.independent_rows == 500


def test_band_is_the_exact_binomial_interval_worked_by_hand():
    # Binomial(100, 5%): P(X <= 0) = 0.0059 < 0.025 <= P(X <= 1) = 0.0371, and
    # P(X <= 9) = 0.9718 < 0.975 <= P(X <= 10) = 0.9885: the interval is 1/100 to 10/100.
    assert LongRunRate(0.05, 100, pd.DataFrame()).band() == (0.01, 0.10)
    lr = long_run_default_rate(WINDOW["default_in_horizon"], WINDOW["snapshot_date"])
    lo, hi = lr.band()
    k_lo, k_hi = round(lo * 400), round(hi * 400)  # defaults out of the 400 independent rows
    assert binom.cdf(k_lo - 1, 400, lr.rate) < 0.025 <= binom.cdf(k_lo, 400, lr.rate)
    assert binom.cdf(k_hi - 1, 400, lr.rate) < 0.975 <= binom.cdf(k_hi, 400, lr.rate)
    assert (k_lo, k_hi) == (12, 29)


def test_auto_shifts_the_mean_pd_onto_the_long_run_rate_when_outside_the_band():
    lr = long_run_default_rate(WINDOW["default_in_horizon"], WINDOW["snapshot_date"])
    raw, y = _calibration_sample(0.02)  # the calibration sample saw 2%: outside the band around 5%
    choice = fit_calibration(raw, y, "platt", "auto", long_run=lr)
    decision = choice.central_tendency
    assert decision.setting == "auto" and decision.applied and decision.target == lr.rate
    assert decision.mean_pd_before == pytest.approx(0.02, abs=1e-6)  # Platt reproduces the sample's rate
    assert abs(choice.predict(raw).mean() - 0.05) < 1e-9
    assert decision.mean_pd_after == pytest.approx(0.05, abs=1e-9) and choice.shift > 0
    assert "outside the interval" in decision.reason


def test_auto_leaves_the_pds_alone_inside_the_band():
    lr = long_run_default_rate(WINDOW["default_in_horizon"], WINDOW["snapshot_date"])
    raw, y = _calibration_sample(0.055)  # 5.5%: inside the band around 5% for 400 independent rows
    auto = fit_calibration(raw, y, "platt", "auto", long_run=lr)
    off = fit_calibration(raw, y, "platt", None, long_run=lr)
    assert not auto.central_tendency.applied and auto.shift == 0.0 and auto.target_mean is None
    assert np.array_equal(auto.predict(raw), off.predict(raw))
    assert "inside the interval" in auto.central_tendency.reason
    # the same sample against a long-run rate measured on many more independent rows is shifted
    tight = LongRunRate(0.05, 40_000, lr.cohorts)
    assert fit_calibration(raw, y, "platt", "auto", long_run=tight).central_tendency.applied


def test_a_number_still_forces_the_target_and_null_switches_it_off():
    lr = long_run_default_rate(WINDOW["default_in_horizon"], WINDOW["snapshot_date"])
    raw, y = _calibration_sample(0.055)
    forced = fit_calibration(raw, y, "platt", 0.03, long_run=lr)  # inside auto's band, shifted all the same
    assert forced.central_tendency.setting == "fixed" and forced.central_tendency.applied
    assert abs(forced.predict(raw).mean() - 0.03) < 1e-9
    far_raw, far_y = _calibration_sample(0.02)
    off = fit_calibration(far_raw, far_y, "platt", None, long_run=lr)  # far outside the band: still no shift
    assert off.central_tendency.setting == "off" and not off.central_tendency.applied and off.shift == 0.0
    assert off.predict(far_raw).mean() == pytest.approx(0.02, abs=1e-6)


def test_auto_without_cohorts_measures_nothing_to_shift_to_and_bad_settings_are_refused():
    raw, y = _calibration_sample(0.02)
    alone = fit_calibration(raw, y, "platt", "auto")  # the calibration rows are their own long-run sample
    assert not alone.central_tendency.applied and "calibration rows only" in alone.central_tendency.reason
    with pytest.raises(ValidationInputError, match="long_run"):
        anchor_central_tendency([0.1, 0.2], "auto")
    with pytest.raises(ValidationInputError, match="'sometimes'"):
        anchor_central_tendency([0.1, 0.2], "sometimes")
    with pytest.raises(ValidationInputError, match="strictly between 0 and 1"):
        anchor_central_tendency([0.1, 0.2], 1.5)
    with pytest.raises(ValidationInputError, match="no snapshot date"):
        long_run_default_rate([0, 1], [pd.Timestamp("2024-01-01"), pd.NaT])


def _stacked(seed: int = 0) -> pd.DataFrame:
    """Three quarterly snapshots of 1,500 customers whose default rates differ: 4%, 6% and 11%."""
    rng = np.random.default_rng(seed)
    frames = []
    for snapshot, level in (("2024-01-01", -3.6), ("2024-04-01", -3.1), ("2024-07-01", -2.4)):
        X = pd.DataFrame({"a": rng.normal(size=1500), "b": rng.normal(size=1500)},
                         index=pd.Index([f"C{i:04d}" for i in range(1500)], name="customer_id"))
        X["default_in_horizon"] = (rng.random(1500) < 1 / (1 + np.exp(-(level + X["a"])))).astype(int)
        frames.append(X.assign(snapshot_date=pd.Timestamp(snapshot)))
    return pd.concat(frames)


def test_stage_models_anchor_to_the_development_rows_cohort_by_cohort():
    train = _stacked()
    cal_ids = train.index.unique()[::4]
    fit, cal = train[~train.index.isin(cal_ids)], train[train.index.isin(cal_ids)]
    params = RunParams().model_copy(update={"model": ModelParams(max_iter=20, segments=False)})
    settings = RunSettings(params, table_mode=False)
    models, _ = fit_candidates(settings, fit, cal, ["a", "b"], {"monotone": {"a": 1, "b": 0}}, seed=0,
                               families=("gbm",))
    lr = models["gbm"].calibrator_.central_tendency.long_run
    by_snapshot = train.groupby("snapshot_date")["default_in_horizon"].mean()
    assert lr.rate == pytest.approx(by_snapshot.mean(), abs=1e-12)  # fit and calibration rows, per cohort
    assert lr.independent_rows == 1500  # the three snapshots share outcome months: one cohort's rows
    table = development_long_run(pd.concat([fit, cal]), RunSettings(params, table_mode=True))
    assert table.rate == pytest.approx(train["default_in_horizon"].mean()) and table.independent_rows == len(train)


def test_unanchored_gives_the_pds_before_the_shift():
    X = pd.DataFrame({"a": np.random.default_rng(1).normal(size=3000)})
    y = (np.random.default_rng(2).random(3000) < 1 / (1 + np.exp(-(-2.5 + X["a"])))).astype(int).to_numpy()
    params = ModelParams(max_iter=20)
    shifted = fit_calibrated(PDModel.from_params(["a"], params, monotone={"a": 1}), X[:2000], y[:2000], X[2000:],
                             y[2000:], method="platt", central_tendency=0.2)
    plain = fit_calibrated(PDModel.from_params(["a"], params, monotone={"a": 1}), X[:2000], y[:2000], X[2000:],
                           y[2000:], method="platt", central_tendency=None)
    assert abs(shifted.predict_pd(X[2000:]).mean() - 0.2) < 1e-9
    assert np.allclose(unanchored(shifted).predict_pd(X), plain.predict_pd(X), rtol=0, atol=1e-15)
    assert shifted.calibrator_.shift != 0.0  # the copy is undone, the model is not


def test_the_check_reports_mean_pd_before_and_after_and_keeps_the_out_of_time_cohort_apart():
    train = _stacked(1)
    oot = train[train["snapshot_date"] == "2024-07-01"]
    window = train[train["snapshot_date"] < "2024-07-01"]
    cal_ids = window.index.unique()[::4]
    fit, cal = window[~window.index.isin(cal_ids)], window[window.index.isin(cal_ids)]
    params = RunParams().model_copy(update={"model": ModelParams(max_iter=20, segments=False, central_tendency=0.2)})
    models, _ = fit_candidates(RunSettings(params, table_mode=False), fit, cal, ["a", "b"],
                               {"monotone": {"a": 1, "b": 0}}, seed=0, families=("gbm",))
    model = models["gbm"]
    dev = Development(fit, cal, oot, ["a", "b"], {}, "out-of-time")
    check = check_central_tendency(model, dev, calibration_summary(model), table_mode=False)
    rows = check.table.set_index("sample")
    assert abs(rows.at["calibration", "mean_pd_after"] - 0.2) < 1e-9  # forced to 20%
    assert rows.at["calibration", "mean_pd_before"] == pytest.approx(cal["default_in_horizon"].mean(), abs=1e-6)
    assert rows.at["out-of-time", "mean_pd_after"] == pytest.approx(model.predict_pd(oot).mean(), abs=1e-12)
    y_oot = oot["default_in_horizon"].to_numpy()
    assert rows.at["out-of-time", "hl_p_after"] == hosmer_lemeshow(y_oot, model.predict_pd(oot)).p_value
    assert rows.at["out-of-time", "hl_p_before"] == hosmer_lemeshow(y_oot, unanchored(model).predict_pd(oot)).p_value
    assert rows.at["out-of-time", "hl_p_before"] != rows.at["out-of-time", "hl_p_after"]
    uses = check.cohorts.set_index("cohort")["use"]
    assert uses["2024-07-01"].startswith("validation only")
    assert uses[["2024-01-01", "2024-04-01"]].str.startswith("development").all()
    assert any("0.2" in f or "20.00%" in f for f in check.findings)


def test_above_max_fit_rows_the_models_train_on_a_seeded_sample_with_the_fit_default_share():
    from credit_lab.models.development import model_fit_rows

    fit = _stacked(2)
    fit = fit.assign(row=np.arange(len(fit)))  # each row's position, to follow it into the sample
    same, note = model_fit_rows(fit, len(fit), seed=0)
    assert same is fit and note is None  # at the cap: every row
    sample, note = model_fit_rows(fit, 1000, seed=0)
    y, ys = fit["default_in_horizon"], sample["default_in_horizon"]
    share = 1000 / len(fit)
    assert int(ys.sum()) == round(share * y.sum()) and int((ys == 0).sum()) == round(share * (y == 0).sum())
    assert abs(len(sample) - 1000) <= 1
    rows = sample["row"].to_numpy()
    assert (np.diff(rows) > 0).all()  # rows of the fit sample, in its order, none twice
    pd.testing.assert_frame_equal(sample, fit.iloc[rows])
    again, _ = model_fit_rows(fit, 1000, seed=0)
    other, _ = model_fit_rows(fit, 1000, seed=1)
    pd.testing.assert_frame_equal(sample, again)
    assert not sample.index.equals(other.index)
    assert f"{len(sample):,} of the {len(fit):,} fit rows" in note and "model.max_fit_rows = 1,000" in note


def test_capped_fit_rows_train_the_models_while_the_long_run_rate_keeps_every_row():
    train = _stacked(3)
    cal_ids = train.index.unique()[::4]
    fit, cal = train[~train.index.isin(cal_ids)], train[train.index.isin(cal_ids)]
    capped = RunParams().model_copy(update={"model": ModelParams(max_iter=20, segments=False, max_fit_rows=1000)})
    full = RunParams().model_copy(update={"model": ModelParams(max_iter=20, segments=False, max_fit_rows=None)})
    kw = {"names": ["a", "b"], "kwargs": {"monotone": {"a": 1, "b": 0}}, "seed": 0, "families": ("gbm",)}
    m_cap, notes = fit_candidates(RunSettings(capped, table_mode=False), fit, cal, **kw)
    m_full, notes_full = fit_candidates(RunSettings(full, table_mode=False), fit, cal, **kw)
    assert any("fit rows (model.max_fit_rows = 1,000)" in n for n in notes) and not any(
        "max_fit_rows" in n for n in notes_full)
    assert m_cap["gbm"].estimator.gbm_.n_features_in_ == 2
    # trained on fewer rows: another booster; anchored to the same long-run rate of every development row
    assert not np.array_equal(m_cap["gbm"].raw_log_odds(cal), m_full["gbm"].raw_log_odds(cal))
    lr_cap = m_cap["gbm"].calibrator_.central_tendency.long_run
    lr_full = m_full["gbm"].calibrator_.central_tendency.long_run
    assert lr_cap.rate == lr_full.rate and lr_cap.independent_rows == lr_full.independent_rows
