"""The risk reserve of a run, over DataFrames: exposure and mitigation on the final limits, the
provision matrix fitted to the ledger, lifetime ECL, the portfolio loss distribution, stress tests,
concentration cap use and the reserve waterfall against a previous run.

:mod:`credit_lab.risk` holds each model; this module chains them the way stage 06 runs them
with the run's ``reserve`` params. It reads no files: the stage passes what it read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.config import LimitParams, ProvisionParams, ReserveParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.core.formatting import money
from credit_lab.risk.concentration import ConcentrationSettings, cap_utilization
from credit_lab.risk.expected_loss import exposure_at_default
from credit_lab.risk.loss_distribution import LossPortfolio, fast_loss, fast_loss_distributed, recommended_reserve
from credit_lab.risk.mitigation import MitigationSettings, mitigate
from credit_lab.risk.provisions import (
    DEFAULT_DAYS_PAST_DUE,
    EL_12M,
    FLOOR_PD_LGD,
    HISTORY,
    TOTAL,
    ProvisionAgreement,
    ProvisionSettings,
    collection_delay_days,
    expected_loss_table,
    expected_months_to_collection,
    lifetime_ecl,
    loss_in_default,
    months_at_risk,
    provision_agreement,
    provision_from_ledger,
    reconcile,
)
from credit_lab.risk.stress import StressScenario, stressed_book

__all__ = ["BookExposure", "WATERFALL_COLUMNS", "ageing_by_customer", "book_exposure", "cap_utilization_table",
           "fitted_provision_matrix", "lifetime_view", "loss_distribution", "loss_portfolio", "loss_table",
           "mitigation_frame", "no_loss_floor_note", "provision_check", "reserve_totals", "reserve_waterfall",
           "stress_table", "write_off_note", "write_off_totals"]

logger = logging.getLogger(__name__)

#: The columns of a run's ``expected_loss`` that the reserve waterfall compares.
WATERFALL_COLUMNS = ["industry", "pd", "ead", "lgd_net"]


@dataclass
class BookExposure:
    """Exposure at default on the final limits, the mitigation inputs and result, and the EL table."""

    ead: pd.Series
    mitigation_inputs: pd.DataFrame
    mitigation: Any
    exposures: pd.DataFrame


def book_exposure(book: pd.DataFrame, final_limit: pd.Series, r: ReserveParams) -> BookExposure:
    """EAD from balance and limit, mitigation by insurance, guarantees and collateral, EL per customer.

    ``book`` is the scored book with the customers' mitigants (collateral, haircut, guarantor PD).
    """
    ead = exposure_at_default(book["receivables_open"].astype(float), final_limit, r.ccf)
    mitigation_inputs = mitigation_frame(book, ead, r)
    mitigation = mitigate(mitigation_inputs, MitigationSettings(
        insurer_pd=r.insurer_pd, treatment=r.guarantee_treatment, provider_correlation=r.provider_correlation,
        insurer_max_liability=r.insurer_max_liability))
    mt = mitigation.table
    exposures = book[["customer_name", "industry", "region", "grade", "pd", "receivables_open"]].assign(
        final_limit=final_limit).join(mt.drop(columns=["pd"]))
    exposures = exposures.rename(columns={"el_net": "el", "net_ead": "net_exposure"})
    return BookExposure(ead, mitigation_inputs, mitigation, exposures)


def lifetime_view(provision, invoices: pd.DataFrame, defaults: pd.DataFrame | None, book: pd.DataFrame,
                  exposures: pd.DataFrame, r: ReserveParams, as_of: pd.Timestamp,
                  default_days_past_due: int = DEFAULT_DAYS_PAST_DUE):
    """Lifetime ECL of today's open receivables, its reconciliation with the matrix, and the EL tables.

    The collection delay is measured on the ledger the matrix saw (under the write-off policy). The
    PD's horizon runs until each receivable is collected or reaches ``default_days_past_due``, the
    days past due at which the ledger dates a default, whichever is later (:func:`months_at_risk`).
    """
    if provision.write_offs is not None:
        invoices = provision.write_offs.ledger
    items = provision.items
    exposure = items.groupby("customer_id")["outstanding"].sum()
    # Customers already in default have no score: their PD is 1 (they are in default).
    pd_12m = book["pd"].reindex(exposure.index).fillna(1.0)
    lgd_net = exposures["lgd_net"].reindex(exposure.index).fillna(r.lgd)
    delay = collection_delay_days(invoices, as_of)
    months = expected_months_to_collection(items, as_of, delay)
    at_risk = months_at_risk(items, as_of, delay, default_days_past_due)
    ecl = lifetime_ecl(exposure, pd_12m, lgd_net, months.reindex(exposure.index), r.discount_rate,
                       at_risk.reindex(exposure.index))
    recon = reconcile(items, ecl, as_of, defaults)
    frame = exposures[["pd", "grade", "industry", "receivables_open"]].assign(
        months_to_collection=months.reindex(exposures.index).fillna(0.0),
        months_at_risk=at_risk.reindex(exposures.index).fillna(0.0))
    el_tables = expected_loss_table(frame, exposures["lgd_net"].fillna(r.lgd), r.discount_rate)
    return ecl, recon, el_tables


def cap_utilization_table(constraints: pd.DataFrame | None, lim: LimitParams, exposures: pd.DataFrame) -> pd.DataFrame:
    """Use of every concentration cap by the final limits (the caps the limit stage applied).

    ``constraints`` is the optimizer's constraint table (None when the limits came from rules).
    """
    caps: dict[str, dict[str, float]] = {"industry_cap": {}, "region_cap": {}}
    if constraints is not None:
        rows = constraints
        for kind in caps:
            for _, row in rows[rows["kind"] == kind].iterrows():
                if np.isfinite(row["budget"]):
                    caps[kind][str(row["constraint"]).split("[", 1)[1][:-1]] = float(row["budget"])
    settings = ConcentrationSettings(single_name_cap=lim.own_equity * lim.single_name_cap_pct,
                                     industry_caps=caps["industry_cap"], region_caps=caps["region_cap"])
    frame = exposures.reset_index()[["customer_id", "industry", "region", "final_limit"]]
    table = cap_utilization(frame, settings, exposure="final_limit")
    # one row per name is too many for a report: keep the names closest to the single-name cap
    names = table[table["dimension"] == "name"].head(10)
    return pd.concat([table[table["dimension"] != "name"], names], ignore_index=True)


def loss_table(loss) -> pd.DataFrame:
    """VaR, ES and unexpected loss per confidence level, with their simulation error."""
    levels = sorted(loss.var)
    return pd.DataFrame({"var": [loss.var[q] for q in levels], "es": [loss.es[q] for q in levels],
                         "ul": [loss.var[q] - loss.expected_loss for q in levels]},
                        index=pd.Index(levels, name="confidence")).join(loss.error)


def provision_check(provision, recon: pd.DataFrame, ecl: pd.DataFrame, defaults: pd.DataFrame | None,
                    pr: ProvisionParams, notes: list[str]) -> ProvisionAgreement:
    """Whether the PD-based lifetime ECL and 12-month EL agree with the matrix within ``pr.reconciliation_band``.

    The verdict, in words with the segments that explain a gap (and the ledger's own loss on the
    receivables of customers in default, measured on the history the matrix used), goes to ``notes``.
    """
    observed = None
    if defaults is not None and len(defaults):
        observed = loss_in_default(provision.write_offs.ledger, provision.loss_rates.as_of, defaults,
                                   provision.loss_rates.settings)
    agreement = provision_agreement(recon, ecl, pr.reconciliation_band, observed)
    notes.append(f"Provision matrix against the PD-based measures: {agreement.sentence}")
    return agreement


def reserve_totals(exposures: pd.DataFrame, loss, recommended: float, r: ReserveParams, provision, ecl,
                   concentration, mitigation, agreement: ProvisionAgreement | None = None) -> dict[str, float]:
    """The reserve summary: EAD, EL, the recommended and held reserve, provisions, write-offs, the band
    check of the provisions (``agreement``) and concentration."""
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
    totals.update(write_off_totals(provision))
    if agreement is not None:
        totals.update(el_12m_receivables=float(agreement.table.loc[EL_12M, "amount"]),
                      provision_reconciliation_band=agreement.band,
                      lifetime_ecl_within_band=agreement.within_band,
                      provision_loss_in_default=agreement.loss_in_default)
    return totals


def write_off_totals(provision) -> dict[str, float]:
    """What left the books: written off by the policy (off today's book), and in the last 12 months."""
    if provision is None or provision.write_offs is None:
        return {}
    w = provision.write_offs
    return {"provision_written_off_by_policy": w.by_policy,
            "provision_written_off_12m": w.written_off_since(w.as_of - pd.DateOffset(months=12))}


def reserve_waterfall(prev: pd.DataFrame, exposures: pd.DataFrame, pd_prev_model: pd.Series | None,
                      r: ReserveParams, seed: int, recommended: float) -> pd.DataFrame:
    """How the recommended reserve moved since a previous run, step by step.

    Starting from the previous run's book, one element at a time is switched to today's:
    customers that came and went, limits and balances (EAD), PD migration (the previous model
    on today's features), the model change (today's model instead), LGD and mitigation. Each
    step's reserve is recomputed with the same loss model; the last row is the estimation
    noise left to today's reported figure.

    ``prev`` is the previous run's ``expected_loss`` indexed by customer_id; ``pd_prev_model`` the
    previous run's model's PDs of the customers in both runs (None when it could not be used:
    PD migration then includes any model change).
    """
    cols = WATERFALL_COLUMNS
    prev, cur = prev[cols].copy(), exposures[cols].copy()
    cont = cur.index.intersection(prev.index)
    new = cur.index.difference(prev.index)
    q = float(r.confidence)

    def reserve(frame: pd.DataFrame) -> float:
        return float(loss_distribution(frame, r, seed, contributions=False).var[q])

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


def mitigation_frame(book: pd.DataFrame, ead: pd.Series, r: ReserveParams) -> pd.DataFrame:
    """Per customer: EAD, PD, LGD and every mitigant with the defaults of ``reserve`` where unknown."""
    guarantor_pd = book["guarantor_pd"].astype(float).fillna(r.guarantor_pd)
    return pd.DataFrame({
        "ead": ead, "pd": book["pd"].astype(float), "lgd": r.lgd,
        "collateral_value": book["collateral_value"].astype(float),
        "collateral_haircut": book["collateral_haircut"].astype(float).fillna(r.collateral_haircut),
        "insurance_cover_pct": book["insurance_cover_pct"].astype(float),
        "insured_limit": book["insured_limit"].astype(float), "deductible": r.insurance_deductible,
        "guarantee_amount": book["guarantee_amount"].astype(float), "guarantor_pd": guarantor_pd,
    }, index=book.index)


def fitted_provision_matrix(pr: ProvisionParams, invoices: pd.DataFrame, defaults: pd.DataFrame | None,
                            as_of: pd.Timestamp, notes: list[str], pd_12m: pd.Series | None = None,
                            lgd: float | None = None):
    """The IFRS 9 provision matrix, on a shorter history (said in ``notes``) when the ledger is short.

    ``pd_12m`` (per customer, from the scores) and ``lgd`` price the no-loss floor; without them a
    bucket whose history holds no loss takes ``pr.no_loss_floor_rates``. ``notes`` says which
    buckets were floored, why and what it adds (or, with ``no_loss_floor: none``, what stays at 0).
    """
    settings = ProvisionSettings(bucket_edges=tuple(pr.bucket_edges), method=pr.method,
                                 history_months=pr.history_months, outcome_months=pr.outcome_months,
                                 scenarios={k: tuple(v) for k, v in pr.scenarios.items()},
                                 no_loss_floor=pr.no_loss_floor, no_loss_floor_rates=tuple(pr.no_loss_floor_rates),
                                 no_loss_floor_edges=tuple(pr.bucket_edges),
                                 write_off_days_past_due=pr.write_off_days_past_due)
    if pd_12m is not None:
        # Customers already in default have no score: their PD is 1 (they are in default), as in
        # the lifetime ECL.
        pd_12m = pd_12m.reindex(pd.Index(invoices["customer_id"].unique())).fillna(1.0)
    tried: list[str] = []
    first = invoices["invoice_date"].min()
    available = (as_of.year - first.year) * 12 + as_of.month - first.month - pr.outcome_months - 1
    for _ in range(2 + len(settings.bucket_edges)):
        try:
            provision = provision_from_ledger(invoices, as_of, settings, defaults, pd_12m, lgd)
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
        note = no_loss_floor_note(provision, settings, lgd)
        if note:
            notes.append(note)
        notes.append(write_off_note(provision))
        return provision
    notes.append("Provision matrix not computed: " + "; ".join(tried))
    return None


def no_loss_floor_note(provision, settings: ProvisionSettings, lgd: float | None) -> str | None:
    """One note, in words: which buckets the no-loss floor priced, why, and what it adds to the provision.

    With ``no_loss_floor: none``: which buckets stay at a zero rate, and that the provision may be
    understated. None when no bucket with an open balance has a zero historical rate.
    """
    m = provision.matrix.drop(index=TOTAL)
    zero = m[(m["historical_loss_rate"] == 0.0) & (m["gross_carrying_amount"] > 0)]
    if zero.empty:
        return None
    names = ", ".join(zero.index)
    why = (f"the ledger's history holds no loss in bucket(s) {names} (no balance in them at any of the "
           f"{settings.history_months} month-ends used was later lost), so their historical loss rate is 0")
    if settings.no_loss_floor == "none":
        return (f"Provision matrix: {why}, and reserve.provisions.no_loss_floor is none, so their "
                f"{money(zero['gross_carrying_amount'].sum())} of receivables carry no provision. The provision may "
                "be understated: IFRS 9 (B5.5.35) asks for historical loss rates adjusted for current and "
                "forward-looking information, and no loss seen is not no loss expected; set no_loss_floor: pd_lgd.")
    floored = zero[zero["rate_basis"] != HISTORY]
    rates = ", ".join(f"{b} {r:.2%}" for b, r in floored["floor_loss_rate"].items())
    if (floored["rate_basis"] == FLOOR_PD_LGD).all():
        how = (f"the balance-weighted 12-month PD x LGD ({lgd * 100:g}%) of the customers whose receivables sit in "
               f"them today ({rates})")
    else:
        merged = ("; a merged bucket takes the balance-weighted rates of the buckets it merges"
                  if settings.bucket_edges != settings.no_loss_floor_edges else "")
        how = (f"the fixed rates of reserve.provisions.no_loss_floor_rates ({rates}{merged}), since no PD is "
               "available (no scores from stage 04)")
    before = provision.allowance - provision.floor_uplift
    return (f"Provision matrix: {why}. A zero rate is not a credible provision: IFRS 9 (B5.5.35) asks for historical "
            f"loss rates adjusted for current and forward-looking information, so these buckets are floored at {how}, "
            f"then adjusted by the scenarios like a historical rate. The floor raises the provision by "
            f"{money(provision.floor_uplift)}, from {money(before)} to {money(provision.allowance)} "
            "(reserve.provisions.no_loss_floor: none switches it off).")


def write_off_note(provision) -> str:
    """One note, in words: the write-off policy, what it took off today's book and what was written off in a year."""
    w = provision.write_offs
    totals = write_off_totals(provision)
    year = (f"{money(totals['provision_written_off_12m'])} was written off in the 12 months to {w.as_of.date()} "
            "(by the policy, or recorded in the ledger as an invoice settled short)")
    if w.write_off_days_past_due is None:
        return (f"Write-offs: no write-off policy (reserve.provisions.write_off_days_past_due is null), so receivables "
                f"stay in the matrix however long past due; {year}.")
    return (f"Write-offs: receivables not settled {w.write_off_days_past_due} days after their due date are written "
            f"off (IFRS 9 5.4.4: no reasonable expectation of recovery; reserve.provisions.write_off_days_past_due), "
            f"today and in the history the loss rates come from. The policy wrote off {money(w.by_policy)} that the "
            f"ledger still carried as open, and {year}. The allowance of {money(provision.allowance)} covers the "
            f"{money(float(provision.matrix.loc[TOTAL, 'gross_carrying_amount']))} still on the books.")


def ageing_by_customer(invoices: pd.DataFrame, as_of: pd.Timestamp, edges: tuple[int, ...]) -> pd.DataFrame:
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


def stress_table(book: pd.DataFrame, ead: pd.Series, base: pd.DataFrame, exposures: pd.DataFrame,
                 r: ReserveParams, seed: int, provision, loss, recommended: float) -> pd.DataFrame:
    """Provision, EL, VaR, ES and reserve under each stress scenario, beside the base case.

    Each scenario re-runs mitigation and the loss distribution on the stressed PDs and LGDs.
    The provision matrix is stressed by scaling every bucket's loss rate (capped at 100%) by
    the scenario's exposure-weighted PD multiplier, since roll rates to loss move with defaults.
    """
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
        s_loss = loss_distribution(frame, r, seed, contributions=False)
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


def loss_distribution(exposures: pd.DataFrame, r: ReserveParams, seed: int, contributions: bool = True,
                      client: Any = None, partitions: int | None = None):
    """Multi-factor Gaussian copula loss of the book, one factor per industry, with Euler contributions.

    With a Dask ``client`` the per-obligor work runs on its cluster in ``partitions`` blocks of the book
    (default one per worker): the same result, bit for bit (:func:`fast_loss_distributed`).
    """
    levels = tuple(sorted({0.99, 0.995, 0.999, float(r.confidence)}))
    portfolio = loss_portfolio(exposures, r)
    if client is None:
        return fast_loss(portfolio, seed=seed, levels=levels, contributions=contributions)
    return fast_loss_distributed(portfolio, client, partitions=partitions, seed=seed, levels=levels,
                                 contributions=contributions)


def loss_portfolio(exposures: pd.DataFrame, r: ReserveParams) -> LossPortfolio:
    """The copula portfolio of ``exposures`` (``industry``, ``pd``, ``ead``, ``lgd_net``): one factor per industry."""
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
    return LossPortfolio.from_arrays(
        exposures["pd"].to_numpy(dtype=float), exposures["ead"].to_numpy(dtype=float), lgd, code, corr,
        rho=r.asset_correlation, lgd_std=lgd_std, obligor_id=exposures.index.to_numpy(), sector_names=industries)
