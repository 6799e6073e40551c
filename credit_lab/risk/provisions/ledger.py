"""Invoice-table checks and day arithmetic: the ledger as day numbers known at ``as_of``.

Dates become whole days since the epoch; a payment not made (or not known) at ``as_of`` gets
the day ``_NEVER``, so "open at t" is a plain comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.formatting import plain_number
from credit_lab.features.payment import customer_codes
from credit_lab.risk.provisions.settings import ProvisionInputError

_INVOICE_COLUMNS = ("invoice_id", "customer_id", "invoice_date", "due_date", "paid_date", "amount",
                    "paid_amount", "disputed")


# A payment date nobody reaches: stands for "not paid (as far as is known at as_of)".
_NEVER = np.int64(2**62)


_DAYS_PER_MONTH = 365.25 / 12.0


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
    days = arr.astype("datetime64[D]").view(np.int64)  # one per-row array, not three (8 bytes per invoice each)
    days[np.isnat(arr)] = _NEVER
    return days


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
        raise ProvisionInputError(f"invoices.amount = {plain_number(amount[i])}"
                                  f" (invoice {invoices['invoice_id'].iloc[i]!r}) "
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
            f"invoices.paid_amount = {plain_number(pamt[i])} for invoice {invoices['invoice_id'].iloc[i]!r} (amount "
            f"{plain_number(amount[i])}"
            f", paid on {invoices['paid_date'].iloc[i].date()}) must be between 0 and the amount; "
            "overpayments and missing payment amounts must be fixed in the ledger")
    bad = ~paid & np.isfinite(pamt)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"invoices.paid_amount = {plain_number(pamt[i])} for invoice "
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
    # The whole frame when nothing is cut: a row selection would copy every column (ids included)
    # of a ledger that is usually all before as_of.
    frame = invoices if keep.all() else invoices.loc[keep]
    issued = issued_all if frame is invoices else issued_all[keep]
    del issued_all
    paid = _days(frame["paid_date"])
    unknown = paid >= cut
    paid[unknown] = _NEVER  # in place: each of these arrays is 8 bytes per invoice
    paid_amount = np.nan_to_num(frame["paid_amount"].to_numpy(dtype=float, copy=True), copy=False)
    paid_amount[unknown] = 0.0
    return _Ledger(frame=frame, issued=issued, due=_days(frame["due_date"]), paid=paid,
                   amount=frame["amount"].to_numpy(dtype=float), paid_amount=paid_amount)


def _lookup_by_id(ids: pd.Series, values: pd.Series, missing: np.int64) -> np.ndarray:
    """``values[id]`` for each of ``ids`` (int64), ``missing`` where an id is not in ``values.index`` (unique).

    Ids are matched by :func:`credit_lab.features.payment.customer_codes` (string ids in Arrow, no Python
    string per invoice: a ledger's customer ids as objects cost ~60 bytes each).
    """
    table = np.append(values.to_numpy(dtype=np.int64), np.int64(missing))
    return table[customer_codes(ids, values.index)]  # code -1 (absent) takes the appended ``missing``


def _bucket_of(dpd: np.ndarray, edges: tuple[int, ...]) -> np.ndarray:
    # side="left": a value equal to an edge belongs to the bucket that edge closes.
    return np.searchsorted(np.asarray(edges), dpd, side="left")
