"""End to end: the CLI runs the notebooks into a run folder with reports and a manifest."""

from __future__ import annotations

import json
import re
import shutil
from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest

from credit_lab.data import io
from credit_lab.run.pipeline import verify_run
from credit_lab.run.stages import STAGES
from tests.conftest import cli

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e  # every test here runs the CLI


def test_cli_reports_each_stage_and_its_time(smoke_run):
    _, proc = smoke_run
    for stage in STAGES:
        if stage == "07_replay":  # off unless replay.enabled (tests/test_replay_stage.py runs it)
            assert re.search(rf"{stage}\s+skipped \(the reason is in its report\)", proc.stdout), proc.stdout
            continue
        assert re.search(rf"{stage}\s+done in\s+[\d.]+ s", proc.stdout), proc.stdout
    assert "index.html" in proc.stdout


def test_the_terminal_shows_the_stages_not_third_party_warnings(smoke_run):
    _, proc = smoke_run
    terminal = proc.stdout + proc.stderr
    assert "01_data_quality" in terminal and "succeeded in" in terminal
    assert "Kernel is running over TCP" not in terminal  # stage kernels talk over Unix sockets
    assert "WARNING traitlets" not in terminal and "Alternative text is missing" not in terminal


def test_every_file_of_the_run_follows_the_umask(smoke_run):
    import os
    import stat

    run_dir, _ = smoke_run
    mask = os.umask(0)
    os.umask(mask)  # the CLI run inherited this process's umask
    modes = {p.relative_to(run_dir).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in run_dir.rglob("*")
             if not p.is_symlink()}
    wrong = {k: oct(m) for k, m in modes.items()
             if m != (0o777 if (run_dir / k).is_dir() else 0o666) & ~mask}
    assert not wrong, f"not what umask {oct(mask)} gives: {dict(list(wrong.items())[:5])}"


def test_run_folder_layout_and_manifest(smoke_run):
    run_dir, _ = smoke_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert list(manifest["stages"]) == list(STAGES)
    ran = {k: v for k, v in manifest["stages"].items() if k != "07_replay"}
    assert all(s["status"] == "succeeded" and s["seconds"] > 0 for s in ran.values())
    assert manifest["stages"]["07_replay"]["status"] == "skipped"
    assert "replay.enabled is false" in manifest["stages"]["07_replay"]["reason"]
    assert manifest["params"]["run_id"] == "smoke" and manifest["params"]["seed"] == 7
    # a book with enough defaults is scored by the statistical models, and the manifest says why
    assert manifest["scoring_method"]["method"] == "statistical"
    assert "at least model.min_fit_defaults" in manifest["scoring_method"]["reason"]
    assert {"pandas", "scikit-learn", "shap", "papermill", "python"} <= set(manifest["versions"])
    assert "commit" in manifest["git"] and "dirty" in manifest["git"]
    assert any(k.startswith("params:") for k in manifest["inputs"])
    for stage in ran:
        assert (run_dir / "notebooks" / f"{stage}.ipynb").is_file()
        assert (run_dir / "reports" / f"{stage}.html").is_file()
    assert (run_dir / "reports" / "07_replay.html").is_file()  # the skipped page, with the reason
    for name in ("scores", "shap_values", "limits", "expected_loss", "features_current", "quarantine"):
        assert (run_dir / "data" / f"{name}.parquet").is_file()
    # every hash in the manifest matches its file, and every file is in the manifest
    assert verify_run(run_dir) == []
    model = "models/pd_model.fitted.json"
    assert manifest["outputs"][model] == io.sha256_file(run_dir / model)
    assert (ROOT / "outputs").is_dir()


