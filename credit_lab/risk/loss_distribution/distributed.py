"""The fast method with its per-obligor work on a Dask cluster, value for value the local result.

What runs where
---------------
Per factor scenario, :func:`~credit_lab.risk.loss_distribution.fast_loss` spends its time in loops
over the book's groups (obligors merged by sector, PD, rho and lattice loss):

1. the conditional PDs of the cells (``_cell_probs``) and the groups' sums ``mu, v, v2`` that size
   the FFT window (``_group_stats``),
2. the compound-Poisson coefficients ``lam`` of the conditional log generating function
   (``_fill_series``): ``log E[w^L | z]`` is a sum over the independent obligors,
3. in the contribution pass, every group's leave-one-out sums (``_contrib_kernel``).

So the groups split into consecutive **blocks**, scattered once to the workers, and 1 to 3 run there
for every scenario. Per batch of scenarios, on a worker: the FFT turning the coefficients into the
conditional pmf, and in the contribution pass its CDF and tail sums. On the client: what needs the
whole book once (cells, groups and the lattice rounding, a running sum along the sorted book), the
factor draws, per scenario the window and the treatment of the few names near p = 1/2 (one random
stream over the book), and the estimators over the scenarios (VaR, ES, their errors, the scaling of
the contributions). A Beta-LGD book draws its LGDs per scenario from one random stream over all
obligors and rounds them by a running sum over the whole book: that does not split without changing
the numbers, so :func:`fast_loss_distributed` runs such a book locally (``diagnostics['engine']``).

Why the result is the local one bit for bit
-------------------------------------------
Floating-point sums depend on their order, so partial sums of the blocks added on the client would
move the last bits (and a written reserve table with them). Instead each scenario's sums travel
block to block, each block adding its groups to the running totals (``_group_stats_from``,
``_fill_series_from``): the very additions of the local loop, in its order. Many scenarios are in
flight at once (block ``k`` works on batch ``b`` while block ``k + 1`` works on batch ``b - 1``), so
the workers stay busy. The contribution sums are per group, accumulated scenario after scenario in
each block. Only the diagnostic ``additivity_residual`` (a total over all groups and scenarios) is
added in another order. This assumes the workers run the client's builds of numpy and numba on the
same kind of CPU (as a LocalCluster or one image on a cluster does).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from credit_lab.risk.loss_distribution.fast import _fast_loss, fast_loss
from credit_lab.risk.loss_distribution.kernels import (
    _cell_probs,
    _contrib_kernel,
    _fill_series_from,
    _group_stats,
    _group_stats_from,
)
from credit_lab.risk.loss_distribution.lattice import _FastEngine, _Scenario, _Window
from credit_lab.risk.loss_distribution.portfolio import LossPortfolio
from credit_lab.risk.loss_distribution.result import LossResult
from credit_lab.risk.loss_inputs import LossModelError

__all__ = ["fast_loss_distributed"]

logger = logging.getLogger(__name__)

#: window of a scenario computed before knowing the grid: every window fits (see ``_DaskEngine._windows``)
_NO_GRID_LIMIT = 1 << 62


def fast_loss_distributed(portfolio: LossPortfolio, client: Any, *, partitions: int | None = None,
                          batch: int | None = None, **options: Any) -> LossResult:
    """:func:`fast_loss` with the per-obligor work on the Dask cluster of ``client``: the same result.

    VaR, ES, their errors, the quantiles and the contribution tables equal the local engine's bit
    for bit (see the module docstring); ``diagnostics`` adds ``engine``, ``blocks`` and ``workers``.

    Parameters
    ----------
    portfolio : LossPortfolio
    client : distributed.Client
        A client of a running cluster (``credit_lab.run.compute.dask_client``).
    partitions : int, optional
        Blocks of the book (default: one per worker; more only add transfers, since every scenario
        passes through every block).
    batch : int, optional
        Scenarios per task (default: the scenarios in 4 batches per block, at most 32 per batch).
    **options
        The keyword arguments of :func:`fast_loss` (seed, levels, n_scenarios, contributions, ...).
    """
    defaults = fast_loss.__kwdefaults__
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"fast_loss_distributed() got unknown option(s) {unknown}; fast_loss takes {sorted(defaults)}")
    if partitions is not None and int(partitions) < 1:
        raise LossModelError(f"partitions = {partitions!r} must be >= 1 (blocks of the book on the cluster)")
    if portfolio.lgd_std is not None:
        logger.info("Beta LGDs are drawn per scenario from one random stream over the whole book: the loss "
                    "distribution runs locally")
        result = fast_loss(portfolio, **options)
        result.diagnostics["engine"] = "local: Beta LGDs draw one random stream over the whole book"
        return result
    workers = sorted(client.scheduler_info().get("workers", {}))
    if not workers:
        raise LossModelError("the Dask cluster has no workers; start some (dask worker ADDRESS) or use the "
                             "local engine")
    n_blocks = int(partitions) if partitions is not None else len(workers)
    opts = {**defaults, **options}
    factory = partial(_DaskEngine, client=client, workers=workers, n_blocks=n_blocks, batch=batch,
                      keep_series=bool(opts["contributions"]))
    result = _fast_loss(portfolio, factory, **opts)
    result.diagnostics.update(engine="dask", blocks=min(n_blocks, result.diagnostics["n_groups"]),
                              workers=len(workers))
    return result


@dataclass
class _Block:
    """Consecutive groups of the book (and the cells they use), as one worker holds them."""

    first: int                 # global index of the first group
    cell_c: np.ndarray
    cell_s: np.ndarray
    cell_tinv: np.ndarray
    cell_sec: np.ndarray
    g_cell: np.ndarray         # into this block's cells
    g_k: np.ndarray
    g_n: np.ndarray
    a_band: float
    thr: float

    def conditional(self, Y: np.ndarray, p_cell: np.ndarray, gp: np.ndarray, mode: np.ndarray) -> None:
        """The groups' conditional PDs and modes given the sector factors ``Y`` (into ``gp``, ``mode``)."""
        _cell_probs(Y, self.cell_c, self.cell_s, self.cell_tinv, self.cell_sec, p_cell)
        _group_stats(p_cell, self.g_cell, self.g_k, self.g_n, self.a_band, gp, mode)

    def buffers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.empty(self.cell_c.size), np.empty(self.g_k.size), np.empty(self.g_k.size, dtype=np.int64)


