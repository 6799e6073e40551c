"""Portfolio loss distribution behind the risk-reserve fund: multi-factor Gaussian copula.

Model
-----
Obligor ``i`` (sector ``s(i)``) defaults within 12 months when

    sqrt(rho_i) * Y_s(i) + sqrt(1 - rho_i) * eps_i < Phi^-1(PD_i),

with ``Y = A Z`` the correlated sector factors (``A A^T`` = the sector correlation matrix,
``Z`` iid standard normal) and ``eps_i`` iid standard normal. Its loss is
``exposure_i * LGD_i`` (currency; ``exposure`` is the net EAD after insurance and
guarantees), with ``LGD_i`` either fixed or Beta distributed with a given mean and standard
deviation, independent of everything else. Given ``Z`` the defaults are independent with
conditional probabilities ``p_i(Z) = Phi((Phi^-1(PD_i) - sqrt(rho_i) Y_s(i)) / sqrt(1 - rho_i))``.

Methods
-------
``vasicek_quantile``, ``irb_capital``
    Closed forms: the large-homogeneous-portfolio quantile and the Basel II IRB capital
    requirement for corporates (with maturity and optional SME firm-size adjustment).
``monte_carlo_loss``
    Plain Monte Carlo, seeded and chunked; the benchmark's yardstick.
``large_portfolio_loss``
    The conditional-expectation shortcut ``E[L | Z]``: fast, but drops name concentration.
``fast_loss``
    Exact conditional loss distributions (signed compound-Poisson series + FFT on an
    exposure lattice) mixed over importance-sampled, randomised quasi-Monte Carlo factor
    scenarios, with a conditional-normal control variate. Keeps name concentration; errors
    are reported (sampling CI from independent randomisations, lattice step, series
    truncation and aliasing bounds). See :func:`fast_loss` for the estimator.

All three simulation methods return a :class:`LossResult`; :func:`recommended_reserve`
turns one into the reserve ``EL + UL`` at a confidence level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, signal, stats
from scipy.interpolate import CubicSpline
from scipy.special import ndtr, ndtri
from scipy.stats import qmc

from credit_lab.core.exceptions import CreditLabError

try:  # numba ships with shap, a dependency; without it the kernels run (slowly) as Python.
    import numba

    _njit = numba.njit(cache=True)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only on machines without numba
    def _njit(func):
        return func

    HAVE_NUMBA = False

__all__ = [
    "irb_capital_rate",
    "DEFAULT_LEVELS",
    "LossModelError",
    "LossPortfolio",
    "LossResult",
    "basel_correlation",
    "basel_maturity_adjustment",
    "fast_loss",
    "irb_capital",
    "irb_risk_weight",
    "large_portfolio_loss",
    "loss_distribution",
    "monte_carlo_loss",
    "recommended_reserve",
    "vasicek_quantile",
]

DEFAULT_LEVELS: tuple[float, ...] = (0.99, 0.995, 0.999)
"""Confidence levels reported by default (VaR and expected shortfall)."""

_PLOT_PROBS = (0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
# Tail mass allowed outside a scenario's FFT window (each side); ln(1/eps) enters the bounds.
_WINDOW_EPS = 1e-15
_LOG_INV_EPS = math.log(1.0 / _WINDOW_EPS)


class LossModelError(CreditLabError, ValueError):
    """Invalid input to the portfolio loss model; the message names the input and the fix."""


# ----------------------------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------------------------

def _check_open_unit(name: str, value: Any, *, allow_zero: bool = False) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr) | (arr >= 1.0) | ((arr < 0.0) if allow_zero else (arr <= 0.0))
    if np.any(bad):
        first = arr.flat[int(np.flatnonzero(bad.ravel())[0])]
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise LossModelError(f"{name} = {_num(first)} is outside {interval}; give it as a fraction in {interval} "
                             f"(e.g. 0.02 for 2 %)")
    return arr


def _check_unit(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if np.any(bad):
        first = arr.flat[int(np.flatnonzero(bad.ravel())[0])]
        raise LossModelError(f"{name} = {_num(first)} is outside [0, 1]; give it as a fraction of the exposure "
                             f"(e.g. 0.45 for 45 %)")
    return arr


def _num(x: Any) -> str:
    """A number (or array) as plain Python text for messages, without numpy's type wrappers."""
    arr = np.asarray(x, dtype=float)
    return repr(float(arr)) if arr.ndim == 0 else repr(arr.tolist())


