"""The expert scorecard: criteria banded into points, weighted per dimension, new and existing customers apart.

What a credit manager writes down when the book holds too few defaults to learn from: each criterion
(days beyond terms, current ratio, tenure, industry outlook...) is banded into 0-100 points by
thresholds; criteria are weighted within their dimension (payment history, financial strength,
operations, prospects, external rating), and the dimensions are weighted differently for **new**
customers (no payment history: more weight on financials and the external rating) and **existing**
ones. A criterion a customer lacks is not scored as zero: its weight is spread over the criteria the
customer has (in proportion to theirs), and the customer's row says which were missing and what
share of the weight they carried.

The score is a weighted mean of points, so it lies in [0, 100] and each criterion's **contribution**
(effective weight x points) adds up to it exactly. Risk classes band the score; the PD comes from
the policy's class table, from the score calibrated to a stated long-run default rate, or (when there
are outcomes) from the most prudent estimation of :mod:`credit_lab.models.low_default` per class.

For explanations the score is put on a log-odds scale, ``raw = alpha + beta * score`` with ``beta < 0``,
fitted to the class table (least squares of logit(PD) on each class's mid score). The explanation of
a customer is ``beta * (contribution - the book's mean contribution)`` per criterion: exact, additive,
and in the same unit as the statistical models' SHAP values, so the same reason codes, limit
sentences and letters serve both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from credit_lab.core.config import ExpertCriterion, ExpertParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.models.base import PDClassifierMixin
from credit_lab.models.champion import SEGMENT_COLUMN
from credit_lab.models.explanation import Explanation
from credit_lab.models.low_default import most_prudent_pd

__all__ = ["EXTERNAL_SCORE", "NO_INFORMATION", "ExpertCalibration", "ExpertScorecard", "annual_cohorts",
           "require_criteria"]

#: the pseudo-criterion that carries the policy score of a customer none of whose criteria is known
NO_INFORMATION = "no_information"
#: the criterion name of the mapped external rating / bureau score
EXTERNAL_SCORE = "external_score"


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class ExpertCalibration:
    """How the expert score becomes a PD, and the evidence per risk class.

    ``method`` is ``table``, ``long_run_rate`` or ``most_prudent``; ``classes`` has one row per risk
    class (best first) with its score floor, the policy PD and the PD used; with outcomes also the
    obligors, defaults, observed rate and most-prudent bound. ``shift`` is the log-odds shift of the
    long-run calibration (0 otherwise); ``comparison`` the class table (the report's shape).
    """

    method: str
    classes: pd.DataFrame
    shift: float = 0.0
    target_mean: float | None = None
    confidence: float | None = None
    basis: str = ""
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)


class ExpertScorecard(PDClassifierMixin, BaseEstimator):
    """Points per criterion, weights per dimension and segment, risk classes and a PD per class.

    Parameters
    ----------
    policy : the ``model.expert`` params (criteria, bands, weights, classes, PD source).
    external_column : the column holding the external rating / bureau score (criterion
        ``external_score``), or None.

    Attributes (after :meth:`fit`)
    ------------------------------
    features_ : the criteria columns, in policy order.
    unused_features_ : criteria whose column the fit data does not hold (never scored).
    edges_ : criterion -> the band edges used (relative criteria: the book's quantiles).
    reference_ : the book's mean contribution per criterion (the explanation's baseline).
    alpha_, beta_ : the log-odds scale of the score.
    calibrator_ : the :class:`ExpertCalibration`.
    """

    family = "expert"

    def __init__(self, policy: ExpertParams, external_column: str | None = None):
        self.policy = policy
        self.external_column = external_column

    # ---- set-up -------------------------------------------------------------------------------
    def criteria(self) -> dict[str, ExpertCriterion]:
        """The policy's criteria, with the external score when a column is mapped."""
        out = dict(self.policy.criteria)
        if self.external_column and EXTERNAL_SCORE not in out:
            out[EXTERNAL_SCORE] = ExpertCriterion(dimension="external_rating", weight=1.0,
                                                  bands=self.policy.external_score_bands,
                                                  column=self.external_column)
        return out

    def _column(self, name: str, c: ExpertCriterion) -> str:
        return c.column or name

    def fit(self, X: pd.DataFrame, y: Any = None) -> ExpertScorecard:
        """Fix the relative criteria's edges and the explanation baseline on the book ``X``.

        Nothing is learnt from outcomes here: ``y`` is accepted for the scikit-learn contract and
        ignored (:meth:`calibrate` uses outcomes, when there are any, for the PD per class).
        """
        crit = self.criteria()
        self.criteria_ = crit
        self.features_ = [self._column(n, c) for n, c in crit.items()]
        self.names_ = list(crit)
        self.unused_features_ = [f for f in self.features_ if f not in X.columns or X[f].isna().all()]
        self.edges_ = {}
        for name, c in crit.items():
            col = self._column(name, c)
            if c.categories:
                continue
            edges = np.array([e for e, _ in c.bands[:-1]], dtype=float)
            if c.relative:
                values = pd.to_numeric(X[col], errors="coerce").dropna() if col in X else pd.Series(dtype=float)
                edges = np.quantile(values, edges) if len(values) else np.full(len(edges), np.nan)
            self.edges_[name] = edges
        self.monotone_cst_ = [self._direction(n) for n in crit]
        self.alpha_, self.beta_ = self._log_odds_scale()
        contrib = self.contributions(X)
        # the baseline is the book's mean contribution of each criterion; the policy score of a customer
        # with no information has baseline 0, so such a customer's explanation shows each criterion's
        # points as missing (adverse) and this score as what stands in for them
        self.reference_ = contrib.mean(axis=0).where(contrib.columns != NO_INFORMATION, 0.0)
        self.calibrator_ = self._policy_calibration(X)
        self.classes_ = np.array([0, 1])
        return self

    def _direction(self, name: str) -> int:
        """+1 where points fall as the value rises (risk rises with it), -1 where they rise, 0 otherwise."""
        c = self.criteria_[name]
        if c.categories:
            return 0
        pts = np.array([p for _, p in c.bands], dtype=float)
        steps = np.diff(pts)
        if (steps <= 0).all() and steps.any():
            return 1
        if (steps >= 0).all() and steps.any():
            return -1
        return 0

    def _log_odds_scale(self) -> tuple[float, float]:
        """``alpha, beta`` of ``raw = alpha + beta * score``, fitted to the class table (beta < 0)."""
        classes = self.policy.risk_classes
        tops = [100.0] + [c.score_min for c in classes[:-1]]
        mids = np.array([(c.score_min + t) / 2 for c, t in zip(classes, tops, strict=True)])
        logits = _logit(np.array([c.pd for c in classes]))
        if len(classes) == 1:
            return float(logits[0] + np.log(2) / 10 * 50), -float(np.log(2) / 10)  # halve the odds per 10 points
        beta, alpha = np.polyfit(mids, logits, 1)
        return float(alpha), float(min(beta, -1e-6))

    # ---- points -------------------------------------------------------------------------------
    def points(self, X: pd.DataFrame) -> pd.DataFrame:
        """0-100 points per criterion (NaN where the customer lacks the criterion)."""
        check_is_fitted(self, "criteria_")
        out = {}
        for name, c in self.criteria_.items():
            col = self._column(name, c)
            if col not in X:
                out[name] = np.full(len(X), np.nan)
                continue
            if c.categories:
                out[name] = X[col].astype("string").map(c.categories).astype(float).to_numpy()
                continue
            values = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float)
            pts = np.array([p for _, p in c.bands], dtype=float)
            edges = self.edges_[name]
            if np.isnan(edges).any():  # a relative criterion the book never had: nobody is scored on it
                out[name] = np.full(len(X), np.nan)
                continue
            out[name] = np.where(np.isnan(values), np.nan, pts[np.searchsorted(edges, values, side="right")])
        return pd.DataFrame(out, index=X.index)

    def weights(self, X: pd.DataFrame, points: pd.DataFrame | None = None) -> pd.DataFrame:
        """Each customer's effective weight per criterion: zero where the criterion is missing, the rest
        rescaled to sum to one (a customer with nothing known has all-zero weights)."""
        points = self.points(X) if points is None else points
        w = np.where(points.isna().to_numpy(), 0.0, self._segment_weights(X))
        total = w.sum(axis=1, keepdims=True)
        w = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
        return pd.DataFrame(w, index=X.index, columns=points.columns)

    def _segment_weights(self, X: pd.DataFrame) -> np.ndarray:
        """(customers, criteria): each customer's nominal weights, those of its segment (new or existing)."""
        is_new = (X[SEGMENT_COLUMN].fillna(False).astype(bool).to_numpy() if SEGMENT_COLUMN in X
                  else np.zeros(len(X), dtype=bool))
        return np.vstack([self._nominal("new"), self._nominal("existing")])[np.where(is_new, 0, 1)]

    def _nominal(self, segment: str) -> np.ndarray:
        """Nominal weight of every criterion for a segment: its dimension's weight x its share within it."""
        dims = self.policy.dimension_weights_new if segment == "new" else self.policy.dimension_weights_existing
        crit = self.criteria_
        totals: dict[str, float] = {}
        for c in crit.values():
            totals[c.dimension] = totals.get(c.dimension, 0.0) + c.weight
        return np.array([dims.get(c.dimension, 0.0) * c.weight / totals[c.dimension] for c in crit.values()])

    def nominal_weights(self) -> pd.DataFrame:
        """The policy's weight of every criterion for new and for existing customers (each column sums to
        the share of the dimension weights that have criteria)."""
        check_is_fitted(self, "criteria_")
        return pd.DataFrame({"dimension": [c.dimension for c in self.criteria_.values()],
                             "weight_new": self._nominal("new"), "weight_existing": self._nominal("existing")},
                            index=pd.Index(self.names_, name="criterion"))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Score points per criterion (effective weight x points); they add up to :meth:`score` exactly.

        The column :data:`NO_INFORMATION` carries ``score_without_information`` for a customer none of
        whose criteria is known (zero for everyone else).
        """
        pts = self.points(X)
        w = self.weights(X, pts)
        contrib = (w * pts.fillna(0.0)).astype(float)
        none = w.sum(axis=1).to_numpy() == 0
        contrib[NO_INFORMATION] = np.where(none, self.policy.score_without_information, 0.0)
        return contrib

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """The expert score, 0 (worst) to 100 (best)."""
        return self.contributions(X).sum(axis=1).to_numpy()

    def missing_criteria(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per customer: the criteria it lacks that carry weight for its segment, and their share of the weight."""
        pts = self.points(X)
        base = self._segment_weights(X)
        base = base / base.sum(axis=1, keepdims=True)
        missing = pts.isna().to_numpy() & (base > 0)
        names = np.array(self.names_, dtype=object)
        return pd.DataFrame({
            "criteria_missing": [", ".join(names[row]) for row in missing],
            "weight_missing_share": (base * missing).sum(axis=1),
        }, index=X.index)

    def risk_class(self, X: pd.DataFrame | None = None, score: np.ndarray | None = None) -> np.ndarray:
        """The risk class of each customer (the first class whose score_min the score reaches)."""
        s = self.score(X) if score is None else np.asarray(score, dtype=float)
        return _classes_of(s, self.policy)

    # ---- the PD -------------------------------------------------------------------------------
    def raw_log_odds(self, X: pd.DataFrame) -> np.ndarray:
        """The score on the log-odds scale the explanations add up to (``alpha + beta * score``)."""
        return self.alpha_ + self.beta_ * self.score(X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        return self.raw_log_odds(X)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """The PD of the calibration in force (class table, long-run rate or most prudent per class)."""
        check_is_fitted(self, "calibrator_")
        s = self.score(X)
        cal = self.calibrator_
        if cal.method == "long_run_rate":
            return _expit(self.alpha_ + cal.shift + self.beta_ * s)
        return cal.classes["pd"].to_numpy()[_class_index(s, self.policy)]

    def _policy_calibration(self, X: pd.DataFrame) -> ExpertCalibration:
        """Without outcomes: the class table, or the score shifted to the long-run default rate on ``X``."""
        p = self.policy
        classes = _class_frame(p)
        if p.pd_from == "table":
            return ExpertCalibration("table", classes.assign(pd=classes["pd_policy"]), basis=(
                "no outcome data: each risk class takes the PD the policy's class table gives it "
                "(model.expert.risk_classes)"), comparison=classes.assign(pd=classes["pd_policy"]))
        s = self.score(X)
        target = float(p.long_run_default_rate)
        shift = float(optimize.brentq(lambda d: _expit(self.alpha_ + d + self.beta_ * s).mean() - target, -30, 30))
        pd_mean = [float(_expit(self.alpha_ + shift + self.beta_ * s[_class_index(s, p) == i]).mean())
                   if (_class_index(s, p) == i).any() else np.nan for i in range(len(classes))]
        cal = classes.assign(pd=pd_mean)
        return ExpertCalibration("long_run_rate", cal, shift=shift, target_mean=target, basis=(
            f"no outcome data: the score's log-odds are shifted by {shift:+.3f} so that the book's mean PD is the "
            f"stated long-run default rate {target:.2%} (model.expert.long_run_default_rate)"), comparison=cal)

    def calibrate(self, X: pd.DataFrame, y: Any, confidence: float | None = None,
                  sample: str = "the labelled rows") -> ExpertScorecard:
        """The PD per risk class from outcomes: the most prudent estimation (Pluto-Tasche) at ``confidence``.

        ``X, y`` are the labelled rows (one row per customer and outcome period); a class with no
        obligor in it or below keeps the policy's PD (no evidence either way).
        """
        check_is_fitted(self, "criteria_")
        y = np.asarray(y, dtype=int)
        gamma = self.policy.low_default_confidence if confidence is None else confidence
        classes = _class_frame(self.policy)
        idx = _class_index(self.score(X), self.policy)
        n = np.bincount(idx, minlength=len(classes))
        d = np.bincount(idx, weights=y, minlength=len(classes)).astype(int)
        mpe = most_prudent_pd(pd.Series(n, index=classes.index), pd.Series(d, index=classes.index), gamma)
        table = classes.join(mpe)
        table["pd"] = table["pd_mpe"].fillna(table["pd_policy"])
        table["pd"] = np.maximum.accumulate(table["pd"].to_numpy())
        self.calibrator_ = ExpertCalibration(
            "most_prudent", table, confidence=gamma, basis=(
                f"{int(d.sum())} default(s) among {int(n.sum())} {sample}: each risk class takes the most prudent "
                f"estimate of Pluto and Tasche at {gamma:.0%} confidence (model.expert.low_default_confidence), "
                "the upper bound of a PD shared with every worse class"), comparison=table)
        return self

    # ---- explanation and description -----------------------------------------------------------
    def explanation(self, X: pd.DataFrame, engine: str = "fast") -> Explanation:
        """Exact contributions on the log-odds scale: ``beta x (contribution - the book's mean)``."""
        contrib = self.contributions(X)
        ref = self.reference_.reindex(contrib.columns).fillna(0.0)
        values = self.beta_ * (contrib - ref).to_numpy()
        base = float(self.alpha_ + self.beta_ * ref.sum())
        return Explanation(values, base, self.matrix_frame(X), self.raw_log_odds(X))

    def matrix_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The criteria's values by criterion name (NaN where ``X`` lacks one), and :data:`NO_INFORMATION`
        (1 for a customer none of whose criteria is known): the data the explanation explains."""
        points = self.points(X)
        cols = {n: (points[n] if self.criteria_[n].categories  # a text criterion is shown by its points
                    else pd.to_numeric(X[f], errors="coerce") if f in X else pd.Series(np.nan, index=X.index))
                for n, f in zip(self.names_, self.features_, strict=True)}
        frame = pd.DataFrame(cols, index=X.index)
        frame[NO_INFORMATION] = np.where(points.isna().all(axis=1), 1.0, 0.0)
        return frame

    def points_table(self) -> pd.DataFrame:
        """The policy as a table: one row per band (or category) with its points and the criterion's weights."""
        check_is_fitted(self, "criteria_")
        weights = self.nominal_weights()
        rows = []
        for name, c in self.criteria_.items():
            w = weights.loc[name]
            common = {"criterion": name, "dimension": c.dimension, "column": self._column(name, c),
                      "weight_new": w["weight_new"], "weight_existing": w["weight_existing"]}
            if c.categories:
                rows += [{**common, "band": f"= {k}", "points": v} for k, v in c.categories.items()]
                continue
            edges = self.edges_[name]
            if c.relative and not np.isfinite(np.asarray(edges, dtype=float)).any():
                # quantiles of a column with no value in this book: no band exists, no customer is scored on it
                rows.append({**common, "band": "no value in this book: no quantile bands, the criterion scores "
                                               "no customer (its weight goes to the criteria each one has)",
                             "points": np.nan})
                continue
            lows = [None, *edges]
            for (low, high), (_, pts) in zip(zip(lows, [*edges, None], strict=True), c.bands, strict=True):
                rows.append({**common, "band": _band_label(low, high, c.relative), "points": pts})
        return pd.DataFrame(rows)


def _band_label(low: float | None, high: float | None, relative: bool) -> str:
    fmt = "{:.4g}".format
    suffix = " (book quantile)" if relative else ""
    if low is None:
        return f"below {fmt(high)}{suffix}"
    if high is None:
        return f"{fmt(low)} and above{suffix}"
    return f"{fmt(low)} to below {fmt(high)}{suffix}"


def _class_frame(policy: ExpertParams) -> pd.DataFrame:
    return pd.DataFrame({"score_min": [c.score_min for c in policy.risk_classes],
                         "pd_policy": [c.pd for c in policy.risk_classes]},
                        index=pd.Index([c.name for c in policy.risk_classes], name="risk_class"))


def _class_index(score: np.ndarray, policy: ExpertParams) -> np.ndarray:
    """Index of the first class (best first) whose score_min the score reaches."""
    mins = np.array([c.score_min for c in policy.risk_classes])
    s = np.asarray(score, dtype=float)
    return (s[:, None] < mins[None, :]).sum(axis=1)


def _classes_of(score: np.ndarray, policy: ExpertParams) -> np.ndarray:
    names = np.array([c.name for c in policy.risk_classes], dtype=object)
    return names[_class_index(score, policy)]


def annual_cohorts(train: pd.DataFrame, horizon_months: int) -> pd.DataFrame:
    """The rows of stacked snapshots whose outcome windows do not overlap, latest first.

    Snapshots spaced closer than the label horizon share outcome months, so the same default would be
    counted several times; keeping snapshots at least ``horizon_months`` apart (counting back from
    the latest) gives independent obligor-periods for a binomial estimate.
    """
    if "snapshot_date" not in train or train["snapshot_date"].isna().all():
        return train
    dates = sorted(pd.to_datetime(train["snapshot_date"].dropna().unique()), reverse=True)
    kept = [dates[0]]
    for d in dates[1:]:
        if (kept[-1].year - d.year) * 12 + (kept[-1].month - d.month) >= horizon_months:
            kept.append(d)
    return train[pd.to_datetime(train["snapshot_date"]).isin(kept)]


def require_criteria(model: ExpertScorecard, X: pd.DataFrame) -> None:
    """:class:`CreditLabError` when none of the policy's criteria is a column of ``X``."""
    if len(model.unused_features_) == len(model.features_):
        raise CreditLabError(
            "the expert scorecard finds none of its criteria among the data's columns "
            f"({', '.join(model.features_[:8])}...); name your criteria in model.expert.criteria (each with its "
            "column, bands and weight) or map the columns to these names")
