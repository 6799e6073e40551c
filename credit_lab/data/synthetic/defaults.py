"""Defaults: monthly one-factor (Vasicek) default probabilities calibrated to the target rate; the defaults table."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import optimize, special

from credit_lab.data.synthetic.days import _text, _to_datetime
from credit_lab.data.synthetic.params import _REGION_PD_OFFSET, SynthParams, _profile


def _simulate_defaults(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    factor: np.ndarray,
    bounds: np.ndarray,
    n_months: int,
    target: float,
    industries: list[str],
    regions: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate first-default month and day per customer.

    Returns day numbers (``-1`` = no default within the simulated horizon,
    which extends ``lookahead_months`` beyond the window) and month indices.
    """
    n = len(cust)
    horizon = factor.shape[1]
    rho = p.asset_correlation
    ind = cust["industry"].to_numpy()
    offset = np.array([_profile(name)[0] for name in industries])[ind]
    offset = offset + np.array([_REGION_PD_OFFSET.get(r, 0.0) for r in regions])[cust["region"].to_numpy()]
    base = offset - p.pd_z_slope * cust["z"].to_numpy()
    t = np.arange(horizon)
    active = t[None, :] >= (cust["onb_month"].to_numpy()[:, None] + p.seasoning_months)
    systematic = np.sqrt(rho) * factor[ind]  # n x horizon
    u = rng.random((n, horizon))

    scale = 1.0 / np.sqrt(1.0 - rho)

    def hazard(level: np.ndarray | float, cols: slice) -> np.ndarray:
        h = special.ndtr((level + base[:, None] - systematic[:, cols]) * scale)
        return np.where(active[:, cols], h, 0.0)

    if target <= 0.0:
        return np.full(n, -1, dtype=np.int64), np.full(n, horizon, dtype=np.int64)

    # Calibrate the PD level against the realised cycle, block by block, so
    # the expected annual rate among active customers in every block equals
    # the target: the cycle then redistributes defaults across industries and
    # months but a lucky macro path cannot push a whole year out of range.
    block = p.calibration_block_months if p.calibration_block_months > 0 else n_months
    edges = list(range(0, n_months, block)) + [n_months]
    if len(edges) > 2 and edges[-1] - edges[-2] < block // 2:
        del edges[-2]  # a short tail is too noisy to calibrate alone
    fallback = float(special.ndtri(1.0 - (1.0 - target) ** (1.0 / 12.0)))
    level = np.empty(horizon)
    surv0 = np.ones(n)
    for lo_t, hi_t in itertools.pairwise(edges):
        cols = slice(lo_t, hi_t)
        exposed = active[:, cols]
        if exposed.any():
            a = optimize.brentq(_block_rate_gap, -12.0, 3.0, args=(hazard, cols, surv0, exposed, target), xtol=1e-6)
        else:
            a = fallback
        level[cols] = a
        surv0 = surv0 * np.prod(1.0 - hazard(a, cols), axis=1)
    # Lookahead months keep the level of the last calibrated block.
    level[n_months:] = level[n_months - 1]
    hit = u < hazard(level[None, :], slice(0, horizon))
    has = hit.any(axis=1)
    month = np.where(has, hit.argmax(axis=1), horizon)
    lo = bounds[np.minimum(month, horizon - 1)]
    hi = bounds[np.minimum(month, horizon - 1) + 1]
    day = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
    day = np.where(has, day, -1)
    return day, month


def _block_rate_gap(
    level: float,
    hazard: Callable[[float, slice], np.ndarray],
    cols: slice,
    surv0: np.ndarray,
    exposed: np.ndarray,
    target: float,
) -> float:
    """Expected annual default rate of a block of months minus the target.

    The rate is expected defaults over expected exposure (survival-weighted
    active customer-months), annualised.
    """
    h = hazard(level, cols)
    surv = surv0[:, None] * np.cumprod(np.hstack([np.ones((len(h), 1)), 1.0 - h[:, :-1]]), axis=1)
    monthly = (surv * h).sum() / (surv * exposed).sum()
    return 1.0 - (1.0 - monthly) ** 12 - target


def _default_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    default_month: np.ndarray,
    n_months: int,
    customer_ids: pd.Series,
) -> pd.DataFrame:
    """First defaults inside the window (lookahead defaults are dropped)."""
    write_off = rng.random(len(cust)) < p.write_off_share
    inside = default_month < n_months
    days = cust["default_day"].to_numpy()[inside]
    ids = customer_ids.to_numpy()[inside]
    kinds = np.where(write_off[inside], "write_off", "90dpd").astype(object)
    order = np.lexsort((ids, days))
    return pd.DataFrame(
        {
            "customer_id": _text(ids[order]),
            "default_date": _to_datetime(days[order]),
            "default_type": _text(kinds[order]),
        }
    )
