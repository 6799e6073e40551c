"""The gradient-boosted PD estimator (monotone constraints, exact tree SHAP).

Calibration is its own estimator (:mod:`credit_lab.models.calibration`); grades and score
points are in :mod:`credit_lab.models.grading`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold

from credit_lab.core.config import ModelParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.data.table_mode import CategoryEncoder
from credit_lab.features.point_in_time import monotone_constraints
from credit_lab.models.calibration import check_two_outcomes
from credit_lab.models.explain import tree_shap
from credit_lab.models.explanation import Explanation
from credit_lab.models.shared_predictions import cached_prediction

__all__ = [
    "PDModel",
]

logger = logging.getLogger(__name__)


def _observed_somewhere(frame: pd.DataFrame) -> np.ndarray:
    """The fold's matrix, a column with no observed value in the fold set to 0.

    scikit-learn's binning fails on a column with no value at all ("window shape cannot be larger
    than input array shape"); a feature seen only in the held-out rows of a fold is such a column in
    that fold's fit. A constant column offers no split either, so the fold's fit is the same.
    """
    m = frame.to_numpy(float)
    empty = np.isnan(m).all(axis=0)
    if empty.any():
        m = m.copy()  # to_numpy may hand back a read-only view of the frame's block
        m[:, empty] = 0.0
    return m


class PDModel(ClassifierMixin, BaseEstimator):
    """Gradient-boosted PD estimator with monotone constraints (uncalibrated; see :class:`CalibratedPD`).

    Parameters
    ----------
    features : feature names, in column order.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization : boosting
        hyper-parameters of the :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    monotone : ``{feature: +1 / -1 / 0}`` risk directions (table mode: declared or inferred);
        None = the feature dictionary's (:func:`credit_lab.features.point_in_time.monotone_constraints`).
    categorical : text features coded by default rate before boosting.
    special_codes : ``{feature: [codes]}`` treated as missing by the booster.
    random_state : seed of the booster (and of the folds that choose the rounds).
    cv_rounds_below_defaults : when the fit rows hold fewer defaults (or non-defaults) than this,
        the number of boosting rounds is not ``max_iter`` but the one with the lowest out-of-fold
        log loss in a stratified ``cv_folds``-fold cross-validation on the fit rows (at most
        ``max_iter``; categories coded inside each fold). 0 = always ``max_iter``.
    cv_folds : folds of that cross-validation.

    Attributes
    ----------
    gbm_ : the fitted :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    features_ : the features the booster uses (those observed at least once in the fit data).
    unused_features_ : features left out because they were never observed.
    monotone_cst_ : the constraint of each used feature (+1 riskier when higher).
    encoder_ : the category encoder, or None.
    n_rounds_ : the boosting rounds fitted; ``rounds_basis_`` says how they were chosen and
        ``cv_log_loss_`` holds the mean out-of-fold log loss per round (None without cross-validation).
    classes_ : ``[0, 1]`` (1 = default).

    Calibration is a separate step: :class:`credit_lab.models.calibration.CalibratedPD` (or
    :func:`credit_lab.models.calibration.fit_calibrated`) maps the raw log-odds to the PD.
    """

    family = "gbm"

    def __init__(self, features: list[str], max_iter: int = 200, learning_rate: float = 0.05,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 40, l2_regularization: float = 1.0,
                 monotone: dict[str, int] | None = None, categorical: list[str] | None = None,
                 special_codes: dict[str, list[float]] | None = None, random_state: int = 0,
                 cv_rounds_below_defaults: int = 0, cv_folds: int = 5):
        self.features = features
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.monotone = monotone
        self.categorical = categorical
        self.special_codes = special_codes
        self.random_state = random_state
        self.cv_rounds_below_defaults = cv_rounds_below_defaults
        self.cv_folds = cv_folds

    @classmethod
    def from_params(cls, features: list[str], params: ModelParams, random_state: int = 0, **kwargs) -> PDModel:
        """The booster the run's ``model`` params describe; ``kwargs``: monotone, categorical, special_codes."""
        return cls(list(features), max_iter=params.max_iter, learning_rate=params.learning_rate,
                   max_leaf_nodes=params.max_leaf_nodes, min_samples_leaf=params.min_samples_leaf,
                   l2_regularization=params.l2_regularization, random_state=random_state,
                   cv_rounds_below_defaults=params.cv_rounds_below_defaults, **kwargs)

    def __setstate__(self, state: dict) -> None:
        # A PDModel pickled before calibration became its own step carries its calibration map;
        # loaded as the new (uncalibrated) estimator it would silently give uncalibrated PDs.
        if "calibrator_" in state:
            raise CreditLabError("this PD model was saved by a credit_lab older than the estimator split (a PDModel "
                                 "with its own calibration); rerun the model stage (03_model) to refit and save it")
        super().__setstate__(state)

    def fit(self, X: pd.DataFrame, y) -> PDModel:
        """Fit the booster on the features of ``X`` observed at least once."""
        y = check_two_outcomes(y, "training")
        # A feature with no observed value in the fit data (e.g. no financial statements at all)
        # cannot be learned from; it is left out and reported rather than crashing the binning.
        features = list(self.features)
        raw = X.reindex(columns=features)
        for col, codes in (self.special_codes or {}).items():  # a special code is missing to the booster
            if col in raw.columns:
                raw[col] = raw[col].where(~raw[col].isin(codes))
        observed = raw.notna().any(axis=0)
        self.unused_features_ = [f for f in features if not observed[f]]
        self.features_ = [f for f in features if observed[f]]
        if not self.features_:
            raise CreditLabError("no feature has any observed value in the training data; nothing to learn from")
        if self.monotone is not None:
            self.monotone_cst_ = [int(self.monotone.get(f, 0)) for f in self.features_]
        else:
            self.monotone_cst_ = monotone_constraints(self.features_)
        used_cat = [c for c in (self.categorical or []) if c in self.features_]
        self.n_rounds_, self.rounds_basis_, self.cv_log_loss_ = self._choose_rounds(X, y, used_cat)
        self.encoder_ = CategoryEncoder(used_cat).fit(X, y) if used_cat else None
        self.gbm_ = self._booster(self.n_rounds_).fit(self._matrix(X), y)
        self.classes_ = self.gbm_.classes_
        return self

    def _booster(self, rounds: int) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=rounds, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
            monotonic_cst=self.monotone_cst_, early_stopping=False, random_state=self.random_state,
        )

    def _choose_rounds(self, X: pd.DataFrame, y: np.ndarray, used_cat: list[str]) -> tuple[int, str, list | None]:
        """``max_iter``, or on a fit sample with few defaults the rounds with the lowest out-of-fold log loss."""
        n_bad = int(y.sum())
        smaller = min(n_bad, len(y) - n_bad)
        if smaller >= self.cv_rounds_below_defaults or smaller < 2:
            return self.max_iter, f"model.max_iter ({n_bad} defaults in the fit rows)", None
        folds = StratifiedKFold(min(self.cv_folds, smaller), shuffle=True, random_state=self.random_state)
        loss = np.zeros(self.max_iter)
        for train, test in folds.split(np.zeros(len(y)), y):
            encoder = CategoryEncoder(used_cat).fit(X.iloc[train], y[train]) if used_cat else None
            fold = _observed_somewhere(self._frame(X.iloc[train], encoder))
            booster = self._booster(self.max_iter).fit(fold, y[train])
            for i, p in enumerate(booster.staged_predict_proba(self._frame(X.iloc[test], encoder).to_numpy(float))):
                q = np.clip(p[:, 1], 1e-15, 1 - 1e-15)
                loss[i] -= np.sum(y[test] * np.log(q) + (1 - y[test]) * np.log(1 - q))
        loss /= len(y)
        rounds = int(np.argmin(loss)) + 1
        basis = (f"{folds.get_n_splits()}-fold cross-validation on the fit rows ({n_bad} defaults, below "
                 f"model.cv_rounds_below_defaults = {self.cv_rounds_below_defaults}): lowest out-of-fold log loss "
                 f"at {rounds} of at most {self.max_iter} rounds")
        return rounds, basis, loss.round(6).tolist()

    def matrix_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The booster's input: the used features, categories coded, special codes as missing."""
        return self._frame(X, getattr(self, "encoder_", None))

    def _frame(self, X: pd.DataFrame, encoder: CategoryEncoder | None) -> pd.DataFrame:
        used = getattr(self, "features_", self.features)
        missing = [f for f in used if f not in X.columns]
        if missing:
            raise CreditLabError(f"feature table lacks model feature(s) {missing}")
        frame = X[used]
        if encoder is not None:
            frame = encoder.transform(frame)
        for col, codes in (self.special_codes or {}).items():
            if col in frame.columns:
                frame = frame.assign(**{col: frame[col].where(~frame[col].isin(codes))})
        return frame.astype(float)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return self.matrix_frame(X).to_numpy(dtype=float)

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's raw output (log-odds of default): what SHAP values add up to."""
        return cached_prediction(self, X, "raw_log_odds", lambda: self.gbm_.decision_function(self._matrix(X)))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.raw_log_odds(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: the booster's (uncalibrated) probability of no default and of default."""
        return cached_prediction(self, X, "predict_proba", lambda: self.gbm_.predict_proba(self._matrix(X)))

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's uncalibrated PD (wrap in :class:`CalibratedPD` for the calibrated one)."""
        return self.predict_proba(X)[:, 1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.gbm_.predict(self._matrix(X))

    def explanation(self, X: pd.DataFrame, engine: str = "fast") -> Explanation:
        """Exact tree SHAP values of the raw log-odds (see :func:`credit_lab.models.explain.tree_shap`)."""
        data = self.matrix_frame(X)
        values, base = tree_shap(self.gbm_, data.to_numpy(), engine)
        return Explanation(values=values, base_value=base, data=data, output=self.raw_log_odds(X))
