"""The six report stages as plain functions over a run folder.

Each ``stage_*`` function reads what earlier stages wrote into the run folder,
calls the computation modules, writes its own outputs and returns a result
object for the notebook to display. Stages hand data to each other only
through these files, never through notebook globals. Notebooks call
:func:`open_stage` first; outside a pipeline run (JupyterLab, nbval) it builds
missing upstream outputs in-process so any notebook runs on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml

from credit_lab.data import io
from credit_lab.core.config import RunParams
from credit_lab.run.params import load_run_params as load_params, run_params_from_dict as params_from_dict
from credit_lab.core.exceptions import CreditLabError, StageError, StageSkipped
from credit_lab.models.explain import Explanation, explain, grouped_reason_codes, reason_codes
from credit_lab.features.point_in_time import build_features, build_training_set, data_cut_date, feature_names
from credit_lab.limits.setting import reason_sentence, set_limits
from credit_lab.models.gbm import (
    PDModel,
    assign_grades,
    grade_table,
    score_points,
    split_development,
)
from credit_lab.models.metrics import ValidationMetrics, validation_metrics
from credit_lab.risk.expected_loss import el_summary, exposure_at_default
from credit_lab.data.contract import LedgerValidation, validate_ledger

__all__ = [
    "STAGES",
    "StageContext",
    "open_stage",
    "stage_data_quality",
    "stage_features",
    "stage_model",
    "stage_scoring",
    "stage_limits",
    "stage_reserve",
]

logger = logging.getLogger(__name__)

TABLES = ("customers", "invoices", "financials", "defaults", "industry_outlook")


@dataclass
class StageContext:
    """Where a stage reads and writes, and the validated params of the run."""

    run_dir: Path
    params: RunParams

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def models_dir(self) -> Path:
        return self.run_dir / "models"

    def path(self, name: str) -> Path:
        return self.data_dir / name

    def read(self, name: str) -> pd.DataFrame:
        p = self.path(name)
        if not p.is_file():
            raise StageError(f"{p} is missing: the stage that writes it has not run in {self.run_dir}")
        return pd.read_parquet(p)

    def write(self, name: str, df: pd.DataFrame) -> None:
        io.write_parquet(self.path(name), df)

    def read_json(self, name: str) -> Any:
        return io.read_json(self.path(name))

    def write_json(self, name: str, obj: Any) -> None:
        io.write_json(self.path(name), obj)

    def table(self, name: str) -> pd.DataFrame | None:
        """A validated input table, or None where the ledger had none (optional tables)."""
        p = self.path(f"{name}.parquet")
        return pd.read_parquet(p) if p.is_file() else None

    def tables(self) -> dict[str, pd.DataFrame]:
        return {t: df for t in TABLES if (df := self.table(t)) is not None}

    @property
    def table_mode(self) -> bool:
        return self.params.data.source == "table"

    def skipped(self) -> dict[str, str]:
        """Stages the data does not allow, each with the reason (decided by stages 01-02)."""
        p = self.path("skipped.json")
        return io.read_json(p) if p.is_file() else {}

    def skip(self, stage: str, reason: str) -> None:
        self.write_json("skipped.json", {**self.skipped(), stage: reason})


# ---------------------------------------------------------------- 01 data quality

@dataclass
class DataQualityResult:
    validation: LedgerValidation
    as_of: pd.Timestamp
    summary: pd.DataFrame
    source: str
    rules: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: dict[str, str] = field(default_factory=dict)


def _raw_tables(params: RunParams) -> tuple[dict[str, pd.DataFrame], str]:
    if params.data.source == "synthetic":
        from credit_lab.data.synthetic import generate_ledger

        s = params.data.synthetic
        ledger = generate_ledger(n_customers=s.n_customers, n_months=s.n_months, start_date=str(s.start_date),
                                 seed=params.seed, annual_default_rate=s.annual_default_rate)
        tables = {t: getattr(ledger, t) for t in TABLES}
        return tables, f"embedded synthetic ledger (seed {params.seed}, {s.n_customers} customers, {s.n_months} months)"
    return io.read_input_tables(params.data), "files: " + ", ".join(
        f"{k}={v.path}" for k, v in params.data.files.items())


def stage_data_quality(ctx: StageContext) -> DataQualityResult:
    """Load the ledger (or customer table), enforce the data contract, write the validated tables
    and the quarantine, and record which later stages the data allows."""
    if ctx.table_mode:
        return _table_data_quality(ctx)
    from credit_lab.data.exports import apply_input_rules, complete_customers, derive_defaults

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
    defaults = tables.get("defaults")
    if defaults is None or len(defaults) == 0:
        dpd = rules.derive_defaults_days_past_due
        why = ("no outcome data: the ledger has no defaults table (or it is empty), so no PD model can be fitted "
               "without inventing labels. Add data.files.defaults, or set data.rules.derive_defaults_days_past_due "
               "(e.g. 90) to count a customer as defaulted when an invoice goes that far past due"
               if dpd is None else
               f"no outcome data: no invoice was ever {dpd} days past due (data.rules.derive_defaults_days_past_due), "
               "so there is no default to learn from; a lower threshold or a defaults file would give outcomes")
        ctx.skip("03_model", why)
        ctx.skip("04_scoring_explain", "no PD model (stage 03 was skipped: " + why.split(":")[0] + ")")
    removed = rule_report.removed_rows()
    counted_in = pd.Series(validation.row_counts_in)
    summary = pd.DataFrame({
        "rows_in": counted_in + pd.Series(removed).reindex(counted_in.index).fillna(0),
        "rows_removed_by_rules": pd.Series(removed).reindex(counted_in.index).fillna(0),
        "rows_valid": pd.Series({k: len(v) for k, v in validation.tables.items()}),
    })
    summary["rows_quarantined"] = counted_in - summary["rows_valid"]
    summary = summary.fillna(0).astype(int)
    rules_frame = rule_report.frame()
    ctx.write_json("data_quality.json", {
        "as_of_date": as_of.date().isoformat(), "source": source,
        "rows": summary.reset_index(names="table").to_dict(orient="records"),
        "violations": [v.__dict__ for v in validation.violations],
        "assumptions": validation.assumptions,
        "rules": rules_frame.to_dict(orient="records"),
    })
    return DataQualityResult(validation, as_of, summary, source, rules_frame, ctx.skipped())


def _table_data_quality(ctx: StageContext) -> DataQualityResult:
    from credit_lab.data.table_mode import load_customer_table

    tp = ctx.params.data.table
    table = load_customer_table(tp, ctx.params.data.on_invalid)
    if ctx.params.data.as_of_date:
        as_of = pd.Timestamp(ctx.params.data.as_of_date)
    elif table.date is not None and table.date.notna().any():
        as_of = (table.date.max() + pd.offsets.MonthBegin(1)).normalize()
    else:
        as_of = pd.Timestamp.today().normalize()
        table.notes.append(f"no date column and no data.as_of_date: letters and the review calendar are dated "
                           f"today ({as_of.date()})")
    ids = table.features.index
    tenure = table.book["tenure_months"] if "tenure_months" in table.book else pd.Series(np.nan, index=table.book.index)
    # with a tenure column, short-tenure (or unknown-tenure) customers are the new-customer segment
    is_new = (tenure.isna() | (tenure < ctx.params.features.new_customer_months)) if tp.tenure_column else False
    book = table.book.assign(sales_in_window=np.nan, tenure_months=tenure, revenue_latest=np.nan,
                             days_beyond_terms_mean=np.nan, is_new_customer=is_new)
    customers = pd.DataFrame({
        "customer_id": ids.to_numpy(dtype=object), "customer_name": ids.to_numpy(dtype=object),
        "industry": table.book["industry"].to_numpy(), "region": table.book["region"].to_numpy(),
        "payment_terms_days": tp.payment_terms_days, "credit_limit": table.book["credit_limit"].to_numpy(),
        "insurance_cover_pct": 0.0, "insured_limit": 0.0, "guarantee_amount": 0.0, "collateral_value": 0.0,
        "collateral_haircut": np.nan, "guarantor_pd": np.nan, "onboarding_date": pd.NaT, "last_review_date": pd.NaT,
    })
    ctx.write("customer_table.parquet", table.features.assign(
        default_in_horizon=table.outcome,
        observation_date=table.date if table.date is not None else pd.NaT).reset_index())
    ctx.write("book.parquet", book.reset_index())
    ctx.write("customers.parquet", customers)
    ctx.write("quarantine.parquet", table.quarantine)
    ctx.write_json("skipped.json", {})
    labelled = table.outcome.dropna()
    if tp.outcome is None or labelled.nunique() < 2:
        why = ("no outcome column (data.table.outcome)" if tp.outcome is None else
               f"the outcome column has only one outcome among the valid rows ({labelled.unique().tolist()})")
        for stage in ("03_model", "04_scoring_explain", "05_limits", "06_risk_reserve"):
            ctx.skip(stage, f"{why}: a PD needs defaults and non-defaults to learn from")
    elif tp.limit_column is None:
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
    ctx.write_json("data_quality.json", {
        "as_of_date": as_of.date().isoformat(), "source": f"customer table: {tp.path}",
        "rows": summary.reset_index(names="table").to_dict(orient="records"), "violations": [],
        "assumptions": table.notes, "rules": [],
    })
    validation = LedgerValidation({"customer_table": table.features}, table.quarantine, [], table.notes,
                                  {"customer_table": table.rows_in})
    return DataQualityResult(validation, as_of, summary, f"customer table: {tp.path}", pd.DataFrame(),
                             ctx.skipped())


def _as_of(ctx: StageContext) -> pd.Timestamp:
    return pd.Timestamp(ctx.read_json("data_quality.json")["as_of_date"])


# ---------------------------------------------------------------- 02 features

@dataclass
class FeaturesResult:
    train: pd.DataFrame | None
    current: pd.DataFrame
    as_of: pd.Timestamp
    dictionary: pd.DataFrame | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)


def stage_features(ctx: StageContext) -> FeaturesResult:
    """Point-in-time features of the training snapshots (with labels) and of today."""
    if ctx.table_mode:
        return _table_features(ctx)
    tables = ctx.tables()
    as_of = _as_of(ctx)
    lag = ctx.params.data.financials_publication_lag_days
    current = build_features(tables, as_of, ctx.params.features, lag)
    ctx.write("features_current.parquet", current.reset_index())
    train = None
    if "03_model" not in ctx.skipped():
        train = build_training_set(tables, as_of, ctx.params.features, lag)
        ctx.write("features_train.parquet", train.reset_index())
        labels = train["default_in_horizon"]
        if labels.nunique() < 2:
            why = (f"the training snapshots hold only one outcome ({int(labels.sum())} defaults in {len(labels)} "
                   "rows): the ledger's defaults fall outside the training windows. Use more history or "
                   "features.training_snapshots / label_horizon_months that cover the defaults")
            ctx.skip("03_model", why)
            ctx.skip("04_scoring_explain", "no PD model (stage 03 was skipped)")
    from credit_lab.features.point_in_time import feature_dictionary_frame

    return FeaturesResult(train, current, as_of, feature_dictionary_frame(), ctx.skipped(), feature_names())


def _table_features(ctx: StageContext) -> FeaturesResult:
    from credit_lab.data.table_mode import read_feature_dictionary, split_table

    tp = ctx.params.data.table
    meta = ctx.read_json("table_features.json")
    table = ctx.read("customer_table.parquet").set_index("customer_id")
    names = meta["features"]
    for reserved in ("default_in_horizon", "sample", "snapshot_date", "is_new_customer"):
        if reserved in names:
            raise CreditLabError(f"data.table: feature column '{reserved}' has a name the workbench uses itself; "
                                 "rename it in the file or add it to data.table.exclude")
    segment = ctx.read("book.parquet").set_index("customer_id")["is_new_customer"].reindex(table.index)
    current = table[names].assign(is_new_customer=segment.fillna(False).astype(bool))
    dictionary = read_feature_dictionary(tp.feature_dictionary, names)
    for col, direction in tp.risk_direction.items():
        if col in dictionary.index:
            dictionary.loc[col, "risk_direction"] = direction
    dictionary["kind"] = ["categorical" if f in meta["categorical"] else "numeric" for f in dictionary.index]
    ctx.write("features_current.parquet", current.reset_index())
    ctx.write("feature_dictionary.parquet", dictionary.reset_index())
    train = None
    if "03_model" not in ctx.skipped():
        labelled = table["default_in_horizon"].dropna()
        date = table["observation_date"] if meta["has_date"] else None
        sample = split_table(labelled, date, tp.holdout_share, tp.calibration_share, ctx.params.seed)
        train = current.loc[labelled.index].assign(
            default_in_horizon=labelled.astype(int), sample=sample,
            snapshot_date=date.reindex(labelled.index) if date is not None else pd.NaT)
        ctx.write("features_train.parquet", train.reset_index())
    return FeaturesResult(train, current, _as_of(ctx), dictionary.reset_index(), ctx.skipped(), names)


# ---------------------------------------------------------------- 03 model

@dataclass
class ModelResult:
    model: Any
    metrics: list[ValidationMetrics]
    oot: pd.DataFrame
    grades_oot: pd.DataFrame
    artifact: dict[str, Any]
    candidates: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None
    calibration: Any = None
    binomial: pd.DataFrame | None = None
    hosmer_lemeshow: Any = None
    hosmer_lemeshow_grades: Any = None
    calibration_table: pd.DataFrame | None = None
    auc_by_period: pd.DataFrame | None = None
    stability: pd.DataFrame | None = None
    points: pd.DataFrame | None = None
    model_card: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    oot_label: str = "out-of-time"


def _require(ctx: StageContext, stage: str) -> None:
    reason = ctx.skipped().get(stage)
    if reason:
        raise StageSkipped(f"stage {stage} is skipped for this data: {reason}")


def _development(ctx: StageContext):
    """Fit / calibration / validation samples, the features and the model's data-dependent settings."""
    p = ctx.params
    train = ctx.read("features_train.parquet").set_index("customer_id")
    if not ctx.table_mode:
        fit, cal, oot = split_development(train, p.model.oot_snapshots, seed=p.seed)
        return fit, cal, oot, feature_names(), {}, "out-of-time", {}
    from credit_lab.data.table_mode import infer_risk_directions

    meta = ctx.read_json("table_features.json")
    names = meta["features"]
    dictionary = ctx.read("feature_dictionary.parquet").set_index("feature")
    fit, cal, oot = (train[train["sample"] == s] for s in ("fit", "calibration", "holdout"))
    declared = {f: int(d) for f, d in dictionary["risk_direction"].dropna().items()}
    numeric_fit = fit[names].copy()
    for col, codes in meta["special_codes"].items():  # special codes say nothing about the direction
        numeric_fit[col] = numeric_fit[col].where(~numeric_fit[col].isin(codes))
    directions = infer_risk_directions(numeric_fit, fit["default_in_horizon"].to_numpy(), meta["numeric"], declared)
    ctx.write("risk_directions.parquet", directions.reset_index())
    kwargs = {"monotone": directions["risk_direction"].to_dict(), "categorical": meta["categorical"],
              "special_codes": meta["special_codes"]}
    label = "out-of-time" if meta["has_date"] else "holdout"
    return fit, cal, oot, names, kwargs, label, {"risk_directions": directions["basis"].to_dict()}


