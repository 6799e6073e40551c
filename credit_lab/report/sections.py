"""Notebook sections that may be empty: show a table or figure, or nothing when its part was skipped.

A stage can skip a whole part of its report (05 without a PD model proposes no limits and only
monitors; 06 without one computes no PD-based loss). A papermill notebook cannot skip its remaining
cells, so each notebook says *once*, at the top, which part was skipped and why
(:func:`limits_headline`, :func:`reserve_headline`), and every later cell hands the maybe-``None``
part to :func:`show`, which renders it or stays silent. The cells then need no ``if … is not None``
guard of their own, and the tables they show are built here, where ruff and the tests see them.
Display options (column widths) are set by the cell around its ``show`` call: they must hold while
the table is displayed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown, display

from credit_lab.core.formatting import money
from credit_lab.report import figures
from credit_lab.report.tables import ReportTable, long_table

logger = logging.getLogger(__name__)

__all__ = [
    "show",
    "limits_headline",
    "decided_by",
    "constraints_table",
    "frontier_figure",
    "competition_tradeoff",
    "competition_evidence",
    "exposure_by_industry",
    "largest_reductions",
    "limits_table",
    "watchlist_table",
    "quarantine_table",
    "improvement_hints",
    "backtest_tables",
    "decision_tables",
    "calendar_tables",
    "letter_samples",
    "reserve_headline",
    "mitigation_totals",
    "ageing_tables",
    "provision_agreement",
    "reserve_sentence",
    "loss_figure",
    "reserve_waterfall",
    "risk_contributions",
    "concentration_table",
    "granularity_sentence",
    "largest_expected_losses",
]


def show(part: Any, render: Callable[..., Any] | None = None, *args: Any, **kwargs: Any) -> None:
    """Display ``render(part, *args, **kwargs)`` (``part`` itself without ``render``); nothing if ``part`` is None.

    Parameters
    ----------
    part : object or None
        The part of a stage's result a section shows; ``None`` when the stage skipped it (the
        notebook said so once at the top, so the section stays silent).
    render : callable, optional
        Builds what to show from ``part``: a table, a figure, a Markdown/HTML object, a list of
        those, or ``None`` for nothing.
    *args, **kwargs
        Passed to ``render`` after ``part``.

    Notes
    -----
    Returns nothing, so a call as a cell's last line does not display the figure a second time.
    Figures are displayed where they are made and then closed (the inline backend would otherwise
    show them again at the end of the cell).
    """
    if part is None:
        return
    shown = render(part, *args, **kwargs) if render is not None else part
    for item in shown if isinstance(shown, (list, tuple)) else [shown]:
        if item is None:
            continue
        display(item)
        if isinstance(item, plt.Figure):
            plt.close(item)


# ---------------------------------------------------------------- 05 limits


def limits_headline(result: Any) -> Markdown:
    """The method and total limits, or the one message that the limit part was skipped (monitoring only)."""
    limits = result.limits
    if limits is None:
        return Markdown(f"**No limits are proposed** ({result.method}). The sections on limits are left out of this "
                        "report; the watchlist comes from payment behaviour alone (the note says why).")
    # No solve time here: a rerun of the same params must write the same report, and the seconds move with the
    # machine's load (a rerun under load printed 0.03 s for 0.01 s). The time is in the run's log.
    return Markdown(f"**Method:** {result.method} &nbsp; **Total limits:** {limits['current_limit'].sum():,.0f} "
                    f"today → {limits['proposed_limit'].sum():,.0f} proposed")


def decided_by(limits: pd.DataFrame) -> pd.DataFrame:
    """Customers, total limit and total change per deciding rule or constraint."""
    return limits.groupby("decided_by").agg(customers=("proposed_limit", "size"),
                                            total_limit=("proposed_limit", "sum"),
                                            total_change=("limit_change", "sum")).round(0)


def constraints_table(result: Any) -> pd.DataFrame | Markdown:
    """The optimizer's constraints with their shadow prices (the rules method has none)."""
    if result.constraints is None:
        return Markdown("Rules method: no portfolio constraints.")
    table = result.constraints.copy()
    for col in ("budget", "used", "slack"):  # currency amounts for reading: 15,804,566, not 1.580457e+07
        if col in table:
            table[col] = ["none" if v in (float("inf"), float("-inf")) else money(v, missing="none")
                          for v in table[col]]
    if "shadow_price" in table:
        table["shadow_price"] = table["shadow_price"].round(4)
    return table


