"""Discrimination and accuracy of PD models: the one AUC, KS and Brier score of the package.

ROC and CAP curves, AUC, accuracy ratio, Kolmogorov-Smirnov distance, Brier score, log
loss, the score histogram of goods and bads, and the per-sample metrics table
(:class:`ValidationMetrics`, written to ``validation.json``). Every caller (the metrics
table, the champion candidate table, AUC by period) uses these functions, so a
statistic has one definition.

Conventions
-----------
* ``y`` is the default flag: 1 = default ("bad"), 0 = no default ("good").
* A *score* orders risk like a PD: **higher means riskier**. Pass ``-points``
  for a points scale on which higher means safer.
* Ties in the score are treated as one group: every curve moves straight from
  one tie group to the next, which is the average over all orderings inside the
  group. Hence ``accuracy_ratio == 2 * AUC - 1`` exactly, with or without ties,
  and no statistic depends on the order of the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from credit_lab.models.validation_inputs import (
    ValidationInputError,
    _both_classes,
    _check_count,
    _examples,
    _floats,
    _outcomes,
    _probabilities,
    _same_length,
    _scores,
)

__all__ = [
    "PD_CLIP",
    "ValidationMetrics",
    "accuracy_ratio",
    "auc",
    "brier_score",
    "cap_curve",
    "kolmogorov_smirnov",
    "log_loss",
    "roc_table",
    "score_distribution",
    "validation_metrics",
    "validation_summary",
]

logger = logging.getLogger(__name__)

#: PDs are clipped to ``[PD_CLIP, 1 - PD_CLIP]`` by the calibration map and in the log loss.
PD_CLIP = 1e-5


def _tie_groups(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (count, bads) at the end of each tie group, riskiest (highest score) first."""
    order = np.argsort(-score, kind="mergesort")
    s, yy = score[order], y[order]
    ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    cum_bads = np.cumsum(yy)[ends]
    return ends + 1, cum_bads, s[ends]


def roc_table(y: Any, score: Any) -> pd.DataFrame:
    """Receiver operating characteristic, one point per distinct score.

    Parameters
    ----------
    y : array-like of 0/1
        Default flags.
    score : array-like of float
        Risk score, higher = riskier (a PD works).

    Returns
    -------
    pandas.DataFrame
        Columns ``fpr``, ``tpr``, ``threshold``. Row ``k`` classifies
        ``score >= threshold`` as default; the first row is ``(0, 0, inf)`` and the
        last reaches ``(1, 1)``. Tied scores form a single point.
    """
    y = _outcomes(y)
    score = _scores(score)
    _same_length(y=y, score=score)
    bads, goods = _both_classes(y)
    counts, cum_bads, thresholds = _tie_groups(y, score)
    return pd.DataFrame({
        "fpr": np.r_[0.0, (counts - cum_bads) / goods],
        "tpr": np.r_[0.0, cum_bads / bads],
        "threshold": np.r_[np.inf, thresholds],
    })


def auc(y: Any, score: Any) -> float:
    """Area under the ROC curve by the Mann-Whitney rank formula (ties count one half).

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float, higher = riskier

    Returns
    -------
    float
        ``P(score_bad > score_good) + P(score_bad == score_good) / 2``.
    """
    y = _outcomes(y)
    score = _scores(score)
    _same_length(y=y, score=score)
    bads, goods = _both_classes(y)
    ranks = stats.rankdata(score, method="average")
    return float((ranks[y == 1].sum() - bads * (bads + 1) / 2.0) / (bads * goods))


