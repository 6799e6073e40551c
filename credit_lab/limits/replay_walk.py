"""The walk of a limit policy replay: a period's orders served against the limits set at its review.

Given review dates ``r_0 < r_1 < ... < r_{K-1}`` and the end of the window, period ``k`` is
``[r_k, r_{k+1})`` (the last one ends at ``end_date``). Each customer's invoices (its orders) are
walked in date order (ties in the order of the input rows) against the open receivable of what was
*served* before and is not yet paid at the order's date:

* an order that would take the open receivable above the limit set at the period's review is
  blocked (``partial=True``: served up to the headroom, the rest blocked); an exposure exactly at
  the limit is allowed;
* a served invoice is paid as it was in the ledger (``paid_date``, whatever ``paid_amount``: a
  settlement short of the amount is a write-off of the rest); an unpaid one stays open until the
  customer's default or the end; a partly served invoice is paid in the same proportion on the
  same date; a blocked one never enters the receivable;
* within a day, payments dated that day come first, then the day's orders, then a default dated
  that day; so a receivable paid on the default date is not exposure at default;
* **no credit to a defaulted customer**: every order dated on or after the customer's first
  default is blocked (the synthetic ledger has none; a real one may);
* invoices dated before the first review are served as they were (the book the replay starts
  from); they count in the open receivable, the exposure and the exposure at default, not in the
  served or blocked sales; invoices dated on or after the end are ignored;
* a customer defaulting inside the window leaves its open receivable at the default date as
  exposure at default (EAD); its loss is the sum over those open invoices of served amount x the
  invoice's loss share (a flat LGD, or each invoice's own shortfall in the ledger:
  ``1 - paid_amount / amount``, the whole invoice when never paid). Exposure stops counting at the
  default (it is loss from then on).

The customer's limit in a period is its row of ``limits`` at the period's review; a customer
without one (onboarded after the review, or left out by the policy) is served against
``default_limit``.

The kernel is compiled with numba and runs in parallel over customers: a counting sort groups the
invoices by customer, each customer's slice is sorted by date, and a pointer over the slice sorted
by paid date (a two-pointer merge) keeps the open receivable at each order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from credit_lab.core.exceptions import CreditLabError
from credit_lab.features.payment import group_by_customer

__all__ = ["ReplayInputError", "WalkResult", "walk_arrays", "walk_orders"]

_NEVER = np.iinfo(np.int64).max // 4  # a paid day / default day that never comes
_DAY_NS = 86_400_000_000_000


class ReplayInputError(CreditLabError, ValueError):
    """Input of a limit policy replay that cannot be walked (missing column, unsorted reviews, bad LGD)."""


@numba.njit(parallel=True, cache=True)
def _sort_segments_by_day(positions: np.ndarray, starts: np.ndarray, day: np.ndarray) -> None:
    """Sort each customer's positions by ``day`` in place, stably (ties keep the input order)."""
    for c in numba.prange(starts.shape[0] - 1):
        s, e = starts[c], starts[c + 1]
        if e - s < 2:
            continue
        seg = positions[s:e]
        already = True
        for j in range(1, e - s):
            if day[seg[j]] < day[seg[j - 1]]:
                already = False
                break
        if already:
            continue
        order = np.argsort(day[seg], kind="mergesort")
        positions[s:e] = seg[order]


@numba.njit(parallel=True, cache=True)
def _gather(positions, inv_day, paid_day, amount, loss_share):
    """The invoice arrays in grouped order (a parallel gather: random reads dominate at 10M rows)."""
    n = positions.shape[0]
    day_out = np.empty(n, dtype=np.int64)
    paid_out = np.empty(n, dtype=np.int64)
    amount_out = np.empty(n, dtype=np.float64)
    share_out = np.empty(n, dtype=np.float64)
    for i in numba.prange(n):
        j = positions[i]
        day_out[i] = inv_day[j]
        paid_out[i] = paid_day[j]
        amount_out[i] = amount[j]
        share_out[i] = loss_share[j]
    return day_out, paid_out, amount_out, share_out


@numba.njit(parallel=True, cache=True)
def _scatter(positions, values):
    """``values`` (grouped order) back to the input order."""
    out = np.empty(values.shape[0], dtype=np.float64)
    for i in numba.prange(values.shape[0]):
        out[positions[i]] = values[i]
    return out


