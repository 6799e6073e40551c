"""Backtest of the early-warning signals: signals at monthly snapshots over the history, each
scored against defaults in the following horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from credit_lab.core.config import FeatureParams
from credit_lab.features.point_in_time import build_features_at, data_cut_date
from credit_lab.limits.review._checks import (
    _DAY,
    _DEFAULT_FEATURE_PARAMS,
    ReviewInputError,
    ReviewSettingsError,
    _require_columns,
)
from credit_lab.limits.review.signals import (
    _FEATURE_COLUMNS,
    SIGNAL_NAMES,
    SignalSettings,
    _evaluate,
    _graded,
    _severity,
)

__all__ = [
    "BacktestResult",
    "BacktestSettings",
    "backtest_signals",
    "backtest_snapshots",
    "backtest_summary",
]


@dataclass(frozen=True)
class BacktestSettings:
    """Snapshots and outcome window of :func:`backtest_signals`.

    Attributes
    ----------
    first_snapshot_months : months after the start of the history of the first snapshot (so a
        full lookback window and a previous snapshot exist).
    last_snapshot_months_before_end : months before the end of the history of the last
        snapshot; must be at least ``horizon_months`` so every outcome window is complete.
    step_months : months between snapshots.
    comparison_months : months between a snapshot and the previous snapshot it is compared to.
    horizon_months : months; a firing at ``t`` is a hit when the customer defaults in
        ``[t, t + horizon_months)``.
    """

    first_snapshot_months: int = 13
    last_snapshot_months_before_end: int = 12
    step_months: int = 1
    comparison_months: int = 1
    horizon_months: int = 12

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ReviewSettingsError(f"BacktestSettings.{f.name}: got {value!r}; set a whole number >= 1.")
        if self.last_snapshot_months_before_end < self.horizon_months:
            raise ReviewSettingsError(
                f"BacktestSettings.last_snapshot_months_before_end ({self.last_snapshot_months_before_end}) is "
                f"below horizon_months ({self.horizon_months}): the last outcome windows would be cut off by the "
                "end of the data; raise it to at least horizon_months."
            )


@dataclass(frozen=True)
class BacktestResult:
    """Result of :func:`backtest_signals`.

    Attributes
    ----------
    summary : one row per signal plus ``watchlist``: ``evaluated`` (customer-snapshots where
        the signal could be evaluated), ``firings`` (customer-snapshots where it fired),
        ``customers_flagged``, ``hits`` (firings followed by default within the horizon),
        ``hit_rate`` (hits / firings), ``lift`` (hit_rate / base default rate), ``defaulters``
        (customers defaulting within the horizon of at least one snapshot), ``defaulters_flagged``
        (of those, flagged at a snapshot within the horizon before their default), ``recall``
        (defaulters_flagged / defaulters), ``median_lead_days`` (days from the first such
        firing to the default, median over flagged defaulters), ``false_alarm_share``
        (firings not followed by default / firings = 1 - hit_rate) and
        ``false_alarms_per_nondefault_month`` (firings not followed by default / all
        customer-snapshots not followed by default).
    panel : one row per customer-snapshot: ``snapshot_date``, ``customer_id``, the signal
        flags, ``severity``, ``on_watchlist``, ``default_in_horizon`` (0/1) and
        ``default_date`` (first default in the horizon, NaT if none).
    base_default_rate : share of customer-snapshots followed by default within the horizon.
    snapshots : the snapshot dates used.
    """

    summary: pd.DataFrame
    panel: pd.DataFrame
    base_default_rate: float
    snapshots: tuple[pd.Timestamp, ...]


def backtest_snapshots(start: pd.Timestamp, end: pd.Timestamp, settings: BacktestSettings) -> list[pd.Timestamp]:
    """Monthly snapshot dates ``start + first_snapshot_months`` ... ``end - last_snapshot_months_before_end``.

    Raises
    ------
    ReviewInputError
        The history is too short to hold a single snapshot.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    first = start + pd.DateOffset(months=settings.first_snapshot_months)
    last = end - pd.DateOffset(months=settings.last_snapshot_months_before_end)
    snaps = []
    k = 0
    while (t := first + pd.DateOffset(months=k * settings.step_months)) <= last:
        snaps.append(pd.Timestamp(t))
        k += 1
    if not snaps:
        raise ReviewInputError(
            f"history {start.date()} to {end.date()} holds no backtest snapshot: the first would be {first.date()} "
            f"and the last {last.date()}; supply a longer history or lower BacktestSettings.first_snapshot_months "
            "/ last_snapshot_months_before_end."
        )
    return snaps


