"""Conditional loss distributions on the exposure lattice (the fast method's per-scenario engine).

Losses given default are rounded to a lattice of step ``delta`` by error diffusion; given the
factors, each scenario's loss pmf is built from a signed compound-Poisson series and an FFT
over a window wide enough that at most ``_WINDOW_EPS`` of mass falls outside on each side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len

from credit_lab.risk.loss_distribution.kernels import _cell_probs, _fill_series, _group_stats, _mix_pmf
from credit_lab.risk.loss_distribution.portfolio import LossPortfolio
from credit_lab.risk.loss_distribution.prepare import _beta_params, _Prepared

# Tail mass allowed outside a scenario's FFT window (each side); ln(1/eps) enters the bounds.
_WINDOW_EPS = 1e-15


_LOG_INV_EPS = math.log(1.0 / _WINDOW_EPS)


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
        # Window: Bernstein's bound on both sides of the mean (every |k D - k p| <= bb, variance v),
        # and below also the sub-Gaussian bound of a sum of non-negative terms (variance proxy v2),
        # whichever is tighter. The exactly mixed names enter by their mean and variance.
        bb = max(int(kmax), int(mix_k.max()) if mix_k.size else 0)
        t_up = _LOG_INV_EPS * bb / 3.0 + math.sqrt((_LOG_INV_EPS * bb / 3.0) ** 2 + 2.0 * _LOG_INV_EPS * v)
        lower = mean - min(t_up, math.sqrt(2.0 * _LOG_INV_EPS * v2))
        upper = mean + t_up
        c0 = max(0, math.floor(lower))
        if c0 >= G:
            return _Scenario(c0, None, mean, gp, g_k, mode, counts, lgdw, 0.0)
        total_max = float(np.sum(g_k * self.g_n))
        upper = min(upper, total_max)
        # any length serves (the series wraps mod M); a 5-smooth one is as fast as a power of 2
        M = next_fast_len(max(64, math.ceil(upper) - c0 + 2), real=True)
        lam = np.empty(M)
        det, tail = _fill_series(gp, g_k, self.g_n, mode, M, self.thr, lam)
        L = np.fft.rfft(lam)
        f = np.fft.irfft(np.exp(L - L[0].real), n=M)
        f = np.roll(f, int(det + shift - c0) % M)
        if mix_k.size:
            _mix_pmf(f, mix_k, mix_p)
        return _Scenario(c0, f, mean, gp, g_k, mode, counts, lgdw, tail)
