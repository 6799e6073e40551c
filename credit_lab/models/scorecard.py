"""WoE credit scorecard with exact optimal monotone binning.

A classic application scorecard, next to the gradient-boosted
:class:`credit_lab.models.gbm.PDModel`:

1. every feature is binned by :func:`credit_lab.models.binning.optimal_binning`: numeric features are cut
   into up to ``max_prebins`` quantile pre-bins, which are then merged by an
   **exact** dynamic programme that maximises the information value (IV)
   subject to a monotone bad rate, a minimum bin share and a maximum number of
   bins. Missing values and each declared special code (``-999``, ``9999``...)
   get bins of their own, outside the monotone ordering. Categorical features
   pool rare categories into ``OTHER`` and merge categories ordered by bad rate
   with the same programme;
2. features are selected by IV, near-duplicate WoE columns are dropped, and a
   logistic regression is fitted on the WoE matrix; features whose coefficient
   has the wrong sign are dropped one at a time and the model refitted;
3. coefficients and WoE become a points table (points-to-double-odds scaling,
   the convention of :func:`credit_lab.models.grading.score_points`), exportable as a
   plain table, and every score decomposes exactly into per-variable points.

Conventions
-----------
* ``y = 1`` is a default (bad), ``y = 0`` a good.
* WoE of a bin is ``ln(%good / %bad)``: higher WoE is safer. Empty cells are
  smoothed additively (the "adjusted WoE" of SAS):
  ``%good = (goods + s) / total_goods``, ``%bad = (bads + s) / total_bads`` with
  ``s = smoothing`` (0.5 by default). Each bin's term depends only on its own
  counts and the fixed totals, so IV is additive over bins, which is what makes
  the dynamic programme exact.
* ``IV = sum over bins of (%good - %bad) * WoE`` (missing and special bins
  included).
* The logistic regression predicts default from WoE, so a sensible coefficient
  is **negative**. The raw output is ``intercept + sum_j coef_j * woe_j``, the
  log-odds of default; :meth:`WoEScorecard.explain` returns the terms
  ``coef_j * woe_j`` (positive = raises the PD) and the intercept.
* ``score = base_score + pdo / ln 2 * (ln(odds) - ln(base_odds))`` with good:bad
  ``odds = (1 - PD) / PD``. A bin's points are ``-pdo / ln 2 * coef * woe``
  plus an equal share of the constant ``base_score - pdo / ln 2 *
  (ln(base_odds) + intercept)``; the intercept is thus spread evenly over the
  selected features so that a customer's points add up to the score.
* At scoring time a value that has no bin from the fit data -- a category never
  seen, a missing value or a declared special code that did not occur in the
  fit data -- goes to the ``OTHER`` bin of a categorical feature when there is
  one and otherwise gets WoE 0 (neutral: the odds of the fit population). Such
  values never raise; they are counted per feature in ``last_unseen_`` after
  every transform or prediction, and logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression

from credit_lab.core.config import ModelParams
from credit_lab.core.exceptions import CreditLabError, closest_hint
from credit_lab.models import persist
from credit_lab.models.base import PDClassifierMixin
from credit_lab.models.binning import (
    Binning,
    ScorecardInputError,
    _as_float,
    _check_target,
    _label_value,
    optimal_binning,
    woe_iv,
)
from credit_lab.models.explanation import Explanation

__all__ = [
    "Binning",
    "ScorecardInputError",
    "ScorecardModel",
    "WoEScorecard",
    "optimal_binning",
    "woe_iv",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# The scorecard
# --------------------------------------------------------------------------------------------

class WoEScorecard:
    """Logistic-regression scorecard on WoE-binned features, with a PDO points table.

    Parameters
    ----------
    features : candidate feature names (columns of ``X``).
    categorical : the features to treat as categories.
    special_codes : special values that get their own bin: one list applied to every feature, or a dict
        ``{feature: [codes]}``.
    min_iv : features with a lower IV are not used.
    max_features : keep at most this many features (highest IV first); None = no limit.
    max_corr : of two features whose WoE columns correlate above this (absolute), the one with the
        lower IV is dropped.
    pdo, base_score, base_odds : points-to-double-odds scaling; ``base_odds`` (good:bad) earns
        ``base_score`` and each doubling of the odds adds ``pdo`` points.
    C : inverse L2 regularisation strength of the logistic regression.
    random_state : seed passed to the logistic regression.
    max_prebins, max_bins, min_bin_share, smoothing : binning options (see :func:`optimal_binning`).
    monotonic : ``'auto'``, ``'ascending'`` or ``'descending'`` for every numeric feature, or a dict
        ``{feature: direction}`` (unlisted features use ``'auto'``).

    Attributes
    ----------
    binnings_ : :class:`Binning` of every candidate feature.
    iv_ : IV of every candidate feature (Series, descending).
    selection_ : DataFrame ``feature, iv, n_bins, selected, coefficient, reason`` -- why each feature is in
        or out.
    features_ : the selected features, in model order (descending IV).
    coef_ : coefficient of each selected feature's WoE (log-odds of default; negative).
    intercept_ : the intercept (log-odds of default at WoE 0 everywhere).
    lr_ : the fitted :class:`~sklearn.linear_model.LogisticRegression`.
    n_fit_ : number of fit rows.
    last_unseen_ : after every transform / prediction, ``{feature: {'count', 'to_other', 'to_neutral',
        'examples'}}`` for the features that met values without a fit-time bin (empty dict if none).
    """

    def __init__(self, features: Sequence[str], categorical: Iterable[str] = (),
                 special_codes: Mapping[str, Sequence] | Sequence = (), min_iv: float = 0.02,
                 max_features: int | None = None, max_corr: float = 0.9, pdo: float = 20.0,
                 base_score: float = 600.0, base_odds: float = 50.0, C: float = 1.0, random_state: int = 0,
                 max_prebins: int = 20, max_bins: int = 8, min_bin_share: float = 0.05,
                 monotonic: str | Mapping[str, str] = "auto", smoothing: float = 0.5):
        self.features = list(features)
        self.categorical = tuple(categorical)
        self.special_codes = special_codes
        self.min_iv = min_iv
        self.max_features = max_features
        self.max_corr = max_corr
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.C = C
        self.random_state = random_state
        self.max_prebins = max_prebins
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.monotonic = monotonic
        self.smoothing = smoothing
        self.last_unseen_: dict[str, dict] = {}

    # ---- options ---------------------------------------------------------------------------
    def _check_options(self) -> None:
        if not self.features:
            raise ScorecardInputError("no features given; pass the candidate column names as features=[...]")
        dup = sorted({f for f in self.features if self.features.count(f) > 1})
        if dup:
            raise ScorecardInputError(f"feature(s) {dup} listed more than once in features; list each once")
        for label, names in (("categorical", list(self.categorical)),
                             ("special_codes", list(self.special_codes) if isinstance(self.special_codes, Mapping)
                              else []),
                             ("monotonic", list(self.monotonic) if isinstance(self.monotonic, Mapping) else [])):
            unknown = [f for f in names if f not in self.features]
            if unknown:
                raise ScorecardInputError(
                    f"{label} names feature '{unknown[0]}' which is not in features"
                    f"{closest_hint(str(unknown[0]), self.features)}; add it to features or fix the name"
                )
        if not (self.pdo > 0 and self.base_odds > 0):
            raise ScorecardInputError(f"pdo={self.pdo} and base_odds={self.base_odds} must both be > 0")
        if self.max_features is not None and self.max_features < 1:
            raise ScorecardInputError(f"max_features={self.max_features}; use None or a positive number")

    def _codes(self, feature: str) -> tuple:
        if isinstance(self.special_codes, Mapping):
            return tuple(self.special_codes.get(feature, ()))
        return tuple(self.special_codes)

    def _direction(self, feature: str) -> str:
        if isinstance(self.monotonic, Mapping):
            return self.monotonic.get(feature, "auto")
        return self.monotonic

    def _check_columns(self, X: pd.DataFrame, needed: Sequence[str]) -> None:
        if not isinstance(X, pd.DataFrame):
            raise ScorecardInputError(
                f"X must be a pandas DataFrame with columns {list(needed)}; got {type(X).__name__}"
            )
        absent = [f for f in needed if f not in X.columns]
        if absent:
            cols = [str(c) for c in X.columns]
            raise ScorecardInputError(
                f"X lacks feature column '{absent[0]}'{closest_hint(str(absent[0]), cols)}"
                f"{f' and {len(absent) - 1} more' if len(absent) > 1 else ''}; "
                f"available columns: {', '.join(cols[:30])}"
            )

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any) -> WoEScorecard:
        """Bin, select and fit.

        Steps: bin every candidate feature; drop features with IV below ``min_iv``; going down the IV
        ranking, drop a feature whose WoE column correlates above ``max_corr`` with a stronger one already
        kept; keep the ``max_features`` strongest of the rest; fit the logistic regression and, while some
        coefficient is not negative (wrong sign for ``WoE = ln(good/bad)``), drop the lowest-IV such feature
        and refit. Every decision is recorded in ``selection_``.

        Raises
        ------
        ScorecardInputError
            Missing columns, ``y`` not 0/1 with both outcomes, a feature without any observed value, or
            no feature surviving the selection.
        """
        self._check_options()
        self._check_columns(X, self.features)
        yy = _check_target(y, len(X))
        self.n_fit_ = len(X)
        self.binnings_: dict[str, Binning] = {}
        for f in self.features:
            self.binnings_[f] = optimal_binning(
                X[f], yy, categorical=f in self.categorical, special_codes=self._codes(f),
                max_prebins=self.max_prebins, max_bins=self.max_bins, min_bin_share=self.min_bin_share,
                monotonic=self._direction(f) if f not in self.categorical else "auto",
                smoothing=self.smoothing, name=f,
            )
        self.iv_ = pd.Series({f: b.iv for f, b in self.binnings_.items()}, dtype=float).sort_values(
            ascending=False, kind="stable")
        reason: dict[str, str] = {}
        ranked = list(self.iv_.index)
        candidates = []
        for f in ranked:
            if self.binnings_[f].n_bins < 2:
                reason[f] = "one bin only (constant WoE)"
            elif self.iv_[f] < self.min_iv:
                reason[f] = f"IV {self.iv_[f]:.4f} < min_iv {self.min_iv:g}"
            else:
                candidates.append(f)
        woe_fit = self._woe_matrix(X, candidates, record=False)
        kept: list[str] = []
        for f in candidates:  # in descending IV order: a feature is compared with the stronger ones kept
            col = woe_fit[f]
            clash = None
            for k in kept:
                r = np.corrcoef(col, woe_fit[k])[0, 1]
                if np.isfinite(r) and abs(r) > self.max_corr:
                    clash = (k, r)
                    break
            if clash is None:
                kept.append(f)
            else:
                reason[f] = f"WoE |corr| {abs(clash[1]):.3f} > {self.max_corr:g} with '{clash[0]}' (higher IV)"
        if self.max_features is not None:
            for f in kept[self.max_features:]:
                reason[f] = f"beyond max_features={self.max_features} (by IV)"
            kept = kept[: self.max_features]
        coef: dict[str, float] = {}
        while kept:
            lr = LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state)
            lr.fit(np.column_stack([woe_fit[f] for f in kept]), yy)
            coefs = lr.coef_.ravel()
            wrong = [(self.iv_[f], f, c) for f, c in zip(kept, coefs) if not c < 0]
            if not wrong:
                coef = dict(zip(kept, coefs.tolist()))
                break
            _, f, c = min(wrong)
            reason[f] = f"wrong sign: WoE coefficient {c:+.4f} (should be negative) when fitted with the others"
            kept.remove(f)
        if not kept:
            raise ScorecardInputError(
                "no feature survives the selection (IVs: "
                + ", ".join(f"{f}={v:.4f}" for f, v in self.iv_.items())
                + f"); lower min_iv (now {self.min_iv:g}) or supply more predictive features"
            )
        self.lr_ = lr
        self.features_ = kept
        self.coef_ = pd.Series(coef, dtype=float)
        self.intercept_ = float(lr.intercept_[0])
        self.selection_ = pd.DataFrame({
            "feature": ranked,
            "iv": [float(self.iv_[f]) for f in ranked],
            "n_bins": [self.binnings_[f].n_bins for f in ranked],
            "selected": [f in coef for f in ranked],
            "coefficient": [coef.get(f, np.nan) for f in ranked],
            "reason": [("selected" if f in coef else reason.get(f, "")) for f in ranked],
        })
        self.last_unseen_ = {}
        return self

    # ---- scoring ---------------------------------------------------------------------------
    def _fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise CreditLabError("the scorecard is not fitted yet; call fit(X, y) first")

    def _woe_matrix(self, X: pd.DataFrame, features: Iterable[str], record: bool = True) -> dict[str, np.ndarray]:
        features = list(features)
        self._check_columns(X, features)
        out: dict[str, np.ndarray] = {}
        unseen: dict[str, dict] = {}
        for f in features:
            out[f], info = self.binnings_[f].transform(X[f])
            if info["count"]:
                unseen[f] = info
        if record:
            self.last_unseen_ = unseen
            for f, info in unseen.items():
                logger.warning("scorecard feature '%s': %d value(s) without a fit-time bin (%d to OTHER, %d neutral "
                               "WoE 0), e.g. %s", f, info["count"], info["to_other"], info["to_neutral"],
                               info["examples"])
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """WoE of every selected feature (values without a fit-time bin: OTHER or 0; counted in ``last_unseen_``)."""
        self._fitted()
        w = self._woe_matrix(X, self.features_)
        return pd.DataFrame(w, index=X.index, columns=self.features_)

    def _contributions(self, X: pd.DataFrame) -> np.ndarray:
        w = self._woe_matrix(X, self.features_)
        return np.column_stack([self.coef_[f] * w[f] for f in self.features_])

    def explain(self, X: pd.DataFrame) -> tuple[pd.DataFrame, float]:
        """Exact per-variable contributions to the raw log-odds of default.

        Returns
        -------
        contributions : ``coef_j * woe_j`` per row and selected feature (positive = raises the PD).
        base : the intercept; ``base + contributions.sum(axis=1) == raw_log_odds(X)`` exactly.
        """
        self._fitted()
        return pd.DataFrame(self._contributions(X), index=X.index, columns=self.features_), self.intercept_

    def explanation(self, X: pd.DataFrame) -> Any:
        """The contributions of :meth:`explain` as a :class:`credit_lab.models.explanation.Explanation`.

        The base value is the intercept, so the GBM's helpers (e.g. :func:`credit_lab.models.explain.reason_codes`)
        take the scorecard too. As in the GBM's explanation, ``data`` is numeric: numeric features with their
        special codes set to NaN, categorical features as their bin index (NaN when missing or without a bin).
        """

        self._fitted()
        values = self._contributions(X)
        data = {}
        for f in self.features_:
            b = self.binnings_[f]
            if b.categorical:
                idx, _ = b.assign(X[f])
                data[f] = np.where((idx >= 0) & (idx != (-1 if b.missing_bin is None else b.missing_bin)),
                                   idx.astype(float), np.nan)
            else:
                v = _as_float(X[f], f)
                v[np.isin(v, list(b.special_codes))] = np.nan
                data[f] = v
        return Explanation(values=values, base_value=self.intercept_,
                           data=pd.DataFrame(data, index=X.index, columns=self.features_),
                           output=self.intercept_ + values.sum(axis=1))

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of default: ``intercept + sum_j coef_j * woe_j``."""
        self._fitted()
        return self.intercept_ + self._contributions(X).sum(axis=1)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of default (the logistic of :meth:`raw_log_odds`; not clipped)."""
        return expit(self.raw_log_odds(X))

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Score at good:bad odds 1: ``base_score - factor * ln(base_odds)``."""
        return self.base_score - self.factor * math.log(self.base_odds)

    def _spread(self) -> float:
        """Points every selected feature carries for the intercept and offset (spread evenly)."""
        return (self.offset - self.factor * self.intercept_) / len(self.features_)

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Total points: ``base_score + pdo / ln 2 * (ln((1 - PD) / PD) - ln(base_odds))``."""
        return self.offset - self.factor * self.raw_log_odds(X)

    def explain_points(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points of every selected feature per row, each including its share of the intercept.

        Rows sum to :meth:`score`.
        """
        self._fitted()
        pts = -self.factor * self._contributions(X) + self._spread()
        return pd.DataFrame(pts, index=X.index, columns=self.features_)

    def points_table(self, decimals: int | None = None) -> pd.DataFrame:
        """The scorecard as a plain table, one row per bin of every selected feature.

        Columns: ``feature, bin, kind, count, share, bad_rate, woe, iv, coefficient, points``. Points of a bin
        are ``-pdo / ln 2 * coefficient * woe`` plus the intercept share
        ``(base_score - pdo / ln 2 * (ln(base_odds) + intercept)) / n_features``, so a customer's score is the
        sum of the points of the bins they fall in. Rows of ``kind == 'neutral'`` (count 0) give the points of
        values without a fit-time bin (WoE 0): a missing value or special code absent from the fit data, or an
        unseen category when the feature has no ``OTHER`` bin.

        Parameters
        ----------
        decimals : round points to this many decimals (None: exact, so sums match :meth:`score`).
        """
        self._fitted()
        spread = self._spread()
        frames = []
        for f in self.features_:
            b = self.binnings_[f]
            t = b.table().drop(columns=["goods", "bads"])
            neutral = []
            if b.missing_bin is None:
                neutral.append("missing (not in fit data)")
            for c in b.special_codes:
                if c not in b.special_bins:
                    neutral.append(f"special {_label_value(c)} (not in fit data)")
            if b.categorical and b.other_bin is None:
                neutral.append("unseen category")
            if neutral:
                t = pd.concat([t, pd.DataFrame({"feature": f, "bin": neutral, "kind": "neutral", "count": 0,
                                                "share": 0.0, "bad_rate": np.nan, "woe": 0.0, "iv": 0.0})],
                              ignore_index=True)
            t["coefficient"] = self.coef_[f]
            t["points"] = -self.factor * self.coef_[f] * t["woe"].to_numpy(dtype=float) + spread
            frames.append(t)
        table = pd.concat(frames, ignore_index=True)
        table["count"] = table["count"].astype(np.int64)
        if decimals is not None:
            table["points"] = table["points"].round(decimals)
        return table[["feature", "bin", "kind", "count", "share", "bad_rate", "woe", "iv", "coefficient", "points"]]

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> str:
        """Save the fitted scorecard atomically (:mod:`credit_lab.models.persist`); returns the file's SHA-256."""
        self._fitted()
        return persist.save_model(self, path)

    @classmethod
    def load(cls, path: str | Path, sha256: str) -> WoEScorecard:
        """Load a scorecard written by :meth:`save`, only if the file still has hash ``sha256``."""
        obj = persist.load_model(path, sha256)
        if not isinstance(obj, cls):
            raise ScorecardInputError(f"{str(path)!r} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj


class ScorecardModel(PDClassifierMixin, BaseEstimator):
    """The WoE scorecard as a PD estimator (uncalibrated; calibrate with :class:`CalibratedPD`).

    Wraps :class:`WoEScorecard` the way the run uses it: features never observed in the fit data
    are left out and reported, risk directions (+1 / -1) become monotone binning directions, and
    categorical features and special codes apply to the features that remain. The card's
    logistic output is the raw log-odds, which its point contributions add up to exactly.

    Parameters
    ----------
    features : candidate feature names.
    categorical : the features to treat as categories.
    special_codes : ``{feature: [codes]}`` that get a bin of their own.
    monotone : ``{feature: +1 / -1 / 0}``; +1 = bad rate rising with the value, 0 = either direction.
    min_iv, max_features, max_bins, min_bin_share, C : binning and selection (see :class:`WoEScorecard`).
    pdo, base_score, base_odds : points-to-double-odds scaling of the points table.
    random_state : seed of the logistic regression.

    Attributes
    ----------
    card_ : the fitted :class:`WoEScorecard`.
    features_ : the selected features.
    unused_features_ : features left out because they were never observed.
    monotone_cst_ : the risk direction of each selected feature (+1 riskier when higher).
    classes_ : ``[0, 1]`` (1 = default).
    """

    family = "scorecard"

    def __init__(self, features: list[str], categorical: list[str] | None = None,
                 special_codes: dict[str, list[float]] | None = None, monotone: dict[str, int] | None = None,
                 min_iv: float = 0.02, max_features: int | None = None, max_bins: int = 6,
                 min_bin_share: float = 0.05, C: float = 1.0, pdo: float = 20.0, base_score: float = 600.0,
                 base_odds: float = 50.0, random_state: int = 0):
        self.features = features
        self.categorical = categorical
        self.special_codes = special_codes
        self.monotone = monotone
        self.min_iv = min_iv
        self.max_features = max_features
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.C = C
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.random_state = random_state

    @classmethod
    def from_params(cls, features: list[str], params: ModelParams, random_state: int = 0,
                    **kwargs: Any) -> ScorecardModel:
        """The scorecard the run's ``model.scorecard`` params describe; ``kwargs``: categorical,
        special_codes, monotone, pdo, base_score, base_odds."""
        s = params.scorecard
        return cls(list(features), min_iv=s.min_iv, max_features=s.max_features, max_bins=s.max_bins,
                   min_bin_share=s.min_bin_share, C=s.C, random_state=random_state, **kwargs)

    def fit(self, X: pd.DataFrame, y: Any) -> ScorecardModel:
        """Bin, select and fit the card on the features of ``X`` observed at least once."""
        y = np.asarray(y, dtype=int)
        features = list(self.features)
        observed = X.reindex(columns=features).notna().any(axis=0)
        candidates = [f for f in features if observed[f]]
        self.unused_features_ = [f for f in features if not observed[f]]
        direction = {1: "ascending", -1: "descending"}
        monotonic = {f: direction[d] for f, d in (self.monotone or {}).items() if d in direction and f in candidates}
        self.card_ = WoEScorecard(
            candidates, categorical=[c for c in (self.categorical or []) if c in candidates],
            special_codes={k: list(v) for k, v in (self.special_codes or {}).items() if k in candidates},
            min_iv=self.min_iv, max_features=self.max_features, max_bins=self.max_bins,
            min_bin_share=self.min_bin_share, C=self.C, pdo=self.pdo, base_score=self.base_score,
            base_odds=self.base_odds, random_state=self.random_state, monotonic=monotonic,
        ).fit(X[candidates], y)
        self.features_ = list(self.card_.features_)
        self.monotone_cst_ = [int(-np.sign(c)) if c else 0 for c in self.card_.coef_.to_numpy()]
        self.classes_ = np.array([0, 1])
        return self

    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of default: intercept plus the selected features' ``coef * WoE``."""
        return np.asarray(self.card_.raw_log_odds(X[self.features_]), dtype=float)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.raw_log_odds(X)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """The card's own (uncalibrated) PD, the logistic of the raw log-odds."""
        return expit(self.raw_log_odds(X))

    def explanation(self, X: pd.DataFrame, engine: str = "fast") -> Explanation:
        """Per-variable contributions ``coef * WoE`` (the card's exact SHAP values; ``engine`` is for trees)."""
        expl = self.card_.explanation(X[self.features_])
        return Explanation(expl.values, float(expl.base_value), expl.data, self.raw_log_odds(X))

    def matrix_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The scorecard's inputs as numbers (categories as their bin index) for plots."""
        return self.card_.explanation(X[self.features_]).data

    def points_table(self) -> pd.DataFrame:
        return self.card_.points_table()
