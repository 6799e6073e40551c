"""Profit model of one customer: the newsvendor expected profit, its closed-form optimum and
its concave piecewise-linear approximation (see the package docstring for the formulas).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from credit_lab.limits.optimizer.errors import (
    OptimizationInputError,
)

__all__ = [
    "PiecewiseProfit",
    "demand_survival",
    "expected_profit",
    "expected_sales",
    "lognormal_params",
    "net_margin_rate",
    "piecewise_profit",
    "relationship_value_kept",
    "retention_margin",
    "risk_cost_rate",
    "single_customer_optimum",
]


_DAYS_PER_YEAR = 365.0


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


def retention_margin(relationship_value: Any, intensity: Any, mean_demand: Any) -> np.ndarray:
    """Retention margin ``r = c * V / E[D]`` per unit of sales: the competition term of the objective.

    With ``P(lose) = c * E[(D - L)+] / E[D]`` (the expected share of the need left unmet, times the
    competitive intensity ``c``) the relationship value kept is
    ``V * (1 - P(lose)) = V * (1 - c) + (c * V / E[D]) * E[min(D, L)]``: a constant plus ``r`` per unit
    of expected sales. Added to :func:`net_margin_rate` it keeps the objective
    ``(a + r) * E[min(D, L)] - k * L`` of the same concave newsvendor form.

    Parameters
    ----------
    relationship_value : array_like
        ``V``, expected future margin of the relationship, currency units, >= 0.
    intensity : array_like
        ``c``, competitive intensity of the customer's segment, in [0, 1].
    mean_demand : array_like
        ``E[D]``, mean purchase need over the payment terms, currency units, > 0.

    Returns
    -------
    ndarray
        ``c * V / E[D]``, per unit of sales.
    """
    return (np.asarray(intensity, dtype=float) * np.asarray(relationship_value, dtype=float)
            / np.asarray(mean_demand, dtype=float))


def relationship_value_kept(limit: Any, mean_demand: Any, demand_cv: Any, relationship_value: Any,
                            intensity: Any) -> np.ndarray:
    """Expected relationship value kept at a limit: ``V * (1 - c * (1 - E[min(D, L)] / E[D]))``.

    Parameters
    ----------
    limit : array_like
        Credit limit, currency units.
    mean_demand, demand_cv : array_like
        Mean (currency units) and CV of the purchase need.
    relationship_value, intensity : array_like
        ``V`` (currency units) and ``c`` (in [0, 1]) of :func:`retention_margin`.

    Returns
    -------
    ndarray
        Currency units, in ``[V * (1 - c), V]``.
    """
    mean = np.asarray(mean_demand, dtype=float)
    unmet = 1.0 - expected_sales(limit, mean, demand_cv) / mean
    return np.asarray(relationship_value, dtype=float) * (1.0 - np.asarray(intensity, dtype=float) * unmet)


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
