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

from . import io
from .config import RunParams, load_params, params_from_dict
from .exceptions import CreditLabError, StageError
from .explain import Explanation, explain, reason_codes
from .features import build_features, build_training_set, data_cut_date, feature_names
from .limits import reason_sentence, set_limits
from .models import (
    PDModel,
    ValidationMetrics,
    assign_grades,
    grade_table,
    score_points,
    split_development,
    validation_metrics,
)
from .reserve import el_summary, exposure_at_default
from .schema import LedgerValidation, validate_ledger

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


# ---------------------------------------------------------------- 01 data quality

@dataclass
class DataQualityResult:
    validation: LedgerValidation
    as_of: pd.Timestamp
    summary: pd.DataFrame
    source: str


def _raw_tables(params: RunParams) -> tuple[dict[str, pd.DataFrame], str]:
    if params.data.source == "synthetic":
        from .synth import generate_ledger

        s = params.data.synthetic
        ledger = generate_ledger(n_customers=s.n_customers, n_months=s.n_months, start_date=str(s.start_date),
                                 seed=params.seed, annual_default_rate=s.annual_default_rate)
        tables = {t: getattr(ledger, t) for t in TABLES}
        return tables, f"embedded synthetic ledger (seed {params.seed}, {s.n_customers} customers, {s.n_months} months)"
    return io.read_input_tables(params.data), "files: " + ", ".join(
        f"{k}={v.path}" for k, v in params.data.files.items())


def stage_data_quality(ctx: StageContext) -> DataQualityResult:
    """Load the ledger, enforce the data contract, write the validated tables and quarantine."""
    raw, source = _raw_tables(ctx.params)
    formats = {name: src.date_format for name, src in ctx.params.data.files.items()}
    validation = validate_ledger(raw, ctx.params.data.on_invalid, formats)
    as_of = (pd.Timestamp(ctx.params.data.as_of_date) if ctx.params.data.as_of_date
             else data_cut_date(validation.tables))
    for name, table in validation.tables.items():
        ctx.write(f"{name}.parquet", table)
    ctx.write("quarantine.parquet", validation.quarantine)
    summary = pd.DataFrame({
        "rows_in": pd.Series(validation.row_counts_in),
        "rows_valid": pd.Series({k: len(v) for k, v in validation.tables.items()}),
    })
    summary["rows_quarantined"] = summary["rows_in"] - summary["rows_valid"]
    ctx.write_json("data_quality.json", {
        "as_of_date": as_of.date().isoformat(), "source": source,
        "rows": summary.reset_index(names="table").to_dict(orient="records"),
        "violations": [v.__dict__ for v in validation.violations],
        "assumptions": validation.assumptions,
    })
    return DataQualityResult(validation, as_of, summary, source)


def _as_of(ctx: StageContext) -> pd.Timestamp:
    return pd.Timestamp(ctx.read_json("data_quality.json")["as_of_date"])


# ---------------------------------------------------------------- 02 features

@dataclass
class FeaturesResult:
    train: pd.DataFrame
    current: pd.DataFrame
    as_of: pd.Timestamp


def stage_features(ctx: StageContext) -> FeaturesResult:
    """Point-in-time features of the training snapshots (with labels) and of today."""
    tables = ctx.tables()
    as_of = _as_of(ctx)
    lag = ctx.params.data.financials_publication_lag_days
    train = build_training_set(tables, as_of, ctx.params.features, lag)
    current = build_features(tables, as_of, ctx.params.features, lag)
    ctx.write("features_train.parquet", train.reset_index())
    ctx.write("features_current.parquet", current.reset_index())
    return FeaturesResult(train, current, as_of)


# ---------------------------------------------------------------- 03 model

@dataclass
class ModelResult:
    model: PDModel
    metrics: list[ValidationMetrics]
    oot: pd.DataFrame
    grades_oot: pd.DataFrame
    artifact: dict[str, Any]


