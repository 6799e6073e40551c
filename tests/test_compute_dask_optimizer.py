"""The limits optimizer on Dask (``optimize_limits(client=...)``, stage 05 on ``compute.engine: dask``): the
whole-book passes run on blocks of customers on a 2-worker LocalCluster and the optimum is the local one, bit
for bit: limits, prices, objective, what decided each limit and the sifting log."""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_lab.core.compute_params import ComputeParams
from credit_lab.limits.optimizer import (
    OptimizationInputError,
    SolverError,
    build_problem,
    optimize_limits,
    solve_with_highs,
    synthetic_limit_inputs,
)
from credit_lab.limits.optimizer.pricing import _core_of, _split, _Tuning
from credit_lab.run import stages
from credit_lab.run.compute import dask_client
from tests.conftest import local_and_dask_upstream

DISTRIBUTED = "credit_lab.limits.optimizer.distributed"

# As in tests/test_optimize.py: small working sets so a few thousand customers take several rounds.
FAST_PATH = {"base_customers": 60, "band_min": 150, "band_factor": 10.0, "target_min": 40}
SIFT_ONLY = {"base_customers": 50, "refine_rounds": 0, "target_min": 20, "target_factor": 0.2}


@pytest.fixture(scope="module")
def client():
    """One 2-worker LocalCluster for the module."""
    with dask_client(ComputeParams(engine="dask", n_workers=2)) as dask:
        yield dask


@pytest.fixture(scope="module")
def binding_book():
    customers, policy = synthetic_limit_inputs(3000, seed=5, tightness=0.5)
    return build_problem(customers, policy)


def _assert_same_optimum(local, remote) -> None:
    np.testing.assert_array_equal(remote.limits, local.limits)
    np.testing.assert_array_equal(remote.prices, local.prices)
    assert remote.objective == local.objective and remote.dual_bound == local.dual_bound
    np.testing.assert_array_equal(remote.decided_by_constraint, local.decided_by_constraint)
    pd.testing.assert_frame_equal(remote.constraints, local.constraints)
    assert remote.stats == local.stats  # the same path: every phase, round, working set and violation count


def _assert_matches_highs(problem, result) -> None:
    ref = solve_with_highs(problem)
    assert abs(result.objective - ref.objective) <= 1e-7 * max(1.0, abs(ref.objective))
    np.testing.assert_allclose(result.limits, ref.limits, rtol=1e-6, atol=1e-3 * float(np.median(problem.upper)))
    assert result.duality_gap <= 1e-9


class _Done:
    def __init__(self, value):
        self.value = value


class _InProcessClient:
    """The four calls the optimizer makes of a ``distributed.Client``, run here at once (counted by task)."""

    def __init__(self, workers: int = 2):
        self.workers = workers
        self.tasks: Counter = Counter()
        self.scattered = 0

    def scheduler_info(self):
        return {"workers": {f"w{i}": {} for i in range(self.workers)}}

    def scatter(self, data, hash=True):
        self.scattered += len(data)
        return [_Done(d) for d in data]

    def submit(self, func, *args, pure=True):
        self.tasks[func.__name__] += 1
        return _Done(func(*(a.value if isinstance(a, _Done) else a for a in args)))

    def gather(self, futures):
        return [f.value for f in futures]

    def cancel(self, futures):
        pass


# ---------------------------------------------------------------------------
# optimize_limits on the cluster
# ---------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("tuning", [None, FAST_PATH, SIFT_ONLY], ids=["default", "fast-path", "sift-only"])
def test_cluster_solve_is_the_local_solve_with_binding_rows(client, binding_book, tuning, caplog):
    caplog.set_level(logging.INFO, logger=DISTRIBUTED)
    local = optimize_limits(binding_book, seed=3, tuning=tuning)
    remote = optimize_limits(binding_book, seed=3, tuning=tuning, client=client, partitions=3)
    assert "3000 customers in 3 blocks on the cluster" in caplog.text
    assert remote.solver.endswith("(dask)")
    _assert_same_optimum(local, remote)
    kinds = set(remote.binding["kind"])
    assert {"el_budget", "industry_cap", "region_cap"} <= kinds, "the budget and concentration rows are meant to bind"
    assert (remote.binding["shadow_price"] > 0).sum() >= 3
    _assert_matches_highs(binding_book, remote)