@numba.njit(parallel=True, cache=True)
def _walk_kernel(starts, inv_day, paid_day, amount, loss_share, limit, bounds, default_day, partial,
                 served, out_served_n, out_served_amt, out_blocked_n, out_blocked_amt, out_exposure_days,
                 out_ead, out_loss):
    """The walk on invoices grouped by customer and sorted by date (see the module docstring)."""
    n_periods = bounds.shape[0] - 1
    first, end = bounds[0], bounds[n_periods]
    for c in numba.prange(starts.shape[0] - 1):
        s, e = starts[c], starts[c + 1]
        m = e - s
        dday = default_day[c]
        if m == 0:
            continue
        by_paid = np.argsort(paid_day[s:e], kind="mergesort")  # stable: ties in date order
        open_amt = 0.0
        p = 0
        last = s  # one past the last invoice inside the window
        k = 0
        for i in range(s, e):
            d = inv_day[i]
            if d >= end:
                break
            last = i + 1
            # Payments dated up to the order's day, of invoices decided before it, leave the receivable.
            while p < m:
                j = s + by_paid[p]
                if paid_day[j] <= d and j < i:
                    open_amt -= served[j]
                    p += 1
                else:
                    break
            a = amount[i]
            if d < first:
                served[i] = a
                open_amt += a
                continue
            while bounds[k + 1] <= d:
                k += 1
            give = 0.0
            if d < dday:
                headroom = limit[c, k] - open_amt
                if a <= headroom + 1e-9 * max(1.0, abs(a)):
                    give = a
                elif partial and headroom > 0.0:
                    give = headroom
            served[i] = give
            open_amt += give
            if give > 0.0:
                out_served_n[c, k] += 1
                out_served_amt[c, k] += give
            if give < a:
                out_blocked_n[c, k] += 1
                out_blocked_amt[c, k] += a - give
        # Exposure at default: what is still open after the payments dated up to the default day.
        if first <= dday < end:
            while p < m:
                j = s + by_paid[p]
                if j < last and paid_day[j] <= dday:
                    open_amt -= served[j]
                    p += 1
                else:
                    break
            kd = 0
            while bounds[kd + 1] <= dday:
                kd += 1
            ead = 0.0
            loss = 0.0
            for q in range(p, m):
                j = s + by_paid[q]
                if j < last and served[j] > 0.0 and paid_day[j] > dday:
                    ead += served[j]
                    loss += served[j] * loss_share[j]
            out_ead[c, kd] += ead
            out_loss[c, kd] += loss
        # Time-weighted exposure: each served invoice is open on the days [issued, closed).
        stop = min(end, dday)
        for j in range(s, last):
            x = served[j]
            if x <= 0.0:
                continue
            lo = max(inv_day[j], first)
            hi = min(paid_day[j], stop)
            if hi <= lo:
                continue
            kk = 0
            while bounds[kk + 1] <= lo:
                kk += 1
            while kk < n_periods and bounds[kk] < hi:
                days = min(hi, bounds[kk + 1]) - max(lo, bounds[kk])
                if days > 0:
                    out_exposure_days[c, kk] += x * days
                kk += 1


@dataclass(frozen=True, eq=False)
class WalkResult:
    """The walk's output: per customer and period, and per invoice.

    Attributes
    ----------
    table : DataFrame
        One row per customer and period: ``customer_id``, ``review_date``, ``period_days``,
        ``orders_served``, ``served_amount``, ``orders_blocked`` (blocked wholly or in part),
        ``blocked_amount``, ``blocked_margin`` (``gross_margin`` x blocked amount),
        ``average_exposure`` (time-weighted open receivable over the period, currency),
        ``exposure_at_default`` and ``loss`` (in the period of the default).
    served_amount : ndarray
        Per invoice, in the input's row order: the amount served (the whole amount before the
        first review, 0 for an invoice on or after the end).
    """

    table: pd.DataFrame
    served_amount: np.ndarray


