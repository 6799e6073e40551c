"""Population stability: PSI of the score, CSI of each feature, AUC by period.

Compares a sample (out-of-time, today's population) with a reference (the development
sample) bin by bin, ``PSI = sum_i (a_i - e_i) ln(a_i / e_i)``. Numeric bins are the
reference's quantiles, except that a lump of identical values (a value holding more
than a bin's share, e.g. the zeros of a count) keeps a bin of its own, so a shift in
its share is seen.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from credit_lab.models.metrics import auc
from credit_lab.models.validation_inputs import (
    ValidationInputError,
    _check_count,
    _floats,
    _one_d,
    _ordered_labels,
    _outcomes,
    _same_length,
    _scores,
)

__all__ = [
    "MISSING_BIN",
    "PSI_SIGNIFICANT",
    "PSI_STABLE",
    "UNSEEN_BIN",
    "PSIResult",
    "auc_by_period",
    "csi_table",
    "population_stability",
    "psi",
    "psi_flag",
]

logger = logging.getLogger(__name__)

#: Conventional PSI thresholds: below 0.10 stable, above 0.25 a significant shift.
PSI_STABLE = 0.10
PSI_SIGNIFICANT = 0.25


class PSIResult(NamedTuple):
    """Population stability index and its bin table (unpacks as ``value, table``)."""

    value: float
    table: pd.DataFrame


MISSING_BIN = "<missing>"
UNSEEN_BIN = "<unseen>"


def _psi_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges of a numeric PSI: the reference's quantiles, every lump in a bin of its own.

    A *lump* is a value that more than one reference row holds and that holds more than a
    bin's share (``1 / bins``) of them, e.g. the many zeros of a count or a share.
    Quantile edges alone merge a lump with its neighbours (``np.unique`` drops the
    repeated quantiles), so a shift of the lump's share into nearby values reads as no
    shift at all. Each lump ``v`` therefore gets the bin ``(u, v]`` with ``u`` the next
    smaller reference value (``(-inf, v]`` at the minimum), and quantile edges strictly
    between a lump and its neighbouring values are dropped, so no bin is empty in the
    reference. Without lumps the edges are the plain quantiles.

    Parameters
    ----------
    reference : numpy.ndarray
        The non-missing reference values (at least one).
    bins : int
        Number of quantile bins.

    Returns
    -------
    numpy.ndarray
        Increasing inner edges; bins are ``(-inf, e0], (e0, e1], ..., (e_last, inf)``.
    """
    inner = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)))[1:-1]
    distinct, counts = np.unique(reference, return_counts=True)
    lumps = np.nonzero((counts > 1) & (counts > len(reference) / bins))[0]
    keep = np.ones(len(inner), dtype=bool)
    extra = []
    for i in lumps:
        v = distinct[i]
        if i > 0:  # close the bin below just under the lump: (u, v] then holds only v
            u = distinct[i - 1]
            keep &= ~((inner > u) & (inner < v))
            extra.append(u)
        if i + 1 < len(distinct):  # and open the next bin at it; the top lump keeps the open last bin
            keep &= ~((inner > v) & (inner < distinct[i + 1]))
            extra.append(v)
    return np.unique(np.r_[inner[keep], extra])


def _psi_numeric(expected: np.ndarray, actual: np.ndarray, bins: int) -> tuple[list, np.ndarray, np.ndarray]:
    exp_ok = expected[~np.isnan(expected)]
    if exp_ok.size == 0:
        raise ValidationInputError("expected has no non-missing value to take bin edges from")
    inner = _psi_edges(exp_ok, bins)
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
        are merged, but a value holding more than a bin's share (e.g. many zeros)
        keeps a bin of its own (see :func:`_psi_edges`); bins are right-closed and
        the outer ones open-ended so every actual value has a bin. NaN gets its
        own bin ``"<missing>"``.
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
