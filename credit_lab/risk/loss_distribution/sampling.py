"""Factor sampling of the fast method: importance-sampling shift with randomised QMC, and the control variate."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, signal
from scipy.special import ndtr, ndtri
from scipy.stats import qmc

from credit_lab.risk.loss_distribution.prepare import _Prepared, _SectorTables

_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


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