def _fit_candidates(ctx: StageContext, fit: pd.DataFrame, cal: pd.DataFrame, names: list[str], kwargs: dict,
                    seed: int, families: tuple[str, ...] = ("gbm", "scorecard")) -> tuple[dict[str, Any], list[str]]:
    """Every candidate model: GBM and scorecard, single and (ledger mode) segmented new/existing."""
    from credit_lab.models.champion import SEGMENT_COLUMN, CalibratedScorecard, SegmentedModel
    from credit_lab.features.point_in_time import FEATURE_DICTIONARY, new_customer_feature_names

    p = ctx.params
    monotone = kwargs.get("monotone") or {f: FEATURE_DICTIONARY[f].risk_direction for f in names
                                          if f in FEATURE_DICTIONARY}
    sc = p.score_scaling

    def make(family: str, features: list[str]):
        if family == "gbm":
            return PDModel(features, p.model, random_state=seed, **kwargs)
        return CalibratedScorecard(features, p.model, random_state=seed, categorical=kwargs.get("categorical"),
                                   special_codes=kwargs.get("special_codes"), monotone=monotone, pdo=sc.pdo,
                                   base_score=sc.base_score, base_odds=sc.base_odds)

    y, y_cal = fit["default_in_horizon"], cal["default_in_horizon"]
    out: dict[str, Any] = {}
    notes: list[str] = []
    for family in families:
        out[family] = make(family, names).fit(fit, y, cal, y_cal)
    if not p.model.segments or (ctx.table_mode and p.data.table.tenure_column is None):
        return out, notes
    if ctx.table_mode:
        new_features = [f for f in names if f not in p.data.table.history_features]
    else:
        new_features = new_customer_feature_names()
    for family in families:
        models = {}
        for segment, features in (("new", new_features), ("existing", names)):
            is_new = segment == "new"
            f_rows = fit[SEGMENT_COLUMN].fillna(False).astype(bool) == is_new
            c_rows = cal[SEGMENT_COLUMN].fillna(False).astype(bool) == is_new
            n_def, c_def = int(y[f_rows].sum()), int(y_cal[c_rows].sum())
            if n_def < p.model.min_segment_defaults or c_def < 2 or c_rows.sum() - c_def < 2:
                if family == families[0]:
                    notes.append(f"The {segment}-customer segment has {n_def} default(s) in its fit rows (below "
                                 f"model.min_segment_defaults = {p.model.min_segment_defaults}) or {c_def} in its "
                                 "calibration rows: it is scored by the single model.")
                continue
            models[segment] = make(family, features).fit(fit[f_rows], y[f_rows], cal[c_rows], y_cal[c_rows])
        if models:
            out[f"segmented {family}"] = SegmentedModel(models, fallback=out[family])
    return out, notes


def _champion_name(ctx: StageContext, candidates: dict[str, Any], cal: pd.DataFrame) -> str:
    from credit_lab.models.validation import auc

    p = ctx.params.model
    prefix = "segmented " if f"segmented {p.champion if p.champion != 'auto' else 'gbm'}" in candidates else ""
    if p.champion != "auto":
        return prefix + p.champion
    y = cal["default_in_horizon"].to_numpy()
    scores = {f: auc(y, candidates[prefix + f].predict_pd(cal)) for f in ("gbm", "scorecard")}
    return prefix + max(scores, key=lambda f: (scores[f], f == "gbm"))


