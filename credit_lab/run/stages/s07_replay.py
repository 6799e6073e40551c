"""Stage 07, policy replay: the params' limit policies replayed on the ledger's history.

The engine is :mod:`credit_lab.limits.replay` (the walk, the leakage harness) with the PD-based
policies of :mod:`credit_lab.limits.replay_policies`; this stage fits the window to the ledger,
runs it and writes every table the report shows, so each number can be recomputed from the run
folder: the walk per policy, customer and month, the limits set at each review, the PD each
review gave, the models fitted and the summary.

The stage runs when ``replay.enabled`` is true (stage 01 skips it otherwise, and in table mode,
which holds no invoices to walk).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from credit_lab.core.exceptions import StageError
from credit_lab.limits.replay import ReplayResult, review_dates
from credit_lab.limits.replay_frontier import expected_vs_walked, frontier_table
from credit_lab.limits.replay_policies import replay_from_params
from credit_lab.run.stages.context import StageContext, read_as_of, require

__all__ = ["MIN_HISTORY_MONTHS", "ReplayStageResult", "replay_skip_reason", "stage_replay"]

logger = logging.getLogger(__name__)

#: Months of ledger history the first review needs before it (a year of purchases and payments to
#: set limits on, and defaults to fit a PD model on) when the window is fitted to the ledger.
MIN_HISTORY_MONTHS = 12

#: Fewest reviews a fitted window may hold: fewer cannot show a policy over a cycle.
MIN_REVIEWS = 3


@dataclass
class ReplayStageResult:
    """The replay and the tables the report shows."""

    result: ReplayResult
    frontier: pd.DataFrame | None
    calibration: pd.DataFrame
    calibration_totals: pd.DataFrame
    lgd: float
    notes: list[str] = field(default_factory=list)


def replay_skip_reason(params) -> str | None:
    """Why stage 07 does not run for these params, or None when it does."""
    if params.data.source == "table":
        return ("table mode: a customer table holds no invoices, so there is no history of orders to replay a "
                "limit policy on")
    if not params.replay.enabled:
        return ("replay.enabled is false (the default: the replay refits PD models over the history and adds to the "
                "run's time). Set replay.enabled: true to replay the limit policies of replay.policies on the "
                "ledger's history; params/replay_example.yaml does")
    return None


def _months_between(a: pd.Timestamp, b: pd.Timestamp) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _fit_window(ctx: StageContext, invoices: pd.DataFrame, as_of: pd.Timestamp, notes: list[str]):
    """The replay params with the window fitted to the ledger (``n_reviews`` shortened when left at its default)."""
    settings = ctx.params.replay
    start = pd.Timestamp(invoices["invoice_date"].min()).normalize()
    # the last review the engine would set for this end (credit_lab.limits.replay.review_dates decides it)
    last_month = review_dates(as_of, settings.model_copy(update={"n_reviews": 1, "first_review": None}))[-1]
    if settings.first_review is not None:
        first = pd.Timestamp(settings.first_review)
        history = _months_between(start, first)
        if history < MIN_HISTORY_MONTHS:
            notes.append(f"the first review ({first.date()}) has {history} month(s) of ledger history before it "
                         f"(from {start.date()}): its limits and PD model stand on little")
        return settings
    # the latest first review that still leaves MIN_HISTORY_MONTHS before it
    earliest_first = start + pd.DateOffset(months=MIN_HISTORY_MONTHS)
    earliest_first = earliest_first if earliest_first.day == 1 else earliest_first + pd.offsets.MonthBegin(1)
    available = _months_between(earliest_first, last_month) + 1
    if available >= settings.n_reviews:
        return settings
    if "n_reviews" in settings.model_fields_set:
        notes.append(f"replay.n_reviews = {settings.n_reviews} starts the replay with less than {MIN_HISTORY_MONTHS} "
                     f"months of ledger history (from {start.date()}) before the first review; kept as set")
        return settings
    if available < MIN_REVIEWS:
        raise StageError(f"the ledger runs from {start.date()} to {as_of.date()}: after the {MIN_HISTORY_MONTHS} "
                         f"months of history a first review needs, {max(available, 0)} monthly review(s) remain, "
                         f"fewer than {MIN_REVIEWS}. Replay needs a longer ledger, or set replay.n_reviews (and "
                         "replay.first_review) to replay on less history")
    notes.append(f"replay.n_reviews shortened from its default {settings.n_reviews} to {available}: the ledger "
                 f"starts {start.date()}, and the first review keeps {MIN_HISTORY_MONTHS} months of history before "
                 "it. Set replay.n_reviews to choose")
    return settings.model_copy(update={"n_reviews": available})


def _calibration_totals(calibration: pd.DataFrame) -> pd.DataFrame:
    totals = calibration.groupby("policy", sort=False)[["expected_loss", "walked_loss"]].sum()
    totals["walked_vs_expected"] = totals["walked_loss"] / totals["expected_loss"].where(totals["expected_loss"] > 0)
    return totals


def stage_replay(ctx: StageContext) -> ReplayStageResult:
    """Replay ``replay.policies`` on the ledger (see the module docstring); writes ``data/replay_*``."""
    require(ctx, "07_replay")
    p = ctx.params
    notes: list[str] = []
    tables = ctx.tables()
    as_of = read_as_of(ctx)
    settings = _fit_window(ctx, tables["invoices"], as_of, notes)
    params = p.model_copy(update={"replay": settings})
    if tables.get("defaults") is None or not len(tables["defaults"]):
        notes.append("the ledger records no default: every policy's bad debt is 0, so the replay compares blocked "
                     "sales and margin only")
    if "limit_history" not in tables:
        notes.append("the ledger has no limit history: 'as they were' holds every customer at today's limit from "
                     "its onboarding (the customers table's credit_limit); a limit_history table replays the "
                     "limits as they really were")
    result = replay_from_params(tables, params, end_date=as_of)
    lgd = settings.lgd if settings.lgd is not None else p.reserve.lgd
    calibration = expected_vs_walked(result, lgd, p.features.label_horizon_months)
    frontier = frontier_table(result) if result.budgets else None
    if (result.summary["mitigated"] > 0).any():
        notes.append("bad debt is shown gross and net of today's collateral, credit insurance and guarantees (the "
                     "ledger holds no history of them); profit counts the net bad debt")
    ctx.write("replay_summary.parquet", result.summary.reset_index())
    ctx.write_csv("replay_summary.csv", result.summary.reset_index())
    ctx.write("replay_by_customer.parquet", result.by_customer)
    ctx.write("replay_walk.parquet", pd.concat(result.walks, names=["policy", None]).reset_index(level=0))
    ctx.write("replay_limits.parquet", pd.concat(result.limits, names=["policy", None]).reset_index(level=0))
    ctx.write("replay_pd.parquet", result.pd_by_review)
    # fit times go to the log, not the files: a rerun must write the same bytes (credit-lab verify --against)
    for row in result.models.itertuples():
        logger.info("replay PD model as of %s: %s (%s), fitted in %.1f s", pd.Timestamp(row.fitted_as_of).date(),
                    row.method, row.champion, row.seconds)
    ctx.write("replay_models.parquet", result.models.drop(columns="seconds"))
    ctx.write("replay_calibration.parquet", calibration)
    if frontier is not None:
        ctx.write("replay_frontier.parquet", frontier)
    ctx.write_json("replay.json", {
        "reviews": [d.date().isoformat() for d in result.reviews], "end_date": result.end_date.date().isoformat(),
        "current_policy": result.current_policy, "budgets": result.budgets, "lgd": lgd,
        "settings": settings.model_dump(mode="json"), "notes": notes,
    })
    return ReplayStageResult(result, frontier, calibration, _calibration_totals(calibration), lgd, notes)