@dataclass
class _Stats:
    """Running group sums of a batch of scenarios, and the near-1/2 groups met so far."""

    mu: np.ndarray
    v: np.ndarray
    v2: np.ndarray
    kmax: np.ndarray
    certain: np.ndarray
    band: list[list[np.ndarray]]
    band_p: list[list[np.ndarray]]


def _block_stats(block: _Block, Ys: np.ndarray, carry: _Stats | None) -> _Stats:
    """Add this block's groups to the running sums of every scenario of the batch (factors ``Ys``)."""
    n = Ys.shape[0]
    if carry is None:
        carry = _Stats(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64),
                       np.zeros(n, dtype=np.int64), [[] for _ in range(n)], [[] for _ in range(n)])
    out = _Stats(carry.mu.copy(), carry.v.copy(), carry.v2.copy(), carry.kmax.copy(), carry.certain.copy(),
                 [list(b) for b in carry.band], [list(b) for b in carry.band_p])
    p_cell, gp, mode = block.buffers()
    for i in range(n):
        _cell_probs(Ys[i], block.cell_c, block.cell_s, block.cell_tinv, block.cell_sec, p_cell)
        out.mu[i], out.v[i], out.v2[i], out.kmax[i], out.certain[i] = _group_stats_from(
            p_cell, block.g_cell, block.g_k, block.g_n, block.a_band, gp, mode, out.mu[i], out.v[i], out.v2[i],
            out.kmax[i], out.certain[i])
        band = np.flatnonzero(mode == 2)
        if band.size:
            out.band[i].append(band + block.first)
            out.band_p[i].append(gp[band])
    return out


