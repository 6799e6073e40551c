"""Table mode: a customer-level table (outcome, limit, balance, features) through every stage."""

import html
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import CustomerTableParams, load_params
from credit_lab.core.exceptions import ParamsError, SchemaError
from credit_lab.data.table_mode import (
    CategoryEncoder,
    infer_risk_directions,
    load_customer_table,
    read_feature_dictionary,
    split_table,
)
from credit_lab.run import stages
from credit_lab.run.index_page import index_page

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TEMPLATE = ROOT / "params" / "table_template.yaml"


def _params(path, **kw) -> CustomerTableParams:
    base = {"path": str(path), "id_column": "id", "outcome": {"column": "y"}}
    base.update(kw)
    return CustomerTableParams.model_validate(base)


def _write(tmp_path, frame: pd.DataFrame) -> Path:
    p = tmp_path / "t.csv"
    frame.to_csv(p, index=False)
    return p


def test_outcome_any_two_valued_coding(tmp_path):
    p = _write(tmp_path, pd.DataFrame({"id": ["a", "b", "c", "d"], "y": ["Bad", "good", " bad", "GOOD"],
                                       "x": [1, 2, 3, 4]}))
    t = load_customer_table(_params(p, outcome={"column": "y", "bad_values": ["bad"], "good_values": ["good"]}))
    assert t.outcome.tolist() == [1, 0, 1, 0]


def test_outcome_zero_one_needs_no_declaration_and_reads_1_0_as_1(tmp_path):
    p = _write(tmp_path, pd.DataFrame({"id": ["a", "b", "c"], "y": ["1.0", "0", "1"], "x": [1, 2, 3]}))
    assert load_customer_table(_params(p)).outcome.tolist() == [1, 0, 1]


def test_outcome_with_three_values_shows_them(tmp_path):
    p = _write(tmp_path, pd.DataFrame({"id": list("abcd"), "y": ["yes", "no", "maybe", "no"], "x": [1, 2, 3, 4]}))
    with pytest.raises(SchemaError, match=r"3 distinct values .*'maybe'"):
        load_customer_table(_params(p))
    coded = _params(p, outcome={"column": "y", "bad_values": ["yes"], "good_values": ["no"]})
    with pytest.raises(SchemaError, match=r"value\(s\) \['maybe'\] outside the declared coding"):
        load_customer_table(coded)
    t = load_customer_table(coded, on_invalid="quarantine")
    assert t.quarantine["key"].tolist() == ["c"]
    assert t.quarantine["reasons"].tolist() == ["y:outcome_coding"]


def test_unquoted_yaml_yes_is_refused_with_the_fix():
    with pytest.raises(ParamsError, match="quote it"):
        load_params(TEMPLATE, overrides={"data": {"source": "table", "table": {
            "path": "x.csv", "outcome": {"column": "y", "bad_values": [True], "good_values": ["no"]}}}})


def test_wrong_column_names_closest_match(tmp_path):
    p = _write(tmp_path, pd.DataFrame({"id": ["a"], "y": [1], "credit_limit": [5.0]}))
    with pytest.raises(SchemaError, match=r"'credit_limt' is not in .*closest: 'credit_limit'.*available columns"):
        load_customer_table(_params(p, limit_column="credit_limt"))


def test_missing_codes_and_undeclared_text_in_a_numeric_column(tmp_path):
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(40)], "y": [i % 2 for i in range(40)],
                          "income": [str(100 + i) for i in range(38)] + ["?", "?"]})
    p = _write(tmp_path, frame)
    with pytest.raises(SchemaError, match=r"'income' holds numbers except 2 value\(s\) \{'\?': 2\}.*missing_values"):
        load_customer_table(_params(p))
    t = load_customer_table(_params(p, missing_values=["?"]))
    assert t.numeric == ["income"] and t.features["income"].isna().sum() == 2
    assert any("income: 2 value(s) declared as missing" in n for n in t.notes)


def test_categories_as_text_and_as_declared_numeric_codes(tmp_path):
    frame = pd.DataFrame({"id": list("abcdef"), "y": [0, 1, 0, 1, 0, 0],
                          "purpose": ["car", "tv", "car", "tv", "x", "x"],
                          "code": [1, 2, 1, 2, 3, 3], "amount": [1.5, 2, 3, 4, 5, 6]})
    t = load_customer_table(_params(_write(tmp_path, frame), categorical=["code"]))
    assert sorted(t.categorical) == ["code", "purpose"] and t.numeric == ["amount"]
    assert t.features["code"].tolist() == ["1", "2", "1", "2", "3", "3"]


