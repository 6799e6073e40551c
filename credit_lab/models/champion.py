"""Model families behind one interface, segment routing, and the champion/challenger comparison.

Every PD model here answers ``fit(X, y, X_cal, y_cal)``, ``raw_log_odds(X)``,
``predict_pd(X)``, ``features_`` and is explained exactly by
:func:`credit_lab.models.explain.explain` (SHAP for trees, point contributions for the
scorecard); :func:`credit_lab.data.io.save_model` / ``load_model`` save and load any of them
with their hash. :class:`SegmentedModel` routes new customers (short tenure or no
payment history) and existing customers to models with their own feature sets.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from credit_lab.core.config import ModelParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.models.gbm import fit_calibration

__all__ = ["CalibratedScorecard", "SegmentedModel", "SEGMENT_COLUMN", "candidate_table"]

logger = logging.getLogger(__name__)

SEGMENT_COLUMN = "is_new_customer"


class CalibratedScorecard:
    """The WoE scorecard (:class:`credit_lab.models.scorecard.WoEScorecard`) with a held-out calibration.

    The scorecard's logistic output is its raw log-odds (what its point contributions add
    up to); the calibration map fitted on the calibration sample turns it into the PD,
    exactly as for the gradient-boosted model.
    """

    family = "scorecard"

    def __init__(self, features: list[str], params: ModelParams, random_state: int = 0,
                 categorical: list[str] | None = None, special_codes: dict[str, list[float]] | None = None,
                 monotone: dict[str, int] | None = None, pdo: float = 20.0, base_score: float = 600.0,
                 base_odds: float = 50.0):
        self.features = list(features)
        self.params = params
        self.random_state = random_state
        self.categorical = list(categorical or [])
        self.special_codes = {k: list(v) for k, v in (special_codes or {}).items()}
        self.monotone = dict(monotone) if monotone is not None else None
        self.scaling = (pdo, base_score, base_odds)

    def fit(self, X: pd.DataFrame, y, X_cal: pd.DataFrame, y_cal) -> "CalibratedScorecard":
        from credit_lab.models.scorecard import WoEScorecard

        y, y_cal = np.asarray(y, dtype=int), np.asarray(y_cal, dtype=int)
        observed = X.reindex(columns=self.features).notna().any(axis=0)
        candidates = [f for f in self.features if observed[f]]
        self.unused_features_ = [f for f in self.features if not observed[f]]
        direction = {1: "ascending", -1: "descending"}
        monotonic = {f: direction[d] for f, d in (self.monotone or {}).items() if d in direction and f in candidates}
        s = self.params.scorecard
        pdo, base_score, base_odds = self.scaling
        self.card_ = WoEScorecard(
            candidates, categorical=[c for c in self.categorical if c in candidates],
            special_codes={k: v for k, v in self.special_codes.items() if k in candidates},
            min_iv=s.min_iv, max_features=s.max_features, max_bins=s.max_bins, min_bin_share=s.min_bin_share,
            C=s.C, pdo=pdo, base_score=base_score, base_odds=base_odds, random_state=self.random_state,
            monotonic=monotonic,
        ).fit(X[candidates], y)
        self.features_ = list(self.card_.features_)
        self.monotone_cst_ = [int(-np.sign(c)) if c else 0 for c in self.card_.coef_.to_numpy()]
        self.calibrator_ = fit_calibration(self.raw_log_odds(X_cal), y_cal, self.params, self.random_state)
        return self

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.card_.raw_log_odds(X[self.features_]), dtype=float)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator_.predict(self.raw_log_odds(X))

    def matrix_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The scorecard's inputs as numbers (categories as their bin index) for plots."""
        return self.card_.explanation(X[self.features_]).data

    def points_table(self) -> pd.DataFrame:
        return self.card_.points_table()


class SegmentedModel:
    """New and existing customers scored by separate models, routed on ``is_new_customer``.

    Parameters
    ----------
    models : ``{"new": model, "existing": model}``; a segment missing here (too few
        defaults to fit its own model) is scored by ``fallback``.
    fallback : the single model for every segment without its own.
    """

    def __init__(self, models: dict[str, object], fallback: object | None = None):
        self.models = dict(models)
        self.fallback = fallback
        family = {getattr(m, "family", "gbm") for m in list(self.models.values()) + [fallback] if m is not None}
        self.family = "segmented " + "/".join(sorted(family))

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
        for m in list(self.models.values()) + [self.fallback]:
            if m is not None:
                names += [f for f in m.features_ if f not in names]
        return names

    @property
    def unused_features_(self) -> list[str]:
        used = set(self.features_)
        out: list[str] = []
        for m in list(self.models.values()) + [self.fallback]:
            if m is not None:
                out += [f for f in m.unused_features_ if f not in used and f not in out]
        return out

    def _route(self, X: pd.DataFrame, method: str) -> np.ndarray:
        seg = self.segment_of(X)
        out = np.empty(len(X), dtype=float)
        for name in np.unique(seg):
            rows = seg == name
            out[rows] = getattr(self.model_for(name), method)(X.loc[rows])
        return out

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        return self._route(X, "raw_log_odds")

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self._route(X, "predict_pd")

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
    """
    from credit_lab.models.validation import accuracy_ratio, auc, brier_score, kolmogorov_smirnov, log_loss

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
    table["role"] = np.where(table["candidate"] == champion, "champion", "challenger")
    return table.sort_values(["sample", "rank_out_of_time"], key=lambda s: s.map(
        {k: i for i, k in enumerate(samples)}) if s.name == "sample" else s).reset_index(drop=True)
