"""Credit limits as an exact portfolio optimization.

Profit model (one customer, limit ``L`` in currency units)
----------------------------------------------------------
The customer's purchase need ``D`` over its payment terms is lognormal with mean
``mean_demand`` and coefficient of variation ``demand_cv``. Sales are capped by the
limit, so expected sales are ``S(L) = E[min(D, L)]`` and ``S'(L) = P(D > L)``.

    profit(L) = a * S(L) - k * L
    a = gross_margin - cost_of_funds_rate * collection_days / 365     (net margin per unit sold)
    k = PD * LGD * ccf + capital_rate * ul_rate                          (risk cost per unit of limit)

Exposure at default is taken as ``EAD(L) = ccf * L`` (the committed-limit view: a
customer that defaults draws ``ccf`` of its whole limit). That keeps expected loss
linear in the limit, ``EL(L) = el_rate * L`` with ``el_rate = PD * LGD * ccf``, which is
exactly the quantity the portfolio's expected-loss budget constrains. Unexpected loss is
``UL(L) = ul_rate * L`` (capital per unit of limit, e.g. :func:`irb_capital_rate` times ccf).

``profit'(L) = a * P(D > L) - k`` decreases in ``L``: the model is concave. The
newsvendor first-order condition ``a * P(D > L*) = k`` gives the closed form

    L* = exp(mu - sigma * Phi^-1(k / a))     if a > k,      L* = 0 if a <= k,

with ``sigma^2 = ln(1 + cv^2)`` and ``mu = ln(mean) - sigma^2 / 2``; with bounds the
optimum is ``clip(L*, lower, upper)`` (:func:`single_customer_optimum`).

Piecewise-linear model
----------------------
Each customer gets ``K`` pieces on ``K + 1`` breakpoints in ``[lower, upper]``: the
bounds, the bounded closed-form optimum ``clip(L*, lower, upper)`` and ``K - 2`` demand
quantiles between the lower bound and that optimum, evenly spaced in probability (so the
marginal profit drops in equal steps from piece to piece). The function is exact on the
breakpoints and its slopes never increase. Because the optimum is a breakpoint, a
customer limited by nothing but its own profit gets exactly the closed form.

Portfolio LP
------------
With ``x_ij`` the part of piece ``j`` of customer ``i`` that is used (``0 <= x_ij <= w_ij``),
``L_i = lower_i + sum_j x_ij`` and

    max  sum_ij slope_ij x_ij
    s.t. sum_i el_rate_i L_i <= EL budget,  sum_i L_i <= exposure budget,
         sum_{i in industry} L_i <= industry cap,  sum_{i in region} L_i <= region cap.

Every unit of limit of a customer uses the same resources whatever the piece, so any
optimum fills a customer's pieces in order and ``L`` is the concave interpolant's optimum.

Algorithm of :func:`optimize_limits`
------------------------------------
The ~17 coupling rows are priced by Lagrange multipliers ``pi``; at given prices every
piece is decided by the sign of its reduced cost ``slope - pi . a_i`` (``a_i`` the
customer's use of each row): the Lagrangian is separable. Only pieces whose reduced cost
is ~0 at the optimal prices are undecided (generically at most one per binding row). So:

1. *Estimate* the prices on a random 1/10 sample of customers with the budgets scaled to
   the sample's share (recursively, down to ~1,000 customers, which are solved directly).
2. *Refine* them on a band of the pieces with the smallest ``|reduced cost|`` (the rest
   fixed at 0 or full width): projected Newton steps on the smoothed dual
   ``pi . b + sum w * tau * softplus((slope - pi . a) / tau)``, ``tau`` shrinking tenfold per
   stage. The dual is 17-dimensional and its Hessian is a sum over the 10 x 5
   (industry, region) cells, so each step is a few vectorized passes over the band.
3. *Solve exactly*: keep the few hundred pieces with the smallest ``|reduced cost|`` as a
   working set, fix every other piece at 0 or full width, solve the LP over the working
   set (HiGHS dual simplex) with the capacities the fixed pieces leave, and price every
   piece with that LP's duals. A fixed piece whose reduced cost has the wrong sign joins
   the working set and the small LP is solved again (sifting / column generation).

It stops when no piece violates its optimality condition: the fixed pieces are then
dual-feasible, the working-set LP is optimal, and together they satisfy the full LP's KKT
conditions - an exact optimum (to HiGHS's 1e-9 tolerances), not an approximation. Steps 1
and 2 only decide how small the working set can be. The working-set duals are the
shadow prices; the gap to the Lagrangian bound at those prices is reported as a
certificate (:attr:`LimitResult.duality_gap`).

Errors derive from :class:`credit_lab.core.exceptions.CreditLabError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.special import ndtr, ndtri

from credit_lab.risk.loss_distribution import irb_capital_rate
from credit_lab.core.exceptions import CreditLabError

__all__ = [
    "DECIDED_BY",
    "Frontier",
    "InfeasibleLimitsError",
    "LimitPolicy",
    "LimitProblem",
    "LimitResult",
    "OptimizationInputError",
    "PiecewiseProfit",
    "SolverError",
    "build_problem",
    "constraint_violations",
    "demand_survival",
    "efficient_frontier",
    "expected_profit",
    "expected_sales",
    "irb_capital_rate",
    "lognormal_params",
    "net_margin_rate",
    "optimize_limits",
    "piecewise_profit",
    "risk_cost_rate",
    "single_customer_optimum",
    "solve_with_highs",
    "synthetic_limit_inputs",
]

DECIDED_BY = {
    "profit_optimum": "capacity/profit optimum: one more unit of limit earns less than it costs in risk, "
                      "or the limit already covers its plausible purchase need",
    "el_budget": "the portfolio expected-loss budget (risk appetite) is used up",
    "exposure_budget": "the total exposure budget is used up",
    "industry_cap": "the exposure cap of its industry is used up",
    "region_cap": "the exposure cap of its region is used up",
    "single_name_cap": "the single-name cap (share of own equity)",
    "change_cap": "the maximum change per review relative to today's limit",
    "insurer_cap": "the credit insurer's cap",
    "grade_bound": "the minimum or maximum limit of its risk grade",
    "pd_cutoff": "its PD is above the cut-off: limit 0",
}
_LABELS = tuple(DECIDED_BY)
_CODE = {name: np.int8(i) for i, name in enumerate(_LABELS)}
_NO_SOURCE = np.int8(-1)
_DAYS_PER_YEAR = 365.0


class OptimizationInputError(CreditLabError, ValueError):
    """Inputs of the limit optimization are missing, malformed or out of range."""


class InfeasibleLimitsError(CreditLabError, ValueError):
    """The limits' floors alone already break a portfolio budget or cap."""


class SolverError(CreditLabError, RuntimeError):
    """An LP solve failed or did not converge."""


# ---------------------------------------------------------------------------
# Profit model
# ---------------------------------------------------------------------------

def lognormal_params(mean_demand: Any, demand_cv: Any) -> tuple[np.ndarray, np.ndarray]:
    """Log-scale parameters ``(mu, sigma)`` of a lognormal with the given mean and CV.

    Parameters
    ----------
    mean_demand : array_like
        Mean purchase need over the payment terms, currency units, > 0.
    demand_cv : array_like
        Coefficient of variation of the need (std / mean), dimensionless, > 0.

    Returns
    -------
    mu, sigma : ndarray
        ``ln D ~ Normal(mu, sigma^2)``.
    """
    mean = np.asarray(mean_demand, dtype=float)
    sigma2 = np.log1p(np.asarray(demand_cv, dtype=float) ** 2)
    return np.log(mean) - 0.5 * sigma2, np.sqrt(sigma2)


def _cdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return ndtr((np.log(x) - mu) / sigma)


