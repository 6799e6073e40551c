"""Stage 01, data quality: load the ledger (or customer table), enforce the data contract, write the
validated tables and the quarantine, and record which later stages the data allows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import pandas as pd

from credit_lab.core.config import RunParams
from credit_lab.data import io
from credit_lab.data.contract import LedgerValidation, validate_ledger
from credit_lab.data.exports import apply_input_rules, complete_customers, derive_defaults
from credit_lab.data.synthetic import DEFAULT_PARAMS, generate_ledger
from credit_lab.data.table_book import table_as_of, table_book, table_customers
from credit_lab.data.table_mode import load_customer_table
from credit_lab.features.point_in_time import data_cut_date
from credit_lab.run.assumptions import DecisionSetting, decision_settings
from credit_lab.run.params import book_label
from credit_lab.run.stages.context import TABLES, StageContext
from credit_lab.run.stages.s07_replay import replay_skip_reason

__all__ = ["DataQualityResult", "stage_data_quality"]

logger = logging.getLogger(__name__)


@dataclass
class DataQualityResult:
    """What stage 01 found: the validation, scoring date, row counts, source, rules applied and stages skipped."""

    validation: LedgerValidation
    as_of: pd.Timestamp
    summary: pd.DataFrame
    source: str
    rules: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: dict[str, str] = field(default_factory=dict)
    decision_settings: list[DecisionSetting] = field(default_factory=list)


def _raw_tables(params: RunParams) -> tuple[dict[str, pd.DataFrame], str]:
    if params.data.source == "synthetic":
        s = params.data.synthetic
        ledger = generate_ledger(n_customers=s.n_customers, n_months=s.n_months, start_date=str(s.start_date),
                                 seed=params.seed, annual_default_rate=s.annual_default_rate,
                                 write_off_days_past_due=s.write_off_days_past_due, recovery_rate=s.recovery_rate,
                                 params=replace(DEFAULT_PARAMS, limit_cut_share=s.limit_cut_share))
        tables = {t: getattr(ledger, t) for t in TABLES if getattr(ledger, t) is not None}  # limit_history: opt-in
        return tables, book_label(params)
    return io.read_input_tables(params.data), book_label(params)


def stage_data_quality(ctx: StageContext) -> DataQualityResult:
    """Load the ledger (or customer table), enforce the data contract, write the validated tables
    and the quarantine, and record which later stages the data allows."""
    if ctx.table_mode:
        return _table_data_quality(ctx)
    raw, source = _raw_tables(ctx.params)
    rules = ctx.params.data.rules
    raw, rule_report = apply_input_rules(raw, ctx.params.data)
    formats = {name: src.date_format for name, src in ctx.params.data.files.items()}
    if rule_report.customers_derived:
        formats["customers"] = None  # built with ISO dates
    validation = validate_ledger(raw, ctx.params.data.on_invalid, formats)
    as_of = (pd.Timestamp(ctx.params.data.as_of_date) if ctx.params.data.as_of_date
             else data_cut_date(validation.tables))
    tables = validation.tables
    if rule_report.customers_derived:
        tables = complete_customers(tables, as_of, ctx.params.features.lookback_months)
    if rules.derive_defaults_days_past_due is not None:
        tables["defaults"] = derive_defaults(tables["invoices"], as_of, rules.derive_defaults_days_past_due)
        validation.assumptions.append(
            f"defaults derived from the invoices (data.rules.derive_defaults_days_past_due = "
            f"{rules.derive_defaults_days_past_due}): {len(tables['defaults'])} customer(s) had an invoice that many "
            "days past due before the data cut")
    validation.tables = tables
    for name, table in tables.items():
        ctx.write(f"{name}.parquet", table)
    ctx.write("quarantine.parquet", validation.quarantine)
    if rule_report.credit_notes is not None:
        ctx.write("credit_notes.parquet", rule_report.credit_notes.astype("string"))
    ctx.write_json("skipped.json", {})
    _skip_replay_unless_enabled(ctx)
    outcomes = _outcomes(ctx.params, tables.get("defaults"))
    summary = _row_summary(validation, rule_report)
    rules_frame = rule_report.frame()
    settings = decision_settings(ctx.params)
    ctx.write_json("data_quality.json", {
        "as_of_date": as_of.date().isoformat(), "source": source, "outcomes": outcomes,
        "rows": summary.reset_index(names="table").to_dict(orient="records"),
        "violations": [v.__dict__ for v in validation.violations],
        "assumptions": validation.assumptions,
        "rules": rules_frame.to_dict(orient="records"),
        "decision_assumptions": [s.as_record() for s in settings],
    })
    return DataQualityResult(validation, as_of, summary, source, rules_frame, ctx.skipped(), settings)


def _skip_replay_unless_enabled(ctx: StageContext) -> None:
    """Stage 07 runs only when the params ask for it (replay.enabled) and the data has invoices."""
    reason = replay_skip_reason(ctx.params)
    if reason:
        ctx.skip("07_replay", reason)


def _outcomes(params: RunParams, defaults: pd.DataFrame | None) -> dict[str, object]:
    """Whether the ledger says which customers defaulted (a defaults file, even an empty one, or the
    days-past-due rule) and how stage 03 will score without learnt outcomes when it does not."""
    dpd = params.data.rules.derive_defaults_days_past_due
    if dpd is not None:
        return {"available": True, "defaults": int(len(defaults)), "source": f"derived: {dpd} days past due"}
    if defaults is None:
        return {"available": False, "defaults": 0, "source": (
            "none: the ledger has no defaults table, so no customer is known to have defaulted or not; every "
            "customer is scored by the expert scorecard with the policy's PD per risk class. Add "
            "data.files.defaults, or set data.rules.derive_defaults_days_past_due (e.g. 90), to calibrate on "
            "outcomes")}
    return {"available": True, "defaults": int(len(defaults)), "source": "defaults table"}


def _row_summary(validation: LedgerValidation, rule_report) -> pd.DataFrame:
    """Rows in, removed by the input rules, valid and quarantined, per table."""
    removed = rule_report.removed_rows()
    counted_in = pd.Series(validation.row_counts_in)
    summary = pd.DataFrame({
        "rows_in": counted_in + pd.Series(removed).reindex(counted_in.index).fillna(0),
        "rows_removed_by_rules": pd.Series(removed).reindex(counted_in.index).fillna(0),
        "rows_valid": pd.Series({k: len(v) for k, v in validation.tables.items()}),
    })
    summary["rows_quarantined"] = counted_in - summary["rows_valid"]
    return summary.fillna(0).astype(int)


def _table_data_quality(ctx: StageContext) -> DataQualityResult:
    """Table mode: one customer table with features, outcome, limit and balance instead of a ledger."""
    tp = ctx.params.data.table
    table = load_customer_table(tp, ctx.params.data.on_invalid)
    as_of = table_as_of(table, ctx.params.data.as_of_date)
    book = table_book(table, tp, ctx.params.features.new_customer_months)
    customers = table_customers(table, tp)
    ctx.write("customer_table.parquet", table.features.assign(
        default_in_horizon=table.outcome,
        observation_date=table.date if table.date is not None else pd.NaT).reset_index())
    ctx.write("book.parquet", book.reset_index())
    ctx.write("customers.parquet", customers)
    ctx.write("quarantine.parquet", table.quarantine)
    ctx.write_json("skipped.json", {})
    _skip_replay_unless_enabled(ctx)
    labelled = table.outcome.dropna()
    outcomes = ({"available": False, "defaults": 0, "source": (
        "none: no outcome column (data.table.outcome), so every customer is scored by the expert scorecard on "
        "the criteria model.expert.criteria names, with the policy's PD per risk class")}
        if tp.outcome is None else
        {"available": True, "defaults": int(labelled.sum()), "source": f"outcome column {tp.outcome.column}"})
    if tp.limit_column is None:
        ctx.skip("05_limits", "no current-limit column (data.table.limit_column): there is no limit to adjust and "
                              "no demand to size a new one on")
        if tp.balance_column is None:
            ctx.skip("06_risk_reserve", "no limit or balance column (data.table.limit_column / balance_column): "
                                        "there is no exposure to reserve for")
    meta = {
        "features": table.feature_names, "numeric": table.numeric, "categorical": table.categorical,
        "special_codes": table.special, "rows_in": table.rows_in, "labelled": int(labelled.size),
        "defaults": int(labelled.sum()), "has_date": table.date is not None,
    }
    ctx.write_json("table_features.json", meta)
    summary = pd.DataFrame({"rows_in": [table.rows_in], "rows_valid": [len(table.features)]},
                           index=pd.Index(["customer_table"]))
    summary["rows_quarantined"] = summary["rows_in"] - summary["rows_valid"]
    settings = decision_settings(ctx.params)
    ctx.write_json("data_quality.json", {
        "as_of_date": as_of.date().isoformat(), "source": book_label(ctx.params), "outcomes": outcomes,
        "rows": summary.reset_index(names="table").to_dict(orient="records"), "violations": [],
        "assumptions": table.notes, "rules": table.rules.to_dict(orient="records"),
        "decision_assumptions": [s.as_record() for s in settings],
    })
    validation = LedgerValidation({"customer_table": table.features}, table.quarantine, [], table.notes,
                                  {"customer_table": table.rows_in})
    return DataQualityResult(validation, as_of, summary, f"customer table: {tp.path}", table.rules,
                             ctx.skipped(), settings)


