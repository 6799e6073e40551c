"""Exact solver machinery: prices of the coupling rows estimated on samples, refined on the
smoothed dual, then made exact by sifting over a small HiGHS working-set LP (the algorithm
is described in the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from credit_lab.limits.optimizer.errors import (
    InfeasibleLimitsError,
    SolverError,
)
from credit_lab.limits.optimizer.problem import (
    LimitProblem,
    _dot,
    _usage,
)


@dataclass(eq=False)
class _Core:
    """The LP in 'limit above the floor' variables, for one (sub)set of customers."""

    s: np.ndarray
    w: np.ndarray
    el: np.ndarray
    ind: np.ndarray
    reg: np.ndarray
    n_ind: int
    n_reg: int

    @property
    def n(self) -> int:
        return int(self.el.shape[0])

    def subset(self, rows: np.ndarray) -> _Core:
        return _Core(self.s[rows], self.w[rows], self.el[rows], self.ind[rows], self.reg[rows], self.n_ind, self.n_reg)

    def price(self, pi: np.ndarray) -> np.ndarray:
        """Priced resource use of one unit of limit, per customer."""
        ni = self.n_ind
        return pi[0] * self.el + pi[1] + pi[2:2 + ni][self.ind] + pi[2 + ni:][self.reg]

    def usage(self, X: np.ndarray) -> np.ndarray:
        return _usage(X, self.el, self.ind, self.reg, self.n_ind, self.n_reg)

    def touches(self, rows: np.ndarray) -> np.ndarray:
        """Customers that use at least one of the flagged rows."""
        if rows[0] or rows[1]:
            return np.ones(self.n, dtype=bool)
        ni = self.n_ind
        return rows[2:2 + ni][self.ind] | rows[2 + ni:][self.reg]


def _core_of(problem: LimitProblem) -> _Core:
    return _Core(problem.pieces.slopes, problem.widths, problem.el_rate, problem.industry_code,
                 problem.region_code, len(problem.industry_names), len(problem.region_names))


def _remaining_capacity(problem: LimitProblem) -> tuple[np.ndarray, np.ndarray]:
    rhs = problem.rhs
    active = np.isfinite(rhs)
    floor_use = problem.usage(problem.lower)
    slack = rhs - floor_use
    tol = 1e-12 * np.maximum(1.0, np.abs(np.where(active, rhs, 0.0)))
    bad = np.flatnonzero(active & (slack < -tol))
    if bad.size:
        r = int(bad[0])
        name = problem.row_names[r]
        key = {"el_budget": "policy.el_budget", "exposure_budget": "policy.exposure_budget"}.get(
            name, f"policy.{problem.row_kinds[r]}s[{name.split('[', 1)[-1].rstrip(']')!r}]")
        raise InfeasibleLimitsError(
            f"{name}: the limits' floors (grade minimums, the change band's lower edge and strategic floors) "
            f"already use "
            f"{floor_use[r]:,.2f} but {key} is {rhs[r]:,.2f}; raise {key} to at least "
            f"{floor_use[r]:,.2f} or relax policy.max_change / grade minimums / strategic floors.")
    return np.where(active, np.maximum(slack, 0.0), np.inf), active


_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


def _restricted_lp(core: _Core, idx: np.ndarray, cap: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve the LP over the pieces ``idx`` (flat indices) with capacities ``cap``; return x and duals."""
    K = core.s.shape[1]
    cust = idx // K
    c = core.s.ravel()[idx]
    w = core.w.ravel()[idx]
    m = cap.shape[0]
    ni = core.n_ind
    pos = np.full(m, -1)
    act_rows = np.flatnonzero(active)
    pos[act_rows] = np.arange(act_rows.size)
    nv = idx.size
    col = np.arange(nv)
    # Scaling to O(1) keeps HiGHS's absolute tolerances meaningful for any currency unit.
    money = float(np.median(w)) if nv else 1.0
    money = money if money > 0 else 1.0
    el = core.el[cust]
    el_scale = float(el.max()) if nv and el.max() > 0 else 1.0
    obj_scale = float(np.abs(c).max()) if nv and np.abs(c).max() > 0 else 1.0
    row_scale = np.ones(m)
    row_scale[0] = el_scale
    parts = [(np.full(nv, pos[0]), el / el_scale), (np.full(nv, pos[1]), np.ones(nv)),
             (pos[2 + core.ind[cust]], np.ones(nv)), (pos[2 + ni + core.reg[cust]], np.ones(nv))]
    rows = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts])
    cols = np.tile(col, 4)
    keep = rows >= 0
    A = sp.csc_array((vals[keep], (rows[keep], cols[keep])), shape=(act_rows.size, nv))
    b = cap[act_rows] / (row_scale[act_rows] * money)
    bounds = np.column_stack([np.zeros(nv), w / money])
    res = linprog(-c / obj_scale, A_ub=A, b_ub=b, bounds=bounds, method="highs-ds", options=_LP_OPTIONS)
    if res.status != 0:
        # Tight tolerances can stall HiGHS on awkward scaling; its defaults are the fallback.
        res = linprog(-c / obj_scale, A_ub=A, b_ub=b, bounds=bounds, method="highs-ds")
    if res.status != 0:
        raise SolverError(f"HiGHS failed on the working-set LP ({nv} pieces): {res.message}")
    x = np.clip(res.x * money, 0.0, w)
    pi = np.zeros(m)
    pi[act_rows] = np.maximum(-res.ineqlin.marginals * obj_scale / row_scale[act_rows], 0.0)
    return x, pi