def cap_curve(y: Any, score: Any) -> pd.DataFrame:
    """Cumulative accuracy profile (Lorenz / power curve) computed by sorting.

    Customers are sorted from the riskiest score down; the curve gives the share of
    all defaults found among the riskiest share of the population. Tied scores are
    one step (the curve is straight across a tie group).

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float, higher = riskier

    Returns
    -------
    pandas.DataFrame
        Columns ``share_population``, ``share_bads`` (both starting at 0 and ending
        at 1) and ``threshold`` (the lowest score included; ``inf`` on the first row).
    """
    y = _outcomes(y)
    score = _scores(score)
    n = _same_length(y=y, score=score)
    bads, _ = _both_classes(y)
    counts, cum_bads, thresholds = _tie_groups(y, score)
    return pd.DataFrame({
        "share_population": np.r_[0.0, counts / n],
        "share_bads": np.r_[0.0, cum_bads / bads],
        "threshold": np.r_[np.inf, thresholds],
    })


def accuracy_ratio(y: Any, score: Any) -> float:
    """Accuracy ratio from the areas under the CAP curves.

    ``AR = (A_model - A_random) / (A_perfect - A_random)`` with ``A_random = 1/2`` and
    ``A_perfect = 1 - pi/2`` (``pi`` the default rate). The model area is the
    trapezoid area under :func:`cap_curve`, so ties are averaged and
    ``AR == 2 * AUC - 1`` (the Gini coefficient) holds exactly.

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float, higher = riskier

    Returns
    -------
    float
    """
    cap = cap_curve(y, score)
    x = cap["share_population"].to_numpy()
    h = cap["share_bads"].to_numpy()
    area_model = float(np.trapezoid(h, x))
    default_rate = float(np.mean(_outcomes(y)))
    area_random = 0.5
    area_perfect = 1.0 - default_rate / 2.0
    return (area_model - area_random) / (area_perfect - area_random)


def kolmogorov_smirnov(y: Any, score: Any) -> float:
    """Kolmogorov-Smirnov distance between the score distributions of bads and goods.

    The empirical CDFs of the bads' and the goods' scores are compared only at the
    distinct score values (the ends of the tie groups of :func:`roc_table`), so a
    group of tied scores is never split: the result equals the two-sample KS
    statistic (:func:`scipy.stats.ks_2samp`) and does not depend on the order of
    the rows. A running maximum over sorted rows would instead look inside tie
    groups and overstate the distance (``y = [1, 0, 1, 0]``, ``score = [.5, .5,
    .2, .2]`` has KS 0, not 0.5).

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float

    Returns
    -------
    float
        ``max |F_bad(s) - F_good(s)|`` over all thresholds ``s``.
    """
    roc = roc_table(y, score)
    return float(np.max(np.abs(roc["tpr"].to_numpy() - roc["fpr"].to_numpy())))


def brier_score(y: Any, pd_: Any) -> float:
    """Mean squared difference between PD and outcome.

    Parameters
    ----------
    y : array-like of 0/1
    pd_ : array-like of PDs in [0, 1]

    Returns
    -------
    float
    """
    y = _outcomes(y)
    p = _probabilities(pd_)
    _same_length(y=y, pd=p)
    return float(np.mean((p - y) ** 2))


def log_loss(y: Any, pd_: Any, clip: float = PD_CLIP) -> float:
    """Mean negative log-likelihood of the outcomes, PDs clipped to ``[clip, 1 - clip]``.

    Parameters
    ----------
    y : array-like of 0/1
    pd_ : array-like of PDs in [0, 1]
    clip : float
        Keeps PDs of exactly 0 or 1 from giving an infinite loss.

    Returns
    -------
    float
    """
    y = _outcomes(y)
    p = np.clip(_probabilities(pd_), clip, 1 - clip)
    _same_length(y=y, pd=p)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def validation_summary(y: Any, pd_: Any) -> pd.Series:
    """Headline discrimination and calibration numbers of one sample.

    Parameters
    ----------
    y : array-like of 0/1
    pd_ : array-like of PDs in [0, 1] (also used as the score)

    Returns
    -------
    pandas.Series
        ``n``, ``defaults``, ``default_rate``, ``mean_pd``, ``auc``, ``accuracy_ratio``,
        ``ks``, ``brier``. The discrimination entries are NaN when ``y`` holds one
        outcome only.
    """
    m = validation_metrics("sample", y, pd_)
    two = 0 < m.n_defaults < m.n
    return pd.Series({
        "n": float(m.n),
        "defaults": float(m.n_defaults),
        "default_rate": m.default_rate,
        "mean_pd": m.mean_pd,
        "auc": m.auc,
        "accuracy_ratio": accuracy_ratio(y, pd_) if two else np.nan,
        "ks": m.ks,
        "brier": m.brier,
    })


