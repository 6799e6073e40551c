"""Competitive intensity estimated from the ledger's limit cuts (credit_lab.limits.competition_evidence), the
synthetic ledger's churn response it is checked against, the limit_history table's contract, and stage 05."""

from __future__ import annotations

import doctest
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_lab.core.competition_params import CompetitionParams
from credit_lab.core.exceptions import SchemaError
from credit_lab.data.contract import validate_ledger
from credit_lab.data.synthetic import DEFAULT_PARAMS, generate_ledger
from credit_lab.limits.competition_evidence import (
    EVIDENCE_COLUMNS,
    apply_ledger_estimate,
    competition_evidence,
    limit_cuts,
)

ROOT = Path(__file__).resolve().parent.parent

#: two industries with very different generating intensities; the rest take the default
TRUE = {"Manufacturing": 0.8, "Wholesale": 0.15}
CHURN = replace(DEFAULT_PARAMS, limit_cut_share=0.2, true_competition_intensity_by_industry=tuple(TRUE.items()),
                true_competition_default_intensity=0.4)


def _tables(ledger) -> dict[str, pd.DataFrame]:
    return {"customers": ledger.customers, "invoices": ledger.invoices, "defaults": ledger.defaults,
            "limit_history": ledger.limit_history}


@pytest.fixture(scope="module")
def churn_ledger():
    return generate_ledger(n_customers=2000, n_months=36, seed=0, params=CHURN)


@pytest.fixture(scope="module")
def plain_ledger():
    """The same ledger without the setting."""
    return generate_ledger(n_customers=2000, n_months=36, seed=0)


@pytest.fixture(scope="module")
def evidence(churn_ledger) -> pd.DataFrame:
    return competition_evidence(_tables(churn_ledger), seed=0)


# ---------------------------------------------------------------- the estimate against the generating truth


def test_interval_contains_the_generating_intensity_and_ranks_the_industries(evidence):
    # Seed 0, the first one tried. Over seeds 0-29 both 95% intervals hold their true value together in 27
    # (about what two independent 95% intervals give); the estimate's mean is within 0.05 of the truth.
    by_industry = evidence.set_index("industry")
    for industry, truth in TRUE.items():
        row = by_industry.loc[industry]
        assert row["enough_evidence"], row["verdict"]
        assert row["n_cut"] >= 30
        assert row["low"] <= truth <= row["high"], (industry, truth, row[["intensity", "low", "high"]].to_dict())
        assert row["low"] <= row["intensity"] <= row["high"]
    assert by_industry.loc["Manufacturing", "intensity"] > by_industry.loc["Wholesale", "intensity"]


def test_table_is_tidy_with_shares_in_range_and_a_verdict(evidence):
    assert list(evidence.columns) == list(EVIDENCE_COLUMNS)
    assert evidence["industry"].is_unique
    enough = evidence.loc[evidence["enough_evidence"]]
    for col in ("lost_share_cut", "lost_share_control", "mean_shortfall", "intensity", "low", "high"):
        assert enough[col].between(0.0, 1.0).all(), col
    # the shipped params say 0 everywhere: Manufacturing's interval lies well above that
    manufacturing = evidence.set_index("industry").loc["Manufacturing"]
    assert manufacturing["params_intensity"] == 0.0 and not manufacturing["params_in_interval"]
    assert "is below the interval" in manufacturing["verdict"]
    assert "interval" in evidence.attrs["method"] and isinstance(evidence.attrs["notes"], list)


def test_estimate_is_reproducible_with_the_seed(churn_ledger, evidence):
    again = competition_evidence(_tables(churn_ledger), seed=0)
    pd.testing.assert_frame_equal(again, evidence)


def test_no_cuts_is_not_enough_evidence(churn_ledger):
    history = churn_ledger.limit_history.groupby("customer_id", as_index=False).head(1)  # the onboarding limits only
    out = competition_evidence({**_tables(churn_ledger), "limit_history": history})
    assert (out["n_cut"] == 0).all() and not out["enough_evidence"].any()
    assert out["verdict"].str.startswith("not enough evidence").all()
    assert out["intensity"].isna().all() and out["params_in_interval"].isna().all()


def test_too_few_cuts_is_not_enough_evidence_and_names_the_threshold(churn_ledger):
    strict = CompetitionParams(ledger_estimate={"min_cut_customers": 100_000})
    out = competition_evidence(_tables(churn_ledger), strict)
    assert not out["enough_evidence"].any()
    assert out["verdict"].str.contains("fewer than 100000").all()


