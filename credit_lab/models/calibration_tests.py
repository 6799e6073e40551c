"""Calibration tests of PD models: is the predicted PD borne out by the observed defaults?

Per-grade one-sided exact binomial test with critical default counts and traffic
lights, the Jeffreys test, the Hosmer-Lemeshow test (by PD quantile group or by
grade) and the calibration table (mean PD against observed default rate with a
Wilson or Jeffreys interval). Conventions as in :mod:`credit_lab.models.metrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from credit_lab.models.validation_inputs import (
    ValidationInputError,
    _check_count,
    _check_level,
    _one_d,
    _ordered_labels,
    _outcomes,
    _probabilities,
    _same_length,
)

__all__ = [
    "HosmerLemeshowResult",
    "binomial_test_by_grade",
    "calibration_table",
    "hosmer_lemeshow",
]

logger = logging.getLogger(__name__)


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
