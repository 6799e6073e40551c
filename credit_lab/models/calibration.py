"""Calibration of a fitted PD estimator: its raw log-odds mapped to PDs on a held-out sample.

:class:`CalibratedPD` wraps an estimator already fitted on the fit sample (the
``cv="prefit"`` pattern of scikit-learn) and learns the map from its raw log-odds to the
PD on the calibration sample: Platt scaling or isotonic regression, whichever has the lower
cross-validated Brier score (or the one asked for), then re-anchored to the long-run default rate
as ``central_tendency`` says (:mod:`credit_lab.models.central_tendency`: ``"auto"`` shifts to the
development cohorts' long-run rate when the calibration sample's mean PD lies outside its binomial
interval, a number always shifts to it, None never shifts). The wrapper answers everything the rest
of the package reads of a PD model (``predict_pd``, ``raw_log_odds``, ``features_``, ``explanation``...), so
a calibrated GBM, scorecard or segment model can stand wherever a model is used.
:func:`fit_calibrated` fits both steps on their own samples in one call.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from credit_lab.core.config import ModelParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.models.base import PDClassifierMixin
from credit_lab.models.calibration_map import choose_calibration
from credit_lab.models.central_tendency import LongRunRate, anchor_central_tendency, long_run_default_rate
from credit_lab.models.explanation import Explanation

__all__ = ["CalibratedPD", "check_two_outcomes", "fit_calibrated", "fit_calibration"]

logger = logging.getLogger(__name__)


def check_two_outcomes(y: Any, sample: str) -> np.ndarray:
    """``y`` as an int array; raises naming the sample when it holds only one outcome."""
    labels = np.asarray(y, dtype=int)
    if labels.min(initial=1) == labels.max(initial=0):
        raise CreditLabError(
            f"the {sample} sample has only one outcome ({labels.max(initial=0)}); a PD model needs "
            "defaults and non-defaults. Use more history (more training snapshots) or more customers."
        )
    return labels


def fit_calibration(raw: Any, y: Any, method: str = "auto", central_tendency: float | str | None = None, *,
                    long_run: LongRunRate | None = None, cv: int = 5, seed: int = 0):
    """The calibration map of raw log-odds to PD, fitted on the calibration sample.

    Platt scaling and isotonic regression are both scored by cross-validated Brier score on
    the sample (:func:`credit_lab.models.validation.choose_calibration`, at most ``cv`` folds);
    ``method="auto"`` keeps the better one, ``"platt"`` or ``"isotonic"`` forces one (the
    comparison is kept for the report). ``central_tendency`` then decides whether the log-odds
    are shifted so the mean PD over the sample equals the long-run default rate
    (:func:`~credit_lab.models.central_tendency.anchor_central_tendency`): ``"auto"`` by the rule,
    against ``long_run`` (without it: the calibration rows' own rate, so nothing is shifted), a
    number always, None never. The decision is the map's ``central_tendency``.
    """
    raw = np.asarray(raw, dtype=float)
    y = np.asarray(y, dtype=int)
    folds = int(min(cv, y.sum(), len(y) - y.sum()))
    if folds < 2:
        raise CreditLabError(f"the calibration sample has {int(y.sum())} default(s) in {len(y)} rows; at least 2 "
                             "defaults and 2 non-defaults are needed to calibrate")
    choice = choose_calibration(raw, y, folds=folds, seed=seed, method=method)
    if central_tendency == "auto" and long_run is None:
        long_run = long_run_default_rate(y, basis="the calibration rows only (no development cohorts were given)")
    decision = anchor_central_tendency(choice.predict(raw), central_tendency, long_run)
    choice.central_tendency, choice.shift, choice.target_mean = decision, decision.shift, decision.target
    return choice


class CalibratedPD(PDClassifierMixin, BaseEstimator):
    """A fitted PD estimator with a calibration map learnt on a held-out sample.

    Parameters
    ----------
    estimator : a PD estimator (:class:`~credit_lab.models.gbm.PDModel`,
        :class:`~credit_lab.models.scorecard.ScorecardModel`...) already fitted on the fit sample;
        :meth:`fit` calibrates it and never refits it.
    method : ``"auto"`` (Platt or isotonic, the lower cross-validated Brier score), ``"platt"`` or
        ``"isotonic"``.
    central_tendency : ``"auto"``: shift the calibrated PDs to the long-run default rate when the
        calibration sample's mean PD lies outside its 95% binomial interval; a number: always shift
        the mean PD to it; None: no shift (:mod:`credit_lab.models.central_tendency`).
    long_run_rate : the development cohorts' long-run default rate ``"auto"`` anchors to
        (:func:`~credit_lab.models.central_tendency.long_run_default_rate`); None: the calibration
        rows' own rate, which the calibrated PDs already match, so nothing is shifted.
    cv : at most this many folds for the Brier comparison of the two methods.
    random_state : seed of the folds.

    Attributes
    ----------
    calibrator_ : the map of raw log-odds to PD (``method``, ``shift``, ``comparison``, and the
        ``central_tendency`` decision).
    classes_ : ``[0, 1]`` (1 = default).
    """

    def __init__(self, estimator: Any, method: str = "auto", central_tendency: float | str | None = None,
                 long_run_rate: LongRunRate | None = None, cv: int = 5, random_state: int = 0):
        self.estimator = estimator
        self.method = method
        self.central_tendency = central_tendency
        self.long_run_rate = long_run_rate
        self.cv = cv
        self.random_state = random_state

    @classmethod
    def from_params(cls, estimator: Any, params: ModelParams, random_state: int = 0,
                    long_run_rate: LongRunRate | None = None) -> CalibratedPD:
        """The calibration the run's ``model`` params ask for (``calibration``, ``central_tendency``)."""
        return cls(estimator, method=params.calibration, central_tendency=params.central_tendency,
                   long_run_rate=long_run_rate, random_state=random_state)

    def fit(self, X: pd.DataFrame, y: Any) -> CalibratedPD:
        """Learn the calibration map on the calibration sample ``X, y`` (the estimator stays as fitted)."""
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            raise CreditLabError(
                f"CalibratedPD calibrates an already fitted {type(self.estimator).__name__}; fit it on the fit "
                "sample first, or call fit_calibrated(estimator, X_fit, y_fit, X_cal, y_cal)"
            ) from None
        y = check_two_outcomes(y, "calibration")
        self.calibrator_ = fit_calibration(self.estimator.raw_log_odds(X), y, self.method, self.central_tendency,
                                           long_run=self.long_run_rate, cv=self.cv, seed=self.random_state)
        self.classes_ = np.array([0, 1])
        return self

    # ---- predictions ---------------------------------------------------------------------------
    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of default within the label horizon."""
        return self.calibrator_.predict(self.raw_log_odds(X))

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """The wrapped estimator's raw log-odds (what its explanation adds up to)."""
        return self.estimator.raw_log_odds(X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.raw_log_odds(X)

    def explanation(self, X: pd.DataFrame, engine: str = "fast") -> Explanation:
        """The wrapped estimator's exact explanation: calibration is monotone, the ranking carries over."""
        return self.estimator.explanation(X, engine=engine)

    def matrix_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.estimator.matrix_frame(X)

    def points_table(self) -> pd.DataFrame:
        """The scorecard's points table (a calibrated scorecard only)."""
        return self.estimator.points_table()

    # ---- what downstream code reads of the wrapped estimator ----------------------------------
    @property
    def family(self) -> str:
        return self.estimator.family

    @property
    def features_(self) -> list[str]:
        return self.estimator.features_

    @property
    def unused_features_(self) -> list[str]:
        return self.estimator.unused_features_

    @property
    def monotone_cst_(self) -> list[int]:
        return self.estimator.monotone_cst_

    @property
    def gbm_(self) -> Any:
        """The fitted booster of a calibrated GBM."""
        return self.estimator.gbm_

    @property
    def card_(self) -> Any:
        """The fitted :class:`~credit_lab.models.scorecard.WoEScorecard` of a calibrated scorecard."""
        return self.estimator.card_


def fit_calibrated(estimator: Any, X_fit: pd.DataFrame, y_fit: Any, X_cal: pd.DataFrame, y_cal: Any, *,
                   params: ModelParams | None = None, method: str = "auto",
                   central_tendency: float | str | None = None, long_run: LongRunRate | None = None,
                   cv: int = 5, random_state: int | None = None) -> CalibratedPD:
    """Fit ``estimator`` on the fit sample, then its calibration on the held-out calibration sample.

    Parameters
    ----------
    estimator : an unfitted PD estimator (it is fitted in place).
    X_fit, y_fit : the fit sample.
    X_cal, y_cal : the calibration sample (other customers than the fit sample).
    params : the run's model params; when given, their ``calibration`` and ``central_tendency``
        replace ``method`` and ``central_tendency``.
    long_run : the long-run default rate ``central_tendency="auto"`` anchors to; None: the fit and
        calibration rows pooled as one cohort (pass
        :func:`~credit_lab.models.central_tendency.long_run_default_rate` of the development rows with
        their snapshot dates to average over cohorts, as stage 03 does).
    random_state : seed of the calibration folds; None = the estimator's ``random_state``.

    Returns
    -------
    CalibratedPD
        The fitted calibrated model.
    """
    if params is not None:
        method, central_tendency = params.calibration, params.central_tendency
    seed = getattr(estimator, "random_state", 0) if random_state is None else random_state
    if central_tendency == "auto" and long_run is None:
        long_run = long_run_default_rate(np.concatenate([np.asarray(y_fit, dtype=int), np.asarray(y_cal, dtype=int)]),
                                         basis="the fit and calibration rows pooled")
    estimator.fit(X_fit, y_fit)
    return CalibratedPD(estimator, method=method, central_tendency=central_tendency, long_run_rate=long_run, cv=cv,
                        random_state=seed).fit(X_cal, y_cal)
