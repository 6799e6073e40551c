"""Entry points of the solve: the exact structure-exploiting optimizer, the HiGHS referee on the
whole LP, and a feasibility check of any set of limits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from credit_lab.limits.optimizer.distributed import _solve_on_cluster
from credit_lab.limits.optimizer.errors import (
    SolverError,
    _fail,
)
from credit_lab.limits.optimizer.pricing import (
    _core_of,
    _remaining_capacity,
    _solve_level,
    _Tuning,
)
from credit_lab.limits.optimizer.problem import (
    LimitProblem,
)
from credit_lab.limits.optimizer.result import (
    LimitResult,
    _make_result,
)

__all__ = [
    "constraint_violations",
    "optimize_limits",
    "solve_with_highs",
]


def optimize_limits(problem: LimitProblem, *, seed: int = 0, initial_prices: np.ndarray | None = None,
                    tuning: Mapping[str, Any] | None = None, client: Any = None, partitions: int | None = None
                    ) -> LimitResult:
    """Exact optimal limits of the piecewise-linear portfolio LP (fast, structure-exploiting).

    Parameters
    ----------
    problem : LimitProblem
    seed : int, optional
        Seed of the customer samples used to estimate the prices; the optimum does not
        depend on it (only the path to it does).
    initial_prices : ndarray, optional
        Price estimates of the rows (``problem.row_names`` order), e.g. from a neighbouring
        solve; skips the sampling stage.
    tuning : mapping, optional
        Overrides of the internal sizes (speed only, never the optimum): ``base_customers``
        (1000: solved directly), ``sample_ratio`` (10), ``band_factor`` (100) and
        ``band_min`` (4000) for the refinement band of ``band_factor * sqrt(pieces)``
        pieces, ``target_factor`` (1.0) and ``target_min`` (400) for the exact working set,
        ``tau_end`` (1e-6), ``newton_steps`` (6 per stage), ``refine_rounds`` (4),
        ``max_rounds`` (50 sifting rounds).
    client : distributed.Client, optional
        Run the passes over the whole book (reduced costs of every piece, the pieces fixed at full
        width, the candidates for the working set) on this Dask cluster's workers, the customers in
        ``partitions`` contiguous blocks (default two per worker) scattered once per solve; the
        sample, the smoothed dual and the working-set LP stay here. The result is the same, bit for bit
        (:mod:`~credit_lab.limits.optimizer.distributed`).
    partitions : int, optional
        Blocks of customers on the cluster (with ``client``).

    Returns
    -------
    LimitResult

    Raises
    ------
    InfeasibleLimitsError
        The floors alone break a budget.
    SolverError
        HiGHS failed on a working-set LP.
    """
    t0 = time.perf_counter()
    whole = isinstance(partitions, Integral) and not isinstance(partitions, bool)
    if partitions is not None and not (whole and partitions >= 1):
        _fail(f"partitions = {partitions!r}: expected a whole number >= 1 of blocks of customers on the cluster, "
              "or None for two per worker.")
    cap, active = _remaining_capacity(problem)
    core = _core_of(problem)
    stats: list[dict] = []
    if not active.any():
        # No coupling: each customer takes every piece that pays for itself.
        x = np.where(core.s > 0, core.w, 0.0)
        pi = np.zeros(cap.shape[0])
    else:
        unknown = sorted(set(dict(tuning or {})) - set(_Tuning.__dataclass_fields__))
        if unknown:
            _fail(f"tuning keys {unknown} are unknown; known: {sorted(_Tuning.__dataclass_fields__)}.")
        tun = replace(_Tuning(), **dict(tuning or {}))
        pi0 = None
        if initial_prices is not None:
            given = np.asarray(initial_prices, dtype=float).ravel()
            if given.shape != cap.shape or not np.all(np.isfinite(given)):
                _fail(f"initial_prices must be {cap.shape[0]} finite values, one per row of "
                      f"{list(problem.row_names)}; got shape {given.shape}.")
            pi0 = np.where(active, np.maximum(given, 0.0), 0.0)
        rng = np.random.default_rng(seed)
        if client is None:
            x, pi = _solve_level(core, cap, active, rng, pi0, tun, stats, 0)
        else:
            x, pi = _solve_on_cluster(client, partitions, core, cap, active, rng, pi0, tun, stats)
        pi = np.where(active, pi, 0.0)
    return _make_result(problem, x, pi, "sifting+highs-ds" if client is None else "sifting+highs-ds (dask)", t0,
                        stats)


def solve_with_highs(problem: LimitProblem, *, method: str = "highs", options: Mapping[str, Any] | None = None
                     ) -> LimitResult:
    """Referee: the same piecewise-linear LP, all pieces at once, solved by ``scipy.optimize.linprog``.

    Parameters
    ----------
    problem : LimitProblem
    method : str, optional
        A HiGHS method of ``linprog``: ``"highs"`` (default), ``"highs-ds"``, ``"highs-ipm"``.
    options : mapping, optional
        Passed to ``linprog``.

    Returns
    -------
    LimitResult
        With ``prices`` from HiGHS's marginals.
    """
    t0 = time.perf_counter()
    cap, active = _remaining_capacity(problem)
    n, K = problem.pieces.slopes.shape
    flat_w = problem.widths.ravel()
    var = np.flatnonzero(flat_w > 0)
    cust = var // K
    m = problem.rhs.shape[0]
    if not active.any() or var.size == 0:
        x = np.where(problem.pieces.slopes > 0, problem.widths, 0.0)
        return _make_result(problem, x, np.zeros(m), f"linprog-{method}", t0, [])
    # Row membership written out per row kind, independently of the fast solver's code.
    ni = len(problem.industry_names)
    blocks_r, blocks_c, blocks_v = [], [], []
    act_rows = np.flatnonzero(active)
    for pos, r in enumerate(act_rows):
        if r == 0:
            members, coef = np.arange(var.size), problem.el_rate[cust]
        elif r == 1:
            members, coef = np.arange(var.size), np.ones(var.size)
        elif r < 2 + ni:
            members = np.flatnonzero(problem.industry_code[cust] == r - 2)
            coef = np.ones(members.size)
        else:
            members = np.flatnonzero(problem.region_code[cust] == r - 2 - ni)
            coef = np.ones(members.size)
        blocks_r.append(np.full(members.size, pos))
        blocks_c.append(members)
        blocks_v.append(coef)
    money = float(np.median(flat_w[var]))
    A = sp.csc_array((np.concatenate(blocks_v), (np.concatenate(blocks_r), np.concatenate(blocks_c))),
                     shape=(act_rows.size, var.size))
    res = linprog(-problem.pieces.slopes.ravel()[var], A_ub=A, b_ub=cap[act_rows] / money,
                  bounds=np.column_stack([np.zeros(var.size), flat_w[var] / money]), method=method,
                  options=dict(options or {}))
    if res.status != 0:
        raise SolverError(f"linprog({method!r}) failed: {res.message}")
    x = np.zeros(n * K)
    x[var] = res.x * money
    pi = np.zeros(m)
    pi[act_rows] = np.maximum(-res.ineqlin.marginals, 0.0)
    return _make_result(problem, x.reshape(n, K), pi, f"linprog-{method}", t0,
                        [{"iterations": int(getattr(res, "nit", -1))}])


def constraint_violations(problem: LimitProblem, limits: Any) -> dict[str, float]:
    """Largest violation of each constraint family by ``limits``, relative to max(1, |bound|).

    Returns
    -------
    dict
        ``rows`` (coupling budgets), ``lower``, ``upper`` (per-customer bounds); 0 = satisfied.
    """
    lim = np.asarray(limits, dtype=float)
    rhs = problem.rhs
    active = np.isfinite(rhs)
    used = problem.usage(lim)
    rows = float(np.max((used[active] - rhs[active]) / np.maximum(1.0, np.abs(rhs[active])), initial=0.0))
    lower = float(np.max((problem.lower - lim) / np.maximum(1.0, problem.lower), initial=0.0))
    upper = float(np.max((lim - problem.upper) / np.maximum(1.0, problem.upper), initial=0.0))
    return {"rows": max(rows, 0.0), "lower": max(lower, 0.0), "upper": max(upper, 0.0)}
