"""The review cycle around proposed limits: early warning, adjustment rules, approval route, decision
log, review calendar and the signal backtest, run with the run's params.

:mod:`credit_lab.limits.review` holds each step; this module chains them the way stage 05 runs
them, over DataFrames (no file access). The proposed limit passes through the adjustment
standards to ``final_limit``, which letters and the reserve use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from credit_lab.core.config import RunParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.limits import review as rv
from credit_lab.models.grading import assign_grades

__all__ = ["ReviewOutcome", "monitoring_signals", "proposals_as_final", "review_cycle", "signal_settings"]

logger = logging.getLogger(__name__)


@dataclass
class ReviewOutcome:
    """What the review cycle decided beside the final limits."""

    signals: pd.DataFrame
    watchlist: pd.DataFrame
    decision_log: pd.DataFrame
    calendar: pd.DataFrame
    backtest: pd.DataFrame | None = None
    backtest_base_rate: float | None = None
    notes: list[str] = field(default_factory=list)


def signal_settings(params: RunParams) -> rv.SignalSettings:
    """The early-warning settings of ``review.signals``, on the run's grade order."""
    return rv.SignalSettings(**{"grade_order": tuple(params.grade_names), **params.review.signals})


def adjustment_settings(params: RunParams) -> rv.AdjustmentSettings:
    """The adjustment standards of ``review.rules``."""
    return rv.AdjustmentSettings(rules=rv.rules_from_dicts(params.review.rules))


def approval_settings(params: RunParams) -> rv.ApprovalSettings:
    """The approval route of ``review.approval``, on the run's grade order."""
    return rv.ApprovalSettings(**{"grade_order": tuple(params.grade_names), **params.review.approval})


def calendar_settings(params: RunParams) -> rv.ReviewCalendarSettings:
    """The review calendar of ``review.frequency_months_by_grade`` and ``review.due_within_days``."""
    return rv.ReviewCalendarSettings(frequency_months_by_grade=dict(params.review.frequency_months_by_grade),
                                     due_within_days=params.review.due_within_days)


def monitoring_signals(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, params: RunParams, grader=None):
    """Early-warning signals and the watchlist at ``as_of`` against ``review.compare_months`` before."""
    return rv.signals_as_of(tables, as_of, as_of - pd.DateOffset(months=params.review.compare_months),
                            signal_settings(params), params.features, params.data.financials_publication_lag_days,
                            **({"grader": grader} if grader is not None else {}))


def review_cycle(limits: pd.DataFrame, tables: dict[str, pd.DataFrame], customers: pd.DataFrame,
                 as_of: pd.Timestamp, params: RunParams, model: Any) -> ReviewOutcome:
    """Early warning, adjustment rules, approval route, decision log and review calendar.

    ``limits`` (indexed by customer_id, with ``current_limit``, ``proposed_limit``, ``grade`` and a
    reason column) gains ``final_limit``, ``final_change``, ``adjustment_rule``, ``approver`` and
    ``on_watchlist`` in place. ``model`` grades the comparison snapshot for the PD-migration signal.
    """
    p = params

    def grader(features: pd.DataFrame) -> pd.Series:
        return pd.Series(assign_grades(model.predict_pd(features), p.master_scale), index=features.index)

    warning = monitoring_signals(tables, as_of, p, grader=grader)
    adjusted = rv.apply_adjustment_rules(limits[["current_limit", "proposed_limit", "grade"]], warning.signals,
                                         adjustment_settings(p))
    routed = rv.approval_route(adjusted, approval_settings(p))
    reasons = limits["explanation"] if "explanation" in limits else limits["limit_reason"]
    log = rv.decision_log(routed, timestamp=as_of, reasons=reasons, signals=warning.signals)
    limits["final_limit"] = routed["adjusted_limit"]
    limits["final_change"] = limits["final_limit"] - limits["current_limit"]
    limits["adjustment_rule"] = routed["rule"]
    limits["approver"] = routed["approver"]
    limits["on_watchlist"] = warning.signals["on_watchlist"].reindex(limits.index).fillna(False).astype(bool)
    calendar = rv.review_calendar(
        limits[["grade"]].join(customers[["onboarding_date", "last_review_date"]]), as_of, calendar_settings(p),
        watchlist=warning.watchlist.index)
    outcome = ReviewOutcome(warning.signals, warning.watchlist, log, calendar)
    if p.review.backtest:
        _backtest(tables, p, outcome)
    return outcome


def _backtest(tables: dict[str, pd.DataFrame], p: RunParams, outcome: ReviewOutcome) -> None:
    """How well the signals foretold defaults in the ledger's history (a note when it cannot be run)."""
    try:
        # No grader: today's model was fitted on this history, so PD migration would look
        # better in the backtest than it can be.
        bt = rv.backtest_signals(tables, signal_settings(p),
                                 rv.BacktestSettings(comparison_months=p.review.compare_months,
                                                     horizon_months=p.features.label_horizon_months),
                                 feature_params=p.features,
                                 financials_publication_lag_days=p.data.financials_publication_lag_days)
        outcome.backtest, outcome.backtest_base_rate = bt.summary, bt.base_default_rate
    except CreditLabError as err:
        outcome.notes.append(f"Signal backtest skipped: {err}")


def proposals_as_final(limits: pd.DataFrame, as_of: pd.Timestamp | None = None,
                       params: RunParams | None = None) -> pd.DataFrame | None:
    """Without the ledger's history (table mode): the proposals are final (no early-warning signal or
    adjustment rule can fire), routed for approval by the same thresholds as a ledger's review.

    ``limits`` gains ``final_limit``, ``final_change``, ``adjustment_rule`` (empty), ``approver`` and
    ``on_watchlist`` (False) in place. With ``as_of`` and ``params``, returns the decision log (one row
    per changed limit, who must approve it, and why); without them, None and no approver.
    """
    limits["final_limit"] = limits["proposed_limit"]
    limits["final_change"] = limits["final_limit"] - limits["current_limit"]
    limits["adjustment_rule"], limits["approver"], limits["on_watchlist"] = "", "", False
    if as_of is None or params is None:
        return None
    decisions = limits[["current_limit", "grade"]].assign(adjusted_limit=limits["final_limit"], rule="",
                                                          trigger="")
    routed = rv.approval_route(decisions, approval_settings(params))
    limits["approver"] = routed["approver"]
    reasons = limits["explanation"] if "explanation" in limits else limits["limit_reason"]
    return rv.decision_log(routed, timestamp=as_of, reasons=reasons)
