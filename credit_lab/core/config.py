"""Typed run parameters: the YAML params file validated before any stage runs.

A params file is checked in full before anything is computed: unknown keys,
wrong types and out-of-range values are all reported at once, each naming its
dotted key, e.g. ``model.learning_rate: Input should be greater than 0 (got -1)``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from credit_lab.core.competition_params import CompetitionParams, StrategicParams
from credit_lab.core.compute_params import ComputeParams
from credit_lab.core.exceptions import ParamsError
from credit_lab.core.expert_params import ExpertCriterion, ExpertParams, RiskClass
from credit_lab.core.params_base import StrictParams as _Strict
from credit_lab.core.replay_params import ReplayParams

__all__ = [
    "RunParams",
    "DataParams",
    "SyntheticDataParams",
    "TableSource",
    "CustomerTableParams",
    "OutcomeCoding",
    "LedgerRules",
    "FeatureParams",
    "ModelParams",
    "ScorecardParams",
    "ExpertCriterion",
    "ExpertParams",
    "RiskClass",
    "Grade",
    "ScoreScaling",
    "ExplainParams",
    "LimitParams",
    "CompetitionParams",
    "StrategicParams",
    "LetterParams",
    "ReviewParams",
    "ReserveParams",
    "ProvisionParams",
    "ReportParams",
    "load_params",
    "params_from_dict",
    "TABLE_NAMES",
]

TABLE_NAMES = ("customers", "invoices", "financials", "defaults", "industry_outlook", "limit_history")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: the output folder's own entries beside the run folders (the run log, the link to the latest run, the
#: index page); a run id that is one of them, or starts like one, would replace or shadow it
RESERVED_RUN_IDS = ("runs.jsonl", "latest", "index.html")


class SyntheticDataParams(_Strict):
    """Size and shape of the embedded synthetic ledger."""

    n_customers: int = Field(5000, ge=50, le=2_000_000, description="customers in the book")
    n_months: int = Field(36, ge=24, le=120, description="months of invoice history")
    start_date: dt.date = Field(dt.date(2023, 1, 1), description="first day of the ledger")
    annual_default_rate: float = Field(0.05, gt=0.0, lt=0.5, description="target yearly default rate")
    write_off_days_past_due: int | None = Field(
        360, ge=1, le=3650, description="an invoice not settled this many days after its due date is written off "
                                        "on that day (paid_date set, paid_amount 0); null: never written off")
    recovery_rate: float | None = Field(0.55, ge=0.0, lt=1.0, description="expected share of what a defaulted customer "
                                        "owes at its default paid later, = 1 - its LGD; null or 0: no recovery model")
    limit_cut_share: float = Field(
        0.0, ge=0.0, le=1.0, description="share of eligible customers whose limit the generator cuts at each 6-monthly "
                                         "review, some of them lost to competitors in response (a limit_history "
                                         "table is added); 0: no cuts, the ledger as without")


class TableSource(_Strict):
    """One input table read from a CSV or Parquet file."""

    path: str = Field(description="CSV or Parquet file; relative paths start at the working directory")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="our column name -> the column's name in your file (only where they differ)",
    )
    date_format: str | None = Field(None, description="strftime format of date columns in a CSV, e.g. %m/%d/%Y")
    separator: str = Field(",", min_length=1, max_length=1, description="CSV field separator")
    true_words: dict[str, list[str]] = Field(
        default_factory=dict,
        description="column -> words that mean true in it (e.g. paperless: [Electronic]); compared without case",
    )
    false_words: dict[str, list[str]] = Field(
        default_factory=dict, description="column -> words that mean false in it (e.g. paperless: [Paper])",
    )

    @field_validator("true_words", "false_words", mode="before")
    @classmethod
    def _words_quoted(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for col, words in value.items():
                if isinstance(words, list) and any(isinstance(w, bool) for w in words):
                    raise ValueError(f"{col}: YAML reads an unquoted yes/no/true/false/on/off as a boolean, not a "
                                     "word; quote the words, e.g. ['Yes']")
        return value

    @model_validator(mode="after")
    def _words_paired(self) -> "TableSource":
        for col in set(self.true_words) | set(self.false_words):
            t = {w.strip().lower() for w in self.true_words.get(col, [])}
            f = {w.strip().lower() for w in self.false_words.get(col, [])}
            if t & f:
                raise ValueError(f"column {col!r}: word(s) {sorted(t & f)} listed as both true and false")
        return self


class OutcomeCoding(_Strict):
    """Which values of the outcome column mean default (bad) and which mean no default (good)."""

    column: str = Field(description="the outcome column of the customer table")
    bad_values: list[str | int | float] = Field(
        default_factory=list, description="values meaning default, e.g. [1], [yes], [bad]; empty: 1 when the column "
                                          "is 0/1")
    good_values: list[str | int | float] = Field(
        default_factory=list, description="values meaning no default, e.g. [0], [no], [good]")

    @field_validator("bad_values", "good_values", mode="before")
    @classmethod
    def _values_quoted(cls, value: Any) -> Any:
        if isinstance(value, list) and any(isinstance(v, bool) for v in value):
            raise ValueError("YAML reads an unquoted yes/no/true/false/on/off as a boolean, not the word in your "
                             "file; quote it, e.g. ['yes']")
        return value


class CustomerTableParams(_Strict):
    """Table mode: one row per customer with an outcome, a limit, a balance and feature columns."""

    path: str = Field(description="CSV, Parquet or Excel (.xlsx/.xls) file; relative to the working directory")
    separator: str = Field(",", min_length=1, max_length=1,
                           description="CSV field separator; ' ' = runs of spaces (e.g. UCI .data files)")
    header_row: int = Field(0, ge=0, le=100, description="0-based row holding the column names (rows above are "
                                                         "skipped)")
    column_names: list[str] = Field(
        default_factory=list, description="the file has no header row: these are its column names, in order")
    sheet: str | int = Field(0, description="Excel: sheet name or 0-based index")
    id_column: str | None = Field(None, description="customer id column; null = the row number")
    outcome: OutcomeCoding | None = Field(
        None, description="outcome column and coding; null = no outcomes (model stages are skipped)")
    limit_column: str | None = Field(None, description="current credit limit; null = none (limits not optimized)")
    balance_column: str | None = Field(None, description="balance drawn today; null = none (0 is assumed)")
    credit_balances: Literal["zero_exposure", "quarantine"] = Field(
        "zero_exposure", description="a negative balance (the customer overpaid): zero_exposure = a valid row with "
                                     "drawn exposure 0 and the amount kept in credit_balance (counted in the "
                                     "data-quality report); quarantine = set the row aside")
    industry_column: str | None = Field(None, description="segment used for caps and the loss model; null = one")
    region_column: str | None = Field(None, description="second concentration dimension; null = one region")
    date_column: str | None = Field(
        None, description="observation date; given: the latest rows are the out-of-time sample")
    tenure_column: str | None = Field(
        None, description="months on book; given: customers below features.new_customer_months get their own model")
    history_features: list[str] = Field(
        default_factory=list, description="features a new customer cannot have yet (payment history): the "
                                          "new-customer model leaves them out")
    date_format: str | None = Field(None, description="strftime format of date_column, e.g. %d/%m/%Y")
    features: list[str] = Field(default_factory=list, description="feature columns; empty = all other columns")
    exclude: list[str] = Field(default_factory=list, description="columns never used as features")
    categorical: list[str] = Field(
        default_factory=list, description="numeric-coded columns to treat as categories (text ones always are)")
    missing_values: list[str | int | float] = Field(
        default_factory=list, description="codes meaning missing in every feature column, e.g. ['?', -1]")
    missing_codes: dict[str, list[str | int | float]] = Field(
        default_factory=dict, description="column -> codes meaning missing in that column only")
    special_codes: dict[str, list[str | int | float]] = Field(
        default_factory=dict, description="column -> special codes (e.g. 9999 = not applicable): own bins")
    risk_direction: dict[str, Literal[-1, 0, 1]] = Field(
        default_factory=dict, description="column -> +1 riskier when higher, -1 safer, 0 none; others inferred")
    feature_dictionary: str | None = Field(
        None, description="CSV with columns feature, description[, risk_direction, reason]; null = column names")
    holdout_share: float = Field(0.3, gt=0.0, lt=0.9, description="share held out for validation (out-of-time with a "
                                                                  "date column)")
    calibration_share: float = Field(0.2, gt=0.0, lt=0.5, description="share of the development rows used to calibrate")
    payment_terms_days: int = Field(30, ge=0, le=365, description="terms assumed for the limit's funding cost")


class LedgerRules(_Strict):
    """Declared rules for the messes of real receivable exports (ledger mode)."""

    credit_notes: Literal["quarantine", "set_aside"] = Field(
        "quarantine", description="negative amounts: quarantine them, or set them aside as credit notes (counted)")
    exact_duplicate_invoices: Literal["quarantine", "keep_one"] = Field(
        "quarantine", description="rows identical in every column: quarantine all, or keep one (counted)")
    customers_from_invoices: bool = Field(
        False, description="no customers file: build the customer list from the invoices (reported)")
    region_column: str | None = Field(None, description="with customers_from_invoices: invoice column giving the "
                                                        "region")
    industry_column: str | None = Field(None, description="with customers_from_invoices: invoice column giving the "
                                                          "industry")
    derive_defaults_days_past_due: int | None = Field(
        None, ge=30, le=720, description="no defaults file: a customer defaults when an invoice is this many days "
                                         "past due")
    overpayments: Literal["settle_in_full", "quarantine"] = Field(
        "settle_in_full", description="paid_amount above the invoice amount: the invoice is settled in full and the "
                                      "excess (a credit on the customer's account) counted; or quarantine the row")


class DataParams(_Strict):
    """Where the ledger comes from and what to do with invalid rows."""

    source: Literal["synthetic", "files", "table"] = Field(
        "synthetic", description="synthetic: embedded ledger; files: your ledger; table: one row per customer")
    synthetic: SyntheticDataParams = SyntheticDataParams()
    files: dict[str, TableSource] = Field(default_factory=dict)
    table: CustomerTableParams | None = Field(None, description="table mode: the customer table")
    rules: LedgerRules = LedgerRules()
    on_invalid: Literal["fail", "quarantine"] = Field(
        "fail", description="fail: stop the run; quarantine: set bad rows aside and list them in the report"
    )
    financials_publication_lag_days: int = Field(
        90, ge=0, le=730, description="days after period_end before a statement counts as known"
    )
    as_of_date: dt.date | None = Field(
        None, description="scoring date; null = the first day after the last month of data"
    )

    @field_validator("files")
    @classmethod
    def _known_tables(cls, files: dict[str, TableSource]) -> dict[str, TableSource]:
        unknown = sorted(set(files) - set(TABLE_NAMES))
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}; expected some of {list(TABLE_NAMES)}")
        return files

    @model_validator(mode="after")
    def _files_given_when_needed(self) -> "DataParams":
        if self.source == "table" and self.table is None:
            raise ValueError("source is 'table' but data.table is not set; add data.table.path and its columns")
        if self.source == "files":
            needed = ("invoices",) if self.rules.customers_from_invoices else ("customers", "invoices")
            missing = [t for t in needed if t not in self.files]
            if "customers" in missing:
                raise ValueError(
                    "source is 'files' but data.files lacks ['customers']; add data.files.customers.path, or set "
                    "data.rules.customers_from_invoices: true to build the customer list from the invoices"
                )
            if missing:
                raise ValueError(
                    f"source is 'files' but data.files lacks {missing}; add e.g. "
                    f"data.files.{missing[0]}.path: path/to/{missing[0]}.csv"
                )
            if self.rules.derive_defaults_days_past_due is not None and "defaults" in self.files:
                raise ValueError("data.rules.derive_defaults_days_past_due is set but data.files.defaults is given "
                                 "too; use one source of outcomes")
            if self.rules.customers_from_invoices and "customers" in self.files:
                raise ValueError("data.rules.customers_from_invoices is true but data.files.customers is given too")
        return self


class FeatureParams(_Strict):
    """Point-in-time feature windows and the training snapshots."""

    lookback_months: int = Field(12, ge=3, le=36, description="payment-history window before a snapshot")
    label_horizon_months: int = Field(12, ge=1, le=36, description="default within this many months = bad")
    training_snapshots: int = Field(5, ge=2, le=24, description="historical snapshots stacked for training")
    snapshot_spacing_months: int = Field(3, ge=1, le=12, description="months between training snapshots")
    new_customer_months: int = Field(12, ge=1, le=60, description="tenure below this = new customer")


class ScorecardParams(_Strict):
    """The WoE scorecard: binning, selection and regularisation."""

    min_iv: float = Field(0.02, ge=0.0, le=1.0, description="features with a lower information value are left out")
    max_features: int | None = Field(None, ge=1, description="at most this many features (highest IV); null = any")
    max_bins: int = Field(6, ge=2, le=20, description="bins per feature after optimal monotone merging")
    min_bin_share: float = Field(0.05, gt=0.0, lt=0.5, description="smallest bin as a share of the fit rows")
    C: float = Field(1.0, gt=0.0, description="inverse L2 regularisation of the logistic regression")


class ModelParams(_Strict):
    """The PD models, their calibration, segments and which one the run uses."""

    max_iter: int = Field(200, ge=10, le=5000, description="boosting rounds")
    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    max_leaf_nodes: int = Field(15, ge=2, le=255)
    min_samples_leaf: int = Field(40, ge=1)
    l2_regularization: float = Field(1.0, ge=0.0)
    cv_rounds_below_defaults: int = Field(
        500, ge=0, description="when the fit sample holds fewer defaults (or non-defaults) than this, every GBM of "
                               "the run chooses its boosting rounds by 5-fold cross-validation on its fit rows (the "
                               "lowest out-of-fold log loss, at most max_iter) instead of fitting max_iter rounds, "
                               "so a small book does not keep an overfit model; the rounds and how they were "
                               "chosen are in the model card; 0 = always max_iter")
    calibration: Literal["auto", "isotonic", "platt"] = Field(
        "auto", description="auto: Platt or isotonic, whichever has the lower cross-validated Brier score "
                            "on the calibration sample")
    central_tendency: Annotated[float, Field(gt=0.0, lt=1.0)] | Literal["auto"] | None = Field(
        "auto", description="auto: shift to the long-run default rate if outside its 95% interval; a rate: always")
    oot_snapshots: int = Field(1, ge=1, description="latest training snapshots held out as out-of-time")
    max_fit_rows: int | None = Field(
        500_000, ge=1000, description="at most this many fit rows train the candidate models: above it, a seeded "
                                      "sample with the same share of defaults and of non-defaults (a million-"
                                      "customer book has ~2 million fit rows); the long-run rate, the calibration "
                                      "and every validation table use all rows; null = always every row")
    champion: Literal["gbm", "scorecard", "auto"] = Field(
        "gbm", description="model family the run uses; auto = higher AUC on the calibration sample "
                           "(never on the out-of-time sample, which stays untouched for validation)")
    segments: bool = Field(True, description="ledger mode: separate models for new and existing customers")
    min_segment_defaults: int = Field(
        40, ge=5, description="a segment with fewer defaults in its fit rows is scored by the single model")
    scorecard: ScorecardParams = ScorecardParams()
    method: Literal["auto", "statistical", "expert"] = Field(
        "auto", description="auto: the statistical models when the fit sample holds min_fit_defaults defaults and "
                            "the calibration sample min_calibration_defaults, the expert scorecard otherwise")
    min_fit_defaults: int = Field(50, ge=2, description="defaults the fit sample needs for a statistical model")
    min_calibration_defaults: int = Field(10, ge=2, description="defaults the calibration sample needs")
    expert: ExpertParams = ExpertParams()


class Grade(_Strict):
    """One grade of the master scale: customers with PD <= pd_max (and above the previous band)."""

    grade: str = Field(min_length=1, max_length=8)
    pd_max: float = Field(gt=0.0, le=1.0)


class ScoreScaling(_Strict):
    """Points-to-double-odds scaling of score points."""

    base_score: float = Field(600.0, description="points at base_odds")
    base_odds: float = Field(50.0, gt=0.0, description="good:bad odds that earn base_score")
    pdo: float = Field(20.0, gt=0.0, description="points that double the odds")


class ExplainParams(_Strict):
    """SHAP explanation settings."""

    top_reasons: int = Field(3, ge=1, le=10)
    explain_customers: list[str] = Field(default_factory=list, description="customer ids shown with a waterfall")
    additivity_tolerance: float = Field(1e-6, gt=0.0, le=1e-3)
    stability_customers: int = Field(50_000, ge=100, description="reason stability compares the top-3 reasons of at "
                                                                  "most this many customers (a seeded sample)")


_DEFAULT_GRADES = (
    Grade(grade="A", pd_max=0.0025),
    Grade(grade="B", pd_max=0.005),
    Grade(grade="C", pd_max=0.01),
    Grade(grade="D", pd_max=0.02),
    Grade(grade="E", pd_max=0.05),
    Grade(grade="F", pd_max=0.10),
    Grade(grade="G", pd_max=0.20),
    Grade(grade="H", pd_max=1.0),
)


class LimitParams(_Strict):
    """How limits are set: portfolio profit optimization under constraints, or cap rules."""

    method: Literal["optimize", "rules"] = Field(
        "optimize", description="optimize: max expected profit under the constraints below; rules: tightest cap"
    )

    own_equity: float = Field(50_000_000.0, gt=0.0, description="the company's own equity, currency units")
    single_name_cap_pct: float = Field(0.05, gt=0.0, le=1.0, description="max limit as a share of own equity")
    pd_cutoff: float = Field(0.20, gt=0.0, le=1.0, description="PD above this: limit 0")
    purchase_headroom: float = Field(1.25, ge=1.0, le=5.0, description="limit / expected purchases over terms")
    revenue_cap_pct: float = Field(0.10, gt=0.0, le=1.0, description="max limit as a share of customer revenue")
    min_limit_by_grade: dict[str, float] = Field(
        default_factory=dict, description="minimum limit per grade (method optimize); unnamed grades: 0")
    risk_cap_by_grade: dict[str, float] = Field(
        default_factory=lambda: {
            "A": 5_000_000.0,
            "B": 4_000_000.0,
            "C": 3_000_000.0,
            "D": 2_000_000.0,
            "E": 1_000_000.0,
            "F": 500_000.0,
            "G": 200_000.0,
            "H": 0.0,
        },
        description="max limit per grade",
    )
    rounding: float = Field(1000.0, ge=0.0, description="rules method: limits rounded down to a multiple of this")
    # --- new customers (both methods)
    new_customer_cap: float | None = Field(
        50_000.0, ge=0.0,
        description="a customer without payment history yet gets at most this (or today's limit, if higher), "
                    "currency units: an unknown buyer is exposed to at most what the company accepts to lose on a "
                    "trial relationship; null: no cap")
    new_customer_cap_share_of_request: float | None = Field(
        1.0, gt=0.0, le=5.0,
        description="a new customer's limit is at most this share of its requested_limit (1: never more than it "
                    "asked for); null: no cap")
    # --- profit model (method: optimize)
    gross_margin: float = Field(0.25, gt=0.0, lt=1.0, description="gross margin on sales")
    gross_margin_by_industry: dict[str, float] = Field(default_factory=dict, description="overrides per industry")
    demand_cv_default: float = Field(0.5, gt=0.0, le=5.0,
                                     description="uncertainty of purchase need when ordering history is short")
    cost_of_funds_rate: float = Field(0.05, ge=0.0, le=1.0, description="yearly cost of financing receivables")
    capital_rate: float = Field(0.10, ge=0.0, le=1.0, description="yearly charge on unexpected-loss capital")
    # --- constraints (method: optimize)
    max_change_per_review: float | None = Field(0.30, gt=0.0, le=10.0,
                                                description="limit stays within +-this share of today's")
    on_infeasible_budget: Literal["lift_reduction_band", "fail"] = Field(
        "lift_reduction_band",
        description="when the budgets need larger cuts than the change band allows: lift the band's lower "
                    "edge (and say so in the report) or stop the run",
    )
    el_budget: float | None = Field(None, ge=0.0, description="total expected-loss budget; null: see next key")
    el_budget_vs_current: float | None = Field(0.5, gt=0.0,
                                               description="EL budget as a multiple of the EL of today's limits")
    exposure_budget: float | None = Field(None, ge=0.0, description="total of all limits; null: see next key")
    exposure_budget_vs_current: float | None = Field(1.0, gt=0.0,
                                                     description="exposure budget as a multiple of today's total")
    industry_cap_share: float | None = Field(0.25, gt=0.0, le=1.0,
                                             description="no industry above this share of the exposure budget "
                                                         "(not applied where the book has one industry; the report "
                                                         "says so)")
    region_cap_share: float | None = Field(0.40, gt=0.0, le=1.0,
                                           description="no region above this share of the exposure budget (not applied "
                                                       "where the book has one region; the report says so)")
    industry_caps: dict[str, float] = Field(default_factory=dict, description="absolute caps per industry")
    region_caps: dict[str, float] = Field(default_factory=dict, description="absolute caps per region")
    insured_limit_caps: bool = Field(True, description="an insured customer's limit stays within its insured limit")
    frontier_points: int = Field(9, ge=2, le=50, description="EL budgets on the efficient frontier")
    # --- competition and strategic customers (method: optimize); see core/competition_params.py
    competition: CompetitionParams = CompetitionParams()
    strategic: StrategicParams = StrategicParams()


class ReviewParams(_Strict):
    """Periodic review, early warning, adjustment rules and approval route.

    ``signals``, ``approval`` and each rule are checked against
    :mod:`credit_lab.limits.review`'s settings when the params are loaded.
    """

    compare_months: int = Field(1, ge=1, le=12, description="signals compare today with this many months before")
    signals: dict[str, Any] = Field(default_factory=dict, description="overrides of review.SignalSettings")
    frequency_months_by_grade: dict[str, int] = Field(
        default_factory=lambda: {"A": 12, "B": 12, "C": 12, "D": 6, "E": 6, "F": 3, "G": 3, "H": 3},
        description="months between reviews per grade",
    )
    due_within_days: int = Field(30, ge=0, le=366, description="a review this close counts as due")
    rules: list[dict[str, Any]] = Field(
        default_factory=lambda: [
            {"trigger": "new_60_plus_overdue", "action": "reduce_limit", "change_pct": -0.3, "min_limit": 0.0},
            {"trigger": "pd_downgrade", "action": "reduce_limit", "change_pct": -0.2, "min_limit": 0.0},
            {"trigger": "watchlist", "action": "freeze_limit"},
        ],
        description="adjustment standards: trigger -> action -> bounds, applied to the proposed limits",
    )
    approval: dict[str, Any] = Field(default_factory=dict, description="overrides of review.ApprovalSettings")
    backtest: bool = Field(True, description="backtest every signal on the ledger's history")


class LetterEffectiveDays(_Strict):
    """Days after the scoring date a new limit applies, per kind of letter (the date it prints)."""

    increase: int = Field(0, ge=0, le=365, description="an increase: nothing for the customer to arrange")
    reduction: int = Field(14, ge=0, le=365, description="a reduction: time to arrange orders and payments")
    withdrawn: int = Field(14, ge=0, le=365, description="a limit withdrawn: time to agree other terms")
    first_limit: int = Field(0, ge=0, le=365, description="a new customer's first limit")


class LetterParams(_Strict):
    """Letters to customers whose limit changes in a way they would be told about.

    A change needs both its share and its amount threshold; a withdrawal (to zero), a first limit and
    a reduction to below the customer's open balance always get a letter.
    """

    company_name: str = Field("Your supplier", min_length=1, max_length=200, description="sender of the letters")
    contact: str = Field("the credit department", min_length=1, max_length=200, description="who to contact")
    currency: str = Field("", max_length=10, description="shown before amounts, e.g. EUR")
    increases: bool = Field(True, description="false: no letters for increases (a first limit still gets one)")
    min_increase_pct: float = Field(0.10, ge=0.0, le=10.0, description="an increase smaller than this share of "
                                                                       "today's limit gets no letter")
    min_increase_amount: float = Field(5_000.0, ge=0.0, description="an increase smaller than this gets no letter")
    min_reduction_pct: float = Field(0.10, ge=0.0, le=1.0, description="a reduction smaller than this share of "
                                                                       "today's limit gets no letter")
    min_reduction_amount: float = Field(0.0, ge=0.0, description="a reduction smaller than this gets no letter")
    max_files: int = Field(20_000, ge=0, description="up to this many letters, a file each; beyond, the letters "
                                                     "are in printable parts of 1,000 and data/letters.parquet")
    effective_after_days: LetterEffectiveDays = LetterEffectiveDays()


# The stress scenarios a run applies unless params name others (validated by credit_lab.risk.stress).
DEFAULT_STRESS_SCENARIOS: tuple[dict, ...] = (
    {"name": "PD +50%", "pd_multiplier": 1.5},
    {"name": "largest industry: PD x3", "industry_pd_multiplier": {"largest": 3.0}},
    {"name": "LGD +10 points", "lgd_uplift": 0.10},
    {"name": "credit insurer fails", "insurer_fails": True},
    {"name": "5 largest customers default", "largest_defaults": 5},
    {"name": "downturn: PD x2, LGD +10 points", "pd_multiplier": 2.0, "lgd_uplift": 0.10},
)


class ProvisionParams(_Strict):
    """IFRS 9 simplified approach: the provision matrix on ageing buckets."""

    bucket_edges: tuple[int, ...] = Field((0, 30, 60, 90), description="days past due where buckets start")
    method: Literal["roll_rate", "cohort"] = "roll_rate"
    history_months: int = Field(24, ge=3, le=120, description="month-ends the loss rates are estimated on")
    outcome_months: int = Field(12, ge=1, le=36, description="a balance not collected within this is lost")
    scenarios: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"base": (0.6, 1.0), "downside": (0.3, 1.3), "upside": (0.1, 0.85)},
        description="forward-looking adjustment: name -> (weight, multiplier on loss rates); weights sum to 1",
    )
    no_loss_floor: Literal["pd_lgd", "none"] = Field(
        "pd_lgd", description="a bucket whose history holds no loss: pd_lgd floors its zero rate at its customers' "
                              "balance-weighted PD x LGD (without PDs: no_loss_floor_rates); none keeps the zero")
    no_loss_floor_rates: tuple[float, ...] = Field(
        (0.005, 0.02, 0.05, 0.15, 0.50),
        description="fixed floor loss rate per bucket of bucket_edges, used when no PD is available")
    write_off_days_past_due: int | None = Field(
        360, ge=1, le=3650, description="receivables not settled this many days after their due date are written "
                                        "off (IFRS 9 5.4.4) and leave the matrix; null: never written off")
    reconciliation_band: float = Field(
        0.25, gt=0.0, le=1.0, description="the PD-based lifetime ECL and the 12-month EL agree with the matrix "
                                          "provision when within this share of it (0.25: within +-25%)")

    @model_validator(mode="after")
    def _write_off_after_last_bucket(self) -> "ProvisionParams":
        if self.write_off_days_past_due is not None and self.write_off_days_past_due <= self.bucket_edges[-1]:
            last = self.bucket_edges[-1]
            raise ValueError(f"write_off_days_past_due {self.write_off_days_past_due} must be above the last bucket "
                             f"edge {last}, or the last bucket (over {last} days past due) would always be empty; "
                             "raise it (e.g. 360) or set it to null")
        return self

    @model_validator(mode="after")
    def _floor_rate_per_bucket(self) -> "ProvisionParams":
        n_buckets = len(self.bucket_edges) + 1
        if len(self.no_loss_floor_rates) != n_buckets:
            raise ValueError(f"no_loss_floor_rates has {len(self.no_loss_floor_rates)} rate(s) but bucket_edges "
                             f"{list(self.bucket_edges)} define {n_buckets} buckets; give one rate per bucket, "
                             "current first")
        bad = [r for r in self.no_loss_floor_rates if not 0.0 <= r <= 1.0]
        if bad:
            raise ValueError(f"no_loss_floor_rates {list(self.no_loss_floor_rates)} must be fractions in [0, 1]; "
                             f"got {bad[0]} (e.g. 0.02 for 2%)")
        return self


class ReserveParams(_Strict):
    """Expected loss, mitigation, provisions and the portfolio loss behind the risk reserve."""

    lgd: float = Field(0.45, ge=0.0, le=1.0, description="loss given default of unsecured exposure")
    ccf: float = Field(0.5, ge=0.0, le=1.0, description="share of the undrawn limit drawn by default")
    discount_rate: float = Field(0.05, ge=0.0, le=1.0, description="yearly rate discounting lifetime EL")
    insurer_pd: float = Field(0.002, ge=0.0, le=1.0, description="12-month PD of the credit insurer")
    insurance_deductible: float = Field(0.0, ge=0.0, description="first loss per claim borne by us")
    insurer_max_liability: float | None = Field(None, ge=0.0, description="insurer's yearly aggregate limit")
    guarantee_treatment: Literal["double_default", "substitution"] = "double_default"
    provider_correlation: float = Field(0.5, ge=0.0, lt=1.0, description="asset correlation obligor-provider")
    guarantor_pd: float = Field(0.01, ge=0.0, le=1.0, description="guarantor PD where the data has none")
    collateral_haircut: float = Field(0.3, ge=0.0, le=1.0, description="haircut where the data has none")
    provisions: ProvisionParams = ProvisionParams()
    # --- portfolio loss distribution and the risk-reserve fund
    asset_correlation: float | Literal["basel"] = Field(
        "basel", description="obligor asset correlation: a number in [0, 1), or basel (Basel II corporate R(PD))")
    industry_factor_correlation: float = Field(0.5, ge=0.0, le=1.0,
                                               description="correlation between the industries' factors")
    industry_correlations: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="pairs overriding industry_factor_correlation, e.g. {Retail: {Wholesale: "
                                          "0.8}}")
    lgd_std: float | None = Field(None, ge=0.0, lt=0.5, description="LGD uncertainty (Beta std); null: LGD fixed")
    confidence: float = Field(0.999, gt=0.5, lt=1.0, description="confidence level of the risk reserve")
    reserve_held: float | None = Field(None, ge=0.0, description="the risk-reserve fund held today, currency")
    previous_run: str | None = Field(
        None, description="run folder the reserve waterfall compares with; null: the output folder's latest run")
    stress_scenarios: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(s) for s in DEFAULT_STRESS_SCENARIOS],
        description="name, pd_multiplier, industry_pd_multiplier, lgd_uplift, insurer_fails, largest_defaults")

    @field_validator("asset_correlation")
    @classmethod
    def _rho_range(cls, rho: float | str) -> float | str:
        if not isinstance(rho, str) and not 0.0 <= rho < 1.0:
            raise ValueError(f"asset_correlation must be in [0, 1) or 'basel'; got {rho}")
        return rho


class ReportParams(_Strict):
    """How stages are executed and rendered."""

    cell_timeout_seconds: int = Field(900, ge=10, le=86_400, description="papermill per-cell timeout")


class AuditParams(_Strict):
    """How a run proves it was not altered after it was written."""

    signing_key: str | None = Field(
        None, description="Ed25519 private key file (from `credit-lab keygen DIR`) the run signs its manifest with; "
                          "kept outside the output folder. None: $CREDIT_LAB_SIGNING_KEY if set, else unsigned")


class RunParams(_Strict):
    """A whole run configuration (one YAML file)."""

    run_id: str = Field("default", description="folder name under output_dir")
    output_dir: str = Field("outputs", description="where run folders go; relative to the working directory")
    seed: int = Field(20261128, ge=0, le=2**32 - 1, description="seed of every random step")
    data: DataParams = DataParams()
    features: FeatureParams = FeatureParams()
    model: ModelParams = ModelParams()
    master_scale: tuple[Grade, ...] = _DEFAULT_GRADES
    score_scaling: ScoreScaling = ScoreScaling()
    explain: ExplainParams = ExplainParams()
    limits: LimitParams = LimitParams()
    review: ReviewParams = Field(default_factory=ReviewParams)
    letters: LetterParams = LetterParams()
    reserve: ReserveParams = ReserveParams()
    replay: ReplayParams = ReplayParams()
    compute: ComputeParams = ComputeParams()
    report: ReportParams = ReportParams()
    audit: AuditParams = AuditParams()

    @field_validator("run_id")
    @classmethod
    def _safe_run_id(cls, run_id: str) -> str:
        if not _RUN_ID_RE.match(run_id) or ".." in run_id:
            raise ValueError(
                f"run_id {run_id!r} is not a safe folder name; use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit, without '..'"
            )
        clash = next((r for r in RESERVED_RUN_IDS if run_id.lower() == r or run_id.lower().startswith(r + ".")
                      or run_id.lower().startswith(r.split(".")[0] + ".")), None)
        if clash:
            raise ValueError(
                f"run_id {run_id!r} is reserved: the output folder keeps its own {clash!r} beside the run folders "
                f"({', '.join(RESERVED_RUN_IDS)}, and the hidden .staging, .locks and _failed folders); a run "
                "folder of that name would replace or shadow it. Choose another run_id, e.g. a date such as 2026-12"
            )
        return run_id

    @field_validator("master_scale")
    @classmethod
    def _scale_increasing(cls, grades: tuple[Grade, ...]) -> tuple[Grade, ...]:
        if not grades:
            raise ValueError("master_scale needs at least one grade")
        bounds = [g.pd_max for g in grades]
        if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
            raise ValueError(f"master_scale pd_max must increase strictly from grade to grade; got {bounds}")
        if bounds[-1] != 1.0:
            raise ValueError(f"the last grade must have pd_max 1.0 so every PD gets a grade; got {bounds[-1]}")
        names = [g.grade for g in grades]
        if len(set(names)) != len(names):
            raise ValueError(f"master_scale grade names must be unique; got {names}")
        return grades

    @model_validator(mode="after")
    def _cross_checks(self) -> "RunParams":
        grades = [g.grade for g in self.master_scale]
        caps = self.limits.risk_cap_by_grade
        missing, extra = sorted(set(grades) - set(caps)), sorted(set(caps) - set(grades))
        if missing or extra:
            raise ValueError(
                f"limits.risk_cap_by_grade must have one entry per master_scale grade {grades}; "
                f"missing {missing}, unknown {extra}"
            )
        if self.model.oot_snapshots >= self.features.training_snapshots:
            raise ValueError(
                f"model.oot_snapshots ({self.model.oot_snapshots}) must be below "
                f"features.training_snapshots ({self.features.training_snapshots}) to leave development data"
            )
        return self

    @property
    def grade_names(self) -> list[str]:
        return [g.grade for g in self.master_scale]


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} invalid setting(s):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  - {key}: unknown key; check the spelling against params/default.yaml")
        else:
            lines.append(f"  - {key}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def params_from_dict(raw: dict[str, Any], source: str = "params") -> RunParams:
    """Validate a params mapping into :class:`RunParams`, raising :class:`ParamsError`."""
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of settings at the top level, got {type(raw).__name__}")
    try:
        return RunParams.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_validation_error(err, source)) from None


def load_params(path: str | Path, overrides: dict[str, Any] | None = None) -> RunParams:
    """Read and validate a YAML params file.

    Parameters
    ----------
    path : path of the YAML file.
    overrides : top-level keys replacing the file's values (e.g. ``{"run_id": "x"}``).

    Examples
    --------
    >>> load_params("params/smoke.yaml").run_id  # doctest: +SKIP
    'smoke'
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file {str(path)!r} does not exist; pass a YAML file such as params/default.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if overrides:
        raw = {**raw, **overrides}
    return params_from_dict(raw, source=str(path))
