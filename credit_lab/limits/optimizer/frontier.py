"""Efficient frontier: expected profit against the expected-loss budget, with and without the competition term."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.limits.optimizer.problem import (
    LimitProblem,
    _dot,
)
from credit_lab.limits.optimizer.solver import (
    optimize_limits,
)

__all__ = [
    "CompetitionFrontier",
    "Frontier",
    "competition_frontier",
    "efficient_frontier",
]


@dataclass(frozen=True, eq=False)
class Frontier:
    """Expected profit against the EL budget, with today's portfolio for reference.

    Attributes
    ----------
    table : DataFrame
        Per budget: ``el_budget``, ``expected_profit`` (piecewise-linear optimum),
        ``expected_profit_exact`` (exact model at those limits), ``el_used``,
        ``exposure_used``, ``el_shadow_price`` (profit per extra unit of EL budget).
    current_el : float
        Expected loss of today's limits, currency units.
    current_profit : float
        Exact expected profit of today's limits, currency units.
    """

    table: pd.DataFrame
    current_el: float
    current_profit: float

    def plot(self, ax: Any = None) -> Any:
        """Draw the frontier and mark today's portfolio; returns the matplotlib axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.table["el_budget"], self.table["expected_profit"], marker="o", label="optimal limits")
        ax.scatter([self.current_el], [self.current_profit], color="C3", zorder=3, label="current limits")
        ax.set_xlabel("expected-loss budget")
        ax.set_ylabel("expected profit")
        ax.legend()
        return ax


def efficient_frontier(problem: LimitProblem, el_budgets: Sequence[float] | np.ndarray | None = None,
                       n_points: int = 11, *, seed: int = 0, client: Any = None, partitions: int | None = None
                       ) -> Frontier:
    """Re-solve the portfolio for a range of EL budgets (all other constraints kept).

    Parameters
    ----------
    problem : LimitProblem
    el_budgets : sequence of float, optional
        Budgets, currency units. Default: ``n_points`` from the EL of the floors (the
        smallest feasible budget) to the EL used when the EL budget is removed.
    n_points : int, optional
    seed : int, optional
    client, partitions : optional
        A Dask client for every solve's whole-book passes (:func:`optimize_limits`); the same frontier.

    Returns
    -------
    Frontier
    """
    if el_budgets is None:
        el_min = _dot(problem.el_rate, problem.lower)
        free = optimize_limits(problem.with_budgets(el_budget=math.inf), seed=seed, client=client,
                               partitions=partitions)
        el_max = _dot(problem.el_rate, free.limits)
        el_budgets = np.linspace(el_min, el_max, max(int(n_points), 2))
    budgets = np.asarray(el_budgets, dtype=float)
    rows = []
    prices = None
    # Budgets in increasing order so each solve starts from its neighbour's prices.
    for budget in np.sort(budgets):
        res = optimize_limits(problem.with_budgets(el_budget=float(budget)), seed=seed, initial_prices=prices,
                              client=client, partitions=partitions)
        prices = res.prices
        used = problem.usage(res.limits)
        rows.append({"el_budget": float(budget), "expected_profit": res.objective,
                     "expected_profit_exact": float(problem.expected_profit(res.limits).sum()),
                     "el_used": used[0], "exposure_used": used[1], "el_shadow_price": res.prices[0]})
    return Frontier(table=pd.DataFrame(rows), current_el=_dot(problem.el_rate, problem.current_limit),
                    current_profit=float(problem.expected_profit(problem.current_limit).sum()))


@dataclass(frozen=True, eq=False)
class CompetitionFrontier:
    """The frontier solved with the competition term and without it, both valued the same way.

    Attributes
    ----------
    table : DataFrame
        Per ``term`` (``with competition`` / ``without``) and EL budget: ``margin_now`` (this
        period's expected profit ``a * E[min(D, L)] - k * L``), ``relationship_value_kept`` (under the
        problem's intensities, for both terms), ``total_value`` (their sum), ``el_used``, ``exposure_used``.
    """

    table: pd.DataFrame

    def plot(self, ax: Any = None) -> Any:
        """Total value (margin now + relationship value kept) against the EL budget, one line per term."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for term, part in self.table.groupby("term", sort=False):
            ax.plot(part["el_budget"], part["total_value"], marker="o", label=f"limits set {term}")
        ax.set_xlabel("expected-loss budget")
        ax.set_ylabel("margin now + relationship value kept")
        ax.legend()
        return ax


def competition_frontier(problem: LimitProblem, el_budgets: Sequence[float] | np.ndarray | None = None,
                         n_points: int = 11, *, seed: int = 0, client: Any = None, partitions: int | None = None
                         ) -> CompetitionFrontier:
    """Re-solve the portfolio for a range of EL budgets with the competition term and without it.

    Both sets of limits are valued under ``problem``'s intensities, so at each budget the gap in
    ``relationship_value_kept`` is what weighing competition keeps and the gap in ``margin_now`` what
    it costs this period. Default budgets: ``n_points`` from the EL of the floors to the larger of
    the two unconstrained ELs. ``client``, ``partitions``: as for :func:`efficient_frontier`.

    Returns
    -------
    CompetitionFrontier
    """
    plain = problem.without_competition()
    if el_budgets is None:
        el_min = _dot(problem.el_rate, problem.lower)
        el_max = max(_dot(problem.el_rate, optimize_limits(p.with_budgets(el_budget=math.inf), seed=seed,
                                                           client=client, partitions=partitions).limits)
                     for p in (problem, plain))
        el_budgets = np.linspace(el_min, el_max, max(int(n_points), 2))
    budgets = np.sort(np.asarray(el_budgets, dtype=float))
    rows = []
    for term, solved in (("with competition", problem), ("without", plain)):
        prices = None
        for budget in budgets:
            res = optimize_limits(solved.with_budgets(el_budget=float(budget)), seed=seed, initial_prices=prices,
                                  client=client, partitions=partitions)
            prices = res.prices
            used = problem.usage(res.limits)
            now = float(problem.margin_now(res.limits).sum())
            kept = float(problem.relationship_value_kept(res.limits).sum())
            rows.append({"term": term, "el_budget": float(budget), "margin_now": now, "relationship_value_kept": kept,
                         "total_value": now + kept, "el_used": used[0], "exposure_used": used[1]})
    return CompetitionFrontier(table=pd.DataFrame(rows))
