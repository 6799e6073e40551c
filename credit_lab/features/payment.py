"""Payment and ordering features of any number of snapshots in one pass over the invoices.

The definitions are those of :mod:`credit_lab.features.point_in_time` (see its feature
dictionary): at a snapshot an invoice is *issued* if dated before it, *settled* if also paid
before it, *open* otherwise; windows are the ``lookback_months`` and the 3 months before the
snapshot; ``limit_breaches`` counts the month-ends of the window at which the open balance was
above the credit limit.

How: the invoices are grouped by customer once (a stable counting sort of their rows, so each
customer's invoices keep their input order), then one compiled pass, in parallel over customers,
walks each customer's invoices once: an invoice updates, for every snapshot after its date, the
customer's running sums, counts and maxima, and adds its amount to the customer's balance at every
month-end at which it is open (a contiguous range of the sorted month-ends of all snapshots, found
by binary search), so ``limit_breaches`` needs no pass per month-end. The invoice columns are
copied in customer order a block of customers at a time (``_BLOCK_INVOICES`` rows), so the extra
memory is 8 bytes per invoice (the grouping) plus one block, and the accumulators: 112 bytes per
customer and snapshot and 8 per customer and month-end, less than the features they become; never
invoices x snapshots. Sums are compensated (Kahan) in input row order, as pandas' group-by sums
them, so the features equal the per-snapshot group-bys they replace to the last bit or two (pandas
also adds the zeros of rows outside a sum into its compensated sum; tested to 1e-12 in
``tests/test_features_fast.py``).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_lab.core.config import FeatureParams

__all__ = ["PAYMENT_COLUMNS", "customer_codes", "group_by_customer", "payment_features"]

PAYMENT_COLUMNS = [
    "invoice_count", "days_beyond_terms_mean", "days_beyond_terms_max", "share_late_30", "share_late_60",
    "share_late_90", "max_days_past_due_open", "overdue_share_of_open", "dso_days", "lateness_trend",
    "dispute_rate", "utilisation", "limit_breaches", "tenure_months", "orders_per_month", "ordering_trend",
    "has_payment_history", "receivables_open", "sales_in_window",
]

_NAT = np.iinfo(np.int64).min
_DAY_NS = 86_400_000_000_000.0
_DAYS_PER_MONTH = 30.4375
_LATE_DAYS = (30, 60, 90)
_BLOCK_INVOICES = 1 << 21  # invoices gathered at a time (~90 MB of copies)

# compensated sums per (customer, snapshot)
_S_RECEIVABLES, _S_OVERDUE, _S_SALES, _S_DBT_WINDOW, _S_DBT_RECENT, _S_DBT_PRIOR = range(6)
_N_SUMS = 6
# counts per (customer, snapshot)
(_C_INVOICES, _C_DISPUTED, _C_RECENT_ISSUED, _C_PRIOR_ISSUED, _C_SETTLED, _C_DBT_WINDOW, _C_DBT_RECENT,
 _C_DBT_PRIOR, _C_DUE_WINDOW, _C_LATE_30, _C_LATE_60, _C_LATE_90) = range(12)
_N_COUNTS = 12
# maxima per (customer, snapshot)
_M_LATENESS, _M_PAST_DUE_OPEN = 0, 1


@numba.njit(cache=True, inline="always")
def _kahan_add(total, comp, value):
    # pandas' group_sum / group_mean: the same operations, in the same row order
    y = value - comp
    t = total + y
    comp = t - total - y
    return t, (0.0 if comp != comp else comp)


@numba.njit(cache=True, inline="always")
def _add(sums, comps, c, s, k, value):
    """``sums[c, s, k] += value``, compensated; ``comps`` holds the customer's compensations."""
    sums[c, s, k], comps[s, k] = _kahan_add(sums[c, s, k], comps[s, k], value)


@numba.njit(cache=True, inline="always")
def _nan_max(current, value):
    return value if value == value and not (current >= value) else current


@numba.njit(cache=True)
def group_by_customer(codes, n_customers):
    """Stable counting sort of rows by customer code (-1 dropped): (positions, segment starts).

    Customer ``c``'s rows, in input order, are ``positions[starts[c]:starts[c + 1]]`` (also used by the replay).
    """
    starts = np.zeros(n_customers + 1, dtype=np.int64)
    for i in range(codes.shape[0]):
        if codes[i] >= 0:
            starts[codes[i] + 1] += 1
    for c in range(n_customers):
        starts[c + 1] += starts[c]
    fill = starts[:-1].copy()
    positions = np.empty(starts[n_customers], dtype=np.int64)
    for i in range(codes.shape[0]):
        c = codes[i]
        if c >= 0:
            positions[fill[c]] = i
            fill[c] += 1
    return positions, starts


