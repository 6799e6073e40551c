"""The calibration map of a PD model: raw log-odds to PD.

:func:`choose_calibration` compares Platt scaling and isotonic regression by their
out-of-fold Brier score on the calibration sample and refits the better one (or the
one asked for); :func:`central_tendency_adjustment` shifts PDs in log-odds so their
mean equals a long-run central tendency.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import brentq, isotonic_regression
from scipy.special import expit, logit

from credit_lab.models.metrics import PD_CLIP, brier_score, log_loss
from credit_lab.models.validation_inputs import (
    ValidationInputError,
    _both_classes,
    _check_count,
    _outcomes,
    _probabilities,
    _same_length,
    _scores,
)

__all__ = [
    "CalibrationChoice",
    "CentralTendencyAdjustment",
    "central_tendency_adjustment",
    "choose_calibration",
]

logger = logging.getLogger(__name__)


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
    central_tendency : credit_lab.models.central_tendency.CentralTendency or None
        What ``model.central_tendency`` decided (rule, long-run rate, mean PD before and after, why),
        set by :func:`credit_lab.models.calibration.fit_calibration`; None when only a
        ``target_mean`` was given here.
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
    # a credit_lab.models.central_tendency.CentralTendency; that module shifts with this one's adjustment
    central_tendency: Any = field(default=None, repr=False)
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
