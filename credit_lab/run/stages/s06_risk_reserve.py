"""Stage 06, risk reserve: expected loss gross and net of mitigation, the IFRS 9 provision matrix,
lifetime ECL and its reconciliation with the matrix, the loss distribution, stress tests and
concentration, on the final limits. The computation is :mod:`credit_lab.risk.reserve_run`."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import CreditLabError
from credit_lab.risk import reserve_run as rr
from credit_lab.risk.concentration import ConcentrationSettings, concentration_summary, granularity_adjustment
from credit_lab.risk.expected_loss import el_summary
from credit_lab.risk.loss_distribution import recommended_reserve
from credit_lab.risk.provisions import DEFAULT_DAYS_PAST_DUE
from credit_lab.run.compute import engine_client
from credit_lab.run.stages.context import StageContext, read_as_of, require, scored_book
from credit_lab.run.store import load_run_model

__all__ = ["ReserveResult", "stage_reserve"]

logger = logging.getLogger(__name__)


@dataclass
class ReserveResult:
    """Expected loss, provisions, loss distribution, stress, concentration and the reserve totals."""

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
    agreement: Any = None


def _provisions_only(ctx: StageContext) -> ReserveResult:
    """Without PDs: the ageing of today's receivables and the IFRS 9 provision matrix."""
    as_of = read_as_of(ctx)
    invoices = ctx.read("invoices.parquet")
    notes = [f"PD-based expected loss, the loss distribution, concentration capital and stress tests need a PD "
             f"model and are not computed: {ctx.skipped()['04_scoring_explain']}."]
    provision = rr.fitted_provision_matrix(ctx.params.reserve.provisions, invoices, ctx.table("defaults"), as_of,
                                           notes)
    # the ledger under the write-off policy: a written-off invoice is not open
    ledger = provision.write_offs.ledger if provision is not None else invoices
    exposures = rr.ageing_by_customer(ledger, as_of, ctx.params.reserve.provisions.bucket_edges)
    totals = {"receivables_open": float(exposures["receivables_open"].sum()),
              "customers_with_open_receivables": int((exposures["receivables_open"] > 0).sum()),
              "provision_matrix": float(provision.allowance) if provision is not None else float("nan"),
              **rr.write_off_totals(provision)}
    if provision is not None:
        ctx.write("provision_matrix.parquet", provision.matrix.reset_index())
    ctx.write("ageing.parquet", exposures.reset_index())
    ctx.write_json("reserve_summary.json", totals)
    ctx.write_json("reserve_notes.json", {"notes": notes})
    return ReserveResult(exposures, None, None, totals, provision, notes=notes)