@numba.njit(parallel=True, cache=True)
def _gather(rows, issued, due, paid, amount, disputed):
    """The invoice columns at ``rows`` (a parallel gather: random reads dominate)."""
    n = rows.shape[0]
    out_issued = np.empty(n, dtype=np.int64)
    out_due = np.empty(n, dtype=np.int64)
    out_paid = np.empty(n, dtype=np.int64)
    out_amount = np.empty(n, dtype=np.float64)
    out_disputed = np.empty(n, dtype=np.bool_)
    for k in numba.prange(n):
        i = rows[k]
        out_issued[k] = issued[i]
        out_due[k] = due[i]
        out_paid[k] = paid[i]
        out_amount[k] = amount[i]
        out_disputed[k] = disputed[i]
    return out_issued, out_due, out_paid, out_amount, out_disputed


@numba.njit(parallel=True, cache=True)
def _accumulate(starts, issued, due, paid, amount, disputed, snaps, window_starts, recent_starts, month_ends,
                sums, counts, maxima, balance):
    """Per customer (in parallel), its invoices in input order: sums, counts, maxima per snapshot, month-end balances.

    Dates are int64 nanoseconds with ``_NAT`` for missing; ``snaps`` and ``month_ends`` sorted
    ascending; rows ``starts[c]:starts[c + 1]`` of the invoice columns are customer ``c``'s, in
    input order. Fills ``sums``, ``counts``, ``maxima`` (customer, snapshot, kind) and ``balance``
    (customer, month-end), zero-initialised.
    """
    n_customers = starts.shape[0] - 1
    n_snap = snaps.shape[0]
    n_me = month_ends.shape[0]
    for c in numba.prange(n_customers):
        comps = np.zeros((n_snap, _N_SUMS))
        balance_comp = np.zeros(n_me)
        for s in range(n_snap):
            maxima[c, s, _M_LATENESS] = np.nan
            maxima[c, s, _M_PAST_DUE_OPEN] = 0.0
        for i in range(starts[c], starts[c + 1]):
            t_issue = issued[i]
            if t_issue == _NAT:
                continue
            t_due = due[i]
            t_paid = paid[i]
            has_due = t_due != _NAT
            has_paid = t_paid != _NAT
            amt = amount[i]
            # open at a month-end when issued before it and not paid before it: a range of month-ends
            lo = np.searchsorted(month_ends, t_issue, side="right")
            hi = np.searchsorted(month_ends, t_paid, side="right") if has_paid else n_me
            for j in range(lo, hi):
                balance[c, j], balance_comp[j] = _kahan_add(balance[c, j], balance_comp[j], amt)
            dbt = np.nan
            if has_paid and has_due:
                dbt = max((t_paid - t_due) / _DAY_NS, 0.0)
            for s in range(np.searchsorted(snaps, t_issue, side="right"), n_snap):
                snap = snaps[s]
                ws = window_starts[s]
                rs = recent_starts[s]
                overdue_days = max((snap - t_due) / _DAY_NS, 0.0) if has_due else np.nan
                if t_issue >= ws:
                    counts[c, s, _C_INVOICES] += 1
                    _add(sums, comps, c, s, _S_SALES, amt)
                    if disputed[i]:
                        counts[c, s, _C_DISPUTED] += 1
                    if t_issue < rs:
                        counts[c, s, _C_PRIOR_ISSUED] += 1
                if t_issue >= rs:
                    counts[c, s, _C_RECENT_ISSUED] += 1
                settled = has_paid and t_paid < snap
                if settled:
                    counts[c, s, _C_SETTLED] += 1
                    paid_in_window = t_paid >= ws
                    if paid_in_window:
                        maxima[c, s, _M_LATENESS] = _nan_max(maxima[c, s, _M_LATENESS], dbt)
                    if dbt == dbt:
                        if paid_in_window:
                            counts[c, s, _C_DBT_WINDOW] += 1
                            _add(sums, comps, c, s, _S_DBT_WINDOW, dbt)
                        if t_paid >= rs:
                            counts[c, s, _C_DBT_RECENT] += 1
                            _add(sums, comps, c, s, _S_DBT_RECENT, dbt)
                        elif paid_in_window:
                            counts[c, s, _C_DBT_PRIOR] += 1
                            _add(sums, comps, c, s, _S_DBT_PRIOR, dbt)
                else:
                    _add(sums, comps, c, s, _S_RECEIVABLES, amt)
                    if has_due and (t_due >= ws or t_due < snap):
                        maxima[c, s, _M_LATENESS] = _nan_max(maxima[c, s, _M_LATENESS], overdue_days)
                    if has_due and t_due < snap:
                        _add(sums, comps, c, s, _S_OVERDUE, amt)
                        maxima[c, s, _M_PAST_DUE_OPEN] = _nan_max(maxima[c, s, _M_PAST_DUE_OPEN], overdue_days)
                if has_due and t_due >= ws and t_due < snap:
                    counts[c, s, _C_DUE_WINDOW] += 1
                    late = dbt if settled else overdue_days
                    if late > 30:
                        counts[c, s, _C_LATE_30] += 1
                    if late > 60:
                        counts[c, s, _C_LATE_60] += 1
                    if late > 90:
                        counts[c, s, _C_LATE_90] += 1


