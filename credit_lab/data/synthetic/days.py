"""Day arithmetic and column helpers: dates are handled as day numbers since the epoch until the tables are built."""

from __future__ import annotations

import numpy as np
import pandas as pd

_DAY = np.timedelta64(1, "D")


def _month_bounds(start: pd.Timestamp, n: int) -> np.ndarray:
    """Day numbers (days since epoch) of ``start + k months`` for k = 0..n."""
    stamps = [start + pd.DateOffset(months=k) for k in range(n + 1)]
    return np.array([np.datetime64(s.date(), "D").astype(np.int64) for s in stamps])


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Convert day numbers (``NaT``-aware int array) to ``datetime64[ns]``."""
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def _text(values: np.ndarray) -> np.ndarray:
    """Object array of Python strings; pandas infers its default string dtype."""
    return np.asarray(values, dtype=object)