def _read_book(ctx: StageContext, notes: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """The scored book with the customers' mitigants, and the final limits (or, without limits, balances)."""
    book = scored_book(ctx)
    customers = ctx.read("customers.parquet").set_index("customer_id")
    book = book.join(customers[["collateral_value", "collateral_haircut", "guarantor_pd"]])
    if ctx.exists("limits.parquet"):
        limits = ctx.read("limits.parquet").set_index("customer_id")
        # The limits customers get: the proposal after the adjustment rules.
        final_limit = limits["final_limit"].reindex(book.index).astype(float)
    else:
        final_limit = book["receivables_open"].astype(float)
        notes.append("No limits were set (stage 05 skipped): exposure is today's drawn balance.")
    return book, final_limit


def _accounting_view(ctx: StageContext, book: pd.DataFrame, exposures: pd.DataFrame, notes: list[str]):
    """Provision matrix, lifetime ECL and reconciliation of the receivables open today (ledger mode)."""
    if ctx.table_mode:
        notes.append("Table mode: the IFRS 9 provision matrix needs the invoice ledger's ageing history and is "
                     "not computed; the reserve rests on the PD-based loss distribution.")
        return None, None, None, None, None
    r, as_of = ctx.params.reserve, read_as_of(ctx)
    invoices = ctx.read("invoices.parquet")
    defaults = ctx.table("defaults")
    provision = rr.fitted_provision_matrix(r.provisions, invoices, defaults, as_of, notes, book["pd"], r.lgd)
    if provision is None:
        return None, None, None, None, None
    # defaults derived from the ledger are dated at the days past due the params set; otherwise at the contract's 90
    dated_at = ctx.params.data.rules.derive_defaults_days_past_due or DEFAULT_DAYS_PAST_DUE
    ecl, recon, el_tables = rr.lifetime_view(provision, invoices, defaults, book, exposures, r, as_of, dated_at)
    ctx.write("provision_matrix.parquet", provision.matrix.reset_index())
    ctx.write("lifetime_ecl.parquet", ecl.reset_index(names="customer_id"))
    ctx.write("ecl_reconciliation.parquet", recon.reset_index())
    agreement = rr.provision_check(provision, recon, ecl, defaults, r.provisions, notes)
    ctx.write("provision_agreement.parquet", agreement.table.reset_index())
    return provision, ecl, recon, el_tables, agreement


def _waterfall(ctx: StageContext, exposures: pd.DataFrame, recommended: float,
               notes: list[str]) -> pd.DataFrame | None:
    """The reserve waterfall against ``reserve.previous_run`` (a note when it cannot be computed)."""
    r = ctx.params.reserve
    if not r.previous_run:
        return None
    previous = Path(r.previous_run)
    other = _other_book(ctx, previous)
    if other:
        notes.append(f"Reserve waterfall against {r.previous_run} not computed: {other}; a waterfall compares two "
                     "runs of the same book (set reserve.previous_run to one).")
        return None
    try:
        prev = pd.read_parquet(previous / "data" / "expected_loss.parquet").set_index("customer_id")
        prev = prev[rr.WATERFALL_COLUMNS]
        cont = exposures.index.intersection(prev.index)
        pd_prev_model = None
        try:
            model = load_run_model(previous)
            features = ctx.read("features_current.parquet").set_index("customer_id").loc[cont]
            pd_prev_model = pd.Series(model.predict_pd(features), index=cont)
        except CreditLabError as err:
            notes.append(f"Waterfall: the previous run's model could not be used ({err}); PD migration includes "
                         "any model change.")
        waterfall = rr.reserve_waterfall(prev, exposures, pd_prev_model, r, ctx.params.seed, recommended)
        ctx.write("reserve_waterfall.parquet", waterfall.reset_index())
        return waterfall
    except (CreditLabError, OSError, KeyError) as err:
        notes.append(f"Reserve waterfall against {r.previous_run} not computed: {err}")
        return None


def _other_book(ctx: StageContext, previous: Path) -> str:
    """Why ``previous`` is a run of another book ('' when it is of the same one: the same data source)."""
    try:
        before = json.loads((previous / "data" / "data_quality.json").read_text(encoding="utf-8"))["source"]
    except (OSError, ValueError, KeyError):
        return ""  # an older run without the record: the customers' overlap decides below
    now = ctx.read_json("data_quality.json")["source"]
    return "" if before == now else f"that run is of another book ({before!r}, this one: {now!r})"


def _write_loss(ctx: StageContext, loss, loss_table: pd.DataFrame) -> None:
    ctx.write("loss_distribution.parquet", loss_table.reset_index())
    ctx.write("loss_quantiles.parquet", loss.quantiles.rename("loss").reset_index())
    if loss.sector_contributions is not None:
        ctx.write("risk_contributions_industry.parquet", loss.sector_contributions.reset_index())
        ctx.write("risk_contributions_customer.parquet", loss.obligor_contributions.reset_index())


def stage_reserve(ctx: StageContext) -> ReserveResult:
    """Expected loss gross and net of mitigation, the IFRS 9 provision matrix, lifetime ECL and
    its reconciliation with the matrix, and concentration, on the final limits."""
    require(ctx, "06_risk_reserve")
    if "04_scoring_explain" in ctx.skipped():
        return _provisions_only(ctx)
    p, r = ctx.params, ctx.params.reserve
    notes: list[str] = []
    book, final_limit = _read_book(ctx, notes)
    bx = rr.book_exposure(book, final_limit, r)
    exposures = bx.exposures
    by_grade, by_industry = el_summary(exposures, "grade"), el_summary(exposures, "industry")
    provision, ecl, recon, el_tables, agreement = _accounting_view(ctx, book, exposures, notes)
    conc_frame = exposures.reset_index()[["customer_id", "industry", "region", "ead"]]
    concentration = concentration_summary(conc_frame, ConcentrationSettings())
    constraints = ctx.read("limit_constraints.parquet") if ctx.exists("limit_constraints.parquet") else None
    cap_use = rr.cap_utilization_table(constraints, p.limits, exposures)
    positive = exposures["ead"] > 0
    granularity = granularity_adjustment(exposures.loc[positive, "ead"].to_numpy(),
                                         exposures.loc[positive, "pd"].to_numpy(),
                                         np.clip(exposures.loc[positive, "lgd_net"].to_numpy(), 1e-6, 1.0),
                                         ConcentrationSettings(ga_form="simplified"))
    with engine_client(p.compute) as client:
        loss = rr.loss_distribution(exposures, r, p.seed, client=client, partitions=p.compute.partitions)
    loss_table = rr.loss_table(loss)
    recommended = recommended_reserve(loss, r.confidence)
    _write_loss(ctx, loss, loss_table)
    totals = rr.reserve_totals(exposures, loss, recommended, r, provision, ecl, concentration, bx.mitigation,
                               agreement)
    stress = rr.stress_table(book, bx.ead, bx.mitigation_inputs, exposures, r, p.seed, provision, loss, recommended)
    ctx.write("stress_tests.parquet", stress.reset_index())
    ctx.write("expected_loss.parquet", exposures.reset_index())
    ctx.write("el_by_grade.parquet", by_grade.reset_index(names="grade"))
    ctx.write("el_by_industry.parquet", by_industry.reset_index(names="industry"))
    ctx.write_json("reserve_summary.json", totals)
    waterfall = _waterfall(ctx, exposures, recommended, notes)
    ctx.write("cap_utilization.parquet", cap_use)
    ctx.write_json("reserve_notes.json", {"notes": notes})  # the index page lists them with the assumptions
    return ReserveResult(exposures, by_grade, by_industry, totals, provision, ecl, recon, concentration,
                         granularity, el_tables, notes, loss, loss_table, stress, cap_use, waterfall, agreement)