def stage_model(ctx: StageContext) -> ModelResult:
    """Fit the candidate models, pick the champion, calibrate and validate it, write the model card."""
    from credit_lab.models import validation as vl

    _require(ctx, "03_model")
    p = ctx.params
    fit, cal, oot, names, kwargs, oot_label, extra = _development(ctx)
    candidates, notes = _fit_candidates(ctx, fit, cal, names, kwargs, p.seed)
    champion_name = _champion_name(ctx, candidates, cal)
    model = candidates[champion_name]
    samples = {"development (fit)": fit, "calibration": cal, oot_label: oot}
    metrics = [validation_metrics(label, s["default_in_horizon"].to_numpy(), model.predict_pd(s))
               for label, s in samples.items()]
    preds = {label: (s["default_in_horizon"].to_numpy(), {n: m.predict_pd(s) for n, m in candidates.items()})
             for label, s in samples.items()}
    from credit_lab.models.champion import candidate_table

    cand = candidate_table(preds, champion_name)
    oot_out = pd.DataFrame({
        "snapshot_date": oot["snapshot_date"], "default_in_horizon": oot["default_in_horizon"],
        "pd": model.predict_pd(oot),
    }, index=oot.index)
    oot_out["grade"] = assign_grades(oot_out["pd"].to_numpy(), p.master_scale)
    y_oot, pd_oot = oot_out["default_in_horizon"].to_numpy(), oot_out["pd"].to_numpy()
    grades_oot = grade_table(oot_out["grade"].to_numpy(), pd_oot, y_oot, p.master_scale)
    segments = _segment_comparison(candidates, champion_name, oot)
    binomial = vl.binomial_test_by_grade(oot_out["grade"], pd_oot, y_oot, grade_order=p.grade_names)
    hl = vl.hosmer_lemeshow(y_oot, pd_oot, groups=10)
    hl_grades = vl.hosmer_lemeshow(y_oot, pd_oot, by=oot_out["grade"].to_numpy())
    cal_table = vl.calibration_table(y_oot, pd_oot, bins=10)
    by_period = _auc_by_period(model, samples)
    current = ctx.read("features_current.parquet").set_index("customer_id")
    stability = _stability(model, fit, oot, current, names, kwargs.get("categorical", []), oot_label)
    calib = _calibration_summary(model)
    points = _points_table(candidates, champion_name)
    ctx.models_dir.mkdir(parents=True, exist_ok=True)
    sha = io.save_model(model, ctx.models_dir / "pd_model.pkl")
    challenger_name = next((n for n in candidates if n != champion_name and
                            n.split(" ")[-1] != champion_name.split(" ")[-1] and
                            n.startswith("segmented") == champion_name.startswith("segmented")), None)
    challenger_sha = (io.save_model(candidates[challenger_name], ctx.models_dir / "challenger_model.pkl")
                      if challenger_name else None)
    snapshots = [oot_label] if ctx.table_mode else sorted(
        str(pd.Timestamp(s).date()) for s in pd.concat([fit, cal, oot])["snapshot_date"].unique())
    artifact = {
        "file": "models/pd_model.pkl", "sha256": sha, "champion": champion_name, "features": names,
        "features_used": model.features_,
        "monotone_constraints": dict(zip(model.features_, model.monotone_cst_, strict=True)),
        "unused_features": model.unused_features_,
        "challenger": ({"name": challenger_name, "file": "models/challenger_model.pkl", "sha256": challenger_sha}
                       if challenger_name else None),
        "fit_rows": len(fit), "calibration_rows": len(cal), "oot_rows": len(oot), "validation_sample": oot_label,
        "snapshots": snapshots, "params": p.model.model_dump(mode="json"),
        # what the data decided about the candidates (table mode: directions, categories, codes),
        # so a refit (reason stability) uses the same settings without re-deriving them
        "model_settings": kwargs, **extra,
    }
    io.write_json(ctx.models_dir / "pd_model.json", artifact)
    ctx.write("oot_predictions.parquet", oot_out.reset_index())
    ctx.write_json("validation.json", [m.__dict__ for m in metrics])
    ctx.write("candidates.parquet", cand)
    if segments is not None:
        ctx.write("segment_comparison.parquet", segments)
    ctx.write("binomial_test.parquet", binomial.reset_index())
    ctx.write_json("hosmer_lemeshow.json", {
        name: {"statistic": r.statistic, "dof": r.dof, "p_value": r.p_value}
        for name, r in (("pd_deciles", hl), ("grades", hl_grades))})
    ctx.write("calibration_table.parquet", cal_table.reset_index(drop=True))
    ctx.write("auc_by_period.parquet", by_period)
    ctx.write("stability.parquet", stability)
    if points is not None:
        ctx.write("scorecard_points.parquet", points)
        io.write_csv(ctx.path("scorecard_points.csv"), points)
    card = _model_card(ctx, artifact, metrics, cand, calib, stability, notes, oot_label)
    io.write_json(ctx.models_dir / "model_card.json", card)
    return ModelResult(model, metrics, oot_out, grades_oot, artifact, cand, segments, calib, binomial, hl, hl_grades,
                       cal_table, by_period, stability, points, card, notes, oot_label)


def _segment_comparison(candidates: dict[str, Any], champion: str, oot: pd.DataFrame) -> pd.DataFrame | None:
    """Segmented against single model of the champion's family on the same out-of-time rows."""
    from credit_lab.models.champion import SEGMENT_COLUMN
    from credit_lab.models.validation import auc, brier_score

    family = champion.split(" ")[-1]
    pair = {"single": candidates.get(family), "segmented": candidates.get(f"segmented {family}")}
    if pair["segmented"] is None:
        return None
    y = oot["default_in_horizon"].to_numpy()
    seg = np.where(oot[SEGMENT_COLUMN].fillna(False).to_numpy(dtype=bool), "new", "existing")
    rows = []
    for name, model in pair.items():
        p = model.predict_pd(oot)
        for label, mask in (("all", np.ones(len(y), bool)), ("new", seg == "new"), ("existing", seg == "existing")):
            both = 0 < y[mask].sum() < mask.sum()
            rows.append({"model": f"{name} {family}", "segment": label, "n": int(mask.sum()),
                         "defaults": int(y[mask].sum()), "auc": auc(y[mask], p[mask]) if both else np.nan,
                         "brier": brier_score(y[mask], p[mask]) if mask.any() else np.nan,
                         "mean_pd": float(p[mask].mean()) if mask.any() else np.nan})
    return pd.DataFrame(rows)


