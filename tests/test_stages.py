"""Stage functions over a run folder: standalone use, hand-off through files, reproducibility."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from credit_lab import stages
from credit_lab.exceptions import StageError

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "params" / "smoke.yaml"
DECISIONS = ("scores.parquet", "limits.parquet", "expected_loss.parquet", "shap_values.parquet",
             "features_current.parquet", "validation.json", "reserve_summary.json")

_RUN_ALL = """
import sys
from credit_lab import stages
ctx = stages.open_stage("06_risk_reserve", sys.argv[1], sys.argv[2], True)
stages.stage_reserve(ctx)
"""


def _run_in_new_process(run_dir: Path) -> None:
    subprocess.run([sys.executable, "-c", _RUN_ALL, str(run_dir), str(SMOKE)], check=True, timeout=600)


def test_same_inputs_and_params_give_byte_identical_decisions_across_processes(tmp_path):
    _run_in_new_process(tmp_path / "a")
    _run_in_new_process(tmp_path / "b")
    for name in DECISIONS:
        assert (tmp_path / "a" / "data" / name).read_bytes() == (tmp_path / "b" / "data" / name).read_bytes(), name
    assert (tmp_path / "a" / "models" / "pd_model.pkl").read_bytes() == \
        (tmp_path / "b" / "models" / "pd_model.pkl").read_bytes()


def test_pipeline_mode_refuses_missing_upstream(tmp_path):
    with pytest.raises(StageError, match="needs data_quality.json from stage 01_data_quality"):
        stages.open_stage("02_features", tmp_path, SMOKE, build_missing_upstream=False)


def test_unknown_stage_and_tampered_model_are_refused(tmp_path):
    with pytest.raises(StageError, match="unknown stage"):
        stages.open_stage("07_magic", tmp_path, SMOKE)
    ctx = stages.open_stage("04_scoring_explain", tmp_path, SMOKE)  # builds 01-03 in-process
    model = ctx.models_dir / "pd_model.pkl"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    from credit_lab.exceptions import ArtifactIntegrityError

    with pytest.raises(ArtifactIntegrityError, match="will not be loaded"):
        stages.stage_scoring(ctx)