def _ns(values) -> np.ndarray:
    """Dates as int64 nanoseconds (NaT -> the int64 minimum)."""
    return np.asarray(values, dtype="datetime64[ns]").view(np.int64)


def customer_codes(ids: pd.Series | pd.Index, customer_ids: pd.Series | pd.Index) -> np.ndarray:
    """Row of each id in ``customer_ids`` (unique), -1 where absent; hashes Arrow strings without Python objects."""
    try:
        values = pa.array(ids, from_pandas=True)
        value_set = pa.array(customer_ids, from_pandas=True)
        if values.type != value_set.type:
            value_set = value_set.cast(values.type)
        found = pc.fill_null(pc.index_in(values, value_set=value_set), -1)
        return found.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    except (pa.ArrowException, TypeError, ValueError):  # ids Arrow cannot compare: pandas' hash table
        return pd.Index(customer_ids).get_indexer(pd.Index(ids)).astype(np.int64, copy=False)


def _months_before(snap: pd.Timestamp, months: int) -> int:
    return int(_ns([np.datetime64(snap - pd.DateOffset(months=months), "ns")])[0])


def payment_features(invoices: pd.DataFrame, customers: pd.DataFrame, snapshots: list[pd.Timestamp],
                     rows: list[np.ndarray], params: FeatureParams) -> list[pd.DataFrame]:
    """Payment and ordering features of ``customers.iloc[rows[k]]`` at ``snapshots[k]``, for every k.

    Parameters
    ----------
    invoices : validated invoices (``customer_id``, ``invoice_date``, ``due_date``, ``paid_date``,
        ``amount``, ``disputed``); invoices of customers not in ``customers`` are ignored.
    customers : the customer table (unique ``customer_id``, ``credit_limit``, ``onboarding_date``).
    snapshots : as-of dates, any order; only invoices dated and payments made strictly before a
        snapshot count for it.
    rows : for each snapshot, the positions in ``customers`` of the customers to return (its population).
    params : the lookback window.

    Returns
    -------
    One DataFrame per snapshot, indexed by ``customer_id`` in the order of ``rows[k]``, columns
    :data:`PAYMENT_COLUMNS`.
    """
    snaps = [pd.Timestamp(s) for s in snapshots]
    unique_snaps = sorted(set(snaps))
    snap_ns = np.array([_months_before(s, 0) for s in unique_snaps], dtype=np.int64)
    window_ns = np.array([_months_before(s, params.lookback_months) for s in unique_snaps], dtype=np.int64)
    recent_ns = np.array([_months_before(s, 3) for s in unique_snaps], dtype=np.int64)
    month_end_of = {s: [_months_before(s, m) for m in range(params.lookback_months)] for s in unique_snaps}
    month_ends = np.array(sorted({t for ends in month_end_of.values() for t in ends}), dtype=np.int64)

    codes = customer_codes(invoices["customer_id"], customers["customer_id"])
    disputed = (invoices["disputed"].to_numpy(dtype=bool) if "disputed" in invoices
                else np.zeros(len(invoices), dtype=bool))
    columns = (_ns(invoices["invoice_date"]), _ns(invoices["due_date"]), _ns(invoices["paid_date"]),
               invoices["amount"].to_numpy(dtype=float), disputed)
    n_customers, n_snap = len(customers), len(unique_snaps)
    sums = np.zeros((n_customers, n_snap, _N_SUMS))
    counts = np.zeros((n_customers, n_snap, _N_COUNTS), dtype=np.int32)
    maxima = np.zeros((n_customers, n_snap, 2))
    balance = np.zeros((n_customers, len(month_ends)))
    positions, starts = group_by_customer(codes, n_customers)
    del codes
    first = 0
    while first < n_customers:  # blocks of customers with about _BLOCK_INVOICES invoices: bounded copies
        last = max(int(np.searchsorted(starts, starts[first] + _BLOCK_INVOICES, side="right")) - 1, first + 1)
        block = _gather(positions[starts[first]:starts[last]], *columns)
        _accumulate(starts[first:last + 1] - starts[first], *block, snap_ns, window_ns, recent_ns, month_ends,
                    sums[first:last], counts[first:last], maxima[first:last], balance[first:last])
        first = last
    del positions

    limit_all = customers["credit_limit"].to_numpy(dtype=float)
    onboard_all = np.asarray(customers["onboarding_date"], dtype="datetime64[ns]")
    ids_all = customers["customer_id"]
    out = []
    for snap, take in zip(snaps, rows):
        s = unique_snaps.index(snap)
        take = np.asarray(take, dtype=np.int64)
        out.append(_snapshot_frame(sums[take, s], counts[take, s].astype(float), maxima[take, s],
                                   balance[take][:, np.searchsorted(month_ends, month_end_of[snap])],
                                   limit_all[take], onboard_all[take], snap, window_ns[s],
                                   pd.Index(ids_all.iloc[take], name="customer_id"), params))
    return out


