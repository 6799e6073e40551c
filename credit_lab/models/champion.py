"""Segment routing of the PD model families, and the champion/challenger comparison.

Every PD model family is a scikit-learn estimator answering ``fit(X, y)``, ``predict_proba``,
``raw_log_odds(X)``, ``predict_pd(X)``, ``features_`` and ``explanation(X)`` (exact: SHAP for
trees, point contributions for the scorecard), calibrated by
:class:`credit_lab.models.calibration.CalibratedPD`; :func:`credit_lab.data.io.save_model` /
``load_model`` save and load any of them with their hash. :class:`SegmentedModel` routes new
customers (short tenure or no payment history) and existing customers to models with their own
feature sets.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from credit_lab.core.exceptions import CreditLabError
from credit_lab.models.base import PDClassifierMixin
from credit_lab.models.explanation import Explanation
from credit_lab.models.metrics import accuracy_ratio, auc, brier_score, kolmogorov_smirnov, log_loss
from credit_lab.models.shared_predictions import cached_prediction

__all__ = ["SEGMENT_COLUMN", "SegmentedModel", "candidate_table"]

logger = logging.getLogger(__name__)

SEGMENT_COLUMN = "is_new_customer"


class SegmentedModel(PDClassifierMixin, BaseEstimator):
    """New and existing customers scored by separate models, routed on ``is_new_customer``.

    Parameters
    ----------
    models : ``{"new": estimator, "existing": estimator}``; a segment missing here (too few
        defaults to fit its own model) is scored by ``fallback``.
    fallback : the single model for every segment without its own.

    The sub-estimators are parameters, so :func:`sklearn.base.clone` clones them too.
    :meth:`fit` fits them in place (as :class:`~sklearn.pipeline.Pipeline` fits its steps): each
    segment's model on its segment's rows, the fallback on all rows. Already fitted models (e.g.
    each calibrated on its own segment's calibration rows by
    :func:`credit_lab.models.calibration.fit_calibrated`) can be routed as they are, without fit.
    """

    def __init__(self, models: dict[str, Any], fallback: Any | None = None):
        self.models = models
        self.fallback = fallback

    def _members(self) -> list[Any]:
        return [m for m in list(self.models.values()) + [self.fallback] if m is not None]

    @property
    def family(self) -> str:
        return "segmented " + "/".join(sorted({getattr(m, "family", "gbm") for m in self._members()}))

    def fit(self, X: pd.DataFrame, y: Any) -> SegmentedModel:
        """Fit each segment's model on its segment's rows and the fallback on all rows."""
        y = np.asarray(y, dtype=int)
        seg = self.segment_of(X)
        for name, model in self.models.items():
            rows = seg == name
            if not rows.any():
                raise CreditLabError(f"segment '{name}' has no row in the fit data; drop it from models= so the "
                                     "fallback scores it")
            model.fit(X.loc[rows], y[rows])
        if self.fallback is not None:
            self.fallback.fit(X, y)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        try:
            for m in self._members():
                check_is_fitted(m)
        except NotFittedError:
            return False
        return True

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def model_for(self, segment: str):
        return self.models.get(segment, self.fallback)

    @staticmethod
    def segment_of(X: pd.DataFrame) -> np.ndarray:
        if SEGMENT_COLUMN not in X.columns:
            raise CreditLabError(f"a segmented model routes on column '{SEGMENT_COLUMN}', which the feature table "
                                 "lacks")
        return np.where(X[SEGMENT_COLUMN].fillna(False).to_numpy(dtype=bool), "new", "existing")

    @property
    def features_(self) -> list[str]:
        names: list[str] = []
        for m in self._members():
            names += [f for f in m.features_ if f not in names]
        return names

    @property
    def unused_features_(self) -> list[str]:
        used = set(self.features_)
        out: list[str] = []
        for m in self._members():
            out += [f for f in m.unused_features_ if f not in used and f not in out]
        return out

    def _route(self, X: pd.DataFrame, method: str) -> np.ndarray:
        def route() -> np.ndarray:
            seg = self.segment_of(X)
            out = np.empty(len(X), dtype=float)
            for name in np.unique(seg):
                rows = seg == name
                out[rows] = getattr(self.model_for(name), method)(X.loc[rows])
            return out

        return cached_prediction(self, X, method, route)

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        return self._route(X, "raw_log_odds")

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.raw_log_odds(X)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self._route(X, "predict_pd")

    def explanation(self, X: pd.DataFrame, engine: str = "fast") -> Explanation:
        """Each customer explained by the model that scored it.

        A feature another segment's model does not use contributes 0 there (and still shows its
        value), and each customer keeps its own model's base value.
        """
        cols = self.features_
        seg = self.segment_of(X)
        values = np.zeros((len(X), len(cols)))
        base = np.zeros(len(X))
        output = np.zeros(len(X))
        data = X.reindex(columns=cols).apply(pd.to_numeric, errors="coerce").astype(float)
        for name in np.unique(seg):
            rows = np.flatnonzero(seg == name)
            sub = self.model_for(name).explanation(X.iloc[rows], engine=engine)
            pos = [cols.index(f) for f in sub.feature_names]
            values[np.ix_(rows, pos)] = sub.values
            base[rows] = sub.base_values()
            output[rows] = sub.output
            data.iloc[rows, pos] = sub.data.to_numpy(dtype=float)
        return Explanation(values=values, base_value=base, data=data, output=output)

    def matrix_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        seg = self.segment_of(X)
        parts = []
        for name in np.unique(seg):
            rows = seg == name
            parts.append(self.model_for(name).matrix_frame(X.loc[rows]))
        return pd.concat(parts).reindex(index=X.index, columns=self.features_)

    @property
    def monotone_cst_(self) -> list[int]:
        out = {}
        for m in [self.fallback] + list(self.models.values()):
            if m is not None:
                out.update(dict(zip(m.features_, m.monotone_cst_, strict=True)))
        return [out[f] for f in self.features_]


def candidate_table(samples: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]], champion: str) -> pd.DataFrame:
    """Every candidate model's discrimination and calibration on every sample, ranked out of time.

    Parameters
    ----------
    samples : sample name -> (outcomes, {candidate name -> PDs}); the last sample is the one
        candidates are ranked on (out-of-time or holdout).
    champion : the candidate the run uses.

    ``rank_calibration`` ranks the candidates by AUC on the ``"calibration"`` sample (when there
    is one): the ranking ``model.champion: auto`` chooses on, shown beside the out-of-time one.
    """
    rows = []
    for sample, (y, preds) in samples.items():
        for name, p in preds.items():
            rows.append({"candidate": name, "sample": sample, "n": len(y), "defaults": int(np.sum(y)),
                         "auc": auc(y, p), "accuracy_ratio": accuracy_ratio(y, p), "ks": kolmogorov_smirnov(y, p),
                         "brier": brier_score(y, p), "log_loss": log_loss(y, p), "mean_pd": float(np.mean(p))})
    table = pd.DataFrame(rows)
    last = list(samples)[-1]
    ranked = table[table["sample"] == last].sort_values("auc", ascending=False)["candidate"].tolist()
    table["rank_out_of_time"] = table["candidate"].map({c: i + 1 for i, c in enumerate(ranked)})
    if "calibration" in samples:
        on_cal = table[table["sample"] == "calibration"].sort_values("auc", ascending=False, kind="mergesort")
        table["rank_calibration"] = table["candidate"].map({c: i + 1 for i, c in enumerate(on_cal["candidate"])})
    table["role"] = np.where(table["candidate"] == champion, "champion", "challenger")
    return table.sort_values(["sample", "rank_out_of_time"], key=lambda s: s.map(
        {k: i for i, k in enumerate(samples)}) if s.name == "sample" else s).reset_index(drop=True)
