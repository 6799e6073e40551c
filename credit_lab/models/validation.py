"""Validation statistics for PD models.

Discrimination (ROC, CAP and accuracy ratio, KS, AUC by period), calibration
(per-grade binomial and Jeffreys tests with traffic lights, Hosmer-Lemeshow,
calibration table and plot, Brier score), population stability (PSI of the
score, CSI of each feature) and the choice of the calibration map itself
(Platt or isotonic, by out-of-fold Brier score) with an optional shift to a
long-run central tendency.

Conventions
-----------
* ``y`` is the default flag: 1 = default ("bad"), 0 = no default ("good").
* A *score* orders risk like a PD: **higher means riskier**. Pass ``-points``
  for a points scale on which higher means safer.
* Ties in the score are treated as one group: every curve moves straight from
  one tie group to the next, which is the average over all orderings inside the
  group. Hence ``accuracy_ratio == 2 * AUC - 1`` exactly, with or without ties.

Everything here is plain numpy / pandas / scipy; matplotlib is only imported by
the two plotting helpers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq, isotonic_regression
from scipy.special import expit, logit

from credit_lab.core.exceptions import CreditLabError

__all__ = [
    "PD_CLIP",
    "PSI_SIGNIFICANT",
    "PSI_STABLE",
    "CalibrationChoice",
    "CentralTendencyAdjustment",
    "HosmerLemeshowResult",
    "PSIResult",
    "ValidationInputError",
    "accuracy_ratio",
    "auc",
    "auc_by_period",
    "binomial_test_by_grade",
    "brier_score",
    "calibration_table",
    "cap_curve",
    "central_tendency_adjustment",
    "choose_calibration",
    "csi_table",
    "hosmer_lemeshow",
    "kolmogorov_smirnov",
    "log_loss",
    "plot_calibration",
    "plot_score_distribution",
    "population_stability",
    "psi",
    "psi_flag",
    "roc_table",
    "score_distribution",
    "validation_summary",
]

#: PDs returned by a calibration map are clipped to ``[PD_CLIP, 1 - PD_CLIP]``.
PD_CLIP = 1e-5
#: Conventional PSI thresholds: below 0.10 stable, above 0.25 a significant shift.
PSI_STABLE = 0.10
PSI_SIGNIFICANT = 0.25


class ValidationInputError(CreditLabError, ValueError):
    """Inputs to a validation statistic are malformed (length, outcome or PD range)."""


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------

def _one_d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValidationInputError(f"{name} must be one-dimensional, got an array of shape {arr.shape}")
    return arr


def _examples(values: np.ndarray, k: int = 5) -> str:
    shown = list(pd.unique(pd.Series(values, dtype=object)))[:k]
    return ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in shown)


def _outcomes(y: Any, name: str = "y") -> np.ndarray:
    """0/1 outcomes as int64; anything else raises with the offending values."""
    arr = _one_d(y, name)
    if arr.size == 0:
        raise ValidationInputError(f"{name} is empty")
    textual = arr.dtype.kind in "US" or (arr.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in arr))
    try:
        if textual:
            raise TypeError
        f = arr.astype(float)
    except (TypeError, ValueError):
        bad = np.array([v for v in arr if not (isinstance(v, (int, float, np.number, bool)) and v in (0, 1))],
                       dtype=object)
        raise ValidationInputError(
            f"{name} must be binary (1 = default, 0 = no default); found non-numeric value(s) {_examples(bad)}"
        ) from None
    bad = ~np.isin(f, (0.0, 1.0))
    if bad.any():
        raise ValidationInputError(
            f"{name} must be binary (1 = default, 0 = no default); found {int(bad.sum())} other value(s), "
            f"e.g. {_examples(arr[bad])}"
        )
    return f.astype(np.int64)


def _floats(x: Any, name: str, allow_nan: bool = False) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        try:
            arr = pd.Series(x).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise ValidationInputError(f"{name} must be numeric, got dtype {x.dtype}") from None
    else:
        raw = np.asarray(x)
        try:
            if raw.dtype.kind in "US" or (raw.dtype.kind == "O" and any(isinstance(v, (str, bytes))
                                                                        for v in raw.ravel())):
                raise TypeError
            arr = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise ValidationInputError(f"{name} must be numeric, got values such as "
                                       f"{_examples(np.asarray(x, dtype=object).ravel())}") from None
    arr = _one_d(arr, name)
    if arr.size == 0:
        raise ValidationInputError(f"{name} is empty")
    if not allow_nan and np.isnan(arr).any():
        raise ValidationInputError(f"{name} has {int(np.isnan(arr).sum())} missing (NaN) value(s)")
    return arr


def _scores(x: Any, name: str = "score") -> np.ndarray:
    arr = _floats(x, name)
    if np.isinf(arr).any():
        raise ValidationInputError(f"{name} has {int(np.isinf(arr).sum())} infinite value(s)")
    return arr


def _probabilities(x: Any, name: str = "pd") -> np.ndarray:
    arr = _floats(x, name)
    out = (arr < 0) | (arr > 1)
    if out.any():
        raise ValidationInputError(
            f"{name} must lie in [0, 1]; {int(out.sum())} value(s) do not, e.g. {_examples(arr[out])} "
            f"(min {arr.min():g}, max {arr.max():g})"
        )
    return arr


def _same_length(**arrays: Sized) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValidationInputError(f"length mismatch: {detail} values")
    return next(iter(lengths.values()))


def _both_classes(y: np.ndarray, name: str = "y") -> tuple[int, int]:
    bads = int(y.sum())
    goods = int(len(y) - bads)
    if bads == 0 or goods == 0:
        raise ValidationInputError(
            f"{name} holds only one outcome ({bads} defaults, {goods} non-defaults); "
            "the statistic needs both defaults and non-defaults"
        )
    return bads, goods


def _check_level(level: float, name: str = "level") -> float:
    if not (isinstance(level, (int, float, np.floating)) and 0 < float(level) < 1):
        raise ValidationInputError(f"{name} must be a confidence level in (0, 1), got {level!r}")
    return float(level)


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValidationInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------
# discrimination
# --------------------------------------------------------------------------------------

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

    Evaluated only between tie groups, so (unlike a plain running maximum over
    sorted rows) ties cannot inflate it; equals the two-sample KS statistic.

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
    y = _outcomes(y)
    p = _probabilities(pd_)
    _same_length(y=y, pd=p)
    two = 0 < y.sum() < len(y)
    return pd.Series({
        "n": float(len(y)),
        "defaults": float(y.sum()),
        "default_rate": float(y.mean()),
        "mean_pd": float(p.mean()),
        "auc": auc(y, p) if two else np.nan,
        "accuracy_ratio": accuracy_ratio(y, p) if two else np.nan,
        "ks": kolmogorov_smirnov(y, p) if two else np.nan,
        "brier": brier_score(y, p),
    })


# --------------------------------------------------------------------------------------
# calibration tests
# --------------------------------------------------------------------------------------

def _ordered_labels(labels: pd.Series) -> list:
    uniq = list(pd.unique(labels))
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)


def _binom_sf(k: np.ndarray | int, n: int, p: float) -> np.ndarray:
    """``P[X >= k]`` for ``X ~ Bin(n, p)``."""
    return stats.binom.sf(np.asarray(k) - 1, n, p)


def _critical_defaults(n: int, p: float, alpha: float) -> int:
    """Smallest default count whose one-sided p-value ``P[X >= k]`` is below ``alpha``.

    ``n + 1`` when even ``n`` defaults would not be rejected.
    """
    k = int(stats.binom.ppf(1.0 - alpha, n, p)) + 1 if 0 < p < 1 else (1 if p == 0 else n + 1)
    k = min(max(k, 0), n + 1)
    while k > 0 and _binom_sf(k - 1, n, p) < alpha:
        k -= 1
    while k <= n and not _binom_sf(k, n, p) < alpha:
        k += 1
    return k


def _level_label(level: float) -> str:
    return f"{level * 100:.10g}"


def binomial_test_by_grade(grades: Any, pd_: Any, y: Any, grade_order: Sequence[Hashable] | None = None,
                           levels: Sequence[float] = (0.95, 0.999)) -> pd.DataFrame:
    """One-sided exact binomial test and Jeffreys test of the PD of each grade.

    H0: the grade's true default probability is (at most) its mean PD. The
    binomial p-value is ``P[X >= d]`` for ``X ~ Bin(n, mean PD)``: small values
    mean more defaults than the PD allows (PD underestimated).

    Parameters
    ----------
    grades : array-like
        Grade (rating class) of each customer; no missing values.
    pd_ : array-like of float in [0, 1]
        PD of each customer; a grade is tested at its mean PD.
    y : array-like of 0/1
        Default flags.
    grade_order : sequence, optional
        Row order. Grades listed but absent from the data get a row with
        ``n = 0``, NaN statistics and light ``"no data"``; grades present but not
        listed raise. Default: the sorted grades.
    levels : sequence of float
        Confidence levels of the critical default counts. The traffic light uses
        the lowest and the highest: ``green`` if not rejected at the lowest
        (``p_value >= 1 - 0.95``), ``red`` if rejected at the highest
        (``p_value < 1 - 0.999``), ``yellow`` in between.

    Returns
    -------
    pandas.DataFrame
        Indexed by grade: ``n``, ``defaults``, ``mean_pd``, ``observed_rate``,
        ``p_value``, ``critical_defaults_<level%>`` for each level (the smallest
        default count rejected at that level; ``n + 1`` means never rejected),
        ``traffic_light``, and ``jeffreys_p_value`` = ``Beta(d + 1/2, n - d + 1/2)``
        CDF at the mean PD (the EBA/ECB Jeffreys test; small = PD too low).
    """
    y = _outcomes(y)
    p = _probabilities(pd_)
    g = pd.Series(_one_d(np.asarray(grades, dtype=object), "grades"), dtype=object)
    _same_length(grades=g, pd=p, y=y)
    if g.isna().any():
        raise ValidationInputError(f"grades has {int(g.isna().sum())} missing value(s)")
    levels = tuple(_check_level(lv, "levels") for lv in levels)
    if not levels:
        raise ValidationInputError("levels must name at least one confidence level, got ()")
    present = _ordered_labels(g)
    if grade_order is None:
        order = present
    else:
        order = list(grade_order)
        missing = [v for v in present if v not in order]
        if missing:
            raise ValidationInputError(f"grade_order lacks grade(s) present in grades: {missing}")
        if len(set(order)) != len(order):
            raise ValidationInputError(f"grade_order lists a grade more than once: {order}")
    frame = pd.DataFrame({"grade": g, "pd": p, "default": y})
    agg = frame.groupby("grade", sort=False).agg(n=("pd", "size"), defaults=("default", "sum"),
                                                 mean_pd=("pd", "mean"))
    lo, hi = min(levels), max(levels)
    rows = []
    for grade in order:
        row: dict[str, Any] = {"grade": grade}
        if grade not in agg.index:
            row.update(n=0, defaults=0, mean_pd=np.nan, observed_rate=np.nan, p_value=np.nan,
                       **{f"critical_defaults_{_level_label(lv)}": np.nan for lv in levels},
                       traffic_light="no data", jeffreys_p_value=np.nan)
            rows.append(row)
            continue
        n, d, mp = int(agg.at[grade, "n"]), int(agg.at[grade, "defaults"]), float(agg.at[grade, "mean_pd"])
        pv = float(_binom_sf(d, n, mp))
        row.update(n=n, defaults=d, mean_pd=mp, observed_rate=d / n, p_value=pv)
        for lv in levels:
            row[f"critical_defaults_{_level_label(lv)}"] = _critical_defaults(n, mp, 1.0 - lv)
        row["traffic_light"] = "red" if pv < 1.0 - hi else ("yellow" if pv < 1.0 - lo else "green")
        row["jeffreys_p_value"] = float(stats.beta.cdf(mp, d + 0.5, n - d + 0.5))
        rows.append(row)
    return pd.DataFrame(rows).set_index("grade")


@dataclass(frozen=True)
class HosmerLemeshowResult:
    """Hosmer-Lemeshow goodness-of-fit test.

    Attributes
    ----------
    statistic : float
        ``sum_g (O_g - E_g)^2 / (E_g (1 - E_g / n_g))``.
    dof : int
        Degrees of freedom of the chi-square reference distribution.
    p_value : float
        ``P[chi2(dof) >= statistic]``.
    table : pandas.DataFrame
        Per group: ``n``, ``observed`` defaults, ``expected`` defaults (sum of PDs),
        ``mean_pd``, ``observed_rate``, ``contribution`` to the statistic.
    """

    statistic: float
    dof: int
    p_value: float
    table: pd.DataFrame = field(repr=False)


def _quantile_bins(p: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges at the quantiles of ``p`` and each value's bin (right-closed, first bin closed)."""
    edges = np.quantile(p, np.linspace(0.0, 1.0, bins + 1))
    return edges, np.searchsorted(edges[1:-1], p, side="left")


