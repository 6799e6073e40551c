"""The artifact catalog: every file a stage writes into a run folder, and what each stage reads and writes.

One place answers "who writes this file?" and "what does this stage need?" (in the manner of a
kedro catalog: each stage declares its inputs and outputs). Paths are relative to the run
folder, as in the run's manifest. A stage may read only what an earlier stage (or itself,
earlier in the same stage) wrote; ``tests/test_catalog.py`` checks the declarations against
each other and against the reads and writes a :class:`~credit_lab.run.stages.context.StageContext`
records on a small run. Inputs and outputs are the union over both data modes (ledger and
customer table) and over optional branches: a stage need not touch every one on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ARTIFACTS", "CATALOG", "LEDGER_TABLES", "StageIO", "producers"]

#: The ledger's input tables, validated and written by stage 01 (the optional ones only when present).
LEDGER_TABLES = ("customers", "invoices", "financials", "defaults", "industry_outlook", "limit_history")

#: Every artifact a stage writes, by its path in the run folder, with what it holds.
ARTIFACTS: dict[str, str] = {
    # 01 data quality
    **{f"data/{t}.parquet": f"validated {t} table of the ledger" for t in LEDGER_TABLES},
    "data/quarantine.parquet": "rows refused by the data contract, with the rule they broke",
    "data/credit_notes.parquet": "credit notes taken out of the invoices by data.rules",
    "data/skipped.json": "stages the data does not allow, each with the reason",
    "data/data_quality.json": "as-of date, source, row counts, violations, assumptions, rules applied, and the "
                              "settings that shape the decisions (decision_assumptions)",
    "data/customer_table.parquet": "table mode: the customer table's features, outcome and date",
    "data/book.parquet": "table mode: the book (industry, region, limit, balance, tenure) per customer",
    "data/table_features.json": "table mode: feature names, kinds, special codes and counts",
    # 02 features
    "data/features_current.parquet": "point-in-time features of today's customers",
    "data/features_train.parquet": "labelled training snapshots with their sample",
    "data/feature_dictionary.parquet": "table mode: the feature dictionary (reason, group, direction, kind)",
    # 03 model
    "data/risk_directions.parquet": "table mode: risk direction of every numeric feature and its basis",
    "models/pd_model.fitted.json": "the champion PD model",
    "models/challenger_model.fitted.json": "the challenger of the other family",
    "models/pd_model.json": "the model artifact: hashes, features, samples, settings",
    "models/model_card.json": "the model card",
    "data/oot_predictions.parquet": "PD and grade of the validation sample",
    "data/validation.json": "discrimination and calibration metrics per sample",
    "data/candidates.parquet": "every candidate model per sample",
    "data/segment_comparison.parquet": "segmented against single model on the validation sample",
    "data/binomial_test.parquet": "binomial test of the PD per grade",
    "data/hosmer_lemeshow.json": "Hosmer-Lemeshow tests on PD deciles and grades",
    "data/calibration_table.parquet": "predicted against observed default rate per PD decile",
    "data/auc_by_period.parquet": "AUC per snapshot month and sample",
    "data/stability.parquet": "PSI of the PD and CSI of every feature",
    "data/scorecard_points.parquet": "the scorecard's points per bin",
    "data/scorecard_points.csv": "the scorecard's points per bin, for a spreadsheet",
    "data/expert_classes.parquet": "expert scorecard: risk classes, the PD of each and its evidence (obligors, "
                                   "defaults, most prudent bound), today's customers per class",
    "data/expert_policy.parquet": "expert scorecard: criteria, bands, points and weights for new and existing "
                                  "customers",
    "data/expert_policy.csv": "the expert scorecard's policy for spreadsheets",
    # 04 scoring and explanations
    "data/scores.parquet": "PD, grade, score and reason codes per customer",
    "data/shap_values.parquet": "exact contribution of every feature per customer",
    "data/scorecard_contributions.parquet": "each customer's points per variable from the scorecard",
    "data/explain.json": "additivity, reason stability, unseen values and the SHAP reference check",
    # 05 limits
    "data/signals.parquet": "early-warning signals per customer",
    "data/watchlist.parquet": "customers on the watchlist",
    "data/watchlist.csv": "monitoring only: the watchlist, for a spreadsheet",
    "data/monitoring.json": "monitoring only: watchlist size and notes",
    "data/limit_constraints.parquet": "the optimizer's constraints, budgets and shadow prices",
    "data/efficient_frontier.parquet": "the profit-loss efficient frontier",
    "data/decision_log.parquet": "every limit decision with its rule, approver and reasons",
    "data/decision_log.csv": "the decision log, for a spreadsheet",
    "data/review_calendar.parquet": "next review date per customer",
    "data/signal_backtest.parquet": "how well the early-warning signals foretold defaults",
    "data/limits.parquet": "proposed and final limit per customer with what decided it",
    "data/limits.csv": "the limit decision table, for a spreadsheet",
    "data/limits_notes.json": "the limit stage's notes (caps switched off, bands lifted) and the share caps applied",
    "data/competition_evidence.parquet": "with a limit history: per industry, the competitive intensity the "
                                         "ledger's limit cuts imply, its interval and the params' intensity",
    "letters/": "the limit letters (HTML): a file each up to letters.max_files, printable parts, an index",
    "data/letters.parquet": "a row per letter: customer, kind, effective date, its file and its HTML",
    "data/letters_summary.json": "limit letters written, by kind (increase, reduction, withdrawn, first limit)",
    # 06 risk reserve
    "data/provision_matrix.parquet": "the IFRS 9 provision matrix",
    "data/ageing.parquet": "open receivables by days-past-due bucket (no PD model)",
    "data/reserve_summary.json": "reserve totals: EAD, EL, VaR reserve, provisions, concentration",
    "data/reserve_notes.json": "the reserve stage's notes (a provision floor, a waterfall not computed)",
    "data/lifetime_ecl.parquet": "lifetime expected credit loss per customer",
    "data/ecl_reconciliation.parquet": "the provision matrix reconciled with the lifetime ECL",
    "data/provision_agreement.parquet": "matrix provision, lifetime ECL and 12-month EL: each within the band or not",
    "data/loss_distribution.parquet": "VaR, ES and unexpected loss per confidence level",
    "data/loss_quantiles.parquet": "quantiles of the simulated loss",
    "data/risk_contributions_industry.parquet": "Euler risk contributions per industry",
    "data/risk_contributions_customer.parquet": "Euler risk contributions per customer",
    "data/stress_tests.parquet": "provision, EL, VaR, ES and reserve per stress scenario",
    "data/expected_loss.parquet": "EAD, mitigation and EL per customer on the final limits",
    "data/el_by_grade.parquet": "expected loss per grade",
    "data/el_by_industry.parquet": "expected loss per industry",
    "data/reserve_waterfall.parquet": "how the reserve moved since reserve.previous_run",
    "data/cap_utilization.parquet": "use of every concentration cap by the final limits",
    # 07 policy replay
    "data/replay_summary.parquet": "per replayed policy: bad debt gross and net, blocked sales, lost margin, "
                                   "exposure, capital, limit changes, profit, with bootstrap intervals",
    "data/replay_summary.csv": "the replay summary for spreadsheets",
    "data/replay_by_customer.parquet": "the replay's totals per policy and customer",
    "data/replay_walk.parquet": "the walk per policy, customer and review period: orders served and blocked, "
                                "exposure, exposure at default, loss",
    "data/replay_limits.parquet": "the limit each policy set at each review",
    "data/replay_pd.parquet": "the PD each review gave each customer (models fitted on what was known then)",
    "data/replay_models.parquet": "the PD models the replay fitted: when, on how many rows, which method",
    "data/replay_calibration.parquet": "per policy and review: the model's expected loss and the replayed loss",
    "data/replay_frontier.parquet": "bad debt against blocked margin for the optimizer's EL budgets",
    "data/replay.json": "the replay's reviews, end, settings (window fitted to the ledger) and notes",
}


@dataclass(frozen=True)
class StageIO:
    """One stage's declaration: its title, the artifacts it reads and writes, and its completion marker.

    ``marker`` names the outputs of which one exists once the stage has run (a stage with two
    outcomes, such as limits or monitoring only, has two); :func:`open_stage` checks them.
    """

    title: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    marker: tuple[str, ...]


_TABLES = tuple(f"data/{t}.parquet" for t in LEDGER_TABLES)
_MODEL = ("models/pd_model.json", "models/pd_model.fitted.json")

#: Every stage, in run order, with its declared inputs and outputs.
CATALOG: dict[str, StageIO] = {
    "01_data_quality": StageIO(
        "Data quality",
        inputs=("data/skipped.json",),  # its own, read back when it marks a stage skipped
        outputs=(*_TABLES, "data/quarantine.parquet", "data/credit_notes.parquet", "data/skipped.json",
                 "data/data_quality.json", "data/customer_table.parquet", "data/book.parquet",
                 "data/table_features.json"),
        marker=("data/data_quality.json",)),
    "02_features": StageIO(
        "Features",
        inputs=(*_TABLES, "data/skipped.json", "data/data_quality.json", "data/table_features.json",
                "data/customer_table.parquet", "data/book.parquet"),
        outputs=("data/features_current.parquet", "data/features_train.parquet", "data/feature_dictionary.parquet",
                 "data/skipped.json"),
        marker=("data/features_current.parquet",)),
    "03_model": StageIO(
        "PD model",
        inputs=("data/skipped.json", "data/data_quality.json", "data/features_train.parquet",
                "data/features_current.parquet", "data/table_features.json", "data/feature_dictionary.parquet"),
        outputs=("data/risk_directions.parquet", *_MODEL, "models/challenger_model.fitted.json",
                 "models/model_card.json",
                 "data/oot_predictions.parquet", "data/validation.json", "data/candidates.parquet",
                 "data/segment_comparison.parquet", "data/binomial_test.parquet", "data/hosmer_lemeshow.json",
                 "data/calibration_table.parquet", "data/auc_by_period.parquet", "data/stability.parquet",
                 "data/scorecard_points.parquet", "data/scorecard_points.csv", "data/expert_classes.parquet",
                 "data/expert_policy.parquet", "data/expert_policy.csv"),
        marker=("data/validation.json",)),
    "04_scoring_explain": StageIO(
        "Scoring and explanations",
        inputs=("data/skipped.json", *_MODEL, "models/challenger_model.fitted.json", "data/features_current.parquet",
                "data/features_train.parquet", "data/feature_dictionary.parquet"),
        outputs=("data/scores.parquet", "data/shap_values.parquet", "data/scorecard_contributions.parquet",
                 "data/explain.json"),
        marker=("data/scores.parquet",)),
    "05_limits": StageIO(
        "Limits",
        inputs=(*_TABLES, "data/skipped.json", "data/data_quality.json", "data/book.parquet",
                "data/features_current.parquet", "data/scores.parquet", *_MODEL),
        outputs=("data/signals.parquet", "data/watchlist.parquet", "data/watchlist.csv", "data/monitoring.json",
                 "data/limit_constraints.parquet", "data/efficient_frontier.parquet", "data/decision_log.parquet",
                 "data/decision_log.csv", "data/review_calendar.parquet", "data/signal_backtest.parquet",
                 "data/limits.parquet", "data/limits.csv", "data/limits_notes.json", "letters/",
                 "data/letters.parquet", "data/letters_summary.json", "data/competition_evidence.parquet"),
        marker=("data/limits.parquet", "data/monitoring.json")),
    "06_risk_reserve": StageIO(
        "Risk reserve",
        inputs=("data/skipped.json", "data/data_quality.json", "data/customers.parquet", "data/invoices.parquet",
                "data/defaults.parquet", "data/book.parquet", "data/features_current.parquet", "data/scores.parquet",
                "data/limits.parquet", "data/limit_constraints.parquet"),
        outputs=("data/provision_matrix.parquet", "data/ageing.parquet", "data/reserve_summary.json",
                 "data/reserve_notes.json", "data/lifetime_ecl.parquet", "data/ecl_reconciliation.parquet",
                 "data/provision_agreement.parquet",
                 "data/loss_distribution.parquet", "data/loss_quantiles.parquet",
                 "data/risk_contributions_industry.parquet",
                 "data/risk_contributions_customer.parquet", "data/stress_tests.parquet",
                 "data/expected_loss.parquet", "data/el_by_grade.parquet", "data/el_by_industry.parquet",
                 "data/reserve_waterfall.parquet", "data/cap_utilization.parquet"),
        marker=("data/reserve_summary.json",)),
    "07_replay": StageIO(
        "Policy replay",
        inputs=(*_TABLES, "data/skipped.json", "data/data_quality.json"),
        outputs=("data/replay_summary.parquet", "data/replay_summary.csv", "data/replay_by_customer.parquet",
                 "data/replay_walk.parquet", "data/replay_limits.parquet", "data/replay_pd.parquet",
                 "data/replay_models.parquet", "data/replay_calibration.parquet", "data/replay_frontier.parquet",
                 "data/replay.json"),
        marker=("data/replay.json",)),
}


def producers(artifact: str) -> list[str]:
    """The stages that declare ``artifact`` (a run-folder path) among their outputs, in run order."""
    return [stage for stage, io in CATALOG.items() if artifact in io.outputs]