def frontier_figure(result: Any) -> plt.Figure | None:
    """The efficient frontier with today's limits as a dot (optimize method only)."""
    f = result.frontier
    return figures.fig_frontier(f.table, f.current_el, f.current_profit) if f is not None else None


def competition_tradeoff(result: Any) -> list | Markdown:
    """Per industry, sales and relationship value kept against expected loss, with and without the competition
    term, and the frontier solved both ways (``limits.competition``; off: one line saying so)."""
    table = getattr(result, "competition_tradeoff", None)
    if table is None:
        return Markdown("The competition term is off (`limits.competition`: every intensity 0): a limit below a "
                        "customer's need costs this period's blocked orders only.")
    shown = table.drop(columns=["customers"]).round({"intensity": 2})
    money_cols = [c for c in shown if c != "intensity"]
    shown[money_cols] = shown[money_cols].round(0)
    frontier = result.competition_frontier
    return [shown, frontier.plot().figure] if frontier is not None else [shown]


#: the columns of the competition evidence the report shows, with their headers
_EVIDENCE_SHOWN = {"n_cut": "cut customers", "n_control": "controls", "lost_share_cut": "lost: cut",
                   "lost_share_control": "lost: controls", "mean_shortfall": "mean shortfall",
                   "intensity": "estimate", "low": "low", "high": "high", "params_intensity": "params",
                   "verdict": "verdict"}


def competition_evidence(result: Any) -> list | Markdown:
    """Where the intensities come from: per industry, the intensity the ledger's limit cuts imply with its interval,
    beside the params' intensity, and whether the optimizer used the estimate (without a limit history: one line)."""
    evidence = getattr(result, "competition_evidence", None)
    if evidence is None:
        return Markdown("The ledger has no `limit_history` table, so the intensities are the params' "
                        "(`limits.competition.intensity_by_industry`, `default_intensity`) as stated. With one "
                        "(`data.files.limit_history`: customer_id, valid_from, limit) this section estimates them from "
                        "what customers did after their limit was cut.")
    used = [n for n in getattr(result, "competition_evidence_notes", []) if n.startswith("Competition:")]
    usage = (" ".join(used) if used else "The optimizer uses the params' intensities "
             "(`limits.competition.use_ledger_estimate: false`); the estimate is shown for comparison.")
    shown = evidence.set_index("industry")[list(_EVIDENCE_SHOWN)].rename(columns=_EVIDENCE_SHOWN)
    shown = shown.round({c: 2 for c in ("lost: cut", "lost: controls", "mean shortfall", "estimate", "low", "high",
                                        "params")})
    notes = [f"- {n}" for n in evidence.attrs.get("notes", [])]
    parts: list = [Markdown(f"**Method.** {evidence.attrs.get('method', '')}\n\n**Used:** {usage}"), shown]
    if notes:
        parts.append(Markdown("\n".join(notes)))
    return parts


def exposure_by_industry(result: Any) -> list:
    """Limits per industry before and after, as a table and a figure."""
    by_industry = result.limits.groupby("industry")[["current_limit", "proposed_limit"]].sum()
    table = result.exposure_by_industry if result.exposure_by_industry is not None else by_industry
    return [table.round(0), figures.fig_exposure_by(by_industry)]


