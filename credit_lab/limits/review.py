"""Credit review: early-warning signals, watchlist, review calendar, limit adjustments and approvals.

The module turns two point-in-time feature snapshots of the book (see
:func:`credit_lab.features.point_in_time.build_features`) into the day-to-day credit-control
workflow:

1. **Early-warning signals** (:func:`compute_signals`): ten rules comparing the
   current snapshot with the previous one (see :data:`SIGNALS` for the list).
   Each signal is ``True`` (fires), ``False`` or ``<NA>`` (cannot be evaluated
   because an input is missing, e.g. no financial statements or the customer
   was not in the previous snapshot). A missing input never counts as a firing
   and is listed per customer in ``signals_not_evaluated``.

   The **severity score** of a customer is the sum of the weights of the
   signals that fire::

       severity = sum over signals s of weight[s] * 1[s fires]

   It is unit-free (default weights 1-3 points, see :data:`DEFAULT_WEIGHTS`).
   A customer with ``severity >= watchlist_min_severity`` is on the
   **watchlist**. The recommended action is the strongest of the action of the
   highest severity band reached and the actions tied to individual firing
   signals (:data:`WARNING_ACTIONS`, mildest first).

2. **Backtest** (:func:`backtest_signals`): the signals at monthly snapshots
   over the history, each scored against defaults in the following horizon.

3. **Review calendar** (:func:`review_calendar`): the next periodic review
   from the grade's review frequency; a watchlisted customer is due now.

4. **Adjustment standards** (:func:`apply_adjustment_rules`): a rules table
   ``trigger -> action -> bounds`` applied to current and proposed limits.

5. **Approval route** (:func:`approval_route`) and 6. **decision log**
   (:func:`decision_log`).

All functions are pure: no disk access and no clock (the decision log's
timestamp is passed in), so equal inputs give equal outputs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from credit_lab.core.config import FeatureParams, RunParams
from credit_lab.core.exceptions import CreditLabError, ParamsError
from credit_lab.features.point_in_time import build_features, data_cut_date

__all__ = [
    "ReviewInputError",
    "ReviewSettingsError",
    "DEFAULT_GRADE_ORDER",
    "SignalSpec",
    "SIGNALS",
    "SIGNAL_NAMES",
    "DEFAULT_WEIGHTS",
    "WARNING_ACTIONS",
    "SignalSettings",
    "EarlyWarning",
    "compute_signals",
    "signals_as_of",
    "BacktestSettings",
    "BacktestResult",
    "backtest_snapshots",
    "backtest_signals",
    "backtest_summary",
    "ReviewCalendarSettings",
    "review_calendar",
    "reviews_due",
    "LIMIT_ACTIONS",
    "DEFAULT_RULES",
    "AdjustmentRule",
    "AdjustmentSettings",
    "rules_from_dicts",
    "valid_triggers",
    "apply_adjustment_rules",
    "APPROVER_LEVELS",
    "ApprovalSettings",
    "approval_route",
    "decision_log",
]


class ReviewInputError(CreditLabError, ValueError):
    """A frame passed to a review function lacks a column, a customer, or holds an invalid value."""


class ReviewSettingsError(ParamsError):
    """A review setting is invalid: unknown signal, trigger, action or grade, or a threshold out of range."""


#: Grades best to worst, taken from the default master scale so the two never disagree.
DEFAULT_GRADE_ORDER: tuple[str, ...] = tuple(g.grade for g in RunParams.model_fields["master_scale"].default)

_DAY = pd.Timedelta(days=1)
_DEFAULT_FEATURE_PARAMS = FeatureParams()


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    # A frozen dataclass holding a plain dict could still be changed in place; a read-only view cannot.
    return MappingProxyType(dict(value))


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str, fix: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReviewInputError(
            f"{what} lacks column(s) {missing}; available: {sorted(map(str, frame.columns))}. {fix}"
        )


def _require_unique_index(frame: pd.DataFrame, what: str) -> None:
    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup):
        raise ReviewInputError(
            f"{what} has duplicated customer_id(s) {list(dup[:5])}; pass one row per customer "
            "(index = customer_id)."
        )


def _examples(index: Iterable[Any], n: int = 5) -> list[Any]:
    return list(index)[:n]


def _grade_positions(grades: pd.Series, order: Sequence[str], what: str) -> np.ndarray:
    """Position of each grade on the scale (0 = best), NaN where the grade is missing."""
    pos = {g: float(i) for i, g in enumerate(order)}
    valid = grades.notna().to_numpy()
    text = grades.astype(object).to_numpy()
    unknown = sorted({str(g) for g, ok in zip(text, valid) if ok and g not in pos})
    if unknown:
        raise ReviewInputError(
            f"{what}: grade(s) {unknown} are not on the grade scale {list(order)}; map them to a scale grade "
            "or pass the scale in the settings' grade_order."
        )
    return np.array([pos[g] if ok else np.nan for g, ok in zip(text, valid)], dtype=float)


def _check_grade_order(order: Sequence[str], key: str) -> None:
    if len(order) == 0 or len(set(order)) != len(order):
        raise ReviewSettingsError(
            f"{key}: must list each grade once, best first; got {list(order)}. Use e.g. {list(DEFAULT_GRADE_ORDER)}."
        )


def _check_number(key: str, value: float, low: float | None = None, high: float | None = None,
                  low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        bounds = " and ".join(b for b in (lo, hi) if b) or "finite"
        raise ReviewSettingsError(f"{key}: got {value!r}; set a finite number {bounds}.")


# --------------------------------------------------------------------------
# 1. Early-warning signals
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalSpec:
    """One early-warning signal.

    Attributes
    ----------
    name : identifier used in settings, rules and outputs.
    description : the rule in plain language (thresholds named by their setting).
    default_weight : severity points the signal adds when it fires.
    columns : feature columns the rule reads (from the current and/or previous snapshot).
    """

    name: str
    description: str
    default_weight: float
    columns: tuple[str, ...]


SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec("dbt_jump", "mean days paid beyond terms rose by at least dbt_jump_days since the previous snapshot",
               2.0, ("days_beyond_terms_mean",)),
    SignalSpec("new_60_plus_overdue", "an open invoice is now at least overdue_days past due; at the previous "
               "snapshot none was", 3.0, ("max_days_past_due_open",)),
    SignalSpec("disputes_rising", "share of invoices disputed rose by at least dispute_rise (share points)",
               1.0, ("dispute_rate",)),
    SignalSpec("high_utilisation", "open receivables above utilisation_max of the credit limit", 1.0,
               ("utilisation",)),
    SignalSpec("limit_breach", "month-ends over the credit limit in the lookback window rose by at least "
               "limit_breach_increase", 1.0, ("limit_breaches",)),
    SignalSpec("z2_falling", "Altman Z'' fell by at least z2_drop, or fell below the distress zone z2_distress", 1.0,
               ("altman_z2",)),
    SignalSpec("negative_equity", "total liabilities above liabilities_to_assets_max x total assets", 2.0,
               ("liabilities_to_assets",)),
    SignalSpec("low_liquidity", "current ratio below current_ratio_min", 1.0, ("current_ratio",)),
    SignalSpec("pd_downgrade", "grade worsened by at least downgrade_notches grades on the master scale", 3.0,
               ("grade",)),
    SignalSpec("outlook_falling", "industry outlook score fell by at least outlook_drop since the previous snapshot",
               0.5, ("industry_outlook",)),
)

SIGNAL_NAMES: tuple[str, ...] = tuple(s.name for s in SIGNALS)

#: Severity points per signal. Own-ledger payment events and the model's downgrade weigh most: they
#: are observed directly and move months before a default. Negative equity is rare and serious.
#: A falling Z'' lags (yearly statements published months late), usage signals fire for a large part
#: of a tightly limited book, and the industry outlook says nothing about the customer itself, so
#: these count 1 or 0.5: alone they never reach the default watchlist threshold of 3.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({s.name: s.default_weight for s in SIGNALS})

#: Recommended actions on the watchlist, mildest first; the strongest applicable one is recommended.
WARNING_ACTIONS: tuple[str, ...] = ("reduce_limit", "require_guarantee_or_insurance", "prepayment", "credit_hold")

_FEATURE_COLUMNS = tuple(c for s in SIGNALS for c in s.columns if c != "grade")


@dataclass(frozen=True)
class SignalSettings:
    """Thresholds, weights and actions of the early-warning signals.

    Attributes
    ----------
    dbt_jump_days : days; ``dbt_jump`` fires when mean days beyond terms rose by at least this.
    overdue_days : days past due; ``new_60_plus_overdue`` fires when the oldest open overdue
        invoice reaches this and did not at the previous snapshot.
    dispute_rise : share points (0.05 = 5 percentage points) the dispute rate must rise by.
    utilisation_max : ratio; ``high_utilisation`` fires when open receivables / limit is above it.
    limit_breach_increase : month-ends; ``limit_breach`` fires when the count of month-ends over
        the limit in the lookback window rose by at least this.
    z2_drop : Z'' points; ``z2_falling`` fires on a fall of at least this ...
    z2_distress : ... or when Z'' is now below this (the distress zone of Z'') and was not before.
    liabilities_to_assets_max : ratio; ``negative_equity`` fires above it (1 = liabilities exceed assets).
    current_ratio_min : ratio; ``low_liquidity`` fires below it.
    downgrade_notches : grades; ``pd_downgrade`` fires on a downgrade by at least this many.
    outlook_drop : outlook points; ``outlook_falling`` fires on a fall of at least this.
    grade_order : master-scale grades, best first.
    weights : severity points per signal; signals not named keep :data:`DEFAULT_WEIGHTS`.
    watchlist_min_severity : points; customers with at least this severity are on the watchlist.
    action_bands : ``(min severity, action)`` pairs, severity increasing: the action of the
        highest band reached is recommended.
    signal_actions : signal -> action recommended whenever that signal fires.
    """

    dbt_jump_days: float = 5.0
    overdue_days: float = 60.0
    dispute_rise: float = 0.05
    utilisation_max: float = 0.90
    limit_breach_increase: float = 1.0
    z2_drop: float = 1.0
    z2_distress: float = 1.1
    liabilities_to_assets_max: float = 1.0
    current_ratio_min: float = 1.0
    downgrade_notches: int = 2
    outlook_drop: float = 1.0
    grade_order: tuple[str, ...] = DEFAULT_GRADE_ORDER
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)
    watchlist_min_severity: float = 3.0
    action_bands: tuple[tuple[float, str], ...] = (
        (3.0, "reduce_limit"),
        (5.0, "require_guarantee_or_insurance"),
        (7.0, "prepayment"),
        (9.0, "credit_hold"),
    )
    signal_actions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({
        "new_60_plus_overdue": "credit_hold",
        "negative_equity": "require_guarantee_or_insurance",
    }))

    def __post_init__(self) -> None:
        for key in ("dbt_jump_days", "overdue_days", "dispute_rise", "limit_breach_increase", "z2_drop",
                    "outlook_drop"):
            _check_number(f"SignalSettings.{key}", getattr(self, key), low=0.0, low_open=True)
        _check_number("SignalSettings.utilisation_max", self.utilisation_max, low=0.0, low_open=True)
        for key in ("z2_distress", "liabilities_to_assets_max", "current_ratio_min", "watchlist_min_severity"):
            _check_number(f"SignalSettings.{key}", getattr(self, key))
        if not isinstance(self.downgrade_notches, int) or self.downgrade_notches < 1:
            raise ReviewSettingsError(
                f"SignalSettings.downgrade_notches: got {self.downgrade_notches!r}; set a whole number >= 1."
            )
        object.__setattr__(self, "grade_order", tuple(self.grade_order))
        _check_grade_order(self.grade_order, "SignalSettings.grade_order")
        unknown = sorted(set(self.weights) - set(SIGNAL_NAMES))
        if unknown:
            raise ReviewSettingsError(
                f"SignalSettings.weights: unknown signal(s) {unknown}; valid signals are {list(SIGNAL_NAMES)}."
            )
        for name, w in self.weights.items():
            _check_number(f"SignalSettings.weights.{name}", w, low=0.0)
        object.__setattr__(self, "weights", _frozen_mapping({**DEFAULT_WEIGHTS, **self.weights}))
        bands = tuple((float(t), str(a)) for t, a in self.action_bands)
        thresholds = [t for t, _ in bands]
        if any(b <= a for a, b in pairwise(thresholds)):
            raise ReviewSettingsError(
                f"SignalSettings.action_bands: severity thresholds must increase strictly; got {thresholds}."
            )
        bad_actions = sorted({a for _, a in bands} - set(WARNING_ACTIONS))
        if bad_actions:
            raise ReviewSettingsError(
                f"SignalSettings.action_bands: unknown action(s) {bad_actions}; valid actions are "
                f"{list(WARNING_ACTIONS)}."
            )
        object.__setattr__(self, "action_bands", bands)
        unknown = sorted(set(self.signal_actions) - set(SIGNAL_NAMES))
        if unknown:
            raise ReviewSettingsError(
                f"SignalSettings.signal_actions: unknown signal(s) {unknown}; valid signals are "
                f"{list(SIGNAL_NAMES)}."
            )
        bad_actions = sorted(set(self.signal_actions.values()) - set(WARNING_ACTIONS))
        if bad_actions:
            raise ReviewSettingsError(
                f"SignalSettings.signal_actions: unknown action(s) {bad_actions}; valid actions are "
                f"{list(WARNING_ACTIONS)}."
            )
        object.__setattr__(self, "signal_actions", _frozen_mapping(self.signal_actions))


# Differences of rounded inputs (0.06 - 0.01 = 0.04999...) must still meet a threshold they equal on paper.
_TOL = 1e-9


def _at_least(diff: np.ndarray, threshold: float) -> np.ndarray:
    return diff >= threshold - _TOL * max(1.0, abs(threshold))


def _nullable(fires: np.ndarray, known: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(np.where(known, fires, False), ~known)


def _num(frame: pd.DataFrame, column: str, index: pd.Index) -> np.ndarray:
    # Previous-snapshot values are aligned on the current customers; absent customers become NaN.
    if column not in frame.columns:
        return np.full(len(index), np.nan)
    return pd.to_numeric(frame[column].reindex(index), errors="coerce").to_numpy(dtype=float)


def _evaluate(current: pd.DataFrame, previous: pd.DataFrame, s: SignalSettings
              ) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Nullable-boolean flags per signal, the (current, previous) values read, and grade change."""
    idx = current.index
    vals: dict[str, tuple[np.ndarray, np.ndarray]] = {
        c: (_num(current, c, idx), _num(previous, c, idx)) for c in _FEATURE_COLUMNS
    }
    flags: dict[str, pd.arrays.BooleanArray] = {}
    with np.errstate(invalid="ignore"):
        cur, prev = vals["days_beyond_terms_mean"]
        flags["dbt_jump"] = _nullable(_at_least(cur - prev, s.dbt_jump_days), ~np.isnan(cur) & ~np.isnan(prev))

        cur, prev = vals["max_days_past_due_open"]
        flags["new_60_plus_overdue"] = _nullable((cur >= s.overdue_days) & (prev < s.overdue_days),
                                                 ~np.isnan(cur) & ~np.isnan(prev))

        cur, prev = vals["dispute_rate"]
        flags["disputes_rising"] = _nullable(_at_least(cur - prev, s.dispute_rise), ~np.isnan(cur) & ~np.isnan(prev))

        cur, _ = vals["utilisation"]
        flags["high_utilisation"] = _nullable(cur > s.utilisation_max, ~np.isnan(cur))

        cur, prev = vals["limit_breaches"]
        flags["limit_breach"] = _nullable(_at_least(cur - prev, s.limit_breach_increase), ~np.isnan(cur) & ~np.isnan(prev))

        cur, prev = vals["altman_z2"]
        fell = _at_least(prev - cur, s.z2_drop)
        into_distress = (cur < s.z2_distress) & (prev >= s.z2_distress)
        flags["z2_falling"] = _nullable(fell | into_distress, ~np.isnan(cur) & ~np.isnan(prev))

        cur, _ = vals["liabilities_to_assets"]
        flags["negative_equity"] = _nullable(cur > s.liabilities_to_assets_max, ~np.isnan(cur))

        cur, _ = vals["current_ratio"]
        flags["low_liquidity"] = _nullable(cur < s.current_ratio_min, ~np.isnan(cur))

        if "grade" in current.columns and "grade" in previous.columns:
            g_cur = _grade_positions(current["grade"], s.grade_order, "current snapshot")
            g_prev = _grade_positions(previous["grade"].reindex(idx), s.grade_order, "previous snapshot")
        else:
            g_cur = g_prev = np.full(len(idx), np.nan)
        grade_change = g_cur - g_prev  # grades; positive = downgrade
        flags["pd_downgrade"] = _nullable(grade_change >= s.downgrade_notches, ~np.isnan(grade_change))

        cur, prev = vals["industry_outlook"]
        flags["outlook_falling"] = _nullable(_at_least(prev - cur, s.outlook_drop), ~np.isnan(cur) & ~np.isnan(prev))
    return pd.DataFrame(flags, index=idx), vals, grade_change


