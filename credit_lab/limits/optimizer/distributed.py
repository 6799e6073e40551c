"""The exact solver's whole-book passes on a Dask cluster, each over a block of customers.

The solve has a map-reduce shape: a few coupling rows carry prices, and at given prices every
piece of every customer is decided on its own (the sign of its reduced cost). So the two phases
of :func:`~credit_lab.limits.optimizer.pricing._solve_level` that touch the whole book (the
refinement and the sifting) split into

* passes over the blocks, on the workers: the reduced cost of every piece at the current prices;
  the smallest ``|reduced cost|`` (to size the working set); the pieces fixed at full width, as each
  customer's limit above its floor from them; the pieces whose fixed status the new prices
  contradict (the candidates that join the working set);
* small steps on the client: the prices from a sample of customers, the smoothed dual on the
  refinement band, the working-set LP, and the use of the coupling rows, summed from the
  per-customer limits the blocks return.

The blocks (contiguous customers, so a block's flat piece indices are a range of the book's) are
scattered once per solve and reused by every pass; a pass sends only the prices, the pieces moved
into the working set in that block, and a few scalars. The workers keep no state: a piece outside
the working set is fixed at full width exactly when its reduced cost at the phase's starting
prices is positive, so each pass rebuilds the fixed pieces from those prices and the working set.

Each pass computes, piece by piece and customer by customer, the same floating-point numbers as the
local solver, and the client sums the coupling-row use over the per-customer limits as the local
solver does; so every working set, LP and price is the local one, and the optimum is the local
engine's bit for bit (the ``stats`` log too). The blocks send per-customer limits (all of them once
per phase, then only the customers whose fixed pieces changed) rather than their own sums of the
rows' use: a sum of partial sums differs from the local sum in the last bits, and the working-set LP
would carry that into the limits.

Nothing here imports Dask: :func:`_solve_on_cluster` takes a ``distributed.Client`` (the run's
engine opens it: :func:`credit_lab.run.compute.dask_client`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_lab.limits.optimizer.errors import SolverError
from credit_lab.limits.optimizer.pricing import _Core, _restricted_lp, _smooth_dual, _solve_level, _Tuning

__all__: list[str] = []  # reached through optimize_limits(client=...)

logger = logging.getLogger(__name__)


def _workers(client: Any) -> int:
    workers = len(client.scheduler_info().get("workers", {}))
    if not workers:
        raise SolverError("the Dask cluster has no workers to run the optimizer's passes on; start some "
                          "(dask worker ADDRESS) or use the local engine (compute.engine: local)")
    return workers


def _solve_on_cluster(client: Any, partitions: int | None, core: _Core, cap: np.ndarray, active: np.ndarray,
                     rng: np.random.Generator, pi0: np.ndarray | None, tuning: _Tuning, stats: list[dict]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~credit_lab.limits.optimizer.pricing._solve_level` with its whole-book phases on ``client``'s workers.

    ``partitions`` blocks of contiguous customers (default two per worker); the blocks are scattered
    when the first whole-book phase starts (a book small enough to solve directly never is) and
    released at the end.
    """
    book = _ClusterBook(client, core, partitions)
    try:
        return _solve_level(core, cap, active, rng, pi0, tuning, stats, 0, phases=(book.refine, book.sift))
    finally:
        book.close()


# ---------------------------------------------------------------------------
# On the workers: one block of customers
# ---------------------------------------------------------------------------

@dataclass(eq=False)
class _Block:
    """Customers ``first`` to ``first + core.n - 1`` of the book."""

    core: _Core
    first: int

    @property
    def offset(self) -> int:
        """Flat index in the book of the block's first piece."""
        return self.first * self.core.s.shape[1]


def _reduced(core: _Core, pi: np.ndarray) -> np.ndarray:
    return core.s - core.price(pi)[:, None]


