"""Runs that are killed, started twice, tampered with, or cannot write: earlier runs survive."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from credit_lab.core.exceptions import OutputFolderError
from credit_lab.data import io
from credit_lab.run import pipeline, signing
from credit_lab.run.store import compare_runs, verification
from tests.conftest import HOSTILE_ID, ROOT, cli

SMOKE = ROOT / "params" / "smoke.yaml"

pytestmark = pytest.mark.e2e  # runs of the CLI and the pipeline, and their run folders


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture()
def outputs_copy(smoke_run, tmp_path):
    """A private copy of the smoke run's output folder (run folder, runs.jsonl, latest)."""
    run_dir, _ = smoke_run
    out = tmp_path / "out"
    shutil.copytree(run_dir.parent, out, symlinks=True)
    return out


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, f"run ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear in {seconds} s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def killed_then_two_runs(smoke_run, tmp_path_factory):
    """A copy of the smoke run's outputs after a run killed mid-stage and then two runs at once.

    One sequence of CLI runs read by two tests (a full smoke run costs about a minute): the second
    of the two runs at once is a rerun from the smoke run folder's own params.yaml.
    """
    run_dir, _ = smoke_run
    out = tmp_path_factory.mktemp("killed") / "out"
    shutil.copytree(run_dir.parent, out, symlinks=True)
    seen = {"good_before": _snapshot(out / "smoke")}
    runner = [sys.executable, "-m", "credit_lab.run.cli", "run", str(SMOKE), "--output-dir", str(out)]
    first = subprocess.Popen(runner, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(out / ".staging" / "smoke" / "notebooks" / "02_features.ipynb", first)
        # the same run id a second time, while the first runs
        seen["second"] = cli("run", SMOKE, "--output-dir", out)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # kill -9 the run and its kernel mid-stage
        first.wait()
    seen["after_kill"] = _snapshot(out / "smoke")
    seen["latest"] = os.readlink(out / "latest")
    seen["staging_status"] = io.read_json(out / ".staging" / "smoke" / "manifest.json")["status"]

    # two runs with different ids at once; "beta" reruns the smoke run from its folder's params, "alpha"
    # reruns it from the same params file, signed with a key kept outside the output folder
    sources = {"alpha": SMOKE, "beta": out / "smoke" / "params.yaml"}
    private, public, _ = signing.keygen(out.parent / "keys")
    seen["public_key"] = public
    env = {"alpha": {**os.environ, signing.ENV_SIGNING_KEY: str(private)}, "beta": dict(os.environ)}
    env["beta"].pop(signing.ENV_SIGNING_KEY, None)
    procs = {rid: subprocess.Popen([sys.executable, "-m", "credit_lab.run.cli", "run", str(src), "--output-dir",
                                    str(out), "--run-id", rid], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=env[rid])
             for rid, src in sources.items()}
    seen["concurrent"] = {}
    for rid, p in procs.items():
        stdout, stderr = p.communicate(timeout=600)
        seen["concurrent"][rid] = (p.returncode, stdout.decode() + stderr.decode())
    return out, seen


def test_kill_mid_stage_and_concurrent_runs(killed_then_two_runs):
    out, seen = killed_then_two_runs
    good_before = seen["good_before"]
    # the same run id a second time, while the first runs: refused with a clear message
    second = seen["second"]
    assert second.returncode == 5 and "in progress" in second.stderr
    # killed mid-stage: the good run is untouched, latest still points at it, the staging folder says running
    assert seen["after_kill"] == good_before
    assert seen["latest"] == "smoke"
    assert seen["staging_status"] == "running"

    # two runs with different ids at once: both succeed; they also retire the killed run's folder
    for returncode, output in seen["concurrent"].values():
        assert returncode == 0, output
    assert pipeline.verify_run(out / "alpha") == [] and pipeline.verify_run(out / "beta") == []
    interrupted = list((out / "_failed").glob("smoke-*-interrupted"))
    assert len(interrupted) == 1
    manifest = io.read_json(interrupted[0] / "manifest.json")
    assert manifest["status"] == "interrupted"
    assert (interrupted[0] / "notebooks" / "01_data_quality.ipynb").is_file()
    assert not (out / ".staging" / "smoke").exists()
    assert _snapshot(out / "smoke") == good_before
    assert pipeline.verify_run(out / "smoke") == []
    assert any("status: the run interrupted" in p for p in pipeline.verify_run(interrupted[0]))


def test_rewritten_manifest_and_edited_log_are_detected(outputs_copy):
    run_dir = outputs_copy / "smoke"
    assert pipeline.verify_run(run_dir) == []
    # an attacker changes a decision table and rewrites the manifest to match it
    limits = run_dir / "data" / "limits.parquet"
    limits.write_bytes(limits.read_bytes() + b"\0")
    manifest = io.read_json(run_dir / "manifest.json")
    manifest["outputs"]["data/limits.parquet"] = io.sha256_file(limits)
    io.write_json(run_dir / "manifest.json", manifest)
    problems = pipeline.verify_run(run_dir)
    assert any(p.startswith("changed: manifest.json") for p in problems), problems
    # ... and then edits its line in the log to match. A later run has appended its own line,
    # which carries the hash of this one: the chain breaks.
    pipeline._append_run_log(outputs_copy, {"run_id": "later", "status": "succeeded", "folder": "later"})
    log = outputs_copy / "runs.jsonl"
    lines = log.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["manifest_sha256"] = io.sha256_file(run_dir / "manifest.json")
    log.write_text("\n".join([json.dumps(entry, sort_keys=True)] + lines[1:]) + "\n")
    problems = pipeline.verify_run(run_dir)
    assert "changed: runs.jsonl line 2 does not chain to the line before it" in problems, problems
    assert not any(p.startswith("changed: manifest.json") for p in problems)


def test_a_run_model_loads_only_from_a_verified_run_folder(outputs_copy):
    from credit_lab.core.exceptions import ArtifactIntegrityError
    from credit_lab.models.calibration import CalibratedPD
    from credit_lab.models.gbm import PDModel

    run_dir = outputs_copy / "smoke"
    loaded = pipeline.load_run_model(run_dir)
    assert isinstance(loaded, CalibratedPD) and isinstance(loaded.estimator, PDModel)
    # swap in another pickle and fix up both hash records inside the run folder
    model = run_dir / "models" / "pd_model.fitted.json"
    model.write_bytes(model.read_bytes() + b"\0")
    meta = io.read_json(run_dir / "models" / "pd_model.json")
    meta["sha256"] = io.sha256_file(model)
    io.write_json(run_dir / "models" / "pd_model.json", meta)
    manifest = io.read_json(run_dir / "manifest.json")
    manifest["outputs"]["models/pd_model.fitted.json"] = io.sha256_file(model)
    manifest["outputs"]["models/pd_model.json"] = io.sha256_file(run_dir / "models" / "pd_model.json")
    io.write_json(run_dir / "manifest.json", manifest)
    with pytest.raises(ArtifactIntegrityError, match="manifest.json"):
        pipeline.load_run_model(run_dir)


def test_unwritable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = cli("run", SMOKE, "--output-dir", blocker / "runs")
    assert proc.returncode == 5
    assert "cannot be written" in proc.stderr and "--output-dir" in proc.stderr


def test_full_disk_is_a_clear_error_and_leaves_earlier_runs(outputs_copy, monkeypatch):
    before = _snapshot(outputs_copy / "smoke")

    def disk_full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pipeline.io, "write_json", disk_full)
    with pytest.raises(OutputFolderError, match="No space left on device"):
        pipeline.run(SMOKE, output_dir=outputs_copy)
    assert _snapshot(outputs_copy / "smoke") == before


