"""VaR, expected shortfall and their sampling errors from simulated losses; the default levels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_LEVELS: tuple[float, ...] = (0.99, 0.995, 0.999)
"""Confidence levels reported by default (VaR and expected shortfall)."""


_PLOT_PROBS = (0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999)


def _quantile_table(losses_sorted: np.ndarray, probs: Sequence[float]) -> pd.Series:
    n = losses_sorted.size
    vals = [float(losses_sorted[min(n - 1, max(0, math.ceil(n * q) - 1))]) for q in probs]
    return pd.Series(vals, index=pd.Index(list(probs), name="probability"), name="loss")


def _empirical_var_es(losses_sorted: np.ndarray, q: float) -> tuple[float, float, int, float]:
    """Empirical VaR (order statistic ceil(nq)) and Acerbi-Tasche ES; also tail size and fraction."""
    n = losses_sorted.size
    m = n * (1.0 - q)
    k = math.floor(m + 1e-9)
    var = float(losses_sorted[min(n - 1, max(0, math.ceil(n * q - 1e-9) - 1))])
    top = losses_sorted[::-1]
    frac = m - k
    es = (float(top[:k].sum()) + (frac * float(top[k]) if k < n else 0.0)) / m
    return var, es, k, frac


def _empirical_error(losses_sorted: np.ndarray, q: float, var: float, es: float) -> tuple[float, float]:
    n = losses_sorted.size
    half = 1.96 * math.sqrt(n * q * (1 - q))
    lo = losses_sorted[int(np.clip(math.floor(n * q - half) - 1, 0, n - 1))]
    hi = losses_sorted[int(np.clip(math.ceil(n * q + half) - 1, 0, n - 1))]
    tail = losses_sorted[losses_sorted >= var]
    tail_var = float(np.var(tail)) if tail.size > 1 else 0.0
    es_se = math.sqrt(max(tail_var + q * (es - var) ** 2, 0.0) / max(n * (1 - q), 1e-300))
    return float(hi - lo) / 2.0, 1.96 * es_se


def _error_frame(levels, var, es, var_ci, es_ci) -> pd.DataFrame:
    rows = []
    for q in levels:
        rows.append({"level": q, "var_ci95": var_ci[q], "es_ci95": es_ci[q],
                     "var_rel_ci95": var_ci[q] / var[q] if var[q] > 0 else float("nan"),
                     "es_rel_ci95": es_ci[q] / es[q] if es[q] > 0 else float("nan")})
    return pd.DataFrame(rows).set_index("level")
