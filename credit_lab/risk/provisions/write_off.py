"""The write-off policy, and the write-offs a ledger holds at a date (IFRS 9 5.4.4).

IFRS 9 (5.4.4) has an entity reduce the gross carrying amount of a receivable directly when it has no
reasonable expectation of recovering it: a write-off. In trade credit that is a policy on days past due
(one year is usual). A ledger that never writes off carries its oldest debts in the last ageing
bucket for ever, at a loss rate near 100%, so its provision matrix is mostly old, lost debt.

How a ledger records a write-off
    The ledger holds one settlement per invoice (see the package docstring): ``paid_amount`` is the
    cash collected and a shortfall ``amount - paid_amount`` is written off on ``paid_date``. A write-off
    of the whole invoice is its settlement on the write-off date with ``paid_amount`` 0. The synthetic
    generator with ``write_off_days_past_due`` records write-offs this way, and so can any ledger.
The policy (``write_off_days_past_due = D``)
    An invoice issued before ``as_of`` whose write-off day ``due_date + D`` falls before ``as_of`` and
    that was not settled by then (no payment known at ``as_of``, or one made after the write-off day)
    is written off on that day for nothing: ``paid_date = due_date + D``, ``paid_amount = 0``. It
    leaves the open book at ``as_of`` and every month-end after its write-off day, and counts as lost
    in the historical loss rates. Cash received after a write-off is a recovery, outside the
    receivables (as cash after the outcome window already is for the loss rates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.risk.provisions.ledger import _as_date, _check_invoices
from credit_lab.risk.provisions.settings import ProvisionInputError


def _check_days(days: Any) -> int | None:
    if days is None:
        return None
    if not isinstance(days, (int, np.integer)) or isinstance(days, bool) or days < 1:
        raise ProvisionInputError(f"write_off_days_past_due = {days!r} must be a whole number of days >= 1 "
                                  "(e.g. 360), or None for no write-off policy")
    return int(days)


def _policy_mask(invoices: pd.DataFrame, as_of: pd.Timestamp, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per invoice: whether the policy writes it off at ``as_of``, and its write-off day."""
    write_off_day = (invoices["due_date"] + pd.Timedelta(days=days)).to_numpy()
    paid = invoices["paid_date"].to_numpy()
    t = np.datetime64(as_of, "ns")
    hit = ((invoices["invoice_date"].to_numpy() < t) & (write_off_day < t)
           & (np.isnat(paid) | (paid > write_off_day)))
    return hit, write_off_day


def apply_write_off_policy(invoices: pd.DataFrame, as_of: Any, write_off_days_past_due: int | None) -> pd.DataFrame:
    """The ledger as it stands at ``as_of`` under the write-off policy (see the module docstring).

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger (``invoice_id``, ``customer_id``, ``invoice_date``, ``due_date``,
        ``paid_date``, ``amount``, ``paid_amount``, ``disputed``).
    as_of : date
        Reporting date; only write-off days before it are applied.
    write_off_days_past_due : int or None
        Days after the due date an unsettled invoice is written off; None returns ``invoices``.

    Returns
    -------
    DataFrame
        ``invoices`` with each written-off invoice settled on its write-off day with
        ``paid_amount`` 0; the input frame itself when nothing is written off (so applying the
        policy twice changes nothing).

    Examples
    --------
    >>> inv = pd.DataFrame({"invoice_id": ["I1", "I2"], "customer_id": ["C1", "C1"],
    ...     "invoice_date": pd.to_datetime(["2023-01-01", "2024-01-01"]),
    ...     "due_date": pd.to_datetime(["2023-01-31", "2024-01-31"]), "paid_date": pd.to_datetime([None, None]),
    ...     "amount": [100.0, 50.0], "paid_amount": [np.nan, np.nan], "disputed": [False, False]})
    >>> out = apply_write_off_policy(inv, "2024-06-01", 360)
    >>> out["paid_date"].tolist(), out["paid_amount"].tolist()
    ([Timestamp('2024-01-26 00:00:00'), NaT], [0.0, nan])
    """
    days = _check_days(write_off_days_past_due)
    if days is None:
        return invoices
    as_of = _as_date(as_of, "as_of")
    _check_invoices(invoices)
    hit, write_off_day = _policy_mask(invoices, as_of, days)
    if not hit.any():
        return invoices
    # Only the two changed columns are new: a whole copy would duplicate the ids of every invoice.
    paid_date = invoices["paid_date"].copy()
    paid_date.loc[hit] = write_off_day[hit]
    paid_amount = invoices["paid_amount"].copy()
    paid_amount.loc[hit] = 0.0
    return invoices.assign(paid_date=paid_date, paid_amount=paid_amount)