def test_hostile_names_ids_and_params_are_escaped_everywhere(own_files_run):
    import pandas as pd

    run_dir = own_files_run[0] / "out" / "mine"
    pages = [run_dir / "index.html", *sorted((run_dir / "reports").glob("*.html")),
             *sorted((run_dir / "letters").glob("*.html"))]
    assert len(pages) > 10
    for page in pages:
        text = page.read_text()
        assert "<script>alert(" not in text, page.name
        assert "<img src=x onerror" not in text, page.name
        assert "<b>no such customer</b>" not in text, page.name
    assert "&lt;b&gt;no such customer&lt;/b&gt;" in (run_dir / "reports" / "04_scoring_explain.html").read_text()
    limits = pd.read_csv(run_dir / "data" / "limits.csv", encoding="utf-8-sig")
    assert "'=HYPERLINK(\"http://evil\")" in limits["customer_name"].tolist()
    assert HOSTILE_ID in limits["customer_id"].tolist()  # ids are kept exactly, only escaped on display


def test_papermill_parameters_are_literals_not_code(tmp_path):
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(ROOT / "notebooks" / "01_data_quality.ipynb"))
    payload = "x\"; import pathlib; pathlib.Path(r'" + str(tmp_path / "pwned") + "').touch(); y = \""
    out = parameterize_notebook(nb, {"run_dir": payload, "params_file": "p'''\"\"\"\n.yaml"})
    injected = next(c for c in out.cells if "injected-parameters" in c.metadata.tags)
    namespace: dict = {}
    exec(compile(injected.source, "injected", "exec"), namespace)  # what the kernel would run
    assert namespace["run_dir"] == payload and namespace["params_file"] == "p'''\"\"\"\n.yaml"
    assert not (tmp_path / "pwned").exists()


