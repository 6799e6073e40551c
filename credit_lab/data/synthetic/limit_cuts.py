"""Opt-in churn response to limit cuts: a ``limit_history`` table and the customers a cut loses.

With ``SynthParams.limit_cut_share > 0`` the seller reviews limits every
``limit_review_months`` from ``limit_first_review_month`` on. At each review a random share of the
eligible customers (onboarded at least ``limit_cut_min_tenure_months`` earlier, not cut before, no
default before a year after the review) has its limit cut to a uniform share
(``limit_cut_to_share_of_need``) of its true purchase need over its payment terms,

    need = yearly purchases / 12 x payment_terms_days / (365.25 / 12),

the mean demand the limit optimizer sizes limits on. The customer is then lost with probability
``c x s`` (``c`` its industry's ``true_competition_intensity``, ``s = max(0, 1 - new limit / need)``,
the share of its need the new limit leaves unmet): its invoices from ``limit_cut_loss_lag_months``
after the review on, and any later default, are removed; otherwise it orders as before. The cuts
are drawn at random (not by risk), so comparing cut customers with uncut ones of the same industry
recovers ``c`` (:mod:`credit_lab.limits.competition_evidence`).

Draws come from a stream of their own (``SeedSequence([seed, _LIMIT_CUT_STREAM])`` in
:mod:`~credit_lab.data.synthetic.ledger`), so the setting changes nothing but the customers cut and lost.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.data.synthetic.days import _text, _to_datetime
from credit_lab.data.synthetic.params import SynthParams

_DAYS_PER_MONTH = 365.25 / 12.0


def _check(p: SynthParams) -> None:
    lo, hi = (float(x) for x in p.limit_cut_to_share_of_need)
    problems = []
    if not 0.0 <= p.limit_cut_share <= 1.0:
        problems.append(f"limit_cut_share must be a share in [0, 1]; got {p.limit_cut_share!r}")
    if not 0.0 <= lo <= hi:
        problems.append(f"limit_cut_to_share_of_need must be (low, high) with 0 <= low <= high; "
                        f"got {p.limit_cut_to_share_of_need!r}")
    if p.limit_review_months < 1 or p.limit_first_review_month < 0 or p.limit_cut_loss_lag_months < 0:
        problems.append("limit_review_months must be >= 1, limit_first_review_month and limit_cut_loss_lag_months "
                        f">= 0; got {p.limit_review_months!r}, {p.limit_first_review_month!r}, "
                        f"{p.limit_cut_loss_lag_months!r}")
    intensities = dict(p.true_competition_intensity_by_industry)
    bad = {k: v for k, v in intensities.items() if not 0.0 <= float(v) <= 1.0}
    if bad or not 0.0 <= p.true_competition_default_intensity <= 1.0:
        problems.append("true competitive intensities must lie in [0, 1]; got "
                        f"{bad or p.true_competition_default_intensity!r}")
    if problems:
        raise ValueError("SynthParams: " + "; ".join(problems))


def _limit_cuts(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    defaults: pd.DataFrame,
    bounds: np.ndarray,
    n_months: int,
    industries: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Cut limits at the reviews and lose customers in response (see the module docstring).

    ``cust`` (internal columns) and ``customers`` are in the same row order. Returns the customers
    (``credit_limit`` today's limit, the cut one where cut), the invoices and defaults without the
    lost customers' later records, and the ``limit_history`` (``customer_id``, ``valid_from``,
    ``limit``: the onboarding limit of every customer, then each cut).
    """
    _check(p)
    n = len(cust)
    onb = cust["onb_day"].to_numpy()
    dday = cust["default_day"].to_numpy()
    need = cust["yearly_purchases"].to_numpy() / 12.0 * cust["terms"].to_numpy() / _DAYS_PER_MONTH
    intensity = np.array([p.true_competition_intensity(name) for name in industries])[cust["industry"].to_numpy()]
    initial = customers["credit_limit"].to_numpy(dtype=float)
    limit = initial.copy()
    cut_day = np.full(n, -1, dtype=np.int64)
    lost_from = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    lo, hi = (float(x) for x in p.limit_cut_to_share_of_need)
    tenure_days = round(p.limit_cut_min_tenure_months * _DAYS_PER_MONTH)
    for month in range(p.limit_first_review_month, n_months, p.limit_review_months):  # a handful of reviews
        review = int(bounds[month])
        # Drawn for every customer at every review, so the stream does not depend on who is eligible.
        chosen, share_of_need, lose = rng.random(n), rng.uniform(lo, hi, n), rng.random(n)
        eligible = (onb <= review - tenure_days) & (cut_day < 0) & ((dday < 0) | (dday >= review + 365)) & (need > 0)
        cut = eligible & (chosen < p.limit_cut_share)
        new_limit = np.minimum(np.round(share_of_need * need / 100.0) * 100.0, 0.9 * limit)
        shortfall = np.clip(1.0 - new_limit / np.where(need > 0, need, 1.0), 0.0, 1.0)
        lost = cut & (lose < intensity * shortfall)
        limit = np.where(cut, new_limit, limit)
        cut_day = np.where(cut, review, cut_day)
        lost_from = np.where(lost, int(bounds[min(month + p.limit_cut_loss_lag_months, len(bounds) - 1)]), lost_from)

    ids = customers["customer_id"].to_numpy()
    index = pd.Index(ids)
    inv_customer = index.get_indexer(invoices["customer_id"])
    inv_day = invoices["invoice_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    invoices = invoices.loc[inv_day < lost_from[inv_customer]].reset_index(drop=True)
    def_customer = index.get_indexer(defaults["customer_id"])
    def_day = defaults["default_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    defaults = defaults.loc[def_day < lost_from[def_customer]].reset_index(drop=True)

    customers = customers.assign(credit_limit=limit)
    was_cut = cut_day >= 0
    history = pd.DataFrame({
        "customer_id": _text(np.concatenate([ids, ids[was_cut]])),
        "valid_from": _to_datetime(np.concatenate([onb, cut_day[was_cut]])),
        "limit": np.concatenate([initial, limit[was_cut]]),
    })
    history = history.sort_values(["customer_id", "valid_from"], kind="stable").reset_index(drop=True)
    return customers, invoices, defaults, history
