"""Reference methods: plain Monte Carlo (the benchmark's yardstick) and the large-portfolio shortcut."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from credit_lab.risk.loss_distribution.contributions import _contribution_frames
from credit_lab.risk.loss_distribution.measures import (
    _PLOT_PROBS,
    DEFAULT_LEVELS,
    _empirical_error,
    _empirical_var_es,
    _error_frame,
    _quantile_table,
)
from credit_lab.risk.loss_distribution.portfolio import LossPortfolio
from credit_lab.risk.loss_distribution.prepare import _beta_params, _classes, _prepare, _Prepared, _SectorTables
from credit_lab.risk.loss_distribution.result import LossResult
from credit_lab.risk.loss_inputs import LossModelError, check_levels, check_seed


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
    seed = check_seed(seed)
    lv = check_levels(levels)
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
    seed = check_seed(seed)
    lv = check_levels(levels)
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