def test_rerun_from_the_run_folders_params_gives_identical_decisions(killed_then_two_runs):
    # the rerun ("beta") ran from smoke/params.yaml, beside another run, after a killed one
    out, seen = killed_then_two_runs
    returncode, output = seen["concurrent"]["beta"]
    assert returncode == 0, output
    first = io.read_json(out / "smoke" / "manifest.json")["outputs"]
    again = io.read_json(out / "beta" / "manifest.json")["outputs"]
    for name in ("data/scores.parquet", "data/limits.parquet", "data/expected_loss.parquet",
                 "data/shap_values.parquet", "data/limits.csv", "data/oot_predictions.parquet"):
        assert first[name] == again[name], name


def test_a_rerun_of_the_same_params_is_byte_identical_and_its_signature_holds(killed_then_two_runs):
    out, seen = killed_then_two_runs
    # "alpha" ran the smoke params again, under another id, signed: every file is the original's
    differences, expected, n = compare_runs(out / "alpha", out / "smoke")
    assert differences == [] and n > 500
    assert any("started_at" in e for e in expected) and any("run_id" in e for e in expected)
    public = signing.load_public_key(seen["public_key"])
    assert verification(out / "alpha", public).status == "verified and signed"
    assert verification(out / "smoke", public).status == "tampered"  # unsigned, and a signature was asked for
    # executed notebooks name no staging path and carry no times
    notebook = (out / "alpha" / "notebooks" / "03_model.ipynb").read_text()
    assert ".staging" not in notebook and "start_time" not in notebook and '"execution"' not in notebook


def test_cell_timeout_comes_from_params_and_a_timeout_fails_the_stage(tmp_path, monkeypatch):
    import papermill
    import yaml

    from credit_lab.core.exceptions import StageError

    seen = {}

    def slow(*args, **kwargs):
        seen.update(kwargs)
        raise papermill.exceptions.PapermillExecutionError(
            cell_index=4, exec_count=2, source="", ename="CellTimeoutError",
            evalue=f"A cell timed out while it was being executed, after {kwargs['execution_timeout']} seconds.",
            traceback=[])

    monkeypatch.setattr(papermill, "execute_notebook", slow)
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"run_id": "t", "report": {"cell_timeout_seconds": 42}}))
    with pytest.raises(StageError, match=r"stage 01_data_quality failed in cell 4.*CellTimeoutError.*42 seconds"):
        pipeline.run(params, output_dir=tmp_path / "out")
    assert seen["execution_timeout"] == 42
    assert io.read_json(next((tmp_path / "out" / "_failed").iterdir()) / "manifest.json")["status"] == "failed"


def test_missing_input_files_stop_the_run_before_any_stage_naming_their_keys(tmp_path, monkeypatch):
    from credit_lab.core.exceptions import InputFileError

    monkeypatch.chdir(tmp_path)
    params = tmp_path / "p.yaml"
    params.write_text("data:\n  source: files\n  files:\n    customers: {path: exports/customers.csv}\n"
                      "    invoices: {path: exports/invoices.csv}\noutput_dir: out\n")
    with pytest.raises(InputFileError) as err:
        pipeline.run(params)
    message = str(err.value)
    assert f"from the working directory {tmp_path}" in message and ".staging" not in message
    assert f"data.files.customers.path: 'exports/customers.csv' (looked for {tmp_path / 'exports'}" in message
    assert not (tmp_path / "out" / "_failed").exists()  # nothing ran, so nothing failed


def test_a_header_only_table_says_it_has_no_rows(tmp_path):
    from credit_lab.core.config import CustomerTableParams
    from credit_lab.core.exceptions import SchemaError
    from credit_lab.data.table_mode import load_customer_table

    path = tmp_path / "t.csv"
    path.write_text("id,x,default\n")
    with pytest.raises(SchemaError, match=r"has a header \(id, x, default\) but no rows"):
        load_customer_table(CustomerTableParams(path=str(path), id_column="id", outcome={"column": "default"}))
