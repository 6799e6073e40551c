"""Table mode's book and customers: the shape the later stages expect, built from a customer table.

A ledger gives every customer its terms, cover and history; a customer table gives only what its
columns hold. These frames fill the rest with neutral values (no cover, no collateral, unknown
dates), so the limit and reserve stages run on either source unchanged.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from credit_lab.core.config import CustomerTableParams
from credit_lab.data.table_mode import CustomerTable

__all__ = ["table_as_of", "table_book", "table_customers"]

logger = logging.getLogger(__name__)


def table_as_of(table: CustomerTable, as_of_date) -> pd.Timestamp:
    """``data.as_of_date``, else the month after the latest observation date, else today (said in the notes)."""
    if as_of_date:
        return pd.Timestamp(as_of_date)
    if table.date is not None and table.date.notna().any():
        return (table.date.max() + pd.offsets.MonthBegin(1)).normalize()
    as_of = pd.Timestamp.today().normalize()
    table.notes.append(f"no date column and no data.as_of_date: letters and the review calendar are dated "
                       f"today ({as_of.date()})")
    return as_of


def table_book(table: CustomerTable, tp: CustomerTableParams, new_customer_months: int) -> pd.DataFrame:
    """The table's book with the ledger-only columns empty and the new-customer segment."""
    tenure = table.book["tenure_months"] if "tenure_months" in table.book else pd.Series(np.nan, index=table.book.index)
    # with a tenure column, short-tenure (or unknown-tenure) customers are the new-customer segment
    is_new = (tenure.isna() | (tenure < new_customer_months)) if tp.tenure_column else False
    return table.book.assign(sales_in_window=np.nan, tenure_months=tenure, revenue_latest=np.nan,
                             days_beyond_terms_mean=np.nan, is_new_customer=is_new)


def table_customers(table: CustomerTable, tp: CustomerTableParams) -> pd.DataFrame:
    """One customers row per valid table row: id as name, no cover, collateral, review dates or declared needs."""
    ids = table.features.index
    return pd.DataFrame({
        "customer_id": ids.to_numpy(dtype=object), "customer_name": ids.to_numpy(dtype=object),
        "industry": table.book["industry"].to_numpy(), "region": table.book["region"].to_numpy(),
        "payment_terms_days": tp.payment_terms_days, "credit_limit": table.book["credit_limit"].to_numpy(),
        "insurance_cover_pct": 0.0, "insured_limit": 0.0, "guarantee_amount": 0.0, "collateral_value": 0.0,
        "collateral_haircut": np.nan, "guarantor_pd": np.nan, "onboarding_date": pd.NaT, "last_review_date": pd.NaT,
        "requested_limit": np.nan, "expected_monthly_purchases": np.nan,
    })
