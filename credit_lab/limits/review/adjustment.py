"""Adjustment standards: a rules table ``trigger -> action -> bounds`` applied to current and
proposed limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from credit_lab.limits.review._checks import (
    ReviewInputError,
    ReviewSettingsError,
    _check_number,
    _examples,
    _require_columns,
    _require_unique_index,
)
from credit_lab.limits.review.signals import (
    SIGNAL_NAMES,
)

__all__ = [
    "AdjustmentRule",
    "AdjustmentSettings",
    "DEFAULT_RULES",
    "LIMIT_ACTIONS",
    "apply_adjustment_rules",
    "rules_from_dicts",
    "valid_triggers",
]


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
