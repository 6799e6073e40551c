"""Forward-looking scenario adjustment and the provision matrix (allowance per bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.formatting import plain_number
from credit_lab.risk.provisions.ageing_table import _ageing_table, open_items
from credit_lab.risk.provisions.historical import LossRates, loss_rates
from credit_lab.risk.provisions.settings import TOTAL, ProvisionInputError, ProvisionSettings, _check_scenarios


def _rates_series(rates: pd.Series | LossRates, name: str) -> pd.Series:
    s = rates.loss_rate if isinstance(rates, LossRates) else rates
    if not isinstance(s, pd.Series):
        raise ProvisionInputError(f"{name} must be a pandas Series indexed by bucket or a LossRates result, "
                                  f"got {type(rates).__name__}")
    s = s.astype(float)
    bad = ~np.isfinite(s.to_numpy()) | (s.to_numpy() < 0) | (s.to_numpy() > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"{name}[{s.index[i]!r}] = {plain_number(s.iloc[i])} must be a fraction in [0, 1] "
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
                raise ProvisionInputError(f"gross: the {TOTAL!r} row ({plain_number(s.loc[TOTAL])}"
                                          ") is not the sum of the "
                                          f"buckets ({plain_number(rest.sum())}); pass the ageing table unchanged")
            s = rest
    elif isinstance(gross, pd.Series):
        s = gross
    else:
        raise ProvisionInputError(f"gross must be a Series or the ageing DataFrame, got {type(gross).__name__}")
    s = s.astype(float)
    bad = ~np.isfinite(s.to_numpy()) | (s.to_numpy() < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"gross carrying amount of bucket {s.index[i]!r} = {plain_number(s.iloc[i])} must be "
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
