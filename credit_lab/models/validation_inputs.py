"""Input checks shared by the validation statistics.

Every statistic in :mod:`credit_lab.models.metrics`, :mod:`~credit_lab.models.calibration_tests`,
:mod:`~credit_lab.models.calibration_map` and :mod:`~credit_lab.models.stability` checks its
arguments with these helpers, so that a malformed input raises the same
:class:`ValidationInputError` naming the argument and the offending values wherever it is
passed. The underscore helpers are internal to those modules, not part of the public API.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import CreditLabError

__all__ = ["ValidationInputError"]


class ValidationInputError(CreditLabError, ValueError):
    """Inputs to a validation statistic are malformed (length, outcome or PD range)."""


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------

def _one_d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValidationInputError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    return arr


def _examples(values: np.ndarray, k: int = 5) -> str:
    shown = list(pd.unique(pd.Series(values, dtype=object)))[:k]
    return ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in shown)


def _outcomes(y: Any, name: str = "y") -> np.ndarray:
    """0/1 outcomes as int64; anything else raises with the offending values."""
    arr = _one_d(y, name)
    if arr.size == 0:
        raise ValidationInputError(f"{name} is empty")
    textual = arr.dtype.kind in "US" or (arr.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in arr))
    try:
        if textual:
            raise TypeError
        f = arr.astype(float)
    except (TypeError, ValueError):
        bad = np.array([v for v in arr if not (isinstance(v, (int, float, np.number, bool)) and v in (0, 1))],
                       dtype=object)
        raise ValidationInputError(
            f"{name} must be binary (1 = default, 0 = no default); found non-numeric value(s) {_examples(bad)}"
        ) from None
    bad = ~np.isin(f, (0.0, 1.0))
    if bad.any():
        raise ValidationInputError(
            f"{name} must be binary (1 = default, 0 = no default); found {int(bad.sum())} other value(s), "
            f"e.g. {_examples(arr[bad])}"
        )
    return f.astype(np.int64)


def _floats(x: Any, name: str, allow_nan: bool = False) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        try:
            arr = pd.Series(x).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise ValidationInputError(f"{name} must be numeric, got dtype {x.dtype}") from None
    else:
        raw = np.asarray(x)
        try:
            if raw.dtype.kind in "US" or (raw.dtype.kind == "O" and any(isinstance(v, (str, bytes))
                                                                        for v in raw.ravel())):
                raise TypeError
            arr = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise ValidationInputError(f"{name} must be numeric, got values such as "
                                       f"{_examples(np.asarray(x, dtype=object).ravel())}") from None
    arr = _one_d(arr, name)
    if arr.size == 0:
        raise ValidationInputError(f"{name} is empty")
    if not allow_nan and np.isnan(arr).any():
        raise ValidationInputError(f"{name} has {int(np.isnan(arr).sum())} missing (NaN) value(s)")
    return arr


def _scores(x: Any, name: str = "score") -> np.ndarray:
    arr = _floats(x, name)
    if np.isinf(arr).any():
        raise ValidationInputError(f"{name} has {int(np.isinf(arr).sum())} infinite value(s)")
    return arr


def _probabilities(x: Any, name: str = "pd") -> np.ndarray:
    arr = _floats(x, name)
    out = (arr < 0) | (arr > 1)
    if out.any():
        raise ValidationInputError(
            f"{name} must lie in [0, 1]; {int(out.sum())} value(s) do not, e.g. {_examples(arr[out])} "
            f"(min {arr.min():g}, max {arr.max():g})"
        )
    return arr


def _same_length(**arrays: Sized) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValidationInputError(f"length mismatch: {detail} values")
    return next(iter(lengths.values()))


def _both_classes(y: np.ndarray, name: str = "y") -> tuple[int, int]:
    bads = int(y.sum())
    goods = int(len(y) - bads)
    if bads == 0 or goods == 0:
        raise ValidationInputError(
            f"{name} holds only one outcome ({bads} defaults, {goods} non-defaults); "
            "the statistic needs both defaults and non-defaults"
        )
    return bads, goods


def _check_level(level: float, name: str = "level") -> float:
    if not (isinstance(level, (int, float, np.floating)) and 0 < float(level) < 1):
        raise ValidationInputError(f"{name} must be a confidence level in (0, 1), got {level!r}")
    return float(level)


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValidationInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _ordered_labels(labels: pd.Series) -> list:
    """Distinct labels sorted, or sorted by their text when they do not compare (mixed types)."""
    uniq = list(pd.unique(labels))
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)
