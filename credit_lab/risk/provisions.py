"""IFRS 9 simplified approach for trade receivables: ageing, loss rates, provision matrix, PD-based ECL.

Definitions used throughout
---------------------------
Snapshot at a date ``t``
    Taken at the *start* of day ``t`` (before that day's events). An invoice is open at
    ``t`` when ``invoice_date < t`` and it was not paid before ``t`` (``paid_date`` is NaT
    or ``paid_date >= t``). Its days past due are ``(t - due_date)`` in whole days; 0 or
    less is "current". An invoice paid on or after ``t`` is open at ``t`` with its full
    amount.
Settlement
    The ledger holds one payment per invoice. That payment settles the invoice:
    ``paid_amount`` is collected and a shortfall ``amount - paid_amount`` (only defaulted
    customers pay partly) is treated as written off on ``paid_date``. So an open invoice
    always carries its full ``amount`` and a partly paid one is not open any more.
Point in time
    Only what was known at ``as_of`` is used: invoices issued before ``as_of``, payments
    made before ``as_of`` (later payments count as "not paid yet") and defaults before
    ``as_of``.
Month-ends
    ``t_k = as_of - k`` calendar months. With ``as_of`` on the first of a month these are
    the month-ends of the previous months (start of day 1 = end of the day before).
Loss
    The part of a balance open at month-end ``t`` that is not collected within
    ``outcome_months`` (``W``) after ``t``: never paid by ``t + W``, or the shortfall of a
    partial payment made before ``t + W``. Cash received after ``t + W`` counts as a
    recovery of a written-off amount and does not reduce the historical loss. A month-end
    ``t`` is used for a loss outcome only when ``t + W <= as_of`` (its outcome is complete).

Loss-rate methods (:func:`loss_rates`)
--------------------------------------
``"cohort"`` (vintage)
    Loss rate of bucket ``b`` = sum over month-ends of the balance in ``b`` not collected
    within ``W`` / sum of the balance in ``b`` (balance-weighted pooling).
``"roll_rate"``
    Each invoice in bucket ``b`` at ``t`` is followed to ``t + 1 month``: it was collected,
    partly collected (the shortfall goes straight to loss), is still in ``b`` ("stayed";
    e.g. not yet due, or a short month), or has moved on to a later bucket. Pooled over the
    month-ends, of the balance that *left* ``b``: ``d_b`` went straight to loss and
    ``f_b->c`` rolled to bucket ``c > b``. The roll rate of ``b`` is ``d_b + sum_c f_b->c``
    (share of the leaving balance not collected). The last bucket rolls to the loss state
    with the cohort loss rate of that bucket. Loss rates are chained backwards,
    ``L_b = d_b + sum_c f_b->c * L_c``; when balances only move to the next bucket and no
    partial payment happens this is the classical product of roll rates,
    ``L_b = r_b * r_b+1 * ... * L_last``. Bucket skips (a 31-day month can carry an invoice
    from 30 to 61 days past due) are thus handled exactly instead of being forced into the
    next bucket.

Roll transitions use the latest ``history_months`` month-ends ``t_1 .. t_H``; loss outcomes
use the latest ``history_months`` complete ones ``t_W .. t_(W+H-1)``.

Forward-looking adjustment
--------------------------
Macro scenarios ``{name: (weight, multiplier)}`` with weights summing to 1: the adjusted
rate is ``sum_s weight_s * min(1, multiplier_s * historical rate)``; a rate never exceeds
100 % in any scenario.

PD-based lifetime ECL (:func:`lifetime_ecl`)
--------------------------------------------
Receivables due within a year live only until they are collected, so their lifetime is the
expected time to collection ``t`` (months). With a constant default hazard within the year,
``PD_lifetime = 1 - (1 - PD_12m) ** (t / 12)``. The loss is the cash not received at the
expected collection date, so it is discounted over ``t`` at the annual rate:
``ECL = EAD * LGD * PD_lifetime * (1 + r) ** (-t / 12)``. No new sales are assumed (the
simplified approach covers the receivables on the books).

Errors are :class:`ProvisionInputError` (a :class:`ValueError`); messages name the table,
column or setting, the bad value and the fix.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import CreditLabError

__all__ = [
    "DEFAULT_BUCKET_EDGES",
    "ExpectedLossTables",
    "LossRates",
    "ProvisionInputError",
    "ProvisionResult",
    "ProvisionSettings",
    "adjust_for_scenarios",
    "ageing",
    "bucket_labels",
    "collection_delay_days",
    "expected_loss_table",
    "expected_months_to_collection",
    "lifetime_ecl",
    "loss_rates",
    "open_items",
    "provision_from_ledger",
    "provision_matrix",
    "reconcile",
]

#: Upper edges (days past due, inclusive) of every bucket but the last:
#: current, 1-30, 31-60, 61-90, >90.
DEFAULT_BUCKET_EDGES: tuple[int, ...] = (0, 30, 60, 90)

_INVOICE_COLUMNS = ("invoice_id", "customer_id", "invoice_date", "due_date", "paid_date", "amount",
                    "paid_amount", "disputed")
# A payment date nobody reaches: stands for "not paid (as far as is known at as_of)".
_NEVER = np.int64(2**62)
_DAYS_PER_MONTH = 365.25 / 12.0
TOTAL = "Total"


class ProvisionInputError(CreditLabError, ValueError):
    """Invalid input to a provision computation; the message names the input and the fix."""


def _num(x: Any) -> str:
    """A number as people write it (no numpy repr, no float noise)."""
    return f"{float(x):.10g}"


# ----------------------------------------------------------------------------------------
# settings
# ----------------------------------------------------------------------------------------

def _check_scenarios(scenarios: Any) -> Mapping[str, tuple[float, float]]:
    if not isinstance(scenarios, Mapping) or len(scenarios) == 0:
        raise ProvisionInputError(f"scenarios = {scenarios!r} must be a non-empty mapping "
                                  "{name: (weight, multiplier)}, e.g. {'base': (1.0, 1.0)}")
    out: dict[str, tuple[float, float]] = {}
    for name, value in scenarios.items():
        try:
            weight, mult = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ProvisionInputError(f"scenarios[{name!r}] = {value!r} must be a pair (weight, multiplier), "
                                      "e.g. (0.3, 1.3)") from None
        if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise ProvisionInputError(f"scenarios[{name!r}] weight = {weight!r} must be in [0, 1]")
        if not (math.isfinite(mult) and mult >= 0.0):
            raise ProvisionInputError(f"scenarios[{name!r}] multiplier = {mult!r} must be finite and >= 0 "
                                      "(1.0 leaves the historical rate unchanged)")
        out[str(name)] = (weight, mult)
    total = sum(w for w, _ in out.values())
    if abs(total - 1.0) > 1e-9:
        raise ProvisionInputError(f"scenario weights sum to {_num(total)}, not 1; rescale them so they add up to 1 "
                                  f"(given: { {k: w for k, (w, _) in out.items()} })")
    return MappingProxyType(out)


@dataclass(frozen=True)
class ProvisionSettings:
    """Settings of the provision matrix.

    Attributes
    ----------
    bucket_edges : tuple of int
        Upper edges, in days past due (inclusive), of every bucket but the last; the first
        must be 0 ("current" = not yet due). ``(0, 30, 60, 90)`` gives current, 1-30,
        31-60, 61-90, >90.
    method : {"roll_rate", "cohort"}
        How historical loss rates are measured (see the module docstring).
    history_months : int
        Month-ends pooled for each estimate (the latest ones whose outcome is complete).
    outcome_months : int
        ``W``: a balance not collected within this many months of a month-end is a loss.
    scenarios : mapping
        ``{name: (weight, multiplier)}``; weights sum to 1. The default is a single base
        scenario that leaves the historical rates unchanged.

    Examples
    --------
    >>> s = ProvisionSettings(scenarios={"base": (0.6, 1.0), "downside": (0.4, 1.5)})
    >>> s.bucket_edges, s.method
    ((0, 30, 60, 90), 'roll_rate')
    """

    bucket_edges: tuple[int, ...] = DEFAULT_BUCKET_EDGES
    method: Literal["roll_rate", "cohort"] = "roll_rate"
    history_months: int = 24
    outcome_months: int = 12
    scenarios: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: MappingProxyType({"base": (1.0, 1.0)}))

    def __post_init__(self) -> None:
        edges = tuple(self.bucket_edges)
        if (len(edges) == 0 or any(not isinstance(e, (int, np.integer)) or isinstance(e, bool) for e in edges)
                or edges[0] != 0 or any(b <= a for a, b in itertools.pairwise(edges))):
            raise ProvisionInputError(f"bucket_edges = {self.bucket_edges!r} must be strictly increasing whole "
                                      "days starting at 0, e.g. (0, 30, 60, 90)")
        object.__setattr__(self, "bucket_edges", tuple(int(e) for e in edges))
        if self.method not in ("roll_rate", "cohort"):
            raise ProvisionInputError(f"method = {self.method!r} must be 'roll_rate' or 'cohort'")
        for name in ("history_months", "outcome_months"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ProvisionInputError(f"{name} = {v!r} must be a whole number of months >= 1")
        object.__setattr__(self, "scenarios", _check_scenarios(self.scenarios))

    @property
    def buckets(self) -> tuple[str, ...]:
        """Bucket labels, in order."""
        return bucket_labels(self.bucket_edges)


def bucket_labels(edges: Sequence[int]) -> tuple[str, ...]:
    """Labels of the buckets defined by ``edges``.

    Examples
    --------
    >>> bucket_labels((0, 30, 60, 90))
    ('current', '1-30', '31-60', '61-90', '>90')
    """
    edges = tuple(int(e) for e in edges)
    labels = ["current"] + [f"{a + 1}-{b}" for a, b in itertools.pairwise(edges)] + [f">{edges[-1]}"]
    return tuple(labels)


# ----------------------------------------------------------------------------------------
# input checks and day arithmetic
# ----------------------------------------------------------------------------------------

def _as_date(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ProvisionInputError(f"{name} = {value!r} is not a date; give e.g. '2025-01-01'") from None
    if ts is pd.NaT or ts.tz is not None or ts != ts.normalize():
        raise ProvisionInputError(f"{name} = {value!r} must be a plain date (midnight, no time zone), "
                                  "e.g. pd.Timestamp('2025-01-01')")
    return ts


def _days(values: Any) -> np.ndarray:
    """Whole days since the epoch; NaT becomes ``_NEVER``."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    days = arr.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(arr), _NEVER, days)