def largest_reductions(limits: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The ``n`` largest limit reductions with what decided them and why (the explanation in full)."""
    cols = ["customer_name", "grade", "pd", "current_limit", "proposed_limit", "decided_by"]
    cols += ["explanation"] if "explanation" in limits else ["limit_reason"]
    return limits.sort_values("limit_change")[cols].head(n)


#: the columns of the limits table a report shows (every column is in data/limits.parquet and data/limits.csv)
LIMIT_COLUMNS = ("customer_id", "customer_name", "industry", "region", "grade", "pd", "current_limit", "proposed_limit",
                 "final_limit", "final_change", "decided_by", "adjustment_rule", "approver", "on_watchlist")


def limits_table(limits: pd.DataFrame) -> ReportTable:
    """Every customer's limit today, proposed and final, with what decided it: searchable, largest limits first."""
    return long_table(limits.sort_values(["current_limit", "customer_id"], ascending=[False, True]), name="limits",
                      files=["data/limits.parquet", "data/limits.csv"], what="customers", columns=LIMIT_COLUMNS)


def watchlist_table(watchlist: pd.DataFrame) -> list:
    """How many customers are on the watchlist, and each with its signals and action, most severe first."""
    cols = ["customer_id", "severity", "firing_signals", "recommended_action", "signal_details"]
    table = watchlist.reset_index() if "customer_id" not in watchlist else watchlist
    table = table.sort_values(["severity", "customer_id"], ascending=[False, True])
    return [Markdown(f"**{len(watchlist):,} customers on the watchlist.**"),
            long_table(table, name="watchlist", files=["data/watchlist.parquet"], what="customers", columns=cols)]


def quarantine_table(quarantine: pd.DataFrame) -> ReportTable | Markdown:
    """The quarantined rows with their reasons, or the sentence that there are none."""
    if not len(quarantine):
        return Markdown("No row was quarantined.")
    return long_table(quarantine, name="quarantine", files=["data/quarantine.parquet"])


def improvement_hints(limits: pd.DataFrame, n: int = 10) -> list | Markdown:
    """What customers' own behaviour would raise their limit most (``hint``, ``hint_pd``, ``hint_limit``).

    See :func:`credit_lab.limits.setting.improvement_hints`: the PD re-scored by the model with the
    behaviour improved, the limit recomputed at the portfolio's shadow prices.
    """
    if "hint" not in limits:
        return Markdown("No hints: the rules method does not re-price limits.")
    hints = limits[limits["hint"] != ""].assign(gain=lambda t: t["hint_limit"] - t["proposed_limit"])
    if hints.empty:
        return Markdown("No customer's own behaviour would raise its limit (or hints are not computed: table mode).")
    summary = hints.groupby("hint").agg(customers=("gain", "size"), total_gain=("gain", "sum")).round(0)
    cols = ["customer_name", "pd", "hint", "hint_pd", "proposed_limit", "hint_limit"]
    return [summary, hints.sort_values("gain", ascending=False)[cols].head(n)]


def backtest_tables(backtest: pd.DataFrame, base_rate: float) -> list:
    """The signal backtest with its base default rate."""
    return [Markdown(f"Base default rate over the backtest: {base_rate:.2%}"), backtest.round(3)]


def decision_tables(log: pd.DataFrame, limits: pd.DataFrame) -> list:
    """Final changes per adjustment rule, decisions per approver and status, and the decision log (pending first)."""
    by_rule = (limits.groupby(["adjustment_rule"])["final_change"].agg(["size", "sum"])
               .rename(index={"": "(no rule: proposal)"}).round(0))
    ordered = log.assign(_pending=log["status"] != "pending").sort_values("_pending", kind="stable")
    return [by_rule, log.groupby(["approver", "status"]).size().rename("decisions").to_frame(),
            long_table(ordered.drop(columns="_pending"), name="decision-log",
                       files=["data/decision_log.csv", "data/decision_log.parquet"], what="decisions")]


def calendar_tables(calendar: pd.DataFrame, n: int = 10) -> list:
    """Customers per review status and the next reviews due."""
    return [calendar["status"].value_counts().to_frame("customers"), calendar.sort_values("next_review_date").head(n)]


def letter_samples(result: Any, n: int = 2) -> list:
    """How many letters were written, where, and the body of the first ``n``."""
    by_kind = ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in
                        getattr(result, "letters_summary", {}).get("by_kind", {}).items())
    letters = getattr(result, "letters", None)
    if letters is None or letters.table.empty:
        return [Markdown("**0 letters** written" + (f" ({by_kind})." if by_kind else "."))]
    where = ("a file each in `letters/`" if letters.own_files else
             "more than `letters.max_files`: in printable parts in `letters/` and in `data/letters.parquet`")
    shown: list = [Markdown(f"**{len(letters.table):,} letters** written, {where}"
                            + (f" ({by_kind})." if by_kind else "."))]
    return shown + [HTML(body) for body in letters.table["letter_html"].head(n)]