def test_reports_are_code_free_with_figures_and_index_links_them(smoke_run):
    run_dir, _ = smoke_run
    index = (run_dir / "index.html").read_text()
    for stage in STAGES:
        assert f'href="reports/{stage}.html"' in index
        if stage == "07_replay":  # skipped: a page saying why (tests/test_replay_stage.py)
            continue
        html = (run_dir / "reports" / f"{stage}.html").read_text()
        assert "stages.open_stage" not in html and "import warnings" not in html, stage
        assert "data:image/png;base64" in html, f"{stage} has no figure"
    assert "Out-of-time AUC" in index and "data:image/png;base64" in index
    # the letters, counted by kind, as the limits stage wrote them
    letters = json.loads((run_dir / "data" / "letters_summary.json").read_text())
    assert f"Letters to customers: {letters['letters']:,} ({letters['by_kind']['reduction']:,} reductions" in index
    # the data-quality report lists the declared assumptions (the documented values of absent columns)
    dq = json.loads((run_dir / "data" / "data_quality.json").read_text())
    report = (run_dir / "reports" / "01_data_quality.html").read_text()
    assert dq["assumptions"] and all(html_escape(a, quote=False) in report for a in dq["assumptions"])


def test_index_and_data_quality_report_list_the_assumptions_behind_the_decisions(smoke_run):
    run_dir, _ = smoke_run
    dq = json.loads((run_dir / "data" / "data_quality.json").read_text())
    records = {r["key"]: r for r in dq["decision_assumptions"]}
    # smoke.yaml sets model.min_fit_defaults and not the PD cut-off: the notebooks must see which keys the file
    # set (params_given.json), not the full copy in params.json, where every key would count as set
    assert records["model.min_fit_defaults"]["source"] == "params file"
    assert records["limits.pd_cutoff"]["source"] == "default"
    assert (run_dir / "params_given.json").is_file() and (run_dir / "params.json").is_file()
    report = (run_dir / "reports" / "01_data_quality.html").read_text()
    assert "Settings that shape the decisions" in report
    assert all(html_escape(r["effect"], quote=False) in report for r in dq["decision_assumptions"])
    index = (run_dir / "index.html").read_text()
    assert index.index("<h2>Headline figures</h2>") < index.index("<h2>Assumptions behind these decisions</h2>") \
        < index.index("<h2>Reports</h2>")
    section = index[index.index("<h2>Assumptions behind"):index.index("<h2>Reports</h2>")]
    row = section[section.index("<code>model.min_fit_defaults</code>"):].split("</tr>")[0]
    assert "<strong>your params file</strong>" in row
    row = section[section.index("<code>limits.pd_cutoff</code>"):].split("</tr>")[0]
    assert "<td>default</td>" in row and "<strong>" not in row
    # and what the run decided: the method chosen and why, the limit and reserve stages' notes
    method = json.loads((run_dir / "models" / "pd_model.json").read_text())["method_reason"]
    assert f"<code>model.method</code>: {html_escape(method)}" in section
    notes = (json.loads((run_dir / "data" / "limits_notes.json").read_text())["notes"]
             + json.loads((run_dir / "data" / "reserve_notes.json").read_text())["notes"])
    assert all(html_escape(n) in section for n in notes)


def test_scores_are_consistent_and_explained(smoke_run):
    run_dir, _ = smoke_run
    scores = pd.read_parquet(run_dir / "data" / "scores.parquet")
    shap_values = pd.read_parquet(run_dir / "data" / "shap_values.parquet").set_index("customer_id")
    meta = json.loads((run_dir / "data" / "explain.json").read_text())
    assert meta["max_additivity_error"] <= 1e-6
    recon = meta["base_value"] + shap_values.sum(axis=1)
    assert (recon - scores.set_index("customer_id")["raw_log_odds"]).abs().max() <= 1e-6
    assert scores["pd"].between(0, 1).all() and scores["customer_id"].is_unique
    limits = pd.read_parquet(run_dir / "data" / "limits.parquet")
    assert set(limits["decided_by"]) <= {"profit_optimum", "el_budget", "exposure_budget", "industry_cap",
                                         "region_cap", "single_name_cap", "change_cap", "insurer_cap",
                                         "grade_bound", "pd_cutoff", "new_customer_cap", "requested_limit",
                                         "no_demand_data"}
    constraints = pd.read_parquet(run_dir / "data" / "limit_constraints.parquet")
    assert {"constraint", "binding", "shadow_price"} <= set(constraints.columns)
    frontier = pd.read_parquet(run_dir / "data" / "efficient_frontier.parquet")
    assert frontier["expected_profit"].is_monotonic_increasing


