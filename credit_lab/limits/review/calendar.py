"""Periodic review calendar: the next review from the grade's review frequency; a watchlisted
customer is due now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from credit_lab.limits.review._checks import (
    _DAY,
    ReviewInputError,
    ReviewSettingsError,
    _examples,
    _frozen_mapping,
    _require_columns,
    _require_unique_index,
)

__all__ = [
    "ReviewCalendarSettings",
    "review_calendar",
    "reviews_due",
]


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
