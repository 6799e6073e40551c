"""PD-based lifetime ECL per customer, the expected time to collection and at risk, and expected-loss tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.formatting import plain_number
from credit_lab.risk.provisions.historical import _month_end
from credit_lab.risk.provisions.ledger import _DAYS_PER_MONTH, _as_date, _day, _days, _ledger
from credit_lab.risk.provisions.settings import TOTAL, ProvisionInputError


def _aligned(value: Any, index: pd.Index, name: str, lo: float, hi: float, *, lo_open: bool = False
             ) -> np.ndarray:
    if isinstance(value, pd.Series):
        missing = index.difference(value.index)
        if len(missing):
            raise ProvisionInputError(f"{name} has no value for {len(missing)} customer(s), e.g. {missing[0]!r}; "
                                      f"give every customer a {name} (e.g. PD = 1 for customers in default)")
        if value.index.has_duplicates:
            raise ProvisionInputError(f"{name} has duplicate index entries; give one value per customer")
        arr = value.reindex(index).to_numpy(dtype=float)
    else:
        arr = np.broadcast_to(np.asarray(value, dtype=float), (len(index),)).copy()
    bad = ~np.isfinite(arr) | (arr <= lo if lo_open else arr < lo) | (arr > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        who = f" (customer {index[i]!r})" if len(index) else ""
        interval = f"{'(' if lo_open else '['}{lo}, {hi}]"
        raise ProvisionInputError(f"{name} = {plain_number(arr[i])}{who} is outside {interval}")
    return arr


def lifetime_ecl(exposure: pd.Series, pd_12m: pd.Series | float, lgd: pd.Series | float,
                 months_to_collection: pd.Series | float, discount_rate: float,
                 months_at_risk: pd.Series | float | None = None) -> pd.DataFrame:
    """Lifetime expected credit loss of receivables from 12-month PDs.

    ``PD_lifetime = 1 - (1 - PD_12m) ** (h / 12)`` (constant hazard over the year),
    ``ECL = exposure * LGD * PD_lifetime * (1 + discount_rate) ** (-t / 12)`` with ``t``
    the expected months to collection and ``h`` the months the receivables are at risk of a
    default as the PD dates it (:func:`months_at_risk`; ``t`` when not given).

    Parameters
    ----------
    exposure : Series
        Open receivables per customer (currency), indexed by customer id.
    pd_12m : Series or float
        12-month PD per customer (fraction); a Series must cover every customer.
    lgd : Series or float
        Loss given default (fraction of exposure).
    months_to_collection : Series or float
        Expected months until the receivables are collected, in [0, 12]: when the cash they
        would not bring in was due, so the discounting horizon (see
        :func:`expected_months_to_collection`).
    discount_rate : float
        Annual rate the cash shortfall is discounted at (e.g. 0.05); > -1.
    months_at_risk : Series or float, optional
        Months over which a default takes the receivables, in [0, 12]; the PD's horizon. Defaults
        are dated 90 days past due, so this runs past the expected collection (see
        :func:`months_at_risk`). Not given: ``months_to_collection``.

    Returns
    -------
    DataFrame
        Index as ``exposure``; columns ``exposure``, ``pd_12m``, ``months_to_collection``,
        ``months_at_risk``, ``pd_lifetime``, ``lgd``, ``discount_factor``, ``ecl`` (currency).

    Examples
    --------
    >>> out = lifetime_ecl(pd.Series({"C1": 1000.0}), 0.19, 0.5, 6.0, 0.0)
    >>> round(float(out.loc["C1", "ecl"]), 6)  # 1000 * 0.5 * (1 - 0.81 ** 0.5)
    50.0
    """
    if not isinstance(exposure, pd.Series):
        raise ProvisionInputError(f"exposure must be a Series indexed by customer id, got {type(exposure).__name__}")
    idx = exposure.index
    ead = _aligned(exposure, idx, "exposure", 0.0, np.inf)
    p = _aligned(pd_12m, idx, "pd_12m", 0.0, 1.0)
    g = _aligned(lgd, idx, "lgd", 0.0, 1.0)
    t = _aligned(months_to_collection, idx, "months_to_collection", 0.0, 12.0)
    h = t if months_at_risk is None else _aligned(months_at_risk, idx, "months_at_risk", 0.0, 12.0)
    r = float(discount_rate)
    if not (math.isfinite(r) and r > -1.0):
        raise ProvisionInputError(f"discount_rate = {discount_rate!r} must be a finite annual rate > -1 (e.g. 0.05)")
    # A customer in default (PD = 1) loses for sure over any positive horizon; 0 ** 0 is taken as "no time".
    p_safe = np.where(p >= 1.0, 0.0, p)
    pd_life = np.where(p >= 1.0, np.where(h > 0, 1.0, 0.0), -np.expm1((h / 12.0) * np.log1p(-p_safe)))
    df = (1.0 + r) ** (-t / 12.0)
    return pd.DataFrame({
        "exposure": ead, "pd_12m": p, "months_to_collection": t, "months_at_risk": h, "pd_lifetime": pd_life,
        "lgd": g, "discount_factor": df, "ecl": ead * g * pd_life * df,
    }, index=idx)


def collection_delay_days(invoices: pd.DataFrame, as_of: Any, lookback_months: int = 12) -> float:
    """Average days paid after the due date (amount-weighted, early payment counts as 0).

    Over the invoices paid in the ``lookback_months`` before ``as_of``; input for
    :func:`expected_months_to_collection`. A settlement that collected nothing is a write-off,
    not a payment, and does not count (a write-off a year past due would otherwise pass for
    a very late payment).

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger.
    as_of : date
        Measurement date; payments on or after it are not used.
    lookback_months : int, default 12
        Window of payments used.

    Returns
    -------
    float
        Days.

    Examples
    --------
    >>> inv = pd.DataFrame({"invoice_id": ["I1", "I2"], "customer_id": ["C1", "C1"],
    ...     "invoice_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
    ...     "due_date": pd.to_datetime(["2024-01-31", "2024-01-31"]),
    ...     "paid_date": pd.to_datetime(["2024-02-10", "2024-01-20"]), "amount": [100.0, 300.0],
    ...     "paid_amount": [100.0, 300.0], "disputed": [False, False]})
    >>> collection_delay_days(inv, "2024-06-01")  # (100 * 10 + 300 * 0) / 400
    2.5
    """
    as_of = _as_date(as_of, "as_of")
    if not isinstance(lookback_months, (int, np.integer)) or lookback_months < 1:
        raise ProvisionInputError(f"lookback_months = {lookback_months!r} must be a whole number >= 1")
    led = _ledger(invoices, as_of)
    start = _day(_month_end(as_of, int(lookback_months)))
    sel = (led.paid >= start) & (led.paid < _day(as_of)) & (led.paid_amount > 0)
    if not sel.any():
        raise ProvisionInputError(f"no invoice was paid in the {lookback_months} months before {as_of.date()}; "
                                  "widen lookback_months or give the delay directly")
    late = np.maximum(led.paid[sel] - led.due[sel], 0).astype(float)
    return float(np.average(late, weights=led.amount[sel]))


def expected_months_to_collection(items: pd.DataFrame, as_of: Any, delay_days: float) -> pd.Series:
    """Expected months until each customer's open receivables are collected.

    Each open invoice is expected to be collected ``delay_days`` after the later of its due
    date and ``as_of``; a customer's value is the balance-weighted mean over its open
    invoices, in months of 365.25 / 12 days, capped at 12 (receivables due within a year).

    Parameters
    ----------
    items : DataFrame
        :func:`open_items` output (``customer_id``, ``due_date``, ``outstanding``).
    as_of : date
        Reporting date.
    delay_days : float
        Expected days paid after due (e.g. :func:`collection_delay_days`), >= 0.

    Returns
    -------
    Series
        Months, indexed by customer id.

    Examples
    --------
    >>> items = pd.DataFrame({"customer_id": ["C1", "C1"], "outstanding": [100.0, 100.0],
    ...     "due_date": pd.to_datetime(["2024-01-01", "2024-04-30"])})
    >>> s = expected_months_to_collection(items, "2024-03-01", 0.0)  # 0 days and 60 days
    >>> round(float(s["C1"]), 4)  # 30 days = 0.9856 months
    0.9856
    """
    as_of = _as_date(as_of, "as_of")
    d = _check_items(items, delay_days)
    return _balance_weighted_months(items, _days_to_collection(items, as_of, d), "months_to_collection")


def _check_items(items: pd.DataFrame, delay_days: float) -> float:
    d = float(delay_days)
    if not (math.isfinite(d) and d >= 0):
        raise ProvisionInputError(f"delay_days = {delay_days!r} must be finite and >= 0")
    for c in ("customer_id", "due_date", "outstanding"):
        if c not in items.columns:
            raise ProvisionInputError(f"items lacks column {c!r}; pass the open_items table")
    return d


def _days_to_collection(items: pd.DataFrame, as_of: pd.Timestamp, delay_days: float) -> np.ndarray:
    return np.maximum(_days(items["due_date"]) - _day(as_of), 0) + delay_days


def _balance_weighted_months(items: pd.DataFrame, wait_days: np.ndarray, name: str) -> pd.Series:
    months = np.minimum(wait_days / _DAYS_PER_MONTH, 12.0)
    w = items["outstanding"].to_numpy(dtype=float)
    frame = pd.DataFrame({"customer_id": items["customer_id"].to_numpy(), "wm": months * w, "w": w})
    g = frame.groupby("customer_id", sort=True)[["wm", "w"]].sum()
    return (g["wm"] / g["w"]).clip(upper=12.0).rename(name)  # a mean of 12s can round to 12.000000000000002


#: Days past due at which a default is dated: the data contract's ``defaults.default_date`` (90+ days past due
#: or write-off), IFRS 9's rebuttable presumption (B5.5.37) and the synthetic ledger's.
DEFAULT_DAYS_PAST_DUE = 90


def months_at_risk(items: pd.DataFrame, as_of: Any, delay_days: float,
                   default_days_past_due: int = DEFAULT_DAYS_PAST_DUE) -> pd.Series:
    """Months each customer's open receivables are at risk of a default, as the PD dates defaults.

    A PD counts defaults by the day they are recognised, ``default_days_past_due`` after a
    payment was missed. A receivable due on ``d`` is lost when its customer stops paying on or
    before ``d`` (customers pay their invoices in order), and that default is dated up to
    ``d + default_days_past_due``; a default dated in that stretch is one the receivable
    would not have survived even though its expected collection, ``d + delay_days``, comes
    earlier. So each open invoice is at risk until the later of its expected collection (as in
    :func:`expected_months_to_collection`) and the day it reaches ``default_days_past_due``
    days past due; a customer's value is the balance-weighted mean over its open invoices, in
    months of 365.25 / 12 days, capped at 12.

    Parameters
    ----------
    items : DataFrame
        :func:`open_items` output (``customer_id``, ``due_date``, ``outstanding``).
    as_of : date
        Reporting date.
    delay_days : float
        Expected days paid after due (e.g. :func:`collection_delay_days`), >= 0.
    default_days_past_due : int, default 90
        Days past due at which the ledger's defaults are dated (:data:`DEFAULT_DAYS_PAST_DUE`).

    Returns
    -------
    Series
        Months, indexed by customer id.

    Examples
    --------
    One invoice due in 30 days, one 60 days past due: at risk 120 and 30 days (expected
    collection 35 and 5 days).

    >>> items = pd.DataFrame({"customer_id": ["C1", "C1"], "outstanding": [100.0, 100.0],
    ...     "due_date": pd.to_datetime(["2024-03-31", "2024-01-01"])})
    >>> round(float(months_at_risk(items, "2024-03-01", 5.0)["C1"] * 365.25 / 12), 6)
    75.0
    """
    as_of = _as_date(as_of, "as_of")
    d = _check_items(items, delay_days)
    if isinstance(default_days_past_due, bool) or not isinstance(default_days_past_due, (int, np.integer)) \
            or default_days_past_due < 0:
        raise ProvisionInputError(f"default_days_past_due = {default_days_past_due!r} must be a whole number of "
                                  "days >= 0 (90: defaults are dated 90 days past due)")
    to_default = _days(items["due_date"]) + int(default_days_past_due) - _day(as_of)
    return _balance_weighted_months(items, np.maximum(_days_to_collection(items, as_of, d), to_default),
                                    "months_at_risk")


@dataclass(frozen=True, eq=False)
class ExpectedLossTables:
    """12-month and lifetime expected loss by customer, grade and industry.

    Attributes
    ----------
    by_customer : DataFrame
        The input's index; ``grade``, ``industry``, ``exposure``, ``pd_12m``,
        ``months_to_collection``, ``months_at_risk``, ``pd_lifetime``, ``lgd``, ``discount_factor``,
        ``el_12m`` (``PD_12m * LGD * exposure``, undiscounted) and ``el_lifetime``
        (discounted, :func:`lifetime_ecl`). Currency amounts.
    by_grade, by_industry : DataFrame
        Sums per group with a ``"Total"`` row: ``customers``, ``exposure``, ``el_12m``,
        ``el_lifetime`` and both as rates of exposure.
    """

    by_customer: pd.DataFrame
    by_grade: pd.DataFrame
    by_industry: pd.DataFrame


def _group_el(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    cols = ["exposure", "el_12m", "el_lifetime"]
    g = frame.groupby(by, observed=True, sort=True)[cols].sum()
    g.insert(0, "customers", frame.groupby(by, observed=True, sort=True).size())
    g.loc[TOTAL] = [len(frame)] + [frame[c].sum() for c in cols]
    g["customers"] = g["customers"].astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["el_12m_rate"] = (g["el_12m"] / g["exposure"]).where(g["exposure"] > 0)
        g["el_lifetime_rate"] = (g["el_lifetime"] / g["exposure"]).where(g["exposure"] > 0)
    return g


def expected_loss_table(frame: pd.DataFrame, lgd: float | pd.Series, discount_rate: float,
                        months_to_collection: float | pd.Series | None = None,
                        months_at_risk: float | pd.Series | None = None) -> ExpectedLossTables:
    """12-month and lifetime expected loss per customer, aggregated by grade and industry.

    Parameters
    ----------
    frame : DataFrame
        One row per customer: ``pd`` (12-month PD), ``grade``, ``industry``,
        ``receivables_open`` (currency) and, unless ``months_to_collection`` is given,
        a ``months_to_collection`` column.
    lgd : float or Series
        Loss given default, fraction.
    discount_rate : float
        Annual rate for the lifetime EL (see :func:`lifetime_ecl`).
    months_to_collection : float or Series, optional
        Expected months to collection (overrides the column).
    months_at_risk : float or Series, optional
        The lifetime PD's horizon (:func:`months_at_risk`; overrides a ``months_at_risk`` column;
        neither: the months to collection).

    Returns
    -------
    ExpectedLossTables

    Examples
    --------
    >>> f = pd.DataFrame({"pd": [0.1], "grade": ["E"], "industry": ["Retail"],
    ...                   "receivables_open": [1000.0]}, index=["C1"])
    >>> t = expected_loss_table(f, 0.5, 0.0, months_to_collection=12.0)
    >>> float(t.by_customer.loc["C1", "el_12m"]), round(float(t.by_customer.loc["C1", "el_lifetime"]), 6)
    (50.0, 50.0)
    """
    need = ["pd", "grade", "industry", "receivables_open"]
    if months_to_collection is None:
        need.append("months_to_collection")
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ProvisionInputError(f"frame lacks column(s) {missing}; expected_loss_table needs {need}")
    if frame.index.has_duplicates:
        raise ProvisionInputError("frame has duplicate index entries; give one row per customer")
    t = frame["months_to_collection"] if months_to_collection is None else months_to_collection
    if months_at_risk is None and "months_at_risk" in frame.columns:
        months_at_risk = frame["months_at_risk"]
    life = lifetime_ecl(frame["receivables_open"].astype(float), frame["pd"].astype(float), lgd, t, discount_rate,
                        months_at_risk)
    out = pd.concat([frame[["grade", "industry"]], life], axis=1)
    out.insert(out.columns.get_loc("ecl"), "el_12m", life["pd_12m"] * life["lgd"] * life["exposure"])
    out = out.rename(columns={"ecl": "el_lifetime"})
    return ExpectedLossTables(by_customer=out, by_grade=_group_el(out, "grade"),
                              by_industry=_group_el(out, "industry"))
