"""Sections of the policy replay report (stage 07): what each policy would have done on the ledger's history.

Each function takes the stage's :class:`~credit_lab.run.stages.s07_replay.ReplayStageResult` and
returns what a notebook cell shows (through :func:`credit_lab.report.sections.show`): tables,
figures and sentences built from the same tables the stage wrote to ``data/replay_*``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from IPython.display import Markdown

from credit_lab.core.formatting import money, percent
from credit_lab.report.replay_figures import fig_replay_expected_vs_walked, fig_replay_frontier
from credit_lab.report.tables import long_table

__all__ = ["calibration_section", "customers_table", "frontier_section", "models_table", "policy_table",
           "replay_headline", "replay_notes", "same_limits_note"]

#: the comparison's columns, in reading order, with the names the report shows
_COLUMNS = {
    "bad_debt": "bad debt", "mitigated": "covered by mitigation", "net_bad_debt": "net bad debt",
    "net_bad_debt_low": "net bad debt, low", "net_bad_debt_high": "net bad debt, high",
    "orders_blocked": "orders blocked", "blocked_sales": "blocked sales", "lost_margin": "margin lost",
    "lost_margin_low": "margin lost, low", "lost_margin_high": "margin lost, high", "served_sales": "served sales",
    "average_exposure": "average exposure", "average_capital": "average capital", "limit_changes": "limit changes",
    "profit": "profit", "profit_low": "profit, low", "profit_high": "profit, high",
}


_FRONTIER_COLUMNS = {
    "el_budget_vs_current": "risk budget", "bad_debt": "bad debt", "lost_margin": "margin lost",
    "blocked_sales": "blocked sales", "served_sales": "served sales", "profit": "profit",
    "margin_per_bad_debt_avoided": "margin lost per unit of bad debt avoided (to the next looser budget)",
    "bad_debt_avoided": "bad debt avoided vs today", "margin_lost_extra": "extra margin lost vs today",
}


def replay_headline(stage: Any) -> Markdown:
    """The window, the policies, the PD model and today's policy, in two lines."""
    r = stage.result
    s = r.settings
    models = r.models if r.models is not None else pd.DataFrame()
    method = (", ".join(sorted(models["method"].astype(str).unique())) if "method" in models and len(models)
              else "none")
    serve = "served up to the headroom" if s.partial_service else "blocked whole"
    lgd = "each invoice's own shortfall" if s.lgd is None else percent(s.lgd)
    return Markdown(
        f"**Window:** {len(r.reviews)} monthly reviews, {r.reviews[0].date()} to {r.end_date.date()} (exclusive) "
        f"&nbsp; **Policies:** {len(r.summary)} &nbsp; **Today's policy:** {r.current_policy or 'none named'}  \n"
        f"**PD model:** {s.model} ({len(models)} fitted; method {method}) &nbsp; **Orders beyond the limit:** {serve} "
        f"&nbsp; **Loss given default:** {lgd} "
        f"&nbsp; **Gross margin:** {percent(s.gross_margin)} &nbsp; **Intervals:** {percent(s.confidence, digits=0)} "
        f"bootstrap over customers ({s.bootstrap_samples:,} draws, seed {s.seed})")


def replay_notes(stage: Any) -> list[Markdown]:
    """The stage's notes (window fitted to the ledger, missing history), one line each."""
    return [Markdown(f"**Note:** {n}") for n in stage.notes]


def policy_table(stage: Any) -> pd.DataFrame:
    """Every policy side by side: bad debt (gross, covered, net), what it blocked, exposure, capital, profit."""
    summary = stage.result.summary
    cols = [c for c in _COLUMNS if c in summary.columns]
    table = summary[cols].rename(columns=_COLUMNS)
    table.index.name = "policy"
    return table


def _identical_groups(stage: Any) -> list[list[str]]:
    limits = stage.result.limits
    groups: list[list[str]] = []
    for name, frame in limits.items():
        for group in groups:
            other = limits[group[0]]
            if len(other) == len(frame) and np.array_equal(other["limit"].to_numpy(), frame["limit"].to_numpy()) \
                    and other["customer_id"].equals(frame["customer_id"]):
                group.append(name)
                break
        else:
            groups.append([name])
    return [g for g in groups if len(g) > 1]


