"""PD model: a monotone gradient-boosted classifier, its calibration, validation
metrics, the master scale and score points.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from credit_lab.core.config import Grade, ModelParams, ScoreScaling
from credit_lab.core.exceptions import CreditLabError
from credit_lab.features.point_in_time import monotone_constraints

__all__ = [
    "PDModel",
    "fit_calibration",
    "assign_grades",
    "score_points",
    "grade_table",
    "split_development",
]

logger = logging.getLogger(__name__)
_EPS = 1e-9


class PDModel:
    """Gradient-boosted PD model with monotone constraints and a calibration map.

    Parameters
    ----------
    features : feature names, in column order.
    params : boosting hyper-parameters and the calibration method.
    random_state : seed of the booster.

    Attributes
    ----------
    gbm_ : the fitted :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    calibrator_ : maps raw log-odds to a calibrated PD.
    features_ : the features the booster uses (those observed at least once in the fit data).
    unused_features_ : features left out because they were never observed.
    monotone_cst_ : the constraint of each used feature (+1 riskier when higher).
    """

    family = "gbm"

    def __init__(self, features: list[str], params: ModelParams, random_state: int = 0,
                 monotone: dict[str, int] | None = None, categorical: list[str] | None = None,
                 special_codes: dict[str, list[float]] | None = None):
        self.features = list(features)
        self.params = params
        self.random_state = random_state
        # Table mode: directions declared or inferred from data, text categories coded by
        # default rate, special codes treated as missing by the booster.
        self.monotone = dict(monotone) if monotone is not None else None
        self.categorical = list(categorical or [])
        self.special_codes = {k: list(v) for k, v in (special_codes or {}).items()}

    def fit(self, X: pd.DataFrame, y: pd.Series, X_cal: pd.DataFrame, y_cal: pd.Series) -> "PDModel":
        """Fit the booster on ``X, y`` and the calibration on the held-out ``X_cal, y_cal``."""
        y, y_cal = np.asarray(y, dtype=int), np.asarray(y_cal, dtype=int)
        for name, labels in (("training", y), ("calibration", y_cal)):
            if labels.min(initial=1) == labels.max(initial=0):
                raise CreditLabError(
                    f"the {name} sample has only one outcome ({labels.max(initial=0)}); a PD model needs "
                    "defaults and non-defaults. Use more history (more training snapshots) or more customers."
                )
        # A feature with no observed value in the fit data (e.g. no financial statements at all)
        # cannot be learned from; it is left out and reported rather than crashing the binning.
        observed = X.reindex(columns=self.features).notna().any(axis=0)
        self.unused_features_ = [f for f in self.features if not observed[f]]
        self.features_ = [f for f in self.features if observed[f]]
        if not self.features_:
            raise CreditLabError("no feature has any observed value in the training data; nothing to learn from")
        if self.monotone is not None:
            self.monotone_cst_ = [int(self.monotone.get(f, 0)) for f in self.features_]
        else:
            self.monotone_cst_ = monotone_constraints(self.features_)
        self.encoder_ = None
        if self.categorical:
            from credit_lab.data.table_mode import CategoryEncoder

            used_cat = [c for c in self.categorical if c in self.features_]
            self.encoder_ = CategoryEncoder(used_cat).fit(X, y) if used_cat else None
        p = self.params
        self.gbm_ = HistGradientBoostingClassifier(
            max_iter=p.max_iter, learning_rate=p.learning_rate, max_leaf_nodes=p.max_leaf_nodes,
            min_samples_leaf=p.min_samples_leaf, l2_regularization=p.l2_regularization,
            monotonic_cst=self.monotone_cst_, early_stopping=False, random_state=self.random_state,
        )
        self.gbm_.fit(self._matrix(X), y)
        self.calibrator_ = fit_calibration(self.raw_log_odds(X_cal), y_cal, p, self.random_state)
        return self

    def matrix_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The booster's input: the used features, categories coded, special codes as missing."""
        used = getattr(self, "features_", self.features)
        missing = [f for f in used if f not in X.columns]
        if missing:
            raise CreditLabError(f"feature table lacks model feature(s) {missing}")
        frame = X[used]
        if getattr(self, "encoder_", None) is not None:
            frame = self.encoder_.transform(frame)
        for col, codes in getattr(self, "special_codes", {}).items():
            if col in frame.columns:
                frame = frame.assign(**{col: frame[col].where(~frame[col].isin(codes))})
        return frame.astype(float)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return self.matrix_frame(X).to_numpy(dtype=float)

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """The booster's raw output (log-odds of default): what SHAP values add up to."""
        return self.gbm_.decision_function(self._matrix(X))

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of default within the label horizon."""
        raw = self.raw_log_odds(X)
        if hasattr(self.calibrator_, "predict_proba"):  # a model saved by credit_lab < 0.2 (sklearn Platt map)
            return np.clip(self.calibrator_.predict_proba(raw.reshape(-1, 1))[:, 1], 1e-5, 1 - 1e-5)
        if not hasattr(self.calibrator_, "method"):  # ... or its isotonic map
            return np.clip(self.calibrator_.predict(raw), 1e-5, 1 - 1e-5)
        return self.calibrator_.predict(raw)


def fit_calibration(raw: np.ndarray, y, params: ModelParams, seed: int = 0):
    """The calibration map of raw log-odds to PD, fitted on the calibration sample.

    Platt scaling and isotonic regression are both scored by cross-validated Brier score on
    the sample (:func:`credit_lab.models.validation.choose_calibration`); ``params.calibration``
    ``auto`` keeps the better one, ``platt`` or ``isotonic`` forces one (the comparison is kept
    for the report). ``params.central_tendency`` then shifts the log-odds so the mean PD over
    the sample equals the long-run default rate.
    """
    from credit_lab.models.validation import choose_calibration

    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    folds = int(min(5, y.sum(), len(y) - y.sum()))
    if folds < 2:
        raise CreditLabError(f"the calibration sample has {int(y.sum())} default(s) in {len(y)} rows; at least 2 "
                             "defaults and 2 non-defaults are needed to calibrate")
    return choose_calibration(raw, y, folds=folds, seed=seed, target_mean=params.central_tendency,
                              method=params.calibration)


def split_development(train: pd.DataFrame, oot_snapshots: int, calibration_share: float = 0.25,
                      seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split stacked snapshots into fit / calibration (by customer) / out-of-time (latest snapshots).

    Customers, not rows, are split between fit and calibration so the same firm
    never appears on both sides.
    """
    snaps = np.sort(train["snapshot_date"].unique())
    oot_dates = snaps[-oot_snapshots:]
    is_oot = train["snapshot_date"].isin(oot_dates).to_numpy()
    dev = train.loc[~is_oot]
    customers = np.sort(dev.index.unique().to_numpy())
    rng = np.random.default_rng(seed)
    cal_ids = rng.choice(customers, size=max(1, int(round(calibration_share * len(customers)))), replace=False)
    is_cal = dev.index.isin(cal_ids)
    return dev.loc[~is_cal], dev.loc[is_cal], train.loc[is_oot]


