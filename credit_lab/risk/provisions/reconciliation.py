"""Reconciliation of the provision-matrix allowance with the PD-based ECL, by segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.formatting import plain_number
from credit_lab.risk.provisions.ledger import _as_date
from credit_lab.risk.provisions.settings import TOTAL, ProvisionInputError

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
        raise ProvisionInputError(f"pd_ecl exposure of customer {balance.index[i]!r} is {plain_number(exp[i])}"
                                  " but its open "
                                  f"invoices add up to {plain_number(balance.iloc[i])}"
                                  "; use the open balance as exposure")
    extra = pd_ecl.index.difference(balance.index)
    extra_ecl = float(pd_ecl.loc[extra, "ecl"].sum()) if len(extra) else 0.0
    if extra_ecl > 0:
        raise ProvisionInputError(f"pd_ecl has ECL {plain_number(extra_ecl)} for {len(extra)} customer(s) without open "
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