def same_limits_note(stage: Any) -> Markdown | None:
    """Policies that set the very same limits at every review (e.g. EL budgets that never bind)."""
    groups = _identical_groups(stage)
    if not groups:
        return None
    said = "; ".join(" = ".join(g) for g in groups)
    return Markdown(f"**Same limits:** {said} set the same limit for every customer at every review, so their rows "
                    "agree. For optimizer budgets this means the EL budget did not bind: profit alone set those "
                    "limits.")


def frontier_section(stage: Any) -> list | Markdown:
    """Bad debt against blocked margin for the optimizer's budgets, today's policy marked, and what a unit costs."""
    frontier = stage.frontier
    if frontier is None:
        return Markdown("No optimizer family in `replay.policies` (a policy of kind `optimizer` with its budgets), "
                        "so there is no frontier to draw.")
    out: list = [fig_replay_frontier(frontier)]
    rate = frontier["margin_per_bad_debt_avoided"].dropna()
    if len(rate):
        row = frontier.loc[rate.idxmin()]
        out.append(Markdown(f"Between {row['policy']} and the next looser budget, each unit of bad debt avoided cost "
                            f"**{rate.min():,.2f}** of margin on blocked orders (the cheapest step)."))
    else:
        out.append(Markdown("No tighter budget avoided bad debt on this history: along the family, bad debt does not "
                            "fall as the budget tightens."))
    table = frontier.set_index("policy").drop(columns=["is_current"])
    # a multiple shown as written (a column named after the EL budget would be formatted as money)
    table["el_budget_vs_current"] = [("today's policy" if not np.isfinite(b) else f"{b:g} x today's EL")
                                     for b in table["el_budget_vs_current"].to_numpy(dtype=float)]
    out.append(table.rename(columns=_FRONTIER_COLUMNS))
    return out


def calibration_section(stage: Any) -> list:
    """The model's expected loss against the replayed loss, per policy and per month for today's policy."""
    totals = stage.calibration_totals.rename(columns={"expected_loss": "model's expected loss",
                                                      "walked_loss": "replayed loss",
                                                      "walked_vs_expected": "replayed / expected"})
    current = stage.result.current_policy or stage.calibration["policy"].iloc[0]
    row = stage.calibration_totals.loc[current]
    ratio = row["walked_vs_expected"]
    walk = stage.result.walks[current]
    ead = float(walk["exposure_at_default"].sum())
    realised = (f" The realised loss was {percent(float(walk['loss'].sum()) / ead)} of the exposure at default, "
                f"against the LGD of {percent(stage.lgd)} the expected loss uses." if ead > 0 else "")
    verdict = ("" if not np.isfinite(ratio) else
               f" The replay lost **{ratio:.2f}x** what the model expected on the same exposure "
               f"({money(row['walked_loss'])} against {money(row['expected_loss'])}, at LGD {percent(stage.lgd)}): "
               + ("the chain from PD to loss understates this history's losses." if ratio > 1.25 else
                  "the chain overstates this history's losses." if ratio < 0.8 else
                  "the chain agrees with this history within a quarter.") + realised)
    return [Markdown(f"Expected loss: each review's PD (over the month) x LGD x the exposure the policy held; "
                     f"replayed loss: what the walk left unpaid at default.{verdict}"),
            fig_replay_expected_vs_walked(stage.calibration, current), totals]


def models_table(stage: Any) -> pd.DataFrame | Markdown:
    """The PD models the replay fitted: when, how, on how much."""
    models = stage.result.models
    if models is None or not len(models):
        return Markdown("No PD model was fitted.")
    return models.drop(columns="seconds", errors="ignore")  # times are in the run's log: reruns stay identical


def customers_table(stage: Any) -> Any:
    """The per-customer totals of every policy (bounded; the file holds all)."""
    frame = stage.result.by_customer.sort_values(["policy", "net_bad_debt"], ascending=[True, False])
    return long_table(frame, name="replay-customers", files=["data/replay_by_customer.parquet"],
                      what="policy and customer rows")
