"""Forward-looking scenario adjustment and the provision matrix (allowance per bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.formatting import plain_number
from credit_lab.risk.provisions.ageing_table import _ageing_table, open_items
from credit_lab.risk.provisions.floor import HISTORY, no_loss_floor
from credit_lab.risk.provisions.historical import LossRates, loss_rates
from credit_lab.risk.provisions.settings import TOTAL, ProvisionInputError, ProvisionSettings, _check_scenarios
from credit_lab.risk.provisions.write_off import WriteOffs, write_off


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


def _floor_frame(floor: pd.DataFrame, buckets: pd.Index) -> pd.DataFrame:
    if not isinstance(floor, pd.DataFrame) or not {"floor_loss_rate", "rate_basis"} <= set(floor.columns):
        raise ProvisionInputError("floor must be a DataFrame with columns floor_loss_rate and rate_basis indexed by "
                                  "bucket; pass the no_loss_floor table")
    extra = [b for b in floor.index if b not in buckets]
    if extra or floor.index.has_duplicates:
        raise ProvisionInputError(f"floor has bucket(s) {extra} that gross does not have (or a bucket twice); use the "
                                  "same bucket_edges for the floor and the ageing")
    f = floor.reindex(buckets)
    rate = f["floor_loss_rate"].to_numpy(dtype=float)
    bad = ~np.isnan(rate) & ~((rate >= 0) & (rate <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ProvisionInputError(f"floor_loss_rate[{buckets[i]!r}] = {plain_number(rate[i])} must be a fraction in "
                                  "[0, 1] or NaN (no floor)")
    return f


def provision_matrix(gross: pd.Series | pd.DataFrame, rates: pd.Series | LossRates,
                     scenarios: Mapping[str, tuple[float, float]] | None = None,
                     floor: pd.DataFrame | None = None) -> pd.DataFrame:
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
    floor : DataFrame, optional
        :func:`no_loss_floor` table (``floor_loss_rate``, NaN = no floor, and ``rate_basis``
        per bucket). A bucket whose historical rate is 0 and that has a floor is priced at the
        floor instead; a bucket with a positive historical rate keeps it whatever the floor.

    Returns
    -------
    DataFrame
        Index ``bucket`` (in the order of ``gross``) plus ``"Total"``; columns
        ``gross_carrying_amount``, ``historical_loss_rate``, ``floor_loss_rate`` (the floor of
        a bucket whose historical rate is 0, NaN elsewhere), ``rate_basis`` (``"history"`` or
        the floor's basis: which rate the bucket is priced at), ``adjusted_loss_rate`` (that
        rate after the scenarios), ``allowance``, ``net_carrying_amount`` (currency or
        fractions). The total row's rates are the gross-weighted averages (``allowance /
        gross`` for the adjusted one); its floor is NaN and its basis empty.

    Examples
    --------
    >>> g = pd.Series({"current": 1000.0, ">90": 100.0})
    >>> provision_matrix(g, pd.Series({"current": 0.01, ">90": 0.5}))["allowance"].tolist()
    [10.0, 50.0, 60.0]
    >>> f = pd.DataFrame({"floor_loss_rate": [0.004, 0.4], "rate_basis": "floor (PD×LGD)"}, index=g.index)
    >>> m = provision_matrix(g, pd.Series({"current": 0.0, ">90": 0.5}), floor=f)
    >>> m["rate_basis"].tolist(), m["allowance"].tolist()
    (['floor (PD×LGD)', 'history', ''], [4.0, 50.0, 54.0])
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
    # a zero rate is the only one that can mean "no loss in the history" (see floor.py)
    no_loss = (h == 0.0).to_numpy()
    floor_rate = np.full(len(g), np.nan)
    basis = np.full(len(g), HISTORY, dtype=object)
    used = h.copy()
    if floor is not None:
        f = _floor_frame(floor, g.index)
        candidate = no_loss & f["floor_loss_rate"].notna().to_numpy()
        floor_rate[no_loss] = f["floor_loss_rate"].to_numpy(dtype=float)[no_loss]
        basis[candidate] = f["rate_basis"].to_numpy(dtype=object)[candidate]
        used[candidate] = floor_rate[candidate]
    adj = used.copy() if scenarios is None else adjust_for_scenarios(used, scenarios)
    out = pd.DataFrame({
        "gross_carrying_amount": g.to_numpy(),
        "historical_loss_rate": h.to_numpy(),
        "floor_loss_rate": floor_rate,
        "rate_basis": basis,
        "adjusted_loss_rate": adj.to_numpy(),
    }, index=pd.Index([str(b) for b in g.index], name="bucket"))
    out["allowance"] = out["gross_carrying_amount"] * out["adjusted_loss_rate"]
    out["net_carrying_amount"] = out["gross_carrying_amount"] - out["allowance"]
    total_gross = out["gross_carrying_amount"].sum()
    total_allow = out["allowance"].sum()
    hist_total = float((out["gross_carrying_amount"] * out["historical_loss_rate"]).sum())
    out.loc[TOTAL] = {
        "gross_carrying_amount": total_gross,
        "historical_loss_rate": hist_total / total_gross if total_gross > 0 else np.nan,
        "floor_loss_rate": np.nan,
        "rate_basis": "",
        "adjusted_loss_rate": total_allow / total_gross if total_gross > 0 else np.nan,
        "allowance": total_allow,
        "net_carrying_amount": total_gross - total_allow,
    }
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
        Total allowance at the historical rates (no floor, no forward-looking adjustment),
        currency.
    floor_uplift : float
        What the no-loss floor adds to ``allowance`` (currency): ``allowance`` minus the
        allowance at the scenario-adjusted historical rates; 0 when no bucket is floored.
    write_offs : WriteOffs or None
        The ledger under the write-off policy (what ``items`` and ``loss_rates`` were computed
        on) and every write-off before ``as_of``: what left the books, beside the allowance on
        what is still on them.
    """

    items: pd.DataFrame
    ageing: pd.DataFrame
    loss_rates: LossRates
    matrix: pd.DataFrame
    allowance: float
    historical_allowance: float
    floor_uplift: float = 0.0
    write_offs: WriteOffs | None = None


