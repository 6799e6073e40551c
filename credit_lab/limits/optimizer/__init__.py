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

Competition term
----------------
A limit short of the need may lose the customer to a competitor: ``P(lose) = c * E[(D - L)+] / E[D]``
with ``c`` the competitive intensity of its segment, in [0, 1]. The relationship value kept,
``V * (1 - P(lose)) = V * (1 - c) + (c * V / E[D]) * S(L)``, adds ``r = c * V / E[D]`` to the margin
per unit of expected sales, so the objective is ``(a + r) * S(L) - k * L``: concave, the same closed
form and pieces with ``a + r`` in place of ``a`` (:func:`retention_margin`; ``V`` in
:mod:`~credit_lab.limits.optimizer.competition`). ``c = 0`` (the default) leaves everything as it was.

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

With a Dask client (``optimize_limits(problem, client=...)``, stage 05 on ``compute.engine: dask``)
the passes of steps 2 and 3 over the whole book (every piece's reduced cost, the pieces fixed at
full width, the candidates for the working set) run on blocks of customers on the workers; the
sample of step 1, the smoothed dual and the working-set LP stay on the client. Same optimum, bit
for bit (:mod:`~credit_lab.limits.optimizer.distributed`).

Errors derive from :class:`credit_lab.core.exceptions.CreditLabError`.

Modules
-------
``profit``     newsvendor expected profit, closed-form optimum, piecewise-linear model
``problem``    policy, input checks, bounds, pieces and coupling rows (:func:`build_problem`)
``pricing``    the exact solver's machinery: sampled price estimates, smoothed-dual refinement, sifting
``result``     :class:`LimitResult`: limits, shadow prices, what decided each limit
``solver``     :func:`optimize_limits`, the HiGHS referee :func:`solve_with_highs`, :func:`constraint_violations`
``distributed`` the whole-book passes of :func:`optimize_limits` on a Dask cluster (``client=``)
``frontier``   :func:`efficient_frontier`, :func:`competition_frontier` (with and without the competition term)
``competition`` the competition term: relationship value ``V``, :func:`segment_tradeoff`
``synthetic``  :func:`synthetic_limit_inputs` for tests and benchmarks
``errors``     the exceptions

Every public name is re-exported here: ``from credit_lab.limits.optimizer import X`` works for all of them.
"""

from credit_lab.limits.optimizer.competition import annuity_factor, relationship_value, segment_tradeoff
from credit_lab.limits.optimizer.errors import InfeasibleLimitsError, OptimizationInputError, SolverError
from credit_lab.limits.optimizer.frontier import CompetitionFrontier, Frontier, competition_frontier, efficient_frontier
from credit_lab.limits.optimizer.problem import DECIDED_BY, LimitPolicy, LimitProblem, build_problem
from credit_lab.limits.optimizer.profit import (
    PiecewiseProfit,
    demand_survival,
    expected_profit,
    expected_sales,
    lognormal_params,
    net_margin_rate,
    piecewise_profit,
    relationship_value_kept,
    retention_margin,
    risk_cost_rate,
    single_customer_optimum,
)
from credit_lab.limits.optimizer.result import LimitResult
from credit_lab.limits.optimizer.solver import constraint_violations, optimize_limits, solve_with_highs
from credit_lab.limits.optimizer.synthetic import synthetic_limit_inputs
from credit_lab.risk.loss_distribution import irb_capital_rate  # re-exported: importers take it from here

__all__ = [
    "DECIDED_BY",
    "CompetitionFrontier",
    "Frontier",
    "InfeasibleLimitsError",
    "LimitPolicy",
    "LimitProblem",
    "LimitResult",
    "OptimizationInputError",
    "PiecewiseProfit",
    "SolverError",
    "annuity_factor",
    "build_problem",
    "competition_frontier",
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
    "relationship_value",
    "relationship_value_kept",
    "retention_margin",
    "risk_cost_rate",
    "single_customer_optimum",
    "segment_tradeoff",
    "solve_with_highs",
    "synthetic_limit_inputs",
]
