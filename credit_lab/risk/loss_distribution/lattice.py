"""Conditional loss distributions on the exposure lattice (the fast method's per-scenario engine).

Losses given default are rounded to a lattice of step ``delta`` by error diffusion; given the
factors, each scenario's loss pmf is built from a signed compound-Poisson series and an FFT
over a window wide enough that at most ``_WINDOW_EPS`` of mass falls outside on each side.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.fft import next_fast_len

from credit_lab.risk.loss_distribution.kernels import (
    _cell_probs,
    _contrib_kernel,
    _fill_series,
    _group_stats,
    _mix_pmf,
)
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


@dataclass
class _Window:
    """A scenario's FFT window and its near-1/2 groups: ``cand`` convolved exactly, ``samp`` sampled."""

    c0: int
    f_size: int                # M, the window's length; 0 when it starts at or beyond the grid
    mean: float
    shift: int                 # sure and sampled losses (lattice units)
    cand: np.ndarray
    samp: np.ndarray
    samp_counts: np.ndarray    # defaults drawn in each sampled group
    mix_k: np.ndarray
    mix_p: np.ndarray


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

    def scenarios(self, zs: list[np.ndarray], seed: int, G: int) -> Iterator[_Scenario]:
        """:meth:`scenario` of every factor draw, replicate after replicate (``zs[r]``: n_per x d), each
        with its own generator (seed, 1, r, j): the first and the contribution pass draw the same
        LGDs and sampled obligors."""
        for r, z in enumerate(zs):
            for j in range(z.shape[0]):
                yield self.scenario(z[j], np.random.default_rng(np.random.SeedSequence([seed, 1, r, j])), G)

    def contribution_sums(self, scen_z: list[np.ndarray], scen_w: list[np.ndarray], seed: int, ys: np.ndarray,
                          xs: dict[float, int]):
        """The contribution pass's sums over the scenarios (see ``_contrib_kernel``): per group
        ``acc`` (w E[D 1{L <= y}] at every ``ys``) and ``accp`` (w E[D]), their k-weighted totals
        ``acck``, and per level the lattice tail ``tail_lat[q]`` (sum of w E[L 1{L >= xs[q]}])."""
        ng = self.g_cell.size
        acc = np.zeros((ng, ys.size))
        accp = np.zeros(ng)
        acck = np.zeros(ys.size + 1)
        tail_lat = {q: 0.0 for q in xs}
        ymin, ymax = int(ys.min()), int(ys.max())
        w_all = np.concatenate(scen_w)
        # Same seeds as the first pass: the same LGD draws and sampled obligors.
        for i, sc in enumerate(self.scenarios(scen_z, seed, ymax + 1)):
            F, c0, region = self.cdf(sc, ymin)
            _contrib_kernel(sc.gp, sc.g_k, self.g_n, sc.mode, sc.counts, F, c0, region, ys, float(w_all[i]),
                            sc.lgdw, 1e-13, acc, accp, acck)
            for q, value in self.tail_values(sc, xs).items():
                tail_lat[q] += w_all[i] * value
        return acc, accp, acck, tail_lat

    @staticmethod
    def cdf(sc: _Scenario, ymin: int) -> tuple[np.ndarray, int, int]:
        """The scenario's conditional CDF on its window, the window's start and the kernel's region flag."""
        if sc.f is None:
            return np.zeros(1), 0, 1
        F = np.cumsum(sc.f)
        return F, int(sc.c0), 2 if sc.c0 + F.size <= ymin else 0

    @staticmethod
    def tail_values(sc: _Scenario, xs: dict[float, int]) -> dict[float, float]:
        """Per level, the scenario's lattice tail E[L 1{L >= xs[q]}] (its mean when it has no pmf)."""
        if sc.f is None:
            return {q: sc.mean for q in xs}
        vals = sc.c0 + np.arange(sc.f.size)
        return {q: float(np.sum((vals * sc.f)[vals >= x])) for q, x in xs.items()}

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
        band = np.flatnonzero(mode == 2)
        win = self.window(g_k, mu, v, v2, kmax, certain, band, gp[band], rng, G)
        counts = np.zeros(g_k.size)
        counts[win.samp] = win.samp_counts
        mode[win.cand] = 4
        if win.f_size == 0:
            return _Scenario(win.c0, None, win.mean, gp, g_k, mode, counts, lgdw, 0.0)
        lam = np.empty(win.f_size)
        det, tail = _fill_series(gp, g_k, self.g_n, mode, win.f_size, self.thr, lam)
        return _Scenario(win.c0, self.pmf(win, lam, det), win.mean, gp, g_k, mode, counts, lgdw, tail)

    def window(self, g_k: np.ndarray, mu: float, v: float, v2: float, kmax: int, certain: int, band: np.ndarray,
               band_p: np.ndarray, rng: np.random.Generator, G: int, total_max: float | None = None) -> _Window:
        """The near-1/2 groups' treatment and the FFT window of a scenario, from the groups' sums.

        ``band``: the groups near p = 1/2 (ascending), ``band_p`` their conditional PDs; ``total_max``:
        the largest lattice loss (computed here when None).
        """
        shift = int(certain)
        cand = samp = np.empty(0, dtype=np.int64)
        samp_counts = np.empty(0)
        mix_k = np.empty(0, dtype=np.int64)
        mix_p = np.empty(0)
        if band.size:
            # Large names near p = 1/2 are convolved exactly; the others are sampled (unbiased).
            kb, nb = g_k[band], self.g_n[band]
            big = (nb == 1) & (kb >= max(1.0, 0.02 * math.sqrt(max(v, 1.0))))
            order = np.argsort(-kb[big], kind="stable")[: self.max_mix]
            cand = band[big][order]
            sampled = np.ones(band.size, dtype=bool)
            sampled[np.flatnonzero(big)[order]] = False
            samp = band[sampled]
            if samp.size:
                samp_counts = rng.binomial(self.g_n[samp], band_p[sampled]).astype(float)
                shift += int(np.sum(samp_counts * g_k[samp]))
            if cand.size:
                mix_k = g_k[cand].astype(np.int64)
                mix_p = band_p[big][order]
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
        M = 0
        if c0 < G:
            total_max = float(np.sum(g_k * self.g_n)) if total_max is None else total_max
            upper = min(upper, total_max)
            # any length serves (the series wraps mod M); a 5-smooth one is as fast as a power of 2
            M = next_fast_len(max(64, math.ceil(upper) - c0 + 2), real=True)
        return _Window(c0, M, mean, shift, cand, samp, samp_counts, mix_k, mix_p)

    @staticmethod
    def pmf(win: _Window, lam: np.ndarray, det: int) -> np.ndarray:
        """The window's pmf from the series coefficients ``lam`` (mod M) and the sure losses ``det``."""
        M = win.f_size
        L = np.fft.rfft(lam)
        f = np.fft.irfft(np.exp(L - L[0].real), n=M)
        f = np.roll(f, int(det + win.shift - win.c0) % M)
        if win.mix_k.size:
            _mix_pmf(f, win.mix_k, win.mix_p)
        return f
