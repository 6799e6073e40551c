"""The limit-optimization problem: company policy, input checks, per-customer bounds and pieces,
and the coupling rows (budgets and caps) with the use a set of limits makes of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.limits.optimizer.errors import (
    OptimizationInputError,
    _fail,
)
from credit_lab.limits.optimizer.profit import (
    PiecewiseProfit,
    _closed_form,
    _pieces,
    _quantile,
    expected_profit,
    expected_sales,
    lognormal_params,
    net_margin_rate,
    relationship_value_kept,
    retention_margin,
    risk_cost_rate,
)

__all__ = [
    "DECIDED_BY",
    "LimitPolicy",
    "LimitProblem",
    "build_problem",
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
    # appended, so the codes of the ones above stay as they were
    "new_customer_cap": "a new customer's limit is capped until it has a payment history",
    "requested_limit": "a new customer gets at most the limit it requested",
    "relationship_value": "the value of keeping the relationship: a shortfall against its need risks losing the "
                          "customer to a competitor, so the limit is above its profit optimum without competition",
    "strategic_floor": "a strategic customer's limit is held at a protected share of its expected purchase need",
}
_LABELS = tuple(DECIDED_BY)
_CODE = {name: np.int8(i) for i, name in enumerate(_LABELS)}
_NO_SOURCE = np.int8(-1)


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
        ``a`` per unit of sales (margin now, :func:`net_margin_rate`).
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
    retention_margin : ndarray
        ``r = c * V / E[D]`` per unit of sales (:func:`retention_margin`); the pieces and the optimum
        use the margin ``a + r`` (:attr:`margin_rate`). 0 without the competition term.
    relationship_value, competitive_intensity : ndarray
        ``V`` (currency units) and ``c`` (in [0, 1]) of each customer; 0 without the term.
    optimum_without_retention : ndarray
        ``clip(L*, lower, upper)`` with the margin ``a`` alone (equals ``profit_optimum`` when ``r = 0``).
    strategic_floor : ndarray
        The strategic floor asked for, currency units (NaN = not strategic); it is in force where
        ``lower_source`` names it.
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
    retention_margin: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    relationship_value: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    competitive_intensity: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    optimum_without_retention: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    strategic_floor: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.widths is None:
            object.__setattr__(self, "widths", self.pieces.widths)
        n = self.lower.shape[0]
        for name in ("retention_margin", "relationship_value", "competitive_intensity"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(n))
        if self.optimum_without_retention is None:
            object.__setattr__(self, "optimum_without_retention", self.profit_optimum)
        if self.strategic_floor is None:
            object.__setattr__(self, "strategic_floor", np.full(n, np.nan))

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

    @property
    def margin_rate(self) -> np.ndarray:
        """Margin per unit of expected sales in the objective: ``net_margin + retention_margin``."""
        return self.net_margin + self.retention_margin

    def expected_profit(self, limits: Any) -> np.ndarray:
        """Exact objective of each customer at ``limits``: ``(a + r) * E[min(D, L)] - k * L``, currency units.

        Without the competition term (``r = 0``) this is the expected profit; with it, it adds the
        part of the relationship value kept that the limit moves (the constant ``V * (1 - c)`` is left out).
        """
        return expected_profit(limits, self.mean_demand, self.demand_cv, self.margin_rate, self.risk_cost)

    def expected_sales(self, limits: Any) -> np.ndarray:
        """Expected sales ``E[min(D, L)]`` of each customer at ``limits``, currency units."""
        return expected_sales(limits, self.mean_demand, self.demand_cv)

    def margin_now(self, limits: Any) -> np.ndarray:
        """Expected profit of this period alone, ``a * E[min(D, L)] - k * L``, currency units."""
        return expected_profit(limits, self.mean_demand, self.demand_cv, self.net_margin, self.risk_cost)

    def relationship_value_kept(self, limits: Any) -> np.ndarray:
        """Relationship value kept at ``limits``, ``V * (1 - c * (1 - E[min(D, L)] / E[D]))``, currency units."""
        return relationship_value_kept(limits, self.mean_demand, self.demand_cv, self.relationship_value,
                                       self.competitive_intensity)

    def without_competition(self) -> LimitProblem:
        """The same problem with the competition term off (``V = c = r = 0``); bounds and budgets kept."""
        if not np.any(self.retention_margin):
            return replace(self, relationship_value=np.zeros(self.n_customers),
                           competitive_intensity=np.zeros(self.n_customers))
        mu, sigma = lognormal_params(self.mean_demand, self.demand_cv)
        optimum = self.optimum_without_retention
        pieces = _pieces(self.mean_demand, mu, sigma, self.net_margin, self.risk_cost, self.lower, self.upper,
                         optimum, self.n_pieces)
        zero = np.zeros(self.n_customers)
        return replace(self, profit_optimum=optimum, pieces=pieces, widths=pieces.widths, retention_margin=zero,
                       relationship_value=zero, competitive_intensity=zero)

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
_OPTIONAL_DEFAULTS = {"ccf": 1.0, "insurer_cap": np.nan, "new_customer_cap": np.nan, "requested_limit_cap": np.nan,
                      "relationship_value": 0.0, "competitive_intensity": 0.0, "strategic_floor": np.nan}



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
        not insured), ``new_customer_cap`` and ``requested_limit_cap`` (a new customer's caps,
        currency units; NaN/inf = none), ``relationship_value`` (``V``, currency units, >= 0) and
        ``competitive_intensity`` (``c`` in [0, 1]) of the competition term (default 0: off),
        ``strategic_floor`` (currency units; NaN = not strategic), ``customer_id`` for a mapping.
    policy : LimitPolicy

    Returns
    -------
    LimitProblem

    Notes
    -----
    Per-customer bounds:

    * floor = max(grade minimum, (1 - max_change) * current, strategic floor);
    * upper = min(single-name cap, grade maximum, (1 + max_change) * current, insurer cap,
      new-customer cap, requested-limit cap, capacity), where capacity is the ``capacity_quantile``
      of the need but never below the floor (it is a modelling device, not a hard cap);
    * when the floor is above the hard caps the caps win: ``lower = upper`` and
      ``bound_conflict`` is set;
    * above the PD cut-off both bounds are 0 (the cut-off beats every floor).

    A strategic floor is a commercial protection, not a risk limit: like every floor it yields to
    the hard caps and the PD cut-off.

    Objective margin per unit of sales: ``a + r`` with ``a`` of :func:`net_margin_rate` and
    ``r = c * V / E[D]`` of :func:`retention_margin` (0 unless the competition columns are given).

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
    new_cap = _numeric(cols, ids, "new_customer_cap", n, lo=0.0, allow_nan=True)
    request_cap = _numeric(cols, ids, "requested_limit_cap", n, lo=0.0, allow_nan=True)
    rel_value = _numeric(cols, ids, "relationship_value", n, lo=0.0)
    intensity = _numeric(cols, ids, "competitive_intensity", n, lo=0.0, hi=1.0)
    strategic = _numeric(cols, ids, "strategic_floor", n, lo=0.0, allow_nan=True)

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
    r = retention_margin(rel_value, intensity, mean)
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
    caps = np.stack([np.full(n, single), ins, grade_max, band_hi, np.where(np.isnan(new_cap), np.inf, new_cap),
                     np.where(np.isnan(request_cap), np.inf, request_cap)])
    cap_codes = np.array([_CODE["single_name_cap"], _CODE["insurer_cap"], _CODE["grade_bound"], _CODE["change_cap"],
                          _CODE["new_customer_cap"], _CODE["requested_limit"]])
    which = np.argmin(caps, axis=0)
    hard_hi = caps[which, np.arange(n)]
    strategic_lo = np.where(np.isnan(strategic), 0.0, strategic)
    floor = np.maximum(np.maximum(grade_min, band_lo), strategic_lo)
    lower_source = np.where(floor <= 0, _NO_SOURCE,
                            np.where(band_lo >= grade_min, _CODE["change_cap"], _CODE["grade_bound"])).astype(np.int8)
    # Ties go to the change band and grade minimum: the strategic floor is named only where it lifts the floor.
    lower_source = np.where(strategic_lo > np.maximum(grade_min, band_lo), _CODE["strategic_floor"],
                            lower_source).astype(np.int8)
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

    optimum = np.clip(_closed_form(mu, sigma, a + r, k), lower, upper)
    optimum_plain = optimum if not r.any() else np.clip(_closed_form(mu, sigma, a, k), lower, upper)
    pieces = _pieces(mean, mu, sigma, a + r, k, lower, upper, optimum, int(policy.n_pieces))

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
        retention_margin=r, relationship_value=rel_value, competitive_intensity=intensity,
        optimum_without_retention=optimum_plain, strategic_floor=strategic,
    )



# Use of the coupling rows by a set of limits; shared with the solvers.

def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # Not BLAS: a threaded BLAS dot stalls for milliseconds when the cores are busy.
    return float(np.multiply(a, b).sum())


def _usage(X: np.ndarray, el: np.ndarray, ind: np.ndarray, reg: np.ndarray, n_ind: int, n_reg: int) -> np.ndarray:
    return np.concatenate([[_dot(el, X), X.sum()], np.bincount(ind, weights=X, minlength=n_ind),
                           np.bincount(reg, weights=X, minlength=n_reg)])
