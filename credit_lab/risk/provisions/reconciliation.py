"""Reconciliation of the provision-matrix allowance with the PD-based ECL, by segment, and whether they agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.formatting import money, plain_number
from credit_lab.risk.provisions.ledger import _as_date
from credit_lab.risk.provisions.settings import TOTAL, ProvisionInputError

_SEGMENTS = (
    ("customers in default",
     ("already defaulted before the reporting date: the matrix applies the loss rate of the invoice's ageing bucket, "
      "the PD approach PD 1 x LGD, so a gap here is the LGD set against the losses the ledger's history shows")),
    ("disputed invoices",
     ("disputes delay payment and raise the loss rate of the bucket they sit in; the PD approach sees only "
      "the customer's PD, not the dispute")),
    ("overdue, not disputed",
     ("past-due balances carry the roll rates of their bucket (the history of balances that were already late); "
      "the PD approach uses the customer's forward PD until the balance would reach 90 days past due, whatever "
      "the ageing says about the customer")),
    ("current, not disputed",
     ("not yet due: the matrix uses the pooled history of current balances, the PD approach each customer's own "
      "PD until the balance would be collected or reach 90 days past due")),
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


#: Measures of :func:`provision_agreement`, in the order of its table.
MATRIX = "provision matrix"
LIFETIME_ECL = "PD-based lifetime ECL"
EL_12M = "12-month EL of the same receivables"


@dataclass(frozen=True, eq=False)
class ProvisionAgreement:
    """The matrix provision against the PD-based lifetime ECL and 12-month EL of the same receivables.

    Attributes
    ----------
    table : DataFrame
        Index ``measure`` (:data:`MATRIX`, :data:`LIFETIME_ECL`, :data:`EL_12M`); ``amount``
        (currency), ``vs_matrix`` (``amount / matrix - 1``) and ``within_band`` (bool).
    band : float
        The band: a measure agrees with the matrix when ``|amount / matrix - 1| <= band``.
    within_band : bool
        Whether the PD-based lifetime ECL lies within the band (the check the report leads with).
    sentence : str
        The verdict in words and, outside the band, which segments explain the gap.
    loss_in_default : float
        What the ledger lost of the receivables of customers already in default
        (:func:`loss_in_default`; NaN when not given), against ...
    lgd_in_default : float
        ... the balance-weighted LGD the PD-based ECL applies to them (PD 1; NaN without any).
    """

    table: pd.DataFrame
    band: float
    within_band: bool
    sentence: str
    loss_in_default: float = float("nan")
    lgd_in_default: float = float("nan")


def _pct(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.2%}" if abs(x) < 0.1 else f"{x:.1%}"  # small rates keep two significant digits


def _versus(amount: float, matrix: float) -> str:
    if matrix <= 0:
        return "against a matrix provision of 0"
    ratio = amount / matrix - 1.0
    return f"{abs(ratio):.0%} {'above' if ratio > 0 else 'below'} the provision matrix ({money(matrix)})"


def provision_agreement(reconciliation: pd.DataFrame, ecl: pd.DataFrame, band: float,
                        loss_in_default: float | None = None) -> ProvisionAgreement:
    """Whether the PD-based lifetime ECL and 12-month EL agree with the matrix provision within ``band``.

    The three measure the expected loss of the same open receivables: the matrix from the ledger's
    own loss history by ageing bucket, the lifetime ECL from the customers' PDs x LGD over the
    months the receivables are at risk (:func:`months_at_risk`), the 12-month EL from PD x LGD over
    a year (PD 1 for customers in default, undiscounted; above the lifetime ECL when receivables
    are at risk for less than a year). A
    measure agrees when ``|measure / matrix - 1| <= band``. Outside the band the sentence names the
    segments of :func:`reconcile` that carry most of the gap, with both methods' rates there, and,
    when customers in default are among them and ``loss_in_default`` is given, the ledger's own
    loss on such receivables against the LGD the PD approach gives them.

    Parameters
    ----------
    reconciliation : DataFrame
        :func:`reconcile` output (segments and the ``"Total"`` row).
    ecl : DataFrame
        :func:`lifetime_ecl` output of the same receivables (``exposure``, ``pd_12m``, ``lgd``).
    band : float
        Relative band, > 0 (0.25: within +-25% of the matrix).
    loss_in_default : float, optional
        :func:`loss_in_default` of the ledger, fraction.

    Returns
    -------
    ProvisionAgreement

    Examples
    --------
    >>> recon = pd.DataFrame({"gross": [100.0, 900.0, 1000.0], "matrix_allowance": [80.0, 20.0, 100.0],
    ...     "pd_ecl": [45.0, 15.0, 60.0], "difference": [35.0, 5.0, 40.0], "matrix_rate": [0.8, 0.022, 0.1],
    ...     "pd_rate": [0.45, 0.017, 0.06], "why": ["LGD", "PD", ""]},
    ...     index=pd.Index(["customers in default", "current, not disputed", "Total"], name="segment"))
    >>> ecl = pd.DataFrame({"exposure": [100.0, 900.0], "pd_12m": [1.0, 0.05], "lgd": [0.45, 0.45]})
    >>> a = provision_agreement(recon, ecl, 0.25)
    >>> a.within_band, a.table["vs_matrix"].round(4).tolist()
    (False, [0.0, -0.4, -0.3475])
    """
    band = float(band)
    if not (np.isfinite(band) and band > 0):
        raise ProvisionInputError(f"band = {band!r} must be a positive fraction, e.g. 0.25 for +-25%")
    need = ["gross", "matrix_allowance", "pd_ecl", "difference", "matrix_rate", "pd_rate", "why"]
    if TOTAL not in reconciliation.index or any(c not in reconciliation.columns for c in need):
        raise ProvisionInputError(f"reconciliation needs a {TOTAL!r} row and columns {need}; pass the reconcile table")
    if not {"exposure", "pd_12m", "lgd"} <= set(ecl.columns):
        raise ProvisionInputError("ecl needs columns exposure, pd_12m and lgd; pass the lifetime_ecl table")
    matrix = float(reconciliation.loc[TOTAL, "matrix_allowance"])
    lifetime = float(reconciliation.loc[TOTAL, "pd_ecl"])
    el_12m = float((ecl["exposure"] * ecl["pd_12m"] * ecl["lgd"]).sum())
    in_default = (ecl["pd_12m"] >= 1.0) & (ecl["exposure"] > 0)
    lgd_in_default = (float(np.average(ecl.loc[in_default, "lgd"], weights=ecl.loc[in_default, "exposure"]))
                      if in_default.any() else float("nan"))
    observed = float("nan") if loss_in_default is None else float(loss_in_default)

    def within(amount: float) -> bool:
        if matrix <= 0:
            return amount <= 0
        return abs(amount / matrix - 1.0) <= band + 1e-12

    table = pd.DataFrame({"amount": [matrix, lifetime, el_12m]},
                         index=pd.Index([MATRIX, LIFETIME_ECL, EL_12M], name="measure"))
    with np.errstate(invalid="ignore", divide="ignore"):
        table["vs_matrix"] = table["amount"] / matrix - 1.0 if matrix > 0 else np.nan
    table["within_band"] = [True, within(lifetime), within(el_12m)]
    ok = bool(table.loc[LIFETIME_ECL, "within_band"])
    band_words = f"the +-{band:.0%} band (reserve.provisions.reconciliation_band)"
    words = [f"The PD-based lifetime ECL of today's receivables ({money(lifetime)}) is "
             f"{_versus(lifetime, matrix)}: {'within' if ok else 'outside'} {band_words}."]
    if not ok:
        segments = reconciliation.drop(index=TOTAL)
        size = segments["difference"].abs().sort_values(ascending=False, kind="stable")
        shown, covered = [], 0.0
        for name in size.index[:3]:
            if size[name] <= 0 or (shown and covered >= 0.8 * size.sum()):
                break
            row = segments.loc[name]
            shown.append(f"{name} {money(row['difference'])} (the matrix carries {_pct(row['matrix_rate'])} of its "
                         f"{money(row['gross'])}, the PD approach {_pct(row['pd_rate'])})")
            covered += size[name]
        if shown:
            top = size.index[0]
            words.append(f"Of the gap of {money(matrix - lifetime)} (matrix minus PD-based), " + "; ".join(shown)
                         + f". The largest part, {top}: {segments.loc[top, 'why']}.")
        if "customers in default" in size.index[:len(shown)] and np.isfinite(observed) and np.isfinite(
                lgd_in_default):
            words.append(f"The ledger lost {observed:.1%} of what customers already in default owed at a month-end "
                         f"(not collected within the outcome window of the loss rates); the PD approach's LGD for "
                         f"them is {lgd_in_default:.1%} (reserve.lgd).")
    el_ok = bool(table.loc[EL_12M, "within_band"])
    words.append(f"The 12-month EL of the same receivables ({money(el_12m)}: PD x LGD over a year, PD 1 for customers "
                 f"in default) is {_versus(el_12m, matrix)}, {'within' if el_ok else 'outside'} the band; it counts a "
                 f"year of default risk where the receivables are collected within months, "
                 f"{money(el_12m - lifetime)} more than the lifetime ECL.")
    return ProvisionAgreement(table=table, band=band, within_band=ok, sentence=" ".join(words),
                              loss_in_default=observed, lgd_in_default=lgd_in_default)
