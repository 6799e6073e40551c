"""Input checks shared by the Basel formulas and the portfolio loss model.

Both :mod:`credit_lab.risk.basel` and :mod:`credit_lab.risk.loss_distribution` validate
probabilities, LGDs, confidence levels and seeds the same way and raise the same
:class:`LossModelError`; the checks live here, below both, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from credit_lab.core.exceptions import CreditLabError
from credit_lab.core.formatting import plain_number


class LossModelError(CreditLabError, ValueError):
    """Invalid input to the portfolio loss model; the message names the input and the fix."""


def check_open_unit(name: str, value: Any, *, allow_zero: bool = False) -> np.ndarray:
    """``value`` as a float array, checked to lie in (0, 1) (or [0, 1) with ``allow_zero``).

    Raises
    ------
    LossModelError
        Naming ``name``, the first offending value and the expected interval.
    """
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr) | (arr >= 1.0) | ((arr < 0.0) if allow_zero else (arr <= 0.0))
    if np.any(bad):
        first = arr.flat[int(np.flatnonzero(bad.ravel())[0])]
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise LossModelError(f"{name} = {plain_number(first, exact=True)}"
                             f" is outside {interval}; give it as a fraction in {interval} "
                             f"(e.g. 0.02 for 2 %)")
    return arr


def check_unit(name: str, value: Any) -> np.ndarray:
    """``value`` as a float array, checked to lie in [0, 1] (an LGD or other share of exposure).

    Raises
    ------
    LossModelError
        Naming ``name`` and the first offending value.
    """
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if np.any(bad):
        first = arr.flat[int(np.flatnonzero(bad.ravel())[0])]
        raise LossModelError(f"{name} = {plain_number(first, exact=True)}"
                             " is outside [0, 1]; give it as a fraction of the exposure "
                             f"(e.g. 0.45 for 45 %)")
    return arr


def scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    """A 0-d result as a Python float, anything else unchanged (the formulas take scalars or arrays)."""
    return float(x) if np.ndim(x) == 0 else x


def check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Confidence levels as a sorted tuple without duplicates, each checked to lie in [0.5, 1)."""
    lv = tuple(float(q) for q in levels)
    if not lv:
        raise LossModelError("levels is empty; give confidence levels such as (0.99, 0.995, 0.999)")
    for q in lv:
        if not (0.5 <= q < 1.0):
            raise LossModelError(f"levels contains {q!r}; confidence levels must lie in [0.5, 1)")
    return tuple(sorted(set(lv)))


def check_seed(seed: Any) -> int:
    """``seed`` as an int, checked to be a non-negative integer (bools rejected)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LossModelError(f"seed = {seed!r} must be a non-negative integer")
    return int(seed)
