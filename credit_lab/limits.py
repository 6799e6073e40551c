"""Credit limits, first version: the tightest of a few explicit caps.

``limit = min(capacity cap, risk cap of the grade, single-name cap)``, set to
zero above the PD cut-off and rounded down. Every limit carries the cap that
decided it and its change against today's limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import LimitParams

__all__ = ["LIMIT_DRIVERS", "capacity_cap", "set_limits"]

LIMIT_DRIVERS = {
    "capacity": "its expected purchases over its payment terms (or its size) cap the limit",
    "risk_grade": "the maximum limit for its risk grade",
    "single_name": "the company's single-customer cap (share of own equity)",
    "pd_cutoff": "its probability of default is above the company's cut-off",
}

_DAYS_PER_MONTH = 30.4375


def capacity_cap(sales_in_window: pd.Series, months_observed: pd.Series, payment_terms_days: pd.Series,
                 revenue: pd.Series, current_limit: pd.Series, params: LimitParams) -> tuple[pd.Series, pd.Series]:
    """What the customer can use: purchases over its terms with headroom, at most a share of its revenue.

    Returns the cap and its basis (``purchases``, ``revenue``, or ``current_limit`` when
    there is neither purchase history nor a revenue figure: the limit is then kept as is).
    """
    monthly = (sales_in_window / months_observed.clip(lower=1.0)).where(sales_in_window > 0)
    purchases_cap = monthly * (payment_terms_days.astype(float) / _DAYS_PER_MONTH) * params.purchase_headroom
    revenue_cap = revenue * params.revenue_cap_pct
    cap = pd.concat([purchases_cap, revenue_cap], axis=1).min(axis=1, skipna=True)
    basis = pd.Series(np.where(purchases_cap.notna() & (purchases_cap <= revenue_cap.fillna(np.inf)),
                               "purchases", "revenue"), index=cap.index)
    neither = cap.isna()
    cap = cap.where(~neither, current_limit.astype(float))
    basis = basis.where(~neither, "current_limit")
    return cap, basis


def set_limits(scored: pd.DataFrame, params: LimitParams, lookback_months: int) -> pd.DataFrame:
    """Proposed limit per customer with the cap that decided it.

    Parameters
    ----------
    scored : one row per customer with ``pd``, ``grade``, ``credit_limit`` (today's),
        ``payment_terms_days``, ``sales_in_window``, ``tenure_months``, ``revenue_latest``.
    params : caps, cut-off and rounding.
    lookback_months : length of the window ``sales_in_window`` covers.

    Returns
    -------
    DataFrame with ``capacity_cap``, ``risk_cap``, ``single_name_cap``, ``proposed_limit``,
    ``limit_change``, ``decided_by`` and ``limit_reason``.
    """
    months = scored["tenure_months"].clip(upper=lookback_months)
    cap_capacity, basis = capacity_cap(scored["sales_in_window"], months, scored["payment_terms_days"],
                                       scored["revenue_latest"], scored["credit_limit"], params)
    risk_cap = scored["grade"].map(params.risk_cap_by_grade).astype(float)
    single_name = params.own_equity * params.single_name_cap_pct
    caps = pd.DataFrame({"capacity": cap_capacity, "risk_grade": risk_cap,
                         "single_name": np.full(len(scored), single_name)}, index=scored.index)
    # Ties go to the first column: capacity before risk grade before single name.
    decided = caps.idxmin(axis=1)
    limit = caps.min(axis=1)
    above_cutoff = scored["pd"] > params.pd_cutoff
    limit = limit.where(~above_cutoff, 0.0)
    decided = decided.where(~above_cutoff, "pd_cutoff")
    if params.rounding > 0:
        limit = np.floor(limit / params.rounding) * params.rounding
    out = pd.DataFrame({
        "capacity_cap": cap_capacity, "capacity_basis": basis, "risk_cap": risk_cap,
        "single_name_cap": single_name, "current_limit": scored["credit_limit"].astype(float),
        "proposed_limit": limit, "decided_by": decided,
    }, index=scored.index)
    out["limit_change"] = out["proposed_limit"] - out["current_limit"]
    out["limit_reason"] = [
        f"Limit {new:,.0f} ({'+' if chg >= 0 else '-'}{abs(chg):,.0f} vs today): {LIMIT_DRIVERS[d]}."
        for new, chg, d in zip(out["proposed_limit"], out["limit_change"], out["decided_by"])
    ]
    return out