def _survival(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return ndtr((mu - np.log(x)) / sigma)


def _quantile(u: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(mu + sigma * ndtri(u))


def _sales(x: np.ndarray, mean: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(x) - mu) / sigma
        out = mean * ndtr(z - sigma) + x * ndtr(-z)
    # inf * 0 is nan; an unlimited customer buys its whole mean need.
    return np.where(np.isinf(x), mean, out)


def demand_survival(limit: Any, mean_demand: Any, demand_cv: Any) -> np.ndarray:
    """Probability ``P(D > L)`` that the purchase need exceeds the limit.

    This is the derivative of :func:`expected_sales` with respect to the limit.

    Parameters
    ----------
    limit : array_like
        Credit limit, currency units, >= 0.
    mean_demand, demand_cv : array_like
        Mean (currency units) and coefficient of variation (dimensionless) of the need.

    Returns
    -------
    ndarray
        Probability in [0, 1].
    """
    mu, sigma = lognormal_params(mean_demand, demand_cv)
    return _survival(np.asarray(limit, dtype=float), mu, sigma)


def expected_sales(limit: Any, mean_demand: Any, demand_cv: Any) -> np.ndarray:
    """Expected sales ``E[min(D, L)]`` over the payment terms when the limit caps them.

    ``E[min(D, L)] = mean * Phi((ln L - mu - sigma^2) / sigma) + L * Phi((mu - ln L) / sigma)``.

    Parameters
    ----------
    limit : array_like
        Credit limit, currency units, >= 0 (``inf`` gives ``mean_demand``).
    mean_demand : array_like
        Mean purchase need over the payment terms, currency units, > 0.
    demand_cv : array_like
        Coefficient of variation of the need, dimensionless, > 0.

    Returns
    -------
    ndarray
        Expected sales, currency units, in ``[0, min(L, mean_demand)]``.
    """
    mu, sigma = lognormal_params(mean_demand, demand_cv)
    return _sales(np.asarray(limit, dtype=float), np.asarray(mean_demand, dtype=float), mu, sigma)


def net_margin_rate(gross_margin: Any, collection_days: Any, cost_of_funds_rate: float) -> np.ndarray:
    """Net margin ``a`` per unit of sales: gross margin less funding of the receivable.

    Parameters
    ----------
    gross_margin : array_like
        Gross margin, share of sales (0.12 = 12 %).
    collection_days : array_like
        Expected days from sale to cash, days.
    cost_of_funds_rate : float
        Annual cost of funds, per year (0.05 = 5 %).

    Returns
    -------
    ndarray
        ``gross_margin - cost_of_funds_rate * collection_days / 365``, per unit of sales.
    """
    return (np.asarray(gross_margin, dtype=float)
            - cost_of_funds_rate * np.asarray(collection_days, dtype=float) / _DAYS_PER_YEAR)


def risk_cost_rate(pd_: Any, lgd: Any, ul_rate: Any, capital_rate: float, ccf: Any = 1.0) -> np.ndarray:
    """Risk cost ``k`` per unit of limit: expected loss plus the cost of capital.

    Parameters
    ----------
    pd_ : array_like
        Probability of default over the horizon, in [0, 1].
    lgd : array_like
        Loss given default, share of EAD, in [0, 1].
    ul_rate : array_like
        Unexpected loss (capital) per unit of limit, currency per currency.
    capital_rate : float
        Required return on capital, per year.
    ccf : array_like, optional
        Credit conversion factor: share of the limit drawn at default (``EAD = ccf * L``).

    Returns
    -------
    ndarray
        ``pd * lgd * ccf + capital_rate * ul_rate``, currency per currency of limit.
    """
    return (np.asarray(pd_, dtype=float) * np.asarray(lgd, dtype=float) * np.asarray(ccf, dtype=float)
            + capital_rate * np.asarray(ul_rate, dtype=float))


def expected_profit(limit: Any, mean_demand: Any, demand_cv: Any, net_margin: Any, risk_cost: Any) -> np.ndarray:
    """Exact expected profit ``a * E[min(D, L)] - k * L`` of a limit.

    Parameters
    ----------
    limit : array_like
        Credit limit, currency units.
    mean_demand, demand_cv : array_like
        Mean (currency units) and CV (dimensionless) of the purchase need.
    net_margin : array_like
        ``a`` of :func:`net_margin_rate`, per unit of sales.
    risk_cost : array_like
        ``k`` of :func:`risk_cost_rate`, per unit of limit.

    Returns
    -------
    ndarray
        Expected profit over the payment terms, currency units.
    """
    lim = np.asarray(limit, dtype=float)
    return (np.asarray(net_margin, dtype=float) * expected_sales(lim, mean_demand, demand_cv)
            - np.asarray(risk_cost, dtype=float) * lim)


def _closed_form(mu: np.ndarray, sigma: np.ndarray, a: np.ndarray, k: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # -ndtri(p) rather than ndtri(1 - p): keeps precision when k / a is tiny.
        interior = np.exp(mu - sigma * ndtri(k / a))
    return np.where(a > k, interior, 0.0)


def single_customer_optimum(mean_demand: Any, demand_cv: Any, net_margin: Any, risk_cost: Any,
                            lower: Any = 0.0, upper: Any = np.inf) -> np.ndarray:
    """Closed-form profit-maximizing limit of one customer on its own.

    Solves the newsvendor condition ``a * P(D > L*) = k``:
    ``L* = exp(mu - sigma * Phi^-1(k / a))`` when ``a > k`` (else ``L* = 0``;
    ``k = 0 < a`` gives ``inf``), then ``clip(L*, lower, upper)``, which is optimal
    because the profit is concave.

    Parameters
    ----------
    mean_demand, demand_cv : array_like
        Mean (currency units) and CV (dimensionless) of the purchase need.
    net_margin : array_like
        ``a``, per unit of sales.
    risk_cost : array_like
        ``k`` >= 0, per unit of limit.
    lower, upper : array_like, optional
        Bounds on the limit, currency units.

    Returns
    -------
    ndarray
        Optimal limit, currency units.
    """
    mu, sigma = lognormal_params(mean_demand, demand_cv)
    a = np.asarray(net_margin, dtype=float)
    k = np.asarray(risk_cost, dtype=float)
    return np.clip(_closed_form(mu, sigma, a, k), lower, upper)


@dataclass(frozen=True, eq=False)
class PiecewiseProfit:
    """Concave piecewise-linear expected profit, one row per customer.

    Attributes
    ----------
    breakpoints : ndarray, shape (n, K + 1)
        Non-decreasing limits, currency units; first = lower bound, last = upper bound.
    slopes : ndarray, shape (n, K)
        Profit per unit of limit on each piece, non-increasing along a row.
    base_value : ndarray, shape (n,)
        Exact expected profit at the lower bound, currency units.
    """

    breakpoints: np.ndarray
    slopes: np.ndarray
    base_value: np.ndarray

    @property
    def widths(self) -> np.ndarray:
        """Piece widths, currency units, shape (n, K)."""
        return np.diff(self.breakpoints, axis=1)

    def value(self, limits: Any) -> np.ndarray:
        """Piecewise-linear profit at ``limits`` (clipped into the breakpoints' range), currency units."""
        lim = np.asarray(limits, dtype=float)[:, None]
        filled = np.clip(lim - self.breakpoints[:, :-1], 0.0, self.widths)
        return self.base_value + (self.slopes * filled).sum(axis=1)


def _pieces(mean: np.ndarray, mu: np.ndarray, sigma: np.ndarray, a: np.ndarray, k: np.ndarray,
            lower: np.ndarray, upper: np.ndarray, optimum: np.ndarray, n_pieces: int) -> PiecewiseProfit:
    n, K = mean.shape[0], n_pieces
    bp = np.empty((n, K + 1))
    bp[:, 0] = lower
    bp[:, K - 1] = optimum
    bp[:, K] = upper
    if K > 2:
        f_lo = _cdf(lower, mu, sigma)
        f_opt = _cdf(optimum, mu, sigma)
        steps = np.arange(1, K - 1) / (K - 1)
        u = f_lo[:, None] + steps[None, :] * (f_opt - f_lo)[:, None]
        inner = _quantile(u, mu[:, None], sigma[:, None])
        bp[:, 1:K - 1] = np.clip(inner, lower[:, None], optimum[:, None])
        del u, inner
    # Rounding in cdf/quantile must never reorder breakpoints.
    np.maximum.accumulate(bp, axis=1, out=bp)
    mean2, mu2, sig2 = mean[:, None], mu[:, None], sigma[:, None]
    sales = _sales(bp, mean2, mu2, sig2)
    surv = _survival(bp, mu2, sig2)
    width = np.diff(bp, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        avg = np.diff(sales, axis=1) / width
    # The mean survival over a piece lies between its end values; clipping to them keeps
    # the slopes non-increasing even where sales differences lose digits to cancellation.
    avg = np.where(width > 0, avg, surv[:, 1:])
    avg = np.clip(avg, surv[:, 1:], surv[:, :-1])
    slopes = a[:, None] * avg - k[:, None]
    # a < 0 makes a*S convex; such customers have optimum = lower bound, so only the last
    # piece has width and giving every piece its slope keeps the function concave.
    slopes = np.where(a[:, None] < 0, slopes[:, -1:], slopes)
    base = a * sales[:, 0] - k * lower
    return PiecewiseProfit(breakpoints=bp, slopes=slopes, base_value=base)


def piecewise_profit(mean_demand: Any, demand_cv: Any, net_margin: Any, risk_cost: Any,
                     lower: Any, upper: Any, n_pieces: int = 5) -> PiecewiseProfit:
    """Concave piecewise-linear approximation of :func:`expected_profit` on ``[lower, upper]``.

    Breakpoints: the bounds, the bounded closed-form optimum and ``n_pieces - 2`` demand
    quantiles between the lower bound and that optimum, evenly spaced in probability.
    Exact on every breakpoint; slopes non-increasing.

    Parameters
    ----------
    mean_demand, demand_cv : array_like
        Mean (currency units) and CV (dimensionless) of the purchase need, > 0.
    net_margin, risk_cost : array_like
        ``a`` per unit of sales and ``k`` per unit of limit.
    lower, upper : array_like
        Finite bounds with ``lower <= upper``, currency units.
    n_pieces : int, optional
        Pieces per customer, >= 2.

    Returns
    -------
    PiecewiseProfit
    """
    mean = np.atleast_1d(np.asarray(mean_demand, dtype=float))
    n = mean.shape[0]
    arr = [np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
           for v in (demand_cv, net_margin, risk_cost, lower, upper)]
    cv, a, k, lo, hi = arr
    if int(n_pieces) != n_pieces or n_pieces < 2:
        raise OptimizationInputError(f"n_pieces = {n_pieces!r}: need an integer >= 2 so the optimum can be a "
                                     f"breakpoint; pass e.g. n_pieces=5.")
    if not (np.all(np.isfinite(hi)) and np.all(lo <= hi)):
        raise OptimizationInputError("piecewise_profit needs finite bounds with lower <= upper for every customer; "
                                     "cap the upper bound (e.g. at a high demand quantile).")
    mu, sigma = lognormal_params(mean, cv)
    opt = np.clip(_closed_form(mu, sigma, a, k), lo, hi)
    return _pieces(mean, mu, sigma, a, k, lo, hi, opt, int(n_pieces))


# ---------------------------------------------------------------------------
# Problem
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LimitPolicy:
    """Company-level settings of the limit optimization.

    Attributes
    ----------
    el_budget : float
        Portfolio expected-loss budget (risk appetite), currency units; ``inf`` = none.
    exposure_budget : float
        Total of all limits, currency units; ``inf`` = none.
    industry_caps, region_caps : mapping of str to float
        Total of the limits in an industry / region, currency units; unnamed = uncapped.
    own_equity : float
        The company's own equity, currency units.
    single_name_pct : float
        Single-name cap as a share of ``own_equity`` (cap = own_equity * single_name_pct).
    grade_bounds : mapping of str to (float, float)
        Minimum and maximum limit per risk grade, currency units. When given, every grade
        in the data must be listed.
    max_change : float or None
        Largest relative change per review: ``L`` in ``[(1 - c) * current, (1 + c) * current]``
        for customers with a current limit > 0. New customers (current 0) are not banded.
        ``None`` switches the band off.
    max_decrease : float or None
        When set, replaces ``max_change`` for reductions only: ``L >= (1 - max_decrease) *
        current`` (1.0 lifts the lower edge of the band, e.g. when the risk budget needs
        larger cuts than the band allows).
    pd_cutoff : float
        PD above which the limit is 0, whatever the other bounds say.
    cost_of_funds_rate : float
        Annual funding cost of receivables, per year.
    capital_rate : float
        Required return on unexpected-loss capital, per year.
    capacity_quantile : float
        Limits are never set above this quantile of the purchase need (the demand capacity):
        more limit cannot be used.
    n_pieces : int
        Linear pieces per customer, >= 2.
    """

    el_budget: float = math.inf
    exposure_budget: float = math.inf
    industry_caps: Mapping[str, float] = field(default_factory=dict)
    region_caps: Mapping[str, float] = field(default_factory=dict)
    own_equity: float = math.inf
    single_name_pct: float = 1.0
    grade_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    max_change: float | None = 0.30
    max_decrease: float | None = None
    pd_cutoff: float = 1.0
    cost_of_funds_rate: float = 0.05
    capital_rate: float = 0.10
    capacity_quantile: float = 0.999
    n_pieces: int = 5


@dataclass(frozen=True, eq=False)
class LimitProblem:
    """A validated limit-optimization instance: bounds, pieces and coupling rows.

    Build it with :func:`build_problem`. Rows are, in order: ``el_budget``,
    ``exposure_budget``, ``industry_cap[<name>]`` for every industry in the data and
    ``region_cap[<name>]`` for every region; ``rhs`` is ``inf`` where there is no budget.

    Attributes
    ----------
    customer_ids : ndarray
    mean_demand, demand_cv : ndarray
        Purchase-need distribution, currency units / dimensionless.
    net_margin : ndarray
        ``a`` per unit of sales.
    risk_cost : ndarray
        ``k`` per unit of limit.
    el_rate : ndarray
        Expected loss per unit of limit (``pd * lgd * ccf``).
    pd : ndarray
        Probability of default.
    current_limit : ndarray
        Today's limits, currency units.
    lower, upper : ndarray
        Consistent bounds after all caps, currency units (``lower <= upper``).
    requested_floor : ndarray
        The floor before caps were applied; above ``upper`` where ``bound_conflict``.
    lower_source, upper_source : ndarray of int8
        Index into ``DECIDED_BY`` of what set each bound (-1: no floor).
    bound_conflict : ndarray of bool
        The floor was above the caps; the caps won (``lower`` lowered to ``upper``).
    profit_optimum : ndarray
        ``clip(L*, lower, upper)``, the closed-form optimum within the bounds.
    pieces : PiecewiseProfit
    industry_code, region_code : ndarray of int
        Codes into ``industry_names`` / ``region_names``.
    industry_names, region_names : tuple of str
    rhs : ndarray
        Budgets of the rows, currency units; ``inf`` = no constraint.
    row_names, row_kinds : tuple of str
    policy : LimitPolicy
    """

    customer_ids: np.ndarray
    mean_demand: np.ndarray
    demand_cv: np.ndarray
    net_margin: np.ndarray
    risk_cost: np.ndarray
    el_rate: np.ndarray
    pd: np.ndarray
    current_limit: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    requested_floor: np.ndarray
    lower_source: np.ndarray
    upper_source: np.ndarray
    bound_conflict: np.ndarray
    profit_optimum: np.ndarray
    pieces: PiecewiseProfit
    industry_code: np.ndarray
    region_code: np.ndarray
    industry_names: tuple[str, ...]
    region_names: tuple[str, ...]
    rhs: np.ndarray
    row_names: tuple[str, ...]
    row_kinds: tuple[str, ...]
    policy: LimitPolicy
    widths: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.widths is None:
            object.__setattr__(self, "widths", self.pieces.widths)

    @property
    def n_customers(self) -> int:
        return int(self.lower.shape[0])

    @property
    def n_pieces(self) -> int:
        return int(self.pieces.slopes.shape[1])

    def usage(self, limits: Any) -> np.ndarray:
        """Use of every row by ``limits`` (currency units), in ``row_names`` order."""
        return _usage(np.asarray(limits, dtype=float), self.el_rate, self.industry_code, self.region_code,
                      len(self.industry_names), len(self.region_names))

    def expected_profit(self, limits: Any) -> np.ndarray:
        """Exact expected profit of each customer at ``limits``, currency units."""
        return expected_profit(limits, self.mean_demand, self.demand_cv, self.net_margin, self.risk_cost)

    def piecewise_value(self, limits: Any) -> np.ndarray:
        """Piecewise-linear expected profit of each customer at ``limits``, currency units."""
        return self.pieces.value(limits)

    def with_budgets(self, *, el_budget: float | None = None, exposure_budget: float | None = None,
                     industry_caps: Mapping[str, float] | None = None,
                     region_caps: Mapping[str, float] | None = None) -> LimitProblem:
        """The same customers under other budgets (arrays are shared, not copied).

        Arguments left at ``None`` keep their value; a mapping replaces all caps of its kind.
        """
        policy = self.policy
        changes: dict[str, Any] = {}
        if el_budget is not None:
            changes["el_budget"] = el_budget
        if exposure_budget is not None:
            changes["exposure_budget"] = exposure_budget
        if industry_caps is not None:
            changes["industry_caps"] = dict(industry_caps)
        if region_caps is not None:
            changes["region_caps"] = dict(region_caps)
        policy = replace(policy, **changes)
        rhs = _row_rhs(policy, self.industry_names, self.region_names)
        return replace(self, policy=policy, rhs=rhs)


_REQUIRED = ("mean_demand", "demand_cv", "gross_margin", "collection_days", "pd", "lgd", "ul_rate",
             "industry", "region", "grade", "current_limit")
_OPTIONAL_DEFAULTS = {"ccf": 1.0, "insurer_cap": np.nan}


def _fail(msg: str) -> None:
    raise OptimizationInputError(msg)


def _check_budget(key: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        _fail(f"{key} = {value!r}: not a number; pass a budget in currency units or math.inf for none.")
    if math.isnan(v) or v < 0:
        _fail(f"{key} = {value!r}: a budget must be >= 0; pass a non-negative amount or math.inf for none.")
    return v


def _validate_policy(policy: LimitPolicy) -> None:
    _check_budget("policy.el_budget", policy.el_budget)
    _check_budget("policy.exposure_budget", policy.exposure_budget)
    for kind in ("industry_caps", "region_caps"):
        for key, value in dict(getattr(policy, kind)).items():
            _check_budget(f"policy.{kind}[{key!r}]", value)
    own = float(policy.own_equity)
    if math.isnan(own) or own <= 0:
        _fail(f"policy.own_equity = {policy.own_equity!r}: must be > 0 (math.inf for no single-name cap).")
    snp = float(policy.single_name_pct)
    if math.isnan(snp) or snp <= 0:
        _fail(f"policy.single_name_pct = {policy.single_name_pct!r}: must be > 0, e.g. 0.05 for 5 % of own equity.")
    if policy.max_change is not None and not (float(policy.max_change) >= 0 and math.isfinite(policy.max_change)):
        _fail(f"policy.max_change = {policy.max_change!r}: must be a finite share >= 0 (0.3 = +-30 %) or None.")
    if not 0.0 <= float(policy.pd_cutoff) <= 1.0:
        _fail(f"policy.pd_cutoff = {policy.pd_cutoff!r}: must be a probability in [0, 1].")
    for key in ("cost_of_funds_rate", "capital_rate"):
        v = float(getattr(policy, key))
        if not (math.isfinite(v) and v >= 0):
            _fail(f"policy.{key} = {getattr(policy, key)!r}: must be a finite rate >= 0 per year.")
    if not 0.0 < float(policy.capacity_quantile) < 1.0:
        _fail(f"policy.capacity_quantile = {policy.capacity_quantile!r}: must be in (0, 1), e.g. 0.999.")
    if not (isinstance(policy.n_pieces, (int, np.integer)) and policy.n_pieces >= 2):
        _fail(f"policy.n_pieces = {policy.n_pieces!r}: must be an integer >= 2 (default 5).")
    for grade, pair in dict(policy.grade_bounds).items():
        try:
            gmin, gmax = (float(v) for v in pair)
        except (TypeError, ValueError):
            _fail(f"policy.grade_bounds[{grade!r}] = {pair!r}: expected a pair (minimum, maximum).")
        if not (gmin >= 0 and gmax >= gmin):
            _fail(f"policy.grade_bounds[{grade!r}] = {pair!r}: need 0 <= minimum <= maximum.")


def _row_rhs(policy: LimitPolicy, industries: tuple[str, ...], regions: tuple[str, ...]) -> np.ndarray:
    _validate_policy(policy)
    for kind, names in (("industry_caps", industries), ("region_caps", regions)):
        unknown = sorted(set(map(str, dict(getattr(policy, kind)))) - set(names))
        if unknown:
            _fail(f"policy.{kind} names {unknown}, not found in the customers' data (known: {list(names)}); "
                  f"fix the spelling or drop the cap.")
    # Labels are compared as text, so integer codes (e.g. NACE 45) match their caps.
    ind = {str(k): v for k, v in dict(policy.industry_caps).items()}
    reg = {str(k): v for k, v in dict(policy.region_caps).items()}
    return np.array([float(policy.el_budget), float(policy.exposure_budget)]
                    + [float(ind.get(name, math.inf)) for name in industries]
                    + [float(reg.get(name, math.inf)) for name in regions])


def _columns(customers: pd.DataFrame | Mapping[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if isinstance(customers, pd.DataFrame):
        cols = {c: customers[c].to_numpy() for c in customers.columns if c in _REQUIRED or c in _OPTIONAL_DEFAULTS}
        ids = customers.index.to_numpy()
        if not customers.index.is_unique:
            dup = customers.index[customers.index.duplicated()][0]
            _fail(f"customer id {_plain(dup)!r} appears more than once in the index; give every customer one row.")
        names = set(customers.columns)
    elif isinstance(customers, Mapping):
        names = set(customers)
        cols = {c: np.asarray(customers[c]) for c in names if c in _REQUIRED or c in _OPTIONAL_DEFAULTS}
        lengths = {c: (v.shape[0] if v.ndim else -1) for c, v in cols.items()}
        n = lengths.get("mean_demand", next(iter(lengths.values()), 0))
        for c, length in lengths.items():
            if length != n:
                _fail(f"column {c!r} has {length} values but 'mean_demand' has {n}; every column needs one "
                      f"value per customer.")
        ids = np.asarray(customers["customer_id"]) if "customer_id" in names else np.arange(n)
        if ids.shape[0] != n:
            _fail(f"column 'customer_id' has {ids.shape[0]} values but 'mean_demand' has {n}.")
    else:
        raise OptimizationInputError(f"customers must be a DataFrame or a mapping of arrays, "
                                     f"got {type(customers).__name__}.")
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        _fail(f"customers lack column(s) {missing}; required: {list(_REQUIRED)} "
              f"(optional: {list(_OPTIONAL_DEFAULTS)}).")
    return cols, ids


def _plain(value: Any) -> Any:
    # numpy scalars print as np.str_('x') in numpy 2; messages should show the id itself.
    return value.item() if isinstance(value, np.generic) else value


def _numeric(cols: dict[str, np.ndarray], ids: np.ndarray, name: str, n: int, *, lo: float | None = None,
             lo_open: bool = False, hi: float | None = None, allow_nan: bool = False) -> np.ndarray:
    raw = cols.get(name)
    if raw is None:
        return np.full(n, _OPTIONAL_DEFAULTS[name], dtype=float)
    try:
        v = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        _fail(f"column {name!r} is not numeric; convert it to numbers (currency units / rates).")
    bad = ~np.isfinite(v)
    if allow_nan:
        bad &= ~(np.isnan(v) | (v == np.inf))
    if lo is not None:
        bad |= (v <= lo) if lo_open else (v < lo)
    if hi is not None:
        bad |= v > hi
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rng_txt = f"{'>' if lo_open else '>='} {lo}" if lo is not None else "finite"
        if hi is not None:
            rng_txt += f" and <= {hi}"
        _fail(f"column {name!r} of customer {_plain(ids[i])!r} is {float(v[i])!r} ({int(bad.sum())} customer(s) "
              f"affected); "
              f"it must be {rng_txt}: fix or drop these rows.")
    return v


def build_problem(customers: pd.DataFrame | Mapping[str, Any], policy: LimitPolicy) -> LimitProblem:
    """Validate the inputs and build bounds, pieces and coupling rows.

    Parameters
    ----------
    customers : DataFrame (index = customer id) or mapping of equal-length arrays
        Required columns: ``mean_demand`` (purchase need over the payment terms, currency
        units, > 0), ``demand_cv`` (> 0), ``gross_margin`` (share of sales),
        ``collection_days`` (days), ``pd``, ``lgd`` (in [0, 1]), ``ul_rate`` (capital per
        unit of limit), ``industry``, ``region``, ``grade``, ``current_limit`` (currency
        units). Optional: ``ccf`` (default 1), ``insurer_cap`` (currency units; NaN/inf =
        not insured), ``customer_id`` for a mapping.
    policy : LimitPolicy

    Returns
    -------
    LimitProblem

    Notes
    -----
    Per-customer bounds:

    * floor = max(grade minimum, (1 - max_change) * current);
    * upper = min(single-name cap, grade maximum, (1 + max_change) * current, insurer cap,
      capacity), where capacity is the ``capacity_quantile`` of the need but never below
      the floor (it is a modelling device, not a hard cap);
    * when the floor is above the hard caps the caps win: ``lower = upper`` and
      ``bound_conflict`` is set;
    * above the PD cut-off both bounds are 0 (the cut-off beats every floor).

    The insurer cap is the most the company lends to an insured customer under its
    credit-insurance policy (insured cover plus own retention); it is an upper bound.

    Raises
    ------
    OptimizationInputError
        Missing/misaligned columns, NaN or out-of-range values, invalid policy.
    """
    _validate_policy(policy)
    cols, ids = _columns(customers)
    n = int(ids.shape[0])
    mean = _numeric(cols, ids, "mean_demand", n, lo=0.0, lo_open=True)
    cv = _numeric(cols, ids, "demand_cv", n, lo=0.0, lo_open=True)
    gm = _numeric(cols, ids, "gross_margin", n, hi=1.0)
    days = _numeric(cols, ids, "collection_days", n, lo=0.0)
    pd_ = _numeric(cols, ids, "pd", n, lo=0.0, hi=1.0)
    lgd = _numeric(cols, ids, "lgd", n, lo=0.0, hi=1.0)
    ul = _numeric(cols, ids, "ul_rate", n, lo=0.0)
    current = _numeric(cols, ids, "current_limit", n, lo=0.0)
    ccf = _numeric(cols, ids, "ccf", n, lo=0.0)
    insurer = _numeric(cols, ids, "insurer_cap", n, lo=0.0, allow_nan=True)

    codes = {}
    names = {}
    for key in ("industry", "region", "grade"):
        raw = cols[key]
        missing_label = pd.isna(pd.Series(raw)).to_numpy()
        if missing_label.any():
            i = int(np.flatnonzero(missing_label)[0])
            _fail(f"column {key!r} of customer {_plain(ids[i])!r} is missing; give every customer a {key}.")
        c, u = pd.factorize(raw, sort=True)
        codes[key] = c.astype(np.int32)
        names[key] = tuple(str(x) for x in u)

    a = net_margin_rate(gm, days, float(policy.cost_of_funds_rate))
    k = risk_cost_rate(pd_, lgd, ul, float(policy.capital_rate), ccf)
    el = pd_ * lgd * ccf
    mu, sigma = lognormal_params(mean, cv)

    # Hard caps, in tie-break order (the first one named wins a tie).
    inf = np.full(n, np.inf)
    grade_min, grade_max = np.zeros(n), inf.copy()
    if policy.grade_bounds:
        gb = {str(g): tuple(float(v) for v in pair) for g, pair in dict(policy.grade_bounds).items()}
        missing = [g for g in names["grade"] if g not in gb]
        if missing:
            _fail(f"policy.grade_bounds has no (minimum, maximum) for grade(s) {missing}; "
                  f"add them (use (0, math.inf) for no bound).")
        table = np.array([gb[g] for g in names["grade"]], dtype=float).reshape(-1, 2)
        grade_min, grade_max = table[codes["grade"], 0], table[codes["grade"], 1]
    banded = (policy.max_change is not None) & (current > 0)
    change = float(policy.max_change or 0.0)
    decrease = change if policy.max_decrease is None else min(max(float(policy.max_decrease), 0.0), 1.0)
    band_lo = np.where(banded, (1.0 - decrease) * current, 0.0)
    band_hi = np.where(banded, (1.0 + change) * current, np.inf)
    single = float(policy.own_equity) * float(policy.single_name_pct)
    ins = np.where(np.isnan(insurer), np.inf, insurer)
    caps = np.stack([np.full(n, single), ins, grade_max, band_hi])
    cap_codes = np.array([_CODE["single_name_cap"], _CODE["insurer_cap"], _CODE["grade_bound"], _CODE["change_cap"]])
    which = np.argmin(caps, axis=0)
    hard_hi = caps[which, np.arange(n)]
    floor = np.maximum(grade_min, band_lo)
    lower_source = np.where(floor <= 0, _NO_SOURCE,
                            np.where(band_lo >= grade_min, _CODE["change_cap"], _CODE["grade_bound"])).astype(np.int8)
    capacity = np.maximum(_quantile(np.full(n, float(policy.capacity_quantile)), mu, sigma), floor)
    upper = np.minimum(hard_hi, capacity)
    upper_source = np.where(capacity < hard_hi, _CODE["profit_optimum"], cap_codes[which]).astype(np.int8)
    conflict = floor > upper
    lower = np.where(conflict, upper, floor)
    cut = pd_ > float(policy.pd_cutoff)
    lower = np.where(cut, 0.0, lower)
    upper = np.where(cut, 0.0, upper)
    lower_source = np.where(cut, _CODE["pd_cutoff"], lower_source).astype(np.int8)
    upper_source = np.where(cut, _CODE["pd_cutoff"], upper_source).astype(np.int8)
    conflict &= ~cut

    optimum = np.clip(_closed_form(mu, sigma, a, k), lower, upper)
    pieces = _pieces(mean, mu, sigma, a, k, lower, upper, optimum, int(policy.n_pieces))

    industries, regions = names["industry"], names["region"]
    rhs = _row_rhs(policy, industries, regions)
    row_names = (("el_budget", "exposure_budget") + tuple(f"industry_cap[{x}]" for x in industries)
                 + tuple(f"region_cap[{x}]" for x in regions))
    row_kinds = ("el_budget", "exposure_budget") + ("industry_cap",) * len(industries) + ("region_cap",) * len(regions)
    return LimitProblem(
        customer_ids=ids, mean_demand=mean, demand_cv=cv, net_margin=a, risk_cost=k, el_rate=el, pd=pd_,
        current_limit=current, lower=lower, upper=upper, requested_floor=floor, lower_source=lower_source,
        upper_source=upper_source, bound_conflict=conflict, profit_optimum=optimum, pieces=pieces,
        industry_code=codes["industry"], region_code=codes["region"], industry_names=industries,
        region_names=regions, rhs=rhs, row_names=row_names, row_kinds=row_kinds, policy=policy,
    )


# ---------------------------------------------------------------------------
# LP machinery shared by the solvers
# ---------------------------------------------------------------------------

def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # Not BLAS: a threaded BLAS dot stalls for milliseconds when the cores are busy.
    return float(np.multiply(a, b).sum())


def _usage(X: np.ndarray, el: np.ndarray, ind: np.ndarray, reg: np.ndarray, n_ind: int, n_reg: int) -> np.ndarray:
    return np.concatenate([[_dot(el, X), X.sum()], np.bincount(ind, weights=X, minlength=n_ind),
                           np.bincount(reg, weights=X, minlength=n_reg)])


@dataclass(eq=False)
class _Core:
    """The LP in 'limit above the floor' variables, for one (sub)set of customers."""

    s: np.ndarray
    w: np.ndarray
    el: np.ndarray
    ind: np.ndarray
    reg: np.ndarray
    n_ind: int
    n_reg: int

    @property
    def n(self) -> int:
        return int(self.el.shape[0])

    def subset(self, rows: np.ndarray) -> _Core:
        return _Core(self.s[rows], self.w[rows], self.el[rows], self.ind[rows], self.reg[rows], self.n_ind, self.n_reg)

    def price(self, pi: np.ndarray) -> np.ndarray:
        """Priced resource use of one unit of limit, per customer."""
        ni = self.n_ind
        return pi[0] * self.el + pi[1] + pi[2:2 + ni][self.ind] + pi[2 + ni:][self.reg]

    def usage(self, X: np.ndarray) -> np.ndarray:
        return _usage(X, self.el, self.ind, self.reg, self.n_ind, self.n_reg)

    def touches(self, rows: np.ndarray) -> np.ndarray:
        """Customers that use at least one of the flagged rows."""
        if rows[0] or rows[1]:
            return np.ones(self.n, dtype=bool)
        ni = self.n_ind
        return rows[2:2 + ni][self.ind] | rows[2 + ni:][self.reg]


def _core_of(problem: LimitProblem) -> _Core:
    return _Core(problem.pieces.slopes, problem.widths, problem.el_rate, problem.industry_code,
                 problem.region_code, len(problem.industry_names), len(problem.region_names))


def _remaining_capacity(problem: LimitProblem) -> tuple[np.ndarray, np.ndarray]:
    rhs = problem.rhs
    active = np.isfinite(rhs)
    floor_use = problem.usage(problem.lower)
    slack = rhs - floor_use
    tol = 1e-12 * np.maximum(1.0, np.abs(np.where(active, rhs, 0.0)))
    bad = np.flatnonzero(active & (slack < -tol))
    if bad.size:
        r = int(bad[0])
        name = problem.row_names[r]
        key = {"el_budget": "policy.el_budget", "exposure_budget": "policy.exposure_budget"}.get(
            name, f"policy.{problem.row_kinds[r]}s[{name.split('[', 1)[-1].rstrip(']')!r}]")
        raise InfeasibleLimitsError(
            f"{name}: the limits' floors (grade minimums and the change band's lower edge) already use {floor_use[r]:,.2f} but {key} is {rhs[r]:,.2f}; raise {key} to at least "
            f"{floor_use[r]:,.2f} or relax policy.max_change / grade minimums.")
    return np.where(active, np.maximum(slack, 0.0), np.inf), active


_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


def _restricted_lp(core: _Core, idx: np.ndarray, cap: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve the LP over the pieces ``idx`` (flat indices) with capacities ``cap``; return x and duals."""
    K = core.s.shape[1]
    cust = idx // K
    c = core.s.ravel()[idx]
    w = core.w.ravel()[idx]
    m = cap.shape[0]
    ni = core.n_ind
    pos = np.full(m, -1)
    act_rows = np.flatnonzero(active)
    pos[act_rows] = np.arange(act_rows.size)
    nv = idx.size
    col = np.arange(nv)
    # Scaling to O(1) keeps HiGHS's absolute tolerances meaningful for any currency unit.
    money = float(np.median(w)) if nv else 1.0
    money = money if money > 0 else 1.0
    el = core.el[cust]
    el_scale = float(el.max()) if nv and el.max() > 0 else 1.0
    obj_scale = float(np.abs(c).max()) if nv and np.abs(c).max() > 0 else 1.0
    row_scale = np.ones(m)
    row_scale[0] = el_scale
    parts = [(np.full(nv, pos[0]), el / el_scale), (np.full(nv, pos[1]), np.ones(nv)),
             (pos[2 + core.ind[cust]], np.ones(nv)), (pos[2 + ni + core.reg[cust]], np.ones(nv))]
    rows = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts])
    cols = np.tile(col, 4)
    keep = rows >= 0
    A = sp.csc_array((vals[keep], (rows[keep], cols[keep])), shape=(act_rows.size, nv))
    b = cap[act_rows] / (row_scale[act_rows] * money)
    bounds = np.column_stack([np.zeros(nv), w / money])
    res = linprog(-c / obj_scale, A_ub=A, b_ub=b, bounds=bounds, method="highs-ds", options=_LP_OPTIONS)
    if res.status != 0:
        # Tight tolerances can stall HiGHS on awkward scaling; its defaults are the fallback.
        res = linprog(-c / obj_scale, A_ub=A, b_ub=b, bounds=bounds, method="highs-ds")
    if res.status != 0:
        raise SolverError(f"HiGHS failed on the working-set LP ({nv} pieces): {res.message}")
    x = np.clip(res.x * money, 0.0, w)
    pi = np.zeros(m)
    pi[act_rows] = np.maximum(-res.ineqlin.marginals * obj_scale / row_scale[act_rows], 0.0)
    return x, pi


@dataclass(frozen=True)
class _Tuning:
    base_customers: int = 1000
    sample_ratio: int = 10
    band_factor: float = 100.0
    band_min: int = 4000
    target_factor: float = 1.0
    target_min: int = 400
    max_rounds: int = 50
    refine_rounds: int = 4
    newton_steps: int = 6
    tau_end: float = 1e-6


def _split(d: np.ndarray, open_: np.ndarray, target: int) -> tuple[np.ndarray, float]:
    """The ``target`` open pieces of smallest |reduced cost|, and the radius that takes them."""
    n_open = int(np.count_nonzero(open_))
    if target >= n_open:
        return open_.copy(), float(np.abs(d[open_]).max(initial=0.0))
    ad = np.where(open_, np.abs(d), np.inf)
    delta = float(np.partition(ad.ravel(), target)[target])
    return ad <= delta, delta


def _fit_fixed(core: _Core, d: np.ndarray, work: np.ndarray, take: np.ndarray, cap: np.ndarray,
               active: np.ndarray, theta: float) -> np.ndarray:
    """Move pieces fixed at full width into ``work`` until the fixed ones fit the capacities.

    Otherwise the working-set problem is infeasible; the cheapest pieces in the overflowing
    rows are the ones whose status is least certain.
    """
    used = core.usage((core.w * take).sum(axis=1))
    while True:
        over = active & (used > cap)
        if not over.any():
            return used
        theta *= 2.0
        move = take & core.touches(over)[:, None] & (d <= theta)
        work |= move
        take &= ~move
        used = core.usage((core.w * take).sum(axis=1))


def _smooth_dual(core: _Core, idx: np.ndarray, rhs: np.ndarray, active: np.ndarray, pi: np.ndarray,
                 tau0: float, radius: float, tuning: _Tuning) -> tuple[np.ndarray, int]:
    """Approximately minimize the Lagrangian dual over the pieces ``idx`` by smoothed Newton steps.

    ``max(d, 0)`` is replaced by ``tau * softplus(d / tau)`` with ``tau`` shrinking tenfold per
    stage; the 17-row Hessian is aggregated per (industry, region) cell with ``bincount``.
    Only the starting point of the exact phase depends on this, never the optimum.
    """
    K = core.s.shape[1]
    cust = idx // K
    s = core.s.ravel()[idx]
    w = core.w.ravel()[idx]
    el = core.el[cust]
    ind = core.ind[cust]
    reg = core.reg[cust]
    ni, nr = core.n_ind, core.n_reg
    m = rhs.shape[0]
    cell = ind * nr + reg
    rhs_a = np.where(active, rhs, 0.0)
    pi = np.where(active, pi, 0.0)
    el_max = float(el.max(initial=0.0))

    def price(p: np.ndarray) -> np.ndarray:
        return p[0] * el + p[1] + p[2:2 + ni][ind] + p[2 + ni:][reg]

    def smooth(d: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
        # exp(-|d|/tau) is shared by the smoothed value and its derivatives.
        e = np.exp(-np.abs(d) / tau)
        return e, np.maximum(d, 0.0) + tau * np.log1p(e)

    def reach(step: np.ndarray) -> float:
        # Largest change of any customer's priced resource use for a price step.
        return (abs(step[0]) * el_max + abs(step[1]) + float(np.abs(step[2:2 + ni]).max(initial=0.0))
                + float(np.abs(step[2 + ni:]).max(initial=0.0)))

    n_steps = 0
    tau = tau0
    d = s - price(pi)
    e, val = smooth(d, tau)
    while True:
        for _ in range(tuning.newton_steps):
            inv = 1.0 / (1.0 + e)
            sig = np.where(d >= 0, inv, e * inv)
            use = w * sig
            curv = w * e * inv * inv / tau
            grad = rhs_a - np.concatenate([[_dot(el, use), use.sum()], np.bincount(ind, use, ni),
                                           np.bincount(reg, use, nr)])
            hc = np.bincount(cell, curv, ni * nr).reshape(ni, nr)
            he = np.bincount(cell, curv * el, ni * nr).reshape(ni, nr)
            H = np.zeros((m, m))
            H[0, 0] = _dot(curv, el * el)
            H[0, 1] = he.sum()
            H[0, 2:2 + ni] = he.sum(axis=1)
            H[0, 2 + ni:] = he.sum(axis=0)
            H[1, 1] = hc.sum()
            H[1, 2:2 + ni] = hc.sum(axis=1)
            H[1, 2 + ni:] = hc.sum(axis=0)
            H[2:2 + ni, 2 + ni:] = hc
            H[np.arange(2, 2 + ni), np.arange(2, 2 + ni)] = hc.sum(axis=1)
            H[np.arange(2 + ni, m), np.arange(2 + ni, m)] = hc.sum(axis=0)
            H = np.triu(H) + np.triu(H, 1).T
            free = np.flatnonzero(active & ~((pi <= 0.0) & (grad > 0.0)))
            if free.size == 0:
                break
            Hf = H[np.ix_(free, free)]
            # A row no band piece is near the margin of has no curvature; a small ridge keeps
            # the system solvable and the step cap below keeps such steps sane.
            ridge = 1e-12 * max(float(np.trace(Hf)), 1e-300) + 1e-300
            try:
                step_f = np.linalg.solve(Hf + ridge * np.eye(free.size), -grad[free])
            except np.linalg.LinAlgError:
                step_f = -grad[free]
            step = np.zeros(m)
            step[free] = step_f
            r = reach(step)
            if r > radius:
                step *= radius / r
            t = 1.0
            while True:
                cand = np.maximum(pi + t * step, 0.0)
                delta = cand - pi
                d_c = s - price(cand)
                e_c, val_c = smooth(d_c, tau)
                # Summing differences piece by piece keeps digits a difference of totals would lose.
                change = _dot(delta, rhs_a) + float((w * (val_c - val)).sum())
                if change <= 1e-4 * _dot(grad, delta) or t < 1e-6:
                    break
                t *= 0.5
            n_steps += 1
            pi, d, e, val = cand, d_c, e_c, val_c
            if reach(delta) <= 0.05 * tau:
                break
        if tau <= tuning.tau_end:
            return pi, n_steps
        tau = max(tau / 10.0, tuning.tau_end)
        e, val = smooth(d, tau)


def _refine_prices(core: _Core, cap: np.ndarray, active: np.ndarray, pi0: np.ndarray, tuning: _Tuning,
                   stats: list[dict], depth: int) -> np.ndarray:
    """Sharpen price estimates on a band of uncertain pieces (the rest fixed by the sign of
    their reduced cost) so that the exact phase needs only a small working set."""
    s, w = core.s, core.w
    open_ = w > 0
    n_open = int(np.count_nonzero(open_))
    d = s - core.price(pi0)[:, None]
    target = max(tuning.band_min, int(tuning.band_factor * math.sqrt(n_open)))
    band, radius = _split(d, open_, target)
    take = open_ & ~band & (d > 0)
    scale = max(1.0, float(np.abs(s).max()))
    used = _fit_fixed(core, d, band, take, cap, active, max(radius, 1e-9 * scale))
    pi = pi0
    tau0 = radius / 8.0
    for rnd in range(1, tuning.refine_rounds + 1):
        idx = np.flatnonzero(band.ravel())
        pi_new, steps = _smooth_dual(core, idx, cap - used, active, pi, max(tau0, tuning.tau_end),
                                     4.0 * max(radius, 1e-9 * scale), tuning)
        if not np.all(np.isfinite(pi_new)):
            return pi  # the exact phase copes with a rough start; it cannot with NaN
        pi = pi_new
        d = s - core.price(pi)[:, None]
        viol = ~band & open_ & np.where(take, d < 0, d > 0)
        n_viol = int(np.count_nonzero(viol))
        stats.append({"depth": depth, "customers": core.n, "phase": "refine", "round": rnd,
                      "working_pieces": int(idx.size), "newton_steps": steps, "violations": n_viol})
        if n_viol <= tuning.target_min // 4:
            # A few misfits have tiny reduced costs: the exact phase's working set takes them.
            return pi
        # The prices are already close: restart the smoothing at the size of the misfits.
        tau0 = float(np.abs(d[viol]).max()) / 4.0
        band |= viol
        take &= ~viol
        used = core.usage((w * take).sum(axis=1))
    return pi


def _sift(core: _Core, cap: np.ndarray, active: np.ndarray, pi0: np.ndarray, tuning: _Tuning,
          stats: list[dict], depth: int) -> tuple[np.ndarray, np.ndarray]:
    s, w = core.s, core.w
    n = s.shape[0]
    open_ = w > 0
    n_open = int(np.count_nonzero(open_))
    if n_open == 0:
        return np.zeros_like(s), np.zeros(cap.shape[0])
    tol = 1e-9 * max(1.0, float(np.abs(s).max()))
    d = s - core.price(pi0)[:, None]
    target = max(tuning.target_min, int(tuning.target_factor * math.sqrt(n_open)))
    work, delta = _split(d, open_, target)
    take = open_ & ~work & (d > 0)
    used = _fit_fixed(core, d, work, take, cap, active, max(delta, tol))
    for rnd in range(1, tuning.max_rounds + 1):
        idx = np.flatnonzero(work.ravel())
        x_w, pi = _restricted_lp(core, idx, cap - used, active)
        d = s - core.price(pi)[:, None]
        viol = ~work & open_ & np.where(take, d < -tol, d > tol)
        n_viol = int(np.count_nonzero(viol))
        stats.append({"depth": depth, "customers": n, "phase": "exact", "round": rnd,
                      "working_pieces": int(idx.size), "violations": n_viol})
        if n_viol == 0:
            x = w * take
            x.ravel()[idx] = x_w
            return x, pi
        work |= viol
        take &= ~viol
        used = core.usage((w * take).sum(axis=1))
    raise SolverError(f"sifting did not converge in {tuning.max_rounds} rounds ({n} customers); "
                      f"this indicates numerical trouble - use solve_with_highs on this instance.")


def _solve_level(core: _Core, cap: np.ndarray, active: np.ndarray, rng: np.random.Generator,
                 pi0: np.ndarray | None, tuning: _Tuning, stats: list[dict], depth: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    if pi0 is None:
        if core.n <= tuning.base_customers:
            tuning_here = replace(tuning, target_min=core.n * core.s.shape[1])
            return _sift(core, cap, active, np.zeros(cap.shape[0]), tuning_here, stats, depth)
        n_sub = max(tuning.base_customers // 2, core.n // tuning.sample_ratio)
        rows = np.sort(rng.choice(core.n, size=n_sub, replace=False))
        # A uniform sample scaled to its share of the customers faces the same scarcity,
        # so its duals estimate the full problem's prices.
        share = n_sub / core.n
        _, pi0 = _solve_level(core.subset(rows), np.where(active, cap * share, np.inf), active, rng, None,
                              tuning, stats, depth + 1)
    pi1 = _refine_prices(core, cap, active, pi0, tuning, stats, depth)
    return _sift(core, cap, active, pi1, tuning, stats, depth)


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

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
        ``binding``, ``shadow_price`` (profit per extra currency unit of budget).
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
    5. ``pd_cutoff`` above the cut-off.
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
    return LimitResult(limits=limits, objective=objective, decided_by=decided, decided_by_constraint=detailed,
                       constraints=constraints, prices=pi, dual_bound=dual_bound, solver=solver,
                       seconds=time.perf_counter() - t0,
                       stats=stats, problem=problem)


def optimize_limits(problem: LimitProblem, *, seed: int = 0, initial_prices: np.ndarray | None = None,
                    tuning: Mapping[str, Any] | None = None) -> LimitResult:
    """Exact optimal limits of the piecewise-linear portfolio LP (fast, structure-exploiting).

    Parameters
    ----------
    problem : LimitProblem
    seed : int, optional
        Seed of the customer samples used to estimate the prices; the optimum does not
        depend on it (only the path to it does).
    initial_prices : ndarray, optional
        Price estimates of the rows (``problem.row_names`` order), e.g. from a neighbouring
        solve; skips the sampling stage.
    tuning : mapping, optional
        Overrides of the internal sizes (speed only, never the optimum): ``base_customers``
        (1000: solved directly), ``sample_ratio`` (10), ``band_factor`` (100) and
        ``band_min`` (4000) for the refinement band of ``band_factor * sqrt(pieces)``
        pieces, ``target_factor`` (1.0) and ``target_min`` (400) for the exact working set,
        ``tau_end`` (1e-6), ``newton_steps`` (6 per stage), ``refine_rounds`` (4),
        ``max_rounds`` (50 sifting rounds).

    Returns
    -------
    LimitResult

    Raises
    ------
    InfeasibleLimitsError
        The floors alone break a budget.
    SolverError
        HiGHS failed on a working-set LP.
    """
    t0 = time.perf_counter()
    cap, active = _remaining_capacity(problem)
    core = _core_of(problem)
    stats: list[dict] = []
    if not active.any():
        # No coupling: each customer takes every piece that pays for itself.
        x = np.where(core.s > 0, core.w, 0.0)
        pi = np.zeros(cap.shape[0])
    else:
        unknown = sorted(set(dict(tuning or {})) - set(_Tuning.__dataclass_fields__))
        if unknown:
            _fail(f"tuning keys {unknown} are unknown; known: {sorted(_Tuning.__dataclass_fields__)}.")
        tun = replace(_Tuning(), **dict(tuning or {}))
        pi0 = None
        if initial_prices is not None:
            given = np.asarray(initial_prices, dtype=float).ravel()
            if given.shape != cap.shape or not np.all(np.isfinite(given)):
                _fail(f"initial_prices must be {cap.shape[0]} finite values, one per row of "
                      f"{list(problem.row_names)}; got shape {given.shape}.")
            pi0 = np.where(active, np.maximum(given, 0.0), 0.0)
        x, pi = _solve_level(core, cap, active, np.random.default_rng(seed), pi0, tun, stats, 0)
        pi = np.where(active, pi, 0.0)
    return _make_result(problem, x, pi, "sifting+highs-ds", t0, stats)


def solve_with_highs(problem: LimitProblem, *, method: str = "highs", options: Mapping[str, Any] | None = None
                     ) -> LimitResult:
    """Referee: the same piecewise-linear LP, all pieces at once, solved by ``scipy.optimize.linprog``.

    Parameters
    ----------
    problem : LimitProblem
    method : str, optional
        A HiGHS method of ``linprog``: ``"highs"`` (default), ``"highs-ds"``, ``"highs-ipm"``.
    options : mapping, optional
        Passed to ``linprog``.

    Returns
    -------
    LimitResult
        With ``prices`` from HiGHS's marginals.
    """
    t0 = time.perf_counter()
    cap, active = _remaining_capacity(problem)
    n, K = problem.pieces.slopes.shape
    flat_w = problem.widths.ravel()
    var = np.flatnonzero(flat_w > 0)
    cust = var // K
    m = problem.rhs.shape[0]
    if not active.any() or var.size == 0:
        x = np.where(problem.pieces.slopes > 0, problem.widths, 0.0)
        return _make_result(problem, x, np.zeros(m), f"linprog-{method}", t0, [])
    # Row membership written out per row kind, independently of the fast solver's code.
    ni = len(problem.industry_names)
    blocks_r, blocks_c, blocks_v = [], [], []
    act_rows = np.flatnonzero(active)
    for pos, r in enumerate(act_rows):
        if r == 0:
            members, coef = np.arange(var.size), problem.el_rate[cust]
        elif r == 1:
            members, coef = np.arange(var.size), np.ones(var.size)
        elif r < 2 + ni:
            members = np.flatnonzero(problem.industry_code[cust] == r - 2)
            coef = np.ones(members.size)
        else:
            members = np.flatnonzero(problem.region_code[cust] == r - 2 - ni)
            coef = np.ones(members.size)
        blocks_r.append(np.full(members.size, pos))
        blocks_c.append(members)
        blocks_v.append(coef)
    money = float(np.median(flat_w[var]))
    A = sp.csc_array((np.concatenate(blocks_v), (np.concatenate(blocks_r), np.concatenate(blocks_c))),
                     shape=(act_rows.size, var.size))
    res = linprog(-problem.pieces.slopes.ravel()[var], A_ub=A, b_ub=cap[act_rows] / money,
                  bounds=np.column_stack([np.zeros(var.size), flat_w[var] / money]), method=method,
                  options=dict(options or {}))
    if res.status != 0:
        raise SolverError(f"linprog({method!r}) failed: {res.message}")
    x = np.zeros(n * K)
    x[var] = res.x * money
    pi = np.zeros(m)
    pi[act_rows] = np.maximum(-res.ineqlin.marginals, 0.0)
    return _make_result(problem, x.reshape(n, K), pi, f"linprog-{method}", t0,
                        [{"iterations": int(getattr(res, "nit", -1))}])


def constraint_violations(problem: LimitProblem, limits: Any) -> dict[str, float]:
    """Largest violation of each constraint family by ``limits``, relative to max(1, |bound|).

    Returns
    -------
    dict
        ``rows`` (coupling budgets), ``lower``, ``upper`` (per-customer bounds); 0 = satisfied.
    """
    lim = np.asarray(limits, dtype=float)
    rhs = problem.rhs
    active = np.isfinite(rhs)
    used = problem.usage(lim)
    rows = float(np.max((used[active] - rhs[active]) / np.maximum(1.0, np.abs(rhs[active])), initial=0.0))
    lower = float(np.max((problem.lower - lim) / np.maximum(1.0, problem.lower), initial=0.0))
    upper = float(np.max((lim - problem.upper) / np.maximum(1.0, problem.upper), initial=0.0))
    return {"rows": max(rows, 0.0), "lower": max(lower, 0.0), "upper": max(upper, 0.0)}


# ---------------------------------------------------------------------------
# Efficient frontier
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Synthetic instances (tests and benchmarks)
# ---------------------------------------------------------------------------

def synthetic_limit_inputs(n_customers: int, *, n_industries: int = 10, n_regions: int = 5, seed: int = 0,
                           tightness: float = 0.6, pd_cutoff: float = 0.08, max_change: float | None = 0.3,
                           n_pieces: int = 5) -> tuple[pd.DataFrame, LimitPolicy]:
    """A seeded synthetic portfolio and a policy whose budgets bind.

    Every budget is set ``tightness`` of the way from what the floors use to what the
    unconstrained optima use (so it binds when ``tightness < 1`` and stays feasible);
    industry caps are set on the even-numbered industries, region caps on the first two
    regions. Some customers are above the PD cut-off, ~30 % are insured, ~10 % are new.

    Returns
    -------
    customers : DataFrame
    policy : LimitPolicy
    """
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    industries = [f"ind{i:02d}" for i in range(n_industries)]
    regions = [f"reg{i}" for i in range(n_regions)]
    ind_share = rng.dirichlet(np.full(n_industries, 4.0))
    reg_share = rng.dirichlet(np.full(n_regions, 4.0))
    pd_ = np.minimum(10 ** rng.uniform(-3.3, -0.9, n), 0.5)
    lgd = rng.uniform(0.3, 0.6, n)
    ccf = rng.uniform(0.6, 1.0, n)
    mean = np.exp(rng.normal(np.log(40_000.0), 1.0, n))
    grades = np.array(list("ABCDEF"))[np.searchsorted([0.0025, 0.005, 0.01, 0.02, 0.05], pd_)]
    current = np.round(mean * rng.uniform(0.4, 1.8, n), -2) * (rng.random(n) > 0.1)
    insured = rng.random(n) < 0.3
    customers = pd.DataFrame({
        "mean_demand": mean,
        "demand_cv": rng.uniform(0.2, 1.2, n),
        "gross_margin": rng.uniform(0.03, 0.25, n),
        "collection_days": rng.uniform(20.0, 120.0, n),
        "pd": pd_,
        "lgd": lgd,
        "ccf": ccf,
        "ul_rate": irb_capital_rate(pd_, lgd) * ccf,
        "industry": pd.Categorical.from_codes(rng.choice(n_industries, n, p=ind_share), categories=industries),
        "region": pd.Categorical.from_codes(rng.choice(n_regions, n, p=reg_share), categories=regions),
        "grade": grades,
        "current_limit": current,
        "insurer_cap": np.where(insured, np.round(mean * rng.uniform(0.5, 2.0, n), -2), np.nan),
    }, index=pd.Index([f"C{i:07d}" for i in range(n)], name="customer_id"))
    own_equity = 50.0 * float(np.median(mean)) * max(n, 100) / 100.0
    grade_bounds = {"A": (2_000.0, math.inf), "B": (1_000.0, math.inf), "C": (0.0, math.inf),
                    "D": (0.0, 400_000.0), "E": (0.0, 150_000.0), "F": (0.0, 50_000.0)}
    base = LimitPolicy(own_equity=own_equity, single_name_pct=0.02, grade_bounds=grade_bounds,
                       max_change=max_change, pd_cutoff=pd_cutoff, n_pieces=n_pieces)
    loose = build_problem(customers, base)
    floor_use = loose.usage(loose.lower)
    free_use = loose.usage(loose.profit_optimum)
    budget = floor_use + tightness * (free_use - floor_use)
    ni = len(loose.industry_names)
    policy = replace(
        base,
        el_budget=float(budget[0]),
        exposure_budget=float(floor_use[1] + min(1.0, tightness + 0.25) * (free_use[1] - floor_use[1])),
        industry_caps={name: float(floor_use[2 + i] + min(1.0, tightness + 0.1) * (free_use[2 + i] - floor_use[2 + i]))
                       for i, name in enumerate(loose.industry_names) if i % 2 == 0},
        region_caps={name: float(floor_use[2 + ni + i] + min(1.0, tightness + 0.15)
                                 * (free_use[2 + ni + i] - floor_use[2 + ni + i]))
                     for i, name in enumerate(loose.region_names) if i < 2},
    )
    return customers, policy
