"""The review's errors, the default grade scale and the validation helpers its modules share.

The public names here are re-exported by :mod:`credit_lab.limits.review`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.config import FeatureParams, RunParams
from credit_lab.core.exceptions import CreditLabError, ParamsError

__all__ = [
    "DEFAULT_GRADE_ORDER",
    "ReviewInputError",
    "ReviewSettingsError",
]


class ReviewInputError(CreditLabError, ValueError):
    """A frame passed to a review function lacks a column, a customer, or holds an invalid value."""


class ReviewSettingsError(ParamsError):
    """A review setting is invalid: unknown signal, trigger, action or grade, or a threshold out of range."""


#: Grades best to worst, taken from the default master scale so the two never disagree.
DEFAULT_GRADE_ORDER: tuple[str, ...] = tuple(g.grade for g in RunParams.model_fields["master_scale"].default)

_DAY = pd.Timedelta(days=1)
_DEFAULT_FEATURE_PARAMS = FeatureParams()


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    # A frozen dataclass holding a plain dict could still be changed in place; a read-only view cannot.
    return MappingProxyType(dict(value))


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str, fix: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReviewInputError(
            f"{what} lacks column(s) {missing}; available: {sorted(map(str, frame.columns))}. {fix}"
        )


def _require_unique_index(frame: pd.DataFrame, what: str) -> None:
    dup = frame.index[frame.index.duplicated()].unique()
    if len(dup):
        raise ReviewInputError(
            f"{what} has duplicated customer_id(s) {list(dup[:5])}; pass one row per customer "
            "(index = customer_id)."
        )


def _examples(index: Iterable[Any], n: int = 5) -> list[Any]:
    return list(index)[:n]


def _grade_positions(grades: pd.Series, order: Sequence[str], what: str) -> np.ndarray:
    """Position of each grade on the scale (0 = best), NaN where the grade is missing."""
    pos = {g: float(i) for i, g in enumerate(order)}
    valid = grades.notna().to_numpy()
    text = grades.astype(object).to_numpy()
    unknown = sorted({str(g) for g, ok in zip(text, valid) if ok and g not in pos})
    if unknown:
        raise ReviewInputError(
            f"{what}: grade(s) {unknown} are not on the grade scale {list(order)}; map them to a scale grade "
            "or pass the scale in the settings' grade_order."
        )
    return np.array([pos[g] if ok else np.nan for g, ok in zip(text, valid)], dtype=float)


def _check_grade_order(order: Sequence[str], key: str) -> None:
    if len(order) == 0 or len(set(order)) != len(order):
        raise ReviewSettingsError(
            f"{key}: must list each grade once, best first; got {list(order)}. Use e.g. {list(DEFAULT_GRADE_ORDER)}."
        )


def _check_number(key: str, value: float, low: float | None = None, high: float | None = None,
                  low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        bounds = " and ".join(b for b in (lo, hi) if b) or "finite"
        raise ReviewSettingsError(f"{key}: got {value!r}; set a finite number {bounds}.")
