"""Stage 05, limits: the proposed limit per customer, its change and what decided it, the review cycle
(:mod:`credit_lab.limits.review_cycle`) that makes it final, and the letters."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from credit_lab.core.config import LimitParams
from credit_lab.core.frames import records
from credit_lab.limits.competition_evidence import apply_ledger_estimate, competition_evidence
from credit_lab.limits.letters import SUMMARY_FILE, LetterSet, LetterSettings, compose_letters, letter_counts
from credit_lab.limits.optimizer import competition_frontier, efficient_frontier, segment_tradeoff
from credit_lab.limits.review_cycle import monitoring_signals, proposals_as_final, review_cycle
from credit_lab.limits.setting import (
    REASON_COLUMNS,
    defaults_that_fit,
    optimize_book,
    purchase_statistics,
    reason_sentence,
    set_limits,
)
from credit_lab.run.compute import engine_client
from credit_lab.run.stages.context import BEHAVIOUR_ONLY, StageContext, load_pd_model, read_as_of, require, scored_book

__all__ = ["LimitsResult", "stage_limits"]

logger = logging.getLogger(__name__)

_KEEP = ["customer_name", "industry", "region", "pd", "grade", "reason_1", "reason_2", "reason_3"]


@dataclass
class LimitsResult:
    """Final limits with what decided them, the optimizer's output, the review cycle and the letters."""

    limits: pd.DataFrame
    method: str
    constraints: pd.DataFrame | None = None
    frontier: Any = None
    exposure_by_industry: pd.DataFrame | None = None
    solve_seconds: float | None = None
    letters: LetterSet | None = None
    letters_summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    watchlist: pd.DataFrame | None = None
    decision_log: pd.DataFrame | None = None
    calendar: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None
    backtest_base_rate: float | None = None
    share_caps: dict[str, dict] = field(default_factory=dict)
    #: with limits.competition on: per industry, sales / relationship value kept / EL with and without the term
    competition_tradeoff: pd.DataFrame | None = None
    #: with limits.competition on: the frontier solved with and without the term (CompetitionFrontier)
    competition_frontier: Any = None
    #: with a limit_history table: per industry, the intensity the ledger's limit cuts imply
    #: (credit_lab.limits.competition_evidence); None without one
    competition_evidence: pd.DataFrame | None = None
    #: the estimate's notes (cuts not used, clipping) and, with limits.competition.use_ledger_estimate, which
    #: industries took it (those lines, starting 'Competition:', are also in notes)
    competition_evidence_notes: list[str] = field(default_factory=list)


def _monitoring_only(ctx: StageContext) -> LimitsResult:
    """Without a PD model: early-warning signals and the watchlist from payment behaviour alone."""
    why = ctx.skipped()["04_scoring_explain"]
    warning = monitoring_signals(ctx.tables(), read_as_of(ctx), ctx.params)
    ctx.write("signals.parquet", warning.signals.reset_index())
    ctx.write("watchlist.parquet", warning.watchlist.reset_index())
    ctx.write_csv("watchlist.csv", warning.watchlist.reset_index())
    notes = [f"Limits are not proposed: {why}. Early-warning signals and the watchlist come from payment "
             "behaviour alone (no PD migration signal); the signal backtest needs defaults and is not run."]
    result = LimitsResult(None, "monitoring only (no PD model)", notes=notes, watchlist=warning.watchlist)
    ctx.write_json("monitoring.json", {"watchlist": len(warning.watchlist), "notes": notes})
    return result


def _with_flag_column(ctx: StageContext, book: pd.DataFrame, limit_params: LimitParams) -> pd.DataFrame:
    """The book with ``limits.strategic.flag_column`` joined from the customers table, where it is set."""
    column = limit_params.strategic.flag_column
    if column is None or column in book:
        return book
    source = ctx.read("book.parquet" if ctx.table_mode else "customers.parquet").set_index("customer_id")
    return book.join(source[[column]]) if column in source else book  # absent: optimize_book names the key


