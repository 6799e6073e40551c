"""Seeded synthetic portfolios with binding budgets, for tests and benchmarks."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from credit_lab.limits.optimizer.problem import (
    LimitPolicy,
    build_problem,
)
from credit_lab.risk.loss_distribution import irb_capital_rate

__all__ = [
    "synthetic_limit_inputs",
]


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