def _block_series(block: _Block, Ys: np.ndarray, sizes: list[int], carry: list | None) -> list:
    """Add this block's series coefficients to every scenario's ``(lam, det, tail)`` (``sizes``: window
    lengths, 0 for a scenario without a pmf)."""
    p_cell, gp, mode = block.buffers()
    out: list = []
    for i, M in enumerate(sizes):
        if M == 0:
            out.append(None)
            continue
        block.conditional(Ys[i], p_cell, gp, mode)
        if carry is None:
            lam, det, tail = np.zeros(M), 0, 0.0
        else:
            lam, det, tail = carry[i]
            lam = np.array(lam)  # a task's input stays as it came (and may be read-only)
        det, tail = _fill_series_from(gp, block.g_k, block.g_n, mode, M, block.thr, lam, det, tail)
        out.append((lam, det, tail))
    return out


@dataclass
class _ContribBatch:
    """What every block needs of a batch in the contribution pass, built where the batch's series ended."""

    Ys: np.ndarray
    F: list[np.ndarray]
    c0: list[int]
    region: list[int]
    w: list[float]
    cand: list[np.ndarray]
    samp: list[np.ndarray]
    samp_counts: list[np.ndarray]
    tails: list[dict[float, float]]    # per scenario, ``_FastEngine.tail_values``


def _batch_pmfs(sums: list | None, windows: list[_Window], G: int) -> list:
    """Per scenario of a batch, ``(pmf, tail)`` from its finished series ``sums`` (None without a pmf)."""
    out: list = []
    for i, win in enumerate(windows):
        if win.c0 >= G:
            out.append(None)
            continue
        lam, det, tail = sums[i]
        out.append((_FastEngine.pmf(win, lam, det), tail))
    return out


def _contrib_batch(pmfs: list | None, windows: list[_Window], Ys: np.ndarray, w: list[float], G: int, ymin: int,
                   xs: dict[float, int]) -> _ContribBatch:
    """The conditional CDFs of a batch (from its ``pmfs``) for the contribution kernel."""
    F, c0, region, tails = [], [], [], []
    for i, win in enumerate(windows):
        f = pmfs[i][0] if win.c0 < G else None
        sc = _Scenario(win.c0, f, win.mean, None, None, None, None, None, 0.0)
        Fi, c0i, ri = _FastEngine.cdf(sc, ymin)
        F.append(Fi)
        c0.append(c0i)
        region.append(ri)
        tails.append(_FastEngine.tail_values(sc, xs))
    return _ContribBatch(Ys, F, c0, region, w, [x.cand for x in windows], [x.samp for x in windows],
                         [x.samp_counts for x in windows], tails)


def _tails_of(batch: _ContribBatch) -> list[dict[float, float]]:
    return batch.tails


def _block_contrib(block: _Block, batch: _ContribBatch, ys: np.ndarray, carry: tuple | None) -> tuple:
    """Add the batch's scenarios to this block's per-group contribution sums ``(acc, accp, acck)``."""
    ng = block.g_k.size
    if carry is None:
        acc, accp, acck = np.zeros((ng, ys.size)), np.zeros(ng), np.zeros(ys.size + 1)
    else:
        acc, accp, acck = (np.array(a) for a in carry)
    p_cell, gp, mode = block.buffers()
    lgdw = np.ones(ng)
    last = block.first + ng
    for i in range(len(batch.F)):
        block.conditional(batch.Ys[i], p_cell, gp, mode)
        cand = batch.cand[i]
        mode[cand[(cand >= block.first) & (cand < last)] - block.first] = 4
        counts = np.zeros(ng)
        mine = (batch.samp[i] >= block.first) & (batch.samp[i] < last)
        counts[batch.samp[i][mine] - block.first] = batch.samp_counts[i][mine]
        _contrib_kernel(gp, block.g_k, block.g_n, mode, counts, batch.F[i], batch.c0[i], batch.region[i], ys,
                        batch.w[i], lgdw, 1e-13, acc, accp, acck)
    return acc, accp, acck


