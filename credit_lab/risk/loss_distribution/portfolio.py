"""The validated input of the loss model: :class:`LossPortfolio`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.formatting import plain_number
from credit_lab.risk.basel import basel_correlation
from credit_lab.risk.loss_inputs import LossModelError


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
                raise LossModelError(f"{name}[{i}] = {plain_number(arr[i], exact=True)}"
                                     " is not a finite number; fill or drop that obligor")
            return arr

        for i_bad in np.flatnonzero(~np.isfinite(p))[:1]:
            raise LossModelError(f"pd[{i_bad}] = {plain_number(p[i_bad], exact=True)}"
                                 " is not a finite number; fill or drop that obligor")
        bad = np.flatnonzero((p <= 0) | (p >= 1))
        if bad.size:
            raise LossModelError(f"pd[{bad[0]}] = {plain_number(p[bad[0]], exact=True)}"
                                 " is outside (0, 1); give 12-month default "
                                 f"probabilities as fractions strictly between 0 and 1 (e.g. 0.02 for 2 %)")
        ead = vec("exposure", exposure)
        bad = np.flatnonzero(ead < 0)
        if bad.size:
            raise LossModelError(f"exposure[{bad[0]}] = {plain_number(ead[bad[0]], exact=True)}"
                                 " is negative; give the net exposure "
                                 f"at default (>= 0, currency) after insurance and guarantees")
        g = vec("lgd", lgd)
        bad = np.flatnonzero((g < 0) | (g > 1))
        if bad.size:
            raise LossModelError(f"lgd[{bad[0]}] = {plain_number(g[bad[0]], exact=True)}"
                                 " is outside [0, 1]; give it as a fraction "
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
            raise LossModelError(f"corr must have a unit diagonal (found {plain_number(np.diag(c), exact=True)}"
                                 "); pass a correlation "
                                 f"matrix, not a covariance matrix")
        if np.max(np.abs(c)) > 1 + 1e-12:
            raise LossModelError(f"corr has an entry {plain_number(c.flat[int(np.argmax(np.abs(c)))], exact=True)}"
                                 " outside [-1, 1]; "
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
            raise LossModelError(f"{rho_name} value {plain_number(r[bad[0]], exact=True)}"
                                 f" (obligor {bad[0]}) is outside [0, 1); asset "
                                 f"correlations must be fractions below 1 (e.g. 0.15)")

        sd = None
        if lgd_std is not None:
            sd = vec("lgd_std", lgd_std)
            bad = np.flatnonzero((sd < 0) | ((sd > 0) & (sd ** 2 >= g * (1 - g))))
            if bad.size:
                i = int(bad[0])
                raise LossModelError(f"lgd_std[{i}] = {plain_number(sd[i], exact=True)}"
                                     " is impossible for a Beta LGD with mean "
                                     f"{plain_number(g[i], exact=True)}: "
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
