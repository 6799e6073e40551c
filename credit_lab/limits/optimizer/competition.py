"""The competition term of the limit objective: what a relationship is worth, and what limits keep of it.

A limit below a customer's purchase need does not only cost this period's blocked orders: a
competitor offering more credit may take the customer. With ``c`` the competitive intensity of its
segment (0 = captive, 1 = the relationship is lost in proportion to the share of need unmet),

    P(lose) = c * E[(D - L)+] / E[D]
    relationship value kept = V * (1 - P(lose)) = V * (1 - c) + (c * V / E[D]) * E[min(D, L)]

so the term adds ``r = c * V / E[D]`` to the net margin per unit of expected sales
(:func:`~credit_lab.limits.optimizer.profit.retention_margin`) and a constant: the objective stays
``(a + r) * E[min(D, L)] - k * L``, concave, solved exactly by the same prices and per-customer
responses. ``V``, the expected future margin of the relationship (:func:`relationship_value`):

    V = max(a, 0) * yearly purchases * annuity(years, rate) * min(1, tenure_months / full_value_tenure_months)
    annuity(years, rate) = (1 - (1 + rate)^-years) / rate       (= years when rate = 0)

with ``a`` the net margin rate and yearly purchases the customer's own monthly run rate x 12. A
relationship younger than ``full_value_tenure_months`` counts in proportion to its age: its run rate
rests on fewer months and young relationships end more often on their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit_lab.limits.optimizer.problem import LimitProblem

__all__ = [
    "annuity_factor",
    "relationship_value",
    "segment_tradeoff",
]


def annuity_factor(years: float, rate: float) -> float:
    """Present value of 1 a year for ``years`` years (paid at year ends; fractional years pro rata).

    >>> round(annuity_factor(3, 0.10), 4), annuity_factor(2, 0.0)
    (2.4869, 2.0)
    """
    if rate == 0:
        return float(years)
    return float((1.0 - (1.0 + rate) ** -years) / rate)


def relationship_value(net_margin: Any, yearly_purchases: Any, tenure_months: Any, *, relationship_years: float,
                       discount_rate: float, full_value_tenure_months: float) -> np.ndarray:
    """Expected future margin ``V`` of each relationship, currency units (formula in the module docstring).

    Parameters
    ----------
    net_margin : array_like
        Net margin per unit of sales (``a``); a negative margin gives ``V = 0``.
    yearly_purchases : array_like
        Purchases per year at the customer's own run rate, currency units; NaN = no ordering history (``V = 0``).
    tenure_months : array_like
        Age of the relationship, months; NaN counts as 0.
    relationship_years, discount_rate, full_value_tenure_months : float
        ``limits.competition`` params.

    Returns
    -------
    ndarray
        ``V >= 0``, currency units.
    """
    yearly = np.nan_to_num(np.asarray(yearly_purchases, dtype=float), nan=0.0)
    tenure = np.nan_to_num(np.asarray(tenure_months, dtype=float), nan=0.0)
    credibility = np.clip(tenure / float(full_value_tenure_months), 0.0, 1.0)
    margin = np.maximum(np.asarray(net_margin, dtype=float), 0.0)
    return margin * np.maximum(yearly, 0.0) * annuity_factor(relationship_years, discount_rate) * credibility


def segment_tradeoff(problem: LimitProblem, limits_with: Any, limits_without: Any,
                     segment: str = "industry") -> pd.DataFrame:
    """Per segment: expected sales, relationship value kept and expected loss, with and without the term.

    Both sets of limits are valued under the same competitive intensities (``problem``'s), so the
    difference is what weighing competition changes. ``segment`` is ``industry`` or ``region``.

    Returns
    -------
    DataFrame
        Indexed by segment, columns ``intensity`` (mean over its customers), ``relationship_value``
        (``V``, total), and ``expected_sales``, ``relationship_value_kept``, ``expected_loss`` each
        ``_with`` and ``_without`` the competition term, currency units.
    """
    codes = problem.industry_code if segment == "industry" else problem.region_code
    names = problem.industry_names if segment == "industry" else problem.region_names
    cols: dict[str, np.ndarray] = {
        "customers": np.bincount(codes, minlength=len(names)).astype(float),
        "intensity": np.bincount(codes, problem.competitive_intensity, len(names)),
        "relationship_value": np.bincount(codes, problem.relationship_value, len(names)),
    }
    cols["intensity"] = cols["intensity"] / np.maximum(cols["customers"], 1.0)
    for tag, lim in (("with", limits_with), ("without", limits_without)):
        lim = np.asarray(lim, dtype=float)
        cols[f"expected_sales_{tag}"] = np.bincount(codes, problem.expected_sales(lim), len(names))
        cols[f"relationship_value_kept_{tag}"] = np.bincount(codes, problem.relationship_value_kept(lim), len(names))
        cols[f"expected_loss_{tag}"] = np.bincount(codes, problem.el_rate * lim, len(names))
    out = pd.DataFrame(cols, index=pd.Index(names, name=segment))
    out["customers"] = out["customers"].astype(int)
    return out