def _severity(flags: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    w = np.array([weights[c] for c in flags.columns], dtype=float)
    return flags.fillna(False).to_numpy(dtype=bool).astype(float) @ w


def _detail(name: str, i: int, vals: dict[str, tuple[np.ndarray, np.ndarray]], grade_cur: Any, grade_prev: Any,
            grade_change: float, s: SignalSettings) -> str:
    """Plain-language sentence for one firing signal of one customer, with its numbers."""
    def v(col: str) -> tuple[float, float]:
        return vals[col][0][i], vals[col][1][i]

    if name == "dbt_jump":
        c, p = v("days_beyond_terms_mean")
        return (f"pays {c:.1f} days beyond terms on average, {c - p:+.1f} days since the previous snapshot "
                f"(threshold +{s.dbt_jump_days:g})")
    if name == "new_60_plus_overdue":
        c, p = v("max_days_past_due_open")
        return f"oldest unpaid invoice is {c:.0f} days overdue (was {p:.0f}; threshold {s.overdue_days:g})"
    if name == "disputes_rising":
        c, p = v("dispute_rate")
        return f"disputes {c:.0%} of invoices, up from {p:.0%} (threshold +{s.dispute_rise:.0%} points)"
    if name == "high_utilisation":
        c, _ = v("utilisation")
        return f"uses {c:.0%} of its credit limit (threshold {s.utilisation_max:.0%})"
    if name == "limit_breach":
        c, p = v("limit_breaches")
        return f"{c:.0f} month-ends over its credit limit in the lookback window, {c - p:+.0f} since the previous snapshot"
    if name == "z2_falling":
        c, p = v("altman_z2")
        zone = f"; below the distress zone {s.z2_distress:g}" if c < s.z2_distress else ""
        return f"Altman Z'' fell from {p:.2f} to {c:.2f}{zone}"
    if name == "negative_equity":
        c, _ = v("liabilities_to_assets")
        return f"liabilities are {c:.2f} x total assets (negative equity)"
    if name == "low_liquidity":
        c, _ = v("current_ratio")
        return f"current ratio {c:.2f} (threshold {s.current_ratio_min:g})"
    if name == "pd_downgrade":
        return f"downgraded {grade_change:.0f} grades, {grade_prev} to {grade_cur}"
    c, p = v("industry_outlook")
    return f"industry outlook fell from {p:.2f} to {c:.2f} (threshold -{s.outlook_drop:g})"


def _band_action(severity: float, bands: tuple[tuple[float, str], ...]) -> tuple[str, float] | None:
    reached = [(a, t) for t, a in bands if severity >= t]
    return reached[-1] if reached else None


@dataclass(frozen=True)
class EarlyWarning:
    """Result of :func:`compute_signals`.

    Attributes
    ----------
    signals : one row per customer of the current snapshot (index ``customer_id``): one
        nullable-boolean column per signal (``<NA>`` = not evaluable), then ``grade_change``
        (grades, positive = downgrade, NaN without both grades), ``severity`` (points),
        ``n_signals``, ``on_watchlist``, ``firing_signals`` (comma-separated names),
        ``signal_details`` (one sentence per firing signal, ``"; "``-separated),
        ``signals_not_evaluated``, ``recommended_action`` (``""`` when none) and
        ``action_reasons``.
    watchlist : the rows of ``signals`` on the watchlist, most severe first.
    not_in_current : customers of the previous snapshot absent from the current one
        (defaulted or left the book); they get no signals and are listed here instead.
    """

    signals: pd.DataFrame
    watchlist: pd.DataFrame
    not_in_current: pd.Index


def compute_signals(current: pd.DataFrame, previous: pd.DataFrame,
                    settings: SignalSettings = SignalSettings()) -> EarlyWarning:
    """Early-warning signals, severity score, watchlist and recommended actions.

    Parameters
    ----------
    current, previous : features of two snapshots (index ``customer_id``, as built by
        :func:`credit_lab.features.point_in_time.build_features`), e.g. one or three months apart. Columns
        read: ``days_beyond_terms_mean`` (days), ``max_days_past_due_open`` (days),
        ``dispute_rate`` (share), ``utilisation`` (ratio), ``limit_breaches`` (month-ends),
        ``altman_z2`` (score), ``liabilities_to_assets`` (ratio), ``current_ratio`` (ratio),
        ``industry_outlook`` (score). An optional ``grade`` column in both frames (master-scale
        grade of the PD at that snapshot) enables ``pd_downgrade``; without it that signal is
        ``<NA>`` for everyone.
    settings : thresholds, weights and actions.

    Returns
    -------
    EarlyWarning
        Per-customer signals and the watchlist; see :class:`EarlyWarning`.

    Raises
    ------
    ReviewInputError
        A feature column is missing from either frame, a customer is duplicated, a grade is
        not on ``settings.grade_order``, or only one frame has grades.

    Notes
    -----
    Change-based signals (all but ``high_utilisation``, ``negative_equity`` and
    ``low_liquidity``) need the customer in both snapshots; a customer new since the
    previous snapshot gets ``<NA>`` for them.
    """
    fix = "Build both snapshots with credit_lab.features.point_in_time.build_features."
    for frame, what in ((current, "current snapshot"), (previous, "previous snapshot")):
        _require_columns(frame, _FEATURE_COLUMNS, what, fix)
        _require_unique_index(frame, what)
    if ("grade" in current.columns) != ("grade" in previous.columns):
        has, lacks = ("current", "previous") if "grade" in current.columns else ("previous", "current")
        raise ReviewInputError(
            f"the {has} snapshot has a grade column but the {lacks} one does not; pd_downgrade compares the "
            "two, so add grades to both snapshots or to neither."
        )
    flags, vals, grade_change = _evaluate(current, previous, settings)
    severity = _severity(flags, settings.weights)
    fired = flags.fillna(False).to_numpy(dtype=bool)
    unknown = flags.isna().to_numpy()
    names = np.array(flags.columns)

    g_cur = current["grade"].to_numpy(dtype=object) if "grade" in current.columns else [None] * len(current)
    g_prev = (previous["grade"].reindex(current.index).to_numpy(dtype=object) if "grade" in previous.columns
              else [None] * len(current))
    strength = {a: k for k, a in enumerate(WARNING_ACTIONS)}
    firing_txt, details, not_eval, action, reasons = [], [], [], [], []
    for i in range(len(flags)):
        on = names[fired[i]]
        firing_txt.append(", ".join(on))
        details.append("; ".join(f"{n}: {_detail(n, i, vals, g_cur[i], g_prev[i], grade_change[i], settings)}"
                                 for n in on))
        not_eval.append(", ".join(names[unknown[i]]))
        candidates: list[tuple[str, str]] = []
        band = _band_action(severity[i], settings.action_bands)
        if band is not None:
            candidates.append((band[0], f"severity {severity[i]:g} >= {band[1]:g}"))
        candidates += [(settings.signal_actions[n], n) for n in on if n in settings.signal_actions]
        if candidates:
            best = max(strength[a] for a, _ in candidates)
            action.append(WARNING_ACTIONS[best])
            reasons.append("; ".join(f"{a} ({why})" for a, why in candidates))
        else:
            action.append("")
            reasons.append("")

    out = flags.copy()
    out["grade_change"] = grade_change
    out["severity"] = severity
    out["n_signals"] = fired.sum(axis=1)
    out["on_watchlist"] = severity >= settings.watchlist_min_severity
    out["firing_signals"] = firing_txt
    out["signal_details"] = details
    out["signals_not_evaluated"] = not_eval
    out["recommended_action"] = action
    out["action_reasons"] = reasons
    watch = out.loc[out["on_watchlist"]]
    watch = watch.assign(_cid=watch.index.astype(str)).sort_values(["severity", "_cid"], ascending=[False, True])
    watch = watch.drop(columns="_cid")
    gone = previous.index.difference(current.index)
    return EarlyWarning(signals=out, watchlist=watch, not_in_current=gone)


def signals_as_of(tables: dict[str, pd.DataFrame], snapshot: pd.Timestamp | str,
                  previous_snapshot: pd.Timestamp | str, settings: SignalSettings = SignalSettings(),
                  feature_params: FeatureParams = _DEFAULT_FEATURE_PARAMS, financials_publication_lag_days: int = 90,
                  grader: Callable[[pd.DataFrame], pd.Series] | None = None) -> EarlyWarning:
    """Signals at ``snapshot`` against ``previous_snapshot``, built from the validated ledger tables.

    Only records dated strictly before ``snapshot`` are read (through
    :func:`credit_lab.features.point_in_time.build_features`), so the result is point-in-time.

    Parameters
    ----------
    tables : validated ledger tables (:func:`credit_lab.data.contract.validate_ledger`).
    snapshot, previous_snapshot : as-of dates; ``previous_snapshot`` must be earlier.
    settings : signal settings.
    feature_params : feature windows.
    financials_publication_lag_days : days after period end a statement without
        ``available_date`` becomes known.
    grader : optional ``features -> grade per customer_id`` (e.g. a PD model mapped to the
        master scale) applied to both snapshots; it must itself only use its input row.
    """
    snap, prev = pd.Timestamp(snapshot), pd.Timestamp(previous_snapshot)
    if not prev < snap:
        raise ReviewInputError(
            f"previous_snapshot {prev.date()} is not before snapshot {snap.date()}; pass an earlier previous date."
        )
    cur_f = _graded(build_features(tables, snap, feature_params, financials_publication_lag_days), grader)
    prev_f = _graded(build_features(tables, prev, feature_params, financials_publication_lag_days), grader)
    return compute_signals(cur_f, prev_f, settings)


def _graded(features: pd.DataFrame, grader: Callable[[pd.DataFrame], pd.Series] | None) -> pd.DataFrame:
    if grader is None:
        return features
    grades = pd.Series(grader(features))
    missing = features.index.difference(grades.index)
    if len(missing):
        raise ReviewInputError(
            f"grader returned no grade for customer(s) {_examples(missing)} ({len(missing)} in all); it must "
            "return a Series indexed by customer_id covering every row it is given."
        )
    return features.assign(grade=grades.reindex(features.index).to_numpy())


# --------------------------------------------------------------------------
# 2. Backtest on history
# --------------------------------------------------------------------------


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


def backtest_signals(tables: dict[str, pd.DataFrame], settings: SignalSettings = SignalSettings(),
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
    before it (as in :func:`build_features`). Each distinct date's features are built once.
    """
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
        _require_columns(cur, _FEATURE_COLUMNS, f"features at {t.date()}", "Check build_features.")
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


# --------------------------------------------------------------------------
# 3. Periodic review calendar
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewCalendarSettings:
    """Review frequency by grade.

    Attributes
    ----------
    frequency_months_by_grade : months between periodic reviews, per master-scale grade
        (default: F-H quarterly, D-E semi-annually, A-C yearly).
    due_within_days : days; a review falling within this many days after the as-of date is
        listed as ``due`` (earlier dates are ``overdue``).
    """

    frequency_months_by_grade: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({
        "A": 12, "B": 12, "C": 12, "D": 6, "E": 6, "F": 3, "G": 3, "H": 3,
    }))
    due_within_days: int = 30

    def __post_init__(self) -> None:
        if not self.frequency_months_by_grade:
            raise ReviewSettingsError(
                "ReviewCalendarSettings.frequency_months_by_grade is empty; give months per grade, e.g. {'A': 12}."
            )
        for g, m in self.frequency_months_by_grade.items():
            if not isinstance(m, int) or isinstance(m, bool) or m < 1:
                raise ReviewSettingsError(
                    f"ReviewCalendarSettings.frequency_months_by_grade.{g}: got {m!r}; set a whole number of "
                    "months >= 1."
                )
        if not isinstance(self.due_within_days, int) or self.due_within_days < 0:
            raise ReviewSettingsError(
                f"ReviewCalendarSettings.due_within_days: got {self.due_within_days!r}; set a whole number >= 0."
            )
        object.__setattr__(self, "frequency_months_by_grade", _frozen_mapping(self.frequency_months_by_grade))


def review_calendar(customers: pd.DataFrame, as_of: pd.Timestamp | str,
                    settings: ReviewCalendarSettings = ReviewCalendarSettings(),
                    watchlist: Iterable[str] = ()) -> pd.DataFrame:
    """Next periodic review per customer and whether it is overdue, due or scheduled.

    Parameters
    ----------
    customers : index ``customer_id``; columns ``grade``, ``onboarding_date`` and optional
        ``last_review_date`` (NaT = never reviewed).
    as_of : the date the calendar is drawn up.
    settings : frequency by grade.
    watchlist : customer ids on the watchlist (early trigger): their review moves forward to
        ``as_of`` unless it is already due earlier.

    Returns
    -------
    DataFrame indexed by ``customer_id`` with ``grade``, ``frequency_months``,
    ``review_basis`` (``last_review`` / ``onboarding``), ``basis_date``,
    ``scheduled_review_date`` (basis date + frequency; month ends clamp, e.g. Aug 31 + 6
    months = Feb 28/29), ``early_trigger`` (the watchlist moved the date forward),
    ``next_review_date``, ``days_to_review`` (days from ``as_of``; negative = overdue) and
    ``status`` (``overdue`` if before ``as_of``, ``due`` if within ``due_within_days``
    after it, else ``scheduled``).

    Raises
    ------
    ReviewInputError
        Missing column, grade or dates; a grade without a frequency; a last review after
        ``as_of``; a watchlisted id not among the customers.
    """
    as_of = pd.Timestamp(as_of)
    _require_columns(customers, ["grade", "onboarding_date"], "customers",
                     "Pass index customer_id with columns grade, onboarding_date[, last_review_date].")
    _require_unique_index(customers, "customers")
    freq_map = settings.frequency_months_by_grade
    grade = customers["grade"]
    if grade.isna().any():
        raise ReviewInputError(
            f"customers: grade is missing for {_examples(customers.index[grade.isna()])}; grade every customer "
            "before drawing up the calendar."
        )
    unknown = sorted(set(map(str, grade)) - set(freq_map))
    if unknown:
        raise ReviewInputError(
            f"customers: grade(s) {unknown} have no review frequency; add them to "
            f"ReviewCalendarSettings.frequency_months_by_grade (defined for {list(freq_map)})."
        )
    onboarding = pd.to_datetime(customers["onboarding_date"])
    last = (pd.to_datetime(customers["last_review_date"]) if "last_review_date" in customers.columns
            else pd.Series(pd.NaT, index=customers.index, dtype="datetime64[ns]"))
    future = last > as_of
    if future.any():
        raise ReviewInputError(
            f"customers: last_review_date after as_of {as_of.date()} for {_examples(customers.index[future])}; "
            "correct the review dates or draw up the calendar at a later as_of."
        )
    basis = last.fillna(onboarding)
    if basis.isna().any():
        raise ReviewInputError(
            f"customers: neither last_review_date nor onboarding_date for {_examples(customers.index[basis.isna()])};"
            " supply the onboarding date."
        )
    watch = pd.Index(list(watchlist))
    stray = watch.difference(customers.index)
    if len(stray):
        raise ReviewInputError(
            f"watchlist names customer(s) {_examples(stray)} that are not in customers; add them or remove them "
            "from the watchlist."
        )
    months = grade.astype(str).map(freq_map).astype(int)
    scheduled = pd.Series(pd.NaT, index=customers.index, dtype=basis.dtype)
    for m in sorted(months.unique().tolist()):
        # DateOffset(months=m) clamps to month ends, the calendar convention for "every m months".
        sel = months == m
        scheduled[sel] = basis[sel] + pd.DateOffset(months=m)
    on_watch = customers.index.isin(watch)
    early = on_watch & (scheduled > as_of).to_numpy()
    next_review = scheduled.where(~early, as_of)
    days = (next_review - as_of) / _DAY
    status = np.where(days < 0, "overdue", np.where(days <= settings.due_within_days, "due", "scheduled"))
    return pd.DataFrame({
        "grade": grade,
        "frequency_months": months,
        "review_basis": np.where(last.notna(), "last_review", "onboarding"),
        "basis_date": basis,
        "scheduled_review_date": scheduled,
        "on_watchlist": on_watch,
        "early_trigger": early,
        "next_review_date": next_review,
        "days_to_review": days,
        "status": status,
    }, index=customers.index)


def reviews_due(calendar: pd.DataFrame) -> pd.DataFrame:
    """The ``overdue`` and ``due`` rows of a :func:`review_calendar`, most overdue first."""
    due = calendar.loc[calendar["status"].isin(["overdue", "due"])]
    return due.assign(_cid=due.index.astype(str)).sort_values(["days_to_review", "_cid"]).drop(columns="_cid")


# --------------------------------------------------------------------------
# 4. Adjustment standards
# --------------------------------------------------------------------------

#: Limit actions of the adjustment rules.
LIMIT_ACTIONS: tuple[str, ...] = ("reduce_limit", "raise_limit", "freeze_limit", "credit_hold")
_GRADE_TRIGGER = re.compile(r"^grade_(upgrade|downgrade)_([1-9][0-9]*)$")
_RULE_KEYS = ("trigger", "action", "change_pct", "min_limit", "max_limit", "max_change_pct")


def valid_triggers() -> list[str]:
    """Trigger names a rule may use (``N`` = a whole number of grades >= 1)."""
    return list(SIGNAL_NAMES) + ["watchlist", "grade_upgrade_N", "grade_downgrade_N"]


@dataclass(frozen=True)
class AdjustmentRule:
    """One adjustment standard: ``trigger -> action -> bounds``.

    Attributes
    ----------
    trigger : a signal name, ``watchlist``, ``grade_upgrade_N`` or ``grade_downgrade_N``
        (grade change of at least N grades between the two snapshots).
    action : ``reduce_limit``, ``raise_limit``, ``freeze_limit`` (no increase: the lower of
        today's and the proposed limit) or ``credit_hold`` (limit 0).
    change_pct : share of today's limit (-0.3 = cut by 30 %): the standard step of
        ``reduce_limit`` (< 0) / ``raise_limit`` (> 0). Without it the step is the proposal.
    min_limit, max_limit : currency; the adjusted limit is kept inside these.
    max_change_pct : share of today's limit the change may not exceed in size.
    """

    trigger: str
    action: str
    change_pct: float | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    max_change_pct: float | None = None

    def __post_init__(self) -> None:
        if self.trigger not in SIGNAL_NAMES and self.trigger != "watchlist" and not _GRADE_TRIGGER.match(
                str(self.trigger)):
            raise ReviewSettingsError(
                f"adjustment rule trigger {self.trigger!r} is unknown; valid triggers are {valid_triggers()}."
            )
        if self.action not in LIMIT_ACTIONS:
            raise ReviewSettingsError(
                f"adjustment rule action {self.action!r} (trigger {self.trigger}) is unknown; valid actions are "
                f"{list(LIMIT_ACTIONS)}."
            )
        where = f"adjustment rule {self.trigger} -> {self.action}"
        if self.change_pct is not None:
            _check_number(f"{where}: change_pct", self.change_pct, low=-1.0)
            sign_ok = {"reduce_limit": self.change_pct < 0, "raise_limit": self.change_pct > 0}.get(self.action)
            if sign_ok is None:
                raise ReviewSettingsError(
                    f"{where}: change_pct {self.change_pct!r} has no meaning for {self.action}; remove it."
                )
            if not sign_ok:
                want = "negative" if self.action == "reduce_limit" else "positive"
                raise ReviewSettingsError(f"{where}: change_pct {self.change_pct!r} must be {want} for {self.action}.")
        for key in ("min_limit", "max_limit", "max_change_pct"):
            value = getattr(self, key)
            if value is not None:
                _check_number(f"{where}: {key}", value, low=0.0)
        if self.min_limit is not None and self.max_limit is not None and self.min_limit > self.max_limit:
            raise ReviewSettingsError(
                f"{where}: min_limit {self.min_limit:g} is above max_limit {self.max_limit:g}; swap or fix them."
            )

    @property
    def label(self) -> str:
        """``trigger -> action (step)`` for logs."""
        step = f" {self.change_pct:+.0%}" if self.change_pct is not None else ""
        return f"{self.trigger} -> {self.action}{step}"


def rules_from_dicts(rows: Iterable[Mapping[str, Any]]) -> tuple[AdjustmentRule, ...]:
    """Rules from plain mappings such as ``{"trigger": ..., "action": ..., "change_pct": -0.3}``.

    Raises
    ------
    ReviewSettingsError
        An unknown key, trigger or action, or a bound out of range; the message names the rule.
    """
    rules = []
    for k, row in enumerate(rows, start=1):
        unknown = sorted(set(row) - set(_RULE_KEYS))
        if unknown:
            raise ReviewSettingsError(
                f"adjustment rule {k}: unknown key(s) {unknown}; valid keys are {list(_RULE_KEYS)}."
            )
        missing = [key for key in ("trigger", "action") if key not in row]
        if missing:
            raise ReviewSettingsError(f"adjustment rule {k}: {missing} missing; every rule needs trigger and action.")
        rules.append(AdjustmentRule(**dict(row)))
    return tuple(rules)


DEFAULT_RULES: tuple[AdjustmentRule, ...] = (
    AdjustmentRule("new_60_plus_overdue", "reduce_limit", change_pct=-0.3, min_limit=0.0),
    AdjustmentRule("pd_downgrade", "reduce_limit", change_pct=-0.2, min_limit=0.0),
    AdjustmentRule("watchlist", "freeze_limit"),
    AdjustmentRule("grade_upgrade_2", "raise_limit", change_pct=0.2, max_change_pct=0.3),
)


@dataclass(frozen=True)
class AdjustmentSettings:
    """The adjustment standards.

    Attributes
    ----------
    rules : the rules table (see :class:`AdjustmentRule`; build from dicts with
        :func:`rules_from_dicts`).
    without_rule : limit of a customer no rule fires for: ``proposed`` (the proposal passes
        unchanged) or ``current`` (today's limit is kept).
    """

    rules: tuple[AdjustmentRule, ...] = DEFAULT_RULES
    without_rule: Literal["proposed", "current"] = "proposed"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        for r in self.rules:
            if not isinstance(r, AdjustmentRule):
                raise ReviewSettingsError(
                    f"AdjustmentSettings.rules: got {r!r}; pass AdjustmentRule objects (rules_from_dicts builds them)."
                )
        if self.without_rule not in ("proposed", "current"):
            raise ReviewSettingsError(
                f"AdjustmentSettings.without_rule: got {self.without_rule!r}; use 'proposed' or 'current'."
            )


def _trigger_state(rule: AdjustmentRule, signals: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(fires, known) per customer for a rule's trigger."""
    m = _GRADE_TRIGGER.match(rule.trigger)
    if m:
        change = pd.to_numeric(signals["grade_change"], errors="coerce").to_numpy(dtype=float)
        n = int(m.group(2))
        with np.errstate(invalid="ignore"):
            fires = change <= -n if m.group(1) == "upgrade" else change >= n
        return fires & ~np.isnan(change), ~np.isnan(change)
    col = "on_watchlist" if rule.trigger == "watchlist" else rule.trigger
    s = signals[col].astype("boolean")
    return s.fillna(False).to_numpy(dtype=bool), s.notna().to_numpy()


def _rule_limit(rule: AdjustmentRule, current: np.ndarray, proposed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted limit under one rule (currency) and the name of the bound that set it ('' if none)."""
    if rule.action == "credit_hold":
        raw = np.zeros_like(current)
    elif rule.action == "freeze_limit":
        raw = np.minimum(current, proposed)
    elif rule.action == "reduce_limit":
        step = current * (1.0 + rule.change_pct) if rule.change_pct is not None else proposed
        # A deeper cut the proposal already makes is kept: the standard is a minimum cut.
        raw = np.minimum(step, proposed)
    else:
        step = current * (1.0 + rule.change_pct) if rule.change_pct is not None else proposed
        # A bigger raise the proposal justifies is taken, within the bounds below.
        raw = np.maximum(step, proposed)
    bound = np.full(len(current), "", dtype=object)
    limits: list[tuple[str, np.ndarray | float | None, np.ndarray | float | None]] = []
    if rule.max_change_pct is not None:
        limits.append(("max_change_pct", current * (1.0 - rule.max_change_pct), current * (1.0 + rule.max_change_pct)))
    limits.append(("min_limit", rule.min_limit, None))
    limits.append(("max_limit", None, rule.max_limit))
    for name, low, high in limits:
        clipped = raw
        if low is not None:
            clipped = np.maximum(clipped, low)
        if high is not None:
            clipped = np.minimum(clipped, high)
        bound = np.where(clipped != raw, name, bound)
        raw = clipped
    # A bound never turns a cut into a raise or a raise into a cut.
    if rule.action == "raise_limit":
        guarded = np.maximum(raw, current)
    else:
        guarded = np.minimum(raw, current)
    bound = np.where(guarded != raw, "no_direction_change", bound)
    return guarded, bound


def apply_adjustment_rules(limits: pd.DataFrame, signals: pd.DataFrame,
                           settings: AdjustmentSettings = AdjustmentSettings()) -> pd.DataFrame:
    """Adjusted limit per customer from the rules table, with the rule that decided it.

    Parameters
    ----------
    limits : index ``customer_id``; ``current_limit`` and ``proposed_limit`` (currency, >= 0,
        e.g. the optimizer's proposal); other columns (e.g. ``grade``) are passed through.
    signals : :attr:`EarlyWarning.signals` (index ``customer_id``): the signal columns,
        ``on_watchlist`` and ``grade_change`` the rules' triggers read.
    settings : the rules.

    Returns
    -------
    DataFrame indexed like ``limits``: its columns plus ``adjusted_limit`` (currency),
    ``limit_change`` (adjusted - current), ``rule`` (label of the deciding rule, ``""`` if
    none), ``rule_number`` (1-based position in ``settings.rules``, 0 if none), ``trigger``,
    ``action`` (``proposal`` / ``keep_current`` when no rule fires), ``bound_applied``
    (``min_limit``, ``max_limit``, ``max_change_pct``, ``no_direction_change`` or ``""``),
    ``rules_fired`` (every firing rule) and ``triggers_not_evaluated`` (rule triggers that
    were ``<NA>`` for the customer, e.g. no grade).

    Notes
    -----
    Each firing rule gives a limit:

    * ``reduce_limit``: ``min(current x (1 + change_pct), proposed)`` (or the proposal alone
      without ``change_pct``);
    * ``raise_limit``: ``max(current x (1 + change_pct), proposed)`` (or the proposal);
    * ``freeze_limit``: ``min(current, proposed)``; ``credit_hold``: 0;

    then clipped to ``current x (1 -/+ max_change_pct)`` and ``[min_limit, max_limit]``;
    a cut is never turned into a raise by a bound, nor a raise into a cut. When several
    rules fire, the lowest limit wins (the most conservative; ties go to the earlier rule).
    """
    _require_columns(limits, ["current_limit", "proposed_limit"], "limits",
                     "Pass index customer_id with today's limit and the proposed limit.")
    _require_unique_index(limits, "limits")
    _require_unique_index(signals, "signals")
    needed = {"on_watchlist" if r.trigger == "watchlist" else
              ("grade_change" if _GRADE_TRIGGER.match(r.trigger) else r.trigger) for r in settings.rules}
    _require_columns(signals, sorted(needed), "signals", "Pass EarlyWarning.signals from compute_signals.")
    missing = limits.index.difference(signals.index)
    if len(missing):
        raise ReviewInputError(
            f"signals has no row for customer(s) {_examples(missing)} ({len(missing)} in all) of limits; compute "
            "signals for them or leave them out of limits."
        )
    current = pd.to_numeric(limits["current_limit"], errors="coerce").to_numpy(dtype=float)
    proposed = pd.to_numeric(limits["proposed_limit"], errors="coerce").to_numpy(dtype=float)
    for name, arr in (("current_limit", current), ("proposed_limit", proposed)):
        bad = ~np.isfinite(arr) | (arr < 0)
        if bad.any():
            raise ReviewInputError(
                f"limits.{name} is missing, infinite or negative for {_examples(limits.index[bad])} "
                f"(values {list(limits[name][bad][:5])}); supply a limit >= 0."
            )
    sig = signals.reindex(limits.index)
    n = len(limits)
    if settings.without_rule == "proposed":
        best = proposed.copy()
        best_action = np.full(n, "proposal", dtype=object)
    else:
        best = current.copy()
        best_action = np.full(n, "keep_current", dtype=object)
    best_rule = np.zeros(n, dtype=int)
    best_bound = np.full(n, "", dtype=object)
    fired_labels: list[list[str]] = [[] for _ in range(n)]
    unknown: list[list[str]] = [[] for _ in range(n)]
    any_fired = np.zeros(n, dtype=bool)
    for k, rule in enumerate(settings.rules, start=1):
        fires, known = _trigger_state(rule, sig)
        value, bound = _rule_limit(rule, current, proposed)
        for i in np.flatnonzero(fires):
            fired_labels[i].append(rule.label)
        for i in np.flatnonzero(~known):
            if rule.trigger not in unknown[i]:
                unknown[i].append(rule.trigger)
        # Strictly lower wins, so on ties the earlier rule stays.
        take = fires & (~any_fired | (value < best))
        best = np.where(take, value, best)
        best_rule = np.where(take, k, best_rule)
        best_action = np.where(take, rule.action, best_action)
        best_bound = np.where(take, bound, best_bound)
        any_fired |= fires
    rules = settings.rules
    out = limits.copy()
    out["adjusted_limit"] = best
    out["limit_change"] = best - current
    out["rule"] = [rules[k - 1].label if k else "" for k in best_rule]
    out["rule_number"] = best_rule
    out["trigger"] = [rules[k - 1].trigger if k else "" for k in best_rule]
    out["action"] = best_action
    out["bound_applied"] = best_bound
    out["rules_fired"] = ["; ".join(x) for x in fired_labels]
    out["triggers_not_evaluated"] = [", ".join(x) for x in unknown]
    return out


# --------------------------------------------------------------------------
# 5. Approval route
# --------------------------------------------------------------------------

#: Approver levels, lowest first.
APPROVER_LEVELS: tuple[str, ...] = ("auto", "credit_manager", "finance_director")


@dataclass(frozen=True)
class ApprovalSettings:
    """Who approves a limit change.

    Attributes
    ----------
    auto_max_abs_change : currency; a change of at most this size (either direction) is
        approved automatically when the grade is not worse than ``auto_worst_grade``.
    auto_worst_grade : worst grade still eligible for automatic approval.
    credit_manager_max_abs_change : currency; changes up to this size go to the credit
        manager, larger ones to the finance director.
    finance_director_increase_grades : grades for which any increase goes to the finance director.
    grade_order : master-scale grades, best first.
    """

    auto_max_abs_change: float = 10_000.0
    auto_worst_grade: str = "E"
    credit_manager_max_abs_change: float = 250_000.0
    finance_director_increase_grades: tuple[str, ...] = ("G", "H")
    grade_order: tuple[str, ...] = DEFAULT_GRADE_ORDER

    def __post_init__(self) -> None:
        _check_number("ApprovalSettings.auto_max_abs_change", self.auto_max_abs_change, low=0.0)
        _check_number("ApprovalSettings.credit_manager_max_abs_change", self.credit_manager_max_abs_change, low=0.0)
        if self.credit_manager_max_abs_change < self.auto_max_abs_change:
            raise ReviewSettingsError(
                f"ApprovalSettings.credit_manager_max_abs_change ({self.credit_manager_max_abs_change:g}) is below "
                f"auto_max_abs_change ({self.auto_max_abs_change:g}); raise it to at least the automatic threshold."
            )
        object.__setattr__(self, "grade_order", tuple(self.grade_order))
        object.__setattr__(self, "finance_director_increase_grades", tuple(self.finance_director_increase_grades))
        _check_grade_order(self.grade_order, "ApprovalSettings.grade_order")
        bad = sorted({self.auto_worst_grade, *self.finance_director_increase_grades} - set(self.grade_order))
        if bad:
            raise ReviewSettingsError(
                f"ApprovalSettings: grade(s) {bad} are not on grade_order {list(self.grade_order)}; use scale grades."
            )


def approval_route(decisions: pd.DataFrame, settings: ApprovalSettings = ApprovalSettings(),
                   new_limit_column: str = "adjusted_limit") -> pd.DataFrame:
    """Approver level per limit decision.

    Parameters
    ----------
    decisions : index ``customer_id``; ``current_limit``, the new limit column (currency) and
        ``grade``.
    settings : thresholds.
    new_limit_column : column holding the new limit.

    Returns
    -------
    ``decisions`` plus ``abs_change`` (currency), ``approver`` (one of
    :data:`APPROVER_LEVELS`) and ``approval_reason``.

    Notes
    -----
    Thresholds are inclusive: with the defaults, a change of exactly 10,000 at grade E is
    ``auto`` and exactly 250,000 is ``credit_manager``. First matching rule:

    1. no change -> ``auto`` (nothing to approve; :func:`decision_log` does not log it);
    2. an increase at a grade in ``finance_director_increase_grades`` -> ``finance_director``;
    3. ``|change| <= auto_max_abs_change`` and grade not worse than ``auto_worst_grade`` -> ``auto``;
    4. ``|change| <= credit_manager_max_abs_change`` -> ``credit_manager``;
    5. otherwise ``finance_director``.
    """
    _require_columns(decisions, ["current_limit", new_limit_column, "grade"], "decisions",
                     "Pass the output of apply_adjustment_rules with a grade column.")
    pos = _grade_positions(decisions["grade"], settings.grade_order, "decisions")
    if np.isnan(pos).any():
        raise ReviewInputError(
            f"decisions: grade missing for {_examples(decisions.index[np.isnan(pos)])}; every decision needs the "
            "customer's grade to be routed."
        )
    change = (pd.to_numeric(decisions[new_limit_column], errors="coerce")
              - pd.to_numeric(decisions["current_limit"], errors="coerce")).to_numpy(dtype=float)
    if np.isnan(change).any():
        raise ReviewInputError(
            f"decisions: current_limit or {new_limit_column} is missing for "
            f"{_examples(decisions.index[np.isnan(change)])}; supply both limits."
        )
    size = np.abs(change)
    worst_auto = settings.grade_order.index(settings.auto_worst_grade)
    grades = decisions["grade"].astype(str).to_numpy()
    unchanged = size == 0
    fd_increase = (change > 0) & np.isin(grades, settings.finance_director_increase_grades)
    auto = (size <= settings.auto_max_abs_change) & (pos <= worst_auto)
    manager = size <= settings.credit_manager_max_abs_change
    approver = np.select([unchanged, fd_increase, auto, manager],
                         ["auto", "finance_director", "auto", "credit_manager"], "finance_director")
    reason = np.select(
        [unchanged, fd_increase, auto, manager],
        ["no change",
         f"increase at grade in {list(settings.finance_director_increase_grades)}",
         f"change <= {settings.auto_max_abs_change:,.0f} at grade {settings.auto_worst_grade} or better",
         f"change <= {settings.credit_manager_max_abs_change:,.0f}"],
        f"change > {settings.credit_manager_max_abs_change:,.0f}",
    )
    # A small change that is not auto was held back by its grade: say so rather than quote the size rule.
    small_but_graded = (~unchanged) & (~fd_increase) & (~auto) & manager & (size <= settings.auto_max_abs_change)
    reason = np.where(small_but_graded,
                      f"grade worse than {settings.auto_worst_grade}, change <= "
                      f"{settings.credit_manager_max_abs_change:,.0f}", reason)
    out = decisions.copy()
    out["abs_change"] = size
    out["approver"] = approver
    out["approval_reason"] = reason
    return out


# --------------------------------------------------------------------------
# 6. Decision log
# --------------------------------------------------------------------------


def decision_log(routed: pd.DataFrame, timestamp: pd.Timestamp | str, reasons: pd.Series | None = None,
                 signals: pd.DataFrame | None = None, new_limit_column: str = "adjusted_limit") -> pd.DataFrame:
    """One log row per changed limit.

    Parameters
    ----------
    routed : output of :func:`approval_route` (index ``customer_id``; ``current_limit``,
        the new limit column, ``approver``; ``rule`` and ``trigger`` if present).
    timestamp : time of the decision run, written to every row; passed in (never read from
        the clock) so equal inputs give an identical log.
    reasons : optional free-text reason per ``customer_id`` (e.g. the analyst's note or the
        limit driver); must cover every changed customer.
    signals : optional :attr:`EarlyWarning.signals`; its ``signal_details`` are appended to
        the reason text and must cover every changed customer.
    new_limit_column : column holding the new limit.

    Returns
    -------
    DataFrame with ``timestamp``, ``customer_id``, ``rule``, ``trigger``, ``old_limit``,
    ``new_limit``, ``change`` (currency), ``approver``, ``status`` (``approved`` for
    ``auto``, else ``pending``) and ``reason``, sorted by ``customer_id``; unchanged limits
    are not logged.
    """
    try:
        ts = pd.Timestamp(timestamp) if timestamp is not None else pd.NaT
    except (TypeError, ValueError):
        ts = pd.NaT
    if pd.isna(ts):
        raise ReviewInputError(
            f"decision_log timestamp {timestamp!r} is not a time; pass the run's timestamp, e.g. "
            "pd.Timestamp('2025-07-01 09:00', tz='UTC')."
        )
    _require_columns(routed, ["current_limit", new_limit_column, "approver"], "routed",
                     "Pass the output of approval_route.")
    _require_unique_index(routed, "routed")
    old = pd.to_numeric(routed["current_limit"], errors="coerce").to_numpy(dtype=float)
    new = pd.to_numeric(routed[new_limit_column], errors="coerce").to_numpy(dtype=float)
    changed = routed.loc[new != old]
    for name, source, col in (("reasons", reasons, None), ("signals", signals, "signal_details")):
        if source is None:
            continue
        if col is not None:
            _require_columns(source, [col], name, "Pass EarlyWarning.signals from compute_signals.")
        missing = changed.index.difference(source.index)
        if len(missing):
            raise ReviewInputError(
                f"{name} has no entry for changed customer(s) {_examples(missing)}; supply one for every changed "
                "limit (an empty string is allowed)."
            )
    n = len(changed)
    parts: list[list[str]] = [[] for _ in range(n)]
    if reasons is not None:
        for i, text in enumerate(reasons.reindex(changed.index).fillna("").astype(str)):
            if text:
                parts[i].append(text)
    if "rule" in changed.columns:
        for i, text in enumerate(changed["rule"].fillna("").astype(str)):
            if text:
                parts[i].append(f"rule: {text}")
    if signals is not None:
        for i, text in enumerate(signals["signal_details"].reindex(changed.index).fillna("").astype(str)):
            if text:
                parts[i].append(f"signals: {text}")
    old_c = changed["current_limit"].astype(float).to_numpy()
    new_c = changed[new_limit_column].astype(float).to_numpy()
    log = pd.DataFrame({
        "timestamp": pd.Series([ts] * n, dtype=pd.Series([ts]).dtype),
        "customer_id": changed.index.astype(str).to_numpy(),
        "rule": (changed["rule"].astype(str).to_numpy() if "rule" in changed.columns else np.full(n, "")),
        "trigger": (changed["trigger"].astype(str).to_numpy() if "trigger" in changed.columns else np.full(n, "")),
        "old_limit": old_c,
        "new_limit": new_c,
        "change": new_c - old_c,
        "approver": changed["approver"].astype(str).to_numpy(),
        "status": np.where(changed["approver"].astype(str).to_numpy() == "auto", "approved", "pending"),
        "reason": ["; ".join(p) for p in parts],
    })
    return log.sort_values("customer_id", kind="stable").reset_index(drop=True)
