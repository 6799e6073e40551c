"""Stage functions over a run folder: standalone use, hand-off through files, reproducibility.

The reserve tests and the reproducibility test start from the session's shared smoke run (one CLI
run, see ``conftest.smoke_run``) instead of building stages 01-05 again in-process each time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from credit_lab.core.exceptions import StageError
from credit_lab.run import stages

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "params" / "smoke.yaml"
DECISIONS = ("scores.parquet", "limits.parquet", "expected_loss.parquet", "shap_values.parquet",
             "features_current.parquet", "validation.json", "reserve_summary.json", "decision_log.parquet",
             "provision_matrix.parquet", "lifetime_ecl.parquet", "oot_predictions.parquet")

_RUN_ALL = """
import sys
from credit_lab.run import stages
ctx = stages.open_stage("06_risk_reserve", sys.argv[1], sys.argv[2], True)
stages.stage_reserve(ctx)
"""


def _run_in_new_process(run_dir: Path) -> None:
    subprocess.run([sys.executable, "-c", _RUN_ALL, str(run_dir), str(SMOKE)], check=True, timeout=600)


def test_same_inputs_and_params_give_byte_identical_decisions_across_processes(tmp_path, smoke_run):
    # the shared run went through the CLI and a papermill kernel per stage; this one calls the stage
    # functions in one new process: other processes, other hash seeds, the same decisions
    run_dir, _ = smoke_run
    _run_in_new_process(tmp_path / "a")
    for name in DECISIONS:
        assert (tmp_path / "a" / "data" / name).read_bytes() == (run_dir / "data" / name).read_bytes(), name
    # (the model pickle is not compared byte for byte: pickle's layout depends on which objects
    # happen to share memory; the scores it produces are compared above)


def test_pipeline_mode_refuses_missing_upstream(tmp_path):
    with pytest.raises(StageError, match="needs data_quality.json from stage 01_data_quality"):
        stages.open_stage("02_features", tmp_path, SMOKE, build_missing_upstream=False)


def test_unknown_stage_and_tampered_model_are_refused(tmp_path):
    with pytest.raises(StageError, match="unknown stage"):
        stages.open_stage("07_magic", tmp_path, SMOKE)
    ctx = stages.open_stage("04_scoring_explain", tmp_path, SMOKE)  # builds 01-03 in-process
    model = ctx.models_dir / "pd_model.fitted.json"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    from credit_lab.core.exceptions import ArtifactIntegrityError

    with pytest.raises(ArtifactIntegrityError, match="will not be loaded"):
        stages.stage_scoring(ctx)


def test_embedded_default_portfolio_is_realistic_and_learnable(tmp_path):
    """The demo's promise: ~5,000 customers, a 3-8% yearly default rate, out-of-time AUC 0.75-0.88."""
    ctx = stages.open_stage("03_model", tmp_path, ROOT / "params" / "default.yaml")
    result = stages.stage_model(ctx)
    oot = {m.sample: m for m in result.metrics}["out-of-time"]
    assert 0.75 <= oot.auc <= 0.88, oot
    assert 0.03 <= oot.default_rate <= 0.08, oot
    assert 4000 <= oot.n <= 5000
    assert abs(oot.mean_pd - oot.default_rate) < 0.02  # calibrated on the level out of time
    customers = ctx.read("customers.parquet")
    assert len(customers) == 5000
    new = ctx.read("features_current.parquet")["is_new_customer"].mean()
    assert 0.05 <= new <= 0.25  # recent onboardings with little or no payment history


@pytest.fixture(scope="module")
def reserve_stage(smoke_run, tmp_path_factory):
    """Stage 06 recomputed in-process on a copy of the shared smoke run: its context and result object."""
    run_dir = tmp_path_factory.mktemp("reserve") / "run"
    shutil.copytree(smoke_run[0], run_dir, symlinks=True)
    ctx = stages.open_stage("06_risk_reserve", run_dir, SMOKE, build_missing_upstream=False)
    return ctx, stages.stage_reserve(ctx)


