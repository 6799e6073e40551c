"""Ledger mode with a real-shaped ERP export: declared rules, no-outcome runs, derived outcomes."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import load_params, params_from_dict
from credit_lab.core.exceptions import ParamsError, SchemaError
from credit_lab.data.exports import apply_input_rules, complete_customers, derive_defaults
from credit_lab.run import pipeline, stages

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TEMPLATE = ROOT / "params" / "ledger_export_template.yaml"


def _export_params(**rules):
    raw = load_params(TEMPLATE).model_dump(mode="json")
    raw["data"]["rules"].update(rules)
    return params_from_dict(raw)


def test_words_become_flags_and_unknown_words_are_reported():
    p = _export_params()
    raw = pd.DataFrame({"invoice_id": ["1", "2", "3"], "disputed": ["Yes", " no", "perhaps"],
                        "PaperlessBill": ["Electronic", "Paper", "paper"]})
    out, report = apply_input_rules({"invoices": raw}, p.data.model_copy(
        update={"rules": p.data.rules.model_copy(update={"customers_from_invoices": False})}))
    assert out["invoices"]["disputed"].tolist() == ["true", "false", "perhaps"]  # the schema rejects 'perhaps'
    assert out["invoices"]["PaperlessBill"].tolist() == ["true", "false", "false"]
    rows = report.frame().set_index("detail")["rows"]
    assert rows.filter(like="disputed").iloc[0] == 2


def test_yaml_unquoted_yes_in_words_is_refused():
    with pytest.raises(ParamsError, match="quote the words"):
        params_from_dict({"data": {"source": "files", "rules": {"customers_from_invoices": True},
                                   "files": {"invoices": {"path": "x.csv", "true_words": {"disputed": [True]}}}}})


def test_export_messes_each_handled_or_quarantined_and_every_row_counted(tmp_path):
    run = tmp_path / "run"
    ctx = stages.open_stage("01_data_quality", run, TEMPLATE)
    result = stages.stage_data_quality(ctx)
    rows_in_file = len(pd.read_csv(DATA / "erp_invoices.csv"))
    inv = result.summary.loc["invoices"]
    assert inv["rows_in"] == rows_in_file
    assert inv["rows_removed_by_rules"] + inv["rows_quarantined"] + inv["rows_valid"] == rows_in_file
    rules = result.rules.set_index("rule")["rows"]
    assert rules["exact_duplicate_invoices: keep_one"] == 2
    assert rules["credit_notes: set_aside"] == 2
    assert rules["empty optional cells"] == 3  # blank dispute flags read as 'not disputed', counted
    assert len(pd.read_parquet(run / "data" / "credit_notes.parquet")) == 2
    reasons = result.validation.quarantine.groupby("reasons").size().to_dict()
    # a reused invoice number (other content): both copies; a settlement before the invoice date
    assert reasons == {"invoice_id:unique": 2, "paid_date+invoice_date:paid_not_before_invoice": 1}
    assert list(result.skipped) == ["07_replay"]  # only the replay (off in the params); no stage is skipped for
    # want of outcomes: the expert scorecard scores
    outcomes = json.loads((run / "data" / "data_quality.json").read_text())["outcomes"]
    assert outcomes["available"] is False and "derive_defaults_days_past_due" in outcomes["source"]


def test_credit_notes_are_quarantined_unless_declared(tmp_path):
    p = _export_params(credit_notes="quarantine", exact_duplicate_invoices="quarantine")
    path = tmp_path / "p.yaml"
    import yaml

    path.write_text(yaml.safe_dump(p.model_dump(mode="json")))
    result = stages.stage_data_quality(stages.open_stage("01_data_quality", tmp_path / "run", path))
    reasons = result.validation.quarantine["reasons"]
    assert reasons.str.contains("amount:range").sum() == 2
    assert reasons.str.contains("invoice_id:unique").sum() == 2 * 2 + 2  # exact copies, both sides, + the reuse


def test_customers_built_from_invoices_with_terms_region_and_peak_exposure():
    inv = pd.DataFrame({
        "customer_id": ["A", "A", "A", "B"], "countryCode": ["391", "391", "406", "770"],
        "invoice_date": ["01/05/2024", "02/10/2024", "03/01/2024", "02/01/2024"],
        "due_date": ["02/04/2024", "03/01/2024", "04/15/2024", "03/02/2024"],
    })
    p = _export_params()
    out, report = apply_input_rules({"invoices": inv.assign(amount="1", paid_date="", disputed="No",
                                                            PaperlessBill="Paper")}, p.data)
    c = out["customers"].set_index("customer_id")
    assert c.loc["A", "onboarding_date"] == "2024-01-05" and c.loc["A", "region"] == "391"
    assert c.loc["A", "payment_terms_days"] == 30 and c.loc["B", "payment_terms_days"] == 30
    assert c.loc["A", "industry"] == "unknown" and report.customers_derived
    validated = {
        "customers": c.reset_index().assign(credit_limit=0.0),
        "invoices": pd.DataFrame({
            "customer_id": ["A", "A", "B"], "amount": [100.0, 50.0, 70.0],
            "invoice_date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-02-01"]),
            "paid_date": pd.to_datetime(["2024-03-15", pd.NaT, "2024-02-20"])}),
    }
    done = complete_customers(validated, pd.Timestamp("2024-04-01"), 12)["customers"].set_index("customer_id")
    # month-ends: Jan 31 A=100; Feb 29 A=150, B=0; Mar 31 A=50
    assert done.loc["A", "credit_limit"] == 150.0 and done.loc["B", "credit_limit"] == 0.0


def test_derived_defaults_hand_worked():
    inv = pd.DataFrame({
        "customer_id": ["A", "A", "B", "C", "D"],
        "due_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-01", "2024-01-01", "2024-11-15"]),
        "paid_date": pd.to_datetime(["2024-05-01", pd.NaT, "2024-03-30", "2024-04-01", pd.NaT]),
    })
    d = derive_defaults(inv, pd.Timestamp("2025-01-01"), 90).set_index("customer_id")
    # A: first invoice reached 90 dpd on 2024-03-31 unpaid (paid May); B paid on day 89; C paid on day 91;
    # D reaches 90 dpd only after the data cut.
    assert d["default_date"].to_dict() == {"A": pd.Timestamp("2024-03-31"), "C": pd.Timestamp("2024-03-31")}
    assert set(d["default_type"]) == {"derived_90dpd"}


def test_derived_defaults_refused_beside_a_defaults_file():
    with pytest.raises(ParamsError, match="use one source of outcomes"):
        params_from_dict({"data": {"source": "files", "rules": {"derive_defaults_days_past_due": 90},
                                   "files": {"customers": {"path": "c.csv"}, "invoices": {"path": "i.csv"},
                                             "defaults": {"path": "d.csv"}}}})


def test_missing_customers_file_says_how_to_proceed():
    with pytest.raises(ParamsError, match="customers_from_invoices"):
        params_from_dict({"data": {"source": "files", "files": {"invoices": {"path": "i.csv"}}}})


def test_words_for_a_column_not_in_the_file_lists_the_columns():
    p = _export_params()
    with pytest.raises(SchemaError, match="'PaperlessBill'.*available columns: invoice_id"):
        apply_input_rules({"invoices": pd.DataFrame({"invoice_id": ["1"], "disputed": ["Yes"]})}, p.data)


@pytest.mark.e2e
def test_no_outcome_export_gives_every_customer_a_score_pd_limit_and_reasons(tmp_path):
    params = load_params(TEMPLATE, overrides={"output_dir": str(tmp_path / "out")})
    path = tmp_path / "p.yaml"
    import yaml

    path.write_text(yaml.safe_dump(params.model_dump(mode="json")))
    result = pipeline.run(path)
    st = result.manifest["stages"]
    assert {k: v["status"] for k, v in st.items()} == {**dict.fromkeys(st, "succeeded"), "07_replay": "skipped"}
    assert result.manifest["scoring_method"]["method"] == "expert"
    assert "no outcome data" in result.manifest["scoring_method"]["reason"]
    run = result.run_dir
    customers = pd.read_parquet(run / "data" / "customers.parquet")["customer_id"]
    scores = pd.read_parquet(run / "data" / "scores.parquet").set_index("customer_id")
    limits = pd.read_parquet(run / "data" / "limits.parquet").set_index("customer_id")
    assert set(scores.index) == set(customers) == set(limits.index)
    assert scores[["pd", "grade", "score", "expert_score", "risk_class"]].notna().all().all()
    assert limits["proposed_limit"].notna().all()
    assert (scores["reason_1"] != "").mean() > 0.5  # a customer below the book on some criterion hears which
    # points per criterion add up to the expert score for every customer
    points = pd.read_parquet(run / "data" / "scorecard_contributions.parquet").set_index("customer_id")
    crit = [c for c in points.columns if c not in ("total_score", "segment", "risk_class", "criteria_missing",
                                                   "weight_missing_share")]
    np.testing.assert_allclose(points[crit].sum(axis=1), points["total_score"], atol=1e-9)
    np.testing.assert_allclose(points["total_score"], scores.loc[points.index, "expert_score"])
    # the policy's class table gives the PD when there are no outcomes
    classes = pd.read_parquet(run / "data" / "expert_classes.parquet").set_index("risk_class")
    assert (scores["pd"] == scores["risk_class"].map(classes["pd_policy"])).all()
    # the export never reaches 60+ days past due: those buckets are merged (and said), not a failure
    matrix = pd.read_parquet(run / "data" / "provision_matrix.parquet").set_index("bucket")
    assert list(matrix.index) == ["current", "1-30", ">30", "Total"]
    assert "merged into the one before" in (run / "reports" / "06_risk_reserve.html").read_text()
    report = (run / "reports" / "03_model.html").read_text()
    assert "expert scorecard" in report and "Risk classes and their PD" in report
    index = (run / "index.html").read_text()
    assert "Scoring method" in index and "no outcome data" in index
    assert index.count("<img") >= 2  # the portfolio section is full
    summary = json.loads((run / "data" / "reserve_summary.json").read_text())
    assert summary["el"] > 0 and summary["reserve_recommended"] > 0
    assert pipeline.verify_run(run) == []


def test_derived_outcome_lets_the_model_stages_run(tmp_path):
    # a ledger whose customers pay late enough for some to reach 60 days past due
    p = _export_params(derive_defaults_days_past_due=45)
    path = tmp_path / "p.yaml"
    import yaml

    raw = p.model_dump(mode="json")
    raw["features"].update(training_snapshots=2, label_horizon_months=6, snapshot_spacing_months=3)
    raw["model"].update(oot_snapshots=1, max_iter=30, min_samples_leaf=5)
    path.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    dq = stages.stage_data_quality(stages.open_stage("01_data_quality", run, path))
    defaults = dq.validation.tables["defaults"]
    assert len(defaults) > 0 and (defaults["default_type"] == "derived_45dpd").all()
    assert any("defaults derived from the invoices" in a for a in dq.validation.assumptions)
    feats = stages.stage_features(stages.open_stage("02_features", run, path))
    assert list(feats.skipped) == ["07_replay"] and feats.train is not None
    # a handful of defaults: the expert scorecard with the most prudent PD per class, and the run says so
    model = stages.stage_model(stages.open_stage("03_model", run, path))
    assert model.method == "expert" and "fewer than model.min_fit_defaults" in model.method_reason
    classes = model.expert_classes.set_index("risk_class")
    assert (classes["pd"] >= classes["pd_mpe"].fillna(0) - 1e-15).all()
    assert classes["obligors"].sum() > 0 and model.binomial is not None
    for stage in ("04_scoring_explain", "05_limits", "06_risk_reserve"):
        stages.STAGES[stage][1](stages.open_stage(stage, run, path))
    assert pd.read_parquet(run / "data" / "limits.parquet")["proposed_limit"].notna().all()


def test_overpayment_settles_the_invoice_in_full_and_counts_the_excess():
    from credit_lab.data.contract import validate_ledger

    inv = pd.DataFrame({"invoice_id": ["1", "2", "3"], "customer_id": ["A"] * 3,
                        "invoice_date": ["2024-01-01"] * 3, "due_date": ["2024-01-31"] * 3,
                        "amount": ["100", "1,000", "50"], "paid_date": ["2024-01-20", "2024-02-10", None],
                        "paid_amount": ["120.50", "1000", None]})
    cust = pd.DataFrame({"customer_id": ["A"], "industry": ["X"], "region": ["N"], "onboarding_date": ["2023-01-01"],
                         "payment_terms_days": ["30"], "credit_limit": ["1000"]})
    data = params_from_dict({"data": {"source": "files", "files": {"invoices": {"path": "i.csv"},
                                                                   "customers": {"path": "c.csv"}}}}).data
    out, report = apply_input_rules({"invoices": inv, "customers": cust}, data)
    effect = report.frame().set_index("rule").loc["overpayments: settle_in_full"]
    assert effect["rows"] == 1 and "20.50 in total" in effect["detail"]
    valid = validate_ledger(out, "fail")
    assert valid.tables["invoices"]["paid_amount"].tolist()[:2] == [100.0, 1000.0]
    # declared quarantine: the overpaid row is set aside with the rule's name, nothing else
    strict = data.model_copy(update={"rules": data.rules.model_copy(update={"overpayments": "quarantine"})})
    out, _ = apply_input_rules({"invoices": inv, "customers": cust}, strict)
    kept = validate_ledger(out, "quarantine")
    assert kept.quarantine["reasons"].tolist() == ["paid_amount+amount:paid_amount_within_amount"]
    assert kept.tables["invoices"]["invoice_id"].tolist() == ["2", "3"]


def test_settling_overpayments_replaces_only_the_paid_amounts():
    """The settled table is the old whole-table copy with the overpaid rows settled; the input is not
    changed and the invoice ids are shared, not copied (a ledger's ids are most of its memory)."""
    inv = pd.DataFrame({"invoice_id": pd.array(["1", "2", "3"], dtype="string[pyarrow]"),
                        "customer_id": pd.array(["A"] * 3, dtype="string[pyarrow]"),
                        "invoice_date": pd.to_datetime(["2024-01-01"] * 3),
                        "due_date": pd.to_datetime(["2024-01-31"] * 3), "amount": [100.0, 1000.0, 50.0],
                        "paid_date": pd.to_datetime(["2024-01-20", "2024-02-10", None]),
                        "paid_amount": [120.5, 1000.0, np.nan]})
    before = inv.copy()
    data = params_from_dict({"data": {"source": "files", "files": {"invoices": {"path": "i.csv"},
                                                                   "customers": {"path": "c.csv"}}}}).data
    out, _ = apply_input_rules({"invoices": inv}, data)
    expected = inv.copy()
    expected.loc[[0], "paid_amount"] = 100.0
    pd.testing.assert_frame_equal(out["invoices"], expected, check_exact=True)
    pd.testing.assert_frame_equal(inv, before, check_exact=True)
    assert out["invoices"]["invoice_id"].array._pa_array is inv["invoice_id"].array._pa_array