def _snapshot_frame(sums: np.ndarray, counts: np.ndarray, maxima: np.ndarray, balances: np.ndarray,
                    limit: np.ndarray, onboard: np.ndarray, snap: pd.Timestamp, window_start_ns: int,
                    idx: pd.Index, params: FeatureParams) -> pd.DataFrame:
    """The accumulators of one snapshot turned into features (the same arithmetic as the group-by version)."""

    def mean(total: np.ndarray, n: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(n > 0, total / n, np.nan)

    def where(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return np.where(keep, values, np.nan)

    receivables = sums[:, _S_RECEIVABLES]
    sales = sums[:, _S_SALES]
    invoice_count = counts[:, _C_INVOICES]
    snap64 = np.datetime64(snap, "ns")
    window_days = float((snap64 - np.datetime64(int(window_start_ns), "ns")) / np.timedelta64(1, "D"))
    tenure_months = ((np.full(len(idx), snap64) - onboard) / np.timedelta64(1, "D")) / _DAYS_PER_MONTH
    months_active = np.clip(np.minimum(tenure_months, params.lookback_months), 1.0, None)
    rate_recent = counts[:, _C_RECENT_ISSUED] / 3.0
    rate_prior = counts[:, _C_PRIOR_ISSUED] / max(params.lookback_months - 3, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = {
            "invoice_count": invoice_count,
            "days_beyond_terms_mean": mean(sums[:, _S_DBT_WINDOW], counts[:, _C_DBT_WINDOW]),
            "days_beyond_terms_max": maxima[:, _M_LATENESS],
            **{f"share_late_{k}": mean(counts[:, late], counts[:, _C_DUE_WINDOW])
               for k, late in zip(_LATE_DAYS, (_C_LATE_30, _C_LATE_60, _C_LATE_90))},
            "max_days_past_due_open": maxima[:, _M_PAST_DUE_OPEN],
            "overdue_share_of_open": where(sums[:, _S_OVERDUE] / receivables, receivables > 0),
            "dso_days": where(receivables / sales * window_days, sales > 0),
            "lateness_trend": (mean(sums[:, _S_DBT_RECENT], counts[:, _C_DBT_RECENT])
                               - mean(sums[:, _S_DBT_PRIOR], counts[:, _C_DBT_PRIOR])),
            "dispute_rate": mean(counts[:, _C_DISPUTED], invoice_count),
            "utilisation": where(receivables / limit, limit > 0),
            "limit_breaches": ((balances > limit[:, None]) & (limit[:, None] > 0)).sum(axis=1).astype(float),
            "tenure_months": tenure_months,
            "orders_per_month": invoice_count / months_active,
            "ordering_trend": where(rate_recent / rate_prior,
                                    (rate_prior > 0) & (tenure_months >= params.lookback_months)),
            "has_payment_history": (counts[:, _C_SETTLED] > 0).astype(float),
            "receivables_open": receivables,
            "sales_in_window": sales,
        }
    return pd.DataFrame(columns, index=idx)[PAYMENT_COLUMNS]