def test_special_codes_found_and_kept_for_the_model_to_treat(tmp_path):
    frame = pd.DataFrame({"id": list("abcd"), "y": [0, 1, 0, 1], "months": [3, 9999, 5, 9999]})
    t = load_customer_table(_params(_write(tmp_path, frame), special_codes={"months": [9999]}))
    assert t.special == {"months": [9999.0]} and t.features["months"].tolist() == [3, 9999, 5, 9999]


def test_wrong_date_format_shows_an_example(tmp_path):
    frame = pd.DataFrame({"id": list("ab"), "y": [0, 1], "x": [1, 2], "d": ["31/12/2024", "15/06/2024"]})
    with pytest.raises(SchemaError, match=r"no value of 'd' matches .*e\.g\. '31/12/2024'.*date_format"):
        load_customer_table(_params(_write(tmp_path, frame), date_column="d"))


def test_bad_rows_fail_or_are_quarantined_with_reasons(tmp_path):
    frame = pd.DataFrame({"id": ["a", "a", "b", "c", None, "d"], "y": [0, 1, 0, 1, 0, 1],
                          "lim": ["5", "5", "-1", "x", "2", "7"], "f": [1, 2, 3, 4, 5, 6]})
    p = _write(tmp_path, frame)
    with pytest.raises(SchemaError, match=r"5 row\(s\) break the table's rules"):
        load_customer_table(_params(p, limit_column="lim"))
    t = load_customer_table(_params(p, limit_column="lim"), on_invalid="quarantine")
    reasons = dict(zip(t.quarantine["row_number"], t.quarantine["reasons"], strict=True))
    assert reasons == {1: "id:unique", 2: "id:unique", 3: "lim:range", 4: "lim:type", 5: "id:not_null"}
    assert t.features.index.tolist() == ["d"] and t.book["credit_limit"].tolist() == [7.0]


def test_feature_dictionary_file(tmp_path):
    p = tmp_path / "dict.csv"
    pd.DataFrame({"feature": ["a", "zzz"], "description": ["the a", "unknown"], "risk_direction": [-1, 1],
                  "reason": ["low a", "x"]}).to_csv(p, index=False)
    d = read_feature_dictionary(str(p), ["a", "b"])
    assert d.loc["a", ["description", "risk_direction", "reason"]].tolist() == ["the a", -1, "low a"]
    assert d.loc["b", "description"] == "b" and np.isnan(d.loc["b", "risk_direction"])
    pd.DataFrame({"feature": ["a"], "risk_direction": [2]}).to_csv(p, index=False)
    with pytest.raises(SchemaError, match="risk_direction must be -1, 0 or 1"):
        read_feature_dictionary(str(p), ["a"])


def test_risk_direction_inferred_from_data_only_when_clear():
    rng = np.random.default_rng(0)
    n = 4000
    X = pd.DataFrame({"risky": rng.normal(size=n), "safe": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + X["risky"] - X["safe"])))).astype(int)
    d = infer_risk_directions(X, y.to_numpy(), ["risky", "safe", "noise"], {"noise": 0})
    assert d["risk_direction"].to_dict() == {"risky": 1, "safe": -1, "noise": 0}
    assert d.loc["noise", "basis"] == "declared"
    independent = infer_risk_directions(X[["noise"]], y.to_numpy(), ["noise"], {})
    assert independent.loc["noise", "risk_direction"] == 0


def test_category_encoder_orders_by_default_rate_and_reports_unseen():
    X = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 50 + ["z"] * 50})
    y = np.r_[np.zeros(45), np.ones(5), np.zeros(25), np.ones(25), np.zeros(50)]
    enc = CategoryEncoder(["c"]).fit(X, y)
    coded = enc.transform(pd.DataFrame({"c": ["z", "a", "b", "new", None]}))
    assert coded["c"].tolist()[:3] == [0.0, 1.0, 2.0] and np.isnan(coded["c"].iloc[3])
    assert enc.last_unseen_ == {"c": {"count": 1, "examples": ["new"]}}


def test_split_is_stratified_seeded_and_latest_rows_are_out_of_time():
    ids = pd.Index([f"c{i}" for i in range(1000)])
    y = pd.Series(([1] * 100 + [0] * 900), index=ids)
    s1 = split_table(y, None, 0.3, 0.2, seed=1)
    assert s1.equals(split_table(y, None, 0.3, 0.2, seed=1))
    assert (s1 == "holdout").sum() == 300 and y[s1 == "holdout"].sum() == 30
    date = pd.Series(pd.date_range("2024-01-01", periods=1000, freq="D"), index=ids)
    s2 = split_table(y, date, 0.3, 0.2, seed=1)
    assert date[s2 == "holdout"].min() > date[s2 != "holdout"].max()


