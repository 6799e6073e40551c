"""Credit review: early-warning signals, watchlist, review calendar, limit adjustments and approvals.

The package turns two point-in-time feature snapshots of the book (see
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

Modules: ``signals`` (1), ``backtest`` (2), ``calendar`` (3), ``adjustment`` (4), ``approvals`` (5 and 6),
and ``_checks`` (errors, default grade scale, shared validation helpers). Every public name is re-exported
here, so ``from credit_lab.limits import review; review.X`` works for all of them.
"""

from credit_lab.limits.review._checks import DEFAULT_GRADE_ORDER, ReviewInputError, ReviewSettingsError
from credit_lab.limits.review.adjustment import (
    DEFAULT_RULES,
    LIMIT_ACTIONS,
    AdjustmentRule,
    AdjustmentSettings,
    apply_adjustment_rules,
    rules_from_dicts,
    valid_triggers,
)
from credit_lab.limits.review.approvals import APPROVER_LEVELS, ApprovalSettings, approval_route, decision_log
from credit_lab.limits.review.backtest import (
    BacktestResult,
    BacktestSettings,
    backtest_signals,
    backtest_snapshots,
    backtest_summary,
)
from credit_lab.limits.review.calendar import ReviewCalendarSettings, review_calendar, reviews_due
from credit_lab.limits.review.signals import (
    DEFAULT_WEIGHTS,
    SIGNAL_NAMES,
    SIGNALS,
    WARNING_ACTIONS,
    EarlyWarning,
    SignalSettings,
    SignalSpec,
    compute_signals,
    signals_as_of,
)

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