@dataclass(frozen=True)
class _Tuning:
    base_customers: int = 1000
    sample_ratio: int = 10
    band_factor: float = 100.0
    band_min: int = 4000
    target_factor: float = 1.0
    target_min: int = 400
    max_rounds: int = 50
    refine_rounds: int = 4
    newton_steps: int = 6
    tau_end: float = 1e-6


def _split(d: np.ndarray, open_: np.ndarray, target: int) -> tuple[np.ndarray, float]:
    """The ``target`` open pieces of smallest |reduced cost|, and the radius that takes them."""
    n_open = int(np.count_nonzero(open_))
    if target >= n_open:
        return open_.copy(), float(np.abs(d[open_]).max(initial=0.0))
    ad = np.where(open_, np.abs(d), np.inf)
    delta = float(np.partition(ad.ravel(), target)[target])
    return ad <= delta, delta


def _fit_fixed(core: _Core, d: np.ndarray, work: np.ndarray, take: np.ndarray, cap: np.ndarray,
               active: np.ndarray, theta: float) -> np.ndarray:
    """Move pieces fixed at full width into ``work`` until the fixed ones fit the capacities.

    Otherwise the working-set problem is infeasible; the cheapest pieces in the overflowing
    rows are the ones whose status is least certain.
    """
    used = core.usage((core.w * take).sum(axis=1))
    while True:
        over = active & (used > cap)
        if not over.any():
            return used
        theta *= 2.0
        move = take & core.touches(over)[:, None] & (d <= theta)
        work |= move
        take &= ~move
        used = core.usage((core.w * take).sum(axis=1))


