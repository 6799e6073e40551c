"""The Dask engine (compute.engine: dask): the per-customer stages on a 2-worker LocalCluster write the very
files the local engine writes."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_lab.core.compute_params import ComputeParams
from credit_lab.data.synthetic import generate_ledger
from credit_lab.run import stages
from credit_lab.run.compute import (
    ENV_SCHEDULER,
    dask_client,
    in_local_order,
    map_partitions,
    partition_tables,
    read_partition,
    write_partitions,
)
from credit_lab.run.pipeline import _run_cluster

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e  # a cluster of worker processes


@pytest.fixture(scope="module")
def cluster_address():
    """One 2-worker LocalCluster for the module: the runs below point at it as at an existing cluster."""
    with dask_client(ComputeParams(engine="dask", n_workers=2)) as client:
        yield client.scheduler.address


@pytest.fixture(scope="module")
def ledger_tables():
    led = generate_ledger(n_customers=500, n_months=30, seed=4)
    return {"customers": led.customers, "invoices": led.invoices, "financials": led.financials,
            "defaults": led.defaults, "industry_outlook": led.industry_outlook}


def test_every_row_lands_in_one_partition_and_the_outlook_in_all(ledger_tables):
    parts = partition_tables(ledger_tables, 3)
    for name in ("customers", "invoices", "financials", "defaults"):
        assert sum(len(p[name]) for p in parts) == len(ledger_tables[name])
        ids = [set(p["customers"]["customer_id"]) for p in parts]
        for p, own in zip(parts, ids):
            assert set(p[name]["customer_id"]) <= own
    assert all(p["industry_outlook"] is ledger_tables["industry_outlook"] for p in parts)
    assert not set.intersection(*[set(p["customers"]["customer_id"]) for p in parts])


def test_local_engine_calls_the_function_once_on_the_whole_input(ledger_tables):
    calls = []
    out = map_partitions(ComputeParams(), lambda t, k: calls.append(k) or len(t["invoices"]), lambda n: 1 / 0,
                         ledger_tables, "x")
    assert out == [len(ledger_tables["invoices"])] and calls == ["x"]


def test_rows_come_back_in_the_local_order():
    order = pd.Index(["c", "a", "b"])
    stacked = pd.DataFrame({"snapshot_date": pd.to_datetime(["2024-02-01", "2024-01-01", "2024-01-01", "2024-02-01"]),
                            "v": [1, 2, 3, 4]}, index=pd.Index(["a", "b", "c", "c"], name="customer_id"))
    back = in_local_order(stacked, order, "snapshot_date")
    assert list(back.index) == ["c", "b", "c", "a"] and list(back["v"]) == [3, 2, 4, 1]


def test_features_on_the_cluster_equal_the_local_ones(ledger_tables, cluster_address):
    from credit_lab.core.config import params_from_dict
    from credit_lab.run.stages.s02_features import _current_and_training_set

    class Ctx:
        def __init__(self, compute):
            self.params = params_from_dict({"compute": compute})

    as_of = pd.Timestamp("2025-07-01")
    local = _current_and_training_set(Ctx({}), ledger_tables, as_of, 90, True)
    remote = _current_and_training_set(Ctx({"engine": "dask", "scheduler_address": cluster_address,
                                            "partitions": 3}), ledger_tables, as_of, 90, True)
    pd.testing.assert_frame_equal(local[0], remote[0])
    pd.testing.assert_frame_equal(local[1], remote[1])


def test_a_partition_read_back_from_its_parquet_folder_is_the_partition(ledger_tables, tmp_path):
    parts = partition_tables(ledger_tables, 3)
    folders = write_partitions(parts, tmp_path / "parts")
    assert [f.name for f in folders] == ["part-00000", "part-00001", "part-00002"]
    for part, folder in zip(parts, folders, strict=True):
        back = read_partition(folder)
        assert sorted(back) == sorted(part)
        for name, frame in part.items():
            pd.testing.assert_frame_equal(back[name], frame)


def test_features_from_partition_files_on_the_cluster_equal_the_local_ones(ledger_tables, cluster_address, tmp_path):
    from credit_lab.core.config import params_from_dict
    from credit_lab.run.stages.s02_features import _current_and_training_set

    class Ctx:
        def __init__(self, compute):
            self.params = params_from_dict({"compute": compute})

    as_of = pd.Timestamp("2025-07-01")
    local = _current_and_training_set(Ctx({}), ledger_tables, as_of, 90, True)
    shared = tmp_path / "shared"
    shared.mkdir()
    remote = _current_and_training_set(Ctx({"engine": "dask", "scheduler_address": cluster_address, "partitions": 3,
                                            "partition_folder": str(shared)}), ledger_tables, as_of, 90, True)
    pd.testing.assert_frame_equal(local[0], remote[0])
    pd.testing.assert_frame_equal(local[1], remote[1])
    assert not any(shared.iterdir())  # the partitions' folder is gone with the call


def _digests(run: Path, names) -> dict[str, str]:
    return {n: hashlib.sha256((run / "data" / n).read_bytes()).hexdigest() for n in names}


def test_stages_02_and_04_on_the_cluster_write_the_local_files(tmp_path, cluster_address):
    raw = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text())
    raw["data"]["synthetic"]["n_customers"] = 400
    local_params = tmp_path / "local.yaml"
    local_params.write_text(yaml.safe_dump(raw))
    # the stages read their partitions from shared storage here (the features test above ships them)
    (tmp_path / "shared").mkdir()
    raw["compute"] = {"engine": "dask", "scheduler_address": cluster_address, "partitions": 4,
                      "partition_folder": str(tmp_path / "shared")}
    dask_params = tmp_path / "dask.yaml"
    dask_params.write_text(yaml.safe_dump(raw))
    local = tmp_path / "local"
    for stage in ("01_data_quality", "02_features", "03_model", "04_scoring_explain"):
        stages.STAGES[stage][1](stages.open_stage(stage, local, local_params))
    remote = tmp_path / "remote"
    shutil.copytree(local, remote)
    written = {"02_features": ["features_current.parquet", "features_train.parquet"],
               "04_scoring_explain": ["scores.parquet", "shap_values.parquet", "explain.json"]}
    for stage, names in written.items():
        for n in names:
            (remote / "data" / n).unlink()
        stages.STAGES[stage][1](stages.open_stage(stage, remote, dask_params, build_missing_upstream=False))
        assert _digests(remote, names) == _digests(local, names), stage
    scores = pd.read_parquet(remote / "data" / "scores.parquet")
    assert len(scores) > 300 and np.isfinite(scores["pd"]).all()
    assert not any((tmp_path / "shared").iterdir())


def test_a_run_without_a_scheduler_starts_its_own_cluster_and_stops_it():
    assert ENV_SCHEDULER not in os.environ
    before = dict(os.environ)
    with _run_cluster(ComputeParams(engine="dask", n_workers=1)):
        address = os.environ[ENV_SCHEDULER]
        # the stage kernels inherit this environment: no thread limits meant for the workers
        assert {k: v for k, v in os.environ.items() if k != ENV_SCHEDULER} == before
        with dask_client(ComputeParams(engine="dask")) as client:  # what a stage kernel does
            assert client.scheduler.address == address
            assert client.submit(sum, [1, 2]).result() == 3
    assert ENV_SCHEDULER not in os.environ
    with _run_cluster(ComputeParams()):  # local engine: no cluster
        assert ENV_SCHEDULER not in os.environ