def provision_from_ledger(invoices: pd.DataFrame, as_of: Any, settings: ProvisionSettings | None = None,
                          defaults: pd.DataFrame | None = None, pd_12m: pd.Series | None = None,
                          lgd: float | None = None) -> ProvisionResult:
    """Write-offs, ageing, historical loss rates, the no-loss floor and the provision matrix at ``as_of``.

    The write-off policy (``settings.write_off_days_past_due``) is applied first: the ageing and the
    loss rates see the ledger as it stands under it, and ``write_offs`` lists what was written off.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger.
    as_of : date
        Reporting date.
    settings : ProvisionSettings, optional
        Buckets, loss-rate method, history, scenarios, the no-loss floor and the write-off policy.
    defaults : DataFrame, optional
        Passed to :func:`loss_rates` for the ``balance_defaulted`` diagnostic.
    pd_12m : Series, optional
        12-month PD per customer id, covering every customer with open invoices; with
        ``settings.no_loss_floor == "pd_lgd"`` a bucket whose history holds no loss is floored
        at its customers' balance-weighted PD x ``lgd`` (:func:`no_loss_floor`). Without it
        such a bucket takes the fixed ``settings.no_loss_floor_rates``.
    lgd : float, optional
        Loss given default (fraction), required with ``pd_12m``.

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
    write_offs = write_off(invoices, as_of, settings.write_off_days_past_due)
    items = open_items(write_offs.ledger, as_of, settings)
    table = _ageing_table(items, settings.buckets)
    rates = loss_rates(write_offs.ledger, as_of, settings, defaults)
    floor = None if settings.no_loss_floor == "none" else no_loss_floor(items, settings, pd_12m, lgd)
    matrix = provision_matrix(table, rates, settings.scenarios, floor)
    adj = matrix["adjusted_loss_rate"].drop(index=TOTAL)
    items = items.assign(adjusted_loss_rate=items["bucket"].astype(str).map(adj).to_numpy(dtype=float))
    items = items.assign(allowance=items["outstanding"] * items["adjusted_loss_rate"])
    buckets = matrix.drop(index=TOTAL)
    hist = float((buckets["gross_carrying_amount"] * buckets["historical_loss_rate"]).sum())
    unfloored = float((buckets["gross_carrying_amount"]
                       * adjust_for_scenarios(buckets["historical_loss_rate"], settings.scenarios)).sum())
    allowance = float(matrix.loc[TOTAL, "allowance"])
    floored = (buckets["rate_basis"] != HISTORY).any()
    return ProvisionResult(items=items, ageing=table, loss_rates=rates, matrix=matrix, allowance=allowance,
                           historical_allowance=hist,
                           floor_uplift=allowance - unfloored if floored else 0.0, write_offs=write_offs)
