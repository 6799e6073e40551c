"""Numba kernels of the fast method (conditional probabilities, compound-Poisson series, contributions).

Without numba (it ships with shap, a dependency) the same functions run as plain Python,
slowly; :data:`HAVE_NUMBA` records which.
"""

from __future__ import annotations

import math

try:  # numba ships with shap, a dependency; without it the kernels run (slowly) as Python.
    import numba

    _njit = numba.njit(cache=True)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only on machines without numba
    def _njit(func):
        return func

    HAVE_NUMBA = False


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
    return _group_stats_from(p_cell, g_cell, g_k, g_n, a_band, gp, mode, 0.0, 0.0, 0.0, 0, 0)


@_njit
def _group_stats_from(p_cell, g_cell, g_k, g_n, a_band, gp, mode, mu, v, v2, kmax, certain):
    """:func:`_group_stats` continuing the sums ``mu, v, v2, kmax, certain`` of the groups before these.

    The groups of a book split in consecutive blocks, run block after block with each block's sums
    passed on, give the very sums of one run over the whole book (the same additions in the same
    order): how the Dask engine (:mod:`.distributed`) matches the local one bit for bit.
    """
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
    return _fill_series_from(gp, g_k, g_n, mode, M, thr, lam, 0, 0.0)


@_njit
def _fill_series_from(gp, g_k, g_n, mode, M, thr, lam, det, tail):
    """:func:`_fill_series` adding these groups' terms to ``lam``, ``det`` and ``tail`` as they are
    (the groups before them already in), in the same order as one pass (see :func:`_group_stats_from`)."""
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
