"""The fast loss method: exact conditional distributions mixed over tail-focused factor scenarios."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr, ndtri

from credit_lab.risk.loss_distribution.contributions import _contribution_frames, _fast_contributions
from credit_lab.risk.loss_distribution.kernels import HAVE_NUMBA
from credit_lab.risk.loss_distribution.lattice import _WINDOW_EPS, _FastEngine, _next_pow2
from credit_lab.risk.loss_distribution.measures import _PLOT_PROBS, DEFAULT_LEVELS, _error_frame
from credit_lab.risk.loss_distribution.portfolio import LossPortfolio
from credit_lab.risk.loss_distribution.prepare import _classes, _prepare, _SectorTables
from credit_lab.risk.loss_distribution.result import LossResult
from credit_lab.risk.loss_distribution.sampling import _Control, _ISPlan
from credit_lab.risk.loss_inputs import LossModelError, check_levels, check_seed

#: Coarsest lattice allowed (see ``fast_loss``): points per conditional sd in the tail, per median name.
_MIN_POINTS_PER_SD = 256
_MIN_POINTS_PER_NAME = 8


def fast_loss(portfolio: LossPortfolio, *, seed: int = 0, levels: Sequence[float] = DEFAULT_LEVELS,
              n_scenarios: int = 512, n_replicates: int = 8, n_control: int = 1 << 15,
              grid_points: int = 1 << 15, contributions: bool = True, var_window: float = 0.005,
              series_tol: float = 1e-10, a_band: float = 0.7, max_mix: int = 64,
              lattice_step: float | None = None, adaptive_grid: bool = True) -> LossResult:
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
        At most: a small book gets fewer, as long as the conditional sd at the importance-sampling
        point spans >= 256 points and the median loss given default >= 8 (``diagnostics['grid_points']``
        says how many were used), so that the work per scenario grows with the book.
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
    adaptive_grid : bool, default True
        Let a small book use fewer than ``grid_points`` (see ``grid_points``); False keeps
        exactly ``grid_points`` (the benchmark compares both).

    Returns
    -------
    LossResult
    """
    return _fast_loss(portfolio, _FastEngine, seed=seed, levels=levels, n_scenarios=n_scenarios,
                      n_replicates=n_replicates, n_control=n_control, grid_points=grid_points,
                      contributions=contributions, var_window=var_window, series_tol=series_tol, a_band=a_band,
                      max_mix=max_mix, lattice_step=lattice_step, adaptive_grid=adaptive_grid)


def _fast_loss(portfolio: LossPortfolio, engine_factory: Callable[..., _FastEngine], *, seed, levels, n_scenarios,
               n_replicates, n_control, grid_points, contributions, var_window, series_tol, a_band, max_mix,
               lattice_step, adaptive_grid) -> LossResult:
    """:func:`fast_loss` with the conditional distributions from ``engine_factory(pf, prep, delta, a_band=,
    series_tol=, max_mix=)`` (:class:`_FastEngine` here; the Dask engine of :mod:`.distributed`)."""
    t0 = time.perf_counter()
    seed = check_seed(seed)
    lv = check_levels(levels)
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
    # A lattice finer than the book needs only costs time: every scenario's window spans about
    # 17 conditional sds, so a small book (wide conditional spread next to its VaR) would fill
    # the whole grid in every scenario. Coarsen when both hold: the tail scenario's conditional
    # sd still spans _MIN_POINTS_PER_SD points and the median name _MIN_POINTS_PER_NAME points.
    # Large books (names already below a lattice step) keep ``grid_points``.
    floor_step = 0.0
    if lattice_step is None and adaptive_grid:
        floor_step = min(_tail_sd(prep, plan.mu) / _MIN_POINTS_PER_SD,
                         float(np.median(prep.e[prep.e > 0])) / _MIN_POINTS_PER_NAME)
    for _attempt in range(6):
        if lattice_step is None and span / (G - 1) < floor_step:
            G = max(256, math.ceil(span / floor_step) + 1)
        if lattice_step is not None:
            delta = float(lattice_step)
            G = max(256, math.ceil(span / delta) + 2)
            if G > 1 << 22:
                raise LossModelError(f"lattice_step = {lattice_step!r} needs {G} lattice points to reach the "
                                     f"tail; use a coarser step or grid_points")
        else:
            delta = span / (G - 1)
        out = _fast_run(engine_factory, pf, prep, cls, plan, lv, delta, G, R, n_per, n_ctrl, seed, contributions,
                        var_window, series_tol, a_band, max_mix, span >= cap)
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


def _tail_sd(prep, z: np.ndarray) -> float:
    """Conditional sd of the loss (currency) at the factor point ``z`` (the importance-sampling shift)."""
    Y = prep.A @ z
    p = ndtr((prep.c - prep.s * Y[prep.sec]) * prep.tinv)
    return math.sqrt(float(np.sum(prep.e ** 2 * p * (1.0 - p))))


def _fast_run(engine_factory, pf, prep, cls, plan, lv, delta, G, R, n_per, n_ctrl, seed, contributions, var_window,
              series_tol, a_band, max_mix, span_is_total):
    t_start = time.perf_counter()
    eng = engine_factory(pf, prep, delta, a_band=a_band, series_tol=series_tol, max_mix=max_mix)
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
    points = [plan.points(np.random.default_rng(np.random.SeedSequence([seed, 0, r])), n_per) for r in range(R)]
    scen_z, scen_w = [z for z, _ in points], [w for _, w in points]
    scenarios = eng.scenarios(scen_z, seed, G)
    max_tail = 0.0
    n_fft = 0
    max_window = 0
    for r in range(R):
        z, w = points[r]
        m_hat, s_hat = ctrl.params(z)
        for j in range(n_per):
            sc = next(scenarios)
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
                max_window = max(max_window, M)
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
    diag = {"time_expensive": t_exp, "time_control": t_ctrl, "scenarios_with_fft": n_fft, "max_window": max_window,
            "estimator": chosen, "density_at_var": density, "series_truncation_bound": math.expm1(2.0 * max_tail),
            "aliasing_bound": 2 * _WINDOW_EPS, "n_groups": int(eng.g_cell.size)}
    var_c = es_c = None
    if contributions:
        var_c, es_c, extra = _fast_contributions(pf, prep, eng, lv, xs, var, es, delta, G, R, n_per, seed,
                                                 scen_z, scen_w, var_window)
        diag.update(extra)
    diag["time_total"] = time.perf_counter() - t_start
    return var, es, var_ci, es_ci, quantiles, var_c, es_c, diag