def stage_model(ctx: StageContext) -> ModelResult:
    """Train the monotone GBM, calibrate it, validate it out of time, save it with its hash."""
    p = ctx.params
    train = ctx.read("features_train.parquet").set_index("customer_id")
    fit, cal, oot = split_development(train, p.model.oot_snapshots, seed=p.seed)
    names = feature_names()
    model = PDModel(names, p.model, random_state=p.seed).fit(fit, fit["default_in_horizon"],
                                                             cal, cal["default_in_horizon"])
    metrics = []
    for label, sample in (("development (fit)", fit), ("calibration", cal), ("out-of-time", oot)):
        metrics.append(validation_metrics(label, sample["default_in_horizon"].to_numpy(), model.predict_pd(sample)))
    oot_out = pd.DataFrame({
        "snapshot_date": oot["snapshot_date"], "default_in_horizon": oot["default_in_horizon"],
        "pd": model.predict_pd(oot),
    }, index=oot.index)
    oot_out["grade"] = assign_grades(oot_out["pd"].to_numpy(), p.master_scale)
    grades_oot = grade_table(oot_out["grade"].to_numpy(), oot_out["pd"].to_numpy(),
                             oot_out["default_in_horizon"].to_numpy(), p.master_scale)
    ctx.models_dir.mkdir(parents=True, exist_ok=True)
    sha = io.save_model(model, ctx.models_dir / "pd_model.pkl")
    artifact = {
        "file": "models/pd_model.pkl", "sha256": sha, "features": names,
        "monotone_constraints": dict(zip(model.features_, model.monotone_cst_)),
        "unused_features": model.unused_features_,
        "fit_rows": len(fit), "calibration_rows": len(cal), "oot_rows": len(oot),
        "snapshots": sorted(str(pd.Timestamp(s).date()) for s in train["snapshot_date"].unique()),
        "params": p.model.model_dump(mode="json"),
    }
    io.write_json(ctx.models_dir / "pd_model.json", artifact)
    ctx.write("oot_predictions.parquet", oot_out.reset_index())
    ctx.write_json("validation.json", [m.__dict__ for m in metrics])
    return ModelResult(model, metrics, oot_out, grades_oot, artifact)


def load_pd_model(ctx: StageContext) -> PDModel:
    meta = io.read_json(ctx.models_dir / "pd_model.json")
    return io.load_model(ctx.run_dir / meta["file"], meta["sha256"])


# ---------------------------------------------------------------- 04 scoring + explanations

@dataclass
class ScoringResult:
    scores: pd.DataFrame
    explanation: Explanation
    additivity_error: float


def stage_scoring(ctx: StageContext) -> ScoringResult:
    """Score every current customer; SHAP values, additivity check, reason codes."""
    p = ctx.params
    model = load_pd_model(ctx)
    current = ctx.read("features_current.parquet").set_index("customer_id")
    pd_ = model.predict_pd(current)
    expl, err = explain(model, current, p.explain.additivity_tolerance)
    reasons = reason_codes(expl, p.explain.top_reasons)
    scores = pd.DataFrame({
        "pd": pd_, "grade": assign_grades(pd_, p.master_scale), "score": score_points(pd_, p.score_scaling),
        "raw_log_odds": expl.output, "is_new_customer": current["is_new_customer"].to_numpy(),
    }, index=current.index).join(reasons)
    ctx.write("scores.parquet", scores.reset_index())
    shap_frame = expl.frame()
    ctx.write("shap_values.parquet", shap_frame.reset_index())
    ctx.write_json("explain.json", {"base_value": expl.base_value, "max_additivity_error": err,
                                    "tolerance": p.explain.additivity_tolerance, "customers": len(scores)})
    return ScoringResult(scores, expl, err)