def _smooth_dual(core: _Core, idx: np.ndarray, rhs: np.ndarray, active: np.ndarray, pi: np.ndarray,
                 tau0: float, radius: float, tuning: _Tuning) -> tuple[np.ndarray, int]:
    """Approximately minimize the Lagrangian dual over the pieces ``idx`` by smoothed Newton steps.

    ``max(d, 0)`` is replaced by ``tau * softplus(d / tau)`` with ``tau`` shrinking tenfold per
    stage; the 17-row Hessian is aggregated per (industry, region) cell with ``bincount``.
    Only the starting point of the exact phase depends on this, never the optimum.
    """
    K = core.s.shape[1]
    cust = idx // K
    s = core.s.ravel()[idx]
    w = core.w.ravel()[idx]
    el = core.el[cust]
    ind = core.ind[cust]
    reg = core.reg[cust]
    ni, nr = core.n_ind, core.n_reg
    m = rhs.shape[0]
    cell = ind * nr + reg
    rhs_a = np.where(active, rhs, 0.0)
    pi = np.where(active, pi, 0.0)
    el_max = float(el.max(initial=0.0))

    def price(p: np.ndarray) -> np.ndarray:
        return p[0] * el + p[1] + p[2:2 + ni][ind] + p[2 + ni:][reg]

    def smooth(d: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
        # exp(-|d|/tau) is shared by the smoothed value and its derivatives.
        e = np.exp(-np.abs(d) / tau)
        return e, np.maximum(d, 0.0) + tau * np.log1p(e)

    def reach(step: np.ndarray) -> float:
        # Largest change of any customer's priced resource use for a price step.
        return (abs(step[0]) * el_max + abs(step[1]) + float(np.abs(step[2:2 + ni]).max(initial=0.0))
                + float(np.abs(step[2 + ni:]).max(initial=0.0)))

    n_steps = 0
    tau = tau0
    d = s - price(pi)
    e, val = smooth(d, tau)
    while True:
        for _ in range(tuning.newton_steps):
            inv = 1.0 / (1.0 + e)
            sig = np.where(d >= 0, inv, e * inv)
            use = w * sig
            curv = w * e * inv * inv / tau
            grad = rhs_a - np.concatenate([[_dot(el, use), use.sum()], np.bincount(ind, use, ni),
                                           np.bincount(reg, use, nr)])
            hc = np.bincount(cell, curv, ni * nr).reshape(ni, nr)
            he = np.bincount(cell, curv * el, ni * nr).reshape(ni, nr)
            H = np.zeros((m, m))
            H[0, 0] = _dot(curv, el * el)
            H[0, 1] = he.sum()
            H[0, 2:2 + ni] = he.sum(axis=1)
            H[0, 2 + ni:] = he.sum(axis=0)
            H[1, 1] = hc.sum()
            H[1, 2:2 + ni] = hc.sum(axis=1)
            H[1, 2 + ni:] = hc.sum(axis=0)
            H[2:2 + ni, 2 + ni:] = hc
            H[np.arange(2, 2 + ni), np.arange(2, 2 + ni)] = hc.sum(axis=1)
            H[np.arange(2 + ni, m), np.arange(2 + ni, m)] = hc.sum(axis=0)
            H = np.triu(H) + np.triu(H, 1).T
            free = np.flatnonzero(active & ~((pi <= 0.0) & (grad > 0.0)))
            if free.size == 0:
                break
            Hf = H[np.ix_(free, free)]
            # A row no band piece is near the margin of has no curvature; a small ridge keeps
            # the system solvable and the step cap below keeps such steps sane.
            ridge = 1e-12 * max(float(np.trace(Hf)), 1e-300) + 1e-300
            try:
                step_f = np.linalg.solve(Hf + ridge * np.eye(free.size), -grad[free])
            except np.linalg.LinAlgError:
                step_f = -grad[free]
            step = np.zeros(m)
            step[free] = step_f
            r = reach(step)
            if r > radius:
                step *= radius / r
            t = 1.0
            while True:
                cand = np.maximum(pi + t * step, 0.0)
                delta = cand - pi
                d_c = s - price(cand)
                e_c, val_c = smooth(d_c, tau)
                # Summing differences piece by piece keeps digits a difference of totals would lose.
                change = _dot(delta, rhs_a) + float((w * (val_c - val)).sum())
                if change <= 1e-4 * _dot(grad, delta) or t < 1e-6:
                    break
                t *= 0.5
            n_steps += 1
            pi, d, e, val = cand, d_c, e_c, val_c
            if reach(delta) <= 0.05 * tau:
                break
        if tau <= tuning.tau_end:
            return pi, n_steps
        tau = max(tau / 10.0, tuning.tau_end)
        e, val = smooth(d, tau)


def _refine_prices(core: _Core, cap: np.ndarray, active: np.ndarray, pi0: np.ndarray, tuning: _Tuning,
                   stats: list[dict], depth: int) -> np.ndarray:
    """Sharpen price estimates on a band of uncertain pieces (the rest fixed by the sign of
    their reduced cost) so that the exact phase needs only a small working set."""
    s, w = core.s, core.w
    open_ = w > 0
    n_open = int(np.count_nonzero(open_))
    d = s - core.price(pi0)[:, None]
    target = max(tuning.band_min, int(tuning.band_factor * math.sqrt(n_open)))
    band, radius = _split(d, open_, target)
    take = open_ & ~band & (d > 0)
    scale = max(1.0, float(np.abs(s).max()))
    used = _fit_fixed(core, d, band, take, cap, active, max(radius, 1e-9 * scale))
    pi = pi0
    tau0 = radius / 8.0
    for rnd in range(1, tuning.refine_rounds + 1):
        idx = np.flatnonzero(band.ravel())
        pi_new, steps = _smooth_dual(core, idx, cap - used, active, pi, max(tau0, tuning.tau_end),
                                     4.0 * max(radius, 1e-9 * scale), tuning)
        if not np.all(np.isfinite(pi_new)):
            return pi  # the exact phase copes with a rough start; it cannot with NaN
        pi = pi_new
        d = s - core.price(pi)[:, None]
        viol = ~band & open_ & np.where(take, d < 0, d > 0)
        n_viol = int(np.count_nonzero(viol))
        stats.append({"depth": depth, "customers": core.n, "phase": "refine", "round": rnd,
                      "working_pieces": int(idx.size), "newton_steps": steps, "violations": n_viol})
        if n_viol <= tuning.target_min // 4:
            # A few misfits have tiny reduced costs: the exact phase's working set takes them.
            return pi
        # The prices are already close: restart the smoothing at the size of the misfits.
        tau0 = float(np.abs(d[viol]).max()) / 4.0
        band |= viol
        take &= ~viol
        used = core.usage((w * take).sum(axis=1))
    return pi


def _sift(core: _Core, cap: np.ndarray, active: np.ndarray, pi0: np.ndarray, tuning: _Tuning,
          stats: list[dict], depth: int) -> tuple[np.ndarray, np.ndarray]:
    s, w = core.s, core.w
    n = s.shape[0]
    open_ = w > 0
    n_open = int(np.count_nonzero(open_))
    if n_open == 0:
        return np.zeros_like(s), np.zeros(cap.shape[0])
    tol = 1e-9 * max(1.0, float(np.abs(s).max()))
    d = s - core.price(pi0)[:, None]
    target = max(tuning.target_min, int(tuning.target_factor * math.sqrt(n_open)))
    work, delta = _split(d, open_, target)
    take = open_ & ~work & (d > 0)
    used = _fit_fixed(core, d, work, take, cap, active, max(delta, tol))
    for rnd in range(1, tuning.max_rounds + 1):
        idx = np.flatnonzero(work.ravel())
        x_w, pi = _restricted_lp(core, idx, cap - used, active)
        d = s - core.price(pi)[:, None]
        viol = ~work & open_ & np.where(take, d < -tol, d > tol)
        n_viol = int(np.count_nonzero(viol))
        stats.append({"depth": depth, "customers": n, "phase": "exact", "round": rnd,
                      "working_pieces": int(idx.size), "violations": n_viol})
        if n_viol == 0:
            x = w * take
            x.ravel()[idx] = x_w
            return x, pi
        work |= viol
        take &= ~viol
        used = core.usage((w * take).sum(axis=1))
    raise SolverError(f"sifting did not converge in {tuning.max_rounds} rounds ({n} customers); "
                      f"this indicates numerical trouble - use solve_with_highs on this instance.")


def _solve_level(core: _Core, cap: np.ndarray, active: np.ndarray, rng: np.random.Generator,
                 pi0: np.ndarray | None, tuning: _Tuning, stats: list[dict], depth: int,
                 phases: tuple[Callable[..., np.ndarray], Callable[..., tuple[np.ndarray, np.ndarray]]] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Prices from a sample (recursively), then refined and made exact on all of ``core``.

    ``phases`` = (refine, sift) with the signatures of :func:`_refine_prices` and :func:`_sift` runs those
    two whole-book phases elsewhere (:mod:`~credit_lab.limits.optimizer.distributed`); the sampled levels and
    a level small enough to solve directly always run here.
    """
    if pi0 is None:
        if core.n <= tuning.base_customers:
            tuning_here = replace(tuning, target_min=core.n * core.s.shape[1])
            return _sift(core, cap, active, np.zeros(cap.shape[0]), tuning_here, stats, depth)
        n_sub = max(tuning.base_customers // 2, core.n // tuning.sample_ratio)
        rows = np.sort(rng.choice(core.n, size=n_sub, replace=False))
        # A uniform sample scaled to its share of the customers faces the same scarcity,
        # so its duals estimate the full problem's prices.
        share = n_sub / core.n
        _, pi0 = _solve_level(core.subset(rows), np.where(active, cap * share, np.inf), active, rng, None,
                              tuning, stats, depth + 1)
    refine, sift = phases or (_refine_prices, _sift)
    pi1 = refine(core, cap, active, pi0, tuning, stats, depth)
    return sift(core, cap, active, pi1, tuning, stats, depth)
