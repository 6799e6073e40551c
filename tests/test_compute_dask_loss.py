"""The loss distribution on Dask (compute.engine: dask): the per-obligor loops of ``fast_loss`` on blocks of
the book on a 2-worker LocalCluster give the local result bit for bit, and stage 06 writes the local files."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.compute_params import ComputeParams
from credit_lab.risk.loss_distribution import LossModelError, LossPortfolio, fast_loss, fast_loss_distributed
from credit_lab.risk.loss_distribution.kernels import (
    _fill_series,
    _fill_series_from,
    _group_stats,
    _group_stats_from,
)
from credit_lab.run import stages
from credit_lab.run.compute import dask_client
from credit_lab.run.stages.catalog import CATALOG
from tests.conftest import local_and_dask_upstream

pytestmark = pytest.mark.e2e  # a cluster of worker processes

#: diagnostics that are timings, name the engine, or (additivity_residual, one total over all groups
#: and scenarios) are added in another order on the blocks
_NOT_COMPARED = ("engine", "blocks", "workers", "additivity_residual")


@pytest.fixture(scope="module")
def client():
    """One 2-worker LocalCluster for the module."""
    with dask_client(ComputeParams(engine="dask", n_workers=2)) as c:
        yield c


def _book(n: int, seed: int, n_sectors: int = 4, lgd_std: float | None = None) -> LossPortfolio:
    """Several sectors (one correlated factor each), PDs and exposures rounded so that obligors merge into
    groups, 5 % of PDs between 30 % and 90 % (names near p = 1/2 in the tail scenarios: mixed exactly
    or sampled), a few large names and a few without exposure."""
    rng = np.random.default_rng(seed)
    sector = rng.integers(0, n_sectors, n)
    pd_ = np.clip(np.round(np.exp(rng.normal(math.log(0.02), 1.0, n)), 3), 0.001, 0.3)
    pd_[: n // 20] = np.round(rng.uniform(0.3, 0.9, n // 20), 3)
    exposure = np.round(rng.lognormal(math.log(20_000), 1.5, n), -3)
    exposure[:5] = 0.0
    exposure[5:8] *= 200
    corr = np.full((n_sectors, n_sectors), 0.4)
    np.fill_diagonal(corr, 1.0)
    return LossPortfolio.from_arrays(pd_, exposure, 0.45, sector, corr, sector_rho=np.linspace(0.1, 0.25, n_sectors),
                                     lgd_std=lgd_std, obligor_id=[f"C{i:05d}" for i in range(n)],
                                     sector_names=[f"S{i}" for i in range(n_sectors)])


def _assert_same(local, remote) -> None:
    assert remote.var == local.var
    assert remote.es == local.es
    pd.testing.assert_frame_equal(remote.error, local.error, check_exact=True)
    pd.testing.assert_series_equal(remote.quantiles, local.quantiles, check_exact=True)
    for name in ("obligor_contributions", "sector_contributions"):
        a, b = getattr(local, name), getattr(remote, name)
        assert (a is None) == (b is None), name
        if a is not None:
            pd.testing.assert_frame_equal(b, a, check_exact=True)
    keys = {k for k in local.diagnostics if not k.startswith("time") and k not in _NOT_COMPARED}
    assert {k: remote.diagnostics[k] for k in keys} == {k: local.diagnostics[k] for k in keys}


def test_blocks_chained_give_the_sums_of_one_pass():
    """The mechanism: groups split in blocks, each block continuing the previous block's sums, add up to
    the one-pass sums bit for bit (where partial sums added at the end would not)."""
    rng = np.random.default_rng(0)
    n_cells, ng, M = 300, 5000, 4096
    p_cell = rng.uniform(0.0, 0.95, n_cells)
    g_cell = np.sort(rng.integers(0, n_cells, ng))
    g_k = rng.integers(0, 300, ng)
    g_n = rng.integers(1, 4, ng)
    gp, mode = np.empty(ng), np.empty(ng, dtype=np.int64)
    whole = _group_stats(p_cell, g_cell, g_k, g_n, 0.7, gp, mode)
    lam = np.empty(M)
    det, tail = _fill_series(gp, g_k, g_n, mode, M, 1e-14, lam)
    sums = (0.0, 0.0, 0.0, 0, 0)
    lam_b, det_b, tail_b = np.zeros(M), 0, 0.0
    partial = np.zeros(M)
    for a, b in ((0, 1234), (1234, 1235), (1235, 4000), (4000, ng)):
        gp_b, mode_b = np.empty(b - a), np.empty(b - a, dtype=np.int64)
        sums = _group_stats_from(p_cell, g_cell[a:b], g_k[a:b], g_n[a:b], 0.7, gp_b, mode_b, *sums)
        det_b, tail_b = _fill_series_from(gp_b, g_k[a:b], g_n[a:b], mode_b, M, 1e-14, lam_b, det_b, tail_b)
        own = np.zeros(M)
        _fill_series_from(gp_b, g_k[a:b], g_n[a:b], mode_b, M, 1e-14, own, 0, 0.0)
        partial += own
    assert tuple(sums) == tuple(whole)
    assert det_b == det and tail_b == tail
    assert np.array_equal(lam_b, lam)
    assert not np.array_equal(partial, lam)  # why the blocks pass their sums on


def test_loss_on_the_cluster_equals_the_local_one_with_contributions(client):
    pf = _book(3000, 1)
    local = fast_loss(pf, seed=3, n_scenarios=128)
    remote = fast_loss_distributed(pf, client, seed=3, n_scenarios=128)
    assert remote.diagnostics["engine"] == "dask" and remote.diagnostics["blocks"] == 2
    assert remote.diagnostics["workers"] == 2
    _assert_same(local, remote)
    assert len(remote.obligor_contributions) == 3000
    assert abs(remote.obligor_contributions["es_99.9"].sum() / remote.es[0.999] - 1) < 1e-9


def test_loss_on_the_cluster_equals_the_local_one_without_contributions(client):
    """Three blocks on two workers, another seed and other levels; one sector's portfolio too."""
    for pf, seed in ((_book(2500, 2, n_sectors=5), 4), (_book(1500, 7, n_sectors=1), 2)):
        local = fast_loss(pf, seed=seed, levels=(0.99, 0.999), n_scenarios=128, contributions=False)
        remote = fast_loss_distributed(pf, client, partitions=3, seed=seed, levels=(0.99, 0.999), n_scenarios=128,
                                       contributions=False)
        assert remote.diagnostics["blocks"] == 3 and remote.obligor_contributions is None
        _assert_same(local, remote)


