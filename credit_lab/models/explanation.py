"""The one explanation type: contributions to the log-odds that add up to the model's output.

Every model family returns an :class:`Explanation`; every plot and table takes one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import ExplanationError

__all__ = ["Explanation", "check_additivity"]


@dataclass(frozen=True)
class Explanation:
    """SHAP values of a set of customers (the contract every plot and table takes).

    Attributes
    ----------
    values : (n_customers, n_features) contributions to the log-odds of default.
    base_value : the model's expected raw output; one per customer (an array) when customers are
        scored by different models (segments), since each model has its own.
    data : the feature values explained.
    output : the raw log-odds the values add up to.
    """

    values: np.ndarray
    base_value: float | np.ndarray
    data: pd.DataFrame
    output: np.ndarray

    @property
    def feature_names(self) -> list[str]:
        return list(self.data.columns)

    def base_values(self) -> np.ndarray:
        """The base value of every customer (the same for all under one model)."""
        return np.broadcast_to(np.asarray(self.base_value, dtype=float), (len(self.values),)).copy()

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, index=self.data.index, columns=self.feature_names)


def check_additivity(values: np.ndarray, base_value: float, output: np.ndarray, tolerance: float = 1e-6) -> float:
    """Max |base + sum(values) - output|; raises :class:`ExplanationError` above ``tolerance``."""
    err = np.abs(base_value + values.sum(axis=1) - output)
    worst = float(err.max(initial=0.0))
    if not np.isfinite(worst) or worst > tolerance:
        i = int(np.nanargmax(err)) if np.isfinite(err).any() else 0
        raise ExplanationError(
            f"SHAP values do not add up to the model output: max error {worst:.3g} > {tolerance:g} "
            f"(row {i}); the explanation cannot be trusted and the run stops"
        )
    return worst