def _day(ts: pd.Timestamp) -> np.int64:
    return np.int64(np.datetime64(ts, "D").astype(np.int64))


def _check_invoices(invoices: pd.DataFrame) -> None:
    if not isinstance(invoices, pd.DataFrame):
        raise ProvisionInputError(f"invoices must be a DataFrame, got {type(invoices).__name__}")
    missing = [c for c in _INVOICE_COLUMNS if c not in invoices.columns]
    if missing:
        raise ProvisionInputError(f"invoices lacks column(s) {missing}; it needs {list(_INVOICE_COLUMNS)}")
    for c in ("invoice_date", "due_date", "paid_date"):
        if not pd.api.types.is_datetime64_any_dtype(invoices[c]):
            raise ProvisionInputError(f"invoices.{c} has dtype {invoices[c].dtype}; convert it with "
                                      f"pd.to_datetime (the schema validation does this)")
    amount = invoices["amount"].to_numpy(dtype=float)
    bad = ~np.isfinite(amount) | (amount <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"invoices.amount = {_num(amount[i])} (invoice {invoices['invoice_id'].iloc[i]!r}) "
                                  "must be finite and > 0; fix or remove the row before computing provisions")
    for c in ("invoice_date", "due_date"):
        nat = invoices[c].isna().to_numpy()
        if nat.any():
            i = int(np.flatnonzero(nat)[0])
            raise ProvisionInputError(f"invoices.{c} is missing for invoice {invoices['invoice_id'].iloc[i]!r}; "
                                      "every invoice needs an invoice and a due date")
    paid = invoices["paid_date"].notna().to_numpy()
    pamt = invoices["paid_amount"].to_numpy(dtype=float)
    bad = paid & ~(np.isfinite(pamt) & (pamt >= 0) & (pamt <= amount * (1 + 1e-9)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(
            f"invoices.paid_amount = {_num(pamt[i])} for invoice {invoices['invoice_id'].iloc[i]!r} (amount "
            f"{_num(amount[i])}, paid on {invoices['paid_date'].iloc[i].date()}) must be between 0 and the amount; "
            "overpayments and missing payment amounts must be fixed in the ledger")
    bad = ~paid & np.isfinite(pamt)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"invoices.paid_amount = {_num(pamt[i])} for invoice "
                                  f"{invoices['invoice_id'].iloc[i]!r} has no paid_date; give the payment date "
                                  "or set paid_amount to NaN")


@dataclass
class _Ledger:
    """Invoice columns as plain arrays, cut at ``as_of`` (point in time)."""

    frame: pd.DataFrame      # the invoices issued before as_of (original rows, original index)
    issued: np.ndarray       # invoice day
    due: np.ndarray
    paid: np.ndarray         # payment day, _NEVER when not paid before as_of
    amount: np.ndarray
    paid_amount: np.ndarray  # 0 where not paid before as_of


def _ledger(invoices: pd.DataFrame, as_of: pd.Timestamp) -> _Ledger:
    _check_invoices(invoices)
    cut = _day(as_of)
    issued_all = _days(invoices["invoice_date"])
    keep = issued_all < cut
    frame = invoices.loc[keep]
    paid = _days(frame["paid_date"])
    known = paid < cut
    return _Ledger(
        frame=frame,
        issued=issued_all[keep],
        due=_days(frame["due_date"]),
        paid=np.where(known, paid, _NEVER),
        amount=frame["amount"].to_numpy(dtype=float),
        paid_amount=np.where(known, np.nan_to_num(frame["paid_amount"].to_numpy(dtype=float)), 0.0),
    )


def _bucket_of(dpd: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    # side="left": a value equal to an edge belongs to the bucket that edge closes.
    return np.searchsorted(np.asarray(edges), dpd, side="left")


# ----------------------------------------------------------------------------------------
# ageing
# ----------------------------------------------------------------------------------------

def open_items(invoices: pd.DataFrame, as_of: Any, settings: ProvisionSettings | None = None) -> pd.DataFrame:
    """Invoices open at ``as_of``, one row each, with days past due and bucket.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger (``invoice_id``, ``customer_id``, ``invoice_date``,
        ``due_date``, ``paid_date``, ``amount``, ``paid_amount``, ``disputed``).
    as_of : date
        Snapshot date (start of day).
    settings : ProvisionSettings, optional
        Bucket edges; the defaults when omitted.

    Returns
    -------
    DataFrame
        The open invoices (original index) with ``invoice_id``, ``customer_id``,
        ``invoice_date``, ``due_date``, ``disputed``, ``days_past_due`` (days, <= 0 =
        not yet due), ``bucket`` (ordered categorical) and ``outstanding`` (currency; the
        full amount, see the module docstring).

    Examples
    --------
    >>> inv = pd.DataFrame({"invoice_id": ["I1"], "customer_id": ["C1"],
    ...     "invoice_date": pd.to_datetime(["2024-01-05"]), "due_date": pd.to_datetime(["2024-02-04"]),
    ...     "paid_date": pd.to_datetime([None]), "amount": [100.0], "paid_amount": [np.nan],
    ...     "disputed": [False]})
    >>> open_items(inv, "2024-03-01")[["days_past_due", "bucket", "outstanding"]]
       days_past_due bucket  outstanding
    0             26   1-30        100.0
    """
    settings = settings or ProvisionSettings()
    as_of = _as_date(as_of, "as_of")
    led = _ledger(invoices, as_of)
    t = _day(as_of)
    is_open = led.paid >= t
    f = led.frame.loc[is_open]
    dpd = (t - led.due[is_open]).astype(np.int64)
    labels = settings.buckets
    bucket = pd.Categorical.from_codes(_bucket_of(dpd, settings.bucket_edges), categories=list(labels),
                                       ordered=True)
    return pd.DataFrame({
        "invoice_id": f["invoice_id"], "customer_id": f["customer_id"],
        "invoice_date": f["invoice_date"], "due_date": f["due_date"],
        "disputed": f["disputed"].astype(bool),
        "days_past_due": dpd, "bucket": bucket,
        "outstanding": led.amount[is_open],
    }, index=f.index)


def ageing(invoices: pd.DataFrame, as_of: Any, settings: ProvisionSettings | None = None) -> pd.DataFrame:
    """Open receivables at ``as_of`` by days-past-due bucket, with a total row.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger (see :func:`open_items`).
    as_of : date
        Snapshot date.
    settings : ProvisionSettings, optional
        Bucket edges.

    Returns
    -------
    DataFrame
        Index ``bucket`` (every bucket, then ``"Total"``); columns ``invoices`` (count),
        ``gross_carrying_amount`` (currency), ``share`` (of the total) and
        ``disputed_amount`` (currency).

    Examples
    --------
    >>> inv = pd.DataFrame({"invoice_id": ["I1", "I2"], "customer_id": ["C1", "C1"],
    ...     "invoice_date": pd.to_datetime(["2024-01-05", "2024-02-20"]),
    ...     "due_date": pd.to_datetime(["2024-02-04", "2024-03-21"]),
    ...     "paid_date": pd.to_datetime([None, None]), "amount": [100.0, 300.0],
    ...     "paid_amount": [np.nan, np.nan], "disputed": [False, False]})
    >>> ageing(inv, "2024-03-01")["gross_carrying_amount"].tolist()
    [300.0, 100.0, 0.0, 0.0, 0.0, 400.0]
    """
    settings = settings or ProvisionSettings()
    items = open_items(invoices, as_of, settings)
    return _ageing_table(items, settings.buckets)


def _ageing_table(items: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    g = items.groupby("bucket", observed=False)
    out = pd.DataFrame({
        "invoices": g.size().reindex(labels, fill_value=0).astype(int),
        "gross_carrying_amount": g["outstanding"].sum().reindex(labels, fill_value=0.0),
        "disputed_amount": items.loc[items["disputed"]].groupby("bucket", observed=False)["outstanding"]
        .sum().reindex(labels, fill_value=0.0),
    })
    out.index = pd.Index(list(labels), name="bucket")
    out.loc[TOTAL] = [int(out["invoices"].sum()), out["gross_carrying_amount"].sum(), out["disputed_amount"].sum()]
    out["invoices"] = out["invoices"].astype(int)
    total = out.loc[TOTAL, "gross_carrying_amount"]
    out.insert(2, "share", out["gross_carrying_amount"] / total if total > 0 else np.nan)
    return out


# ----------------------------------------------------------------------------------------
# historical loss rates
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LossRates:
    """Historical loss rates per bucket and the month-end observations behind them.

    Attributes
    ----------
    method : str
        ``"roll_rate"`` or ``"cohort"``.
    rates : DataFrame
        Index ``bucket``. ``loss_rate`` (fraction of the bucket's balance lost),
        ``observed_balance`` (currency, the pooled denominator), ``months`` (month-ends
        pooled) and, for the roll-rate method, ``roll_rate`` (share of the balance leaving
        the bucket that is not collected; the last bucket's roll into loss is its loss rate),
        ``direct_loss_share`` (``d_b``) and one ``to_<bucket>`` column per later bucket
        (``f_b->c``).
    observations : DataFrame
        One row per month-end, bucket and kind: ``kind = "roll"`` (one-month transition,
        columns ``balance``, ``collected``, ``lost_on_settlement``, ``stayed``, ``rolled``,
        ``rate`` = roll rate) or ``kind = "outcome"`` (``balance``, ``collected`` within
        the outcome window, ``uncollected``, ``rate`` = loss rate). With ``defaults``
        given, ``balance_defaulted`` is the part of ``balance`` owed by customers already
        in default at the month-end. Currency amounts.
    as_of : Timestamp
        The date the rates are measured at.
    settings : ProvisionSettings
        The settings used.
    """

    method: str
    rates: pd.DataFrame
    observations: pd.DataFrame
    as_of: pd.Timestamp
    settings: ProvisionSettings

    @property
    def loss_rate(self) -> pd.Series:
        """The loss rate per bucket (fraction)."""
        return self.rates["loss_rate"]


def _month_end(as_of: pd.Timestamp, k: int) -> pd.Timestamp:
    return as_of - pd.DateOffset(months=k)


def _defaulted_since(defaults: pd.DataFrame | None, led: _Ledger, as_of: pd.Timestamp) -> np.ndarray | None:
    """Per invoice, the day its customer defaulted (known at ``as_of``), else ``_NEVER``."""
    if defaults is None:
        return None
    if not isinstance(defaults, pd.DataFrame) or not {"customer_id", "default_date"} <= set(defaults.columns):
        raise ProvisionInputError("defaults must be a DataFrame with columns customer_id and default_date")
    if not pd.api.types.is_datetime64_any_dtype(defaults["default_date"]):
        raise ProvisionInputError(f"defaults.default_date has dtype {defaults['default_date'].dtype}; convert it "
                                  "with pd.to_datetime")
    d = defaults.loc[defaults["default_date"] < as_of]
    first = d.groupby("customer_id")["default_date"].min()
    day = pd.Series(_days(first), index=first.index)
    # object dtype: an Arrow-backed id column would map to Arrow integers that cannot hold _NEVER
    return led.frame["customer_id"].astype(object).map(day).fillna(_NEVER).to_numpy(dtype=np.int64)


def _observe(led: _Ledger, t: pd.Timestamp, edges: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    day = _day(t)
    is_open = (led.issued < day) & (led.paid >= day)
    idx = np.flatnonzero(is_open)
    return idx, _bucket_of(day - led.due[idx], edges)


def _check_history(led: _Ledger, as_of: pd.Timestamp, settings: ProvisionSettings) -> None:
    if len(led.issued) == 0:
        raise ProvisionInputError(f"invoices has no invoice issued before as_of = {as_of.date()}; "
                                  "loss rates need history")
    reach = settings.outcome_months + settings.history_months - 1
    earliest = _month_end(as_of, reach)
    first = pd.Timestamp(np.datetime64(int(led.issued.min()), "D"))
    if earliest <= first:
        room = 0
        while _month_end(as_of, settings.outcome_months + room) > first:
            room += 1
        raise ProvisionInputError(
            f"history_months = {settings.history_months} with outcome_months = {settings.outcome_months} reaches "
            f"back to {earliest.date()}, not after the first invoice in the ledger ({first.date()}); use "
            f"history_months <= {room}" + ("" if room else " (none fits: lower outcome_months or move as_of later)"))


def loss_rates(invoices: pd.DataFrame, as_of: Any, settings: ProvisionSettings | None = None,
               defaults: pd.DataFrame | None = None) -> LossRates:
    """Historical loss rate per days-past-due bucket, from the ledger's own history.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger (see :func:`open_items`); only what was known at ``as_of`` is
        used.
    as_of : date
        Measurement date; no information after it is used.
    settings : ProvisionSettings, optional
        Buckets, ``method`` (``"roll_rate"`` or ``"cohort"``), ``history_months`` and
        ``outcome_months``; see the module docstring for the definitions.
    defaults : DataFrame, optional
        ``customer_id``, ``default_date``. Only used to report, per observation, the part of
        the balance owed by customers already in default (``balance_defaulted``); it does
        not change the rates (the loss definition rests on cash collected).

    Returns
    -------
    LossRates
        Rates per bucket and the per-month observations.

    Raises
    ------
    ProvisionInputError
        If the history does not reach back far enough, or a bucket never had a balance
        leave it (roll rate) or never had a balance (cohort) in the pooled month-ends.

    Examples
    --------
    One invoice of 100 due on 1 Feb 2024 that passes through every bucket and is settled
    with 50 on 1 Jul 2024: half of every balance it ever was is lost.

    >>> inv = pd.DataFrame({"invoice_id": ["I1"], "customer_id": ["C1"],
    ...     "invoice_date": pd.to_datetime(["2024-01-02"]), "due_date": pd.to_datetime(["2024-02-01"]),
    ...     "paid_date": pd.to_datetime(["2024-07-01"]), "amount": [100.0], "paid_amount": [50.0],
    ...     "disputed": [False]})
    >>> s = ProvisionSettings(method="cohort", history_months=6, outcome_months=12)
    >>> loss_rates(inv, "2025-07-01", s).loss_rate.tolist()
    [0.5, 0.5, 0.5, 0.5, 0.5]
    """
    settings = settings or ProvisionSettings()
    as_of = _as_date(as_of, "as_of")
    led = _ledger(invoices, as_of)
    _check_history(led, as_of, settings)
    default_day = _defaulted_since(defaults, led, as_of)
    edges, labels = settings.bucket_edges, settings.buckets
    nb, H, W = len(labels), settings.history_months, settings.outcome_months

    rows: list[dict] = []

    def base_row(t: pd.Timestamp, kind: str, b: int, sel: np.ndarray, bal_idx: np.ndarray) -> dict:
        row = {"month_end": t, "bucket": labels[b], "kind": kind, "balance": float(led.amount[bal_idx][sel].sum())}
        if default_day is not None:
            defaulted = default_day[bal_idx][sel] < _day(t)
            row["balance_defaulted"] = float(led.amount[bal_idx][sel][defaulted].sum())
        return row

    # outcome observations: every bucket for the cohort method, the last one for roll rates
    outcome_buckets = range(nb) if settings.method == "cohort" else [nb - 1]
    for k in range(W, W + H):
        t = _month_end(as_of, k)
        horizon = _day(t + pd.DateOffset(months=W))
        idx, b = _observe(led, t, edges)
        collected = np.where(led.paid[idx] < horizon, led.paid_amount[idx], 0.0)
        for j in outcome_buckets:
            sel = b == j
            row = base_row(t, "outcome", j, sel, idx)
            row["collected"] = float(collected[sel].sum())
            row["uncollected"] = row["balance"] - row["collected"]
            rows.append(row)

    roll_to = np.zeros((nb, nb))
    if settings.method == "roll_rate":
        for k in range(1, H + 1):
            t = _month_end(as_of, k)
            nxt = _day(_month_end(as_of, k - 1))
            idx, b = _observe(led, t, edges)
            amt = led.amount[idx]
            settled = led.paid[idx] < nxt
            b_next = _bucket_of(nxt - led.due[idx], edges)
            collected = np.where(settled, led.paid_amount[idx], 0.0)
            lost = np.where(settled, amt - led.paid_amount[idx], 0.0)
            stayed = ~settled & (b_next == b)
            rolled = ~settled & (b_next > b)
            np.add.at(roll_to, (b[rolled], b_next[rolled]), amt[rolled])
            for j in range(nb - 1):
                sel = b == j
                row = base_row(t, "roll", j, sel, idx)
                row.update(collected=float(collected[sel].sum()), lost_on_settlement=float(lost[sel].sum()),
                           stayed=float(amt[sel & stayed].sum()), rolled=float(amt[sel & rolled].sum()))
                rows.append(row)

    obs = pd.DataFrame(rows)
    roll = obs["kind"] == "roll"
    leaving = obs["balance"] - obs["stayed"] if "stayed" in obs else None
    obs["rate"] = np.nan
    if roll.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            obs.loc[roll, "rate"] = ((obs["lost_on_settlement"] + obs["rolled"]) / leaving)[roll]
    out_rows = obs["kind"] == "outcome"
    with np.errstate(invalid="ignore", divide="ignore"):
        obs.loc[out_rows, "rate"] = (obs["uncollected"] / obs["balance"])[out_rows]

    rates = pd.DataFrame(index=pd.Index(list(labels), name="bucket"))
    outcome = obs.loc[out_rows].groupby("bucket", sort=False)[["balance", "uncollected"]].sum()
    outcome_months = obs.loc[out_rows].groupby("bucket", sort=False).size()
    if settings.method == "cohort":
        empty = [lab for lab in labels if outcome.loc[lab, "balance"] <= 0]
        if empty:
            raise ProvisionInputError(
                f"bucket(s) {empty} had no balance at any of the {H} month-ends used, so no loss rate can be "
                "measured; raise history_months or merge those buckets (bucket_edges)")
        rates["observed_balance"] = outcome["balance"].reindex(labels)
        rates["loss_rate"] = (outcome["uncollected"] / outcome["balance"]).reindex(labels)
        rates["months"] = outcome_months.reindex(labels).astype(int)
    else:
        last = labels[-1]
        if outcome.loc[last, "balance"] <= 0:
            raise ProvisionInputError(
                f"bucket {last!r} had no balance at any of the {H} month-ends with a complete outcome, so the roll "
                "into loss cannot be measured; raise history_months or lower the last bucket edge")
        r = obs.loc[roll].groupby("bucket", sort=False)[["balance", "stayed", "lost_on_settlement", "rolled"]].sum()
        r = r.reindex(labels[:-1])
        leave = r["balance"] - r["stayed"]
        empty = [lab for lab in labels[:-1] if not leave.loc[lab] > 0]
        if empty:
            raise ProvisionInputError(
                f"no balance left bucket(s) {empty} in the {H} months observed, so their roll rate is unknown; "
                "raise history_months or merge those buckets (bucket_edges)")
        direct = (r["lost_on_settlement"] / leave).to_numpy()
        flows = roll_to[: nb - 1] / leave.to_numpy()[:, None]
        loss = np.zeros(nb)
        loss[-1] = outcome.loc[last, "uncollected"] / outcome.loc[last, "balance"]
        for j in range(nb - 2, -1, -1):
            loss[j] = direct[j] + flows[j, j + 1:] @ loss[j + 1:]
        rates["observed_balance"] = np.append(leave.to_numpy(), outcome.loc[last, "balance"])
        rates["roll_rate"] = np.append(((r["lost_on_settlement"] + r["rolled"]) / leave).to_numpy(), loss[-1])
        rates["direct_loss_share"] = np.append(direct, np.nan)
        for c in range(1, nb):
            rates[f"to_{labels[c]}"] = np.append(flows[:, c], np.nan)
        rates["loss_rate"] = loss
        rates["months"] = [H] * (nb - 1) + [int(outcome_months.loc[last])]
    return LossRates(method=settings.method, rates=rates, observations=obs, as_of=as_of, settings=settings)


# ----------------------------------------------------------------------------------------
# forward-looking adjustment and the matrix
# ----------------------------------------------------------------------------------------

def _rates_series(rates: pd.Series | LossRates, name: str) -> pd.Series:
    s = rates.loss_rate if isinstance(rates, LossRates) else rates
    if not isinstance(s, pd.Series):
        raise ProvisionInputError(f"{name} must be a pandas Series indexed by bucket or a LossRates result, "
                                  f"got {type(rates).__name__}")
    s = s.astype(float)
    bad = ~np.isfinite(s.to_numpy()) | (s.to_numpy() < 0) | (s.to_numpy() > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"{name}[{s.index[i]!r}] = {_num(s.iloc[i])} must be a fraction in [0, 1] "
                                  "(e.g. 0.016 for 1.6 %)")
    return s


def adjust_for_scenarios(rates: pd.Series | LossRates,
                         scenarios: Mapping[str, tuple[float, float]]) -> pd.Series:
    """Probability-weighted forward-looking loss rates.

    ``adjusted = sum_s weight_s * min(1, multiplier_s * rate)``.

    Parameters
    ----------
    rates : Series or LossRates
        Historical loss rates per bucket, fractions in [0, 1].
    scenarios : mapping
        ``{name: (weight, multiplier)}``; weights in [0, 1] summing to 1, multipliers >= 0.

    Returns
    -------
    Series
        Adjusted rates, same index.

    Examples
    --------
    >>> r = pd.Series({"current": 0.01, ">90": 0.9})
    >>> adjust_for_scenarios(r, {"base": (0.5, 1.0), "down": (0.5, 2.0)}).round(4).tolist()
    [0.015, 0.95]
    """
    s = _rates_series(rates, "rates")
    sc = _check_scenarios(scenarios)
    out = sum(w * np.minimum(1.0, m * s) for w, m in sc.values())
    return pd.Series(out, index=s.index, name="adjusted_loss_rate")


def _gross_series(gross: pd.Series | pd.DataFrame) -> pd.Series:
    if isinstance(gross, pd.DataFrame):
        if "gross_carrying_amount" not in gross.columns:
            raise ProvisionInputError("gross must be a Series indexed by bucket or the ageing table with a "
                                      "gross_carrying_amount column")
        s = gross["gross_carrying_amount"]
        if TOTAL in s.index:
            rest = s.drop(index=TOTAL)
            if not np.isclose(s.loc[TOTAL], rest.sum(), rtol=1e-9, atol=1e-6):
                raise ProvisionInputError(f"gross: the {TOTAL!r} row ({_num(s.loc[TOTAL])}) is not the sum of the "
                                          f"buckets ({_num(rest.sum())}); pass the ageing table unchanged")
            s = rest
    elif isinstance(gross, pd.Series):
        s = gross
    else:
        raise ProvisionInputError(f"gross must be a Series or the ageing DataFrame, got {type(gross).__name__}")
    s = s.astype(float)
    bad = ~np.isfinite(s.to_numpy()) | (s.to_numpy() < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"gross carrying amount of bucket {s.index[i]!r} = {_num(s.iloc[i])} must be "
                                  "finite and >= 0")
    return s


def provision_matrix(gross: pd.Series | pd.DataFrame, rates: pd.Series | LossRates,
                     scenarios: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """The provision matrix: allowance = gross carrying amount x forward-looking loss rate, per bucket.

    Parameters
    ----------
    gross : Series or DataFrame
        Gross carrying amount per bucket (currency), or the :func:`ageing` table.
    rates : Series or LossRates
        Historical loss rate per bucket (fractions); the same buckets as ``gross``.
    scenarios : mapping, optional
        ``{name: (weight, multiplier)}`` for the forward-looking adjustment (see
        :func:`adjust_for_scenarios`); omitted = no adjustment (adjusted = historical).

    Returns
    -------
    DataFrame
        Index ``bucket`` (in the order of ``gross``) plus ``"Total"``; columns
        ``gross_carrying_amount``, ``historical_loss_rate``, ``adjusted_loss_rate``,
        ``allowance``, ``net_carrying_amount`` (currency or fractions). The total row's
        rates are the gross-weighted averages (``allowance / gross`` for the adjusted one).

    Examples
    --------
    >>> g = pd.Series({"current": 1000.0, ">90": 100.0})
    >>> provision_matrix(g, pd.Series({"current": 0.01, ">90": 0.5}))["allowance"].tolist()
    [10.0, 50.0, 60.0]
    """
    g = _gross_series(gross)
    h = _rates_series(rates, "rates")
    missing_rate = [b for b in g.index if b not in h.index]
    missing_gross = [b for b in h.index if b not in g.index]
    if missing_rate or missing_gross or g.index.has_duplicates or h.index.has_duplicates:
        raise ProvisionInputError(
            f"gross and rates must have the same buckets: no rate for {missing_rate}, no gross amount for "
            f"{missing_gross}; use the same bucket_edges for the ageing and the loss rates")
    h = h.reindex(g.index)
    adj = h.copy() if scenarios is None else adjust_for_scenarios(h, scenarios)
    out = pd.DataFrame({
        "gross_carrying_amount": g.to_numpy(),
        "historical_loss_rate": h.to_numpy(),
        "adjusted_loss_rate": adj.to_numpy(),
    }, index=pd.Index([str(b) for b in g.index], name="bucket"))
    out["allowance"] = out["gross_carrying_amount"] * out["adjusted_loss_rate"]
    out["net_carrying_amount"] = out["gross_carrying_amount"] - out["allowance"]
    total_gross = out["gross_carrying_amount"].sum()
    total_allow = out["allowance"].sum()
    hist_total = float((out["gross_carrying_amount"] * out["historical_loss_rate"]).sum())
    out.loc[TOTAL] = [
        total_gross,
        hist_total / total_gross if total_gross > 0 else np.nan,
        total_allow / total_gross if total_gross > 0 else np.nan,
        total_allow,
        total_gross - total_allow,
    ]
    return out


@dataclass(frozen=True, eq=False)
class ProvisionResult:
    """Everything :func:`provision_from_ledger` computes.

    Attributes
    ----------
    items : DataFrame
        Open invoices at ``as_of`` (:func:`open_items`) with ``adjusted_loss_rate`` and
        ``allowance`` (currency) per invoice.
    ageing : DataFrame
        :func:`ageing` table.
    loss_rates : LossRates
        The historical rates and their observations.
    matrix : DataFrame
        :func:`provision_matrix` table.
    allowance : float
        Total allowance after the forward-looking adjustment, currency.
    historical_allowance : float
        Total allowance at the historical rates (no forward-looking adjustment), currency.
    """

    items: pd.DataFrame
    ageing: pd.DataFrame
    loss_rates: LossRates
    matrix: pd.DataFrame
    allowance: float
    historical_allowance: float


def provision_from_ledger(invoices: pd.DataFrame, as_of: Any, settings: ProvisionSettings | None = None,
                          defaults: pd.DataFrame | None = None) -> ProvisionResult:
    """Ageing, historical loss rates and the provision matrix of a ledger at ``as_of``.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger.
    as_of : date
        Reporting date.
    settings : ProvisionSettings, optional
        Buckets, loss-rate method, history and scenarios.
    defaults : DataFrame, optional
        Passed to :func:`loss_rates` for the ``balance_defaulted`` diagnostic.

    Returns
    -------
    ProvisionResult

    Examples
    --------
    >>> from credit_lab.data.synthetic import generate_ledger
    >>> L = generate_ledger(n_customers=200, n_months=24, seed=1)
    >>> res = provision_from_ledger(L.invoices, L.end_date, ProvisionSettings(history_months=12))
    >>> bool(res.allowance > 0)
    True
    """
    settings = settings or ProvisionSettings()
    items = open_items(invoices, as_of, settings)
    table = _ageing_table(items, settings.buckets)
    rates = loss_rates(invoices, as_of, settings, defaults)
    matrix = provision_matrix(table, rates, settings.scenarios)
    adj = matrix["adjusted_loss_rate"].drop(index=TOTAL)
    items = items.assign(adjusted_loss_rate=items["bucket"].astype(str).map(adj).to_numpy(dtype=float))
    items = items.assign(allowance=items["outstanding"] * items["adjusted_loss_rate"])
    hist = float((matrix["gross_carrying_amount"] * matrix["historical_loss_rate"]).drop(index=TOTAL).sum())
    return ProvisionResult(items=items, ageing=table, loss_rates=rates, matrix=matrix,
                           allowance=float(matrix.loc[TOTAL, "allowance"]), historical_allowance=hist)


# ----------------------------------------------------------------------------------------
# PD-based expected loss
# ----------------------------------------------------------------------------------------

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
        raise ProvisionInputError(f"{name} = {_num(arr[i])}{who} is outside {interval}")
    return arr


def lifetime_ecl(exposure: pd.Series, pd_12m: pd.Series | float, lgd: pd.Series | float,
                 months_to_collection: pd.Series | float, discount_rate: float) -> pd.DataFrame:
    """Lifetime expected credit loss of receivables from 12-month PDs.

    ``PD_lifetime = 1 - (1 - PD_12m) ** (t / 12)`` (constant hazard over the year),
    ``ECL = exposure * LGD * PD_lifetime * (1 + discount_rate) ** (-t / 12)`` with ``t``
    the expected months to collection.

    Parameters
    ----------
    exposure : Series
        Open receivables per customer (currency), indexed by customer id.
    pd_12m : Series or float
        12-month PD per customer (fraction); a Series must cover every customer.
    lgd : Series or float
        Loss given default (fraction of exposure).
    months_to_collection : Series or float
        Expected months until the receivables are collected, in [0, 12]: the lifetime of a
        trade receivable (see :func:`expected_months_to_collection`).
    discount_rate : float
        Annual rate the cash shortfall is discounted at (e.g. 0.05); > -1.

    Returns
    -------
    DataFrame
        Index as ``exposure``; columns ``exposure``, ``pd_12m``, ``months_to_collection``,
        ``pd_lifetime``, ``lgd``, ``discount_factor``, ``ecl`` (currency).

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
    r = float(discount_rate)
    if not (math.isfinite(r) and r > -1.0):
        raise ProvisionInputError(f"discount_rate = {discount_rate!r} must be a finite annual rate > -1 (e.g. 0.05)")
    # A customer in default (PD = 1) loses for sure over any positive horizon; 0 ** 0 is taken as "no time".
    p_safe = np.where(p >= 1.0, 0.0, p)
    pd_life = np.where(p >= 1.0, np.where(t > 0, 1.0, 0.0), -np.expm1((t / 12.0) * np.log1p(-p_safe)))
    df = (1.0 + r) ** (-t / 12.0)
    return pd.DataFrame({
        "exposure": ead, "pd_12m": p, "months_to_collection": t, "pd_lifetime": pd_life, "lgd": g,
        "discount_factor": df, "ecl": ead * g * pd_life * df,
    }, index=idx)


def collection_delay_days(invoices: pd.DataFrame, as_of: Any, lookback_months: int = 12) -> float:
    """Average days paid after the due date (amount-weighted, early payment counts as 0).

    Over the invoices paid in the ``lookback_months`` before ``as_of``; input for
    :func:`expected_months_to_collection`.

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
    sel = (led.paid >= start) & (led.paid < _day(as_of))
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
    d = float(delay_days)
    if not (math.isfinite(d) and d >= 0):
        raise ProvisionInputError(f"delay_days = {delay_days!r} must be finite and >= 0")
    for c in ("customer_id", "due_date", "outstanding"):
        if c not in items.columns:
            raise ProvisionInputError(f"items lacks column {c!r}; pass the open_items table")
    wait = np.maximum(_days(items["due_date"]) - _day(as_of), 0) + d
    months = np.minimum(wait / _DAYS_PER_MONTH, 12.0)
    w = items["outstanding"].to_numpy(dtype=float)
    frame = pd.DataFrame({"customer_id": items["customer_id"].to_numpy(), "wm": months * w, "w": w})
    g = frame.groupby("customer_id", sort=True)[["wm", "w"]].sum()
    return (g["wm"] / g["w"]).rename("months_to_collection")


@dataclass(frozen=True, eq=False)
class ExpectedLossTables:
    """12-month and lifetime expected loss by customer, grade and industry.

    Attributes
    ----------
    by_customer : DataFrame
        The input's index; ``grade``, ``industry``, ``exposure``, ``pd_12m``,
        ``months_to_collection``, ``pd_lifetime``, ``lgd``, ``discount_factor``,
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
                        months_to_collection: float | pd.Series | None = None) -> ExpectedLossTables:
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
    life = lifetime_ecl(frame["receivables_open"].astype(float), frame["pd"].astype(float), lgd, t, discount_rate)
    out = pd.concat([frame[["grade", "industry"]], life], axis=1)
    out.insert(out.columns.get_loc("ecl"), "el_12m", life["pd_12m"] * life["lgd"] * life["exposure"])
    out = out.rename(columns={"ecl": "el_lifetime"})
    return ExpectedLossTables(by_customer=out, by_grade=_group_el(out, "grade"),
                              by_industry=_group_el(out, "industry"))


# ----------------------------------------------------------------------------------------
# reconciliation
# ----------------------------------------------------------------------------------------

_SEGMENTS = (
    ("customers in default",
     ("already defaulted before the reporting date: the matrix applies the loss rate of the invoice's ageing bucket, "
      "the PD approach the PD given (1 for a defaulted customer) over the time to collection")),
    ("disputed invoices",
     ("disputes delay payment and raise the loss rate of the bucket they sit in; the PD approach sees only "
      "the customer's PD, not the dispute")),
    ("overdue, not disputed",
     ("past-due balances carry the roll rates of their bucket (the history of balances that were already late); "
      "the PD approach uses the customer's forward PD whatever the ageing")),
    ("current, not disputed",
     ("not yet due: the matrix uses the pooled history of current balances, the PD approach each customer's own "
      "PD over the time to collection")),
)


def reconcile(items: pd.DataFrame, pd_ecl: pd.DataFrame, as_of: Any,
              defaults: pd.DataFrame | None = None) -> pd.DataFrame:
    """Explain the gap between the provision-matrix allowance and the PD-based lifetime ECL.

    Both are split over the same four disjoint segments of the open receivables, in this
    order of precedence: customers already in default at ``as_of``, disputed invoices,
    other overdue invoices, other current invoices. A customer's PD-based ECL is spread
    over its open invoices in proportion to their balance (the ECL is linear in exposure).

    Parameters
    ----------
    items : DataFrame
        Open invoices with their matrix ``allowance`` (:attr:`ProvisionResult.items`).
    pd_ecl : DataFrame
        :func:`lifetime_ecl` output indexed by customer id; its ``exposure`` must equal the
        customer's open balance in ``items``.
    as_of : date
        Reporting date.
    defaults : DataFrame, optional
        ``customer_id``, ``default_date``; without it the first segment is empty.

    Returns
    -------
    DataFrame
        Index ``segment`` plus ``"Total"``; columns ``gross`` (currency),
        ``matrix_allowance``, ``pd_ecl``, ``difference`` (matrix - PD), ``matrix_rate``,
        ``pd_rate`` (of gross) and ``why``.

    Examples
    --------
    >>> items = pd.DataFrame({"customer_id": ["C1"], "disputed": [False], "days_past_due": [-5],
    ...                       "outstanding": [100.0], "allowance": [2.0]})
    >>> ecl = pd.DataFrame({"exposure": [100.0], "ecl": [1.5]}, index=["C1"])
    >>> float(reconcile(items, ecl, "2024-01-01").loc["Total", "difference"])
    0.5
    """
    as_of = _as_date(as_of, "as_of")
    need = ["customer_id", "disputed", "days_past_due", "outstanding", "allowance"]
    missing = [c for c in need if c not in items.columns]
    if missing:
        raise ProvisionInputError(f"items lacks column(s) {missing}; pass ProvisionResult.items")
    if not {"exposure", "ecl"} <= set(pd_ecl.columns):
        raise ProvisionInputError("pd_ecl needs columns exposure and ecl; pass the lifetime_ecl table")
    balance = items.groupby("customer_id")["outstanding"].sum()
    absent = balance.index.difference(pd_ecl.index)
    if len(absent):
        raise ProvisionInputError(f"pd_ecl has no row for {len(absent)} customer(s) with open invoices, e.g. "
                                  f"{absent[0]!r}; compute lifetime_ecl for every customer in items")
    exp = pd_ecl["exposure"].reindex(balance.index).to_numpy(dtype=float)
    off = ~np.isclose(exp, balance.to_numpy(), rtol=1e-9, atol=1e-6)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ProvisionInputError(f"pd_ecl exposure of customer {balance.index[i]!r} is {_num(exp[i])} but its open "
                                  f"invoices add up to {_num(balance.iloc[i])}; use the open balance as exposure")
    extra = pd_ecl.index.difference(balance.index)
    extra_ecl = float(pd_ecl.loc[extra, "ecl"].sum()) if len(extra) else 0.0
    if extra_ecl > 0:
        raise ProvisionInputError(f"pd_ecl has ECL {_num(extra_ecl)} for {len(extra)} customer(s) without open "
                                  f"invoices, e.g. {extra[0]!r}; both sides must cover the same receivables")

    cust = items["customer_id"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ecl_rate = (pd_ecl["ecl"] / pd_ecl["exposure"]).where(pd_ecl["exposure"] > 0, 0.0)
    pd_part = items["outstanding"].to_numpy(dtype=float) * cust.map(ecl_rate).to_numpy(dtype=float)
    if defaults is not None:
        if not {"customer_id", "default_date"} <= set(defaults.columns):
            raise ProvisionInputError("defaults needs columns customer_id and default_date")
        in_default = cust.isin(defaults.loc[defaults["default_date"] < as_of, "customer_id"]).to_numpy()
    else:
        in_default = np.zeros(len(items), dtype=bool)
    disputed = items["disputed"].to_numpy(dtype=bool) & ~in_default
    overdue = (items["days_past_due"].to_numpy() > 0) & ~in_default & ~disputed
    current = ~in_default & ~disputed & ~overdue
    rows = []
    for (name, why), sel in zip(_SEGMENTS, (in_default, disputed, overdue, current)):
        rows.append({"segment": name, "gross": float(items["outstanding"].to_numpy()[sel].sum()),
                     "matrix_allowance": float(items["allowance"].to_numpy()[sel].sum()),
                     "pd_ecl": float(pd_part[sel].sum()), "why": why})
    out = pd.DataFrame(rows).set_index("segment")
    out.loc[TOTAL] = [out["gross"].sum(), out["matrix_allowance"].sum(), out["pd_ecl"].sum(),
                      "matrix allowance minus PD-based lifetime ECL"]
    for c in ("gross", "matrix_allowance", "pd_ecl"):
        out[c] = out[c].astype(float)
    out.insert(3, "difference", out["matrix_allowance"] - out["pd_ecl"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out.insert(4, "matrix_rate", (out["matrix_allowance"] / out["gross"]).where(out["gross"] > 0))
        out.insert(5, "pd_rate", (out["pd_ecl"] / out["gross"]).where(out["gross"] > 0))
    return out