def test_examples_in_the_docstrings_run():
    from credit_lab.limits import competition_evidence as module

    assert doctest.testmod(module, raise_on_error=False).failed == 0


def test_limit_cuts_are_drops_beyond_the_threshold():
    history = pd.DataFrame({"customer_id": ["A", "A", "A", "B", "B"],
                            "valid_from": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-06-01",
                                                          "2024-01-01", "2024-02-01"]),
                            "limit": [100.0, 97.0, 40.0, 50.0, 0.0]})
    cuts = limit_cuts(history, min_cut_share=0.05)  # A's 3% drop is not a cut; B's withdrawal is
    assert cuts[["customer_id", "limit_before", "limit_after"]].values.tolist() == [["A", 97.0, 40.0],
                                                                                    ["B", 50.0, 0.0]]


# ---------------------------------------------------------------- params: use the estimate or not


def test_use_ledger_estimate_replaces_only_industries_with_enough_evidence(evidence):
    stated = CompetitionParams(intensity_by_industry={"Wholesale": 0.5, "Energy": 0.2}, use_ledger_estimate=True)
    thin = evidence.assign(enough_evidence=evidence["industry"] != "Energy")
    used, notes = apply_ledger_estimate(stated, thin)
    estimate = thin.set_index("industry")["intensity"]
    assert used.intensity_by_industry["Wholesale"] == pytest.approx(estimate["Wholesale"], abs=1e-4)
    assert used.intensity_by_industry["Energy"] == 0.2  # not enough evidence: the params' value stands
    assert "Wholesale 0.50 ->" in notes[0] and "kept (not enough evidence) for Energy" in notes[0]
    off, off_notes = apply_ledger_estimate(stated.model_copy(update={"use_ledger_estimate": False}), thin)
    assert off.intensity_by_industry == stated.intensity_by_industry and off_notes == []
    missing, missing_notes = apply_ledger_estimate(stated, None)
    assert missing is stated and "no limit_history" in missing_notes[0]


# ---------------------------------------------------------------- the synthetic ledger's churn response


def test_churn_setting_is_off_by_default_and_leaves_the_rest_of_the_ledger_alone(churn_ledger, plain_ledger):
    plain = plain_ledger
    assert plain.limit_history is None and DEFAULT_PARAMS.limit_cut_share == 0.0
    # the cuts draw from a stream of their own: customers differ only in today's limit, invoices only by the
    # lost customers' later ones, and every other table not at all
    pd.testing.assert_frame_equal(plain.customers.drop(columns="credit_limit"),
                                  churn_ledger.customers.drop(columns="credit_limit"))
    kept = plain.invoices.loc[plain.invoices["invoice_id"].isin(churn_ledger.invoices["invoice_id"])]
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), churn_ledger.invoices)
    assert len(churn_ledger.invoices) < len(plain.invoices)
    pd.testing.assert_frame_equal(plain.financials, churn_ledger.financials)
    pd.testing.assert_frame_equal(plain.industry_outlook, churn_ledger.industry_outlook)


def test_churn_ledger_records_every_limit_and_loses_only_cut_customers(churn_ledger, plain_ledger):
    history = churn_ledger.limit_history
    customers = churn_ledger.customers.set_index("customer_id")
    assert set(history["customer_id"]) == set(customers.index)
    assert not history.duplicated(["customer_id", "valid_from"]).any() and (history["limit"] >= 0).all()
    latest = history.sort_values("valid_from").groupby("customer_id")["limit"].last()
    assert np.allclose(latest.reindex(customers.index), customers["credit_limit"])  # today's limit = the last one
    cut = set(limit_cuts(history)["customer_id"])
    plain = plain_ledger
    dropped = set(plain.invoices.loc[~plain.invoices["invoice_id"].isin(churn_ledger.invoices["invoice_id"]),
                                     "customer_id"])
    assert dropped and dropped <= cut
    validation = validate_ledger(_tables(churn_ledger))  # the generated table keeps the data contract
    assert validation.violations == []


def test_churn_settings_out_of_range_are_refused():
    with pytest.raises(ValueError, match="true competitive intensities must lie in"):
        generate_ledger(n_customers=100, n_months=24, seed=1,
                        params=replace(CHURN, true_competition_intensity_by_industry=(("Retail", 1.5),)))