def _optimized(ctx: StageContext, book: pd.DataFrame, limit_params: LimitParams,
               tables: dict[str, pd.DataFrame] | None) -> LimitsResult:
    """Limits that maximize expected profit under the budgets and caps, with the frontier (``tables``: the
    ledger's, None in table mode). On the Dask engine every solve prices the coupling rows by passes over
    blocks of customers on the cluster (:mod:`credit_lab.limits.optimizer.distributed`): the same limits."""
    p = ctx.params
    features = ctx.read("features_current.parquet").set_index("customer_id")
    if ctx.table_mode:
        # No orders on record: demand is sized on today's limit (the basis column says so),
        # and no behaviour hints (the table's features are not ledger behaviour).
        purchases = pd.DataFrame(columns=["monthly_purchases_mean", "monthly_purchases_cv", "months_observed"],
                                 index=book.index, dtype=float)
        model = None
    else:
        purchases = purchase_statistics(tables["invoices"], read_as_of(ctx), p.features.lookback_months, book.index)
        model = load_pd_model(ctx)
    with engine_client(p.compute) as client:
        on = {"client": client, "partitions": p.compute.partitions}
        table, solved, problem = optimize_book(_with_flag_column(ctx, book, limit_params), purchases, limit_params,
                                               p.reserve.lgd, seed=p.seed, model=model, features=features,
                                               master_scale=p.master_scale, **on)
        frontier = efficient_frontier(problem, n_points=p.limits.frontier_points, seed=p.seed, **on)
        competition = (competition_frontier(problem, n_points=p.limits.frontier_points, seed=p.seed, **on)
                       if "limit_without_competition" in table else None)
    out = book[_KEEP].join(table)
    out["explanation"] = [reason_sentence(row) for row in records(out, REASON_COLUMNS)]
    constraints = solved.constraints.reset_index(names="constraint")
    ctx.write("limit_constraints.parquet", constraints)
    ctx.write("efficient_frontier.parquet", frontier.table.assign(current_el=frontier.current_el,
                                                                  current_profit=frontier.current_profit))
    by_industry = out.groupby("industry")[["current_limit", "proposed_limit"]].sum()
    result = LimitsResult(out, "optimize", constraints, frontier, by_industry, solved.seconds,
                          notes=list(table.attrs.get("notes", [])), share_caps=dict(table.attrs.get("share_caps", {})))
    if "limit_without_competition" in table:
        without = table["limit_without_competition"].reindex(problem.customer_ids).to_numpy()
        result.competition_tradeoff = segment_tradeoff(problem, solved.limits, without)
        result.competition_frontier = competition
    logger.info("limits optimized for %d customers in %.2f s", len(out), solved.seconds)
    for note in result.notes:
        logger.warning(note)
    return result


def _competition_evidence(ctx: StageContext, limit_params: LimitParams, ledger: dict[str, pd.DataFrame] | None
                          ) -> tuple[LimitParams, pd.DataFrame | None, list[str]]:
    """The intensities the ledger's limit cuts imply (written when the ledger has a limit history), and the
    limit params with them where ``limits.competition.use_ledger_estimate`` asks and the evidence suffices."""
    history = None if ledger is None else ledger.get("limit_history")
    evidence = None
    if history is not None:
        tables = {t: ledger[t] for t in ("customers", "invoices", "limit_history", "defaults") if t in ledger}
        evidence = competition_evidence(tables, limit_params.competition, as_of=read_as_of(ctx), seed=ctx.params.seed)
        ctx.write("competition_evidence.parquet", evidence)
    competition, notes = apply_ledger_estimate(limit_params.competition, evidence)
    if evidence is not None:
        notes = [*evidence.attrs.get("notes", []), *notes]
    return limit_params.model_copy(update={"competition": competition}), evidence, notes


def _review(ctx: StageContext, result: LimitsResult, tables: dict[str, pd.DataFrame]) -> None:
    """The review cycle on the proposals: final limits, signals, decision log, calendar, backtest."""
    outcome = review_cycle(result.limits, tables, ctx.read("customers.parquet").set_index("customer_id"),
                           read_as_of(ctx), ctx.params, load_pd_model(ctx))
    ctx.write("signals.parquet", outcome.signals.reset_index())
    ctx.write("watchlist.parquet", outcome.watchlist.reset_index())
    ctx.write("decision_log.parquet", outcome.decision_log.reset_index(drop=True))
    ctx.write_csv("decision_log.csv", outcome.decision_log.reset_index(drop=True))
    ctx.write("review_calendar.parquet", outcome.calendar.reset_index())
    result.watchlist, result.decision_log, result.calendar = outcome.watchlist, outcome.decision_log, outcome.calendar
    if outcome.backtest is not None:
        result.backtest, result.backtest_base_rate = outcome.backtest, outcome.backtest_base_rate
        ctx.write("signal_backtest.parquet", outcome.backtest.reset_index())
    result.notes.extend(outcome.notes)