def _fixed(block: _Block, pi0: np.ndarray, delta: float, extra: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The block's open pieces, reduced costs at ``pi0``, working set and pieces fixed at full width.

    The working set is the open pieces with ``|reduced cost| <= delta`` at ``pi0`` and ``extra`` (flat
    book indices, moved in since); every other open piece with a positive reduced cost at ``pi0`` is
    taken whole. That is :func:`~credit_lab.limits.optimizer.pricing._sift`'s ``work`` and ``take``
    after any number of rounds: pieces only ever move from fixed into the working set.
    """
    core = block.core
    open_ = core.w > 0
    d0 = _reduced(core, pi0)
    work = open_ & (np.abs(d0) <= delta)
    work.ravel()[extra - block.offset] = True
    return open_, d0, work, open_ & ~work & (d0 > 0)


def _taken(core: _Core, take: np.ndarray) -> np.ndarray:
    """Limit above the floor from the pieces taken whole, per customer (the local solver's sum, bit for bit)."""
    return (core.w * take).sum(axis=1)


def _smallest(core: _Core, d: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` smallest ``|d|`` of the block (closed pieces count as inf), sorted."""
    ad = np.where(core.w > 0, np.abs(d), np.inf).ravel()
    if count < ad.size:
        ad = np.partition(ad, count - 1)[:count]
    return np.sort(ad)


def _block_smallest(block: _Block, count: int, pi0: np.ndarray) -> np.ndarray:
    """The ``count`` smallest ``|reduced cost|`` at ``pi0`` of the block (closed pieces count as inf), sorted."""
    return _smallest(block.core, _reduced(block.core, pi0), count)


def _block_start(block: _Block, pi0: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The block's working set (flat book indices), per-customer limit from the fixed pieces, largest open |d|."""
    open_, d0, work, take = _fixed(block, pi0, delta, np.empty(0, dtype=np.intp))
    return (np.flatnonzero(work.ravel()) + block.offset, _taken(block.core, take),
            float(np.abs(d0[open_]).max(initial=0.0)))


def _block_move(block: _Block, extra: np.ndarray, pi0: np.ndarray, delta: float, over: np.ndarray, theta: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pieces taken whole in the overflowing rows with reduced cost <= ``theta``: into the working set
    (:func:`~credit_lab.limits.optimizer.pricing._fit_fixed`). Returns them, and the changed customers' limits."""
    core = block.core
    _, d0, _, take = _fixed(block, pi0, delta, extra)
    move = take & core.touches(over)[:, None] & (d0 <= theta)
    rows = np.flatnonzero(move.any(axis=1))
    return np.flatnonzero(move.ravel()) + block.offset, rows + block.first, _taken(core, take & ~move)[rows]


def _block_violations(block: _Block, extra: np.ndarray, count: int, pi0: np.ndarray, delta: float, pi: np.ndarray,
                      tol: float) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray | None]:
    """Fixed pieces whose reduced cost at ``pi`` has the wrong sign (beyond ``tol``), the largest such
    ``|reduced cost|``, the limits of their customers once they leave the fixed pieces, and (``count`` > 0)
    the ``count`` smallest ``|reduced cost|`` at ``pi``, for the next phase should it start at ``pi``."""
    core = block.core
    open_, _, work, take = _fixed(block, pi0, delta, extra)
    d = _reduced(core, pi)
    viol = ~work & open_ & np.where(take, d < -tol, d > tol)
    rows = np.flatnonzero(viol.any(axis=1))
    return (np.flatnonzero(viol.ravel()) + block.offset, float(np.abs(d[viol]).max(initial=0.0)),
            rows + block.first, _taken(core, take & ~viol)[rows], _smallest(core, d, count) if count else None)


# ---------------------------------------------------------------------------
# On the client: the phases, as in pricing.py
# ---------------------------------------------------------------------------

@dataclass(eq=False)
class _Phase:
    """The state of a refinement or sifting phase the client keeps: everything else is rebuilt per pass."""

    pi0: np.ndarray
    delta: float
    extra: np.ndarray
    work: np.ndarray
    taken: np.ndarray

    def absorb(self, pieces: np.ndarray, rows: np.ndarray, taken: np.ndarray) -> None:
        """``pieces`` join the working set; ``rows``' limits from the fixed pieces become ``taken``."""
        self.extra = np.union1d(self.extra, pieces)
        self.work = np.union1d(self.work, pieces)
        self.taken[rows] = taken


class _ClusterBook:
    """The book's customers in contiguous blocks on the workers, and the two whole-book phases over them."""

    def __init__(self, client: Any, core: _Core, partitions: int | None) -> None:
        self._client = client
        self._core = core
        self._partitions = partitions
        self._blocks: list[Any] | None = None
        #: (prices, each block's smallest |reduced cost| there) from the refinement's last pass, for the sifting
        self._ahead: tuple[np.ndarray, list[np.ndarray]] | None = None

    def close(self) -> None:
        if self._blocks is not None:
            self._client.cancel(self._blocks)
            self._blocks = None

    def _scatter(self) -> None:
        if self._blocks is not None:
            return
        core = self._core
        workers = _workers(self._client)  # before scattering: without workers it would wait for ever
        n_blocks = self._partitions or 2 * workers
        bounds = np.linspace(0, core.n, n_blocks + 1).round().astype(int)
        self._spans = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        self._pieces = np.array([(b - a) * core.s.shape[1] for a, b in self._spans], dtype=np.intp)
        self._piece_bounds = np.concatenate([[0], np.cumsum(self._pieces)])
        # Two sizes the phases need before any pass, cheaper here than a round trip.
        self._n_open = int(np.count_nonzero(core.w > 0))
        self._s_max = float(np.abs(core.s).max())
        blocks = [_Block(core.subset(slice(a, b)), a) for a, b in self._spans]
        self._blocks = self._client.scatter(blocks, hash=False)
        logger.info("optimizer: %d customers in %d blocks on the cluster", core.n, len(self._spans))

    def _map(self, func: Callable[..., Any], each: Sequence[tuple] | None, *args: Any,
             blocks: Sequence[int] | None = None) -> list[Any]:
        """``func(block, *each[i], *args)`` for the ``i``-th of ``blocks`` (default all), on the workers, in order."""
        keys = range(len(self._blocks)) if blocks is None else blocks
        futures = [self._client.submit(func, self._blocks[k], *(each[i] if each is not None else ()), *args,
                                       pure=False) for i, k in enumerate(keys)]
        return self._client.gather(futures)

    def _per_block(self, flat: np.ndarray) -> list[np.ndarray]:
        """Sorted flat book indices split by block."""
        cut = np.searchsorted(flat, self._piece_bounds)
        return [flat[a:b] for a, b in zip(cut[:-1], cut[1:])]

    def _asks(self, target: int) -> np.ndarray:
        """How many of its smallest values each block sends first: its share of ``target``, and a margin."""
        sizes = self._pieces
        return np.minimum(sizes, np.ceil(1.25 * (target + 1) * sizes / sizes.sum()).astype(np.intp) + 16)

    def _threshold(self, pi0: np.ndarray, target: int) -> float:
        """``pricing._split``'s radius: the ``target``-th smallest (from 0) open ``|reduced cost|`` at ``pi0``.

        Each block sends its smallest values (:meth:`_asks`, or they came ahead with the refinement's last
        pass); a block whose largest sent value is below the candidate may hold smaller unsent ones and is
        asked for twice as many.
        """
        sizes = self._pieces
        ask = self._asks(target)
        got: list[np.ndarray] = [np.empty(0)] * len(sizes)
        pending = list(range(len(sizes)))
        if self._ahead is not None and self._ahead[0] is pi0:
            got, pending = list(self._ahead[1]), []
        self._ahead = None
        while True:
            if pending:
                counts = [(int(ask[k]),) for k in pending]
                for k, values in zip(pending, self._map(_block_smallest, counts, pi0, blocks=pending)):
                    got[k] = values
            sent = np.concatenate(got)
            short = [k for k in range(len(sizes)) if got[k].size < sizes[k]]
            # target < open pieces <= all pieces: once every block has sent all it has, the first branch holds
            if sent.size > target:
                value = float(np.partition(sent, target)[target])
                # a block's unsent values are >= its largest sent one: only one below the candidate can undercut it
                pending = [k for k in short if got[k][-1] < value]
                if not pending:
                    return value
            else:
                pending = short
            ask[pending] = np.minimum(sizes[pending], 2 * ask[pending])

    def _start(self, pi0: np.ndarray, target: int) -> tuple[_Phase, float]:
        """``pricing._split`` at ``pi0`` and the pieces fixed by it: the phase's state and its radius."""
        delta = math.inf if target >= self._n_open else self._threshold(pi0, target)
        parts = self._map(_block_start, None, pi0, delta)
        phase = _Phase(pi0=pi0, delta=delta, extra=np.empty(0, dtype=np.intp),
                       work=np.concatenate([p[0] for p in parts]), taken=np.concatenate([p[1] for p in parts]))
        radius = max(p[2] for p in parts) if math.isinf(delta) else delta
        return phase, radius

    def _fixed_args(self, phase: _Phase) -> list[tuple[np.ndarray]]:
        return [(e,) for e in self._per_block(phase.extra)]

    def _fit_fixed(self, phase: _Phase, cap: np.ndarray, active: np.ndarray, theta: float) -> np.ndarray:
        """``pricing._fit_fixed``: move pieces from fixed into the working set until the fixed ones fit."""
        used = self._core.usage(phase.taken)
        while True:
            over = active & (used > cap)
            if not over.any():
                return used
            theta *= 2.0
            parts = self._map(_block_move, self._fixed_args(phase), phase.pi0, phase.delta, over, theta)
            phase.absorb(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
            used = self._core.usage(phase.taken)

    def _violations(self, phase: _Phase, pi: np.ndarray, tol: float, next_target: int | None = None
                    ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """Violations at ``pi`` (:func:`_block_violations`); with ``next_target``, each block also sends its
        smallest ``|reduced cost|`` at ``pi``, kept for a phase that starts there with that target."""
        ahead = next_target is not None and next_target < self._n_open
        asks = self._asks(next_target) if ahead else np.zeros(len(self._spans), dtype=np.intp)
        each = [(e, int(a)) for e, a in zip(self._per_block(phase.extra), asks)]
        parts = self._map(_block_violations, each, phase.pi0, phase.delta, pi, tol)
        self._ahead = (pi, [p[4] for p in parts]) if ahead else None
        return (np.concatenate([p[0] for p in parts]), max(p[1] for p in parts),
                np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))

    def _sift_target(self, tuning: _Tuning) -> int:
        return max(tuning.target_min, int(tuning.target_factor * math.sqrt(self._n_open)))

    def refine(self, core: _Core, cap: np.ndarray, active: np.ndarray, pi0: np.ndarray, tuning: _Tuning,
               stats: list[dict], depth: int) -> np.ndarray:
        """:func:`~credit_lab.limits.optimizer.pricing._refine_prices` over the blocks."""
        self._scatter()
        target = max(tuning.band_min, int(tuning.band_factor * math.sqrt(self._n_open)))
        phase, radius = self._start(pi0, target)
        scale = max(1.0, self._s_max)
        used = self._fit_fixed(phase, cap, active, max(radius, 1e-9 * scale))
        pi = pi0
        tau0 = radius / 8.0
        for rnd in range(1, tuning.refine_rounds + 1):
            idx = phase.work
            pi_new, steps = _smooth_dual(core, idx, cap - used, active, pi, max(tau0, tuning.tau_end),
                                         4.0 * max(radius, 1e-9 * scale), tuning)
            if not np.all(np.isfinite(pi_new)):
                return pi
            pi = pi_new
            # The sifting starts where this pass may end: its working-set threshold comes along.
            viol, worst, rows, taken = self._violations(phase, pi, 0.0, self._sift_target(tuning))
            stats.append({"depth": depth, "customers": core.n, "phase": "refine", "round": rnd,
                          "working_pieces": int(idx.size), "newton_steps": steps, "violations": int(viol.size)})
            if viol.size <= tuning.target_min // 4:
                return pi
            tau0 = worst / 4.0
            phase.absorb(viol, rows, taken)
            used = core.usage(phase.taken)
        return pi

    def sift(self, core: _Core, cap: np.ndarray, active: np.ndarray, pi0: np.ndarray, tuning: _Tuning,
             stats: list[dict], depth: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`~credit_lab.limits.optimizer.pricing._sift` over the blocks."""
        self._scatter()
        if self._n_open == 0:
            return np.zeros_like(core.s), np.zeros(cap.shape[0])
        tol = 1e-9 * max(1.0, self._s_max)
        phase, delta = self._start(pi0, self._sift_target(tuning))
        used = self._fit_fixed(phase, cap, active, max(delta, tol))
        for rnd in range(1, tuning.max_rounds + 1):
            idx = phase.work
            x_w, pi = _restricted_lp(core, idx, cap - used, active)
            viol, _, rows, taken = self._violations(phase, pi, tol)
            stats.append({"depth": depth, "customers": core.n, "phase": "exact", "round": rnd,
                          "working_pieces": int(idx.size), "violations": int(viol.size)})
            if viol.size == 0:
                # The result is assembled here, where the book is: the fixed pieces rebuilt as on a block.
                _, _, _, take = _fixed(_Block(core, 0), phase.pi0, phase.delta, phase.extra)
                x = core.w * take
                x.ravel()[idx] = x_w
                return x, pi
            phase.absorb(viol, rows, taken)
            used = core.usage(phase.taken)
        raise SolverError(f"sifting did not converge in {tuning.max_rounds} rounds ({core.n} customers); "
                          f"this indicates numerical trouble - use solve_with_highs on this instance.")
