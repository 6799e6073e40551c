"""Optimal limits with their shadow prices and the constraint that decided each limit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from credit_lab.limits.optimizer.pricing import (
    _core_of,
    _remaining_capacity,
)
from credit_lab.limits.optimizer.problem import (
    _CODE,
    _LABELS,
    LimitProblem,
    _dot,
)
from credit_lab.limits.optimizer.profit import (
    demand_survival,
)

__all__ = [
    "LimitResult",
]


@dataclass(frozen=True, eq=False)
class LimitResult:
    """Optimal limits with the constraint that decided each one and the shadow prices.

    Attributes
    ----------
    limits : ndarray
        Optimal limits, currency units.
    objective : float
        Total piecewise-linear expected profit, currency units.
    decided_by : ndarray of str
        Key of ``DECIDED_BY`` per customer.
    decided_by_constraint : ndarray of str
        As ``decided_by`` but naming the coupling row (e.g. ``industry_cap[retail]``).
    constraints : DataFrame
        One row per active coupling constraint: ``kind``, ``budget``, ``used``, ``slack``,
        ``binding``, ``shadow_price`` (profit per extra currency unit of budget); then one row
        ``strategic_floor[<id>]`` per strategic customer: ``budget`` = the floor asked for, ``used``
        = the limit, ``slack`` = limit - floor (negative where a hard cap won), ``shadow_price`` =
        objective gained per currency unit the floor is lowered (its reduced cost: the priced use of
        the coupling rows minus the exact marginal objective at the floor; 0 unless it binds).
    prices : ndarray
        Dual value of every row in ``problem.row_names`` order (0 where no budget).
    dual_bound : float
        Lagrangian upper bound at ``prices``; equals ``objective`` at an exact optimum.
    solver : str
    seconds : float
        Wall time of the solve, seconds.
    stats : list of dict
        Per-round log (sifting) or solver info (HiGHS).
    problem : LimitProblem

    Notes
    -----
    ``decided_by`` is assigned in this order (later rules win):

    1. ``profit_optimum`` by default (the limit sits at ``clip(L*, lower, upper)``);
    2. a limit below its bounded optimum is held back by a coupling row: the one with the
       largest priced use ``shadow_price_r * a_ir`` for that customer;
    3. a limit resting on a positive floor is attributed to the floor's source
       (``change_cap`` or ``grade_bound``), even if a budget pushes it down too;
    4. a limit at its upper bound that wants at least that much is attributed to the cap
       that set the bound (the demand-capacity cap counts as ``profit_optimum``);
    5. ``pd_cutoff`` above the cut-off;
    6. a ``profit_optimum`` limit more than 1 % above the customer's bounded optimum without the
       competition term (``problem.optimum_without_retention``) is ``relationship_value``: the
       retention term, not this period's margin, set it.
    """

    limits: np.ndarray
    objective: float
    decided_by: np.ndarray
    decided_by_constraint: np.ndarray
    constraints: pd.DataFrame
    prices: np.ndarray
    dual_bound: float
    solver: str
    seconds: float
    stats: list[dict]
    problem: LimitProblem = field(repr=False)

    @property
    def shadow_prices(self) -> dict[str, float]:
        """Shadow price of every active coupling constraint, profit per currency unit of budget."""
        return self.constraints["shadow_price"].to_dict()

    @property
    def binding(self) -> pd.DataFrame:
        """The binding coupling constraints with their shadow prices."""
        return self.constraints[self.constraints["binding"]]

    @property
    def duality_gap(self) -> float:
        """Relative gap between the Lagrangian bound and the objective (0 at an exact optimum)."""
        return (self.dual_bound - self.objective) / max(1.0, abs(self.objective))

    def to_frame(self) -> pd.DataFrame:
        """One row per customer: limits, bounds, driver and profit, indexed by customer id."""
        p = self.problem
        return pd.DataFrame({
            "current_limit": p.current_limit, "lower": p.lower, "upper": p.upper,
            "profit_optimum": p.profit_optimum, "limit": self.limits,
            "limit_change": self.limits - p.current_limit,
            "decided_by": self.decided_by, "decided_by_constraint": self.decided_by_constraint,
            "bound_conflict": p.bound_conflict, "expected_loss": p.el_rate * self.limits,
            "expected_profit_pwl": p.piecewise_value(self.limits),
        }, index=pd.Index(p.customer_ids, name="customer_id"))


#: a limit counts as set by the retention term when it is this share above its optimum without it
_RETENTION_MATERIAL = 0.01


def _strategic_floors(problem: LimitProblem, limits: np.ndarray, pi: np.ndarray) -> pd.DataFrame:
    """One constraint row per strategic customer, the floor's shadow price being its reduced cost."""
    asked = problem.strategic_floor
    rows = np.flatnonzero(~np.isnan(asked) & (asked > 0))
    lo, hi = problem.lower[rows], problem.upper[rows]
    tol = 1e-9 * np.maximum(1.0, hi)
    in_force = (problem.lower_source[rows] == _CODE["strategic_floor"]) & (lo >= asked[rows] - tol)
    at_floor = in_force & (limits[rows] <= lo + tol)
    # Raising the floor by one unit forces one more unit of limit: it earns the exact marginal
    # objective at the floor and uses the coupling rows, which the others give up at their prices.
    marginal = (problem.margin_rate[rows] * demand_survival(lo, problem.mean_demand[rows], problem.demand_cv[rows])
                - problem.risk_cost[rows])
    priced = _core_of(problem).price(pi)[rows]
    shadow = np.where(at_floor, np.maximum(priced - marginal, 0.0), 0.0)
    return pd.DataFrame({
        "kind": "strategic_floor", "budget": asked[rows], "used": limits[rows], "slack": limits[rows] - asked[rows],
        "binding": at_floor, "shadow_price": shadow,
    }, index=pd.Index([f"strategic_floor[{cid}]" for cid in problem.customer_ids[rows]], name="constraint"))