def test_verify_catches_changed_added_and_missing_files(smoke_run, tmp_path):
    run_dir, _ = smoke_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    target = copy / "data" / "limits.parquet"
    target.write_bytes(target.read_bytes() + b"x")
    (copy / "reports" / "extra.html").write_text("<p>not from the run</p>")
    (copy / "data" / "scores.parquet").unlink()
    (copy / "reports" / ".evil.html").write_text("<script>hidden</script>")  # hidden files are files too
    (copy / "reports" / "summary.html").symlink_to(tmp_path / "outside.html")  # a page that is not the run's
    problems = verify_run(copy)
    assert "changed: data/limits.parquet" in problems
    assert "added: reports/extra.html" in problems
    assert "added: reports/.evil.html" in problems
    assert "added: reports/summary.html" in problems
    assert f"symlink out of the run folder: reports/summary.html -> {tmp_path / 'outside.html'}" in problems
    assert "missing: data/scores.parquet" in problems
    proc = cli("verify", copy)
    assert proc.returncode == 1 and "changed: data/limits.parquet" in proc.stdout
    assert cli("verify", run_dir).returncode == 0


# ------------------------------------------------------------------ your own files, and failures

def test_own_files_run_and_a_bad_file_fails_without_touching_the_good_run(own_files_run, tmp_path):
    shutil.copytree(own_files_run[0], tmp_path, symlinks=True, dirs_exist_ok=True)
    out = tmp_path / "out"
    before = {p: p.read_bytes() for p in (out / "mine").rglob("*") if p.is_file()}
    manifest = json.loads((out / "mine" / "manifest.json").read_text())
    assert any(k.startswith("invoices:") for k in manifest["inputs"])

    # 1) a required column missing
    cust = pd.read_csv(tmp_path / "in" / "customers.csv").drop(columns=["payment_terms_days"])
    cust.to_csv(tmp_path / "in" / "customers.csv", index=False)
    proc = cli("run", "good.yaml", cwd=tmp_path)
    assert proc.returncode == 3  # the input data, not the params or a stage
    assert "table 'customers'" in proc.stderr and "payment_terms_days" in proc.stderr
    assert "01_data_quality" in proc.stderr and "failed" in proc.stdout

    # 2) a duplicated customer id
    cust = pd.read_csv(tmp_path / "in" / "customers.csv").assign(payment_terms_days=30)
    cust.loc[1, "Account"] = cust.loc[0, "Account"]
    cust.to_csv(tmp_path / "in" / "customers.csv", index=False)
    proc = cli("run", "good.yaml", cwd=tmp_path)
    assert proc.returncode == 3
    assert "rule 'unique'" in proc.stderr and str(cust.loc[0, "Account"]) in proc.stderr
    assert proc.stderr.count("rule 'unique'") == 1  # said once; the run's own log has it too

    # the earlier good run is untouched, byte for byte; the failures are kept and marked
    after = {p: p.read_bytes() for p in (out / "mine").rglob("*") if p.is_file()}
    assert after == before
    assert (out / "latest").resolve() == (out / "mine").resolve()
    failed = sorted((out / "_failed").iterdir())
    assert len(failed) >= 1
    last = json.loads((failed[-1] / "manifest.json").read_text())
    assert last["status"] == "failed" and last["stages"]["01_data_quality"]["status"] == "failed"
    assert (failed[-1] / "notebooks" / "01_data_quality.ipynb").is_file()
    log = (failed[-1] / "logs" / "run.log").read_text()
    assert "stage 01_data_quality failed" in log and "rule 'unique'" in log