class _DaskEngine(_FastEngine):
    """:class:`_FastEngine` whose group loops run on the blocks of the book on a Dask cluster."""

    def __init__(self, pf: LossPortfolio, prep, delta: float, *, a_band: float, series_tol: float, max_mix: int,
                 client: Any, workers: list[str], n_blocks: int, batch: int | None, keep_series: bool):
        super().__init__(pf, prep, delta, a_band=a_band, series_tol=series_tol, max_mix=max_mix)
        if self.random_lgd:  # pragma: no cover - fast_loss_distributed runs such books locally
            raise LossModelError("the Dask engine needs fixed LGDs (Beta LGDs draw one stream over the book)")
        self.client = client
        ng = self.g_cell.size
        n_blocks = max(1, min(n_blocks, ng))
        self.batch = batch
        self.n_blocks = n_blocks
        # Groups are sorted by cell, so a block of consecutive groups uses a run of consecutive cells.
        bounds = np.linspace(0, ng, n_blocks + 1).round().astype(int)
        self.workers = [workers[k % len(workers)] for k in range(n_blocks)]
        self.blocks = []
        for k in range(n_blocks):
            a, b = int(bounds[k]), int(bounds[k + 1])
            lo, hi = int(self.g_cell[a]), int(self.g_cell[b - 1]) + 1
            block = _Block(a, prep.cell_c[lo:hi].copy(), prep.cell_s[lo:hi].copy(), prep.cell_tinv[lo:hi].copy(),
                           prep.cell_sec[lo:hi].copy(), self.g_cell[a:b] - lo, self.g_k0[a:b].copy(),
                           self.g_n[a:b].copy(), a_band, self.thr)
            self.blocks.append(client.scatter(block, workers=[self.workers[k]], hash=False))
        self.total_max = float(np.sum(self.g_k0 * self.g_n))  # the local engine's per-scenario value
        self.keep_series = keep_series
        self._windows: dict[tuple[int, int, int], _Window] = {}
        self._kept: dict[int, tuple[Any, list[int]]] = {}

    def _chain(self, func, *args: Any):
        """``func(block, *args, carry)`` block after block, each block's result the next one's carry."""
        carry = None
        for block, worker in zip(self.blocks, self.workers):
            carry = self.client.submit(func, block, *args, carry, workers=[worker], pure=False)
        return carry

    def _batches(self, n: int) -> list[range]:
        size = self.batch or max(1, min(32, math.ceil(n / (4 * self.n_blocks))))
        return [range(a, min(n, a + size)) for a in range(0, n, size)]

    def _windows_of(self, keys: list[tuple[int, int, int]], stats_future) -> list[_Window]:
        """The scenarios' windows, from the sums of the whole book (remembered for the second pass)."""
        if stats_future is not None:
            st = stats_future.result()
            for i, key in enumerate(keys):
                r, j = key[1], key[2]
                band = np.concatenate(st.band[i]) if st.band[i] else np.empty(0, dtype=np.int64)
                band_p = np.concatenate(st.band_p[i]) if st.band_p[i] else np.empty(0)
                rng = np.random.default_rng(np.random.SeedSequence([key[0], 1, r, j]))
                self._windows[key] = self.window(self.g_k0, float(st.mu[i]), float(st.v[i]), float(st.v2[i]),
                                                 int(st.kmax[i]), int(st.certain[i]), band, band_p, rng,
                                                 _NO_GRID_LIMIT, self.total_max)
        return [self._windows[key] for key in keys]

    def _pmfs(self, k: int, Ys: np.ndarray, windows: list[_Window], G: int):
        """Batch ``k``'s pmfs on grid ``G`` (a future; None when no scenario has one): the series chain
        through the blocks, then the FFTs on one worker (batch after batch on the next worker). The first
        pass's are kept for the contribution pass when they serve there too."""
        sizes = [w.f_size if w.c0 < G else 0 for w in windows]
        kept = self._kept.get(k)
        if kept is not None and all(s == 0 or s == t for s, t in zip(sizes, kept[1])):
            return kept[0]
        future = None
        if any(sizes):
            sums = self._chain(_block_series, Ys, sizes)
            future = self.client.submit(_batch_pmfs, sums, windows, G, workers=[self._worker_of(k)], pure=False)
        if self.keep_series:
            self._kept[k] = (future, sizes)
        return future

    def _worker_of(self, k: int) -> str:
        return self.workers[k % len(self.workers)]

    def scenarios(self, zs: list[np.ndarray], seed: int, G: int) -> Iterator[_Scenario]:
        keys = [(seed, r, j) for r, z in enumerate(zs) for j in range(z.shape[0])]
        Ys = np.array([self.prep.A @ z[j] for z in zs for j in range(z.shape[0])])
        batches = self._batches(len(keys))
        # The cheap sums of every batch first; each batch's series as soon as its windows are known.
        stats = [None if all(keys[i] in self._windows for i in b) else self._chain(_block_stats, Ys[b.start:b.stop])
                 for b in batches]
        series: dict[int, Any] = {}
        windows: dict[int, list[_Window]] = {}
        ahead = 2 * self.n_blocks + 2

        def launch(k: int) -> None:
            b = batches[k]
            windows[k] = self._windows_of(keys[b.start:b.stop], stats[k])
            series[k] = self._pmfs(k, Ys[b.start:b.stop], windows[k], G)

        launched = 0
        for k in range(len(batches)):
            while launched < len(batches) and launched <= k + ahead:
                launch(launched)
                launched += 1
            pmfs = series.pop(k)
            pmfs = pmfs.result() if pmfs is not None else None
            for i, win in enumerate(windows.pop(k)):
                if win.c0 >= G:
                    yield _Scenario(win.c0, None, win.mean, None, None, None, None, None, 0.0)
                else:
                    yield _Scenario(win.c0, pmfs[i][0], win.mean, None, None, None, None, None, pmfs[i][1])

    def contribution_sums(self, scen_z, scen_w, seed, ys, xs):
        keys = [(seed, r, j) for r, z in enumerate(scen_z) for j in range(z.shape[0])]
        Ys = np.array([self.prep.A @ z[j] for z in scen_z for j in range(z.shape[0])])
        w_all = np.concatenate(scen_w)
        ymin, G = int(ys.min()), int(ys.max()) + 1
        carries: list[Any] = [None] * self.n_blocks
        tails = []
        for k, b in enumerate(self._batches(len(keys))):
            # the first pass's windows (same seeds: the same sampled obligors); the CDFs are built where
            # the batch's series ended and go from there to every block
            wins = self._windows_of(keys[b.start:b.stop], None)
            pmfs = self._pmfs(k, Ys[b.start:b.stop], wins, G)
            batch = self.client.submit(_contrib_batch, pmfs, wins, Ys[b.start:b.stop], [float(w_all[i]) for i in b],
                                       G, ymin, xs, workers=[self._worker_of(k)], pure=False)
            tails.append(self.client.submit(_tails_of, batch, workers=[self._worker_of(k)], pure=False))
            carries = [self.client.submit(_block_contrib, block, batch, ys, carry, workers=[worker], pure=False)
                       for block, worker, carry in zip(self.blocks, self.workers, carries)]
        self._kept.clear()
        tail_lat = {q: 0.0 for q in xs}
        for i, values in enumerate(v for part in self.client.gather(tails) for v in part):
            for q, value in values.items():
                tail_lat[q] += w_all[i] * value
        parts = self.client.gather(carries)
        acc = np.concatenate([p[0] for p in parts])
        accp = np.concatenate([p[1] for p in parts])
        # the one total over all groups (a diagnostic): the blocks' totals added in block order
        acck = np.sum([p[2] for p in parts], axis=0)
        return acc, accp, acck, tail_lat