def _decide(problem: LimitProblem, limits: np.ndarray, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi, opt = problem.lower, problem.upper, problem.profit_optimum
    tol = 1e-9 * np.maximum(1.0, hi)
    ni = len(problem.industry_names)
    # The most expensive priced resource per customer names the budget that holds it back.
    best = pi[0] * problem.el_rate
    which = np.zeros(limits.shape[0], dtype=np.int8)
    for j, price in ((1, np.float64(pi[1])), (2, pi[2:2 + ni][problem.industry_code]),
                     (3, pi[2 + ni:][problem.region_code])):
        better = price > best
        best = np.where(better, price, best)
        which[better] = j
    kind_code = np.array([_CODE["el_budget"], _CODE["exposure_budget"], _CODE["industry_cap"], _CODE["region_cap"]])
    code = np.full(limits.shape[0], _CODE["profit_optimum"], dtype=np.int8)
    wanted_more = (limits < opt - tol) & (best > 0)
    code[wanted_more] = kind_code[which[wanted_more]]
    # A limit resting on a positive floor is attributed to the floor, even when a budget
    # would push it lower: the floor is what holds it there.
    on_floor = (limits <= lo + tol) & (lo > tol) & (problem.lower_source >= 0)
    code[on_floor] = problem.lower_source[on_floor]
    on_cap = (limits >= hi - tol) & (opt >= hi - tol)
    code[on_cap] = problem.upper_source[on_cap]
    plain = problem.optimum_without_retention
    retained = ((code == _CODE["profit_optimum"]) & (problem.retention_margin > 0)
                & (limits > plain * (1.0 + _RETENTION_MATERIAL) + tol))
    code[retained] = _CODE["relationship_value"]
    decided = np.array(_LABELS, dtype=object)[code]
    detailed = decided.copy()
    by_row = np.flatnonzero(wanted_more & ~on_floor & ~on_cap)
    if by_row.size:
        w = which[by_row]
        row = np.where(w == 0, 0, np.where(w == 1, 1, np.where(w == 2, 2 + problem.industry_code[by_row],
                                                                  2 + ni + problem.region_code[by_row])))
        detailed[by_row] = np.array(problem.row_names, dtype=object)[row]
    return decided, detailed


def _make_result(problem: LimitProblem, x: np.ndarray, pi: np.ndarray, solver: str, t0: float,
                 stats: list[dict]) -> LimitResult:
    active = np.isfinite(problem.rhs)
    lo, hi = problem.lower, problem.upper
    x = np.clip(x, 0.0, problem.widths)
    limits = np.minimum(np.maximum(lo + x.sum(axis=1), lo), hi)
    used = problem.usage(limits)
    rhs = problem.rhs
    scale = np.maximum(1.0, np.abs(np.where(active, rhs, 0.0)))
    over = active & (used - rhs > 1e-12 * scale)
    core = _core_of(problem)
    if over.any():
        # Solver round-off: take the excess back from the limits above their floor in the
        # overflowing rows (every row uses >= 0 per unit, so no other row gets worse).
        for r in np.flatnonzero(over):
            flag = np.zeros(rhs.shape[0], dtype=bool)
            flag[r] = True
            in_row = core.touches(flag)
            coef = problem.el_rate if r == 0 else np.ones_like(lo)
            headroom = np.where(in_row, (limits - lo) * coef, 0.0)
            excess = problem.usage(limits)[r] - rhs[r] * (1.0 - 1e-13)
            if excess > 0 and headroom.sum() > 0:
                frac = min(1.0, excess / headroom.sum())
                limits = np.where(in_row, limits - frac * (limits - lo), limits)
        used = problem.usage(limits)
    objective = float(problem.pieces.base_value.sum() + (problem.pieces.slopes * x).sum())
    if over.any():
        objective = float(problem.piecewise_value(limits).sum())
    cap, _ = _remaining_capacity(problem)
    reduced = problem.pieces.slopes - core.price(pi)[:, None]
    dual_bound = float(problem.pieces.base_value.sum() + _dot(pi[active], cap[active])
                       + (problem.widths * np.maximum(reduced, 0.0)).sum())
    decided, detailed = _decide(problem, limits, pi)
    rows = np.flatnonzero(active)
    slack = rhs[rows] - used[rows]
    binding = (slack <= 1e-7 * scale[rows]) | (pi[rows] > 0)
    constraints = pd.DataFrame({
        "kind": [problem.row_kinds[r] for r in rows], "budget": rhs[rows], "used": used[rows], "slack": slack,
        "binding": binding, "shadow_price": pi[rows],
    }, index=pd.Index([problem.row_names[r] for r in rows], name="constraint"))
    floors = _strategic_floors(problem, limits, pi)
    if len(floors):
        constraints = pd.concat([constraints, floors]) if len(constraints) else floors
    return LimitResult(limits=limits, objective=objective, decided_by=decided, decided_by_constraint=detailed,
                       constraints=constraints, prices=pi, dual_bound=dual_bound, solver=solver,
                       seconds=time.perf_counter() - t0,
                       stats=stats, problem=problem)
