"""The common base of the PD estimators: scikit-learn's classifier API from one ``predict_pd``.

A PD estimator (scorecard, segmented router, calibrated model) implements ``predict_pd``;
this mixin derives ``predict_proba`` (``[1 - PD, PD]``) and ``predict`` (1 where PD >= 1/2)
from it, so scikit-learn's tools and the package read every family the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin

__all__ = ["PDClassifierMixin"]


class PDClassifierMixin(ClassifierMixin):
    """``predict_proba`` and ``predict`` of a binary default classifier that defines ``predict_pd``."""

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:  # pragma: no cover - each estimator defines it
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: probability of no default and of default."""
        p = self.predict_pd(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the PD is at least one half."""
        return (self.predict_pd(X) >= 0.5).astype(int)
