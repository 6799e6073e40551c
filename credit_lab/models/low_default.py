"""PDs for portfolios with few or no defaults: the most prudent estimation of Pluto and Tasche.

Pluto, K. and Tasche, D. (2005), "Thinking positively", Risk, August 2005, 72-78 (the working
paper "Estimating probabilities of default for low default portfolios"). The grades of a rating
system are ordered from best to worst; the PDs are assumed to follow that order. The most
prudent estimate of grade k's PD is the upper confidence bound of a PD shared by grade k and
every worse grade, from all their obligors and defaults together (the independent case):

    PD_k = the p that solves  P[Binomial(N_k, p) <= D_k] = 1 - gamma,
    N_k = sum of obligors in grades k..K,   D_k = sum of their defaults,

which is the Clopper-Pearson upper bound ``Beta(gamma; D_k + 1, N_k - D_k)``, and
``1 - (1 - gamma) ** (1 / N_k)`` when there is no default at all. The estimates rise from the
best grade to the worst by construction (made non-decreasing where a sparse grade would not
be), and they are conservative by construction: at confidence ``gamma`` the true PD is below
them unless the observed defaults were unusually few.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["most_prudent_pd", "upper_confidence_bound"]


def upper_confidence_bound(n: int, d: int, confidence: float) -> float:
    """The one-sided upper bound of a binomial PD: ``d`` defaults among ``n`` obligors.

    The ``p`` with ``P[Binomial(n, p) <= d] = 1 - confidence`` (Clopper-Pearson); NaN for ``n = 0``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if n < 0 or d < 0 or d > n:
        raise ValueError(f"need 0 <= defaults <= obligors, got {d} defaults among {n}")
    if n == 0:
        return float("nan")
    if d == 0:
        return float(1.0 - (1.0 - confidence) ** (1.0 / n))
    if d == n:
        return 1.0
    return float(stats.beta.ppf(confidence, d + 1, n - d))


def most_prudent_pd(obligors: pd.Series | list[int], defaults: pd.Series | list[int],
                    confidence: float) -> pd.DataFrame:
    """Most prudent PD per grade (independent case), grades ordered from best to worst.

    Parameters
    ----------
    obligors, defaults : per grade, best first (a Series keeps its grade labels).
    confidence : the confidence level gamma, e.g. 0.75.

    Returns
    -------
    DataFrame indexed by grade with ``obligors``, ``defaults``, ``pooled_obligors`` and
    ``pooled_defaults`` (this grade and every worse one), ``observed_rate`` and ``pd_mpe``.
    A grade with no obligor in it or below gets NaN (no evidence).

    Examples
    --------
    Pluto and Tasche's no-default example (100, 400 and 300 obligors), at 90%:

    >>> most_prudent_pd([100, 400, 300], [0, 0, 0], 0.9)["pd_mpe"].round(4).tolist()
    [0.0029, 0.0033, 0.0076]
    """
    n = pd.Series(obligors, dtype="int64")
    d = pd.Series(defaults, dtype="int64").set_axis(n.index)
    pooled_n = n[::-1].cumsum()[::-1]
    pooled_d = d[::-1].cumsum()[::-1]
    bounds = np.array([upper_confidence_bound(int(a), int(b), confidence)
                       for a, b in zip(pooled_n, pooled_d, strict=True)])
    known = ~np.isnan(bounds)
    bounds[known] = np.maximum.accumulate(bounds[known])  # a sparse grade never gets below a better one
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.where(n > 0, d / n.where(n > 0, 1), np.nan)
    return pd.DataFrame({"obligors": n, "defaults": d, "pooled_obligors": pooled_n, "pooled_defaults": pooled_d,
                         "observed_rate": observed, "pd_mpe": bounds}, index=n.index)