_DEFAULT_SIGNALS = SignalSettings()  # frozen: one shared default is safe


def backtest_signals(tables: dict[str, pd.DataFrame], settings: SignalSettings = _DEFAULT_SIGNALS,
                     backtest: BacktestSettings = BacktestSettings(), *, start: pd.Timestamp | str | None = None,
                     end: pd.Timestamp | str | None = None, feature_params: FeatureParams = _DEFAULT_FEATURE_PARAMS,
                     financials_publication_lag_days: int = 90,
                     grader: Callable[[pd.DataFrame], pd.Series] | None = None) -> BacktestResult:
    """Fire the signals at monthly snapshots over the history and score them against later defaults.

    Parameters
    ----------
    tables : validated ledger tables (``customers``, ``invoices``; ``defaults`` for outcomes;
        optional ``financials``, ``industry_outlook``).
    settings : signal settings under test.
    backtest : snapshot spacing, comparison gap and outcome horizon.
    start, end : bounds of the history; default the first day of the month of the earliest
        invoice and :func:`credit_lab.features.point_in_time.data_cut_date`.
    feature_params, financials_publication_lag_days : as for :func:`build_features`.
    grader : optional ``features -> grades``; without it ``pd_downgrade`` is not evaluated
        (``evaluated`` = 0 in the summary).

    Returns
    -------
    BacktestResult

    Notes
    -----
    Point-in-time: the signals at snapshot ``t`` come from features built from records
    strictly before ``t`` and before ``t - comparison_months``; defaults are used only as
    outcomes. The population of a snapshot is every customer onboarded and not in default
    before it (as in :func:`build_features`).

    The features of every distinct date (the snapshots and their comparison dates) come from
    one pass over the invoices (:func:`credit_lab.features.point_in_time.build_features_at`), and
    the signals of all customer-snapshots are evaluated together on the stacked frames: the
    invoices are hashed, grouped by customer and gathered once, not once per date. The result
    equals firing :func:`credit_lab.limits.review.signals_as_of` at each snapshot in turn.
    """
    inv = tables["invoices"]
    if start is None:
        start = pd.Timestamp(inv["invoice_date"].min()).to_period("M").to_timestamp()
    if end is None:
        end = data_cut_date(tables)
    snaps = backtest_snapshots(pd.Timestamp(start), pd.Timestamp(end), backtest)
    previous_of = {t: t - pd.DateOffset(months=backtest.comparison_months) for t in snaps}
    dates = sorted({*snaps, *previous_of.values()})
    built = build_features_at(tables, dates, feature_params, financials_publication_lag_days)
    # Only what the rules read is kept (the grader sees whole frames first): the stacked copies stay small.
    read = [*_FEATURE_COLUMNS, "grade"]
    feats = {}
    for t in dates:
        graded = _graded(built.pop(0), grader)  # popped: each whole frame is freed once trimmed
        feats[t] = graded[[c for c in read if c in graded.columns]]
    del built

    defaults = tables.get("defaults")
    if defaults is None:
        defaults = pd.DataFrame({"customer_id": pd.Series(dtype=object),
                                 "default_date": pd.Series(dtype="datetime64[ns]")})
    current, previous, first_defaults = [], [], []
    for t in snaps:
        cur = feats[t]
        _require_columns(cur, _FEATURE_COLUMNS, f"features at {t.date()}", "Check build_features.")
        current.append(cur)
        previous.append(feats[previous_of[t]].reindex(cur.index))  # customers new since then: NaN
        h_end = t + pd.DateOffset(months=backtest.horizon_months)
        d = defaults.loc[(defaults["default_date"] >= t) & (defaults["default_date"] < h_end)]
        first_defaults.append(d.groupby("customer_id")["default_date"].min().reindex(cur.index).to_numpy())
    sizes = [len(c) for c in current]
    # One evaluation over every customer-snapshot: the rules are row-wise, the rows line up by position.
    flags, _, _ = _evaluate(pd.concat(current, ignore_index=True), pd.concat(previous, ignore_index=True), settings)
    severity = _severity(flags, settings.weights)
    panel = flags  # the signal columns, then the keys before them and the outcome after
    panel.insert(0, "customer_id", current[0].index.append([c.index for c in current[1:]]))
    panel.insert(0, "snapshot_date", pd.DatetimeIndex(snaps).repeat(sizes))
    panel["severity"] = severity
    panel["on_watchlist"] = severity >= settings.watchlist_min_severity
    default_date = np.concatenate(first_defaults)
    panel["default_date"] = default_date
    panel["default_in_horizon"] = (~pd.isna(default_date)).astype("int8")
    base = float(panel["default_in_horizon"].mean()) if len(panel) else float("nan")
    return BacktestResult(summary=backtest_summary(panel), panel=panel, base_default_rate=base,
                          snapshots=tuple(snaps))