def test_reserve_stage_numbers_are_consistent(reserve_stage):
    ctx, result = reserve_stage
    t, loss, exp = result.totals, result.loss, result.exposures
    q = ctx.params.reserve.confidence
    # the loss model's EL is the mitigated EL of the book, and the reserve is EL + UL = VaR
    assert loss.expected_loss == pytest.approx(exp["el"].sum(), rel=1e-9)
    assert t["reserve_recommended"] == pytest.approx(loss.var[q]) and loss.var[q] > loss.expected_loss
    assert loss.es[q] >= loss.var[q]
    sector = loss.sector_contributions
    assert sector[f"var_{q * 100:g}"].sum() == pytest.approx(loss.var[q], rel=1e-9)
    # mitigation only lowers expected loss; the covered parts and the rest add up to EAD
    assert (exp["el"] <= exp["el_gross"] + 1e-9).all()
    parts = exp[["collateralised", "insured", "guaranteed", "net_exposure"]].sum(axis=1)
    assert (parts - exp["ead"]).abs().max() < 1e-6
    # the provision matrix's total is the sum of its buckets
    m = result.provision.matrix
    assert m.loc["Total", "allowance"] == pytest.approx(m.drop(index="Total")["allowance"].sum())
    # every stress scenario raises the reserve; more PD stress raises it more
    s = result.stress
    assert (s.drop(index="base")["reserve"] >= s.loc["base", "reserve"] * (1 - 1e-3)).all()
    assert s.loc["downturn: PD x2, LGD +10 points", "reserve"] > s.loc["PD +50%", "reserve"]
    # PD x1.5 raises EL at most 1.5-fold (capped PDs and joint defaults of covered parts dampen it)
    assert 1.25 * s.loc["base", "el"] <= s.loc["PD +50%", "el"] <= 1.5 * s.loc["base", "el"] * (1 + 1e-9)


def test_reserve_waterfall_explains_the_change_since_a_previous_run(reserve_stage, tmp_path):
    from credit_lab.core.config import params_from_dict

    shared_ctx, base = reserve_stage
    shutil.copytree(shared_ctx.run_dir, tmp_path / "run", symlinks=True)
    ctx = stages.open_stage("06_risk_reserve", tmp_path / "run", SMOKE, build_missing_upstream=False)
    # a previous run whose exposures were half today's, with ten customers who have since left
    prev = tmp_path / "prev"
    (prev / "data").mkdir(parents=True)
    old = base.exposures.copy()
    old["ead"] = old["ead"] * 0.5
    gone = old.iloc[:10].rename(index=lambda c: f"GONE-{c}")
    pd.concat([old, gone]).reset_index(names="customer_id").to_parquet(prev / "data" / "expected_loss.parquet")
    raw = __import__("yaml").safe_load(SMOKE.read_text())
    raw.setdefault("reserve", {})["previous_run"] = str(prev)
    raw["reserve"]["stress_scenarios"] = []  # the waterfall does not use them; the fixture's run checked them
    ctx.params = params_from_dict(raw)
    result = stages.stage_reserve(ctx)
    w = result.waterfall
    assert list(w.index) == ["previous run", "new and exited customers", "limits and balances (EAD)",
                             "PD migration (incl. model change)", "LGD and mitigation", "estimation noise"]
    assert w["change"].sum() + w.loc["previous run", "reserve"] == pytest.approx(result.totals["reserve_recommended"])
    assert w.loc["new and exited customers", "change"] < 0  # ten customers left
    assert w.loc["limits and balances (EAD)", "change"] > 0  # exposures doubled
    assert w.loc["PD migration (incl. model change)", "change"] == pytest.approx(0.0, abs=1e-6)
    assert any("model could not be used" in n for n in result.notes)  # not a verified run folder
    # the same folder recorded as a run of another book: no waterfall across books, and the note says why
    (prev / "data" / "data_quality.json").write_text('{"source": "customer table: cards.csv"}')
    other = stages.stage_reserve(ctx)
    assert other.waterfall is None
    assert any("another book ('customer table: cards.csv'" in n for n in other.notes)