@pytest.mark.e2e
@pytest.mark.parametrize("partitions", [None, 1, 7])
def test_any_number_of_blocks_gives_the_same_optimum(client, partitions):
    problem = build_problem(*synthetic_limit_inputs(4000, seed=8, tightness=0.3))
    local = optimize_limits(problem, seed=1, tuning=FAST_PATH)
    _assert_same_optimum(local, optimize_limits(problem, seed=1, tuning=FAST_PATH, client=client,
                                                partitions=partitions))


@pytest.mark.e2e
def test_warm_start_on_the_cluster(client, binding_book):
    prices = optimize_limits(binding_book.with_budgets(el_budget=0.9 * binding_book.rhs[0]), seed=2).prices
    local = optimize_limits(binding_book, seed=2, initial_prices=prices)
    _assert_same_optimum(local, optimize_limits(binding_book, seed=2, initial_prices=prices, client=client))


@pytest.mark.e2e
def test_no_binding_row_prices_nothing_on_the_cluster_either(client, binding_book):
    free_use = binding_book.usage(binding_book.profit_optimum)
    ni = len(binding_book.industry_names)
    loose = binding_book.with_budgets(
        el_budget=2.0 * free_use[0], exposure_budget=2.0 * free_use[1],
        industry_caps={n: 2.0 * free_use[2 + i] for i, n in enumerate(binding_book.industry_names)},
        region_caps={n: 2.0 * free_use[2 + ni + i] for i, n in enumerate(binding_book.region_names)})
    assert np.isfinite(loose.rhs).all()
    local = optimize_limits(loose, seed=4)
    remote = optimize_limits(loose, seed=4, client=client)
    _assert_same_optimum(local, remote)
    assert not remote.prices.any() and remote.binding.empty
    np.testing.assert_allclose(remote.limits, np.clip(loose.profit_optimum, loose.lower, loose.upper), rtol=1e-9)
    _assert_matches_highs(loose, remote)
    # No coupling row at all: nothing to price, the cluster is not asked.
    none = binding_book.with_budgets(el_budget=math.inf, exposure_budget=math.inf, industry_caps={}, region_caps={})
    _assert_same_optimum(optimize_limits(none), optimize_limits(none, client=client))


@pytest.mark.e2e
def test_a_book_small_enough_to_solve_directly_stays_on_the_client(client, caplog):
    caplog.set_level(logging.INFO, logger=DISTRIBUTED)
    problem = build_problem(*synthetic_limit_inputs(800, seed=2))
    _assert_same_optimum(optimize_limits(problem), optimize_limits(problem, client=client))
    assert "on the cluster" not in caplog.text


# ---------------------------------------------------------------------------
# The passes' bookkeeping, without a cluster
# ---------------------------------------------------------------------------

def test_blocks_are_scattered_once_and_each_pass_is_one_task_per_block(binding_book):
    fake = _InProcessClient(workers=3)
    remote = optimize_limits(binding_book, seed=3, tuning=FAST_PATH, client=fake)
    _assert_same_optimum(optimize_limits(binding_book, seed=3, tuning=FAST_PATH), remote)
    assert fake.scattered == 6  # two blocks per worker, once for the whole solve
    at_depth0 = [s for s in remote.stats if s["depth"] == 0]
    # one violations pass per round of each phase; the sifting's threshold came with the refinement's last pass
    assert fake.tasks["_block_violations"] == 6 * len(at_depth0)
    assert fake.tasks["_block_start"] == 6 * 2
    assert fake.tasks["_block_smallest"] == 6


