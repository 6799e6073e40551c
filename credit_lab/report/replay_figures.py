"""Figures of the limit policy replay (:mod:`credit_lab.limits.replay_frontier`).

Like :mod:`credit_lab.report.figures`: an optional ``ax``, no ``plt.show()``, the figure returned.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["fig_replay_expected_vs_walked", "fig_replay_frontier"]


def _axes(ax=None, figsize=(7, 4)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def fig_replay_frontier(frontier: pd.DataFrame, ax=None) -> plt.Figure:
    """Bad debt against blocked margin for each EL budget, from history; today's policy marked.

    ``frontier`` is :func:`credit_lab.limits.replay_frontier.frontier_table`.
    """
    fig, ax = _axes(ax)
    family = frontier.loc[~frontier["is_current"]].sort_values("el_budget_vs_current")
    ax.plot(family["lost_margin"] / 1e6, family["bad_debt"] / 1e6, marker="o", color="#3b6ea5",
            label="optimizer at each EL budget")
    for _, row in family.iterrows():
        ax.annotate(f"{row['el_budget_vs_current']:g}x EL", (row["lost_margin"] / 1e6, row["bad_debt"] / 1e6),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
    current = frontier.loc[frontier["is_current"]]
    if len(current):
        ax.scatter(current["lost_margin"] / 1e6, current["bad_debt"] / 1e6, color="C3", zorder=3,
                   label=str(current["policy"].iloc[0]))
    ax.set_xlabel("margin on blocked orders, millions")
    ax.set_ylabel("bad debt, millions")
    ax.set_title("What less bad debt would have cost in sales (replayed on history)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_replay_expected_vs_walked(table: pd.DataFrame, policy: str, ax=None) -> plt.Figure:
    """The model's expected loss and the walked loss per review period for one policy.

    ``table`` is :func:`credit_lab.limits.replay_frontier.expected_vs_walked`.
    """
    fig, ax = _axes(ax, figsize=(8, 4))
    rows = table.loc[table["policy"] == policy].sort_values("review_date")
    ax.plot(rows["review_date"], rows["expected_loss"] / 1e6, marker=".", label="model's expected loss")
    ax.plot(rows["review_date"], rows["walked_loss"] / 1e6, marker=".", label="loss in the replay")
    ax.set_ylabel("loss per month, millions")
    ax.set_title(f"Expected against replayed loss: {policy}")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return fig
