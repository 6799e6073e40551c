"""The one-pass signal backtest equals the per-snapshot backtest it replaced.

``_reference_backtest`` below is ``backtest_signals`` of ``credit_lab/limits/review/backtest.py``
before the one-pass rewrite (commit 1e3d730), kept as a test oracle: per snapshot date, the
features rebuilt from the whole invoice table, the signals evaluated one snapshot at a time. It
is not a code path of the package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import FeatureParams
from credit_lab.data.contract import validate_ledger
from credit_lab.features.point_in_time import build_features, data_cut_date
from credit_lab.limits.review import (
    BacktestSettings,
    SignalSettings,
    backtest_signals,
    backtest_snapshots,
    compute_signals,
    signals_as_of,
)
from credit_lab.limits.review.backtest import BacktestResult, backtest_summary
from credit_lab.limits.review.signals import _FEATURE_COLUMNS, _evaluate, _graded, _severity

# ------------------------------------------------------------------ reference (the code before, verbatim)


_SIGNALS, _BACKTEST, _FEATURES = SignalSettings(), BacktestSettings(), FeatureParams()


def _reference_backtest(tables, settings=_SIGNALS, backtest=_BACKTEST, *, start=None, end=None,
                        feature_params=_FEATURES, financials_publication_lag_days=90, grader=None):
    inv = tables["invoices"]
    if start is None:
        start = pd.Timestamp(inv["invoice_date"].min()).to_period("M").to_timestamp()
    if end is None:
        end = data_cut_date(tables)
    snaps = backtest_snapshots(pd.Timestamp(start), pd.Timestamp(end), backtest)
    cache: dict[pd.Timestamp, pd.DataFrame] = {}

    def feats(t: pd.Timestamp) -> pd.DataFrame:
        if t not in cache:
            cache[t] = _graded(build_features(tables, t, feature_params, financials_publication_lag_days), grader)
        return cache[t]

    defaults = tables.get("defaults")
    if defaults is None:
        defaults = pd.DataFrame({"customer_id": pd.Series(dtype=object),
                                 "default_date": pd.Series(dtype="datetime64[ns]")})
    frames = []
    for t in snaps:
        prev_t = t - pd.DateOffset(months=backtest.comparison_months)
        cur = feats(t)
        assert set(_FEATURE_COLUMNS) <= set(cur.columns)
        flags, _, _ = _evaluate(cur, feats(prev_t), settings)
        severity = _severity(flags, settings.weights)
        h_end = t + pd.DateOffset(months=backtest.horizon_months)
        d = defaults.loc[(defaults["default_date"] >= t) & (defaults["default_date"] < h_end)]
        first_default = d.groupby("customer_id")["default_date"].min().reindex(cur.index)
        frame = flags.reset_index()
        frame.insert(0, "snapshot_date", t)
        frame["severity"] = severity
        frame["on_watchlist"] = severity >= settings.watchlist_min_severity
        frame["default_date"] = first_default.to_numpy()
        frame["default_in_horizon"] = first_default.notna().to_numpy().astype("int8")
        frames.append(frame)
    panel = pd.concat(frames, ignore_index=True)
    base = float(panel["default_in_horizon"].mean()) if len(panel) else float("nan")
    return BacktestResult(summary=backtest_summary(panel), panel=panel, base_default_rate=base,
                          snapshots=tuple(snaps))


# ------------------------------------------------------------------ comparisons


def assert_same_backtest(new: BacktestResult, old: BacktestResult) -> None:
    assert new.snapshots == old.snapshots
    pd.testing.assert_frame_equal(new.panel, old.panel, check_exact=True)
    pd.testing.assert_frame_equal(new.summary, old.summary, check_exact=True)
    assert new.base_default_rate == old.base_default_rate


def _tables(n_customers: int, n_months: int, seed: int, **kwargs) -> dict[str, pd.DataFrame]:
    from credit_lab.data.synthetic import generate_ledger

    ledger = generate_ledger(n_customers=n_customers, n_months=n_months, seed=seed, **kwargs)
    raw = {t: getattr(ledger, t) for t in ("customers", "invoices", "financials", "defaults", "industry_outlook")}
    return validate_ledger(raw).tables


@pytest.fixture(scope="module")
def ledger_tables():
    """500 customers over 36 months (~50,000 invoices), defaults, statements, outlooks."""
    return _tables(500, 36, seed=11)


def _toy_grader(f: pd.DataFrame) -> pd.Series:  # reads only its own rows: point-in-time
    late = f["share_late_30"].fillna(0.0)
    return pd.Series(np.where(late > 0.3, "H", np.where(late > 0.1, "E", "A")), index=f.index)


def test_default_backtest_equals_the_per_snapshot_backtest(ledger_tables):
    new = backtest_signals(ledger_tables)
    old = _reference_backtest(ledger_tables)
    assert len(new.snapshots) == 12 and len(new.panel) > 4000
    assert new.panel["on_watchlist"].any() and new.panel["default_in_horizon"].any()
    assert new.panel["new_60_plus_overdue"].isna().any()  # customers new since the previous snapshot
    assert_same_backtest(new, old)


@pytest.mark.parametrize("backtest", [BacktestSettings(comparison_months=3, step_months=2),
                                      BacktestSettings(first_snapshot_months=14, horizon_months=6,
                                                       last_snapshot_months_before_end=6)],
                         ids=["quarterly-comparison", "short-horizon"])
def test_other_spacings_equal_too(ledger_tables, backtest):
    params = FeatureParams(lookback_months=6)
    assert_same_backtest(backtest_signals(ledger_tables, backtest=backtest, feature_params=params,
                                          financials_publication_lag_days=60),
                         _reference_backtest(ledger_tables, backtest=backtest, feature_params=params,
                                             financials_publication_lag_days=60))


def test_graded_backtest_equals_too(ledger_tables):
    settings = SignalSettings(grade_order=("A", "B", "C", "D", "E", "F", "G", "H"), downgrade_notches=2)
    new = backtest_signals(ledger_tables, settings, grader=_toy_grader)
    assert new.summary.loc["pd_downgrade", "firings"] > 0
    assert_same_backtest(new, _reference_backtest(ledger_tables, settings, grader=_toy_grader))


def test_odd_ledgers_equal_too():
    """Write-offs, a shuffled invoice table, repeated and stray defaults; then no defaults table at all."""
    tables = _tables(200, 30, seed=4, write_off_days_past_due=360, recovery_rate=0.4)
    tables["invoices"] = tables["invoices"].sample(frac=1.0, random_state=2).reset_index(drop=True)
    d = tables["defaults"]
    tables["defaults"] = pd.concat([d, d.head(2).assign(default_date=d["default_date"].head(2) + pd.Timedelta(days=9)),
                                    d.head(1).assign(customer_id="GHOST")], ignore_index=True)
    start, end = pd.Timestamp("2023-01-01"), data_cut_date(tables)
    assert_same_backtest(backtest_signals(tables, start=start, end=end),
                         _reference_backtest(tables, start=start, end=end))
    without = {k: v for k, v in tables.items() if k != "defaults"}
    new = backtest_signals(without, start=start, end=end)
    assert new.base_default_rate == 0.0
    assert_same_backtest(new, _reference_backtest(without, start=start, end=end))


def test_the_comparison_can_fail():
    """The oracle comparison notices a changed rule (guards against comparing a result with itself)."""
    tables = _tables(150, 30, seed=5)
    new = backtest_signals(tables, SignalSettings(dbt_jump_days=1.0))
    old = _reference_backtest(tables, SignalSettings(dbt_jump_days=2.0))
    with pytest.raises(AssertionError):
        assert_same_backtest(new, old)


def test_live_signals_from_one_pass_equal_two_separate_builds(ledger_tables):
    """signals_as_of builds both dates in one pass; the signals are those of two separate builds."""
    t, prev = pd.Timestamp("2024-09-01"), pd.Timestamp("2024-06-01")
    settings = SignalSettings(grade_order=("A", "B", "C", "D", "E", "F", "G", "H"))
    new = signals_as_of(ledger_tables, t, prev, settings, grader=_toy_grader)
    old = compute_signals(_graded(build_features(ledger_tables, t, FeatureParams()), _toy_grader),
                          _graded(build_features(ledger_tables, prev, FeatureParams()), _toy_grader), settings)
    pd.testing.assert_frame_equal(new.signals, old.signals, check_exact=True)
    pd.testing.assert_frame_equal(new.watchlist, old.watchlist, check_exact=True)
    assert new.not_in_current.equals(old.not_in_current)