def test_the_threshold_is_exact_when_one_block_holds_the_near_ties(binding_book):
    """Customers ordered by how close their pieces are to the margin: the first block holds all the near
    ties, sends too few at first and is asked again until the working set's radius is the local one."""
    local = optimize_limits(binding_book, seed=3)
    core = _core_of(binding_book)
    d = core.s - core.price(local.prices)[:, None]
    closest = np.where(core.w > 0, np.abs(d), np.inf).min(axis=1)
    order = np.argsort(closest, kind="stable")
    customers, policy = synthetic_limit_inputs(3000, seed=5, tightness=0.5)
    skewed = build_problem(customers.iloc[order], policy)
    fake = _InProcessClient(workers=2)
    remote = optimize_limits(skewed, seed=3, client=fake)
    _assert_same_optimum(optimize_limits(skewed, seed=3), remote)
    assert fake.tasks["_block_smallest"] > 4, "the block of near ties is asked for more"
    # and the radius itself, against pricing._split at the optimal prices, for several targets
    from credit_lab.limits.optimizer.distributed import _ClusterBook

    sk = _core_of(skewed)
    book = _ClusterBook(fake, sk, 4)
    book._scatter()
    d_sk = sk.s - sk.price(local.prices)[:, None]
    for target in (1, 50, 400, 3000, int(np.count_nonzero(sk.w > 0)) - 1):
        assert book._threshold(local.prices, target) == _split(d_sk, sk.w > 0, target)[1]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(60, 1500), tightness=st.sampled_from([0.0, 0.2, 0.6, 1.0, 1.4]),
       workers=st.integers(1, 5), partitions=st.sampled_from([None, 1, 3, 16]),
       tuning=st.sampled_from([FAST_PATH, SIFT_ONLY]))
def test_blocks_give_the_local_optimum_bit_for_bit(seed, n, tightness, workers, partitions, tuning):
    problem = build_problem(*synthetic_limit_inputs(n, seed=seed, tightness=tightness, n_industries=4, n_regions=3))
    _assert_same_optimum(optimize_limits(problem, seed=seed, tuning=tuning),
                         optimize_limits(problem, seed=seed, tuning=tuning, client=_InProcessClient(workers),
                                         partitions=partitions))


def test_a_cluster_without_workers_is_named_not_waited_for(binding_book):
    with pytest.raises(SolverError, match="no workers"):
        optimize_limits(binding_book, client=_InProcessClient(workers=0), partitions=2)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "4"])
def test_partitions_must_be_a_whole_number_of_blocks(binding_book, bad):
    with pytest.raises(OptimizationInputError, match=r"partitions = .*expected a whole number >= 1"):
        optimize_limits(binding_book, client=_InProcessClient(), partitions=bad)


# ---------------------------------------------------------------------------
# Stage 05 on the Dask engine
# ---------------------------------------------------------------------------

def _digests(run: Path, names) -> dict[str, str]:
    return {n: hashlib.sha256((run / "data" / n).read_bytes()).hexdigest() for n in names}


@pytest.mark.e2e
def test_stage_05_on_the_cluster_writes_the_local_decision_tables(tmp_path, client, caplog):
    # ~1,100 customers with a purchase need: more than the optimizer solves directly
    local, _, dask_params = local_and_dask_upstream(tmp_path, client.scheduler.address, 1200, {"partitions": 3})
    remote = tmp_path / "remote"
    shutil.copytree(local, remote)
    written = ["limits.parquet", "limits.csv", "limit_constraints.parquet", "efficient_frontier.parquet",
               "decision_log.parquet", "limits_notes.json", "watchlist.parquet", "review_calendar.parquet"]
    for n in written:
        (remote / "data" / n).unlink()
    caplog.set_level(logging.INFO, logger=DISTRIBUTED)
    stages.STAGES["05_limits"][1](stages.open_stage("05_limits", remote, dask_params, build_missing_upstream=False))
    assert _digests(remote, written) == _digests(local, written)
    solves = [r.getMessage() for r in caplog.records if r.name == DISTRIBUTED]
    # the book's solve, the frontier's unconstrained solve and its points, each on the cluster
    assert len(solves) >= 2 + yaml.safe_load(dask_params.read_text()).get("limits", {}).get("frontier_points", 9)
    n_customers = int(solves[0].split()[1])
    assert n_customers > _Tuning().base_customers and solves[0].endswith("in 3 blocks on the cluster")
    limits = pd.read_parquet(remote / "data" / "limits.parquet")
    assert len(limits) > 1000 and (limits["decided_by"] != "profit_optimum").any()