def _scalar_or_array(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def vasicek_quantile(pd: float | np.ndarray, rho: float | np.ndarray, confidence: float,
                     lgd: float | np.ndarray = 1.0) -> float | np.ndarray:
    """Loss quantile of an infinitely granular homogeneous one-factor portfolio (Vasicek).

    ``LGD * Phi((Phi^-1(PD) + sqrt(rho) * Phi^-1(q)) / sqrt(1 - rho))``.

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    rho : float or array
        Asset correlation with the single factor, in [0, 1).
    confidence : float
        Quantile level ``q`` in (0, 1), e.g. 0.999.
    lgd : float or array, default 1.0
        Loss given default, in [0, 1].

    Returns
    -------
    float or ndarray
        The ``q``-quantile of the portfolio loss rate, as a fraction of exposure (multiply by
        the total exposure for currency).
    """
    p = _check_open_unit("pd", pd)
    r = _check_open_unit("rho", rho, allow_zero=True)
    q = _check_open_unit("confidence", confidence)
    g = _check_unit("lgd", lgd)
    out = g * ndtr((ndtri(p) + np.sqrt(r) * ndtri(q)) / np.sqrt(1.0 - r))
    return _scalar_or_array(out)


def basel_correlation(pd: float | np.ndarray, sme_turnover: float | np.ndarray | None = None) -> float | np.ndarray:
    """Basel II asset correlation ``R(PD)`` for corporate exposures, with the SME adjustment.

    ``R = 0.12 w + 0.24 (1 - w)`` with ``w = (1 - exp(-50 PD)) / (1 - exp(-50))``; for an SME
    the firm-size adjustment subtracts ``0.04 (1 - (S - 5) / 45)``, S the annual turnover in
    EUR million clipped to [5, 50] (Basel II, para. 273).

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    sme_turnover : float or array, optional
        Annual sales in EUR million. ``None`` (default) or values >= 50: no adjustment.

    Returns
    -------
    float or ndarray
        Asset correlation, dimensionless, between 0.08 and 0.24.
    """
    p = _check_open_unit("pd", pd)
    w = -np.expm1(-50.0 * p) / -np.expm1(-50.0)
    r = 0.12 * w + 0.24 * (1.0 - w)
    if sme_turnover is not None:
        s = np.asarray(sme_turnover, dtype=float)
        if np.any(~np.isfinite(s)) or np.any(s <= 0):
            raise LossModelError(f"sme_turnover = {sme_turnover!r} must be positive annual sales in EUR million; "
                                 f"pass None for non-SME corporates")
        s = np.clip(s, 5.0, 50.0)
        r = r - 0.04 * (1.0 - (s - 5.0) / 45.0)
    return _scalar_or_array(r)


def basel_maturity_adjustment(pd: float | np.ndarray, maturity: float | np.ndarray = 2.5) -> float | np.ndarray:
    """Basel II maturity adjustment ``(1 + (M - 2.5) b) / (1 - 1.5 b)``, ``b = (0.11852 - 0.05478 ln PD)^2``.

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    maturity : float or array, default 2.5
        Effective maturity M in years (Basel caps it to [1, 5]; not enforced here so that the
        one-year case ``M = 1`` can be used to strip the adjustment).

    Returns
    -------
    float or ndarray
        Multiplicative factor, dimensionless; exactly 1 at ``M = 1``.
    """
    p = _check_open_unit("pd", pd)
    m = np.asarray(maturity, dtype=float)
    if np.any(~np.isfinite(m)) or np.any(m <= 0):
        raise LossModelError(f"maturity = {maturity!r} must be a positive number of years (Basel uses 1 to 5)")
    b = (0.11852 - 0.05478 * np.log(p)) ** 2
    return _scalar_or_array((1.0 + (m - 2.5) * b) / (1.0 - 1.5 * b))


def irb_capital(pd: float | np.ndarray, lgd: float | np.ndarray, maturity: float | np.ndarray = 2.5,
                sme_turnover: float | np.ndarray | None = None, confidence: float = 0.999,
                correlation: float | np.ndarray | None = None) -> float | np.ndarray:
    """Basel II IRB capital requirement K for corporate exposures, per unit of EAD.

    ``K = LGD [Phi((Phi^-1(PD) + sqrt(R) Phi^-1(0.999)) / sqrt(1 - R)) - PD] * MA(PD, M)``:
    the unexpected loss (Vasicek quantile minus expected loss) at 99.9 % times the maturity
    adjustment. The 1.06 scaling factor of Basel II is *not* applied (as in its Annex 5).

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    lgd : float or array
        Loss given default, in [0, 1].
    maturity : float or array, default 2.5
        Effective maturity in years; ``1`` removes the maturity adjustment.
    sme_turnover : float or array, optional
        Annual sales in EUR million for the SME firm-size adjustment of ``R``.
    confidence : float, default 0.999
        Regulatory confidence level.
    correlation : float or array, optional
        Override ``R`` (default: :func:`basel_correlation`).

    Returns
    -------
    float or ndarray
        Capital per unit of exposure (fraction); multiply by EAD for currency and by 12.5 for
        the risk weight.
    """
    p = _check_open_unit("pd", pd)
    g = _check_unit("lgd", lgd)
    r = np.asarray(basel_correlation(p, sme_turnover) if correlation is None
                   else _check_open_unit("correlation", correlation, allow_zero=True))
    q = _check_open_unit("confidence", confidence)
    cond = ndtr((ndtri(p) + np.sqrt(r) * ndtri(q)) / np.sqrt(1.0 - r))
    k = g * (cond - p) * np.asarray(basel_maturity_adjustment(p, maturity))
    return _scalar_or_array(k)


def irb_capital_rate(pd_: Any, lgd: Any, maturity_years: float = 1.0, pd_floor: float = 0.0003) -> np.ndarray:
    """Basel IRB corporate capital requirement ``K`` per unit of EAD (unexpected loss rate).

    ``K = [LGD * Phi((Phi^-1(PD) + sqrt(R) Phi^-1(0.999)) / sqrt(1 - R)) - PD * LGD] * MA``
    with the corporate asset correlation ``R(PD)`` and maturity adjustment ``MA``.

    Parameters
    ----------
    pd_ : array_like
        One-year PD, floored at ``pd_floor``.
    lgd : array_like
        Loss given default, share of EAD.
    maturity_years : float, optional
        Effective maturity, years (trade credit: ~1 or less; values below 1 are used as 1).
    pd_floor : float, optional
        Regulatory PD floor (0.03 %).

    Returns
    -------
    ndarray
        Capital per unit of EAD, >= 0. Multiply by ``ccf`` for ``ul_rate`` per unit of limit.
    """
    p = np.clip(np.asarray(pd_, dtype=float), pd_floor, 1.0 - 1e-12)
    k = irb_capital(p, np.asarray(lgd, dtype=float), maturity=max(float(maturity_years), 1.0))
    return np.maximum(np.asarray(k, dtype=float), 0.0)


def irb_risk_weight(pd: float | np.ndarray, lgd: float | np.ndarray, maturity: float | np.ndarray = 2.5,
                    sme_turnover: float | np.ndarray | None = None) -> float | np.ndarray:
    """Basel II IRB risk weight ``12.5 * K`` (fraction; 0.9232 means 92.32 %), without the 1.06 factor.

    Parameters are those of :func:`irb_capital`.
    """
    return _scalar_or_array(12.5 * np.asarray(irb_capital(pd, lgd, maturity, sme_turnover)))


# ----------------------------------------------------------------------------------------
# Portfolio
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LossPortfolio:
    """A validated credit portfolio for the loss model. Build it with :meth:`from_arrays`.

    Attributes
    ----------
    pd : ndarray, shape (n,)
        12-month default probabilities, in (0, 1).
    exposure : ndarray, shape (n,)
        Net exposure at default (after insurance and guarantees), currency, >= 0.
    lgd : ndarray, shape (n,)
        Mean loss given default, fraction in [0, 1].
    lgd_std : ndarray or None
        Standard deviation of a Beta-distributed LGD (fraction) or ``None`` for fixed LGDs.
    sector : ndarray of int, shape (n,)
        Sector index in ``0 .. n_sectors - 1``.
    rho : ndarray, shape (n,)
        Asset correlation with the obligor's sector factor, in [0, 1).
    corr : ndarray, shape (n_sectors, n_sectors)
        Sector factor correlation matrix (symmetric, unit diagonal, positive semi-definite).
    obligor_id : pandas.Index
        Labels of the obligors (for the contribution tables).
    sector_names : pandas.Index
        Labels of the sectors.
    """

    pd: np.ndarray
    exposure: np.ndarray
    lgd: np.ndarray
    lgd_std: np.ndarray | None
    sector: np.ndarray
    rho: np.ndarray
    corr: np.ndarray
    obligor_id: pd.Index
    sector_names: pd.Index

    @classmethod
    def from_arrays(cls, pd: Any, exposure: Any, lgd: Any, sector: Any, corr: Any, *,
                    rho: Any = None, sector_rho: Any = None, lgd_std: Any = None,
                    obligor_id: Any = None, sector_names: Any = None) -> LossPortfolio:
        """Validate and build a portfolio.

        Parameters
        ----------
        pd : array-like, shape (n,)
            12-month PDs, strictly between 0 and 1.
        exposure : array-like, shape (n,)
            Net EAD per obligor, currency, >= 0.
        lgd : float or array-like
            Mean LGD (fraction in [0, 1]), one value or one per obligor.
        sector : array-like of int, shape (n,)
            Sector index of each obligor, ``0 .. n_sectors - 1``.
        corr : array-like, shape (n_sectors, n_sectors)
            Sector factor correlation matrix; must be symmetric with unit diagonal and
            positive semi-definite (eigenvalues >= -1e-10).
        rho : float, array-like of shape (n,) or ``"basel"``, optional
            Asset correlation per obligor; ``"basel"`` uses :func:`basel_correlation` of the PD.
        sector_rho : array-like of shape (n_sectors,), optional
            Asset correlation per sector (give either ``rho`` or ``sector_rho``).
        lgd_std : float or array-like, optional
            Standard deviation of a Beta LGD; needs ``lgd_std**2 < lgd (1 - lgd)``.
        obligor_id, sector_names : sequence, optional
            Labels used in the contribution tables.

        Raises
        ------
        LossModelError
            On NaN/inf, out-of-range values, mismatched lengths, or a correlation matrix that
            is not a positive semi-definite correlation matrix.
        """
        p = np.asarray(pd, dtype=float).reshape(-1) if np.ndim(pd) else np.asarray([pd], dtype=float)
        n = p.size
        if n == 0:
            raise LossModelError("pd is empty; give at least one obligor")

        def vec(name: str, value: Any) -> np.ndarray:
            arr = np.asarray(value, dtype=float)
            if arr.ndim == 0:
                arr = np.full(n, float(arr))
            arr = arr.reshape(-1) if arr.ndim == 1 else arr
            if arr.ndim != 1 or arr.size != n:
                raise LossModelError(f"{name} has shape {np.shape(value)} but pd has {n} obligors; "
                                     f"give one value per obligor (or one scalar)")
            if not np.all(np.isfinite(arr)):
                i = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise LossModelError(f"{name}[{i}] = {_num(arr[i])} is not a finite number; fill or drop that obligor")
            return arr

        for i_bad in np.flatnonzero(~np.isfinite(p))[:1]:
            raise LossModelError(f"pd[{i_bad}] = {_num(p[i_bad])} is not a finite number; fill or drop that obligor")
        bad = np.flatnonzero((p <= 0) | (p >= 1))
        if bad.size:
            raise LossModelError(f"pd[{bad[0]}] = {_num(p[bad[0]])} is outside (0, 1); give 12-month default "
                                 f"probabilities as fractions strictly between 0 and 1 (e.g. 0.02 for 2 %)")
        ead = vec("exposure", exposure)
        bad = np.flatnonzero(ead < 0)
        if bad.size:
            raise LossModelError(f"exposure[{bad[0]}] = {_num(ead[bad[0]])} is negative; give the net exposure "
                                 f"at default (>= 0, currency) after insurance and guarantees")
        g = vec("lgd", lgd)
        bad = np.flatnonzero((g < 0) | (g > 1))
        if bad.size:
            raise LossModelError(f"lgd[{bad[0]}] = {_num(g[bad[0]])} is outside [0, 1]; give it as a fraction "
                                 f"(e.g. 0.45 for 45 %)")
        if float(np.sum(ead * g)) <= 0:
            raise LossModelError("exposure * lgd sums to 0: the portfolio cannot lose anything; "
                                 "check the exposure and lgd columns")

        c = np.asarray(corr, dtype=float)
        if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
            raise LossModelError(f"corr has shape {c.shape}; give a square sector correlation matrix")
        if not np.all(np.isfinite(c)):
            raise LossModelError("corr contains NaN or inf; give a complete sector correlation matrix")
        n_sec = c.shape[0]
        if np.max(np.abs(c - c.T)) > 1e-10:
            raise LossModelError(f"corr is not symmetric (max |C - C^T| = {np.max(np.abs(c - c.T)):.3g}); "
                                 f"symmetrise it, e.g. (C + C.T) / 2")
        if np.max(np.abs(np.diag(c) - 1.0)) > 1e-10:
            raise LossModelError(f"corr must have a unit diagonal (found {_num(np.diag(c))}); pass a correlation "
                                 f"matrix, not a covariance matrix")
        if np.max(np.abs(c)) > 1 + 1e-12:
            raise LossModelError(f"corr has an entry {_num(c.flat[int(np.argmax(np.abs(c)))])} outside [-1, 1]; "
                                 f"give correlations")
        min_eig = float(np.linalg.eigvalsh((c + c.T) / 2).min())
        if min_eig < -1e-10:
            raise LossModelError(f"corr is not positive semi-definite: its smallest eigenvalue is {min_eig:.4g}; "
                                 f"repair it (e.g. clip negative eigenvalues to 0 and rescale to a unit diagonal) "
                                 f"before passing it")

        s_raw = np.asarray(sector)
        if s_raw.ndim != 1 or s_raw.size != n:
            raise LossModelError(f"sector has shape {s_raw.shape} but pd has {n} obligors; give one sector "
                                 f"index per obligor")
        try:
            s_float = s_raw.astype(float)
        except (TypeError, ValueError):
            raise LossModelError("sector must hold integer indices 0 .. n_sectors - 1 (map labels to codes "
                                 "and pass the labels as sector_names)") from None
        if not np.all(np.isfinite(s_float)) or np.any(s_float != np.round(s_float)):
            i = int(np.flatnonzero(~np.isfinite(s_float) | (s_float != np.round(s_float)))[0])
            raise LossModelError(f"sector[{i}] = {s_raw[i]!r} is not an integer index; use codes 0 .. {n_sec - 1}")
        sec = s_float.astype(np.int64)
        bad = np.flatnonzero((sec < 0) | (sec >= n_sec))
        if bad.size:
            raise LossModelError(f"sector[{bad[0]}] = {sec[bad[0]]} is not a row of corr ({n_sec} sectors); "
                                 f"use codes 0 .. {n_sec - 1}")

        if (rho is None) == (sector_rho is None):
            raise LossModelError("give exactly one of rho (per obligor, scalar or 'basel') and sector_rho "
                                 "(per sector)")
        if sector_rho is not None:
            sr = np.asarray(sector_rho, dtype=float).reshape(-1)
            if sr.size != n_sec:
                raise LossModelError(f"sector_rho has {sr.size} values but corr has {n_sec} sectors; give one "
                                     f"asset correlation per sector")
            r = sr[sec]
            rho_name = "sector_rho"
        elif isinstance(rho, str):
            if rho != "basel":
                raise LossModelError(f"rho = {rho!r} is not understood; give numbers or 'basel'")
            r = np.asarray(basel_correlation(p), dtype=float).reshape(-1)
            rho_name = "rho"
        else:
            r = vec("rho", rho)
            rho_name = "rho"
        bad = np.flatnonzero(~np.isfinite(r) | (r < 0) | (r >= 1))
        if bad.size:
            raise LossModelError(f"{rho_name} value {_num(r[bad[0]])} (obligor {bad[0]}) is outside [0, 1); asset "
                                 f"correlations must be fractions below 1 (e.g. 0.15)")

        sd = None
        if lgd_std is not None:
            sd = vec("lgd_std", lgd_std)
            bad = np.flatnonzero((sd < 0) | ((sd > 0) & (sd ** 2 >= g * (1 - g))))
            if bad.size:
                i = int(bad[0])
                raise LossModelError(f"lgd_std[{i}] = {_num(sd[i])} is impossible for a Beta LGD with mean "
                                     f"{_num(g[i])}: "
                                     f"it must satisfy 0 <= std and std**2 < mean * (1 - mean) "
                                     f"(here < {math.sqrt(max(g[i] * (1 - g[i]), 0.0)):.4g})")
            if not np.any(sd > 0):
                sd = None

        oid = _pd_index(obligor_id, n, "obligor_id")
        snames = _pd_index(sector_names, n_sec, "sector_names")
        for arr in (p, ead, g, r, sec, c):
            arr.setflags(write=False)
        if sd is not None:
            sd.setflags(write=False)
        return cls(pd=p, exposure=ead, lgd=g, lgd_std=sd, sector=sec, rho=r, corr=c,
                   obligor_id=oid, sector_names=snames)

    @property
    def n_obligors(self) -> int:
        """Number of obligors."""
        return int(self.pd.size)

    @property
    def n_sectors(self) -> int:
        """Number of sectors (rows of ``corr``)."""
        return int(self.corr.shape[0])

    @property
    def loss_given_default(self) -> np.ndarray:
        """Mean loss if the obligor defaults, ``exposure * lgd`` (currency)."""
        return self.exposure * self.lgd

    @property
    def expected_loss(self) -> float:
        """Exact 12-month expected loss ``sum(PD * exposure * LGD)`` (currency)."""
        return float(np.sum(self.pd * self.loss_given_default))


def _pd_index(labels: Any, n: int, name: str) -> pd.Index:
    """Labels as a pandas Index of length ``n`` (``0 .. n-1`` when ``labels`` is None)."""
    if labels is None:
        return pd.RangeIndex(n)
    idx = pd.Index(labels)
    if len(idx) != n:
        raise LossModelError(f"{name} has {len(idx)} labels but {n} are needed; give one label per row")
    return idx


# ----------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LossResult:
    """The 12-month portfolio loss distribution and its risk measures (all amounts in currency).

    Attributes
    ----------
    method : str
        ``"fast"``, ``"monte_carlo"`` or ``"large_portfolio"``.
    seed : int
        Seed that reproduces the run.
    levels : tuple of float
        Confidence levels of ``var`` and ``es``.
    expected_loss : float
        Exact expected loss ``sum(PD * EAD * LGD)``.
    var, es : dict[float, float]
        Value-at-risk (loss quantile) and expected shortfall (mean loss in the worst
        ``1 - q`` of outcomes, Acerbi-Tasche definition) per level.
    error : pandas.DataFrame
        Per level: 95 % confidence half-widths of VaR and ES from sampling, absolute
        (``var_ci95``, ``es_ci95``) and relative to the estimate (``var_rel_ci95``,
        ``es_rel_ci95``).
    obligor_contributions : pandas.DataFrame or None
        Euler contributions per obligor: ``el`` and ``var_<q>``, ``es_<q>`` for each level;
        columns ``var_<q>`` / ``es_<q>`` add up to ``var[q]`` / ``es[q]``.
    sector_contributions : pandas.DataFrame or None
        The same summed by sector.
    quantiles : pandas.Series
        Loss quantiles indexed by probability, for plotting the distribution.
    samples : ndarray or None
        Simulated losses (Monte Carlo methods only), for histograms.
    n_scenarios : int
        Factor scenarios used (for ``fast``: the expensive conditional-FFT scenarios).
    runtime_seconds : float
        Wall time of the computation.
    diagnostics : dict
        Method specifics: lattice step, error bounds, IS shift, timings.
    """

    method: str
    seed: int
    levels: tuple[float, ...]
    expected_loss: float
    var: dict[float, float]
    es: dict[float, float]
    error: pd.DataFrame
    obligor_contributions: pd.DataFrame | None
    sector_contributions: pd.DataFrame | None
    quantiles: pd.Series
    samples: np.ndarray | None
    n_scenarios: int
    runtime_seconds: float
    diagnostics: dict = field(default_factory=dict)

    def unexpected_loss(self, confidence: float) -> float:
        """``VaR(confidence) - EL`` (currency)."""
        return _var_at(self, confidence) - self.expected_loss

    def summary(self) -> pd.DataFrame:
        """One row per level: EL, VaR, ES, UL and their 95 % half-widths (currency)."""
        rows = []
        for q in self.levels:
            rows.append({"level": q, "expected_loss": self.expected_loss, "var": self.var[q], "es": self.es[q],
                         "unexpected_loss": self.var[q] - self.expected_loss,
                         "var_ci95": self.error.loc[q, "var_ci95"], "es_ci95": self.error.loc[q, "es_ci95"]})
        return pd.DataFrame(rows).set_index("level")


def _var_at(result: LossResult, confidence: float) -> float:
    for q in result.levels:
        if abs(q - confidence) < 1e-12:
            return float(result.var[q])
    for q, v in result.quantiles.items():
        if abs(float(q) - confidence) < 1e-12 and np.isfinite(v):
            return float(v)
    raise LossModelError(f"confidence = {confidence!r} is not among the computed levels {result.levels} or "
                         f"quantile probabilities {tuple(result.quantiles.index)}; rerun with levels=(..., "
                         f"{confidence})")


def recommended_reserve(result: LossResult, confidence: float) -> float:
    """Risk reserve ``EL + UL`` at ``confidence``, with ``UL = VaR(confidence) - EL`` (currency).

    The expected loss is the part priced in / provisioned; the unexpected loss is what the
    reserve fund must absorb on top in a year that is as bad as the ``confidence`` quantile.
    Their sum equals the VaR: a fund of this size is exhausted in at most ``1 - confidence``
    of years (up to the estimate's error, ``result.error``).

    Parameters
    ----------
    result : LossResult
        Output of :func:`fast_loss`, :func:`monte_carlo_loss` or :func:`large_portfolio_loss`.
    confidence : float
        One of ``result.levels`` or of the probabilities of ``result.quantiles``.

    Returns
    -------
    float
        Reserve amount in the currency of the exposures.
    """
    var = _var_at(result, confidence)
    return float(result.expected_loss + (var - result.expected_loss))


# ----------------------------------------------------------------------------------------
# Shared model pieces
# ----------------------------------------------------------------------------------------

def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    lv = tuple(float(q) for q in levels)
    if not lv:
        raise LossModelError("levels is empty; give confidence levels such as (0.99, 0.995, 0.999)")
    for q in lv:
        if not (0.5 <= q < 1.0):
            raise LossModelError(f"levels contains {q!r}; confidence levels must lie in [0.5, 1)")
    return tuple(sorted(set(lv)))


def _check_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LossModelError(f"seed = {seed!r} must be a non-negative integer")
    return int(seed)


def _factor_loadings(corr: np.ndarray) -> np.ndarray:
    """``A`` (sectors x d) with ``A A^T = corr``, largest factors first, null directions dropped."""
    w, v = np.linalg.eigh((corr + corr.T) / 2)
    order = np.argsort(w)[::-1]
    w, v = w[order], v[:, order]
    keep = w > 1e-12 * max(w[0], 1e-300)
    return v[:, keep] * np.sqrt(w[keep])


@dataclass
class _Prepared:
    e: np.ndarray          # mean loss given default per obligor (currency)
    c: np.ndarray          # default thresholds Phi^-1(PD)
    s: np.ndarray          # sqrt(rho)
    tinv: np.ndarray       # 1 / sqrt(1 - rho)
    sec: np.ndarray
    A: np.ndarray          # sectors x d factor loadings
    cell: np.ndarray       # obligor -> cell (identical sector, c, s)
    cell_c: np.ndarray
    cell_s: np.ndarray
    cell_tinv: np.ndarray
    cell_sec: np.ndarray


def _prepare(pf: LossPortfolio) -> _Prepared:
    c = ndtri(pf.pd)
    s = np.sqrt(pf.rho)
    tinv = 1.0 / np.sqrt(1.0 - pf.rho)
    keys = np.column_stack([pf.sector.astype(float), c, s])
    uniq, cell = np.unique(keys, axis=0, return_inverse=True)
    cell = cell.reshape(-1).astype(np.int64)
    return _Prepared(e=pf.loss_given_default, c=c, s=s, tinv=tinv, sec=pf.sector, A=_factor_loadings(pf.corr),
                     cell=cell, cell_c=uniq[:, 1].copy(), cell_s=uniq[:, 2].copy(),
                     cell_tinv=1.0 / np.sqrt(1.0 - uniq[:, 2] ** 2), cell_sec=uniq[:, 0].astype(np.int64))


class _SectorTables:
    """Per-sector conditional mean / variance of the loss as functions of the sector factor.

    Tabulated on a y-grid from aggregated "classes" of obligors; used (i) as the conditional
    expectation shortcut and (ii) as the control variate of :func:`fast_loss`, where any
    fixed function of the factors is admissible, so coarse classes cost no accuracy.
    """

    def __init__(self, cls_c, cls_s, cls_sec, cls_e1, cls_e2, n_sectors, nodes, cubic):
        self.y = np.linspace(-10.0, 10.0, nodes)
        self.mu = np.zeros((n_sectors, nodes))
        self.var = np.zeros((n_sectors, nodes))
        tinv = 1.0 / np.sqrt(1.0 - cls_s ** 2)
        for sidx in range(n_sectors):
            m = cls_sec == sidx
            if not np.any(m):
                continue
            for lo in range(0, int(m.sum()), 4096):  # bounded temporaries
                idx = np.flatnonzero(m)[lo:lo + 4096]
                p = ndtr((cls_c[idx, None] - cls_s[idx, None] * self.y[None, :]) * tinv[idx, None])
                self.mu[sidx] += cls_e1[idx] @ p
                self.var[sidx] += cls_e2[idx] @ (p * (1.0 - p))
        self.cubic = cubic
        if cubic:
            self._mu_spline = [CubicSpline(self.y, self.mu[s_]) for s_ in range(n_sectors)]

    def mean(self, Y: np.ndarray) -> np.ndarray:
        out = np.zeros(Y.shape[0])
        for s_ in range(Y.shape[1]):
            y = np.clip(Y[:, s_], self.y[0], self.y[-1])
            out += self._mu_spline[s_](y) if self.cubic else np.interp(y, self.y, self.mu[s_])
        return out

    def moments(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = np.zeros(Y.shape[0])
        var = np.zeros(Y.shape[0])
        for s_ in range(Y.shape[1]):
            y = np.clip(Y[:, s_], self.y[0], self.y[-1])
            mu += np.interp(y, self.y, self.mu[s_])
            var += np.interp(y, self.y, self.var[s_])
        return mu, np.sqrt(np.maximum(var, 0.0))


def _classes(prep: _Prepared, exact: bool, max_cells: int = 4096):
    """Aggregate obligors into classes of (nearly) equal conditional PD for the sector tables."""
    e = prep.e
    if exact or prep.cell_c.size <= max_cells:
        key = prep.cell
        n = prep.cell_c.size
        e1 = np.bincount(key, weights=e, minlength=n)
        e2 = np.bincount(key, weights=e * e, minlength=n)
        return prep.cell_c, prep.cell_s, prep.cell_sec, e1, e2
    # Bins of width 0.02 in Phi^-1(PD) and 0.005 in sqrt(rho): any fixed function serves as a control.
    kc = np.round(prep.c / 0.02).astype(np.int64)
    ks = np.round(prep.s / 0.005).astype(np.int64)
    keys = np.column_stack([prep.sec, kc, ks])
    _, key = np.unique(keys, axis=0, return_inverse=True)
    key = key.reshape(-1)
    n = int(key.max()) + 1
    w = np.bincount(key, weights=e, minlength=n)
    safe = np.where(w > 0, w, 1.0)
    cls_c = np.bincount(key, weights=e * prep.c, minlength=n) / safe
    cls_s = np.bincount(key, weights=e * prep.s, minlength=n) / safe
    cls_sec = np.zeros(n, dtype=np.int64)
    cls_sec[key] = prep.sec
    e2 = np.bincount(key, weights=e * e, minlength=n)
    return cls_c, np.clip(cls_s, 0.0, 0.999999), cls_sec, w, e2


def _quantile_table(losses_sorted: np.ndarray, probs: Sequence[float]) -> pd.Series:
    n = losses_sorted.size
    vals = [float(losses_sorted[min(n - 1, max(0, math.ceil(n * q) - 1))]) for q in probs]
    return pd.Series(vals, index=pd.Index(list(probs), name="probability"), name="loss")


def _empirical_var_es(losses_sorted: np.ndarray, q: float) -> tuple[float, float, int, float]:
    """Empirical VaR (order statistic ceil(nq)) and Acerbi-Tasche ES; also tail size and fraction."""
    n = losses_sorted.size
    m = n * (1.0 - q)
    k = math.floor(m + 1e-9)
    var = float(losses_sorted[min(n - 1, max(0, math.ceil(n * q - 1e-9) - 1))])
    top = losses_sorted[::-1]
    frac = m - k
    es = (float(top[:k].sum()) + (frac * float(top[k]) if k < n else 0.0)) / m
    return var, es, k, frac


def _empirical_error(losses_sorted: np.ndarray, q: float, var: float, es: float) -> tuple[float, float]:
    n = losses_sorted.size
    half = 1.96 * math.sqrt(n * q * (1 - q))
    lo = losses_sorted[int(np.clip(math.floor(n * q - half) - 1, 0, n - 1))]
    hi = losses_sorted[int(np.clip(math.ceil(n * q + half) - 1, 0, n - 1))]
    tail = losses_sorted[losses_sorted >= var]
    tail_var = float(np.var(tail)) if tail.size > 1 else 0.0
    es_se = math.sqrt(max(tail_var + q * (es - var) ** 2, 0.0) / max(n * (1 - q), 1e-300))
    return float(hi - lo) / 2.0, 1.96 * es_se


def _error_frame(levels, var, es, var_ci, es_ci) -> pd.DataFrame:
    rows = []
    for q in levels:
        rows.append({"level": q, "var_ci95": var_ci[q], "es_ci95": es_ci[q],
                     "var_rel_ci95": var_ci[q] / var[q] if var[q] > 0 else float("nan"),
                     "es_rel_ci95": es_ci[q] / es[q] if es[q] > 0 else float("nan")})
    return pd.DataFrame(rows).set_index("level")


def _level_tag(q: float) -> str:
    return f"{100 * q:g}"


def _contribution_frames(pf: LossPortfolio, levels, var_contrib: dict, es_contrib: dict):
    data = {"el": pf.pd * pf.loss_given_default}
    for q in levels:
        data[f"var_{_level_tag(q)}"] = var_contrib[q]
        data[f"es_{_level_tag(q)}"] = es_contrib[q]
    ob = pd.DataFrame(data, index=pf.obligor_id)
    ob.insert(0, "sector", pf.sector_names[pf.sector])
    sec = ob.groupby("sector", sort=False, observed=True).sum(numeric_only=True)
    sec = sec.reindex([s_ for s_ in pf.sector_names if s_ in sec.index])
    return ob, sec


# ----------------------------------------------------------------------------------------
# Plain Monte Carlo
# ----------------------------------------------------------------------------------------

def _beta_params(mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = mean * (1 - mean) / np.where(sd > 0, sd * sd, 1.0) - 1.0
    return mean * nu, (1 - mean) * nu


def _mc_chunk(pf: LossPortfolio, prep: _Prepared, rng: np.random.Generator, b: int,
              ab: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Defaults (b x n bool) and losses of ``b`` scenarios; LGD draws for defaulted cells when random."""
    z = rng.standard_normal((b, prep.A.shape[1]))
    Y = z @ prep.A.T
    thr = prep.c[None, :] - prep.s[None, :] * Y[:, prep.sec]
    thr *= prep.tinv[None, :]
    eps = rng.standard_normal(thr.shape)
    D = eps < thr
    if ab is None:
        return D, D @ prep.e, None
    rows, cols = np.nonzero(D)
    lgd_draw = np.array(pf.lgd[cols], dtype=float)
    rnd = pf.lgd_std[cols] > 0
    lgd_draw[rnd] = rng.beta(ab[0][cols[rnd]], ab[1][cols[rnd]])
    lossv = pf.exposure[cols] * lgd_draw
    losses = np.bincount(rows, weights=lossv, minlength=b)
    return D, losses, (rows, cols, lossv)


def monte_carlo_loss(portfolio: LossPortfolio, n_scenarios: int = 10_000, *, seed: int = 0,
                     levels: Sequence[float] = DEFAULT_LEVELS, chunk_size: int | None = None,
                     contributions: bool = True, keep_samples: bool = True) -> LossResult:
    """Plain Monte Carlo of the portfolio loss: factors, idiosyncratic shocks and LGDs all simulated.

    Scenarios are generated in chunks (memory ~ ``16 * chunk_size * n_obligors`` bytes), each
    from its own child of ``SeedSequence(seed)``, so a run is reproducible from ``seed`` and
    ``chunk_size``. VaR is the order statistic ``ceil(n q)``; ES the Acerbi-Tasche tail mean
    (fractional weight on the boundary scenario). The 95 % half-width of VaR comes from the
    distribution-free order-statistic interval, that of ES from its asymptotic variance.

    Contributions (a second pass that regenerates the same chunks): ES contribution of
    obligor i is its loss averaged over the same tail scenarios and weights as ES, so they
    add up to ES exactly; VaR contributions average ``L_i`` over the scenarios ranked within
    ``max(1, 0.1 n (1 - q))`` of the VaR rank and are scaled to add up to VaR.

    Parameters
    ----------
    portfolio : LossPortfolio
    n_scenarios : int, default 10 000
        Number of simulated years; needs ``n_scenarios * (1 - max(levels)) >= 1``.
    seed : int, default 0
    levels : sequence of float
        Confidence levels.
    chunk_size : int, optional
        Scenarios per chunk (default: about 4 million obligor-scenarios per chunk).
    contributions : bool, default True
        Compute Euler contributions (doubles the run time).
    keep_samples : bool, default True
        Return the simulated losses in ``result.samples``.

    Returns
    -------
    LossResult
    """
    t0 = time.perf_counter()
    seed = _check_seed(seed)
    lv = _check_levels(levels)
    n = int(n_scenarios)
    if n < 1 or n * (1 - max(lv)) < 1:
        raise LossModelError(f"n_scenarios = {n_scenarios!r} is too small for level {max(lv)}: need "
                             f"n_scenarios * (1 - level) >= 1 (at least {math.ceil(1 / (1 - max(lv)))})")
    pf = portfolio
    prep = _prepare(pf)
    b = int(chunk_size) if chunk_size else max(1, min(n, 4_000_000 // pf.n_obligors))
    if b < 1:
        raise LossModelError(f"chunk_size = {chunk_size!r} must be a positive integer")
    n_chunks = math.ceil(n / b)
    seeds = np.random.SeedSequence(seed).spawn(n_chunks)
    ab = _beta_params(pf.lgd, pf.lgd_std) if pf.lgd_std is not None else None
    losses = np.empty(n)
    for ci in range(n_chunks):
        lo, hi = ci * b, min(n, (ci + 1) * b)
        _, losses[lo:hi], _ = _mc_chunk(pf, prep, np.random.default_rng(seeds[ci]), hi - lo, ab)
    order = np.argsort(losses, kind="stable")
    srt = losses[order]
    var, es, var_ci, es_ci = {}, {}, {}, {}
    weights = {}
    for q in lv:
        var[q], es[q], k, frac = _empirical_var_es(srt, q)
        var_ci[q], es_ci[q] = _empirical_error(srt, q, var[q], es[q])
        w_es = np.zeros(n)
        top = order[::-1]
        w_es[top[:k]] = 1.0
        if k < n:
            w_es[top[k]] += frac
        w_es /= n * (1 - q)
        rank = math.ceil(n * q - 1e-9) - 1
        half = max(1, round(0.1 * n * (1 - q)))
        w_var = np.zeros(n)
        w_var[order[max(0, rank - half):min(n, rank + half + 1)]] = 1.0
        weights[q] = (w_es, w_var)
    ob = sec = None
    if contributions:
        acc_es = {q: np.zeros(pf.n_obligors) for q in lv}
        acc_var = {q: np.zeros(pf.n_obligors) for q in lv}
        for ci in range(n_chunks):
            lo, hi = ci * b, min(n, (ci + 1) * b)
            D, _chunk_losses, sparse = _mc_chunk(pf, prep, np.random.default_rng(seeds[ci]), hi - lo, ab)
            for q in lv:
                w_es, w_var = weights[q]
                for acc, wv in ((acc_es[q], w_es[lo:hi]), (acc_var[q], w_var[lo:hi])):
                    if not np.any(wv):
                        continue
                    if sparse is None:
                        acc += (wv @ D) * prep.e
                    else:
                        rows, cols, lossv = sparse
                        acc += np.bincount(cols, weights=wv[rows] * lossv, minlength=pf.n_obligors)
        var_c, es_c = {}, {}
        for q in lv:
            es_c[q] = acc_es[q]
            tot = acc_var[q].sum()
            var_c[q] = acc_var[q] * (var[q] / tot) if tot > 0 else np.zeros(pf.n_obligors)
        ob, sec = _contribution_frames(pf, lv, var_c, es_c)
    probs = sorted(set(_PLOT_PROBS) | set(lv))
    return LossResult(method="monte_carlo", seed=seed, levels=lv, expected_loss=pf.expected_loss, var=var, es=es,
                      error=_error_frame(lv, var, es, var_ci, es_ci), obligor_contributions=ob,
                      sector_contributions=sec, quantiles=_quantile_table(srt, probs),
                      samples=losses if keep_samples else None, n_scenarios=n,
                      runtime_seconds=time.perf_counter() - t0,
                      diagnostics={"chunk_size": b, "sample_mean": float(losses.mean())})


# ----------------------------------------------------------------------------------------
# Large-portfolio (conditional expectation) shortcut
# ----------------------------------------------------------------------------------------

def large_portfolio_loss(portfolio: LossPortfolio, n_scenarios: int = 100_000, *, seed: int = 0,
                         levels: Sequence[float] = DEFAULT_LEVELS) -> LossResult:
    """The conditional-expectation shortcut: the loss is replaced by ``E[L | Z]`` (no name concentration).

    Exact for an infinitely granular portfolio (the multi-factor Vasicek limit); it
    understates the tail of a book with large exposures. Factors are simulated plainly;
    ``E[L | Z]`` is a sum over sectors of cubic splines tabulated on 513 factor values
    (relative interpolation error below ~1e-6). Error half-widths cover factor sampling only.

    Parameters
    ----------
    portfolio : LossPortfolio
    n_scenarios : int, default 100 000
    seed : int, default 0
    levels : sequence of float

    Returns
    -------
    LossResult
        Without contributions.
    """
    t0 = time.perf_counter()
    seed = _check_seed(seed)
    lv = _check_levels(levels)
    n = int(n_scenarios)
    if n * (1 - max(lv)) < 1:
        raise LossModelError(f"n_scenarios = {n_scenarios!r} is too small for level {max(lv)}")
    pf = portfolio
    prep = _prepare(pf)
    tables = _SectorTables(*_classes(prep, exact=True), pf.n_sectors, 513, cubic=True)
    rng = np.random.default_rng(seed)
    losses = np.empty(n)
    for lo in range(0, n, 200_000):
        hi = min(n, lo + 200_000)
        z = rng.standard_normal((hi - lo, prep.A.shape[1]))
        losses[lo:hi] = tables.mean(z @ prep.A.T)
    srt = np.sort(losses)
    var, es, var_ci, es_ci = {}, {}, {}, {}
    for q in lv:
        var[q], es[q], _, _ = _empirical_var_es(srt, q)
        var_ci[q], es_ci[q] = _empirical_error(srt, q, var[q], es[q])
    probs = sorted(set(_PLOT_PROBS) | set(lv))
    return LossResult(method="large_portfolio", seed=seed, levels=lv, expected_loss=pf.expected_loss, var=var,
                      es=es, error=_error_frame(lv, var, es, var_ci, es_ci), obligor_contributions=None,
                      sector_contributions=None, quantiles=_quantile_table(srt, probs), samples=losses,
                      n_scenarios=n, runtime_seconds=time.perf_counter() - t0, diagnostics={})


# ----------------------------------------------------------------------------------------
# Fast method: numba kernels
# ----------------------------------------------------------------------------------------

@_njit
def _cell_probs(Y, cell_c, cell_s, cell_tinv, cell_sec, out):
    for j in range(cell_c.shape[0]):
        x = (cell_c[j] - cell_s[j] * Y[cell_sec[j]]) * cell_tinv[j]
        out[j] = 0.5 * math.erfc(-x * 0.7071067811865476)


@_njit
def _group_stats(p_cell, g_cell, g_k, g_n, a_band, gp, mode):
    """Conditional PDs per group and the moments of the series part.

    mode: 0 no loss (k = 0 or p = 0), 1 series, 2 near p = 1/2 (sampled or mixed later),
    3 sure default (p = 1).
    """
    mu = 0.0
    v = 0.0
    v2 = 0.0
    kmax = 0
    certain = 0
    for g in range(g_k.shape[0]):
        p = p_cell[g_cell[g]]
        gp[g] = p
        k = g_k[g]
        n = g_n[g]
        if k == 0 or p <= 0.0:
            mode[g] = 0
            continue
        if p >= 1.0:
            mode[g] = 3
            certain += n * k
            continue
        a = p / (1.0 - p) if p <= 0.5 else (1.0 - p) / p
        if a > a_band:
            mode[g] = 2
            continue
        mode[g] = 1
        mu += n * k * p
        v += n * k * k * p * (1.0 - p)
        v2 += n * k * k * p
        kmax = max(kmax, k)
    return mu, v, v2, kmax, certain


@_njit
def _fill_series(gp, g_k, g_n, mode, M, thr, lam):
    """Coefficients of log E[w^L] of the series groups as a signed compound-Poisson measure mod M.

    For p <= 1/2, log(1 - p + p w^k) = sum_m (-1)^(m+1) a^m / m (w^(mk) - 1), a = p / (1-p);
    for p > 1/2 the same in b = (1-p)/p around a sure loss of k (jumps at -mk). Terms stop when
    the group's remaining tail n a^(m+1) / ((m+1)(1-a)) is below ``thr``; the sum of those
    tails bounds the truncation in total variation (returned).
    """
    for j in range(M):
        lam[j] = 0.0
    det = 0
    tail = 0.0
    for g in range(g_k.shape[0]):
        if mode[g] != 1:
            continue
        p = gp[g]
        k = g_k[g]
        n = g_n[g]
        if p <= 0.5:
            a = p / (1.0 - p)
            step = k % M
        else:
            a = (1.0 - p) / p
            step = (M - (k % M)) % M
            det += n * k
        pos = step
        pw = a
        m = 1
        sgn = 1.0
        while True:
            lam[pos] += sgn * n * pw / m
            rest = n * pw * a / ((m + 1) * (1.0 - a))
            if rest <= thr:
                tail += rest
                break
            pw *= a
            m += 1
            sgn = -sgn
            pos += step
            if pos >= M:
                pos -= M
    return det, tail


@_njit
def _mix_pmf(f, ks, ps):
    """Convolve the window pmf with independent Bernoulli(p) * k jumps, exactly."""
    M = f.shape[0]
    for t in range(ks.shape[0]):
        k = ks[t]
        p = ps[t]
        q = 1.0 - p
        for j in range(M - 1, k - 1, -1):
            f[j] = q * f[j] + p * f[j - k]
        for j in range(min(k, M)):
            f[j] = q * f[j]


@_njit
def _f_at(F, c0, z):
    M = F.shape[0]
    if z < c0:
        return 0.0
    if z >= c0 + M:
        return 1.0
    return F[z - c0]


@_njit
def _contrib_kernel(gp, g_k, g_n, mode, counts, F, c0, region, ys, w, lgdw, tol, acc, accp, acck):
    """Accumulate w * E[D_i 1{L <= y}] per obligor of each group (times its LGD factor).

    Leave-one-out identities (exact on the lattice, F the conditional CDF incl. obligor i):
    p <= 1/2: E[D 1{L<=y}] = sum_{m>=1} (-1)^(m+1) a^m F(y - m k);
    p > 1/2:  E[D 1{L<=y}] = F(y) - (1 - p) + sum_{m>=1} (-1)^(m+1) b^m (1 - F(y + m k)).
    Runs of terms where F is 0 or 1 are summed in closed form; the rest stop at a^m < tol.
    ``acck`` gets the k-weighted sums (lattice additivity check); ``accp`` the E[D] part.
    ``region`` 1: every y lies below the support (L > y surely, value 0); 2: every y lies above
    it (L <= y surely, value E[D]); 0: use F.
    """
    M = F.shape[0]
    ny = ys.shape[0]
    top = c0 + M
    for g in range(g_k.shape[0]):
        p = gp[g]
        k = g_k[g]
        n = g_n[g]
        md = mode[g]
        ww = w * lgdw[g]
        if md == 2:
            ed = counts[g] / n
        elif md == 3:
            ed = 1.0
        else:
            ed = p
        accp[g] += ww * ed
        acck[ny] += w * n * k * ed
        for j in range(ny):
            y = ys[j]
            if region == 1:
                continue
            if region == 2:
                val = ed
            elif md == 0 or md == 2 or md == 3:
                val = ed * _f_at(F, c0, y)
            elif p <= 0.5:
                a = p / (1.0 - p)
                val = 0.0
                # m with y - m k >= top: F = 1 there, a finite geometric sum
                m1 = 0
                if y - k >= top:
                    m1 = (y - top) // k
                    val = a * (1.0 - (-a) ** m1) / (1.0 + a)
                m = m1 + 1
                pw = a ** m
                sgn = 1.0 if (m % 2 == 1) else -1.0
                pos = y - m * k
                while pos >= c0:
                    val += sgn * pw * _f_at(F, c0, pos)
                    if pw < tol * (1.0 - a):
                        break
                    pw *= a
                    sgn = -sgn
                    pos -= k
            else:
                b = (1.0 - p) / p
                val = _f_at(F, c0, y) - (1.0 - p)
                m1 = 0
                if y + k < c0:
                    m1 = (c0 - 1 - y) // k
                    val += b * (1.0 - (-b) ** m1) / (1.0 + b)
                m = m1 + 1
                pw = b ** m
                sgn = 1.0 if (m % 2 == 1) else -1.0
                pos = y + m * k
                while pos < top:
                    val += sgn * pw * (1.0 - _f_at(F, c0, pos))
                    if pw < tol * (1.0 - b):
                        break
                    pw *= b
                    sgn = -sgn
                    pos += k
            acc[g, j] += ww * val
            acck[j] += w * n * k * val


# ----------------------------------------------------------------------------------------
# Fast method: driver
# ----------------------------------------------------------------------------------------

def _next_pow2(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(int(x), 1))))


def _diffuse_round(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Integers k with |k_i - x_i| < 1 whose running sums along ``order`` track those of x within 1/2."""
    cs = np.cumsum(x[order])
    r = np.rint(cs)
    k = np.diff(np.concatenate([[0.0], r]))
    out = np.empty(x.size, dtype=np.int64)
    out[order] = k.astype(np.int64)
    return out


class _ISPlan:
    """Importance-sampling shift and rotation of the factor space (exact reweighting)."""

    def __init__(self, prep: _Prepared, cls, radius: float):
        self.A = prep.A
        d = self.A.shape[1]
        c_, s_, sec_, e1, _ = cls
        tinv = 1.0 / np.sqrt(1.0 - s_ ** 2)
        n_sec = self.A.shape[0]

        def loss_and_grad(z):
            Y = self.A @ z
            x = (c_ - s_ * Y[sec_]) * tinv
            val = float(e1 @ ndtr(x))
            gs = np.bincount(sec_, weights=-e1 * np.exp(-0.5 * x * x) * _INV_SQRT2PI * s_ * tinv, minlength=n_sec)
            return val, self.A.T @ gs

        self.loss_and_grad = loss_and_grad
        _, g0 = loss_and_grad(np.zeros(d))
        v0 = g0 / np.linalg.norm(g0) if np.linalg.norm(g0) > 0 else np.ones(d) / math.sqrt(d)

        def obj(u):
            nu = np.linalg.norm(u)
            v = u / nu
            val, g = loss_and_grad(radius * v)
            grad_v = radius * g
            return -val, -(grad_v - v * (v @ grad_v)) / nu

        res = optimize.minimize(obj, v0, jac=True, method="L-BFGS-B", options={"maxiter": 200})
        v = res.x / np.linalg.norm(res.x)
        if -res.fun < loss_and_grad(radius * v0)[0]:
            v = v0
        self.mu = radius * v
        self.Q = self._rotation(v, cls)

    def _rotation(self, vhat: np.ndarray, cls) -> np.ndarray:
        """Orthonormal basis: the shift direction first, then directions by loss sensitivity."""
        d = vhat.size
        if d == 1:
            return vhat.reshape(1, 1)
        c_, s_, sec_, e1, _ = cls
        Y = self.A @ self.mu
        tinv = 1.0 / np.sqrt(1.0 - s_ ** 2)
        x = (c_ - s_ * Y[sec_]) * tinv
        gs = np.bincount(sec_, weights=e1 * np.exp(-0.5 * x * x) * s_ * tinv, minlength=self.A.shape[0])
        H = self.A.T @ (gs[:, None] ** 2 * self.A)
        P = np.eye(d) - np.outer(vhat, vhat)
        w, V = np.linalg.eigh(P @ H @ P)
        V = V[:, np.argsort(w)[::-1][: d - 1]]
        Q, _ = np.linalg.qr(np.column_stack([vhat, V]))
        if Q[:, 0] @ vhat < 0:
            Q[:, 0] *= -1
        return Q

    def points(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` scrambled-Sobol factor draws under N(mu, I) and their likelihood ratios."""
        d = self.mu.size
        m = int(math.log2(n))
        u = qmc.Sobol(d, scramble=True, rng=rng).random_base2(m)
        xi = ndtri(np.clip(u, 2.0 ** -53, 1.0 - 2.0 ** -53))
        z = self.mu + xi @ self.Q.T
        w = np.exp(-(z @ self.mu) + 0.5 * float(self.mu @ self.mu))
        return z, w


class _Control:
    """Conditional-normal control: S_N(x | z) = P(N(m, s^2) > x), H_N(x | z) = E[N 1{N > x}].

    ``m`` is the lattice-rounded conditional mean and ``s`` the conditional sd rounded to a
    geometric grid (ratio 1.1), so that its mixture over many factor draws is a sum of a
    few convolutions on the lattice.
    """

    RATIO = 1.1

    def __init__(self, tables: _SectorTables, A: np.ndarray, delta: float):
        self.tables = tables
        self.A = A
        self.delta = delta

    def params(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, sd = self.tables.moments(z @ self.A.T)
        m = np.rint(mu / self.delta)
        cls = np.rint(np.log(np.maximum(sd / self.delta, 0.5)) / math.log(self.RATIO))
        return m, self.RATIO ** cls

    @staticmethod
    def values(x: np.ndarray, m: float, s: float) -> tuple[np.ndarray, np.ndarray]:
        t = (x - m) / s
        S = ndtr(-t)
        H = m * S + s * np.exp(-0.5 * t * t) * _INV_SQRT2PI
        return S, H

    @staticmethod
    def mixture_at(x: float, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple[float, float]:
        t = (x - m) / s
        S = ndtr(-t)
        H = m * S + s * np.exp(-0.5 * t * t) * _INV_SQRT2PI
        return float(np.mean(w * S)), float(np.mean(w * H))

    @staticmethod
    def mixture_grid(G: int, w: np.ndarray, m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """mean(w S_N(x)), mean(w H_N(x)) for x = 0 .. G-1 by histogram convolution per sd class."""
        n = w.size
        S = np.zeros(G)
        H = np.zeros(G)
        x = np.arange(G, dtype=float)
        for sv in np.unique(s):
            sel = s == sv
            P = math.ceil(9.0 * sv)
            mm = m[sel]
            ww = w[sel]
            above = mm >= G + P
            S += ww[above].sum()
            H += (ww[above] * mm[above]).sum()
            keep = (mm >= -P) & ~above
            if not np.any(keep):
                continue
            if keep.sum() * G <= 8 * (G + 4 * P):
                # Few draws with a wide kernel: direct evaluation is cheaper than the convolution.
                for mv, wv in zip(mm[keep], ww[keep]):
                    t_ = (x - mv) / sv
                    sn = ndtr(-t_)
                    S += wv * sn
                    H += wv * (mv * sn + sv * np.exp(-0.5 * t_ * t_) * _INV_SQRT2PI)
                continue
            idx = (mm[keep] + P).astype(np.int64)
            L = G + 2 * P
            h0 = np.bincount(idx, weights=ww[keep], minlength=L)
            h1 = np.bincount(idx, weights=ww[keep] * mm[keep], minlength=L)
            # sum over m > x, as reverse cumulative sums at index x + P + 1
            r0 = np.concatenate([np.cumsum(h0[::-1])[::-1], [0.0]])
            r1 = np.concatenate([np.cumsum(h1[::-1])[::-1], [0.0]])
            S += r0[P + 1 + np.arange(G)]
            H += r1[P + 1 + np.arange(G)]
            t = np.arange(-P, P + 1, dtype=float)
            kap = ndtr(-t / sv) - (t < 0)
            phi = sv * np.exp(-0.5 * (t / sv) ** 2) * _INV_SQRT2PI
            c0 = signal.fftconvolve(h0, kap)[2 * P: 2 * P + G]
            c1 = signal.fftconvolve(h1, kap)[2 * P: 2 * P + G]
            cphi = signal.fftconvolve(h0, phi)[2 * P: 2 * P + G]
            S += c0
            H += c1 + cphi
        return S / n, H / n


@dataclass
class _Scenario:
    c0: int
    f: np.ndarray | None       # window pmf (values c0 .. c0+M-1), None if beyond the grid
    mean: float                # lattice conditional mean (given sampled groups)
    gp: np.ndarray
    g_k: np.ndarray
    mode: np.ndarray
    counts: np.ndarray
    lgdw: np.ndarray
    tail: float                # series truncation bound (sum of tails)


class _FastEngine:
    def __init__(self, pf: LossPortfolio, prep: _Prepared, delta: float, *, a_band: float, series_tol: float,
                 max_mix: int):
        self.pf = pf
        self.prep = prep
        self.delta = delta
        self.a_band = a_band
        self.max_mix = max_mix
        self.order = np.lexsort((prep.e, prep.s, prep.c, prep.sec))
        self.p_cell = np.empty(prep.cell_c.size)
        self.random_lgd = pf.lgd_std is not None
        if self.random_lgd:
            self.ab = _beta_params(pf.lgd, pf.lgd_std)
            self.rnd = pf.lgd_std > 0
            self.g_cell = prep.cell
            self.g_n = np.ones(pf.n_obligors, dtype=np.int64)
            self.obl_group = np.arange(pf.n_obligors)
            self.k_mean = _diffuse_round(prep.e / delta, self.order)
        else:
            k = _diffuse_round(prep.e / delta, self.order)
            key = prep.cell * (int(k.max()) + 1) + k
            uk, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
            self.obl_group = inv.reshape(-1)
            first = np.zeros(uk.size, dtype=np.int64)
            first[self.obl_group[::-1]] = np.arange(pf.n_obligors)[::-1]
            self.g_cell = prep.cell[first]
            self.g_k0 = k[first]
            self.g_n = cnt.astype(np.int64)
            self.k_mean = k
        ng = self.g_cell.size
        self.thr = series_tol / (2.0 * max(ng, 1))
        self.gp = np.empty(ng)

    def scenario(self, z: np.ndarray, rng: np.random.Generator, G: int) -> _Scenario:
        """Conditional lattice loss distribution given factors ``z``; no pmf when it starts at or beyond G."""
        prep = self.prep
        Y = prep.A @ z
        _cell_probs(Y, prep.cell_c, prep.cell_s, prep.cell_tinv, prep.cell_sec, self.p_cell)
        if self.random_lgd:
            lgd = np.array(self.pf.lgd, dtype=float)
            lgd[self.rnd] = rng.beta(self.ab[0][self.rnd], self.ab[1][self.rnd])
            g_k = _diffuse_round(self.pf.exposure * lgd / self.delta, self.order)
            with np.errstate(divide="ignore", invalid="ignore"):
                lgdw = np.where(self.pf.lgd > 0, lgd / self.pf.lgd, 0.0)
        else:
            g_k = self.g_k0
            lgdw = np.ones(g_k.size)
        gp = np.empty(g_k.size)
        mode = np.empty(g_k.size, dtype=np.int64)
        mu, v, v2, kmax, certain = _group_stats(self.p_cell, self.g_cell, g_k, self.g_n, self.a_band, gp, mode)
        counts = np.zeros(g_k.size)
        shift = int(certain)
        band = np.flatnonzero(mode == 2)
        mix_k = np.empty(0, dtype=np.int64)
        mix_p = np.empty(0)
        if band.size:
            # Large names near p = 1/2 are convolved exactly; the others are sampled (unbiased).
            kb, nb = g_k[band], self.g_n[band]
            big = (nb == 1) & (kb >= max(1.0, 0.02 * math.sqrt(max(v, 1.0))))
            cand = band[big][np.argsort(-kb[big], kind="stable")][: self.max_mix]
            mixed = np.zeros(g_k.size, dtype=bool)
            mixed[cand] = True
            samp = band[~mixed[band]]
            if samp.size:
                counts[samp] = rng.binomial(self.g_n[samp], gp[samp])
                shift += int(np.sum(counts[samp] * g_k[samp]))
            if cand.size:
                mode[cand] = 4
                mix_k = g_k[cand].astype(np.int64)
                mix_p = gp[cand]
        mean = mu + shift + float(np.sum(mix_k * mix_p))
        if mix_k.size:
            v += float(np.sum(mix_k.astype(float) ** 2 * mix_p * (1 - mix_p)))
            v2 += float(np.sum(mix_k.astype(float) ** 2 * mix_p))
        base = mu + shift
        lower = base - math.sqrt(2.0 * _LOG_INV_EPS * v2)
        bb = max(int(kmax), int(mix_k.max()) if mix_k.size else 0)
        t_up = _LOG_INV_EPS * bb / 3.0 + math.sqrt((_LOG_INV_EPS * bb / 3.0) ** 2 + 2.0 * _LOG_INV_EPS * v)
        upper = base + float(mix_k.sum()) + t_up
        c0 = max(0, math.floor(lower))
        if c0 >= G:
            return _Scenario(c0, None, mean, gp, g_k, mode, counts, lgdw, 0.0)
        total_max = float(np.sum(g_k * self.g_n))
        upper = min(upper, total_max)
        M = max(64, _next_pow2(math.ceil(upper) - c0 + 2))
        lam = np.empty(M)
        det, tail = _fill_series(gp, g_k, self.g_n, mode, M, self.thr, lam)
        L = np.fft.rfft(lam)
        f = np.fft.irfft(np.exp(L - L[0].real), n=M)
        f = np.roll(f, int(det + shift - c0) % M)
        if mix_k.size:
            _mix_pmf(f, mix_k, mix_p)
        return _Scenario(c0, f, mean, gp, g_k, mode, counts, lgdw, tail)


def fast_loss(portfolio: LossPortfolio, *, seed: int = 0, levels: Sequence[float] = DEFAULT_LEVELS,
              n_scenarios: int = 512, n_replicates: int = 8, n_control: int = 1 << 15,
              grid_points: int = 1 << 15, contributions: bool = True, var_window: float = 0.005,
              series_tol: float = 1e-10, a_band: float = 0.7, max_mix: int = 64,
              lattice_step: float | None = None) -> LossResult:
    """Loss distribution with name concentration, by exact conditional distributions and tail-focused factor sampling.

    Estimator
    ---------
    1. *Lattice.* Losses given default are put on a lattice of step ``delta`` (currency) by
       error diffusion in (sector, PD, rho) order: each ``|k_i delta - e_i| < delta`` and
       every run of similar obligors keeps its total exposure within ``delta / 2``.
    2. *Exact conditional distribution.* Given factors ``z`` the defaults are independent, so
       ``log E[w^L | z] = sum_i log(1 - p_i + p_i w^k_i)``, expanded as a signed
       compound-Poisson series (``a = p/(1-p)``; around a sure loss with ``b = (1-p)/p`` if
       ``p > 1/2``) whose coefficients are scattered on an FFT lattice; one FFT gives the
       conditional pmf. Obligors with identical (sector, PD, rho, lattice exposure) are merged
       exactly. Obligors with ``p`` near 1/2 (series ratio above ``a_band``) are convolved
       exactly when large (up to ``max_mix`` of them) and otherwise sampled (conditional
       Monte Carlo, unbiased). Each scenario uses an FFT window sized by Bernstein-type tail
       bounds (mass outside <= 2e-15).
       With ``lgd_std`` the LGDs are drawn once per factor scenario (conditional Monte Carlo,
       unbiased); this adds sampling error that only more ``n_scenarios`` reduce (it is
       included in ``result.error``).
    3. *Factor scenarios.* ``n_replicates`` independent scrambled-Sobol point sets of
       ``n_scenarios / n_replicates`` points, shifted to the most likely factor point of the
       ``max(levels)`` large-portfolio tail (importance sampling with exact likelihood
       ratios), the first coordinate aligned with the shift.
    4. *Control variate.* The mixture of conditional normal approximations (same mean and
       variance, see ``_Control``) is integrated with ``n_control`` points per replicate
       (cheap), and only the difference exact - normal is averaged over the expensive
       scenarios. Both parts are unbiased for the lattice portfolio's ``P(L > x)`` and
       ``E[L 1{L > x}]`` at every lattice point; VaR is their first crossing of ``1 - q``,
       ES the Acerbi-Tasche formula at that point. The plain conditional estimator (no
       control) is computed alongside; per level the one with the smaller replicate spread
       is reported (``diagnostics['estimator']``) - the control wins for granular books, the
       plain one for a handful of names where a normal approximation is poor.

    Error
    -----
    ``result.error``: 95 % half-widths from the spread of the independent replicates
    (Student t, ``n_replicates - 1`` df; delta method for VaR). ``diagnostics`` adds the
    lattice step, the total-variation bound of series truncation per scenario
    (``series_tol`` target), the window aliasing bound, and the first-order effect of the
    lattice rounding on ES (``sum_i (e_i - k_i delta) E[D_i | L >= VaR]``), which the
    benchmark compares with a finer grid.

    Contributions
    -------------
    A second pass over the same scenarios evaluates, per obligor, ``E[D_i 1{L <= y} | z]``
    through exact leave-one-out identities on the lattice (see ``_contrib_kernel``). ES
    contribution ``i`` is ``ES * e_i E[D_i 1{L >= VaR}] / sum_j e_j E[D_j 1{L >= VaR}]``;
    VaR contribution ``i`` is ``VaR`` times the share of ``e_i E[D_i 1{|L - VaR| <= h}]``
    with ``h = var_window * VaR``. Both add up to the totals by construction; the unscaled
    lattice sums match ``E[L 1{L >= VaR}]`` to ~1e-10 (``diagnostics['additivity_residual']``).

    Parameters
    ----------
    portfolio : LossPortfolio
    seed : int, default 0
    levels : sequence of float
    n_scenarios : int, default 512
        Expensive factor scenarios in total (rounded up to ``n_replicates`` times a power of 2).
    n_replicates : int, default 8
        Independent randomisations, for the error estimate (>= 2).
    n_control : int, default 32768
        Cheap control-variate scenarios per replicate (power of 2).
    grid_points : int, default 32768
        Lattice points spanning 0 to a loss beyond the highest VaR; ``delta`` = span / points.
    contributions : bool, default True
    var_window : float, default 0.005
        Relative half-width of the VaR-contribution window.
    series_tol : float, default 1e-10
        Total-variation budget of the series truncation per scenario.
    a_band : float, default 0.7
        Series ratio above which an obligor is treated as "near p = 1/2".
    max_mix : int, default 64
        Most near-1/2 obligors convolved exactly per scenario.
    lattice_step : float, optional
        Fix the lattice step (currency) instead of deriving it from ``grid_points``; when
        every loss given default is a multiple of it the lattice is exact (no rounding).

    Returns
    -------
    LossResult
    """
    t0 = time.perf_counter()
    seed = _check_seed(seed)
    lv = _check_levels(levels)
    R = int(n_replicates)
    if R < 2:
        raise LossModelError(f"n_replicates = {n_replicates!r} must be at least 2 (the error estimate needs them)")
    n_per = _next_pow2(max(1, math.ceil(int(n_scenarios) / R)))
    n_ctrl = _next_pow2(max(2, int(n_control)))
    G = int(grid_points)
    if G < 256:
        raise LossModelError(f"grid_points = {grid_points!r} is too coarse; use at least 256 (default 32768)")
    pf = portfolio
    prep = _prepare(pf)
    cls = _classes(prep, exact=False)
    q_max = max(lv)
    plan = _ISPlan(prep, cls, float(ndtri(q_max)))
    # Span of the lattice: beyond the highest VaR with room; doubled on retry if too short.
    z_hi = plan.mu * float(ndtri(1 - (1 - q_max) / 20) / ndtri(q_max))
    e_sorted = np.sort(prep.e)
    span = plan.loss_and_grad(z_hi)[0] + 3.0 * float(e_sorted[-1]) + 8.0 * math.sqrt(
        float(np.sum(e_sorted[-50:] ** 2)))
    # The largest possible loss: no lattice beyond it is needed (a drawn LGD may exceed its mean).
    cap = float(np.sum(pf.exposure if pf.lgd_std is not None else prep.e)) * (1 + 1e-9)
    span = min(span, cap)
    if lattice_step is not None and not (np.isfinite(lattice_step) and lattice_step > 0):
        raise LossModelError(f"lattice_step = {lattice_step!r} must be a positive amount of currency")
    for _attempt in range(6):
        if lattice_step is not None:
            delta = float(lattice_step)
            G = max(256, math.ceil(span / delta) + 2)
            if G > 1 << 22:
                raise LossModelError(f"lattice_step = {lattice_step!r} needs {G} lattice points to reach the "
                                     f"tail; use a coarser step or grid_points")
        else:
            delta = span / (G - 1)
        out = _fast_run(pf, prep, cls, plan, lv, delta, G, R, n_per, n_ctrl, seed, contributions, var_window,
                        series_tol, a_band, max_mix, span >= cap)
        if out is not None:
            break
        span = min(span * 2.0, cap)
    else:  # pragma: no cover - the span reaches the total exposure within a few doublings
        raise LossModelError("the loss lattice could not reach the highest VaR; raise grid_points")
    var, es, var_ci, es_ci, quantiles, var_c, es_c, diag = out
    ob = sec = None
    if contributions:
        ob, sec = _contribution_frames(pf, lv, var_c, es_c)
    diag.update({"is_shift": plan.mu.tolist(), "lattice_step": delta, "grid_points": G,
                 "n_control": n_ctrl * R, "numba": HAVE_NUMBA})
    return LossResult(method="fast", seed=seed, levels=lv, expected_loss=pf.expected_loss, var=var, es=es,
                      error=_error_frame(lv, var, es, var_ci, es_ci), obligor_contributions=ob,
                      sector_contributions=sec, quantiles=quantiles, samples=None, n_scenarios=n_per * R,
                      runtime_seconds=time.perf_counter() - t0, diagnostics=diag)


def _fast_run(pf, prep, cls, plan, lv, delta, G, R, n_per, n_ctrl, seed, contributions, var_window, series_tol,
              a_band, max_mix, span_is_total):
    t_start = time.perf_counter()
    eng = _FastEngine(pf, prep, delta, a_band=a_band, series_tol=series_tol, max_mix=max_mix)
    tables = _SectorTables(*cls, pf.n_sectors, 257, cubic=False)
    ctrl = _Control(tables, prep.A, delta)
    # Per replicate: CS/CH = mean of w (exact - control); S0/H0 = mean of w * exact (no control).
    CS = np.zeros((R, G))
    CH = np.zeros((R, G))
    S0 = np.zeros((R, G))
    H0 = np.zeros((R, G))
    DH = np.zeros((R, G + 1))   # range updates [0, lo) as difference arrays
    DS0 = np.zeros((R, G + 1))
    DH0 = np.zeros((R, G + 1))
    scen_z, scen_w = [], []
    max_tail = 0.0
    n_fft = 0
    for r in range(R):
        z, w = plan.points(np.random.default_rng(np.random.SeedSequence([seed, 0, r])), n_per)
        m_hat, s_hat = ctrl.params(z)
        scen_z.append(z)
        scen_w.append(w)
        for j in range(n_per):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1, r, j]))
            sc = eng.scenario(z[j], rng, G)
            wj = float(w[j])
            mh, sh = float(m_hat[j]), float(s_hat[j])
            P = math.ceil(9.0 * sh)
            if sc.f is None:
                m_num = sc.mean
                below = G
                lo = max(0, min(G, int(mh) - P))
                if lo < G:
                    SN, HN = ctrl.values(np.arange(lo, G, dtype=float), mh, sh)
                    CS[r, lo:] += wj * (1.0 - SN)
                    CH[r, lo:] += wj * (m_num - HN)
            else:
                n_fft += 1
                max_tail = max(max_tail, sc.tail)
                M = sc.f.size
                Fw = np.cumsum(sc.f)
                VF = np.cumsum(sc.f * (sc.c0 + np.arange(M)))
                m_num = float(VF[-1])
                below = min(sc.c0, G)
                top = min(G, sc.c0 + M)
                if top > below:
                    S0[r, below:top] += wj * (1.0 - Fw[: top - below])
                    H0[r, below:top] += wj * (m_num - VF[: top - below])
                lo = max(0, min(sc.c0, int(mh) - P))
                hi = min(G, max(sc.c0 + M, int(mh) + P + 1))
                if hi > lo:
                    x = np.arange(lo, hi)
                    jj = x - sc.c0
                    inside = (jj >= 0) & (jj < M)
                    jc = np.clip(jj, 0, M - 1)
                    S = np.where(jj < 0, 1.0, np.where(inside, 1.0 - Fw[jc], 0.0))
                    H = np.where(jj < 0, m_num, np.where(inside, m_num - VF[jc], 0.0))
                    SN, HN = ctrl.values(x.astype(float), mh, sh)
                    CS[r, lo:hi] += wj * (S - SN)
                    CH[r, lo:hi] += wj * (H - HN)
            # Below the window both survivals are 1 and H is the (lattice or control) mean.
            DH[r, 0] += wj * (m_num - mh)
            DH[r, lo] -= wj * (m_num - mh)
            DS0[r, 0] += wj
            DS0[r, below] -= wj
            DH0[r, 0] += wj * m_num
            DH0[r, below] -= wj * m_num
    CH += np.cumsum(DH, axis=1)[:, :G]
    S0 += np.cumsum(DS0, axis=1)[:, :G]
    H0 += np.cumsum(DH0, axis=1)[:, :G]
    for arr in (CS, CH, S0, H0):
        arr /= n_per
    t_exp = time.perf_counter() - t_start
    # Cheap part: the control's mixture, per replicate (independent randomisations).
    cw, cm, cs_ = [], [], []
    for r in range(R):
        z, w = plan.points(np.random.default_rng(np.random.SeedSequence([seed, 2, r])), n_ctrl)
        m_hat, s_hat = ctrl.params(z)
        cw.append(w)
        cm.append(m_hat)
        cs_.append(s_hat)
    SNbar, HNbar = _Control.mixture_grid(G, np.concatenate(cw), np.concatenate(cm), np.concatenate(cs_))
    t_ctrl = time.perf_counter() - t_start - t_exp
    # Losses above the largest possible lattice loss have probability 0 exactly.
    k_max = int(np.sum(eng.k_mean)) if not eng.random_lgd else int(np.sum(np.ceil(pf.exposure / delta)) + 1)
    S_pool = {"control": SNbar + CS.mean(axis=0), "plain": S0.mean(axis=0)}
    H_pool = {"control": HNbar + CH.mean(axis=0), "plain": H0.mean(axis=0)}
    for key, curve in S_pool.items():
        curve[k_max:] = 0.0
        H_pool[key][k_max:] = 0.0
    if not span_is_total and S_pool["plain"][-1] > (1 - max(lv)) / 2:
        return None
    tq = float(stats.t.ppf(0.975, R - 1))

    def rep_values(key, x):
        if key == "plain" or x >= k_max:
            return S0[:, min(x, G - 1)] * (x < k_max), H0[:, min(x, G - 1)] * (x < k_max)
        sr = np.empty(R)
        hr = np.empty(R)
        for r in range(R):
            s0, h0 = _Control.mixture_at(float(x), cw[r], cm[r], cs_[r])
            sr[r] = s0 + CS[r, x]
            hr[r] = h0 + CH[r, x]
        return sr, hr

    var, es, var_ci, es_ci, xs, chosen, density = {}, {}, {}, {}, {}, {}, {}
    for q in lv:
        best = None
        for key in ("control", "plain"):
            S_hat, H_hat = S_pool[key], H_pool[key]
            hit = S_hat <= 1 - q
            x = int(np.argmax(hit)) if hit.any() else G - 1
            v_ = x * delta
            e_ = (H_hat[x] + x * ((1 - S_hat[x]) - q)) / (1 - q) * delta
            sr, hr = rep_values(key, x)
            h = max(1, round(0.005 * x))
            a_, b_ = max(0, x - h), min(G - 1, x + h)
            dens = (S_hat[a_] - S_hat[b_]) / max(b_ - a_, 1)
            vci = tq * sr.std(ddof=1) / math.sqrt(R) / dens * delta if dens > 0 else float("inf")
            es_r = x + (hr - x * sr) / (1 - q)
            eci = tq * es_r.std(ddof=1) / math.sqrt(R) * delta
            score = max(vci / v_ if v_ > 0 else 0.0, eci / e_ if e_ > 0 else 0.0)
            if best is None or score < best[0]:
                best = (score, key, x, v_, e_, vci, eci, dens / delta)
        _, chosen[q], xs[q], var[q], es[q], var_ci[q], es_ci[q], density[q] = best
    # The plotting grid uses the estimator chosen at the highest level.
    S_plot = S_pool[chosen[max(lv)]]
    probs = sorted(set(_PLOT_PROBS) | set(lv))
    qv = []
    for pr in probs:
        if pr in var:
            qv.append(var[pr])
            continue
        hit = S_plot <= 1 - pr
        qv.append(float(np.argmax(hit)) * delta if hit.any() else float("nan"))
    quantiles = pd.Series(qv, index=pd.Index(probs, name="probability"), name="loss")
    diag = {"time_expensive": t_exp, "time_control": t_ctrl, "scenarios_with_fft": n_fft,
            "estimator": chosen, "density_at_var": density, "series_truncation_bound": math.expm1(2.0 * max_tail),
            "aliasing_bound": 2 * _WINDOW_EPS, "n_groups": int(eng.g_cell.size)}
    var_c = es_c = None
    if contributions:
        var_c, es_c, extra = _fast_contributions(pf, prep, eng, lv, xs, var, es, delta, G, R, n_per, seed,
                                                 scen_z, scen_w, var_window)
        diag.update(extra)
    diag["time_total"] = time.perf_counter() - t_start
    return var, es, var_ci, es_ci, quantiles, var_c, es_c, diag


def _fast_contributions(pf, prep, eng, lv, xs, var, es, delta, G, R, n_per, seed, scen_z, scen_w, var_window):
    t0 = time.perf_counter()
    ys, slots = [], {}
    for q in lv:
        x = xs[q]
        h = max(1, round(var_window * x))
        slots[q] = []
        for y in (x - 1, x - h - 1, x + h):
            slots[q].append(len(ys))
            ys.append(y)
    ys_arr = np.asarray(ys, dtype=np.int64)
    ng = eng.g_cell.size
    acc = np.zeros((ng, ys_arr.size))
    accp = np.zeros(ng)
    acck = np.zeros(ys_arr.size + 1)
    tail_lat = {q: 0.0 for q in lv}
    ymin, ymax = int(ys_arr.min()), int(ys_arr.max())
    for r in range(R):
        z, w = scen_z[r], scen_w[r]
        for j in range(n_per):
            rng = np.random.default_rng(np.random.SeedSequence([seed, 1, r, j]))
            # Same seeds as the first pass: the same LGD draws and sampled obligors.
            sc = eng.scenario(z[j], rng, ymax + 1)
            if sc.f is None:
                F, c0, region = np.zeros(1), 0, 1
            else:
                F, c0 = np.cumsum(sc.f), sc.c0
                region = 2 if c0 + F.size <= ymin else 0
            _contrib_kernel(sc.gp, sc.g_k, eng.g_n, sc.mode, sc.counts, F, int(c0), region, ys_arr, float(w[j]),
                            sc.lgdw, 1e-13, acc, accp, acck)
            for q in lv:
                x = xs[q]
                if sc.f is None:
                    tail_lat[q] += w[j] * sc.mean
                else:
                    vals = sc.c0 + np.arange(sc.f.size)
                    tail_lat[q] += w[j] * float(np.sum((vals * sc.f)[vals >= x]))
    n_tot = R * n_per
    g_of = eng.obl_group
    e = prep.e
    var_c, es_c = {}, {}
    resid, disc = {}, {}
    for q in lv:
        i_tail, i_lo, i_hi = slots[q]
        tail_g = (accp - acc[:, i_tail]) / n_tot      # E[(LGD factor) D 1{L >= x}] per obligor of group
        win_g = (acc[:, i_hi] - acc[:, i_lo]) / n_tot
        t_i = e * tail_g[g_of]
        w_i = e * win_g[g_of]
        es_c[q] = t_i * (es[q] / t_i.sum()) if t_i.sum() > 0 else np.zeros(e.size)
        var_c[q] = w_i * (var[q] / w_i.sum()) if w_i.sum() > 0 else np.zeros(e.size)
        lat_sum = (acck[-1] - acck[i_tail]) / n_tot
        ref = tail_lat[q] / n_tot
        resid[q] = abs(lat_sum - ref) / ref if ref > 0 else 0.0
        if not eng.random_lgd:
            disc[q] = float(np.sum((e - eng.k_mean * delta) * tail_g[g_of])) / (ref * delta) if ref > 0 else 0.0
    return var_c, es_c, {"additivity_residual": resid, "discretization_first_order": disc,
                         "time_contributions": time.perf_counter() - t0}


def loss_distribution(portfolio: LossPortfolio, method: str = "fast", **kwargs: Any) -> LossResult:
    """Dispatch to :func:`fast_loss` (``"fast"``), :func:`monte_carlo_loss` (``"monte_carlo"``) or
    :func:`large_portfolio_loss` (``"large_portfolio"``) with the given keyword arguments."""
    funcs = {"fast": fast_loss, "monte_carlo": monte_carlo_loss, "large_portfolio": large_portfolio_loss}
    if method not in funcs:
        raise LossModelError(f"method = {method!r} is unknown; use one of {sorted(funcs)}")
    return funcs[method](portfolio, **kwargs)