def assign_grades(pd_: np.ndarray, scale: tuple[Grade, ...] | list[Grade]) -> np.ndarray:
    """Grade of each PD on the master scale: the first grade whose ``pd_max`` is >= the PD."""
    bounds = np.array([g.pd_max for g in scale])
    names = np.array([g.grade for g in scale], dtype=object)
    pos = np.searchsorted(bounds, np.asarray(pd_, dtype=float), side="left")
    return names[np.minimum(pos, len(bounds) - 1)]


def score_points(pd_: np.ndarray, scaling: ScoreScaling) -> np.ndarray:
    """Score points by points-to-double-odds scaling.

    ``score = base_score + pdo / ln 2 * ln(odds / base_odds)`` with good:bad
    ``odds = (1 - PD) / PD``: ``base_odds`` earns ``base_score`` and every
    doubling of the odds adds ``pdo`` points.
    """
    p = np.clip(np.asarray(pd_, dtype=float), _EPS, 1 - _EPS)
    factor = scaling.pdo / np.log(2.0)
    return scaling.base_score + factor * (np.log((1 - p) / p) - np.log(scaling.base_odds))


def grade_table(grades: np.ndarray, pd_: np.ndarray, y: np.ndarray | None,
                scale: tuple[Grade, ...] | list[Grade]) -> pd.DataFrame:
    """Count, mean PD and (when outcomes are given) observed default rate per grade."""
    lower = [0.0] + [g.pd_max for g in scale[:-1]]
    frame = pd.DataFrame({"grade": grades, "pd": pd_})
    if y is not None:
        frame["default"] = np.asarray(y, dtype=float)
    agg = {"customers": ("pd", "size"), "mean_pd": ("pd", "mean")}
    if y is not None:
        agg["observed_default_rate"] = ("default", "mean")
        agg["defaults"] = ("default", "sum")
    table = frame.groupby("grade").agg(**agg)
    band = pd.DataFrame({"grade": [g.grade for g in scale], "pd_from": lower, "pd_to": [g.pd_max for g in scale]})
    return band.merge(table, left_on="grade", right_index=True, how="left").fillna({"customers": 0})
