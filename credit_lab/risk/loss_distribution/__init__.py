"""Portfolio loss distribution behind the risk-reserve fund: multi-factor Gaussian copula.

Model
-----
Obligor ``i`` (sector ``s(i)``) defaults within 12 months when

    sqrt(rho_i) * Y_s(i) + sqrt(1 - rho_i) * eps_i < Phi^-1(PD_i),

with ``Y = A Z`` the correlated sector factors (``A A^T`` = the sector correlation matrix,
``Z`` iid standard normal) and ``eps_i`` iid standard normal. Its loss is
``exposure_i * LGD_i`` (currency; ``exposure`` is the net EAD after insurance and
guarantees), with ``LGD_i`` either fixed or Beta distributed with a given mean and standard
deviation, independent of everything else. Given ``Z`` the defaults are independent with
conditional probabilities ``p_i(Z) = Phi((Phi^-1(PD_i) - sqrt(rho_i) Y_s(i)) / sqrt(1 - rho_i))``.

Methods
-------
``vasicek_quantile``, ``irb_capital``
    Closed forms: the large-homogeneous-portfolio quantile and the Basel II IRB capital
    requirement for corporates (with maturity and optional SME firm-size adjustment).
``monte_carlo_loss``
    Plain Monte Carlo, seeded and chunked; the benchmark's yardstick.
``large_portfolio_loss``
    The conditional-expectation shortcut ``E[L | Z]``: fast, but drops name concentration.
``fast_loss``
    Exact conditional loss distributions (signed compound-Poisson series + FFT on an
    exposure lattice) mixed over importance-sampled, randomised quasi-Monte Carlo factor
    scenarios, with a conditional-normal control variate. Keeps name concentration; errors
    are reported (sampling CI from independent randomisations, lattice step, series
    truncation and aliasing bounds). See :func:`fast_loss` for the estimator.
``fast_loss_distributed``
    ``fast_loss`` with its per-obligor loops on the blocks of the book on a Dask cluster; the
    same result bit for bit (module ``distributed``).

All three simulation methods return a :class:`LossResult`; :func:`recommended_reserve`
turns one into the reserve ``EL + UL`` at a confidence level.

Layout
------
The closed forms live in :mod:`credit_lab.risk.basel` (the package's one IRB formula) and the
shared input checks in :mod:`credit_lab.risk.loss_inputs`; this package holds the loss model
by concern: ``portfolio`` (the validated input), ``prepare`` (thresholds, factor loadings,
sector tables), ``monte_carlo`` (plain Monte Carlo and the large-portfolio shortcut),
``kernels`` / ``lattice`` / ``sampling`` / ``fast`` (the fast method), ``measures`` (VaR/ES
and their errors), ``contributions`` (Euler contributions) and ``result`` (the result and
the recommended reserve). Every public name is re-exported here, so
``from credit_lab.risk.loss_distribution import X`` works as before the split.
"""

from __future__ import annotations

from typing import Any

from credit_lab.risk.basel import (
    basel_correlation,
    basel_maturity_adjustment,
    effective_maturity,
    irb_capital,
    irb_capital_rate,
    irb_risk_weight,
    vasicek_quantile,
)
from credit_lab.risk.loss_distribution.distributed import fast_loss_distributed
from credit_lab.risk.loss_distribution.fast import fast_loss
from credit_lab.risk.loss_distribution.kernels import HAVE_NUMBA
from credit_lab.risk.loss_distribution.measures import DEFAULT_LEVELS
from credit_lab.risk.loss_distribution.monte_carlo import large_portfolio_loss, monte_carlo_loss
from credit_lab.risk.loss_distribution.portfolio import LossPortfolio
from credit_lab.risk.loss_distribution.result import LossResult, recommended_reserve
from credit_lab.risk.loss_inputs import LossModelError

__all__ = [
    "DEFAULT_LEVELS",
    "HAVE_NUMBA",
    "LossModelError",
    "LossPortfolio",
    "LossResult",
    "basel_correlation",
    "basel_maturity_adjustment",
    "effective_maturity",
    "fast_loss",
    "fast_loss_distributed",
    "irb_capital",
    "irb_capital_rate",
    "irb_risk_weight",
    "large_portfolio_loss",
    "loss_distribution",
    "monte_carlo_loss",
    "recommended_reserve",
    "vasicek_quantile",
]


def loss_distribution(portfolio: LossPortfolio, method: str = "fast", **kwargs: Any) -> LossResult:
    """Dispatch to :func:`fast_loss` (``"fast"``), :func:`monte_carlo_loss` (``"monte_carlo"``) or
    :func:`large_portfolio_loss` (``"large_portfolio"``) with the given keyword arguments."""
    funcs = {"fast": fast_loss, "monte_carlo": monte_carlo_loss, "large_portfolio": large_portfolio_loss}
    if method not in funcs:
        raise LossModelError(f"method = {method!r} is unknown; use one of {sorted(funcs)}")
    return funcs[method](portfolio, **kwargs)
