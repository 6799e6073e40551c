"""The credit cycle: the monthly AR(1) industry factors loading on a macro factor, and the industry-outlook table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.data.synthetic.days import _text, _to_datetime
from credit_lab.data.synthetic.params import SynthParams


def _ar1(rng: np.random.Generator, phi: float, shape: tuple[int, int], burn: int) -> np.ndarray:
    """Unit-variance AR(1) paths along the last axis after a burn-in."""
    rows, length = shape
    eps = rng.standard_normal((rows, length + burn)) * np.sqrt(1.0 - phi**2)
    x = np.empty_like(eps)
    x[:, 0] = rng.standard_normal(rows)
    for t in range(1, length + burn):
        x[:, t] = phi * x[:, t - 1] + eps[:, t]
    return x[:, burn:]


def _industry_factor(rng: np.random.Generator, p: SynthParams, n_ind: int, length: int, n_months: int) -> np.ndarray:
    """Systematic factor per industry and month (``n_ind x length``)."""
    macro = _ar1(rng, p.factor_persistence, (1, length), burn=60)
    own = _ar1(rng, p.factor_persistence, (n_ind, length), burn=60)
    w = p.macro_loading
    y = w * macro + np.sqrt(1.0 - w**2) * own

    n_down = 1 if n_ind < 3 else int(rng.integers(1, 3))
    hit = rng.choice(n_ind, size=n_down, replace=False)
    t = np.arange(length)
    for k in hit:
        span = int(rng.integers(p.downturn_months[0], p.downturn_months[1] + 1))
        centre = rng.uniform(0.3, 0.75) * n_months
        depth = rng.uniform(*p.downturn_depth)
        # Smooth (raised-cosine) dip so the downturn builds up and recovers.
        phase = np.clip((t - centre) / (span / 2.0), -1.0, 1.0)
        y[k] -= depth * 0.5 * (1.0 + np.cos(np.pi * phase))
    return y


def _outlook_table(
    rng: np.random.Generator,
    p: SynthParams,
    factor: np.ndarray,
    industries: list[str],
    bounds: np.ndarray,
    n_months: int,
) -> pd.DataFrame:
    """Monthly industry outlook: a noisy view of the coming industry cycle."""
    n_ind = len(industries)
    lead = max(int(p.outlook_lead_months), 1)
    # Mean of the factor over the next `lead` months: a forecast, not a nowcast.
    csum = np.cumsum(np.hstack([np.zeros((n_ind, 1)), factor]), axis=1)
    t = np.arange(n_months)
    ahead = (csum[:, t + 1 + lead] - csum[:, t + 1]) / lead
    score = p.outlook_scale * ahead + p.outlook_noise_sd * rng.standard_normal((n_ind, n_months))
    score = np.round(np.clip(score, -3.0, 3.0), 2)
    return pd.DataFrame(
        {
            "industry": _text(np.repeat(np.array(industries, dtype=object), n_months)),
            "as_of_date": _to_datetime(np.tile(bounds[:n_months], n_ind)),
            "outlook_score": score.ravel(),
        }
    )
