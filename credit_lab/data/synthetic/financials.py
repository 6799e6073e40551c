"""Yearly financial statements whose ratios depend on the customer's latent quality, with noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.data.synthetic.days import _DAY, _take_text, _to_datetime
from credit_lab.data.synthetic.params import SynthParams, _profile

_HISTORY_DAYS = 730


def _financial_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    factor: np.ndarray,
    bounds: np.ndarray,
    n_months: int,
    start: pd.Timestamp,
    industries: list[str],
    customer_ids: pd.Series,
) -> pd.DataFrame:
    """Yearly statements with fiscal year ends from two years before the window to its end.

    A customer's file holds the statements of the years before the ledger starts too, so
    that the earliest training snapshots see financials as today's scoring does; without
    them the model would learn "no statement" as a feature of the past only.
    """
    start_day, end_day = int(bounds[0]) - _HISTORY_DAYS, int(bounds[n_months])
    years = np.arange(start.year - _HISTORY_DAYS // 365, start.year + n_months // 12 + 2)
    fye = cust["fye_month"].to_numpy()
    # Last day of the fiscal-year-end month for every customer x year.
    # datetime64[M] counts months from 1970-01; FYE month m of year y maps to
    # the first day of the following month, minus one day.
    month_start = ((years[None, :] - 1970) * 12 + fye[:, None]).astype("datetime64[M]")
    pe_day = (month_start.astype("datetime64[D]") - _DAY).astype(np.int64)
    onb = cust["onb_day"].to_numpy()[:, None]
    dday = cust["default_day"].to_numpy()[:, None]
    keep = (
        (pe_day >= start_day)
        & (pe_day < end_day)
        & (pe_day > onb - 730)
        # Firms stop delivering statements once they have defaulted.
        & ((dday < 0) | (pe_day < dday))
    )
    keep &= rng.random(keep.shape) >= p.statement_missing_prob
    ci, _ = np.nonzero(keep)
    pe = pe_day[keep]
    k = len(pe)

    z = cust["z"].to_numpy()[ci]
    ind = cust["industry"].to_numpy()[ci]
    pe_month = np.clip(np.searchsorted(bounds, pe, side="right") - 1, 0, factor.shape[1] - 1)
    y = factor[ind, pe_month]
    cd = dday[ci, 0]
    months_left = np.where(cd >= 0, (cd - pe) / 30.44, np.inf)
    distress = np.clip(1.0 - months_left / 18.0, 0.0, 1.0)
    h = (
        p.fin_z_weight * z
        + p.fin_firm_sd * cust["firm_effect"].to_numpy()[ci]
        + p.fin_noise_sd * rng.standard_normal(k)
        + p.fin_cycle_weight * y
        - p.fin_distress_drop * distress
    )

    prof = np.array([_profile(name) for name in industries])[ind]
    margin_base, turnover, ca_base, inv_base = prof[:, 1], prof[:, 2], prof[:, 3], prof[:, 4]

    years_in = (pe - start_day) / 365.25
    revenue = np.exp(cust["log_rev"].to_numpy()[ci]) * np.exp(
        0.03 * years_in + 0.05 * h + 0.08 * rng.standard_normal(k)
    )
    margin = np.clip(margin_base + 0.04 * h + 0.03 * rng.standard_normal(k), -0.5, 0.5)
    ebitda = np.round(revenue * margin)
    ebit = ebitda - np.round(revenue * rng.uniform(0.01, 0.05, k))
    total_assets = np.maximum(np.round(revenue / turnover * np.exp(0.25 * rng.standard_normal(k))), 1.0)
    leverage = np.clip(0.6 - 0.15 * h + 0.12 * rng.standard_normal(k), 0.05, 1.6)
    total_liabilities = np.round(total_assets * leverage)
    debt_rate = 0.04 + 0.015 * np.maximum(-h, 0.0)
    interest = np.round(total_liabilities * rng.uniform(0.3, 0.7, k) * debt_rate)
    pre_tax = ebit - interest
    net_income = np.round(np.where(pre_tax > 0, 0.75 * pre_tax, pre_tax))
    current_assets = np.round(total_assets * np.clip(ca_base + 0.08 * rng.standard_normal(k), 0.1, 0.95))
    cash = np.round(current_assets * np.clip(0.15 + 0.05 * h + 0.05 * rng.standard_normal(k), 0.01, 0.8))
    inventory = np.floor((current_assets - cash) * np.clip(inv_base * rng.uniform(0.6, 1.2, k), 0.0, 0.95))
    current_liabilities = np.round(
        total_liabilities * np.clip(0.55 - 0.05 * h + 0.1 * rng.standard_normal(k), 0.1, 1.0)
    )
    equity = total_assets - total_liabilities
    retained = equity - np.round(total_assets * rng.uniform(0.03, 0.15, k))

    # By customer id, then period end. The ids are unique, so their positions in sorted order sort the
    # rows as the id texts do, without comparing Python strings.
    id_position = np.empty(len(customer_ids), dtype=np.int64)
    id_position[np.argsort(customer_ids.to_numpy(), kind="stable")] = np.arange(len(customer_ids))
    order = np.lexsort((pe, id_position[ci]))
    return pd.DataFrame(
        {
            "customer_id": _take_text(customer_ids, ci[order]),
            "period_end": _to_datetime(pe[order]),
            "revenue": np.round(revenue[order]),
            "ebitda": ebitda[order],
            "ebit": ebit[order],
            "net_income": net_income[order],
            "interest_expense": interest[order],
            "total_assets": total_assets[order],
            "total_liabilities": total_liabilities[order],
            "current_assets": current_assets[order],
            "current_liabilities": current_liabilities[order],
            "inventory": inventory[order],
            "cash": cash[order],
            "retained_earnings": retained[order],
            "equity": equity[order],
        }
    )