def test_invalid_params_fail_before_any_stage(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_id: x\nmodel:\n  learning_rate: 5\n  max_iters: 3\n")
    proc = cli("run", bad, "--output-dir", tmp_path / "out")
    assert proc.returncode == 2
    assert "model.learning_rate" in proc.stderr and "model.max_iters: unknown key" in proc.stderr
    assert "running" not in proc.stdout
    assert not (tmp_path / "out" / "x").exists()


def test_json_summary_is_one_line_a_scheduler_can_read(own_files_run, tmp_path):
    _, proc = own_files_run  # run with --json
    summary = json.loads(proc.stdout)
    assert summary["status"] == "succeeded" and summary["exit_code"] == 0
    assert summary["run_dir"].endswith("mine") and set(summary["stages"]) | set(summary["skipped"]) == set(STAGES)
    assert "replay.enabled is false" in summary["skipped"]["07_replay"]  # stages not run, each with the reason
    assert summary["scoring_method"]["method"] in ("statistical", "expert")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  learning_rate: 5\n")
    failed = cli("run", bad, "--json", "--output-dir", tmp_path / "out")
    line = json.loads(failed.stdout)
    assert failed.returncode == line["exit_code"] == 2 and line["failed"] == "params"
    assert "model.learning_rate" in line["error"]
    quiet = cli("run", bad, "--quiet", "--output-dir", tmp_path / "out")
    assert quiet.returncode == 2 and quiet.stdout == "" and "model.learning_rate" in quiet.stderr


def test_exit_codes_name_what_failed():
    from credit_lab.core.exceptions import (
        InputFileError,
        OutputFolderError,
        ParamsError,
        RunInProgressError,
        SchemaError,
        StageError,
    )
    from credit_lab.run.cli import EXIT_CODES, exit_code

    assert exit_code(ParamsError("x")) == 2 and exit_code(SchemaError("x")) == 3
    assert exit_code(InputFileError("x")) == 3 and exit_code(StageError("x", cause="SchemaError")) == 3
    assert exit_code(StageError("x", cause="KeyError")) == 4 and exit_code(StageError("x")) == 4
    assert exit_code(OutputFolderError("x")) == exit_code(RunInProgressError("x")) == 5
    assert EXIT_CODES[3] == "input data"


def test_help_documents_every_command():
    proc = cli("--help")
    assert proc.returncode == 0
    for command in ("run", "validate", "verify", "keygen", "runs", "diff"):
        assert command in proc.stdout
    assert "PARAMS" in cli("run", "--help").stdout


def test_model_card_matches_the_artifacts_and_the_validation_it_describes(smoke_run):
    run_dir, _ = smoke_run
    card = json.loads((run_dir / "models" / "model_card.json").read_text())
    for name, sha in card["artifacts"].items():
        path = run_dir / ("models" if name.endswith(".fitted.json") else "data") / name
        assert io.sha256_file(path) == sha, name
    oot = {m["sample"]: m for m in json.loads((run_dir / "data" / "validation.json").read_text())}["out-of-time"]
    assert card["performance"]["out-of-time"]["auc"] == oot["auc"]
    cand = pd.read_parquet(run_dir / "data" / "candidates.parquet")
    champion = cand.loc[cand["role"] == "champion", "candidate"].unique().tolist()
    assert champion == [card["model"]] and {"gbm", "scorecard"} <= set(cand["candidate"])
    points = pd.read_csv(run_dir / "data" / "scorecard_points.csv", encoding="utf-8-sig")
    assert {"feature", "bin", "woe", "points"} <= set(points.columns) and len(points) > 10
    html = (run_dir / "reports" / "03_model.html").read_text()
    for heading in ("Champion and challengers", "Hosmer-Lemeshow", "Population stability", "Model card"):
        assert heading in html, heading


def test_run_checks_its_shap_values_against_shap_tree_explainer(smoke_run):
    run_dir, _ = smoke_run
    meta = json.loads((run_dir / "data" / "explain.json").read_text())
    ref = meta["shap_reference"]
    assert ref["checked"] and ref["customers"] == 500 and ref["max_abs_difference"] <= 1e-9
    assert "Against shap.TreeExplainer" in (run_dir / "reports" / "04_scoring_explain.html").read_text()