def hosmer_lemeshow(y: Any, pd_: Any, groups: int = 10, by: Any = None, dof: int | None = None) -> HosmerLemeshowResult:
    """Hosmer-Lemeshow test of PDs against outcomes.

    Parameters
    ----------
    y : array-like of 0/1
    pd_ : array-like of PDs in [0, 1]
    groups : int
        Number of PD quantile groups when ``by`` is None. Groups are
        right-closed intervals between quantiles of the PDs, so equal PDs share a
        group; empty groups (from heavily tied PDs) are dropped.
    by : array-like, optional
        A grouping to use instead (e.g. the grade of each customer).
    dof : int, optional
        Degrees of freedom; default ``groups used - 2`` (the development-sample
        convention). Pass the number of groups for an independent sample.

    Returns
    -------
    HosmerLemeshowResult

    Notes
    -----
    A group whose expected variance ``E (1 - E / n)`` is zero (all PDs 0 or 1)
    contributes 0 if observed equals expected and ``inf`` otherwise.
    """
    y = _outcomes(y)
    p = _probabilities(pd_)
    _same_length(y=y, pd=p)
    if by is None:
        groups = _check_count(groups, "groups", 2)
        _, label = _quantile_bins(p, groups)
        key = pd.Series(label)
    else:
        key = pd.Series(_one_d(np.asarray(by, dtype=object), "by"), dtype=object)
        _same_length(y=y, by=key)
        if key.isna().any():
            raise ValidationInputError(f"by has {int(key.isna().sum())} missing value(s)")
    frame = pd.DataFrame({"group": key.to_numpy(), "pd": p, "default": y})
    table = frame.groupby("group", sort=False).agg(n=("pd", "size"), observed=("default", "sum"),
                                                   expected=("pd", "sum"))
    table = table.loc[_ordered_labels(pd.Series(table.index, dtype=object))]
    table["mean_pd"] = table["expected"] / table["n"]
    table["observed_rate"] = table["observed"] / table["n"]
    var = table["expected"] * (1.0 - table["mean_pd"])
    diff2 = (table["observed"] - table["expected"]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        contrib = np.where(var > 0, diff2 / var, np.where(diff2 > 0, np.inf, 0.0))
    table["contribution"] = contrib
    used = len(table)
    if dof is None:
        dof = used - 2
        if dof < 1:
            raise ValidationInputError(
                f"Hosmer-Lemeshow needs at least 3 non-empty groups for dof = groups - 2; got {used} "
                "(pass dof explicitly or use more groups)"
            )
    else:
        dof = _check_count(dof, "dof", 1)
    statistic = float(np.sum(contrib))
    return HosmerLemeshowResult(statistic=statistic, dof=int(dof), p_value=float(stats.chi2.sf(statistic, dof)),
                                table=table)


def _interval(defaults: np.ndarray, n: np.ndarray, method: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1.0 - level
    d = np.asarray(defaults, dtype=float)
    n = np.asarray(n, dtype=float)
    if method == "wilson":
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        phat = d / n
        denom = 1.0 + z**2 / n
        centre = (phat + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2))
        return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    if method == "jeffreys":
        lower = np.where(d > 0, stats.beta.ppf(alpha / 2.0, d + 0.5, n - d + 0.5), 0.0)
        upper = np.where(d < n, stats.beta.ppf(1.0 - alpha / 2.0, d + 0.5, n - d + 0.5), 1.0)
        return lower, upper
    raise ValidationInputError(f"ci must be 'wilson' or 'jeffreys', got {method!r}")


def calibration_table(y: Any, pd_: Any, bins: int = 10, strategy: Literal["quantile", "uniform"] = "quantile",
                      ci: Literal["wilson", "jeffreys"] = "wilson", level: float = 0.95) -> pd.DataFrame:
    """Mean predicted PD against the observed default rate, by PD bin.

    Bins follow :func:`sklearn.calibration.calibration_curve`: edges at the PD
    quantiles (``strategy='quantile'``) or evenly over [0, 1] (``'uniform'``),
    intervals closed on the right (the first also on the left); empty bins are
    dropped.

    Parameters
    ----------
    y : array-like of 0/1
    pd_ : array-like of PDs in [0, 1]
    bins : int
    strategy : {'quantile', 'uniform'}
    ci : {'wilson', 'jeffreys'}
        Interval for the observed default rate.
    level : float
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        ``bin``, ``pd_from``, ``pd_to``, ``count``, ``defaults``, ``mean_predicted``,
        ``observed_rate``, ``ci_lower``, ``ci_upper``.
    """
    y = _outcomes(y)
    p = _probabilities(pd_)
    _same_length(y=y, pd=p)
    bins = _check_count(bins, "bins", 1)
    level = _check_level(level)
    if ci not in ("wilson", "jeffreys"):
        raise ValidationInputError(f"ci must be 'wilson' or 'jeffreys', got {ci!r}")
    if strategy == "quantile":
        edges, label = _quantile_bins(p, bins)
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
        label = np.searchsorted(edges[1:-1], p, side="left")
    else:
        raise ValidationInputError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    count = np.bincount(label, minlength=bins)
    defaults = np.bincount(label, weights=y, minlength=bins)
    sum_pd = np.bincount(label, weights=p, minlength=bins)
    keep = count > 0
    idx = np.nonzero(keep)[0]
    lower, upper = _interval(defaults[keep], count[keep], ci, level)
    return pd.DataFrame({
        "bin": idx,
        "pd_from": edges[idx],
        "pd_to": edges[idx + 1],
        "count": count[keep],
        "defaults": defaults[keep].astype(np.int64),
        "mean_predicted": sum_pd[keep] / count[keep],
        "observed_rate": defaults[keep] / count[keep],
        "ci_lower": lower,
        "ci_upper": upper,
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


# --------------------------------------------------------------------------------------
# population stability
# --------------------------------------------------------------------------------------

class PSIResult(NamedTuple):
    """Population stability index and its bin table (unpacks as ``value, table``)."""

    value: float
    table: pd.DataFrame


MISSING_BIN = "<missing>"
UNSEEN_BIN = "<unseen>"


def _psi_numeric(expected: np.ndarray, actual: np.ndarray, bins: int) -> tuple[list, np.ndarray, np.ndarray]:
    exp_ok = expected[~np.isnan(expected)]
    if exp_ok.size == 0:
        raise ValidationInputError("expected has no non-missing value to take bin edges from")
    edges = np.unique(np.quantile(exp_ok, np.linspace(0.0, 1.0, bins + 1)))
    inner = edges[1:-1]
    k = len(inner) + 1
    bounds = np.r_[-np.inf, inner, np.inf]
    labels: list = [f"({bounds[i]:.6g}, {bounds[i + 1]:.6g}]" for i in range(k)]

    def count(x: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(x)
        c = np.bincount(np.searchsorted(inner, x[ok], side="left"), minlength=k)
        return np.r_[c, (~ok).sum()]

    ce, ca = count(expected), count(actual)
    labels.append(MISSING_BIN)
    if ce[-1] == 0 and ca[-1] == 0:
        labels, ce, ca = labels[:-1], ce[:-1], ca[:-1]
    return labels, ce, ca


def _psi_categorical(expected: pd.Series, actual: pd.Series) -> tuple[list, np.ndarray, np.ndarray]:
    em, am = expected.isna(), actual.isna()
    cats = _ordered_labels(expected[~em])
    counts_e = expected[~em].value_counts()
    counts_a = actual[~am].value_counts()
    seen = set(cats)
    labels = list(cats)
    ce = [int(counts_e.get(c, 0)) for c in cats]
    ca = [int(counts_a.get(c, 0)) for c in cats]
    unseen = int(sum(v for c, v in counts_a.items() if c not in seen))
    if unseen:
        labels.append(UNSEEN_BIN)
        ce.append(0)
        ca.append(unseen)
    if em.any() or am.any():
        labels.append(MISSING_BIN)
        ce.append(int(em.sum()))
        ca.append(int(am.sum()))
    return labels, np.asarray(ce), np.asarray(ca)


def psi(expected: Any, actual: Any, bins: int = 10, categorical: bool = False, eps: float = 1e-4) -> PSIResult:
    """Population stability index of ``actual`` against ``expected``.

    ``PSI = sum_i (a_i - e_i) ln(a_i / e_i)`` over bins, with ``e_i``, ``a_i`` the
    shares of the two samples (missing values included in the totals) floored at
    ``eps`` so that an empty bin gives a large but finite term.

    Parameters
    ----------
    expected : array-like
        Reference sample (e.g. development); numeric bins are its quantiles.
    actual : array-like
        Sample compared with it (out-of-time, current population).
    bins : int
        Number of quantile bins of ``expected`` (numeric). Duplicate quantiles
        are merged; bins are right-closed and the outer ones open-ended so every
        actual value has a bin. NaN gets its own bin ``"<missing>"``.
    categorical : bool
        One bin per category of ``expected``; categories found only in ``actual``
        share one bin ``"<unseen>"``; missing values get ``"<missing>"``.
    eps : float
        Floor of a share.

    Returns
    -------
    PSIResult
        ``value`` and ``table`` with ``bin``, ``expected_count``, ``actual_count``,
        ``expected_share``, ``actual_share`` (unfloored) and ``contribution``.
    """
    if not (isinstance(eps, (int, float)) and 0 < eps < 1):
        raise ValidationInputError(f"eps must be in (0, 1), got {eps!r}")
    if categorical:
        e = pd.Series(_one_d(np.asarray(expected, dtype=object), "expected"), dtype=object)
        a = pd.Series(_one_d(np.asarray(actual, dtype=object), "actual"), dtype=object)
        for name, s in (("expected", e), ("actual", a)):
            if len(s) == 0:
                raise ValidationInputError(f"{name} is empty")
        labels, ce, ca = _psi_categorical(e, a)
    else:
        bins = _check_count(bins, "bins", 1)
        try:
            e = _floats(expected, "expected", allow_nan=True)
            a = _floats(actual, "actual", allow_nan=True)
        except ValidationInputError as err:
            raise ValidationInputError(f"{err} (pass categorical=True for a categorical variable)") from None
        labels, ce, ca = _psi_numeric(e, a, bins)
    es, as_ = ce / ce.sum(), ca / ca.sum()
    ef, af = np.maximum(es, eps), np.maximum(as_, eps)
    contribution = (af - ef) * np.log(af / ef)
    table = pd.DataFrame({"bin": pd.Series(labels, dtype=object), "expected_count": ce, "actual_count": ca,
                          "expected_share": es, "actual_share": as_, "contribution": contribution})
    return PSIResult(float(contribution.sum()), table)


def psi_flag(value: float) -> str:
    """Conventional reading of a PSI / CSI value.

    Parameters
    ----------
    value : float

    Returns
    -------
    str
        ``'stable'`` below 0.10, ``'moderate shift'`` from 0.10 to 0.25 (both
        included), ``'significant shift'`` above 0.25.
    """
    v = float(value)
    if math.isnan(v):
        raise ValidationInputError(f"value must be a number, got {value!r}")
    if v < PSI_STABLE:
        return "stable"
    if v <= PSI_SIGNIFICANT:
        return "moderate shift"
    return "significant shift"


def _is_categorical(name: str, categorical: Iterable[str], *frames: pd.DataFrame) -> bool:
    return name in set(categorical) or any(not pd.api.types.is_numeric_dtype(f[name]) for f in frames)


def csi_table(reference: pd.DataFrame, other: pd.DataFrame, features: Sequence[str],
              categorical: Iterable[str] = (), bins: int = 10, eps: float = 1e-4) -> pd.DataFrame:
    """Characteristic stability index (the PSI of each feature).

    Parameters
    ----------
    reference : pandas.DataFrame
        Reference population (e.g. development).
    other : pandas.DataFrame
        Population compared with it.
    features : sequence of str
    categorical : iterable of str
        Features binned by category; non-numeric columns are categorical anyway.
    bins, eps :
        As in :func:`psi`.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature: ``kind`` (numeric / categorical), ``bins``, ``csi`` and
        ``flag`` (:func:`psi_flag`).
    """
    categorical = list(categorical)
    features = list(features)
    for name, frame in (("reference", reference), ("other", other)):
        missing = [f for f in features if f not in frame.columns]
        if missing:
            raise ValidationInputError(f"{name} lacks feature column(s) {missing}")
    rows = []
    for f in features:
        cat = _is_categorical(f, categorical, reference, other)
        value, table = psi(reference[f], other[f], bins=bins, categorical=cat, eps=eps)
        rows.append({"feature": f, "kind": "categorical" if cat else "numeric", "bins": len(table),
                     "csi": value, "flag": psi_flag(value)})
    return pd.DataFrame(rows, columns=["feature", "kind", "bins", "csi", "flag"]).set_index("feature")


def population_stability(samples: Mapping[str, pd.DataFrame], score: str, features: Sequence[str] = (),
                         reference: str | None = None, categorical: Iterable[str] = (), bins: int = 10,
                         eps: float = 1e-4) -> pd.DataFrame:
    """PSI of the score and CSI of each feature, every sample against a reference.

    Parameters
    ----------
    samples : mapping of name -> DataFrame
        E.g. ``{"development": dev, "out-of-time": oot, "current": today}``.
    score : str
        Column holding the score (or PD).
    features : sequence of str
    reference : str, optional
        Name of the reference sample; default the first.
    categorical, bins, eps :
        As in :func:`csi_table`.

    Returns
    -------
    pandas.DataFrame
        Long table: ``sample``, ``variable``, ``measure`` (``PSI`` for the score,
        ``CSI`` for features), ``value``, ``flag``.
    """
    if not samples:
        raise ValidationInputError("samples is empty")
    names = list(samples)
    reference = names[0] if reference is None else reference
    if reference not in samples:
        raise ValidationInputError(f"reference {reference!r} is not one of the samples {names}")
    ref = samples[reference]
    rows = []
    categorical = list(categorical)
    for name in names:
        if name == reference:
            continue
        cur = samples[name]
        for frame_name, frame in ((reference, ref), (name, cur)):
            if score not in frame.columns:
                raise ValidationInputError(f"sample {frame_name!r} lacks the score column {score!r}")
        value, _ = psi(ref[score], cur[score], bins=bins, eps=eps,
                       categorical=_is_categorical(score, categorical, ref, cur))
        rows.append({"sample": name, "variable": score, "measure": "PSI", "value": value, "flag": psi_flag(value)})
        csi = csi_table(ref, cur, features, categorical=categorical, bins=bins, eps=eps)
        for f, r in csi.iterrows():
            rows.append({"sample": name, "variable": f, "measure": "CSI", "value": r["csi"], "flag": r["flag"]})
    return pd.DataFrame(rows, columns=["sample", "variable", "measure", "value", "flag"])


def auc_by_period(y: Any, score: Any, period: Any) -> pd.DataFrame:
    """AUC of the score within each period (e.g. month of observation).

    Parameters
    ----------
    y : array-like of 0/1
    score : array-like of float, higher = riskier
    period : array-like
        Period label of each row (no missing values); rows are sorted by it.

    Returns
    -------
    pandas.DataFrame
        Indexed by period: ``n``, ``defaults``, ``auc`` and ``note`` (why the AUC
        is NaN: a period with no defaults or no non-defaults).
    """
    y = _outcomes(y)
    score = _scores(score)
    per = pd.Series(_one_d(np.asarray(period), "period"))
    _same_length(y=y, score=score, period=per)
    if per.isna().any():
        raise ValidationInputError(f"period has {int(per.isna().sum())} missing value(s)")
    frame = pd.DataFrame({"period": per, "y": y, "score": score})
    rows = []
    for key, part in frame.groupby("period", sort=True):
        n, d = len(part), int(part["y"].sum())
        if d == 0:
            value, note = np.nan, "no defaults: AUC undefined"
        elif d == n:
            value, note = np.nan, "no non-defaults: AUC undefined"
        else:
            value, note = auc(part["y"].to_numpy(), part["score"].to_numpy()), ""
        rows.append({"period": key, "n": n, "defaults": d, "auc": value, "note": note})
    return pd.DataFrame(rows, columns=["period", "n", "defaults", "auc", "note"]).set_index("period")


# --------------------------------------------------------------------------------------
# calibration maps
# --------------------------------------------------------------------------------------

def _fit_platt(raw: np.ndarray, y: np.ndarray, max_iter: int = 100) -> tuple[float, float]:
    """Unpenalised logistic regression ``P(y=1) = expit(a + b raw)`` by damped Newton."""
    X = np.column_stack([np.ones_like(raw), raw])
    beta = np.array([logit(np.clip(y.mean(), 1e-6, 1 - 1e-6)), 0.0])

    def loglik(b: np.ndarray) -> float:
        z = X @ b
        return float(np.sum(y * z - np.logaddexp(0.0, z)))

    current = loglik(beta)
    for _ in range(max_iter):
        p = expit(X @ beta)
        grad = X.T @ (y - p)
        hess = (X * (p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-10:
            cand = beta + t * step
            value = loglik(cand)
            if value >= current - 1e-12:
                break
            t /= 2
        else:
            break
        beta, change = cand, abs(value - current)
        current = value
        if np.max(np.abs(t * step)) < 1e-10 or change < 1e-13:
            break
    return float(beta[0]), float(beta[1])


def _fit_isotonic(raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Increasing isotonic fit on unique raw values (ties pooled); returns the knots."""
    xs, inv, counts = np.unique(raw, return_inverse=True, return_counts=True)
    means = np.bincount(inv, weights=y) / counts
    fitted = isotonic_regression(means, weights=counts.astype(float), increasing=True).x
    return xs, fitted


def _make_map(method: str, raw: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    if method == "platt":
        a, b = _fit_platt(raw, y)
        return lambda r: expit(a + b * r)
    xs, ys = _fit_isotonic(raw, y)
    return lambda r: np.interp(r, xs, ys)


def _stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for cls in (0, 1):
        idx = rng.permutation(np.nonzero(y == cls)[0])
        fold[idx] = np.arange(len(idx)) % folds
    return fold


@dataclass
class CalibrationChoice:
    """The calibration map chosen by :func:`choose_calibration`, refitted on the whole sample.

    Attributes
    ----------
    method : {'platt', 'isotonic'}
    comparison : pandas.DataFrame
        Indexed by method: out-of-fold ``brier`` and ``log_loss`` and ``chosen``.
    oof : pandas.DataFrame
        The out-of-fold PDs of both methods and the ``fold`` of each row.
    shift : float
        Log-odds shift to the central tendency (0 when none was requested).
    target_mean : float or None
        The requested long-run central tendency.
    platt_coef : tuple of float or None
        ``(intercept, slope)`` when Platt was chosen.
    isotonic_knots : tuple of arrays or None
        ``(raw, pd)`` knots when isotonic was chosen (linear in between, flat outside).
    """

    method: str
    comparison: pd.DataFrame
    oof: pd.DataFrame = field(repr=False)
    shift: float = 0.0
    target_mean: float | None = None
    platt_coef: tuple[float, float] | None = None
    isotonic_knots: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def _base(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "platt":
            a, b = self.platt_coef  # type: ignore[misc]
            return expit(a + b * raw)
        xs, ys = self.isotonic_knots  # type: ignore[misc]
        return np.interp(raw, xs, ys)

    def predict(self, raw: Any) -> np.ndarray:
        """Calibrated PD of raw log-odds scores, clipped to ``[1e-5, 1 - 1e-5]``.

        Parameters
        ----------
        raw : array-like of float

        Returns
        -------
        numpy.ndarray
        """
        r = _scores(raw, "raw")
        p = np.clip(self._base(r), PD_CLIP, 1 - PD_CLIP)
        if self.shift:
            p = expit(logit(p) + self.shift)
        return np.clip(p, PD_CLIP, 1 - PD_CLIP)


def choose_calibration(raw: Any, y: Any, folds: int = 5, seed: int = 0,
                       target_mean: float | None = None, method: str = "auto") -> CalibrationChoice:
    """Choose between Platt scaling and isotonic regression on a calibration sample.

    Both maps are fitted ``folds`` times (stratified folds drawn with ``seed``) and
    scored on the held-out fold; the one with the lower pooled out-of-fold Brier
    score is refitted on the whole sample (Platt on an exact tie). Out-of-fold PDs
    are clipped to ``[1e-5, 1 - 1e-5]`` like the final predictions.

    Parameters
    ----------
    raw : array-like of float
        Raw model output on the log-odds scale (higher = riskier).
    y : array-like of 0/1
    folds : int
        At least 2; each class needs at least ``folds`` members.
    seed : int
    target_mean : float, optional
        Long-run central tendency (e.g. from params). When given, the chosen map
        is followed by the log-odds shift of :func:`central_tendency_adjustment`
        that makes the mean PD over this sample equal it.
    method : {'auto', 'platt', 'isotonic'}
        ``auto`` keeps the map with the lower out-of-fold Brier score; ``platt`` or
        ``isotonic`` fits that one (the comparison of both is still reported).

    Returns
    -------
    CalibrationChoice
    """
    if method not in ("auto", "platt", "isotonic"):
        raise ValidationInputError(f"method must be 'auto', 'platt' or 'isotonic'; got {method!r}")
    r = _scores(raw, "raw")
    y = _outcomes(y)
    _same_length(raw=r, y=y)
    folds = _check_count(folds, "folds", 2)
    bads, goods = _both_classes(y)
    if min(bads, goods) < folds:
        raise ValidationInputError(
            f"folds={folds} needs at least {folds} defaults and {folds} non-defaults; y has {bads} and {goods}"
        )
    fold = _stratified_folds(y, folds, seed)
    oof = {m: np.empty(len(y)) for m in ("platt", "isotonic")}
    for k in range(folds):
        test = fold == k
        for m, pred in oof.items():
            mapper = _make_map(m, r[~test], y[~test])
            pred[test] = np.clip(mapper(r[test]), PD_CLIP, 1 - PD_CLIP)
    comparison = pd.DataFrame({
        "brier": [brier_score(y, oof[m]) for m in oof],
        "log_loss": [log_loss(y, oof[m]) for m in oof],
    }, index=pd.Index(list(oof), name="method"))
    if method == "auto":
        method = "platt" if comparison.at["platt", "brier"] <= comparison.at["isotonic", "brier"] else "isotonic"
    comparison["chosen"] = comparison.index == method
    choice = CalibrationChoice(method=method, comparison=comparison,
                               oof=pd.DataFrame({**oof, "fold": fold}), target_mean=target_mean)
    if method == "platt":
        choice.platt_coef = _fit_platt(r, y)
    else:
        choice.isotonic_knots = _fit_isotonic(r, y)
    if target_mean is not None:
        base = np.clip(choice._base(r), PD_CLIP, 1 - PD_CLIP)
        choice.shift = central_tendency_adjustment(base, target_mean).shift
    return choice


class CentralTendencyAdjustment(NamedTuple):
    """Adjusted PDs and the log-odds shift (unpacks as ``pd, shift``)."""

    pd: np.ndarray
    shift: float


def central_tendency_adjustment(pd_: Any, target_mean: float) -> CentralTendencyAdjustment:
    """Shift PDs in log-odds so that their mean equals a long-run central tendency.

    Solves ``mean(expit(logit(pd) + c)) == target_mean`` for ``c`` with Brent's
    method (``xtol = 1e-12``); the left side increases strictly in ``c``, so the
    root is unique and the ranking of the PDs is kept.

    Parameters
    ----------
    pd_ : array-like of PDs in [0, 1]
        PDs of exactly 0 or 1 stay where they are.
    target_mean : float
        In (0, 1), and strictly between the share of PDs equal to 1 and one minus
        the share equal to 0 (else no shift reaches it).

    Returns
    -------
    CentralTendencyAdjustment
        ``pd`` (adjusted) and ``shift`` (``c``).
    """
    p = _probabilities(pd_)
    try:
        t = float(target_mean)
    except (TypeError, ValueError):
        raise ValidationInputError(f"target_mean must be a number in (0, 1), got {target_mean!r}") from None
    if not 0.0 < t < 1.0:
        raise ValidationInputError(f"target_mean must lie strictly between 0 and 1, got {target_mean!r}")
    lo_reach, hi_reach = float(np.mean(p == 1.0)), 1.0 - float(np.mean(p == 0.0))
    if not lo_reach < t < hi_reach:
        raise ValidationInputError(
            f"target_mean={t:g} cannot be reached: with PDs of exactly 0 or 1 the mean stays in "
            f"({lo_reach:g}, {hi_reach:g})"
        )
    with np.errstate(divide="ignore"):
        z = logit(p)

    def gap(c: float) -> float:
        return float(np.mean(expit(z + c))) - t

    lo, hi = -1.0, 1.0
    while gap(lo) > 0:
        lo *= 2.0
        if lo < -1e5:  # pragma: no cover - unreachable for reachable targets
            raise ValidationInputError(f"no log-odds shift reaches target_mean={t:g}")
    while gap(hi) < 0:
        hi *= 2.0
        if hi > 1e5:  # pragma: no cover
            raise ValidationInputError(f"no log-odds shift reaches target_mean={t:g}")
    c = float(brentq(gap, lo, hi, xtol=1e-12, rtol=4 * np.finfo(float).eps, maxiter=500))
    return CentralTendencyAdjustment(expit(z + c), c)


# --------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------

def plot_calibration(table: pd.DataFrame, ax: Any = None, label: str = "model") -> Any:
    """Calibration plot of a :func:`calibration_table`: observed rate against mean PD.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`calibration_table`.
    ax : matplotlib Axes, optional
    label : str

    Returns
    -------
    matplotlib.axes.Axes
        With the diagonal and the observed rates with their confidence intervals.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    x = table["mean_predicted"].to_numpy()
    obs = table["observed_rate"].to_numpy()
    err = np.vstack([obs - table["ci_lower"].to_numpy(), table["ci_upper"].to_numpy() - obs])
    top = float(max(np.max(table["ci_upper"]), np.max(x))) * 1.05 or 1.0
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    ax.errorbar(x, obs, yerr=err, fmt="o", capsize=3, label=label)
    ax.set_xlabel("mean predicted PD")
    ax.set_ylabel("observed default rate")
    ax.legend()
    return ax


def plot_score_distribution(table: pd.DataFrame, ax: Any = None) -> Any:
    """Step plot of the score shares of goods and bads from :func:`score_distribution`.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`score_distribution`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    edges = np.r_[table["bin_from"].to_numpy(), table["bin_to"].to_numpy()[-1]]
    for col, name in (("share_goods", "goods"), ("share_bads", "bads")):
        ax.stairs(table[col].to_numpy(), edges, label=name)
    ax.set_xlabel("score")
    ax.set_ylabel("share of class")
    ax.legend()
    return ax