@pytest.mark.e2e
def test_template_runs_every_stage_and_accounts_for_every_row(tmp_path):
    run = tmp_path / "run"
    results = {}
    for stage, (_, func, _) in stages.STAGES.items():
        if stage == "07_replay":  # a customer table has no invoices to replay: skipped
            with pytest.raises(stages.StageSkipped, match="table mode"):
                stages.open_stage(stage, run, TEMPLATE, build_missing_upstream=False)
            continue
        ctx = stages.open_stage(stage, run, TEMPLATE, build_missing_upstream=False)
        results[stage] = func(ctx)
    dq = results["01_data_quality"]
    rows_in = len(pd.read_csv(DATA / "customer_table.csv"))
    assert dq.summary.loc["customer_table", "rows_in"] == rows_in
    q = dq.validation.quarantine
    assert dq.summary.loc["customer_table", "rows_valid"] + len(q) == rows_in
    assert set(q["reasons"]) == {"client:unique", "credit_limit:range", "defaulted:outcome_coding"}
    assert results["03_model"].metrics[-1].sample == "out-of-time"
    # a tenure column gives the new/existing segments; a segment short of defaults falls back, said in a note
    assert results["03_model"].segments is not None and set(results["03_model"].segments["segment"]) == {
        "all", "new", "existing"}
    assert any("new-customer segment" in n for n in results["03_model"].notes)
    assert results["03_model"].metrics[-1].auc > 0.6
    scores = results["04_scoring_explain"].scores
    assert len(scores) == rows_in - len(q) and results["04_scoring_explain"].additivity_error < 1e-9
    # the dictionary's phrase is the reason a customer reads
    assert "uses most of the limit" in set(scores["reason_1"])
    limits = results["05_limits"].limits
    assert limits["final_limit"].notna().all() and (limits["final_limit"] >= 0).all()
    # every changed limit is logged with who must approve it, by the same thresholds as a ledger's review
    log = pd.read_csv(run / "data" / "decision_log.csv", encoding="utf-8-sig")
    changed = limits.index[(limits["final_limit"] - limits["current_limit"]).abs() > 1e-9]
    assert sorted(log["customer_id"].astype(str)) == sorted(changed.astype(str))
    assert set(log["approver"]) <= {"auto", "credit_analyst", "credit_manager", "finance_director"}
    assert (limits.loc[changed, "approver"] != "").all()
    assert results["06_risk_reserve"].totals["reserve_recommended"] > results["06_risk_reserve"].totals["el"] > 0
    # the index page: the settings behind the decisions right after the headline figures, the template's own
    # marked as set, then what the run decided (scoring method, reserve notes)
    page = index_page(run, load_params(TEMPLATE))
    assert page.index("<h2>Headline figures</h2>") < page.index("<h2>Assumptions behind these decisions</h2>") \
        < page.index("<h2>Reports</h2>")
    section = page[page.index("<h2>Assumptions behind"):page.index("<h2>Reports</h2>")]
    row = section[section.index("<code>limits.el_budget_vs_current</code>"):].split("</tr>")[0]
    assert "0.8 × today&#x27;s EL" in row and "<strong>your params file</strong>" in row
    row = section[section.index("<code>limits.pd_cutoff</code>"):].split("</tr>")[0]
    assert "<td>20%</td><td>default</td>" in row
    assert html.escape(results["03_model"].method_reason) in section
    assert all(html.escape(n) in section for n in results["06_risk_reserve"].notes)
    # a category the fit data never had, far down today's table: scored, and counted over every customer
    ctx = stages.open_stage("04_scoring_explain", run, TEMPLATE, build_missing_upstream=False)
    current = ctx.read("features_current.parquet")
    current.loc[current.index[-3:], "purpose"] = "yacht"
    ctx.write("features_current.parquet", current)
    unseen = stages.stage_scoring(ctx).unseen
    assert unseen["purpose"]["count"] == 3 and unseen["purpose"]["examples"] == ["yacht"]


def test_no_outcome_column_and_no_criteria_skips_model_stages_with_the_reason(tmp_path):
    frame = pd.DataFrame({"id": list("abcd"), "x": [1, 2, 3, 4]})
    path = _write(tmp_path, frame)
    params = tmp_path / "p.yaml"
    params.write_text(f"data:\n  source: table\n  table:\n    path: {path}\n    id_column: id\n")
    run = tmp_path / "run"
    stages.stage_data_quality(stages.open_stage("01_data_quality", run, params))
    stages.stage_features(stages.open_stage("02_features", run, params))
    with pytest.raises(stages.StageSkipped, match="name your criteria in model.expert.criteria"):
        stages.open_stage("03_model", run, params)


