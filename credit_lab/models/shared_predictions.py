"""Predictions shared inside a block: the same model on the same feature frame is computed once.

Stage 03 scores the same samples with the same models many times over: the validation, the
candidate comparison, the out-of-time table, the segment comparison, the AUC per period, the
stability of the PD and the central-tendency check each ask the champion for its PD on the fit,
calibration and out-of-time samples (47 booster predictions of 200 trees for a 5-candidate fit,
40 % of the stage's time at 50,000 customers). Inside :func:`shared_predictions` a model's raw
output for a frame it has already scored is returned from memory: keyed by the model and the
frame objects themselves (held by weak references, so a new frame with a reused ``id`` is never
taken for an old one) and their shape and columns. The frames must not be changed in place inside
the block (stage 03 never does); outside a block nothing is kept and every call computes.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["cached_prediction", "shared_predictions"]

_CACHE: ContextVar[dict | None] = ContextVar("credit_lab_shared_predictions", default=None)


@contextlib.contextmanager
def shared_predictions() -> Iterator[None]:
    """Inside the block, :func:`cached_prediction` computes each (model, frame, kind) once."""
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def cached_prediction(model: Any, X: pd.DataFrame, kind: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``, or, inside :func:`shared_predictions`, a copy of what it gave for this model and frame."""
    cache = _CACHE.get()
    if cache is None:
        return compute()
    key = (id(model), id(X), kind)
    stamp = (X.shape, tuple(X.columns))
    hit = cache.get(key)
    if hit is not None and hit[0]() is model and hit[1]() is X and hit[2] == stamp:
        return hit[3].copy()
    out = compute()
    cache[key] = (weakref.ref(model), weakref.ref(X), stamp, out)
    return out.copy()