def _auc_by_period(model, samples: dict[str, pd.DataFrame]) -> pd.DataFrame:
    from credit_lab.models.validation import auc_by_period

    frames = []
    for label, s in samples.items():
        if s["snapshot_date"].isna().all():
            continue
        period = pd.to_datetime(s["snapshot_date"]).dt.to_period("M").astype(str)
        t = auc_by_period(s["default_in_horizon"].to_numpy(), model.predict_pd(s), period.to_numpy())
        frames.append(t.reset_index().assign(sample=label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["period", "n", "defaults", "auc", "note", "sample"])


def _stability(model, fit: pd.DataFrame, oot: pd.DataFrame, current: pd.DataFrame, names: list[str],
               categorical: list[str], oot_label: str) -> pd.DataFrame:
    """PSI of the PD and CSI of every feature, development against out-of-time and today."""
    from credit_lab.models.validation import population_stability

    frames = {"development": fit, oot_label: oot, "current population": current}
    scored = {k: v[names].assign(pd=model.predict_pd(v)) for k, v in frames.items()}
    # a feature never observed in development (e.g. no statements at all) has no bins to compare
    observed = [f for f in names if fit[f].notna().any()]
    table = population_stability(scored, "pd", observed, reference="development", categorical=categorical)
    never = [{"sample": s, "variable": f, "measure": "CSI", "value": np.nan, "flag": "never observed in development"}
             for s in list(frames)[1:] for f in names if f not in observed]
    return pd.concat([table, pd.DataFrame(never)], ignore_index=True) if never else table


def _calibration_summary(model) -> dict[str, Any]:
    from credit_lab.models.champion import SegmentedModel

    parts = model.models | {"all (single)": model.fallback} if isinstance(model, SegmentedModel) else {"all": model}
    out = {}
    for segment, m in parts.items():
        if m is None:
            continue
        c = m.calibrator_
        out[segment] = {"method": c.method, "shift": float(c.shift), "target_mean": c.target_mean,
                        "comparison": c.comparison.reset_index().to_dict(orient="records")}
    return out


def _points_table(candidates: dict[str, Any], champion: str) -> pd.DataFrame | None:
    """The scorecard's points per bin (the segmented scorecard's per segment), as a plain table."""
    segmented = champion.startswith("segmented")
    card = candidates.get("segmented scorecard" if segmented else "scorecard")
    if card is None:
        return None
    if not segmented:
        return card.points_table().assign(segment="all")
    frames = [m.points_table().assign(segment=seg) for seg, m in card.models.items()]
    if len(card.models) < 2:
        frames.append(card.fallback.points_table().assign(segment="other segments (single scorecard)"))
    return pd.concat(frames, ignore_index=True)


def _model_card(ctx: StageContext, artifact: dict, metrics: list[ValidationMetrics], cand: pd.DataFrame,
                calib: dict, stability: pd.DataFrame, notes: list[str], oot_label: str) -> dict[str, Any]:
    """Intended use, data window, segments, features, performance, limitations, artifact hashes."""
    p = ctx.params
    oot = metrics[-1]
    shifted = stability[stability["flag"] == "significant shift"]
    data_file = ctx.path("features_train.parquet")
    limitations = list(notes) + [
        f"Validated on the {oot_label} sample ({oot.n} rows, {oot.n_defaults} defaults); the grade-level tests have "
        "little power where a grade holds few defaults.",
        "PDs are calibrated to the development window's default rate" + (
            f" and shifted to the long-run central tendency {p.model.central_tendency:.2%}."
            if p.model.central_tendency else "; no long-run central tendency adjustment was requested."),
    ]
    if len(shifted):
        limitations.append("Population shift (PSI/CSI above 0.25) against development in: " + ", ".join(
            f"{v} ({smp})" for v, smp in zip(shifted["variable"], shifted["sample"], strict=True)))
    return {
        "model": artifact["champion"],
        "intended_use": "12-month probability of default of business customers buying on credit terms, to set and "
                        "review credit limits and size the risk reserve; not for consumer lending decisions.",
        "data": {"source": ctx.read_json("data_quality.json")["source"], "as_of_date": _as_of(ctx).date().isoformat(),
                 "snapshots": artifact["snapshots"], "fit_rows": artifact["fit_rows"],
                 "calibration_rows": artifact["calibration_rows"], "validation_rows": artifact["oot_rows"],
                 "label": "default within the horizon after the snapshot" if not ctx.table_mode
                 else f"outcome column {p.data.table.outcome.column}"},
        "segments": ((f"new customers ({p.data.table.tenure_column} below features.new_customer_months, or "
                      "unknown) and existing customers, each with its own model" if ctx.table_mode else
                      "new customers (tenure < features.new_customer_months or no settled invoice) and existing "
                      "customers, each with its own model") if artifact["champion"].startswith("segmented")
                     else "one model for every customer"),
        "features": artifact["features_used"],
        "performance": {m.sample: {"auc": m.auc, "gini": m.gini, "ks": m.ks, "brier": m.brier, "n": m.n,
                                   "defaults": m.n_defaults} for m in metrics},
        "challengers": cand[cand["sample"] == oot_label][["candidate", "auc", "brier", "rank_out_of_time"]]
        .to_dict(orient="records"),
        "calibration": {k: {"method": v["method"], "shift": v["shift"]} for k, v in calib.items()},
        "limitations": limitations,
        "artifacts": {"pd_model.pkl": artifact["sha256"],
                      **({"challenger_model.pkl": artifact["challenger"]["sha256"]} if artifact["challenger"] else {}),
                      "features_train.parquet": io.sha256_file(data_file)},
    }


def load_pd_model(ctx: StageContext) -> PDModel:
    meta = io.read_json(ctx.models_dir / "pd_model.json")
    return io.load_model(ctx.run_dir / meta["file"], meta["sha256"])


# ---------------------------------------------------------------- 04 scoring + explanations

@dataclass
class ScoringResult:
    scores: pd.DataFrame
    explanation: Explanation
    additivity_error: float
    scorecard_points: pd.DataFrame | None = None
    scorecard_name: str | None = None
    reason_stability: dict[str, Any] = field(default_factory=dict)
    unseen: dict[str, Any] = field(default_factory=dict)
    shap_reference: dict[str, Any] = field(default_factory=dict)


def stage_scoring(ctx: StageContext) -> ScoringResult:
    """Score every current customer; exact explanations, additivity check, reason codes, their
    stability under refitting with another seed, and the scorecard's points per customer."""
    _require(ctx, "04_scoring_explain")
    p = ctx.params
    model = load_pd_model(ctx)
    current = ctx.read("features_current.parquet").set_index("customer_id")
    pd_ = model.predict_pd(current)
    expl, err = explain(model, current, p.explain.additivity_tolerance)
    unseen = _unseen_values(model, current)
    phrases, groups = _reason_wording(ctx)
    is_new = current["is_new_customer"].to_numpy()
    reasons = grouped_reason_codes(expl, groups, p.explain.top_reasons, phrases)
    scores = pd.DataFrame({
        "pd": pd_, "grade": assign_grades(pd_, p.master_scale), "score": score_points(pd_, p.score_scaling),
        "raw_log_odds": expl.output, "shap_base_value": expl.base_values(), "is_new_customer": is_new,
    }, index=current.index).join(reasons)
    ctx.write("scores.parquet", scores.reset_index())
    shap_frame = expl.frame()
    ctx.write("shap_values.parquet", shap_frame.reset_index())
    points, card_name = _scorecard_points(ctx, current, model)
    if points is not None:
        ctx.write("scorecard_contributions.parquet", points.reset_index())
    stability = _reason_stability(ctx, current, expl, phrases, groups)
    reference = _shap_reference_check(model, current, expl, p.explain.additivity_tolerance)
    ctx.write_json("explain.json", {
        "base_value": float(np.mean(expl.base_values())), "max_additivity_error": err,
        "tolerance": p.explain.additivity_tolerance, "customers": len(scores), "reason_stability": stability,
        "unseen_values": unseen, "scorecard": card_name, "shap_reference": reference})
    return ScoringResult(scores, expl, err, points, card_name, stability, unseen, reference)


def _shap_reference_check(model, current: pd.DataFrame, expl: Explanation, tolerance: float,
                          rows: int = 500) -> dict[str, Any]:
    """The run's tree SHAP values against ``shap.TreeExplainer`` on the first ``rows`` customers."""
    if getattr(model, "family", "").endswith("scorecard"):
        return {"checked": False, "reason": "the champion is a scorecard: its contributions are exact by construction"}
    sample = current.iloc[:rows]
    ref, _ = explain(model, sample, tolerance, engine="shap")
    ours = expl.frame().loc[sample.index, ref.feature_names].to_numpy()
    return {"checked": True, "customers": len(sample), "reference": "shap.TreeExplainer",
            "max_abs_difference": float(np.max(np.abs(ours - ref.values), initial=0.0))}


def _reason_wording(ctx: StageContext) -> tuple[dict[str, str] | None, dict[str, tuple[str, str, tuple[str, ...]]]]:
    """Reason phrases per feature and reason groups: the ledger's dictionary, or the table's file."""
    if not ctx.table_mode:
        from credit_lab.features.point_in_time import REASON_GROUPS

        return None, REASON_GROUPS
    d = ctx.read("feature_dictionary.parquet").set_index("feature")
    groups: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    if "group" in d:
        for g, part in d.dropna(subset=["group"]).groupby("group", sort=False):
            groups[str(g)] = (f"unfavourable {g}", str(g), tuple(part.index))
    return d["reason"].to_dict(), groups


def _unseen_values(model, current: pd.DataFrame) -> dict[str, Any]:
    """Categories (table mode) or bins (scorecard) met today that the fit data never had.

    Read right after ``model`` explained ``current``: each model that scored some of these
    customers then holds the unseen values of its own rows.
    """
    from credit_lab.models.champion import SegmentedModel

    models = ([model.model_for(s) for s in np.unique(model.segment_of(current))]
              if isinstance(model, SegmentedModel) else [model])
    out: dict[str, Any] = {}
    for m in models:
        for holder in (getattr(m, "encoder_", None), getattr(m, "card_", None)):
            if holder is not None and getattr(holder, "last_unseen_", None):
                out.update({k: {kk: (vv if not isinstance(vv, np.generic) else vv.item()) for kk, vv in v.items()}
                            for k, v in holder.last_unseen_.items()})
    return out


def _scorecard_points(ctx: StageContext, current: pd.DataFrame, champion) -> tuple[pd.DataFrame | None, str | None]:
    """Each customer's exact points per variable from the scorecard (the champion or the challenger)."""
    from credit_lab.models.champion import SegmentedModel

    meta = io.read_json(ctx.models_dir / "pd_model.json")
    if meta["champion"].endswith("scorecard"):
        card, name = champion, meta["champion"]
    elif meta.get("challenger") and meta["challenger"]["name"].endswith("scorecard"):
        ch = meta["challenger"]
        card, name = io.load_model(ctx.run_dir / ch["file"], ch["sha256"]), ch["name"]
    else:
        return None, None
    if isinstance(card, SegmentedModel):
        seg = card.segment_of(current)
        parts = []
        for s in np.unique(seg):
            sub = current.loc[seg == s]
            parts.append(card.model_for(s).card_.explain_points(sub[card.model_for(s).features_]))
        points = pd.concat(parts).reindex(current.index)
        segment = pd.Series(seg, index=current.index)
    else:
        points = card.card_.explain_points(current[card.features_])
        segment = pd.Series("all", index=current.index)
    points = points.assign(total_score=points.sum(axis=1), segment=segment)
    return points, name


def _reason_stability(ctx: StageContext, current: pd.DataFrame, expl: Explanation, phrases: dict[str, str] | None,
                      groups: dict) -> dict[str, Any]:
    """Top-3 reasons of today's customers under the champion refitted with another seed.

    The other seed draws another fit/calibration split (and seeds the learners), so the
    refitted model has seen different customers; the overlap of the two top-3 reason sets
    per customer says how much the explanations depend on that draw. Reported for the
    reason groups customers read, and for single features.
    """
    from credit_lab.data.table_mode import split_table

    p = ctx.params
    meta = io.read_json(ctx.models_dir / "pd_model.json")
    other = (p.seed + 1) % 2**32
    names, kwargs = meta["features"], meta["model_settings"]
    train = ctx.read("features_train.parquet").set_index("customer_id")
    if ctx.table_mode:
        tp = p.data.table
        date = train["snapshot_date"] if train["snapshot_date"].notna().all() else None
        sample = split_table(train["default_in_horizon"], date, tp.holdout_share, tp.calibration_share, other)
        fit, cal = train[sample == "fit"], train[sample == "calibration"]
    else:
        fit, cal, _ = split_development(train, p.model.oot_snapshots, seed=other)
    family = meta["champion"].split(" ")[-1]
    try:
        refit, _ = _fit_candidates(ctx, fit, cal, names, kwargs, other, families=(family,))
        expl2, _ = explain(refit[meta["champion"]], current, p.explain.additivity_tolerance)
    except (CreditLabError, KeyError) as err:
        return {"computed": False, "reason": str(err)}

    def overlap(a: pd.DataFrame, b: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
        cols = [f"reason_{i}_{col}" for i in range(1, 4) if f"reason_{i}_{col}" in a]
        sa = [set(filter(None, r)) for r in a[cols].itertuples(index=False)]
        sb = [set(filter(None, r)) for r in b[cols].itertuples(index=False)]
        share = np.array([len(x & y) / max(len(x), len(y), 1) for x, y in zip(sa, sb, strict=True)])
        return share, a[cols[0]].to_numpy() == b[cols[0]].to_numpy()

    out: dict[str, Any] = {"computed": True, "seeds": [p.seed, other], "customers": len(current)}
    # the riskiest fifth: the customers whose reasons are sent with a cut or refused limit
    risky = expl.output >= np.quantile(expl.output, 0.8)
    for label, a, b, col in (
            ("reason groups", grouped_reason_codes(expl, groups, 3, phrases),
             grouped_reason_codes(expl2, groups, 3, phrases), "group"),
            ("features", reason_codes(expl, 3, phrases), reason_codes(expl2, 3, phrases), "feature")):
        share, first = overlap(a, b, col)
        for scope, rows in (("all customers", slice(None)), ("riskiest 20%", risky)):
            out[f"{label}, {scope}"] = {"mean_top3_overlap": float(share[rows].mean()),
                                        "share_identical_top3": float((share[rows] == 1).mean()),
                                        "share_same_first_reason": float(first[rows].mean())}
    return out


def load_explanation(ctx: StageContext) -> Explanation:
    shap_frame = ctx.read("shap_values.parquet").set_index("customer_id")
    current = ctx.read("features_current.parquet").set_index("customer_id")
    scores = ctx.read("scores.parquet").set_index("customer_id")
    data = load_pd_model(ctx).matrix_frame(current).loc[shap_frame.index, shap_frame.columns]
    return Explanation(shap_frame.to_numpy(), scores.loc[shap_frame.index, "shap_base_value"].to_numpy(), data,
                       scores.loc[shap_frame.index, "raw_log_odds"].to_numpy())


# ---------------------------------------------------------------- 05 limits

@dataclass
class LimitsResult:
    limits: pd.DataFrame
    method: str
    constraints: pd.DataFrame | None = None
    frontier: Any = None
    exposure_by_industry: pd.DataFrame | None = None
    solve_seconds: float | None = None
    letters: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    watchlist: pd.DataFrame | None = None
    decision_log: pd.DataFrame | None = None
    calendar: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None
    backtest_base_rate: float | None = None


def _review(ctx: StageContext, result: "LimitsResult") -> None:
    """Early warning, adjustment rules, approval route, decision log and review calendar.

    The optimizer's (or the rules') ``proposed_limit`` passes through the adjustment
    standards to ``final_limit``, which letters and the reserve use.
    """
    from credit_lab.limits import review as rv

    p = ctx.params
    tables = ctx.tables()
    as_of = _as_of(ctx)
    model = load_pd_model(ctx)

    def grader(features: pd.DataFrame) -> pd.Series:
        return pd.Series(assign_grades(model.predict_pd(features), p.master_scale), index=features.index)

    signal_settings = rv.SignalSettings(**{"grade_order": tuple(p.grade_names), **p.review.signals})
    lag = p.data.financials_publication_lag_days
    warning = rv.signals_as_of(tables, as_of, as_of - pd.DateOffset(months=p.review.compare_months),
                               signal_settings, p.features, lag, grader=grader)
    limits = result.limits
    adjusted = rv.apply_adjustment_rules(limits[["current_limit", "proposed_limit", "grade"]], warning.signals,
                                         rv.AdjustmentSettings(rules=rv.rules_from_dicts(p.review.rules)))
    approval = rv.ApprovalSettings(**{"grade_order": tuple(p.grade_names), **p.review.approval})
    routed = rv.approval_route(adjusted, approval)
    reasons = limits["explanation"] if "explanation" in limits else limits["limit_reason"]
    log = rv.decision_log(routed, timestamp=as_of, reasons=reasons, signals=warning.signals)
    limits["final_limit"] = routed["adjusted_limit"]
    limits["final_change"] = limits["final_limit"] - limits["current_limit"]
    limits["adjustment_rule"] = routed["rule"]
    limits["approver"] = routed["approver"]
    limits["on_watchlist"] = warning.signals["on_watchlist"].reindex(limits.index).fillna(False).astype(bool)
    customers = ctx.read("customers.parquet").set_index("customer_id")
    calendar = rv.review_calendar(
        limits[["grade"]].join(customers[["onboarding_date", "last_review_date"]]), as_of,
        rv.ReviewCalendarSettings(frequency_months_by_grade=dict(p.review.frequency_months_by_grade),
                                  due_within_days=p.review.due_within_days),
        watchlist=warning.watchlist.index)
    ctx.write("signals.parquet", warning.signals.reset_index())
    ctx.write("watchlist.parquet", warning.watchlist.reset_index())
    ctx.write("decision_log.parquet", log.reset_index(drop=True))
    io.write_csv(ctx.path("decision_log.csv"), log.reset_index(drop=True))
    ctx.write("review_calendar.parquet", calendar.reset_index())
    result.watchlist, result.decision_log, result.calendar = warning.watchlist, log, calendar
    if p.review.backtest:
        try:
            # No grader: today's model was fitted on this history, so PD migration would look
            # better in the backtest than it can be.
            bt = rv.backtest_signals(tables, signal_settings,
                                     rv.BacktestSettings(comparison_months=p.review.compare_months,
                                                         horizon_months=p.features.label_horizon_months),
                                     feature_params=p.features, financials_publication_lag_days=lag)
            result.backtest, result.backtest_base_rate = bt.summary, bt.base_default_rate
            ctx.write("signal_backtest.parquet", bt.summary.reset_index())
        except CreditLabError as err:
            result.notes.append(f"Signal backtest skipped: {err}")


def _scored_book(ctx: StageContext) -> pd.DataFrame:
    current = (ctx.read("book.parquet") if ctx.table_mode else ctx.read("features_current.parquet")
               ).set_index("customer_id")
    scores = ctx.read("scores.parquet").set_index("customer_id")
    customers = ctx.read("customers.parquet").set_index("customer_id")
    cols = ["customer_name", "payment_terms_days", "insurance_cover_pct", "insured_limit", "guarantee_amount"]
    return (scores.join(current[["industry", "region", "credit_limit", "receivables_open", "sales_in_window",
                                 "tenure_months", "revenue_latest", "days_beyond_terms_mean"]])
            .join(customers[cols]))


def _monitoring_only(ctx: StageContext) -> LimitsResult:
    """Without a PD model: early-warning signals and the watchlist from payment behaviour alone."""
    from credit_lab.limits import review as rv

    p = ctx.params
    as_of = _as_of(ctx)
    why = ctx.skipped()["04_scoring_explain"]
    signal_settings = rv.SignalSettings(**{"grade_order": tuple(p.grade_names), **p.review.signals})
    warning = rv.signals_as_of(ctx.tables(), as_of, as_of - pd.DateOffset(months=p.review.compare_months),
                               signal_settings, p.features, p.data.financials_publication_lag_days)
    ctx.write("signals.parquet", warning.signals.reset_index())
    ctx.write("watchlist.parquet", warning.watchlist.reset_index())
    io.write_csv(ctx.path("watchlist.csv"), warning.watchlist.reset_index())
    notes = [f"Limits are not proposed: {why}. Early-warning signals and the watchlist come from payment "
             "behaviour alone (no PD migration signal); the signal backtest needs defaults and is not run."]
    result = LimitsResult(None, "monitoring only (no PD model)", notes=notes, watchlist=warning.watchlist)
    ctx.write_json("monitoring.json", {"watchlist": len(warning.watchlist), "notes": notes})
    return result


def stage_limits(ctx: StageContext) -> LimitsResult:
    """Proposed limit per customer, its change and what decided it.

    ``limits.method: optimize`` maximizes expected profit over the book under the EL and
    exposure budgets, industry and region caps and per-customer bounds, and reports the
    binding constraints with their shadow prices and the efficient frontier; ``rules``
    takes the tightest of the capacity, grade and single-name caps.
    """
    _require(ctx, "05_limits")
    if "04_scoring_explain" in ctx.skipped():
        return _monitoring_only(ctx)
    p = ctx.params
    book = _scored_book(ctx)
    keep = ["customer_name", "industry", "region", "pd", "grade", "reason_1", "reason_2", "reason_3"]
    if p.limits.method == "rules":
        limits = set_limits(book, p.limits, p.features.lookback_months)
        out = book[keep].join(limits)
        result = LimitsResult(out, "rules")
    else:
        from credit_lab.limits.setting import optimize_book, purchase_statistics
        from credit_lab.limits.optimizer import efficient_frontier

        features = ctx.read("features_current.parquet").set_index("customer_id")
        if ctx.table_mode:
            # No orders on record: demand is sized on today's limit (the basis column says so),
            # and no behaviour hints (the table's features are not ledger behaviour).
            purchases = pd.DataFrame(columns=["monthly_purchases_mean", "monthly_purchases_cv", "months_observed"],
                                     index=book.index, dtype=float)
            model = None
        else:
            invoices = ctx.read("invoices.parquet")
            purchases = purchase_statistics(invoices, _as_of(ctx), p.features.lookback_months, book.index)
            model = load_pd_model(ctx)
        table, solved, problem = optimize_book(book, purchases, p.limits, p.reserve.lgd, seed=p.seed,
                                               model=model, features=features, master_scale=p.master_scale)
        out = book[keep].join(table)
        out["explanation"] = [reason_sentence(row) for row in out.to_dict(orient="records")]
        frontier = efficient_frontier(problem, n_points=p.limits.frontier_points, seed=p.seed)
        constraints = solved.constraints.reset_index(names="constraint")
        ctx.write("limit_constraints.parquet", constraints)
        ctx.write("efficient_frontier.parquet", frontier.table.assign(current_el=frontier.current_el,
                                                                      current_profit=frontier.current_profit))
        by_industry = out.groupby("industry")[["current_limit", "proposed_limit"]].sum()
        result = LimitsResult(out, "optimize", constraints, frontier, by_industry, solved.seconds,
                              notes=list(table.attrs.get("notes", [])))
        for note in result.notes:
            logger.warning(note)
    if ctx.table_mode:
        limits = result.limits
        limits["final_limit"] = limits["proposed_limit"]
        limits["final_change"] = limits["final_limit"] - limits["current_limit"]
        limits["adjustment_rule"], limits["approver"], limits["on_watchlist"] = "", "", False
        result.notes.append("Table mode: early-warning signals, adjustment rules, approvals and the review calendar "
                            "need the invoice ledger's history and are not run; final limits are the proposals.")
    else:
        _review(ctx, result)
    ctx.write("limits.parquet", result.limits.reset_index())
    # The decision table credit managers open in a spreadsheet.
    io.write_csv(ctx.path("limits.csv"), result.limits.reset_index())
    from credit_lab.limits.letters import LetterSettings, letters_for

    letters = letters_for(result.limits.assign(proposed_limit=result.limits["final_limit"]), _as_of(ctx),
                          LetterSettings(**p.letters.model_dump()))
    # Plain writes: the run folder is staged and published only whole, so one fsync per letter
    # (138,000 letters took 53 s that way for a 150,000-customer book) protects nothing more.
    folder = ctx.run_dir / "letters"
    folder.mkdir(parents=True, exist_ok=True)
    for name, page in letters.items():
        (folder / name).write_bytes(page.encode("utf-8"))
    result.letters = letters
    return result


# ---------------------------------------------------------------- 06 risk reserve

@dataclass
class ReserveResult:
    exposures: pd.DataFrame
    by_grade: pd.DataFrame
    by_industry: pd.DataFrame
    totals: dict[str, float] = field(default_factory=dict)
    provision: Any = None
    ecl: pd.DataFrame | None = None
    reconciliation: pd.DataFrame | None = None
    concentration: Any = None
    granularity: Any = None
    el_tables: Any = None
    notes: list[str] = field(default_factory=list)
    loss: Any = None
    loss_table: pd.DataFrame | None = None
    stress: pd.DataFrame | None = None
    cap_utilization: pd.DataFrame | None = None
    waterfall: pd.DataFrame | None = None


def _cap_utilization(ctx: StageContext, exposures: pd.DataFrame) -> pd.DataFrame:
    """Use of every concentration cap by the final limits (the caps the limit stage applied)."""
    from credit_lab.risk.concentration import ConcentrationSettings, cap_utilization

    caps: dict[str, dict[str, float]] = {"industry_cap": {}, "region_cap": {}}
    path = ctx.path("limit_constraints.parquet")
    if path.is_file():
        rows = pd.read_parquet(path)
        for kind in caps:
            for _, row in rows[rows["kind"] == kind].iterrows():
                if np.isfinite(row["budget"]):
                    caps[kind][str(row["constraint"]).split("[", 1)[1][:-1]] = float(row["budget"])
    lim = ctx.params.limits
    settings = ConcentrationSettings(single_name_cap=lim.own_equity * lim.single_name_cap_pct,
                                     industry_caps=caps["industry_cap"], region_caps=caps["region_cap"])
    frame = exposures.reset_index()[["customer_id", "industry", "region", "final_limit"]]
    table = cap_utilization(frame, settings, exposure="final_limit")
    # one row per name is too many for a report: keep the names closest to the single-name cap
    names = table[table["dimension"] == "name"].head(10)
    return pd.concat([table[table["dimension"] != "name"], names], ignore_index=True)


def _mitigation_frame(book: pd.DataFrame, ead: pd.Series, r) -> pd.DataFrame:
    guarantor_pd = book["guarantor_pd"].astype(float).fillna(r.guarantor_pd)
    return pd.DataFrame({
        "ead": ead, "pd": book["pd"].astype(float), "lgd": r.lgd,
        "collateral_value": book["collateral_value"].astype(float),
        "collateral_haircut": book["collateral_haircut"].astype(float).fillna(r.collateral_haircut),
        "insurance_cover_pct": book["insurance_cover_pct"].astype(float),
        "insured_limit": book["insured_limit"].astype(float), "deductible": r.insurance_deductible,
        "guarantee_amount": book["guarantee_amount"].astype(float), "guarantor_pd": guarantor_pd,
    }, index=book.index)


def _provision_matrix(ctx: StageContext, invoices: pd.DataFrame, defaults: pd.DataFrame | None,
                      as_of: pd.Timestamp, notes: list[str]):
    """The IFRS 9 provision matrix, on a shorter history (said in ``notes``) when the ledger is short."""
    from credit_lab.risk.provisions import ProvisionSettings, provision_from_ledger

    pr = ctx.params.reserve.provisions
    settings = ProvisionSettings(bucket_edges=tuple(pr.bucket_edges), method=pr.method,
                                 history_months=pr.history_months, outcome_months=pr.outcome_months,
                                 scenarios={k: tuple(v) for k, v in pr.scenarios.items()})
    tried: list[str] = []
    first = invoices["invoice_date"].min()
    available = (as_of.year - first.year) * 12 + as_of.month - first.month - pr.outcome_months - 1
    for _ in range(2 + len(settings.bucket_edges)):
        try:
            provision = provision_from_ledger(invoices, as_of, settings, defaults)
        except CreditLabError as err:
            if "had no balance" in str(err) and len(settings.bucket_edges) > 1:
                # an ageing bucket this ledger never reaches has no loss rate to measure: merge it
                # into the one before, and say so
                edges = settings.bucket_edges
                settings = replace(settings, bucket_edges=edges[:-1])
                tried.append(f"no balance ever reached {edges[-1]}+ days past due at a month-end with a known "
                             f"outcome, so that bucket is merged into the one before (bucket edges {list(edges[:-1])})")
                continue
            if 3 <= available < settings.history_months:
                settings = replace(settings, history_months=int(available))
                tried.append(f"the ledger's history is too short for reserve.provisions.history_months = "
                             f"{pr.history_months}; the loss rates rest on the {available} month-ends available")
                continue
            notes.append(f"Provision matrix not computed: {err}")
            return None
        notes.extend(f"Provision matrix: {t}." for t in tried)
        return provision
    notes.append("Provision matrix not computed: " + "; ".join(tried))
    return None


def _provisions_only(ctx: StageContext) -> ReserveResult:
    """Without PDs: the ageing of today's receivables and the IFRS 9 provision matrix."""
    as_of = _as_of(ctx)
    invoices = ctx.read("invoices.parquet")
    notes = [f"PD-based expected loss, the loss distribution, concentration capital and stress tests need a PD "
             f"model and are not computed: {ctx.skipped()['04_scoring_explain']}."]
    provision = _provision_matrix(ctx, invoices, ctx.table("defaults"), as_of, notes)
    exposures = _ageing(invoices, as_of, ctx.params.reserve.provisions.bucket_edges)
    totals = {"receivables_open": float(exposures["receivables_open"].sum()),
              "customers_with_open_receivables": int((exposures["receivables_open"] > 0).sum()),
              "provision_matrix": float(provision.allowance) if provision is not None else float("nan")}
    if provision is not None:
        ctx.write("provision_matrix.parquet", provision.matrix.reset_index())
    ctx.write("ageing.parquet", exposures.reset_index())
    ctx.write_json("reserve_summary.json", totals)
    return ReserveResult(exposures, None, None, totals, provision, notes=notes)


def _ageing(invoices: pd.DataFrame, as_of: pd.Timestamp, edges: tuple[int, ...]) -> pd.DataFrame:
    """Open receivables per customer at ``as_of`` by days-past-due bucket (not yet due = 'current')."""
    t = np.datetime64(as_of, "ns")
    issued, paid = invoices["invoice_date"].to_numpy(), invoices["paid_date"].to_numpy()
    open_ = (issued < t) & (np.isnat(paid) | (paid >= t))
    inv = invoices.loc[open_]
    dpd = (t - inv["due_date"].to_numpy()) / np.timedelta64(1, "D")
    labels = ["current"] + [f"{lo + 1}-{hi}" for lo, hi in zip(edges[:-1], edges[1:])] + [f">{edges[-1]}"]
    bucket = np.where(dpd <= edges[0], 0, np.searchsorted(np.asarray(edges), dpd, side="left"))
    frame = pd.DataFrame({"customer_id": inv["customer_id"].to_numpy(), "bucket": np.asarray(labels)[bucket],
                          "amount": inv["amount"].to_numpy(dtype=float)})
    table = frame.pivot_table(index="customer_id", columns="bucket", values="amount", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=labels, fill_value=0.0)
    table["receivables_open"] = table.sum(axis=1)
    return table.sort_values("receivables_open", ascending=False)


def stage_reserve(ctx: StageContext) -> ReserveResult:
    """Expected loss gross and net of mitigation, the IFRS 9 provision matrix, lifetime ECL and
    its reconciliation with the matrix, and concentration, on the final limits."""
    from credit_lab.risk.concentration import ConcentrationSettings, concentration_summary, granularity_adjustment
    from credit_lab.risk.mitigation import MitigationSettings, mitigate
    from credit_lab.risk.loss_distribution import recommended_reserve
    from credit_lab.risk.provisions import (collection_delay_days, expected_loss_table, expected_months_to_collection,
                             lifetime_ecl, reconcile)

    _require(ctx, "06_risk_reserve")
    if "04_scoring_explain" in ctx.skipped():
        return _provisions_only(ctx)
    p, r = ctx.params, ctx.params.reserve
    as_of = _as_of(ctx)
    book = _scored_book(ctx)
    customers = ctx.read("customers.parquet").set_index("customer_id")
    book = book.join(customers[["collateral_value", "collateral_haircut", "guarantor_pd"]])
    notes: list[str] = []
    if ctx.path("limits.parquet").is_file():
        limits = ctx.read("limits.parquet").set_index("customer_id")
        # The limits customers get: the proposal after the adjustment rules.
        final_limit = limits["final_limit"].reindex(book.index).astype(float)
    else:
        final_limit = book["receivables_open"].astype(float)
        notes.append("No limits were set (stage 05 skipped): exposure is today's drawn balance.")
    ead = exposure_at_default(book["receivables_open"].astype(float), final_limit, r.ccf)
    mitigation_inputs = _mitigation_frame(book, ead, r)
    mitigation = mitigate(mitigation_inputs, MitigationSettings(
        insurer_pd=r.insurer_pd, treatment=r.guarantee_treatment, provider_correlation=r.provider_correlation,
        insurer_max_liability=r.insurer_max_liability))
    mt = mitigation.table
    exposures = book[["customer_name", "industry", "region", "grade", "pd", "receivables_open"]].assign(
        final_limit=final_limit).join(mt.drop(columns=["pd"]))
    exposures = exposures.rename(columns={"el_net": "el", "net_ead": "net_exposure"})
    by_grade = el_summary(exposures, "grade")
    by_industry = el_summary(exposures, "industry")

    # Accounting view: the receivables open today.
    provision = ecl = recon = el_tables = None
    if ctx.table_mode:
        invoices = defaults = None
        notes.append("Table mode: the IFRS 9 provision matrix needs the invoice ledger's ageing history and is "
                     "not computed; the reserve rests on the PD-based loss distribution.")
    else:
        invoices = ctx.read("invoices.parquet")
        defaults = ctx.table("defaults")
        provision = _provision_matrix(ctx, invoices, defaults, as_of, notes)
    if provision is not None:
        items = provision.items
        exposure = items.groupby("customer_id")["outstanding"].sum()
        # Customers already in default have no score: their PD is 1 (they are in default).
        pd_12m = book["pd"].reindex(exposure.index).fillna(1.0)
        lgd_net = exposures["lgd_net"].reindex(exposure.index).fillna(r.lgd)
        months = expected_months_to_collection(items, as_of, collection_delay_days(invoices, as_of))
        ecl = lifetime_ecl(exposure, pd_12m, lgd_net, months.reindex(exposure.index), r.discount_rate)
        recon = reconcile(items, ecl, as_of, defaults)
        frame = exposures[["pd", "grade", "industry", "receivables_open"]].assign(
            months_to_collection=months.reindex(exposures.index).fillna(0.0))
        el_tables = expected_loss_table(frame, exposures["lgd_net"].fillna(r.lgd), r.discount_rate)
        ctx.write("provision_matrix.parquet", provision.matrix.reset_index())
        ctx.write("lifetime_ecl.parquet", ecl.reset_index(names="customer_id"))
        ctx.write("ecl_reconciliation.parquet", recon.reset_index())
    conc_frame = exposures.reset_index()[["customer_id", "industry", "region", "ead"]]
    concentration = concentration_summary(conc_frame, ConcentrationSettings())
    cap_use = _cap_utilization(ctx, exposures)
    positive = exposures["ead"] > 0
    granularity = granularity_adjustment(exposures.loc[positive, "ead"].to_numpy(),
                                         exposures.loc[positive, "pd"].to_numpy(),
                                         np.clip(exposures.loc[positive, "lgd_net"].to_numpy(), 1e-6, 1.0),
                                         ConcentrationSettings(ga_form="simplified"))
    loss = _loss_distribution(exposures, r, p.seed)
    levels = sorted(loss.var)
    loss_table = pd.DataFrame({"var": [loss.var[q] for q in levels], "es": [loss.es[q] for q in levels],
                               "ul": [loss.var[q] - loss.expected_loss for q in levels]},
                              index=pd.Index(levels, name="confidence")).join(loss.error)
    recommended = recommended_reserve(loss, r.confidence)
    ctx.write("loss_distribution.parquet", loss_table.reset_index())
    ctx.write("loss_quantiles.parquet", loss.quantiles.rename("loss").reset_index())
    if loss.sector_contributions is not None:
        ctx.write("risk_contributions_industry.parquet", loss.sector_contributions.reset_index())
        ctx.write("risk_contributions_customer.parquet", loss.obligor_contributions.reset_index())
    totals = {k: float(exposures[k].sum()) for k in ("ead", "net_exposure", "el_gross", "el")}
    totals.update(reserve_recommended=float(recommended), reserve_confidence=r.confidence,
                  reserve_held=r.reserve_held if r.reserve_held is not None else float("nan"),
                  reserve_gap=float(recommended - r.reserve_held) if r.reserve_held is not None else float("nan"),
                  loss_el=float(loss.expected_loss))
    totals.update(provision_matrix=float(provision.allowance) if provision is not None else float("nan"),
                  provision_historical=float(provision.historical_allowance) if provision is not None
                  else float("nan"),
                  lifetime_ecl=float(ecl["ecl"].sum()) if ecl is not None else float("nan"),
                  hhi_name=concentration.hhi_name, hhi_industry=concentration.hhi_industry,
                  insurer_cap_factor=mitigation.cap_factor)
    stress = _stress_table(book, ead, mitigation_inputs, exposures, r, p.seed, provision, loss, recommended)
    ctx.write("stress_tests.parquet", stress.reset_index())
    ctx.write("expected_loss.parquet", exposures.reset_index())
    ctx.write("el_by_grade.parquet", by_grade.reset_index(names="grade"))
    ctx.write("el_by_industry.parquet", by_industry.reset_index(names="industry"))
    ctx.write_json("reserve_summary.json", totals)
    waterfall = None
    if r.previous_run:
        try:
            waterfall = _reserve_waterfall(Path(r.previous_run), exposures, ctx, r, p.seed, recommended, notes)
            ctx.write("reserve_waterfall.parquet", waterfall.reset_index())
        except (CreditLabError, OSError, KeyError) as err:
            notes.append(f"Reserve waterfall against {r.previous_run} not computed: {err}")
    ctx.write("cap_utilization.parquet", cap_use)
    return ReserveResult(exposures, by_grade, by_industry, totals, provision, ecl, recon, concentration,
                         granularity, el_tables, notes, loss, loss_table, stress, cap_use, waterfall)


def _reserve_waterfall(previous: Path, exposures: pd.DataFrame, ctx: StageContext, r, seed: int,
                       recommended: float, notes: list[str]) -> pd.DataFrame:
    """How the recommended reserve moved since a previous run, step by step.

    Starting from the previous run's book, one element at a time is switched to today's:
    customers that came and went, limits and balances (EAD), PD migration (the previous model
    on today's features), the model change (today's model instead), LGD and mitigation. Each
    step's reserve is recomputed with the same loss model; the last row is the estimation
    noise left to today's reported figure.
    """
    from credit_lab.run.store import load_run_model

    prev = pd.read_parquet(previous / "data" / "expected_loss.parquet").set_index("customer_id")
    cols = ["industry", "pd", "ead", "lgd_net"]
    prev, cur = prev[cols].copy(), exposures[cols].copy()
    cont = cur.index.intersection(prev.index)
    new = cur.index.difference(prev.index)
    q = float(r.confidence)

    def reserve(frame: pd.DataFrame) -> float:
        return float(_loss_distribution(frame, r, seed, contributions=False).var[q])

    pd_prev_model = None
    try:
        model = load_run_model(previous)
        features = ctx.read("features_current.parquet").set_index("customer_id").loc[cont]
        pd_prev_model = pd.Series(model.predict_pd(features), index=cont)
    except CreditLabError as err:
        notes.append(f"Waterfall: the previous run's model could not be used ({err}); PD migration includes "
                     "any model change.")
    steps = [("previous run", reserve(prev))]
    frame = pd.concat([prev.loc[cont], cur.loc[new]])
    steps.append(("new and exited customers", reserve(frame)))
    frame.loc[cont, "ead"] = cur.loc[cont, "ead"]
    steps.append(("limits and balances (EAD)", reserve(frame)))
    if pd_prev_model is not None:
        frame.loc[cont, "pd"] = pd_prev_model
        steps.append(("PD migration", reserve(frame)))
        frame.loc[cont, "pd"] = cur.loc[cont, "pd"]
        steps.append(("model change", reserve(frame)))
    else:
        frame.loc[cont, "pd"] = cur.loc[cont, "pd"]
        steps.append(("PD migration (incl. model change)", reserve(frame)))
    frame.loc[cont, "lgd_net"] = cur.loc[cont, "lgd_net"]
    steps.append(("LGD and mitigation", reserve(frame)))
    steps.append(("estimation noise", recommended))
    table = pd.DataFrame(steps, columns=["step", "reserve"]).set_index("step")
    table["change"] = table["reserve"].diff().fillna(0.0)
    return table


def _stress_table(book: pd.DataFrame, ead: pd.Series, base: pd.DataFrame, exposures: pd.DataFrame, r, seed: int,
                  provision, loss, recommended: float) -> pd.DataFrame:
    """Provision, EL, VaR, ES and reserve under each stress scenario, beside the base case.

    Each scenario re-runs mitigation and the loss distribution on the stressed PDs and LGDs.
    The provision matrix is stressed by scaling every bucket's loss rate (capped at 100%) by
    the scenario's exposure-weighted PD multiplier, since roll rates to loss move with defaults.
    """
    from credit_lab.risk.mitigation import MitigationSettings, mitigate
    from credit_lab.risk.loss_distribution import recommended_reserve
    from credit_lab.risk.stress import StressScenario, stressed_book

    q = float(r.confidence)
    rows = [{"scenario": "base", "provision": provision.allowance if provision is not None else np.nan,
             "el": float(exposures["el"].sum()), "var": loss.var[q], "es": loss.es[q], "reserve": recommended,
             "notes": ""}]
    for raw in r.stress_scenarios:
        scenario = StressScenario(**raw)
        stressed, notes = stressed_book(base.assign(industry=book["industry"]), scenario)
        settings = MitigationSettings(insurer_pd=1.0 if scenario.insurer_fails else r.insurer_pd,
                                      treatment=r.guarantee_treatment, provider_correlation=r.provider_correlation,
                                      insurer_max_liability=r.insurer_max_liability)
        mt = mitigate(stressed.drop(columns=["industry"]), settings).table
        frame = exposures[["industry"]].assign(pd=stressed["pd"], ead=mt["ead"], lgd_net=mt["lgd_net"])
        s_loss = _loss_distribution(frame, r, seed, contributions=False)
        # Customers made to default are provided for in full (their open receivables x net LGD);
        # the rest of the book moves with its exposure-weighted PD multiplier.
        forced = (stressed["pd"] >= 1.0 - 1e-6) & (base["pd"] < 1.0 - 1e-6)
        rest = ead.where(~forced, 0.0)
        weight = rest / rest.sum() if rest.sum() > 0 else pd.Series(0.0, index=ead.index)
        multiplier = float((weight * stressed["pd"] / base["pd"]).sum()) if rest.sum() > 0 else 1.0
        prov = np.nan
        if provision is not None:
            m = provision.matrix.drop(index="Total", errors="ignore")
            prov = float((m["gross_carrying_amount"] * np.minimum(m["adjusted_loss_rate"] * multiplier, 1.0)).sum())
            prov += float((book["receivables_open"] * mt["lgd_net"].fillna(r.lgd))[forced].sum())
        rows.append({"scenario": scenario.name, "provision": prov, "el": float(mt["el_net"].sum()),
                     "var": s_loss.var[q], "es": s_loss.es[q], "reserve": recommended_reserve(s_loss, q),
                     "notes": "; ".join(notes)})
    table = pd.DataFrame(rows).set_index("scenario")
    table["reserve_vs_base"] = table["reserve"] / table.loc["base", "reserve"] - 1.0
    return table


def _loss_distribution(exposures: pd.DataFrame, r, seed: int, contributions: bool = True):
    """Multi-factor Gaussian copula loss of the book, one factor per industry, with Euler contributions."""
    from credit_lab.risk.loss_distribution import LossPortfolio, fast_loss

    industries = sorted(exposures["industry"].astype(str).unique())
    code = exposures["industry"].astype(str).map({name: i for i, name in enumerate(industries)}).to_numpy()
    corr = np.full((len(industries), len(industries)), r.industry_factor_correlation)
    np.fill_diagonal(corr, 1.0)
    for a, row in r.industry_correlations.items():
        for b, value in row.items():
            if a in industries and b in industries:
                i, j = industries.index(a), industries.index(b)
                corr[i, j] = corr[j, i] = value
    lgd = exposures["lgd_net"].fillna(r.lgd).to_numpy(dtype=float)
    lgd_std = None
    if r.lgd_std is not None:
        # a Beta LGD needs std^2 < mean (1 - mean): narrower where the mean is near 0 or 1
        lgd_std = np.minimum(r.lgd_std, 0.999 * np.sqrt(np.clip(lgd * (1 - lgd), 0.0, None)))
    portfolio = LossPortfolio.from_arrays(
        exposures["pd"].to_numpy(dtype=float), exposures["ead"].to_numpy(dtype=float), lgd, code, corr,
        rho=r.asset_correlation, lgd_std=lgd_std, obligor_id=exposures.index.to_numpy(), sector_names=industries)
    levels = tuple(sorted({0.99, 0.995, 0.999, float(r.confidence)}))
    return fast_loss(portfolio, seed=seed, levels=levels, contributions=contributions)


STAGES: dict[str, tuple[str, Callable[[StageContext], Any], str | tuple[str, ...]]] = {
    "01_data_quality": ("Data quality", stage_data_quality, "data_quality.json"),
    "02_features": ("Features", stage_features, "features_current.parquet"),
    "03_model": ("PD model", stage_model, "validation.json"),
    "04_scoring_explain": ("Scoring and explanations", stage_scoring, "scores.parquet"),
    "05_limits": ("Limits", stage_limits, ("limits.parquet", "monitoring.json")),
    "06_risk_reserve": ("Risk reserve", stage_reserve, "reserve_summary.json"),
}


def _load_any_params(params_file: str | Path) -> RunParams:
    path = Path(params_file)
    if path.suffix == ".json":
        return params_from_dict(io.read_json(path), source=str(path))
    return load_params(path)


def open_stage(stage: str, run_dir: str | Path, params_file: str | Path,
               build_missing_upstream: bool = True) -> StageContext:
    """Context of ``stage`` in ``run_dir``; checks (or, outside a run, builds) upstream outputs.

    Parameters
    ----------
    stage : one of :data:`STAGES`.
    run_dir : the run folder the stage reads from and writes to.
    params_file : YAML params (or the JSON copy a pipeline run writes).
    build_missing_upstream : when an earlier stage's output is missing, compute it here
        (for a notebook opened on its own) instead of failing (pipeline runs pass False).
    """
    if stage not in STAGES:
        raise StageError(f"unknown stage {stage!r}; expected one of {list(STAGES)}")
    ctx = StageContext(Path(run_dir).resolve(), _load_any_params(params_file))
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    for name, (_, func, marker) in STAGES.items():
        if name == stage:
            _require(ctx, stage)
            break
        markers = (marker,) if isinstance(marker, str) else marker
        if any(ctx.path(m).is_file() for m in markers) or name in ctx.skipped():
            continue
        if not build_missing_upstream:
            raise StageError(f"stage {stage} needs {marker} from stage {name}, which is missing in {ctx.run_dir}")
        logger.info("building missing upstream stage %s in %s", name, ctx.run_dir)
        func(ctx)
    return ctx


def params_snapshot(params: RunParams) -> str:
    """The fully resolved params (defaults included) as YAML, for the run folder."""
    return yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False)