def test_no_outcome_column_with_named_criteria_scores_every_customer(tmp_path):
    frame = pd.DataFrame({"id": list("abcdef"), "days_late": [0, 3, 12, 45, 90, None],
                          "equity_ratio": [0.5, 0.3, 0.2, 0.05, None, None], "limit": [1e4] * 6,
                          "balance": [2e3] * 6, "sector": ["retail", "retail", "building", "building", "retail", None]})
    path = _write(tmp_path, frame)
    params = tmp_path / "p.yaml"
    params.write_text(f"""data:
  source: table
  table: {{path: {path}, id_column: id, limit_column: limit, balance_column: balance}}
model:
  expert:
    dimension_weights_existing: {{payment_history: 0.6, financial_strength: 0.3, prospects: 0.1}}
    dimension_weights_new: {{payment_history: 0.6, financial_strength: 0.3, prospects: 0.1}}
    criteria:
      days_late: {{dimension: payment_history, bands: [[5, 100], [30, 50], [null, 0]]}}
      equity: {{dimension: financial_strength, column: equity_ratio, bands: [[0.1, 0], [0.3, 60], [null, 100]]}}
      sector: {{dimension: prospects, categories: {{retail: 40, building: 20}}}}
""")
    run = tmp_path / "run"
    for stage in ("01_data_quality", "02_features", "03_model"):
        ctx = stages.open_stage(stage, run, params)
        result = stages.STAGES[stage][1](ctx)
    assert result.method == "expert" and "no outcome data" in result.method_reason
    scores = stages.stage_scoring(stages.open_stage("04_scoring_explain", run, params)).scores
    assert scores["pd"].notna().all() and scores["grade"].notna().all() and len(scores) == 6
    points = pd.read_parquet(run / "data" / "scorecard_contributions.parquet").set_index("customer_id")
    criteria = ["days_late", "equity", "sector", "no_information"]
    np.testing.assert_allclose(points[criteria].sum(axis=1), points["total_score"], atol=1e-12)
    # a: 0.6*100 + 0.3*100 + 0.1*40 = 94; f knows none of its criteria (the policy score without information)
    assert points.loc["a", "total_score"] == pytest.approx(94.0)
    assert points.loc["f", "criteria_missing"] == "days_late, equity, sector"
    assert scores.loc["a", "reason_1"] == ""  # nothing adverse for the best customer
    assert scores.loc["d", "reason_1"] != ""


def test_headerless_space_separated_file_with_column_names(tmp_path):
    # the shape of UCI's german.data: no header, runs of spaces, outcome 1 = good, 2 = bad
    p = tmp_path / "german.data"
    p.write_text("A11 6 A34 1169 1\nA12  48 A32 5951 2\nA14 12 A34 2096 1\n")
    params = _params(p, id_column=None, separator=" ", column_names=["status", "months", "history", "amount", "risk"],
                     outcome={"column": "risk", "bad_values": [2], "good_values": [1]})
    t = load_customer_table(params)
    assert t.outcome.tolist() == [0, 1, 0] and t.features["amount"].tolist() == [1169, 5951, 2096]
    assert t.categorical == ["status", "history"] and t.features.index.tolist() == ["1", "2", "3"]


def test_excel_with_a_title_row_above_the_header(tmp_path):
    # the shape of the UCI credit-card .xls: a first row of codes, the names in the second row
    p = tmp_path / "cards.xlsx"
    frame = pd.DataFrame([["X1", "X2", "Y"], ["LIMIT_BAL", "AGE", "default payment next month"],
                          [20000, 24, 1], [120000, 26, 0], [90000, 34, 0]])
    frame.to_excel(p, header=False, index=False)
    params = _params(p, id_column=None, header_row=1, limit_column="LIMIT_BAL",
                     outcome={"column": "default payment next month"})
    t = load_customer_table(params)
    assert t.outcome.tolist() == [1, 0, 0] and t.book["credit_limit"].tolist() == [20000, 120000, 90000]


def _card_book(tmp_path) -> Path:
    """Six cards: two in credit (overpaid), one with a negative limit, one that breaks the id rule."""
    frame = pd.DataFrame({"id": ["a", "b", "c", "d", "e", "e"], "y": [0, 1, 0, 1, 0, 1],
                          "lim": ["100", "200", "300", "-5", "500", "600"],
                          "bal": ["40", "-12.5", "-30", "10", "-7", "20"], "f": [1, 2, 3, 4, 5, 6]})
    return _write(tmp_path, frame)


