"""Early-warning signals: ten rules comparing two feature snapshots, the severity score, the
watchlist and the recommended action (see :func:`compute_signals`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.config import FeatureParams
from credit_lab.features.point_in_time import build_features_at
from credit_lab.limits.review._checks import (
    _DEFAULT_FEATURE_PARAMS,
    DEFAULT_GRADE_ORDER,
    ReviewInputError,
    ReviewSettingsError,
    _check_grade_order,
    _check_number,
    _examples,
    _frozen_mapping,
    _grade_positions,
    _require_columns,
    _require_unique_index,
)

__all__ = [
    "DEFAULT_WEIGHTS",
    "EarlyWarning",
    "SIGNALS",
    "SIGNAL_NAMES",
    "SignalSettings",
    "SignalSpec",
    "WARNING_ACTIONS",
    "compute_signals",
    "signals_as_of",
]


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
        flags["limit_breach"] = _nullable(_at_least(cur - prev, s.limit_breach_increase),
                                          ~np.isnan(cur) & ~np.isnan(prev))

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
        return (f"{c:.0f} month-ends over its credit limit in the lookback window, {c - p:+.0f} since the "
                "previous snapshot")
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
    cur_f, prev_f = (_graded(f, grader) for f in
                     build_features_at(tables, [snap, prev], feature_params, financials_publication_lag_days))
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