def walk_arrays(customer_code: np.ndarray, invoice_day: np.ndarray, paid_day: np.ndarray, amount: np.ndarray,
                loss_share: np.ndarray, limit: np.ndarray, bounds: np.ndarray, default_day: np.ndarray,
                partial: bool = False) -> dict[str, np.ndarray]:
    """The walk on plain arrays (days as integers); what :func:`walk_orders` calls.

    Parameters
    ----------
    customer_code : int array (n_invoices,)
        0..n_customers-1.
    invoice_day, paid_day : int arrays (n_invoices,)
        Day numbers; an unpaid invoice has a ``paid_day`` beyond every other day.
    amount, loss_share : float arrays (n_invoices,)
        The invoice amount (currency) and the share of it lost when open at a default (0-1).
    limit : float array (n_customers, n_periods)
        The limit of each customer in each period (currency; ``inf`` = unlimited).
    bounds : int array (n_periods + 1,)
        The review days and the end day, increasing.
    default_day : int array (n_customers,)
        The first default's day, or a day beyond every other.
    partial : bool
        Serve a too-large order up to the headroom.

    Returns
    -------
    dict of arrays
        ``served`` (per invoice, input order) and (n_customers, n_periods) arrays ``served_n``,
        ``served_amount``, ``blocked_n``, ``blocked_amount``, ``exposure_days`` (currency x days),
        ``ead``, ``loss``.
    """
    n_customers, n_periods = limit.shape
    codes = np.ascontiguousarray(customer_code, dtype=np.int64)
    positions, starts = group_by_customer(codes, n_customers)
    inv_day = np.ascontiguousarray(invoice_day, dtype=np.int64)
    _sort_segments_by_day(positions, starts, inv_day)
    served = np.zeros(len(codes))
    cells = {name: np.zeros((n_customers, n_periods)) for name in (
        "served_n", "served_amount", "blocked_n", "blocked_amount", "exposure_days", "ead", "loss")}
    grouped = _gather(positions, inv_day, np.ascontiguousarray(paid_day, dtype=np.int64),
                      np.ascontiguousarray(amount, dtype=np.float64),
                      np.ascontiguousarray(loss_share, dtype=np.float64))
    _walk_kernel(starts, *grouped, np.ascontiguousarray(limit, dtype=np.float64), np.asarray(bounds, dtype=np.int64),
                 np.asarray(default_day, dtype=np.int64), bool(partial), served, cells["served_n"],
                 cells["served_amount"], cells["blocked_n"], cells["blocked_amount"], cells["exposure_days"],
                 cells["ead"], cells["loss"])
    cells["served"] = _scatter(positions, served)
    return cells


def _days(values: pd.Series | np.ndarray | pd.DatetimeIndex) -> np.ndarray:
    """Day numbers of datetimes (NaT -> never)."""
    ns = np.asarray(pd.to_datetime(values)).astype("datetime64[ns]")
    nat = np.isnat(ns)
    days = np.floor_divide(ns.astype(np.int64), _DAY_NS)
    return np.where(nat, _NEVER, days)


def _loss_share(invoices: pd.DataFrame, lgd: float | None) -> np.ndarray:
    if lgd is not None:
        if not 0.0 <= float(lgd) <= 1.0:
            raise ReplayInputError(f"lgd = {lgd!r} must be a share in [0, 1], or None for each invoice's own "
                                   "shortfall in the ledger")
        return np.full(len(invoices), float(lgd))
    amount = invoices["amount"].to_numpy(dtype=float)
    if "paid_amount" in invoices:
        paid_amount = invoices["paid_amount"].to_numpy(dtype=float)
    else:
        paid_amount = np.where(invoices["paid_date"].isna(), np.nan, amount)
    paid_amount = np.where(invoices["paid_date"].isna().to_numpy(), 0.0, np.nan_to_num(paid_amount, nan=amount))
    return np.clip(1.0 - paid_amount / amount, 0.0, 1.0)