@dataclass(frozen=True, eq=False)
class WriteOffs:
    """The ledger after the write-off policy and every invoice written off before ``as_of``.

    Attributes
    ----------
    ledger : DataFrame
        The invoices under the policy (:func:`apply_write_off_policy`).
    table : DataFrame
        One row per invoice settled short before ``as_of``, by the policy or in the ledger (a
        write-off recorded there, or the shortfall of a partial payment): ``invoice_id``,
        ``customer_id``, ``due_date``, ``write_off_date``, ``amount``, ``written_off_amount``
        (``amount - paid_amount``, currency) and ``by_policy`` (True where the policy wrote off
        an invoice the ledger still carried as open, or as paid after its write-off day).
    as_of : Timestamp
        The reporting date.
    write_off_days_past_due : int or None
        The policy applied (None: only what the ledger records).
    """

    ledger: pd.DataFrame
    table: pd.DataFrame
    as_of: pd.Timestamp
    write_off_days_past_due: int | None

    @property
    def by_policy(self) -> float:
        """Amount the policy wrote off that the ledger still carried (currency): off today's book."""
        return float(self.table.loc[self.table["by_policy"], "written_off_amount"].sum())

    def written_off_since(self, start: Any) -> float:
        """Amount written off on or after ``start`` and before ``as_of`` (currency), policy and ledger."""
        start = _as_date(start, "start")
        return float(self.table.loc[self.table["write_off_date"] >= start, "written_off_amount"].sum())


def write_off(invoices: pd.DataFrame, as_of: Any, write_off_days_past_due: int | None = None) -> WriteOffs:
    """Apply the write-off policy at ``as_of`` and list every write-off known then.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger.
    as_of : date
        Reporting date: settlements and write-off days before it count.
    write_off_days_past_due : int or None
        The policy (see the module docstring); None lists only the write-offs the ledger records.

    Returns
    -------
    WriteOffs

    Examples
    --------
    I1 (100) is written off by the policy on 26 Jan 2024; I3 was settled with 30 of 80, so 50 of it
    was written off when it was settled.

    >>> inv = pd.DataFrame({"invoice_id": ["I1", "I2", "I3"], "customer_id": ["C1", "C1", "C2"],
    ...     "invoice_date": pd.to_datetime(["2023-01-01", "2024-01-01", "2023-06-01"]),
    ...     "due_date": pd.to_datetime(["2023-01-31", "2024-01-31", "2023-07-01"]),
    ...     "paid_date": pd.to_datetime([None, None, "2023-12-01"]), "amount": [100.0, 50.0, 80.0],
    ...     "paid_amount": [np.nan, np.nan, 30.0], "disputed": [False, False, False]})
    >>> w = write_off(inv, "2024-06-01", 360)
    >>> w.table[["invoice_id", "written_off_amount", "by_policy"]].values.tolist()
    [['I3', 50.0, False], ['I1', 100.0, True]]
    >>> w.by_policy, w.written_off_since("2023-06-01")
    (100.0, 150.0)
    """
    as_of = _as_date(as_of, "as_of")
    days = _check_days(write_off_days_past_due)
    _check_invoices(invoices)
    if days is None:
        ledger, hit = invoices, np.zeros(len(invoices), dtype=bool)
    else:
        hit, _ = _policy_mask(invoices, as_of, days)
        ledger = apply_write_off_policy(invoices, as_of, days)
    t = np.datetime64(as_of, "ns")
    paid = ledger["paid_date"].to_numpy()
    amount = ledger["amount"].to_numpy(dtype=float)
    shortfall = amount - np.nan_to_num(ledger["paid_amount"].to_numpy(dtype=float))
    short = ~np.isnat(paid) & (paid < t) & (shortfall > 1e-9 * amount)
    f = ledger.loc[short]
    table = pd.DataFrame({
        "invoice_id": f["invoice_id"].to_numpy(), "customer_id": f["customer_id"].to_numpy(),
        "due_date": f["due_date"].to_numpy(), "write_off_date": f["paid_date"].to_numpy(),
        "amount": amount[short], "written_off_amount": shortfall[short], "by_policy": hit[short],
    }).sort_values(["write_off_date", "invoice_id"], kind="stable").reset_index(drop=True)
    return WriteOffs(ledger=ledger, table=table, as_of=as_of, write_off_days_past_due=days)