def stage_limits(ctx: StageContext) -> LimitsResult:
    """Proposed limit per customer, its change and what decided it.

    ``limits.method: optimize`` maximizes expected profit over the book under the EL and
    exposure budgets, industry and region caps and per-customer bounds, and reports the
    binding constraints with their shadow prices and the efficient frontier; ``rules``
    takes the tightest of the capacity, grade and single-name caps.
    """
    require(ctx, "05_limits")
    if "04_scoring_explain" in ctx.skipped():
        return _monitoring_only(ctx)
    p = ctx.params
    book = scored_book(ctx)
    # The ledger's tables once for the whole stage: the invoices are most of a run's memory, and the
    # purchase statistics, the competition evidence and the review cycle each used to read their own copy.
    tables = None if ctx.table_mode else ctx.tables(exclude=BEHAVIOUR_ONLY)
    limit_params, fit_notes = defaults_that_fit(p.limits, book)
    limit_params, evidence, evidence_notes = _competition_evidence(ctx, limit_params, tables)
    if p.limits.method == "rules":
        result = LimitsResult(book[_KEEP].join(set_limits(book, limit_params, p.features.lookback_months)), "rules")
    else:
        result = _optimized(ctx, book, limit_params, tables)
    result.notes[:0] = fit_notes
    result.competition_evidence, result.competition_evidence_notes = evidence, evidence_notes
    used = [n for n in evidence_notes if n.startswith("Competition:")]  # the params changed: say so with the others
    result.notes.extend(used)
    if ctx.table_mode:
        log = proposals_as_final(result.limits, read_as_of(ctx), p)
        ctx.write("decision_log.parquet", log.reset_index(drop=True))
        ctx.write_csv("decision_log.csv", log.reset_index(drop=True))
        result.decision_log = log
        result.notes.append("Table mode: early-warning signals, adjustment rules and the review calendar need the "
                            "invoice ledger's history and are not run; final limits are the proposals, each change "
                            "routed for approval in the decision log.")
    else:
        _review(ctx, result, tables)
    del tables
    ctx.write("limits.parquet", result.limits.reset_index())
    # Letters tell the final limit; the open balance decides whether a reduction holds the next orders.
    told = result.limits.assign(proposed_limit=result.limits["final_limit"],
                                receivables_open=book["receivables_open"])
    settings = LetterSettings(**p.letters.model_dump())
    letters = compose_letters(told, read_as_of(ctx), settings)
    ctx.write_letters(letters.pages)
    ctx.write("letters.parquet", letters.table)
    result.letters = letters
    if not letters.own_files:
        result.notes.append(f"{len(letters.table):,} letters, more than letters.max_files ({settings.max_files:,}): "
                            "no file per letter; each is in its printable part (letters/letters_all_0001.html "
                            "and on) and a row of data/letters.parquet.")
    notes_file = {"method": result.method, "notes": result.notes, "share_caps": result.share_caps}
    if result.competition_tradeoff is not None:
        # Small tables (one row per industry / budget), kept beside the notes rather than as new artifacts.
        notes_file["competition"] = {
            "tradeoff_by_industry": result.competition_tradeoff.reset_index().to_dict(orient="records"),
            "frontier": result.competition_frontier.table.to_dict(orient="records")}
    ctx.write_json("limits_notes.json", notes_file)
    # The decision table credit managers open in a spreadsheet.
    ctx.write_csv("limits.csv", result.limits.reset_index())
    result.letters_summary = letter_counts(told, read_as_of(ctx), settings)
    ctx.write_json(SUMMARY_FILE.removeprefix("data/"), result.letters_summary)
    return result
