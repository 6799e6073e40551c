"""The assumptions behind a run's decisions: the settings (default or set), and what the run decided."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credit_lab.core.config import load_params, params_from_dict
from credit_lab.run.assumptions import (
    DEFAULT,
    PARAMS_FILE,
    DecisionSetting,
    decision_settings,
    is_set,
    run_decisions,
    settings_frame,
)
from credit_lab.run.index_page import assumptions_section
from credit_lab.run.pipeline import _absolute_input_paths

ROOT = Path(__file__).resolve().parent.parent


def _rows(raw: dict) -> dict[str, DecisionSetting]:
    return {s.key: s for s in decision_settings(params_from_dict(raw))}


def test_a_key_the_params_file_sets_is_marked_set_and_a_default_is_default():
    rows = _rows({"limits": {"pd_cutoff": 0.1}, "reserve": {"lgd": 0.45}})
    cutoff = rows["limits.pd_cutoff"]
    assert (cutoff.value, cutoff.source, cutoff.keys_set) == ("10%", PARAMS_FILE, ("limits.pd_cutoff",))
    assert cutoff.effect == "a customer whose PD is above 10% gets limit 0"
    # named in the file with the default's own value: still the user's choice
    assert rows["reserve.lgd"].source == PARAMS_FILE and rows["reserve.lgd"].value == "45%"
    band = rows["limits.max_change_per_review"]
    assert band.source == DEFAULT and band.value == "±30%"
    assert rows["reserve.ccf"].source == DEFAULT and rows["reserve.ccf"].keys_set == ()
    shown = settings_frame(list(rows.values())).set_index("setting")["set by"]
    assert shown["limits.pd_cutoff"] == "your params file" and shown["reserve.ccf"] == "default"


def test_is_set_follows_nested_sub_models():
    p = params_from_dict({"reserve": {"provisions": {"method": "cohort"}}})
    assert is_set(p, "reserve.provisions.method")
    assert not is_set(p, "reserve.provisions.no_loss_floor") and not is_set(p, "reserve.lgd")
    assert not is_set(p, "limits.pd_cutoff") and not is_set(p, "reserve.provisions.method.nothing")


def test_every_setting_that_shapes_a_decision_is_listed():
    keys = set(_rows({}))
    assert {"model.method", "model.min_fit_defaults", "model.champion", "model.calibration", "model.central_tendency",
            "limits.method", "limits.pd_cutoff", "limits.el_budget_vs_current", "limits.exposure_budget_vs_current",
            "limits.max_change_per_review", "limits.on_infeasible_budget", "limits.single_name_cap_pct",
            "limits.industry_cap_share", "limits.region_cap_share", "limits.new_customer_cap",
            "limits.new_customer_cap_share_of_request", "limits.risk_cap_by_grade", "reserve.lgd", "reserve.ccf",
            "reserve.confidence", "reserve.provisions.method", "reserve.provisions.no_loss_floor",
            "reserve.provisions.write_off_days_past_due", "reserve.provisions.reconciliation_band"} <= keys


def test_the_provision_settings_read_as_people_write_them():
    rows = _rows({})
    write_off, band = rows["reserve.provisions.write_off_days_past_due"], rows["reserve.provisions.reconciliation_band"]
    assert (write_off.value, write_off.source) == ("360 days past due", DEFAULT)
    assert write_off.effect.startswith("receivables not settled 360 days after their due date are written off")
    assert (band.value, band.source) == ("±25%", DEFAULT)
    assert "when within ±25% of it" in band.effect
    assert rows["reserve.provisions.no_loss_floor"].effect.startswith("a bucket whose history shows no loss is floored")
    rows = _rows({"reserve": {"provisions": {"write_off_days_past_due": None, "reconciliation_band": 0.1,
                                             "no_loss_floor": "none"}}})
    write_off, band = rows["reserve.provisions.write_off_days_past_due"], rows["reserve.provisions.reconciliation_band"]
    assert (write_off.value, write_off.source) == ("none", PARAMS_FILE)
    assert write_off.effect.startswith("receivables are never written off")
    assert (band.value, band.source) == ("±10%", PARAMS_FILE)
    assert band.keys_set == ("reserve.provisions.reconciliation_band",)
    assert "when within ±10% of it" in band.effect
    floor = rows["reserve.provisions.no_loss_floor"]
    assert floor.source == PARAMS_FILE and "keeps a zero rate" in floor.effect
    assert _rows({"reserve": {"provisions": {"write_off_days_past_due": 1825}}})[
        "reserve.provisions.write_off_days_past_due"].value == "1,825 days past due"


def test_values_read_as_people_write_them():
    rows = _rows({"limits": {"el_budget": 1_250_000, "exposure_budget_vs_current": None, "own_equity": 2_000_000,
                             "industry_cap_share": None, "new_customer_cap": None},
                  "model": {"central_tendency": 0.025}, "reserve": {"confidence": 0.995}})
    assert "limits.el_budget_vs_current" not in rows  # the absolute budget is the one in force
    assert rows["limits.el_budget"].value == "1,250,000" and rows["limits.el_budget"].source == PARAMS_FILE
    exposure = rows["limits.exposure_budget"]
    assert exposure.value == "none" and exposure.keys_set == ("limits.exposure_budget_vs_current",)
    assert "no industry or region share cap applies" in exposure.effect
    single = rows["limits.single_name_cap_pct"]  # 5% (default) of the equity the file set
    assert single.value == "5% of own equity 2,000,000 = 100,000" and single.keys_set == ("limits.own_equity",)
    assert settings_frame([single])["set by"].iloc[0] == "your params file (limits.own_equity)"
    assert rows["limits.industry_cap_share"].value == "none" and rows["limits.new_customer_cap"].value == "none"
    assert rows["limits.risk_cap_by_grade"].value.startswith("A 5,000,000; B 4,000,000;")
    assert rows["limits.risk_cap_by_grade"].value.endswith("G 200,000; H 0")
    assert rows["model.central_tendency"].value == "2.5%" and rows["reserve.confidence"].value == "99.5%"
    relative = _rows({})["limits.el_budget_vs_current"]
    assert relative.value == "0.5 × today's EL" and "within 50% of the expected loss" in relative.effect


def test_the_optimizer_s_constraints_say_when_the_rules_method_ignores_them():
    rows = _rows({"limits": {"method": "rules"}})
    assert rows["limits.el_budget_vs_current"].effect.startswith("not used, as limits.method is rules")
    assert rows["limits.industry_cap_share"].effect.startswith("not used")
    assert not rows["limits.pd_cutoff"].effect.startswith("not used")  # rules apply the cut-off too


def test_the_notebooks_params_keep_what_the_file_set(tmp_path, monkeypatch):
    # A pipeline run hands the notebooks params_given.json: only what the file set (and the paths it
    # resolved). Validated again it must give the same values and the same defaults-or-set answer.
    monkeypatch.chdir(ROOT)
    for name in ("smoke.yaml", "table_template.yaml"):
        params = _absolute_input_paths(load_params(ROOT / "params" / name))
        given = tmp_path / f"{name}.json"
        given.write_text(json.dumps(params.model_dump(mode="json", exclude_unset=True)))
        again = params_from_dict(json.loads(given.read_text()))
        assert again.model_dump() == params.model_dump()
        assert decision_settings(again) == decision_settings(params)
    # the full copy (params.json) would mark every key as set
    full = params_from_dict(params.model_dump(mode="json"))
    assert all(s.source == PARAMS_FILE for s in decision_settings(full))


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "models").mkdir()
    params = params_from_dict({"limits": {"pd_cutoff": 0.15}})
    files = {
        "data/data_quality.json": {
            "outcomes": {"available": True, "defaults": 64, "source": "defaults table"},
            "assumptions": ["customers.collateral_value not supplied: every row takes 0.0"],
            "rules": [{"rule": "credit_notes: set_aside", "table": "invoices", "rows": 3, "detail": "negative amounts",
                       "removed": True}],
            "decision_assumptions": [s.as_record() for s in decision_settings(params)]},
        "models/pd_model.json": {"method": "statistical", "champion": "gbm",
                                 "method_reason": "statistical models: the fit sample holds 42 default(s)"},
        "models/model_card.json": {"champion_choice": "model.champion = gbm", "calibration": {
            "all": {"method": "platt", "shift": 0.0}}},
        "data/limits_notes.json": {"method": "optimize", "share_caps": {}, "notes": [
            "limits.industry_cap_share = 0.25 is not applied: the book has one industry ('all')",
            "The budgets need larger cuts than the +-30% change band allows, so the band's lower edge was lifted",
            "<script>alert('note')</script>"]},
        "data/reserve_notes.json": {"notes": ["bucket 90+ floored at PD x LGD"]},
        "data/replay.json": {"notes": ["replay.n_reviews shortened from its default 24 to 11"]},
    }
    for name, obj in files.items():
        (run / name).write_text(json.dumps(obj))
    return run


def test_run_decisions_come_from_the_files_the_stages_wrote(tmp_path):
    run = _run_folder(tmp_path)
    decided = [(d.stage, d.key, d.decision) for d in run_decisions(run)]
    assert ("01_data_quality", "", "outcomes: 64 default(s) known; source: defaults table") in decided
    assert ("01_data_quality", "", "customers.collateral_value not supplied: every row takes 0.0") in decided
    assert ("01_data_quality", "", "rule credit_notes: set_aside on invoices: 3 row(s), removed from the data; "
                                   "negative amounts") in decided
    assert ("03_model", "model.method", "statistical models: the fit sample holds 42 default(s)") in decided
    assert ("03_model", "model.calibration", "chosen: platt") in decided
    assert [d for s, _, d in decided if s == "05_limits"][:2] == [
        "limits.industry_cap_share = 0.25 is not applied: the book has one industry ('all')",
        "The budgets need larger cuts than the +-30% change band allows, so the band's lower edge was lifted"]
    assert ("06_risk_reserve", "", "bucket 90+ floored at PD x LGD") in decided
    assert ("07_replay", "", "replay.n_reviews shortened from its default 24 to 11") in decided
    assert run_decisions(tmp_path / "nothing here") == []


def test_index_section_marks_the_user_s_settings_and_escapes_every_string(tmp_path):
    run = _run_folder(tmp_path)
    dq = json.loads((run / "data" / "data_quality.json").read_text())
    page = assumptions_section(run, dq)
    assert page.startswith("<h2>Assumptions behind these decisions</h2>")
    cutoff = page[page.index("<code>limits.pd_cutoff</code>"):].split("</tr>")[0]
    assert "<td>15%</td><td><strong>your params file</strong></td>" in cutoff
    lgd = page[page.index("<code>reserve.lgd</code>"):].split("</tr>")[0]
    assert "<td>default</td>" in lgd and "<strong>" not in lgd
    assert "1 of 26 set in your params file" in page  # 24 + limits.competition and limits.strategic
    assert "the book has one industry (&#x27;all&#x27;)" in page and "band&#x27;s lower edge was lifted" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("mode", ["ledger", "table"])
def test_the_data_quality_stage_records_the_settings_before_any_decision(tmp_path, monkeypatch, mode):
    # stage 01 alone: cheap in table mode and on a small synthetic ledger
    from credit_lab.run import stages

    monkeypatch.chdir(ROOT)
    params_file = tmp_path / "p.yaml"
    if mode == "table":
        params_file.write_text((ROOT / "params" / "table_template.yaml").read_text())
    else:
        params_file.write_text("data: {synthetic: {n_customers: 60, n_months: 24}}\nlimits: {pd_cutoff: 0.3}\n")
    result = stages.stage_data_quality(stages.open_stage("01_data_quality", tmp_path / "run", params_file))
    saved = json.loads((tmp_path / "run" / "data" / "data_quality.json").read_text())
    records = {r["key"]: r for r in saved["decision_assumptions"]}
    assert [DecisionSetting.from_record(r) for r in saved["decision_assumptions"]] == result.decision_settings
    assert saved["assumptions"] == result.validation.assumptions  # the data assumptions keep their key
    if mode == "table":  # the template sets the EL budget and the LGD, not the PD cut-off
        assert records["limits.el_budget_vs_current"]["source"] == PARAMS_FILE
        assert records["reserve.lgd"]["value"] == "60%" and records["reserve.lgd"]["source"] == PARAMS_FILE
        assert records["limits.pd_cutoff"]["source"] == DEFAULT
    else:
        assert records["limits.pd_cutoff"] == {"key": "limits.pd_cutoff", "value": "30%", "source": PARAMS_FILE,
                                               "effect": "a customer whose PD is above 30% gets limit 0",
                                               "keys_set": ["limits.pd_cutoff"]}
        assert records["reserve.lgd"]["source"] == DEFAULT