# ---------------------------------------------------------------- the limit_history table's contract


def _small_ledger_with(history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame({"customer_id": ["C1", "C2"], "industry": ["Retail"] * 2, "region": ["North"] * 2,
                              "onboarding_date": ["2023-01-01"] * 2, "payment_terms_days": [30, 30],
                              "credit_limit": [1000.0, 2000.0]})
    invoices = pd.DataFrame({"invoice_id": ["I1"], "customer_id": ["C1"], "invoice_date": ["2024-01-05"],
                             "due_date": ["2024-02-04"], "amount": [100.0], "paid_date": [None]})
    return {"customers": customers, "invoices": invoices, "limit_history": history}


BAD_HISTORY = pd.DataFrame({"customer_id": ["C1", "C9", "C2", "C2", "C2"],
                            "valid_from": ["2023-01-01", "2023-01-01", "2023-01-01", "2024-01-01", "2024-01-01"],
                            "limit": [1000.0, 500.0, -5.0, 100.0, 200.0]})


def test_bad_limit_history_rows_fail_naming_table_column_and_rule():
    with pytest.raises(SchemaError) as failed:
        validate_ledger(_small_ledger_with(BAD_HISTORY))
    message = str(failed.value)
    assert "table 'limit_history', column 'customer_id', rule 'reference'" in message and "C9" in message
    assert "table 'limit_history', column 'limit', rule 'range'" in message and "-5.0" in message
    assert "table 'limit_history', column 'customer_id+valid_from', rule 'unique'" in message


def test_bad_limit_history_rows_are_quarantined_with_their_reasons():
    validation = validate_ledger(_small_ledger_with(BAD_HISTORY), on_invalid="quarantine")
    quarantined = validation.quarantine.loc[validation.quarantine["table"] == "limit_history"]
    reasons = dict(zip(quarantined["key"], quarantined["reasons"]))
    assert reasons["C9|2023-01-01"] == "customer_id:reference"
    assert reasons["C2|2023-01-01"] == "limit:range"
    assert validation.tables["limit_history"]["customer_id"].tolist() == ["C1"]


def test_limit_history_without_a_required_column_names_it():
    with pytest.raises(SchemaError, match="table 'limit_history': required column"):
        validate_ledger(_small_ledger_with(BAD_HISTORY.drop(columns="limit")))


# ---------------------------------------------------------------- stage 05 and the limits report


@pytest.mark.e2e
def test_stage_05_writes_the_evidence_uses_it_when_asked_and_the_report_shows_it(tmp_path):
    from credit_lab.report import sections
    from credit_lab.run import stages
    from credit_lab.run.params import run_params_from_dict
    from credit_lab.run.stages.catalog import CATALOG
    from credit_lab.run.stages.context import StageContext

    raw = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text())
    raw["data"]["synthetic"].update(n_customers=400, limit_cut_share=0.4)
    raw.setdefault("reserve", {})["stress_scenarios"] = []
    raw.setdefault("limits", {})["competition"] = {"use_ledger_estimate": True,
                                                   "ledger_estimate": {"min_cut_customers": 5}}
    ctx = StageContext(tmp_path / "run", run_params_from_dict(raw, source="test"))
    ctx.data_dir.mkdir(parents=True)
    for stage in ("01_data_quality", "02_features", "03_model", "04_scoring_explain", "05_limits"):
        ctx.log.clear()
        result = stages.STAGES[stage][1](ctx)
        assert set(ctx.log.reads) <= set(CATALOG[stage].inputs), stage
        assert set(ctx.log.writes) <= set(CATALOG[stage].outputs), stage
    assert "data/limit_history.parquet" in CATALOG["01_data_quality"].outputs
    assert (ctx.data_dir / "limit_history.parquet").is_file()
    written = pd.read_parquet(ctx.data_dir / "competition_evidence.parquet")
    assert list(written.columns) == list(EVIDENCE_COLUMNS)
    assert result.competition_evidence is not None and result.competition_evidence["enough_evidence"].any()
    assert any(n.startswith("Competition: the ledger's estimate replaces") for n in result.notes)
    assert result.competition_tradeoff is not None  # the estimated intensities switched the competition term on
    shown = sections.competition_evidence(result)
    assert "replaces the params' intensity" in shown[0].data and "verdict" in shown[1].columns
    plain = sections.competition_evidence(SimpleNamespace(competition_evidence=None))
    assert "no `limit_history` table" in plain.data
