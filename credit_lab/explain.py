"""SHAP explanations of the PD model, their additivity check, and reason codes.

The booster's raw output is the log-odds of default; SHAP values explain it
exactly: ``base_value + sum(shap) == raw log-odds``. The check below enforces
that for every customer before any explanation is reported. Calibration is a
monotone map of the raw log-odds, so the ranking of factors carries over to
the calibrated PD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .exceptions import ExplanationError
from .features import FEATURE_DICTIONARY
from .models import PDModel

__all__ = ["Explanation", "explain", "check_additivity", "reason_codes"]


@dataclass(frozen=True)
class Explanation:
    """SHAP values of a set of customers (the contract every plot and table takes).

    Attributes
    ----------
    values : (n_customers, n_features) contributions to the log-odds of default.
    base_value : the model's expected raw output.
    data : the feature values explained.
    output : the raw log-odds the values add up to.
    """

    values: np.ndarray
    base_value: float
    data: pd.DataFrame
    output: np.ndarray

    @property
    def feature_names(self) -> list[str]:
        return list(self.data.columns)

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


def explain(model: PDModel, X: pd.DataFrame, tolerance: float = 1e-6) -> tuple[Explanation, float]:
    """SHAP values of ``model`` for the rows of ``X``, checked for additivity.

    Returns the explanation and the max additivity error found.
    """
    import shap  # imported here: it is slow to import and only this stage needs it

    data = X[model.features_].astype(float)
    explainer = shap.TreeExplainer(model.gbm_)
    values = np.asarray(explainer.shap_values(data.to_numpy()), dtype=float)
    if values.ndim == 3:  # some shap versions return one slice per class
        values = values[..., -1]
    base = float(np.ravel(explainer.expected_value)[-1])
    output = model.raw_log_odds(X)
    err = check_additivity(values, base, output, tolerance)
    return Explanation(values=values, base_value=base, data=data, output=output), err


def reason_codes(expl: Explanation, top: int = 3) -> pd.DataFrame:
    """The ``top`` factors that raise each customer's PD the most, in plain language.

    Only factors with a positive contribution (adverse) are listed; a customer
    with fewer adverse factors gets empty trailing reasons.
    """
    vals = expl.values
    names = np.array(expl.feature_names, dtype=object)
    order = np.argsort(-vals, axis=1, kind="stable")[:, :top]
    out = {}
    data = expl.data.to_numpy()
    rows = np.arange(len(vals))[:, None]
    top_vals = vals[rows, order]
    top_feat = names[order]
    top_data = data[rows, order]
    for k in range(top):
        phrases = []
        for feat, contribution, value in zip(top_feat[:, k], top_vals[:, k], top_data[:, k]):
            if contribution <= 0:
                phrases.append("")
                continue
            spec = FEATURE_DICTIONARY.get(feat)
            if spec is None:
                phrases.append(str(feat))
            elif np.isnan(value):
                phrases.append(f"no information on: {spec.description}")
            else:
                phrases.append(spec.reason)
        out[f"reason_{k + 1}"] = phrases
        out[f"reason_{k + 1}_feature"] = np.where(top_vals[:, k] > 0, top_feat[:, k], "")
        out[f"reason_{k + 1}_log_odds"] = np.where(top_vals[:, k] > 0, top_vals[:, k], 0.0)
    return pd.DataFrame(out, index=expl.data.index)
