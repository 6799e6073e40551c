"""What a replayed default cost after mitigation, and the capital a policy's exposure tied up.

**Mitigation, realised.** A customer that defaults in a replay period leaves its exposure at
default (EAD) open; the walk's ``loss`` is the part of it the ledger never recovered (or
``replay.lgd`` x EAD). Collateral, credit insurance and guarantees then take their share in the
order of :mod:`credit_lab.risk.mitigation`, per default:

1. collateral after its haircut: ``collateralised = min(EAD, value x (1 - haircut))``;
2. the insurer's claim on what collateral leaves, ``U = EAD - collateralised``:
   ``claim = cover x max(0, min(U, insured_limit) - deductible)``, scaled pro rata within a
   calendar year so that the year's claims stay within ``insurer_max_liability``;
3. the guarantee on the rest: ``guaranteed = min(U - claim, guarantee_amount)``;
4. ``net EAD = max(U - claim - guaranteed, 0)`` and ``net loss = loss x net EAD / EAD``.

This is history: the insurer and the guarantor are taken to have paid (their own default is a
forward-looking risk, priced in the reserve stage, not a replayed event). The mitigants are
today's (the customers table holds no history of them), which the report says.

**Capital.** Each period's average exposure times the Basel IRB capital rate ``K(PD, LGD)``
(:func:`credit_lab.risk.basel.irb_capital_rate`, one-year maturity) at the PD the review gave
the customer, averaged over the window weighted by the periods' days: the unexpected-loss
capital the policy's exposure held on average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.limits.replay_walk import ReplayInputError
from credit_lab.risk.basel import irb_capital_rate
from credit_lab.risk.mitigation import MitigationSettings, mitigate

__all__ = ["MITIGANT_COLUMNS", "average_capital", "mitigants_from_customers", "net_of_mitigation"]

#: Per-customer columns of the mitigants table (index customer_id).
MITIGANT_COLUMNS = ("collateral_value", "collateral_haircut", "insurance_cover_pct", "insured_limit", "deductible",
                    "guarantee_amount")


def mitigants_from_customers(customers: pd.DataFrame, collateral_haircut: float, deductible: float
                             ) -> pd.DataFrame:
    """Today's mitigants per customer from the customers table (absent columns: none of that mitigant).

    ``collateral_haircut`` fills a missing haircut and ``deductible`` is the insurance deductible per
    claim (the run's ``reserve.collateral_haircut`` and ``reserve.insurance_deductible``).
    """
    if "customer_id" not in customers.columns:
        raise ReplayInputError("table 'customers' lacks column 'customer_id'")
    n = len(customers)

    def column(name: str, fill: float) -> np.ndarray:
        if name not in customers.columns:
            return np.full(n, fill)
        return pd.to_numeric(customers[name], errors="raise").astype(float).fillna(fill).to_numpy()

    return pd.DataFrame({
        "collateral_value": column("collateral_value", 0.0),
        "collateral_haircut": column("collateral_haircut", collateral_haircut),
        "insurance_cover_pct": column("insurance_cover_pct", 0.0),
        "insured_limit": column("insured_limit", 0.0),
        "deductible": np.full(n, float(deductible)),
        "guarantee_amount": column("guarantee_amount", 0.0),
    }, index=pd.Index(customers["customer_id"].to_numpy(), name="customer_id"))


def net_of_mitigation(walk: pd.DataFrame, mitigants: pd.DataFrame | None,
                      insurer_max_liability: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The walk's loss per row net of collateral, insurance and guarantees, and the part they covered.

    Parameters
    ----------
    walk : DataFrame
        The walk's table (``customer_id``, ``review_date``, ``exposure_at_default``, ``loss``).
    mitigants : DataFrame or None
        :data:`MITIGANT_COLUMNS` by customer id (:func:`mitigants_from_customers`); None: no mitigation.
    insurer_max_liability : float, optional
        The insurer's yearly aggregate limit; a calendar year's claims are scaled pro rata to fit.

    Returns
    -------
    (net_loss, recovered) : ndarray, ndarray
        Per row of ``walk``; ``net_loss + recovered == loss``.

    Examples
    --------
    EAD 1,000 with loss 800; collateral 250 at a 20 % haircut, 90 % cover of up to 500 with a
    deductible of 100, and a guarantee of 100: net EAD 340, so the net loss is 800 x 0.34:

    >>> walk = pd.DataFrame({"customer_id": ["A"], "review_date": pd.to_datetime(["2024-01-01"]),
    ...                      "exposure_at_default": [1000.0], "loss": [800.0]})
    >>> m = pd.DataFrame({"collateral_value": [250.0], "collateral_haircut": [0.2], "insurance_cover_pct": [0.9],
    ...                   "insured_limit": [500.0], "deductible": [100.0], "guarantee_amount": [100.0]},
    ...                  index=pd.Index(["A"], name="customer_id"))
    >>> [round(float(x[0]), 6) for x in net_of_mitigation(walk, m)]
    [272.0, 528.0]
    """
    loss = walk["loss"].to_numpy(dtype=float)
    if mitigants is None or not len(walk):
        return loss.copy(), np.zeros_like(loss)
    missing = [c for c in MITIGANT_COLUMNS if c not in mitigants.columns]
    if missing:
        raise ReplayInputError(f"the mitigants table lacks column(s) {missing}; build it with mitigants_from_customers")
    ead = walk["exposure_at_default"].to_numpy(dtype=float)
    rows = np.flatnonzero(ead > 0)
    share = np.ones_like(ead)
    if len(rows):
        # risk.mitigation's own order and formulas; providers that paid (PD 0), and the aggregate limit compared
        # with the year's claims themselves (basis "exposure"), one calendar year at a time
        frame = (mitigants.reindex(pd.Index(walk["customer_id"].to_numpy()[rows])).fillna(
            {c: 0.0 for c in MITIGANT_COLUMNS}).reset_index(drop=True)
            .assign(ead=ead[rows], pd=1.0, lgd=1.0, guarantor_pd=0.0))
        settings = MitigationSettings(insurer_pd=0.0, treatment="substitution",
                                      insurer_max_liability=insurer_max_liability, aggregate_cap_basis="exposure")
        year = pd.DatetimeIndex(walk["review_date"]).year.to_numpy()[rows]
        for y in np.unique(year):
            sel = np.flatnonzero(year == y)
            net_ead = mitigate(frame.iloc[sel], settings).table["net_ead"].to_numpy()
            share[rows[sel]] = net_ead / ead[rows[sel]]
    net = loss * share
    return net, loss - net


def average_capital(walk: pd.DataFrame, pd_by_review: pd.DataFrame, lgd: float, window_days: float
                    ) -> pd.Series:
    """Time-weighted average unexpected-loss capital per customer over the replay window.

    ``walk`` is one policy's walk table; ``pd_by_review`` (``review_date``, ``customer_id``, ``pd``)
    the PD each review gave. A customer a review did not score (too new, or no PD model) takes that
    review's mean PD. Returns capital by customer id.
    """
    if window_days <= 0:
        raise ReplayInputError(f"window_days = {window_days!r} must be > 0")
    merged = walk[["customer_id", "review_date", "period_days", "average_exposure"]].merge(
        pd_by_review[["review_date", "customer_id", "pd"]], on=["review_date", "customer_id"], how="left")
    mean_pd = pd_by_review.groupby("review_date")["pd"].mean()
    p = merged["pd"].fillna(merged["review_date"].map(mean_pd)).fillna(0.0).to_numpy(dtype=float)
    k = irb_capital_rate(p, np.full(len(p), float(lgd)), maturity_years=1.0)
    weighted = k * merged["average_exposure"].to_numpy(dtype=float) * merged["period_days"].to_numpy(dtype=float)
    return pd.Series(weighted, index=merged["customer_id"]).groupby(level=0, sort=True).sum() / window_days
