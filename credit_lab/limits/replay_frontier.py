"""What a replay says to a credit committee: the frontier from history and the calibration of the chain.

* :func:`frontier_table`: for the optimizer's family of EL budgets, the bad debt each would have
  had against the margin it would have blocked, the limits as they were beside them, and what a
  unit less bad debt cost in margin between neighbouring budgets, measured on the ledger's own past.
* :func:`expected_vs_walked`: per policy and review period, the model's expected loss
  ``sum PD_period x LGD x exposure`` on the exposure the policy's limits let through (the walk's
  time-weighted average exposure of the period) against the loss the walk found. ``PD_period`` is
  the model's PD over its horizon scaled to the period, ``1 - (1 - PD) ** (days / horizon days)``.
  A customer without a PD at the review (onboarded after it) takes the review's mean PD; the table
  says how much exposure that concerns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.limits.replay import ReplayResult
from credit_lab.limits.replay_walk import ReplayInputError

__all__ = ["expected_vs_walked", "frontier_table"]

_DAYS_PER_MONTH = 365.25 / 12.0


def frontier_table(result: ReplayResult) -> pd.DataFrame:
    """Bad debt against blocked margin for the optimizer's budgets, with the policy marked as today's.

    Returns
    -------
    DataFrame
        One row per optimizer budget (lowest first), then the current policy: ``policy``,
        ``el_budget_vs_current`` (NaN for the current policy), ``is_current``, ``bad_debt``,
        ``lost_margin`` (margin of the blocked sales), ``blocked_sales``, ``served_sales``, ``profit``,
        ``bad_debt_avoided`` and ``margin_lost_extra`` against the current policy, and
        ``margin_per_bad_debt_avoided``: between a budget and the next looser one, the margin blocked
        per unit of bad debt avoided (NaN where bad debt does not fall).
    """
    if not result.budgets:
        raise ReplayInputError("the replay has no optimizer family (a policy of kind optimizer in replay.policies)")
    cols = ["bad_debt", "lost_margin", "blocked_sales", "served_sales", "profit"]
    family = sorted(result.budgets.items(), key=lambda item: item[1])
    rows = [{"policy": name, "el_budget_vs_current": budget, "is_current": False,
             **result.summary.loc[name, cols].to_dict()} for name, budget in family]
    table = pd.DataFrame(rows)
    looser = table[["bad_debt", "lost_margin"]].shift(-1)
    avoided = looser["bad_debt"] - table["bad_debt"]
    table["margin_per_bad_debt_avoided"] = ((table["lost_margin"] - looser["lost_margin"]) / avoided).where(avoided > 0)
    if result.current_policy is not None:
        current = result.summary.loc[result.current_policy, cols]
        table = pd.concat([table, pd.DataFrame([{"policy": result.current_policy, "el_budget_vs_current": np.nan,
                                                 "is_current": True, **current.to_dict()}])], ignore_index=True)
        table["bad_debt_avoided"] = current["bad_debt"] - table["bad_debt"]
        table["margin_lost_extra"] = table["lost_margin"] - current["lost_margin"]
    return table


def expected_vs_walked(result: ReplayResult, lgd: float, horizon_months: int, policies=None) -> pd.DataFrame:
    """The model's expected loss on each policy's walked exposure against the walked loss, per review.

    Parameters
    ----------
    result : ReplayResult
        With ``pd_by_review`` (:func:`credit_lab.limits.replay_policies.replay_from_params`).
    lgd : float
        The LGD of the expected loss (the run's ``reserve.lgd`` when the walk uses each invoice's own
        shortfall).
    horizon_months : int
        The PD's horizon (``features.label_horizon_months``).
    policies : list of str, optional
        Default every policy.

    Returns
    -------
    DataFrame
        ``policy``, ``review_date``, ``average_exposure``, ``expected_loss``, ``walked_loss``,
        ``exposure_without_pd`` (average exposure of customers the review did not score).
    """
    if result.pd_by_review is None:
        raise ReplayInputError("the replay has no PD per review; run it with replay_from_params")
    if not 0.0 <= lgd <= 1.0 or horizon_months < 1:
        raise ReplayInputError(f"lgd = {lgd!r} must be in [0, 1] and horizon_months = {horizon_months!r} >= 1")
    pds = result.pd_by_review
    mean_pd = pds.groupby("review_date")["pd"].mean()
    frames = []
    for name in policies or list(result.walks):
        walk = result.walks[name].merge(pds, on=["review_date", "customer_id"], how="left")
        unscored = walk["pd"].isna().to_numpy()
        pd_ = walk["pd"].fillna(walk["review_date"].map(mean_pd)).to_numpy(dtype=float)
        pd_period = 1.0 - (1.0 - pd_) ** (walk["period_days"].to_numpy() / (horizon_months * _DAYS_PER_MONTH))
        exposure = walk["average_exposure"].to_numpy(dtype=float)
        walk = walk.assign(expected_loss=pd_period * lgd * exposure, exposure_without_pd=np.where(unscored, exposure,
                                                                                                  0.0))
        per_review = walk.groupby("review_date")[["average_exposure", "expected_loss", "loss",
                                                  "exposure_without_pd"]].sum()
        frames.append(per_review.rename(columns={"loss": "walked_loss"}).assign(policy=name).reset_index())
    out = pd.concat(frames, ignore_index=True)
    return out[["policy", "review_date", "average_exposure", "expected_loss", "walked_loss", "exposure_without_pd"]]