# ---------------------------------------------------------------- 06 risk reserve


def reserve_headline(result: Any) -> Markdown | None:
    """The one message that the PD-based part was skipped (provisions only); nothing otherwise."""
    if result.loss is not None:
        return None
    return Markdown("**Provisions only: no PD model.** The ageing and the provision matrix are shown; the "
                    "sections on PD-based expected loss, the loss distribution, the reserve, contributions, "
                    "stress tests and concentration are left out of this report (the note says why).")


def mitigation_totals(exposures: pd.DataFrame) -> pd.DataFrame:
    """What collateral, insurance and guarantees take off the exposure, and EL before and after."""
    cols = ["ead", "collateralised", "insured", "guaranteed", "net_exposure", "el_gross", "el"]
    return exposures[cols].sum().to_frame("total").round(0)


def ageing_tables(ageing: pd.DataFrame, n: int = 20) -> list:
    """The largest open receivables by days-past-due bucket, and the totals."""
    return [ageing.head(n).round(2), ageing.sum().to_frame("total").round(2)]


def provision_agreement(agreement: Any) -> list:
    """The band check of the provisions: the verdict in words, then the three measures against the matrix."""
    table = agreement.table.assign(vs_matrix=agreement.table["vs_matrix"].map("{:+.1%}".format),
                                   amount=agreement.table["amount"].round(0))
    return [Markdown(figures.escape(agreement.sentence)), table]


def reserve_sentence(loss: Any, totals: dict) -> Markdown:
    """The recommended reserve, split into EL and UL, against the fund held today if known."""
    held = totals["reserve_held"]
    recommended = totals["reserve_recommended"]
    compare = (f"; held today {held:,.0f}, gap {totals['reserve_gap']:,.0f}" if held == held  # NaN: not set
               else "; set reserve.reserve_held to compare with the fund held today")
    return Markdown(f"**Recommended risk reserve** at {totals['reserve_confidence']:.1%}: **{recommended:,.0f}** "
                    f"(EL {loss.expected_loss:,.0f} + UL {recommended - loss.expected_loss:,.0f}){compare}")


def loss_figure(loss: Any) -> plt.Figure:
    """The portfolio loss distribution with EL, VaR and ES marked."""
    return figures.fig_loss_distribution(loss.quantiles, loss.var, loss.es, loss.expected_loss)


def reserve_waterfall(result: Any) -> list | Markdown:
    """What moved the reserve since the previous run, as a table and a figure."""
    if result.waterfall is None:
        return Markdown("No previous run to compare with (the first run in this output folder, "
                        "or `reserve.previous_run` not set).")
    return [result.waterfall.round(0), figures.fig_waterfall_steps(result.waterfall)]


def risk_contributions(loss: Any, confidence: float, top: int = 10) -> list:
    """Euler contributions to ES by industry (table and figure) and the ``top`` customers."""
    col = f"es_{confidence * 100:g}"
    sectors = loss.sector_contributions
    if sectors is None or col not in sectors:
        return []
    return [sectors.round(0), figures.fig_risk_contributions(sectors, col),
            loss.obligor_contributions.sort_values(col, ascending=False).head(top).round(0)]


def concentration_table(concentration: Any) -> pd.DataFrame:
    """HHI, effective numbers and top-n share of the exposure by name and industry."""
    keys = ("total_exposure", "names", "hhi_name", "effective_names", "hhi_industry", "effective_industries",
            "top_n", "top_n_share")
    values = {k: getattr(concentration, k) for k in keys if hasattr(concentration, k)}
    return pd.Series(values, name="value").to_frame()


def granularity_sentence(g: Any) -> Markdown:
    """The Gordy-Lütkebohmert granularity adjustment in one line."""
    return Markdown(f"**Granularity adjustment:** {g.ga:.4%} of EAD = {g.ga_amount:,.0f} "
                    f"(K* = {g.k_star:.4f}, δ = {g.delta:.4f}, {g.form} form)")


def largest_expected_losses(exposures: pd.DataFrame, n: int = 15) -> pd.DataFrame:
    """The ``n`` customers with the largest expected loss."""
    return exposures.sort_values("el", ascending=False).head(n).round(4)
