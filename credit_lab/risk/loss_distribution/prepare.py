"""Model pieces shared by the simulation methods.

Default thresholds and factor loadings per obligor (:func:`_prepare`), the per-sector
conditional mean / variance tables used as the large-portfolio shortcut and as the control
variate of the fast method, and the Beta LGD parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.special import ndtr, ndtri

from credit_lab.risk.loss_distribution.portfolio import LossPortfolio


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


def _beta_params(mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = mean * (1 - mean) / np.where(sd > 0, sd * sd, 1.0) - 1.0
    return mean * nu, (1 - mean) * nu
