"""Open items at a date and the ageing table (balance by days-past-due bucket)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.risk.provisions.ledger import _as_date, _bucket_of, _day, _ledger
from credit_lab.risk.provisions.settings import TOTAL, ProvisionSettings
from credit_lab.risk.provisions.write_off import apply_write_off_policy


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
        Bucket edges and the write-off policy (an invoice written off before ``as_of`` is not
        open); the defaults when omitted.

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
    invoices = apply_write_off_policy(invoices, as_of, settings.write_off_days_past_due)
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
