from pathlib import Path

import pytest

from credit_lab.core.config import RunParams, load_params, params_from_dict
from credit_lab.core.exceptions import ParamsError

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", sorted((ROOT / "params").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_params_file_is_valid(path):
    assert isinstance(load_params(path), RunParams)


def test_default_yaml_states_the_code_defaults():
    # params/default.yaml documents every default; it must not drift from the code.
    assert load_params(ROOT / "params" / "default.yaml").model_dump() == RunParams().model_dump()


def test_unknown_key_is_named():
    with pytest.raises(ParamsError, match=r"model\.learnin_rate: unknown key"):
        params_from_dict({"model": {"learnin_rate": 0.1}})


def test_out_of_range_value_is_named_with_value():
    with pytest.raises(ParamsError, match=r"model\.learning_rate: .*greater than 0.*got -1"):
        params_from_dict({"model": {"learning_rate": -1}})


def test_all_errors_reported_at_once():
    with pytest.raises(ParamsError) as err:
        params_from_dict({"seed": -5, "limits": {"pd_cutoff": 2}})
    assert "seed" in str(err.value) and "limits.pd_cutoff" in str(err.value)


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "x" * 65, ".hidden", "run id", "a..b"])
def test_unsafe_run_id_refused(bad):
    with pytest.raises(ParamsError, match="run_id"):
        params_from_dict({"run_id": bad})


def test_master_scale_must_increase_and_end_at_one():
    with pytest.raises(ParamsError, match="increase"):
        params_from_dict({"master_scale": [{"grade": "A", "pd_max": 0.5}, {"grade": "B", "pd_max": 0.1}]})
    with pytest.raises(ParamsError, match="1.0"):
        params_from_dict({"master_scale": [{"grade": "A", "pd_max": 0.5}],
                          "limits": {"risk_cap_by_grade": {"A": 1.0}}})


def test_risk_caps_must_match_grades():
    with pytest.raises(ParamsError, match=r"missing \['H'\]"):
        params_from_dict({"limits": {"risk_cap_by_grade": {g: 1.0 for g in "ABCDEFG"}}})


def test_files_source_needs_customers_and_invoices():
    with pytest.raises(ParamsError, match="data.files lacks"):
        params_from_dict({"data": {"source": "files", "files": {"customers": {"path": "c.csv"}}}})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


@pytest.mark.parametrize("value", ["auto", 0.03, None])
def test_central_tendency_is_auto_a_rate_or_null(value):
    assert params_from_dict({"model": {"central_tendency": value}}).model.central_tendency == value
    assert RunParams().model.central_tendency == "auto"


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.02, "always"])
def test_central_tendency_outside_zero_one_or_unknown_word_is_named(bad):
    with pytest.raises(ParamsError, match=r"model\.central_tendency"):
        params_from_dict({"model": {"central_tendency": bad}})


@pytest.mark.parametrize("run_id", ["runs.jsonl", "latest", "Latest", "index.html", "runs.jsonl.bak", "index.htm"])
def test_run_ids_that_would_replace_the_output_folder_s_own_files_are_refused(run_id):
    with pytest.raises(ParamsError, match="is reserved: the output folder keeps its own"):
        params_from_dict({"run_id": run_id})


@pytest.mark.parametrize("run_id", [".x", "_failed", ".staging"])
def test_hidden_and_underscore_run_ids_are_refused(run_id):
    with pytest.raises(ParamsError, match="not a safe folder name"):
        params_from_dict({"run_id": run_id})


def test_ordinary_run_ids_that_merely_contain_a_reserved_word_are_kept():
    assert params_from_dict({"run_id": "latest-2026"}).run_id == "latest-2026"