def load_explanation(ctx: StageContext) -> Explanation:
    shap_frame = ctx.read("shap_values.parquet").set_index("customer_id")
    current = ctx.read("features_current.parquet").set_index("customer_id")
    meta = ctx.read_json("explain.json")
    scores = ctx.read("scores.parquet").set_index("customer_id")
    return Explanation(shap_frame.to_numpy(), meta["base_value"], current.loc[shap_frame.index, shap_frame.columns],
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
    from . import review as rv

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
    current = ctx.read("features_current.parquet").set_index("customer_id")
    scores = ctx.read("scores.parquet").set_index("customer_id")
    customers = ctx.read("customers.parquet").set_index("customer_id")
    cols = ["customer_name", "payment_terms_days", "insurance_cover_pct", "insured_limit", "guarantee_amount"]
    return (scores.join(current[["industry", "region", "credit_limit", "receivables_open", "sales_in_window",
                                 "tenure_months", "revenue_latest", "days_beyond_terms_mean"]])
            .join(customers[cols]))


def stage_limits(ctx: StageContext) -> LimitsResult:
    """Proposed limit per customer, its change and what decided it.

    ``limits.method: optimize`` maximizes expected profit over the book under the EL and
    exposure budgets, industry and region caps and per-customer bounds, and reports the
    binding constraints with their shadow prices and the efficient frontier; ``rules``
    takes the tightest of the capacity, grade and single-name caps.
    """
    p = ctx.params
    book = _scored_book(ctx)
    keep = ["customer_name", "industry", "region", "pd", "grade", "reason_1", "reason_2", "reason_3"]
    if p.limits.method == "rules":
        limits = set_limits(book, p.limits, p.features.lookback_months)
        out = book[keep].join(limits)
        result = LimitsResult(out, "rules")
    else:
        from .limits import optimize_book, purchase_statistics
        from .optimize import efficient_frontier

        invoices = ctx.read("invoices.parquet")
        purchases = purchase_statistics(invoices, _as_of(ctx), p.features.lookback_months, book.index)
        features = ctx.read("features_current.parquet").set_index("customer_id")
        table, solved, problem = optimize_book(book, purchases, p.limits, p.reserve.lgd, seed=p.seed,
                                               model=load_pd_model(ctx), features=features,
                                               master_scale=p.master_scale)
        out = book[keep].join(table)
        out["explanation"] = [reason_sentence(row) for _, row in out.iterrows()]
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
    _review(ctx, result)
    ctx.write("limits.parquet", result.limits.reset_index())
    # The decision table credit managers open in a spreadsheet.
    io.write_csv(ctx.path("limits.csv"), result.limits.reset_index())
    from .letters import LetterSettings, letters_for

    letters = letters_for(result.limits.assign(proposed_limit=result.limits["final_limit"]), _as_of(ctx),
                          LetterSettings(**p.letters.model_dump()))
    for name, page in letters.items():
        io.atomic_write_bytes(ctx.run_dir / "letters" / name, page.encode("utf-8"))
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
    from .concentration import ConcentrationSettings, cap_utilization

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


def stage_reserve(ctx: StageContext) -> ReserveResult:
    """Expected loss gross and net of mitigation, the IFRS 9 provision matrix, lifetime ECL and
    its reconciliation with the matrix, and concentration, on the final limits."""
    from .concentration import ConcentrationSettings, concentration_summary, granularity_adjustment
    from .mitigation import MitigationSettings, mitigate
    from .portfolio_loss import recommended_reserve
    from .provisions import (ProvisionSettings, collection_delay_days, expected_loss_table,
                             expected_months_to_collection, lifetime_ecl, provision_from_ledger, reconcile)

    p, r = ctx.params, ctx.params.reserve
    as_of = _as_of(ctx)
    book = _scored_book(ctx)
    customers = ctx.read("customers.parquet").set_index("customer_id")
    book = book.join(customers[["collateral_value", "collateral_haircut", "guarantor_pd"]])
    limits = ctx.read("limits.parquet").set_index("customer_id")
    # The limits customers get: the proposal after the adjustment rules.
    final_limit = limits["final_limit"].reindex(book.index).astype(float)
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
    invoices = ctx.read("invoices.parquet")
    defaults = ctx.table("defaults")
    pr = r.provisions
    settings = ProvisionSettings(bucket_edges=tuple(pr.bucket_edges), method=pr.method,
                                 history_months=pr.history_months, outcome_months=pr.outcome_months,
                                 scenarios={k: tuple(v) for k, v in pr.scenarios.items()})
    notes: list[str] = []
    provision = ecl = recon = el_tables = None
    try:
        provision = provision_from_ledger(invoices, as_of, settings, defaults)
    except CreditLabError as err:
        first = invoices["invoice_date"].min()
        available = (as_of.year - first.year) * 12 + as_of.month - first.month - pr.outcome_months - 1
        if available >= 3 and available < pr.history_months:
            settings = replace(settings, history_months=int(available))
            provision = provision_from_ledger(invoices, as_of, settings, defaults)
            notes.append(f"The ledger's history is too short for reserve.provisions.history_months = "
                         f"{pr.history_months}; the loss rates rest on the {available} month-ends available.")
        else:
            notes.append(f"Provision matrix not computed: {err}")
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
    from .pipeline import load_run_model

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
    from .mitigation import MitigationSettings, mitigate
    from .portfolio_loss import recommended_reserve
    from .stress import StressScenario, stressed_book

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
    from .portfolio_loss import LossPortfolio, fast_loss

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


STAGES: dict[str, tuple[str, Callable[[StageContext], Any], str]] = {
    "01_data_quality": ("Data quality", stage_data_quality, "data_quality.json"),
    "02_features": ("Features", stage_features, "features_current.parquet"),
    "03_model": ("PD model", stage_model, "validation.json"),
    "04_scoring_explain": ("Scoring and explanations", stage_scoring, "scores.parquet"),
    "05_limits": ("Limits", stage_limits, "limits.parquet"),
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
            break
        if ctx.path(marker).is_file():
            continue
        if not build_missing_upstream:
            raise StageError(f"stage {stage} needs {marker} from stage {name}, which is missing in {ctx.run_dir}")
        logger.info("building missing upstream stage %s in %s", name, ctx.run_dir)
        func(ctx)
    return ctx


def params_snapshot(params: RunParams) -> str:
    """The fully resolved params (defaults included) as YAML, for the run folder."""
    return yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False)


