"""Efficient frontier: expected profit against the expected-loss budget."""

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
    "Frontier",
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
                       n_points: int = 11, *, seed: int = 0) -> Frontier:
    """Re-solve the portfolio for a range of EL budgets (all other constraints kept).

    Parameters
    ----------
    problem : LimitProblem
    el_budgets : sequence of float, optional
        Budgets, currency units. Default: ``n_points`` from the EL of the floors (the
        smallest feasible budget) to the EL used when the EL budget is removed.
    n_points : int, optional
    seed : int, optional

    Returns
    -------
    Frontier
    """
    if el_budgets is None:
        el_min = _dot(problem.el_rate, problem.lower)
        free = optimize_limits(problem.with_budgets(el_budget=math.inf), seed=seed)
        el_max = _dot(problem.el_rate, free.limits)
        el_budgets = np.linspace(el_min, el_max, max(int(n_points), 2))
    budgets = np.asarray(el_budgets, dtype=float)
    rows = []
    prices = None
    # Budgets in increasing order so each solve starts from its neighbour's prices.
    for budget in np.sort(budgets):
        res = optimize_limits(problem.with_budgets(el_budget=float(budget)), seed=seed, initial_prices=prices)
        prices = res.prices
        used = problem.usage(res.limits)
        rows.append({"el_budget": float(budget), "expected_profit": res.objective,
                     "expected_profit_exact": float(problem.expected_profit(res.limits).sum()),
                     "el_used": used[0], "exposure_used": used[1], "el_shadow_price": res.prices[0]})
    return Frontier(table=pd.DataFrame(rows), current_el=_dot(problem.el_rate, problem.current_limit),
                    current_profit=float(problem.expected_profit(problem.current_limit).sum()))