def score_distribution(y: Any, score: Any, bins: int | Sequence[float] = 20) -> pd.DataFrame:
    """Histogram of the scores of goods and of bads on common bin edges.

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float
    bins : int or sequence of float
        Number of equal-width bins over the range of all scores, or the edges
        themselves (increasing, covering every score). Bins are ``[a, b)`` except
        the last, ``[a, b]`` (numpy's histogram convention).

    Returns
    -------
    pandas.DataFrame
        ``bin_from``, ``bin_to``, ``goods``, ``bads``, ``share_goods``, ``share_bads``
        (shares of each class, NaN if the class is absent) and ``bad_rate`` (NaN for
        an empty bin).
    """
    y = _outcomes(y)
    score = _scores(score)
    _same_length(y=y, score=score)
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        bins = _check_count(bins, "bins", 1)
        edges = np.histogram_bin_edges(score, bins=bins)
    else:
        edges = _floats(bins, "bins")
        if len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValidationInputError(f"bins must be strictly increasing edges (at least two), got {list(edges)}")
        outside = (score < edges[0]) | (score > edges[-1])
        if outside.any():
            raise ValidationInputError(
                f"bins [{edges[0]:g}, {edges[-1]:g}] leave out {int(outside.sum())} score(s), "
                f"e.g. {_examples(score[outside])}"
            )
    goods, _ = np.histogram(score[y == 0], bins=edges)
    bads, _ = np.histogram(score[y == 1], bins=edges)
    total = goods + bads
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({
            "bin_from": edges[:-1],
            "bin_to": edges[1:],
            "goods": goods,
            "bads": bads,
            "share_goods": goods / goods.sum() if goods.sum() else np.full(len(goods), np.nan),
            "share_bads": bads / bads.sum() if bads.sum() else np.full(len(bads), np.nan),
            "bad_rate": np.where(total > 0, bads / np.where(total > 0, total, 1), np.nan),
        })


@dataclass(frozen=True)
class ValidationMetrics:
    """Discrimination and calibration on one sample (one row of ``validation.json``).

    Attributes
    ----------
    sample : str
    n, n_defaults : int
    default_rate, mean_pd : float
    auc : float
        :func:`auc`; NaN when the sample holds one outcome only.
    gini : float
        ``2 * auc - 1``.
    ks : float
        :func:`kolmogorov_smirnov`; NaN when the sample holds one outcome only.
    brier : float
        :func:`brier_score`.
    """

    sample: str
    n: int
    n_defaults: int
    default_rate: float
    mean_pd: float
    auc: float
    gini: float
    ks: float
    brier: float


def validation_metrics(sample: str, y: Any, pd_: Any) -> ValidationMetrics:
    """AUC, Gini = 2 AUC - 1, KS and Brier score of predicted PDs against outcomes.

    Parameters
    ----------
    sample : str
        Name of the sample (e.g. ``"out-of-time"``).
    y : array-like of 0/1
    pd_ : array-like of PDs in [0, 1] (also used as the score)

    Returns
    -------
    ValidationMetrics
    """
    y = _outcomes(y)
    p = _probabilities(pd_)
    _same_length(y=y, pd=p)
    # AUC and KS compare defaults with non-defaults; a one-outcome sample has no such pair.
    two = 0 < y.sum() < len(y)
    area = auc(y, p) if two else float("nan")
    return ValidationMetrics(
        sample=sample, n=len(y), n_defaults=int(y.sum()), default_rate=float(y.mean()),
        mean_pd=float(np.mean(p)), auc=area, gini=2 * area - 1,
        ks=kolmogorov_smirnov(y, p) if two else float("nan"), brier=brier_score(y, p),
    )