def test_credit_balances_are_valid_rows_with_zero_exposure_and_are_counted(tmp_path):
    # an overpaid card (negative balance) is valid data: no drawn exposure, the credit kept, counted
    params = _params(_card_book(tmp_path), limit_column="lim", balance_column="bal")
    t = load_customer_table(params, on_invalid="quarantine")
    reasons = dict(zip(t.quarantine["row_number"], t.quarantine["reasons"], strict=True))
    assert reasons == {4: "lim:range", 5: "id:unique", 6: "id:unique"}  # the negative limit is still invalid
    assert t.features.index.tolist() == ["a", "b", "c"]
    assert t.rows_in == len(t.features) + len(t.quarantine) == 6
    assert t.book["receivables_open"].tolist() == [40.0, 0.0, 0.0]
    assert t.book["credit_balance"].tolist() == [0.0, 12.5, 30.0]
    # counted over the valid rows only (row 5, in credit, is quarantined for its id)
    rule = t.rules.set_index("rule").loc["credit_balances: zero_exposure"]
    assert rule["table"] == "customer_table" and rule["rows"] == 2 and not rule["removed"]
    assert "42.50 in total" in rule["detail"]
    assert any("2 customer(s) have a negative balance" in n and "42.50" in n for n in t.notes)


def test_credit_balances_do_not_stop_a_strict_run(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b"], "y": [0, 1], "lim": [100, 200], "bal": [-1.0, 50.0], "f": [1, 2]})
    t = load_customer_table(_params(_write(tmp_path, frame), limit_column="lim", balance_column="bal"))
    assert t.book["receivables_open"].tolist() == [0.0, 50.0] and t.book["credit_balance"].tolist() == [1.0, 0.0]


def test_credit_balances_quarantine_keeps_the_old_rule(tmp_path):
    params = _params(_card_book(tmp_path), limit_column="lim", balance_column="bal", credit_balances="quarantine")
    t = load_customer_table(params, on_invalid="quarantine")
    reasons = dict(zip(t.quarantine["row_number"], t.quarantine["reasons"], strict=True))
    assert reasons == {2: "bal:range", 3: "bal:range", 4: "lim:range", 5: "id:unique;bal:range", 6: "id:unique"}
    assert t.features.index.tolist() == ["a"] and t.book["credit_balance"].tolist() == [0.0]
    assert t.rules.empty
    with pytest.raises(SchemaError, match=r"bal:range"):
        load_customer_table(params)


def test_credit_balance_column_without_a_balance_column(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b"], "y": [0, 1], "f": [1, 2]})
    t = load_customer_table(_params(_write(tmp_path, frame)))
    assert t.book["credit_balance"].tolist() == [0.0, 0.0] and t.rules.empty


def test_credit_balances_switch_rejects_unknown_values():
    with pytest.raises(ValueError, match="zero_exposure"):
        CustomerTableParams.model_validate({"path": "x.csv", "credit_balances": "ignore"})


def test_credit_balances_reach_the_data_quality_report_and_the_book(tmp_path):
    table = pd.read_csv(DATA / "customer_table.csv", dtype=str)
    table.loc[[3, 7, 11], "balance"] = ["-25.5", "-100", "-4.5"]
    table.to_csv(tmp_path / "t.csv", index=False)
    params = tmp_path / "p.yaml"
    params.write_text(TEMPLATE.read_text().replace("tests/data/customer_table.csv", str(tmp_path / "t.csv"))
                      .replace("tests/data/customer_table_dictionary.csv",
                               str(DATA / "customer_table_dictionary.csv")))
    ctx = stages.open_stage("01_data_quality", tmp_path / "run", params, build_missing_upstream=False)
    dq = stages.stage_data_quality(ctx)
    summary = dq.summary.loc["customer_table"]
    assert summary["rows_in"] == len(table) == summary["rows_valid"] + summary["rows_quarantined"]
    assert "balance:range" not in ";".join(dq.validation.quarantine["reasons"])
    book = ctx.read("book.parquet").set_index("customer_id")
    in_credit = book[book["credit_balance"] > 0]
    assert in_credit.index.tolist() == ["K00003", "K00007", "K00011"]
    assert (in_credit["receivables_open"] == 0).all() and in_credit["credit_balance"].sum() == 130.0
    assert any("3 customer(s) have a negative balance" in a and "130.00 in total" in a
               for a in ctx.read_json("data_quality.json")["assumptions"])