def test_the_blocks_run_on_both_workers(client):
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        fast_loss_distributed(_book(1000, 3), client, seed=1, n_scenarios=16, contributions=False)
    workers = {rec["worker"] for rec in stream.data if str(rec["key"]).startswith("_block_series")}
    assert len(workers) == 2


def test_a_beta_lgd_book_runs_locally_and_says_so(client):
    pf = _book(800, 5, lgd_std=0.2)
    remote = fast_loss_distributed(pf, client, seed=1, n_scenarios=32)
    assert remote.diagnostics["engine"].startswith("local")
    _assert_same(fast_loss(pf, seed=1, n_scenarios=32), remote)


def test_bad_arguments_are_refused(client):
    pf = _book(200, 6)
    with pytest.raises(LossModelError, match="partitions = 0"):
        fast_loss_distributed(pf, client, partitions=0)
    with pytest.raises(TypeError, match="n_scenario"):
        fast_loss_distributed(pf, client, n_scenario=64)


def _digests(run: Path, names) -> dict[str, str]:
    return {n: hashlib.sha256((run / n).read_bytes()).hexdigest() for n in names if (run / n).exists()}


def test_stage_06_on_the_cluster_writes_the_local_files(tmp_path, client):
    local, local_params, dask_params = local_and_dask_upstream(tmp_path, client.scheduler.address, 300)
    remote = tmp_path / "remote"
    shutil.copytree(local, remote)
    outputs = CATALOG["06_risk_reserve"].outputs
    local_result = stages.STAGES["06_risk_reserve"][1](stages.open_stage("06_risk_reserve", local, local_params))
    remote_result = stages.STAGES["06_risk_reserve"][1](stages.open_stage("06_risk_reserve", remote, dask_params,
                                                                          build_missing_upstream=False))
    assert remote_result.loss.diagnostics["engine"] == "dask"
    assert "engine" not in local_result.loss.diagnostics
    written = _digests(local, outputs)
    assert {"data/loss_distribution.parquet", "data/risk_contributions_customer.parquet",
            "data/reserve_summary.json", "data/stress_tests.parquet"} <= set(written)
    assert _digests(remote, outputs) == written
    assert remote_result.totals["reserve_recommended"] == local_result.totals["reserve_recommended"] > 0