def walk_orders(invoices: pd.DataFrame, limits: pd.DataFrame, reviews, defaults: pd.DataFrame | None = None,
                partial: bool = False, lgd: float | None = None, end_date=None, default_limit: float = 0.0,
                gross_margin: float = 0.0) -> WalkResult:
    """Walk every customer's orders against the limits set at each review (see the module docstring).

    Parameters
    ----------
    invoices : DataFrame
        ``customer_id``, ``invoice_date``, ``amount``, ``paid_date`` (NaT = unpaid); ``paid_amount``
        when ``lgd`` is None.
    limits : DataFrame
        ``review_date``, ``customer_id``, ``limit`` (currency): the limit set at each review.
    reviews : sequence of dates
        The review dates, strictly increasing.
    defaults : DataFrame, optional
        ``customer_id``, ``default_date``; a customer's first default counts.
    partial : bool, default False
        Serve an order that would exceed the limit up to the headroom instead of blocking it whole.
    lgd : float or None, default None
        Loss given default as a share of the exposure at default; None: each open invoice's own
        shortfall in the ledger (``1 - paid_amount / amount``; the whole amount when never paid).
    end_date : date, optional
        End of the last period (exclusive); default the day after the latest invoice or default.
    default_limit : float, default 0
        The limit of a customer without a row at a review (currency).
    gross_margin : float, default 0
        Gross margin as a share of sales, for ``blocked_margin``.

    Returns
    -------
    WalkResult

    Examples
    --------
    >>> inv = pd.DataFrame({"customer_id": ["A", "A"], "invoice_date": pd.to_datetime(["2024-01-02", "2024-01-05"]),
    ...     "amount": [60.0, 60.0], "paid_date": pd.to_datetime(["2024-02-01", None])})
    >>> lim = pd.DataFrame({"review_date": pd.to_datetime(["2024-01-01"]), "customer_id": ["A"], "limit": [100.0]})
    >>> walk_orders(inv, lim, ["2024-01-01"], end_date="2024-03-01").served_amount.tolist()
    [60.0, 0.0]
    """
    for name, frame, cols in (("invoices", invoices, ("customer_id", "invoice_date", "amount", "paid_date")),
                              ("limits", limits, ("review_date", "customer_id", "limit"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ReplayInputError(f"table {name!r} lacks column(s) {missing}; it needs {list(cols)}")
    review_dates = pd.DatetimeIndex(pd.to_datetime(list(reviews))).normalize()
    if len(review_dates) == 0 or not review_dates.is_monotonic_increasing or not review_dates.is_unique:
        raise ReplayInputError(f"reviews must be one or more strictly increasing dates; got {list(review_dates)}")
    if defaults is None:
        defaults = pd.DataFrame({"customer_id": pd.Series([], dtype=object),
                                 "default_date": pd.Series([], dtype="datetime64[ns]")})
    if end_date is None:
        latest = [invoices["invoice_date"].max(), defaults["default_date"].max(), review_dates[-1]]
        end = max(pd.Timestamp(x) for x in latest if pd.notna(x)) + pd.Timedelta(days=1)
    else:
        end = pd.Timestamp(end_date).normalize()
    if end <= review_dates[-1]:
        raise ReplayInputError(f"end_date {end.date()} must come after the last review {review_dates[-1].date()}")

    ids = pd.Index(pd.unique(pd.concat([invoices["customer_id"], limits["customer_id"], defaults["customer_id"]],
                                       ignore_index=True)))
    codes = ids.get_indexer(invoices["customer_id"])
    bounds = np.append(_days(review_dates), _days(pd.DatetimeIndex([end])))
    n_periods = len(review_dates)

    limit = np.full((len(ids), n_periods), float(default_limit))
    period = review_dates.get_indexer(pd.to_datetime(limits["review_date"]).dt.normalize())
    if (period < 0).any():
        bad = limits.loc[period < 0, "review_date"].iloc[0]
        raise ReplayInputError(f"table 'limits' has review_date {bad}, not one of the reviews")
    limit[ids.get_indexer(limits["customer_id"]), period] = limits["limit"].to_numpy(dtype=float)

    default_day = np.full(len(ids), _NEVER, dtype=np.int64)
    if len(defaults):
        first_default = defaults.groupby("customer_id")["default_date"].min()
        default_day[ids.get_indexer(first_default.index)] = _days(first_default.to_numpy())

    cells = walk_arrays(codes, _days(invoices["invoice_date"]), _days(invoices["paid_date"]),
                        invoices["amount"].to_numpy(dtype=float), _loss_share(invoices, lgd), limit, bounds,
                        default_day, partial)
    period_days = np.diff(bounds).astype(float)
    table = pd.DataFrame({
        "customer_id": np.repeat(ids.to_numpy(), n_periods),
        "review_date": np.tile(review_dates.to_numpy(), len(ids)),
        "period_days": np.tile(period_days, len(ids)),
        "orders_served": cells["served_n"].ravel().astype(np.int64),
        "served_amount": cells["served_amount"].ravel(),
        "orders_blocked": cells["blocked_n"].ravel().astype(np.int64),
        "blocked_amount": cells["blocked_amount"].ravel(),
        "blocked_margin": float(gross_margin) * cells["blocked_amount"].ravel(),
        "average_exposure": (cells["exposure_days"] / period_days[None, :]).ravel(),
        "exposure_at_default": cells["ead"].ravel(),
        "loss": cells["loss"].ravel(),
    })
    return WalkResult(table=table, served_amount=cells["served"])