_SUMMARY_COLUMNS = ("evaluated", "firings", "customers_flagged", "hits", "hit_rate", "lift", "defaulters",
                    "defaulters_flagged", "recall", "median_lead_days", "false_alarm_share",
                    "false_alarms_per_nondefault_month")


def backtest_summary(panel: pd.DataFrame) -> pd.DataFrame:
    """Firings, hit rate, lift, recall, lead time and false alarms per signal and for the watchlist.

    Parameters
    ----------
    panel : one row per customer-snapshot with ``customer_id``, ``snapshot_date``,
        ``default_in_horizon`` (0/1), ``default_date`` (first default in the horizon, NaT if
        none) and one (nullable) boolean column per signal plus ``on_watchlist``; signal
        columns that are absent are skipped (see :attr:`BacktestResult.panel`).

    Returns
    -------
    DataFrame indexed by signal name (``watchlist`` last) with the columns described in
    :class:`BacktestResult`. Ratios with a zero denominator are NaN.
    """
    _require_columns(panel, ["customer_id", "snapshot_date", "default_in_horizon", "default_date"], "panel",
                     "Pass BacktestResult.panel or a frame with the same columns.")
    columns = [c for c in SIGNAL_NAMES if c in panel.columns] + (["on_watchlist"] if "on_watchlist" in panel else [])
    y = panel["default_in_horizon"].to_numpy(dtype=bool)
    cid = panel["customer_id"].to_numpy()
    snap = panel["snapshot_date"].to_numpy()
    ddate = panel["default_date"].to_numpy()
    defaulters = pd.unique(cid[y])
    n_nondefault = int((~y).sum())
    base = float(y.mean()) if len(y) else float("nan")
    rows = {}
    for col in columns:
        flag = panel[col].astype("boolean")
        fired = flag.fillna(False).to_numpy(dtype=bool)
        n_fired = int(fired.sum())
        hit_fire = fired & y
        hits = int(hit_fire.sum())
        # The first firing inside a defaulter's outcome window is when the warning came.
        first = (pd.DataFrame({"cid": cid[hit_fire], "snap": snap[hit_fire], "ddate": ddate[hit_fire]})
                 .sort_values(["cid", "snap"]).groupby("cid", sort=True).first())
        lead = (first["ddate"] - first["snap"]) / _DAY
        hit_rate = hits / n_fired if n_fired else np.nan
        rows["watchlist" if col == "on_watchlist" else col] = {
            "evaluated": int(flag.notna().sum()),
            "firings": n_fired,
            "customers_flagged": int(pd.unique(cid[fired]).size),
            "hits": hits,
            "hit_rate": hit_rate,
            "lift": hit_rate / base if base > 0 else np.nan,
            "defaulters": int(defaulters.size),
            "defaulters_flagged": len(first),
            "recall": len(first) / defaulters.size if defaulters.size else np.nan,
            "median_lead_days": float(lead.median()) if len(lead) else np.nan,
            "false_alarm_share": (n_fired - hits) / n_fired if n_fired else np.nan,
            "false_alarms_per_nondefault_month": (n_fired - hits) / n_nondefault if n_nondefault else np.nan,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    return out.reindex(columns=list(_SUMMARY_COLUMNS))
