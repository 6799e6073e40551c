"""Approval route of each limit change (by size and grade) and the decision log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_lab.limits.review._checks import (
    DEFAULT_GRADE_ORDER,
    ReviewInputError,
    ReviewSettingsError,
    _check_grade_order,
    _check_number,
    _examples,
    _grade_positions,
    _require_columns,
    _require_unique_index,
)

__all__ = [
    "APPROVER_LEVELS",
    "ApprovalSettings",
    "approval_route",
    "decision_log",
]


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
# Decision log
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
