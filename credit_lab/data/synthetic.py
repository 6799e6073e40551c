"""Synthetic B2B trade-credit ledger.

This module generates a seeded, fully deterministic ledger of a company that
sells to business customers on invoice payment terms: the customer master
data, yearly financial statements, invoices with their payments, first
defaults and a monthly industry-outlook indicator.

The generator is driven by a small structural model so that the data carry a
learnable (but not trivial) credit signal:

* every customer has a latent credit quality ``z ~ N(0, 1)`` (higher is
  better), mildly correlated with firm size;
* every industry follows a monthly AR(1) cycle ``Y_ind(t)`` that loads on a
  common macro factor, and one or two industries go through a visible
  downturn inside the window;
* the monthly default probability follows the one-factor (Vasicek) model
  ``Phi((Phi^-1(p_i) - sqrt(rho) * Y_ind(t)) / sqrt(1 - rho))`` so that
  defaults cluster by industry and time;
* payment behaviour (days paid beyond terms) depends on ``z``, the cycle and
  deteriorates during the months before a default; financial ratios depend on
  ``z`` with more noise and only arrive once a year.

All tuning knobs live in :class:`SynthParams`; :data:`DEFAULT_PARAMS` holds
the values used by :func:`generate_ledger` unless a custom instance is passed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "DEFAULT_PARAMS",
    "INDUSTRY_NAMES",
    "REGION_NAMES",
    "Ledger",
    "SynthParams",
    "generate_ledger",
]

#: Industry names used in order; more industries than listed get generic names.
INDUSTRY_NAMES: tuple[str, ...] = (
    "Construction",
    "Retail",
    "Wholesale",
    "Manufacturing",
    "Transport",
    "Hospitality",
    "Healthcare",
    "IT Services",
    "Agriculture",
    "Energy",
    "Chemicals",
    "Media",
)

#: Region names used in order; more regions than listed get generic names.
REGION_NAMES: tuple[str, ...] = ("North", "South", "East", "West", "Central", "Islands")

# Per-industry structural parameters, keyed by name so that the economics of an
# industry do not depend on how many industries were requested.
# (probit PD offset, EBITDA margin, asset turnover, current-asset share,
#  inventory share of non-cash current assets, share of customers)
_INDUSTRY_PROFILE: dict[str, tuple[float, float, float, float, float, float]] = {
    "Construction": (0.30, 0.07, 1.1, 0.60, 0.35, 1.3),
    "Retail": (0.15, 0.06, 1.8, 0.55, 0.65, 1.2),
    "Wholesale": (0.05, 0.05, 2.2, 0.65, 0.60, 1.4),
    "Manufacturing": (0.00, 0.11, 0.9, 0.50, 0.45, 1.5),
    "Transport": (0.10, 0.09, 1.0, 0.35, 0.10, 1.0),
    "Hospitality": (0.25, 0.10, 0.8, 0.20, 0.15, 0.8),
    "Healthcare": (-0.20, 0.13, 0.9, 0.45, 0.20, 0.8),
    "IT Services": (-0.10, 0.15, 1.3, 0.60, 0.05, 0.9),
    "Agriculture": (0.05, 0.10, 0.6, 0.40, 0.50, 0.6),
    "Energy": (-0.15, 0.18, 0.5, 0.30, 0.20, 0.5),
    "Chemicals": (-0.05, 0.14, 0.8, 0.50, 0.40, 0.5),
    "Media": (0.10, 0.12, 1.0, 0.55, 0.05, 0.5),
}
_GENERIC_INDUSTRY_PROFILE = (0.0, 0.10, 1.0, 0.50, 0.30, 0.7)

_REGION_PD_OFFSET: dict[str, float] = {
    "North": -0.05,
    "South": 0.08,
    "East": 0.04,
    "West": -0.03,
    "Central": 0.0,
    "Islands": 0.06,
}

_NAME_PREFIX = np.array(
    ["Al", "Bel", "Cor", "Dan", "El", "Fal", "Gor", "Hel", "Ir", "Jor", "Kal", "Lin", "Mar", "Nor", "Or", "Pol"]
    + ["Quin", "Ros", "Sal", "Tor", "Ul", "Val", "Wen", "Xan", "Yor", "Zel", "Ber", "Cam", "Dur", "Fen", "Gal", "Hal"]
)
_NAME_SUFFIX = np.array(
    ["tex", "ria", "mont", "vale", "dor", "ston", "mar", "gen", "tron", "lux", "berg", "field", "via", "ton"]
    + ["dex", "ora", "wick", "nova", "corp", "line"]
)
_NAME_WORD = np.array(
    [
        "Industries",
        "Logistics",
        "Trading",
        "Systems",
        "Group",
        "Holding",
        "Solutions",
        "Services",
        "Works",
        "Supply",
        "Technik",
        "Handel",
        "Foods",
        "Bau",
        "Components",
        "Distribution",
    ]
)
_NAME_SURNAME = np.array(
    [
        "O'Neil",
        "O'Brien",
        "D'Angelo",
        "O'Connor",
        "D'Souza",
        "Becker",
        "Smith",
        "Rossi",
        "Dubois",
        "Jansen",
        "Novak",
        "Schmidt",
        "Moreau",
        "Fischer",
    ]
)
_NAME_PARTNER = np.array(["Sons", "Partners", "Co.", "Daughters", "Brothers"])
_LEGAL_FORM = np.array(["GmbH", "Ltd", "S.A.", "Inc.", "AG", "B.V.", "S.r.l.", "plc", "LLC", "Oy", "A/S", "KG"])

_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class SynthParams:
    """Tuning knobs of the ledger generator.

    The defaults are chosen so that a gradient-boosted model on twelve months
    of payment history plus the latest statement reaches an AUC of about
    0.78-0.88 (depending on the seed, i.e. on the simulated cycle) for
    twelve-month-ahead default, with payment features alone at about
    0.72-0.87 and financial ratios alone at about 0.64-0.71. To make the problem easier or harder,
    the most effective knobs are ``pd_z_slope`` (how much the latent quality
    drives default), ``habit_z_days`` / ``invoice_noise_days`` (how clearly
    payment behaviour reveals the quality), ``ramp_max_days`` (strength of
    the pre-default deterioration) and ``fin_noise_sd`` (noise in financials).

    Attributes
    ----------
    asset_correlation : float
        Vasicek asset correlation ``rho`` of the monthly default model.
    factor_persistence : float
        Monthly AR(1) coefficient of the macro and industry factors.
    macro_loading : float
        Loading of each industry factor on the common macro factor; the own
        component gets ``sqrt(1 - macro_loading**2)`` so the factor has unit
        variance before the downturn shock is added.
    downturn_depth : tuple of float
        Range of the peak depth (in factor standard deviations) of the
        industry downturn(s).
    downturn_months : tuple of int
        Range of the length of a downturn in months.
    pd_z_slope : float
        Probit slope of the customer's monthly PD on ``z``.
    pd_size_z_corr : float
        Correlation between standardised log revenue and ``z``.
    seasoning_months : int
        Months after onboarding during which no default can happen (a 90-days
        past due event needs time to build up).
    lookahead_months : int
        Defaults are simulated this far beyond ``end_date`` (and not
        recorded) so that customers about to default right after the window
        already show deteriorating behaviour inside it.
    calibration_block_months : int
        The baseline PD is calibrated to ``annual_default_rate`` separately
        for consecutive blocks of this many months (0 = one block for the
        whole window, letting the macro cycle move yearly rates).
    write_off_share : float
        Share of defaults recorded as ``"write_off"`` instead of ``"90dpd"``.
    median_revenue : float
        Median annual revenue of a customer.
    revenue_log_sd : float
        Standard deviation of log annual revenue.
    revenue_bounds : tuple of float
        Hard bounds of annual revenue.
    purchase_share_median : float
        Median share of a customer's revenue spent with the seller.
    invoice_rate_median : float
        Invoices per month for a customer with median revenue.
    invoice_rate_size_elasticity : float
        Elasticity of the invoice rate to revenue.
    amount_log_sd : float
        Log-standard deviation of invoice amounts around their mean.
    recent_onboarding_share : float
        Share of customers onboarded in the final 12 months of the window.
    onboarding_history_years : float
        How far before ``start_date`` the oldest customers were onboarded.
    on_time_intercept, on_time_z : float
        Probit model of the probability that an invoice is paid around the
        due date regardless of the customer's habit.
    habit_mean_days, habit_z_days, habit_sd_days : float
        Customer habit of days beyond terms: ``mean - habit_z_days * z +
        habit_sd_days * N(0, 1)``; the last term is payment style unrelated
        to credit quality.
    invoice_noise_days : float
        Standard deviation of the per-invoice lateness noise.
    late_shock_prob, late_shock_mean_days : float
        Probability and mean size of occasional exponential payment delays.
    cycle_late_days : float
        Additional days late per unit of negative industry factor.
    ramp_months : tuple of int
        Range of the length of the pre-default deterioration.
    ramp_max_days : float
        Additional days late right before a default.
    ramp_power : float
        Shape of the pre-default ramp (higher = more concentrated at the end).
    unpaid_prob : float
        Probability that an invoice due in the 90 days before a default (or
        later) is never paid in full.
    partial_recovery_prob : float
        Probability that such an unpaid invoice is partly paid later.
    dispute_base_prob, dispute_z, dispute_ramp : float
        Dispute probability ``sigmoid(logit(base) - dispute_z * z +
        dispute_ramp * ramp_fraction)``.
    fin_z_weight, fin_firm_sd, fin_noise_sd, fin_cycle_weight : float
        Financial health of a statement: ``fin_z_weight * z + fin_firm_sd *
        firm_effect + fin_noise_sd * N(0, 1) + fin_cycle_weight * Y``.
    fin_distress_drop : float
        Drop in financial health for a statement in the 18 months before a
        default (linear in the time left).
    statement_missing_prob : float
        Probability that a statement is not delivered.
    insured_share : float
        Share of customers with credit insurance.
    guarantee_share : float
        Share of customers with a guarantee.
    outlook_lead_months : int
        The outlook at month ``t`` reflects the industry factor over months
        ``t+1 .. t+outlook_lead_months``.
    outlook_scale, outlook_noise_sd : float
        Scale of the signal and standard deviation of the noise of the
        outlook score.
    """

    asset_correlation: float = 0.12
    factor_persistence: float = 0.9
    macro_loading: float = 0.6
    downturn_depth: tuple[float, float] = (0.8, 1.5)
    downturn_months: tuple[int, int] = (9, 16)
    pd_z_slope: float = 0.55
    pd_size_z_corr: float = 0.25
    seasoning_months: int = 4
    lookahead_months: int = 12
    calibration_block_months: int = 12
    write_off_share: float = 0.25
    median_revenue: float = 10e6
    revenue_log_sd: float = 1.3
    revenue_bounds: tuple[float, float] = (0.5e6, 500e6)
    purchase_share_median: float = 0.015
    invoice_rate_median: float = 3.0
    invoice_rate_size_elasticity: float = 0.35
    amount_log_sd: float = 0.8
    recent_onboarding_share: float = 0.12
    onboarding_history_years: float = 10.0
    on_time_intercept: float = -0.1
    on_time_z: float = 0.5
    habit_mean_days: float = 6.0
    habit_z_days: float = 4.0
    habit_sd_days: float = 6.0
    invoice_noise_days: float = 7.0
    late_shock_prob: float = 0.06
    late_shock_mean_days: float = 20.0
    cycle_late_days: float = 3.0
    ramp_months: tuple[int, int] = (6, 9)
    ramp_max_days: float = 35.0
    ramp_power: float = 1.5
    unpaid_prob: float = 0.9
    partial_recovery_prob: float = 0.3
    dispute_base_prob: float = 0.02
    dispute_z: float = 0.4
    dispute_ramp: float = 1.5
    fin_z_weight: float = 0.6
    fin_firm_sd: float = 0.5
    fin_noise_sd: float = 0.6
    fin_cycle_weight: float = 0.2
    fin_distress_drop: float = 1.0
    statement_missing_prob: float = 0.03
    insured_share: float = 0.5
    guarantee_share: float = 0.10
    outlook_lead_months: int = 6
    outlook_scale: float = 1.2
    outlook_noise_sd: float = 0.5


#: Parameters used by :func:`generate_ledger` when none are given.
DEFAULT_PARAMS = SynthParams()


@dataclass(frozen=True, eq=False)
class Ledger:
    """A generated trade-credit ledger.

    Attributes
    ----------
    customers : pandas.DataFrame
        One row per customer: ``customer_id``, ``customer_name``,
        ``industry``, ``region``, ``onboarding_date``,
        ``payment_terms_days``, ``credit_limit``, ``insurance_cover_pct``,
        ``insured_limit``, ``guarantee_amount``.
    financials : pandas.DataFrame
        Yearly statements: ``customer_id``, ``period_end``, ``revenue``,
        ``ebitda``, ``ebit``, ``net_income``, ``interest_expense``,
        ``total_assets``, ``total_liabilities``, ``current_assets``,
        ``current_liabilities``, ``inventory``, ``cash``,
        ``retained_earnings``, ``equity``.
    invoices : pandas.DataFrame
        ``invoice_id``, ``customer_id``, ``invoice_date``, ``due_date``,
        ``amount``, ``paid_date``, ``paid_amount``, ``disputed``.
    defaults : pandas.DataFrame
        First default per customer: ``customer_id``, ``default_date``,
        ``default_type``.
    industry_outlook : pandas.DataFrame
        ``industry``, ``as_of_date``, ``outlook_score``.
    start_date, end_date : pandas.Timestamp
        The observation window ``[start_date, end_date)``.
    """

    customers: pd.DataFrame
    financials: pd.DataFrame
    invoices: pd.DataFrame
    defaults: pd.DataFrame
    industry_outlook: pd.DataFrame
    start_date: pd.Timestamp
    end_date: pd.Timestamp


def generate_ledger(
    n_customers: int = 5000,
    n_months: int = 36,
    start_date: str = "2023-01-01",
    seed: int = 0,
    annual_default_rate: float = 0.05,
    n_industries: int = 10,
    n_regions: int = 5,
    *,
    params: SynthParams | None = None,
) -> Ledger:
    """Generate a synthetic B2B trade-credit ledger.

    Parameters
    ----------
    n_customers : int, default 5000
        Number of customers.
    n_months : int, default 36
        Length of the observation window in months.
    start_date : str, default "2023-01-01"
        First day of the window (normally a month start).
    seed : int, default 0
        Seed of the only random generator used; equal arguments give equal
        frames.
    annual_default_rate : float, default 0.05
        Target annual default rate among active (onboarded, not yet
        defaulted) customers. The baseline PD is calibrated against the
        simulated industry cycle so the realised rate is close to it.
    n_industries : int, default 10
        Number of industries.
    n_regions : int, default 5
        Number of regions.
    params : SynthParams, optional
        Tuning knobs; :data:`DEFAULT_PARAMS` when omitted.

    Returns
    -------
    Ledger
        The generated tables and the window bounds. ``due_date`` may fall
        after ``end_date``; every other date is before it.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> ledger = generate_ledger(n_customers=200, n_months=12, seed=1)
    >>> sorted(ledger.defaults.columns)
    ['customer_id', 'default_date', 'default_type']
    """
    if n_customers < 1:
        raise ValueError("n_customers must be positive")
    if n_months < 1:
        raise ValueError("n_months must be positive")
    if not 0.0 <= annual_default_rate < 1.0:
        raise ValueError("annual_default_rate must be in [0, 1)")
    if n_industries < 1 or n_regions < 1:
        raise ValueError("n_industries and n_regions must be positive")
    p = DEFAULT_PARAMS if params is None else params

    rng = np.random.default_rng(seed)
    start = pd.Timestamp(start_date).normalize()
    end = start + pd.DateOffset(months=n_months)
    horizon = n_months + p.lookahead_months
    # Month boundaries as day numbers; month t covers [bounds[t], bounds[t+1]).
    bounds = _month_bounds(start, horizon + p.outlook_lead_months + 1)
    industries = _names(INDUSTRY_NAMES, n_industries, "Industry")
    regions = _names(REGION_NAMES, n_regions, "Region")

    cust = _draw_customers(rng, p, n_customers, industries, regions, bounds, n_months)
    factor = _industry_factor(rng, p, n_industries, horizon + p.outlook_lead_months, n_months)
    default_day, default_month = _simulate_defaults(
        rng, p, cust, factor[:, :horizon], bounds, n_months, annual_default_rate, industries, regions
    )
    cust["default_day"] = default_day

    customers = _customer_table(rng, p, cust, industries, regions)
    invoices = _invoice_table(rng, p, cust, factor, bounds, n_months, customers["customer_id"])
    financials = _financial_table(rng, p, cust, factor, bounds, n_months, start, industries, customers["customer_id"])
    defaults = _default_table(rng, p, cust, default_month, n_months, customers["customer_id"])
    outlook = _outlook_table(rng, p, factor, industries, bounds, n_months)

    # Customer ids are assigned in onboarding order; sort by id for stable output.
    order = np.argsort(customers["customer_id"].to_numpy(), kind="stable")
    customers = customers.iloc[order].reset_index(drop=True)
    return Ledger(
        customers=customers,
        financials=financials,
        invoices=invoices,
        defaults=defaults,
        industry_outlook=outlook,
        start_date=start,
        end_date=pd.Timestamp(end),
    )


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------


def _names(base: tuple[str, ...], n: int, generic: str) -> list[str]:
    """Return ``n`` names, padding ``base`` with numbered generic ones."""
    out = list(base[:n])
    out += [f"{generic} {k + 1}" for k in range(len(out), n)]
    return out


def _month_bounds(start: pd.Timestamp, n: int) -> np.ndarray:
    """Day numbers (days since epoch) of ``start + k months`` for k = 0..n."""
    stamps = [start + pd.DateOffset(months=k) for k in range(n + 1)]
    return np.array([np.datetime64(s.date(), "D").astype(np.int64) for s in stamps])


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Convert day numbers (``NaT``-aware int array) to ``datetime64[ns]``."""
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def _text(values: np.ndarray) -> np.ndarray:
    """Object array of Python strings; pandas infers its default string dtype."""
    return np.asarray(values, dtype=object)


def _profile(industry: str) -> tuple[float, float, float, float, float, float]:
    return _INDUSTRY_PROFILE.get(industry, _GENERIC_INDUSTRY_PROFILE)


def _draw_customers(
    rng: np.random.Generator,
    p: SynthParams,
    n: int,
    industries: list[str],
    regions: list[str],
    bounds: np.ndarray,
    n_months: int,
) -> pd.DataFrame:
    """Draw the latent attributes of every customer (internal columns)."""
    weights = np.array([_profile(name)[5] for name in industries])
    industry = rng.choice(len(industries), size=n, p=weights / weights.sum())
    region = rng.integers(0, len(regions), size=n)

    log_rev = np.log(p.median_revenue) + p.revenue_log_sd * rng.standard_normal(n)
    log_rev = np.clip(log_rev, *np.log(p.revenue_bounds))
    size_std = (log_rev - np.log(p.median_revenue)) / p.revenue_log_sd
    c = p.pd_size_z_corr
    z = c * size_std + np.sqrt(1.0 - c**2) * rng.standard_normal(n)

    # A dense block of recent onboardings so that some customers have little
    # or no history, the rest spread over a long past (customer base growth).
    start_day, end_day = int(bounds[0]), int(bounds[n_months])
    recent_from = int(bounds[max(n_months - 12, 0)])
    oldest = start_day - round(365.25 * p.onboarding_history_years)
    recent = rng.random(n) < p.recent_onboarding_share
    onb_day = np.where(
        recent,
        rng.integers(recent_from, end_day, size=n),
        rng.integers(oldest, max(recent_from, oldest + 1), size=n),
    )
    # Month index of onboarding relative to the window; before the window an
    # approximate (negative) index is enough, it only drives the seasoning.
    onb_month = np.searchsorted(bounds, onb_day, side="right") - 1
    before = onb_day < start_day
    onb_month = np.where(before, -((start_day - onb_day) // 31) - 1, onb_month)

    return pd.DataFrame(
        {
            "industry": industry,
            "region": region,
            "log_rev": log_rev,
            "z": z,
            "onb_day": onb_day,
            "onb_month": onb_month,
        }
    )


def _ar1(rng: np.random.Generator, phi: float, shape: tuple[int, int], burn: int) -> np.ndarray:
    """Unit-variance AR(1) paths along the last axis after a burn-in."""
    rows, length = shape
    eps = rng.standard_normal((rows, length + burn)) * np.sqrt(1.0 - phi**2)
    x = np.empty_like(eps)
    x[:, 0] = rng.standard_normal(rows)
    for t in range(1, length + burn):
        x[:, t] = phi * x[:, t - 1] + eps[:, t]
    return x[:, burn:]


def _industry_factor(rng: np.random.Generator, p: SynthParams, n_ind: int, length: int, n_months: int) -> np.ndarray:
    """Systematic factor per industry and month (``n_ind x length``)."""
    macro = _ar1(rng, p.factor_persistence, (1, length), burn=60)
    own = _ar1(rng, p.factor_persistence, (n_ind, length), burn=60)
    w = p.macro_loading
    y = w * macro + np.sqrt(1.0 - w**2) * own

    n_down = 1 if n_ind < 3 else int(rng.integers(1, 3))
    hit = rng.choice(n_ind, size=n_down, replace=False)
    t = np.arange(length)
    for k in hit:
        span = int(rng.integers(p.downturn_months[0], p.downturn_months[1] + 1))
        centre = rng.uniform(0.3, 0.75) * n_months
        depth = rng.uniform(*p.downturn_depth)
        # Smooth (raised-cosine) dip so the downturn builds up and recovers.
        phase = np.clip((t - centre) / (span / 2.0), -1.0, 1.0)
        y[k] -= depth * 0.5 * (1.0 + np.cos(np.pi * phase))
    return y


def _simulate_defaults(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    factor: np.ndarray,
    bounds: np.ndarray,
    n_months: int,
    target: float,
    industries: list[str],
    regions: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate first-default month and day per customer.

    Returns day numbers (``-1`` = no default within the simulated horizon,
    which extends ``lookahead_months`` beyond the window) and month indices.
    """
    n = len(cust)
    horizon = factor.shape[1]
    rho = p.asset_correlation
    ind = cust["industry"].to_numpy()
    offset = np.array([_profile(name)[0] for name in industries])[ind]
    offset = offset + np.array([_REGION_PD_OFFSET.get(r, 0.0) for r in regions])[cust["region"].to_numpy()]
    base = offset - p.pd_z_slope * cust["z"].to_numpy()
    t = np.arange(horizon)
    active = t[None, :] >= (cust["onb_month"].to_numpy()[:, None] + p.seasoning_months)
    systematic = np.sqrt(rho) * factor[ind]  # n x horizon
    u = rng.random((n, horizon))

    scale = 1.0 / np.sqrt(1.0 - rho)

    def hazard(level: np.ndarray | float, cols: slice) -> np.ndarray:
        h = special.ndtr((level + base[:, None] - systematic[:, cols]) * scale)
        return np.where(active[:, cols], h, 0.0)

    if target <= 0.0:
        return np.full(n, -1, dtype=np.int64), np.full(n, horizon, dtype=np.int64)

    # Calibrate the PD level against the realised cycle, block by block, so
    # the expected annual rate among active customers in every block equals
    # the target: the cycle then redistributes defaults across industries and
    # months but a lucky macro path cannot push a whole year out of range.
    block = p.calibration_block_months if p.calibration_block_months > 0 else n_months
    edges = list(range(0, n_months, block)) + [n_months]
    if len(edges) > 2 and edges[-1] - edges[-2] < block // 2:
        del edges[-2]  # a short tail is too noisy to calibrate alone
    fallback = float(special.ndtri(1.0 - (1.0 - target) ** (1.0 / 12.0)))
    level = np.empty(horizon)
    surv0 = np.ones(n)
    for lo_t, hi_t in itertools.pairwise(edges):
        cols = slice(lo_t, hi_t)
        exposed = active[:, cols]
        if exposed.any():
            a = optimize.brentq(_block_rate_gap, -12.0, 3.0, args=(hazard, cols, surv0, exposed, target), xtol=1e-6)
        else:
            a = fallback
        level[cols] = a
        surv0 = surv0 * np.prod(1.0 - hazard(a, cols), axis=1)
    # Lookahead months keep the level of the last calibrated block.
    level[n_months:] = level[n_months - 1]
    hit = u < hazard(level[None, :], slice(0, horizon))
    has = hit.any(axis=1)
    month = np.where(has, hit.argmax(axis=1), horizon)
    lo = bounds[np.minimum(month, horizon - 1)]
    hi = bounds[np.minimum(month, horizon - 1) + 1]
    day = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
    day = np.where(has, day, -1)
    return day, month


def _block_rate_gap(
    level: float,
    hazard: Callable[[float, slice], np.ndarray],
    cols: slice,
    surv0: np.ndarray,
    exposed: np.ndarray,
    target: float,
) -> float:
    """Expected annual default rate of a block of months minus the target.

    The rate is expected defaults over expected exposure (survival-weighted
    active customer-months), annualised.
    """
    h = hazard(level, cols)
    surv = surv0[:, None] * np.cumprod(np.hstack([np.ones((len(h), 1)), 1.0 - h[:, :-1]]), axis=1)
    monthly = (surv * h).sum() / (surv * exposed).sum()
    return 1.0 - (1.0 - monthly) ** 12 - target


def _customer_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Plausible company names; some family-style names with ``'`` and ``&``."""
    stem = np.char.add(
        _NAME_PREFIX[rng.integers(0, len(_NAME_PREFIX), n)],
        _NAME_SUFFIX[rng.integers(0, len(_NAME_SUFFIX), n)],
    )
    word = np.where(
        rng.random(n) < 0.6,
        np.char.add(" ", _NAME_WORD[rng.integers(0, len(_NAME_WORD), n)]),
        "",
    )
    surname = _NAME_SURNAME[rng.integers(0, len(_NAME_SURNAME), n)]
    partner = np.where(
        rng.random(n) < 0.6,
        _NAME_PARTNER[rng.integers(0, len(_NAME_PARTNER), n)],
        _NAME_SURNAME[rng.integers(0, len(_NAME_SURNAME), n)],
    )
    family = np.char.add(np.char.add(surname, " & "), partner)
    core = np.where(rng.random(n) < 0.08, family, np.char.add(stem, word))
    legal = _LEGAL_FORM[rng.integers(0, len(_LEGAL_FORM), n)]
    return np.char.add(np.char.add(core, " "), legal).astype(object)


def _customer_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    industries: list[str],
    regions: list[str],
) -> pd.DataFrame:
    """Public customer master data; also adds internal columns to ``cust``."""
    n = len(cust)
    z = cust["z"].to_numpy()
    revenue = np.exp(cust["log_rev"].to_numpy())

    terms = rng.choice(np.array([14, 30, 45, 60, 90]), size=n, p=[0.06, 0.36, 0.2, 0.24, 0.14])
    share = np.clip(p.purchase_share_median * np.exp(0.5 * rng.standard_normal(n)), 0.002, 0.1)
    yearly_purchases = revenue * share
    rate = p.invoice_rate_median * (revenue / p.median_revenue) ** p.invoice_rate_size_elasticity
    rate = np.clip(rate * np.exp(0.25 * rng.standard_normal(n)), 1.0, 10.0)

    # The seller's and the insurer's ratings are noisy views of z: limits carry
    # some information but must not reveal the latent quality.
    internal_view = z + 0.8 * rng.standard_normal(n)
    exposure = yearly_purchases / 12.0 * (terms + 30) / 30.0
    credit_limit = np.round(exposure * np.exp(0.25 * internal_view) / 1000.0) * 1000.0
    credit_limit = np.maximum(credit_limit, 1000.0)

    insured = rng.random(n) < p.insured_share
    cover = np.where(insured, rng.choice([0.7, 0.75, 0.8, 0.85, 0.9], size=n), 0.0)
    insurer_view = z + 0.7 * rng.standard_normal(n)
    insurer_share = special.ndtr(0.6 + 0.9 * insurer_view)
    insured_limit = np.where(insured, np.floor(credit_limit * insurer_share / 1000.0) * 1000.0, 0.0)
    # Guarantees are demanded more often from weaker buyers.
    g_prob = special.expit(special.logit(p.guarantee_share) - 0.6 * internal_view)
    g_prob *= p.guarantee_share / g_prob.mean()
    has_g = rng.random(n) < np.clip(g_prob, 0.0, 1.0)
    guarantee = np.where(
        has_g, np.maximum(np.round(credit_limit * rng.uniform(0.2, 0.6, n) / 1000.0), 1.0) * 1000.0, 0.0
    )

    names = _customer_names(rng, n)
    # Sequential ids in onboarding order, as a real ledger would number them.
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(cust["onb_day"].to_numpy(), kind="stable")] = np.arange(n)
    ids = np.char.add("C", np.char.zfill((rank + 1).astype(str), max(6, len(str(n)))))

    cust["terms"] = terms
    cust["rate"] = rate
    cust["yearly_purchases"] = yearly_purchases
    cust["habit"] = p.habit_mean_days - p.habit_z_days * z + p.habit_sd_days * rng.standard_normal(n)
    cust["on_time_prob"] = special.ndtr(p.on_time_intercept + p.on_time_z * z)
    cust["ramp_days"] = rng.integers(p.ramp_months[0], p.ramp_months[1] + 1, n) * 30.44
    cust["firm_effect"] = rng.standard_normal(n)
    cust["fye_month"] = rng.choice(np.array([12, 6, 3]), size=n, p=[0.8, 0.12, 0.08])

    return pd.DataFrame(
        {
            "customer_id": _text(ids.astype(object)),
            "customer_name": _text(names),
            "industry": _text(np.array(industries, dtype=object)[cust["industry"]]),
            "region": _text(np.array(regions, dtype=object)[cust["region"]]),
            "onboarding_date": _to_datetime(cust["onb_day"].to_numpy()),
            "payment_terms_days": terms.astype(np.int64),
            "credit_limit": credit_limit.astype(np.float64),
            "insurance_cover_pct": cover.astype(np.float64),
            "insured_limit": insured_limit.astype(np.float64),
            "guarantee_amount": guarantee.astype(np.float64),
        }
    )


def _invoice_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    factor: np.ndarray,
    bounds: np.ndarray,
    n_months: int,
    customer_ids: pd.Series,
) -> pd.DataFrame:
    """Invoices and their payments inside the window."""
    n = len(cust)
    end_day = int(bounds[n_months])
    onb = cust["onb_day"].to_numpy()
    dday = cust["default_day"].to_numpy()
    stop = np.where(dday >= 0, np.minimum(dday, end_day), end_day)

    # Customer-month cells; activity is prorated for partial months.
    lo = np.maximum(bounds[None, :n_months], onb[:, None])
    hi = np.minimum(bounds[None, 1 : n_months + 1], stop[:, None])
    width = np.maximum(hi - lo, 0)
    month_len = np.diff(bounds[: n_months + 1])[None, :]
    lam = cust["rate"].to_numpy()[:, None] * width / month_len
    counts = rng.poisson(lam).ravel()
    cell = np.repeat(np.arange(n * n_months), counts)
    ci = cell // n_months
    month = cell % n_months
    m = len(cell)
    inv_day = lo.ravel()[cell] + np.floor(rng.random(m) * width.ravel()[cell]).astype(np.int64)
    terms = cust["terms"].to_numpy()[ci]
    due_day = inv_day + terms

    rate = cust["rate"].to_numpy()[ci]
    mean_amount = cust["yearly_purchases"].to_numpy()[ci] / 12.0 / rate
    amount = mean_amount * np.exp(p.amount_log_sd * rng.standard_normal(m) - 0.5 * p.amount_log_sd**2)
    amount = np.maximum(np.round(amount, 2), 10.0)

    # Pre-default deterioration, measured from the invoice date.
    cd = dday[ci]
    to_default = np.where(cd >= 0, cd - inv_day, np.inf)
    ramp_frac = np.clip(1.0 - to_default / cust["ramp_days"].to_numpy()[ci], 0.0, 1.0)
    ramp = p.ramp_max_days * ramp_frac**p.ramp_power

    z = cust["z"].to_numpy()[ci]
    y = factor[cust["industry"].to_numpy()[ci], month]
    on_time = rng.random(m) < cust["on_time_prob"].to_numpy()[ci] * (1.0 - ramp_frac)
    habitual = (
        cust["habit"].to_numpy()[ci]
        - p.cycle_late_days * y
        + p.invoice_noise_days * rng.standard_normal(m)
        + (rng.random(m) < p.late_shock_prob) * rng.exponential(p.late_shock_mean_days, m)
    )
    punctual = rng.normal(-1.0, 2.0, m)
    late = np.where(on_time, punctual, habitual) + ramp

    logit_d = special.logit(p.dispute_base_prob) - p.dispute_z * z + p.dispute_ramp * ramp_frac
    disputed = rng.random(m) < special.expit(logit_d)
    late = late + disputed * rng.uniform(10.0, 60.0, m)
    paid_day = np.maximum(due_day + np.round(late).astype(np.int64), inv_day)
    paid_amount = amount.copy()

    # Invoices due within 90 days (+ jitter) before a default are what trip
    # the 90-days-past-due event: mostly never paid, some partly recovered.
    near = (cd >= 0) & (due_day >= cd - 90 - rng.integers(0, 21, m))
    unpaid = near & (rng.random(m) < p.unpaid_prob)
    partial = unpaid & (rng.random(m) < p.partial_recovery_prob)
    paid_day = np.where(partial, np.maximum(cd, inv_day) + rng.integers(15, 240, m), paid_day)
    paid_amount = np.where(partial, np.round(amount * rng.uniform(0.1, 0.7, m), 2), paid_amount)
    never = (unpaid & ~partial) | (disputed & (rng.random(m) < 0.03))
    open_at_end = never | (paid_day >= end_day)
    paid_day = np.where(open_at_end, np.iinfo(np.int64).min, paid_day)
    paid_amount = np.where(open_at_end, np.nan, paid_amount)

    order = np.lexsort((ci, inv_day))
    width_id = max(7, len(str(m)))
    inv_ids = np.char.add("INV", np.char.zfill(np.arange(1, m + 1).astype(str), width_id))
    paid = paid_day[order].astype("datetime64[D]").astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "invoice_id": _text(inv_ids.astype(object)),
            "customer_id": _text(customer_ids.to_numpy()[ci[order]]),
            "invoice_date": _to_datetime(inv_day[order]),
            "due_date": _to_datetime(due_day[order]),
            "amount": amount[order],
            "paid_date": np.where(open_at_end[order], np.datetime64("NaT", "ns"), paid),
            "paid_amount": paid_amount[order],
            "disputed": disputed[order],
        }
    )


def _financial_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    factor: np.ndarray,
    bounds: np.ndarray,
    n_months: int,
    start: pd.Timestamp,
    industries: list[str],
    customer_ids: pd.Series,
) -> pd.DataFrame:
    """Yearly statements with fiscal year ends from two years before the window to its end.

    A customer's file holds the statements of the years before the ledger starts too, so
    that the earliest training snapshots see financials as today's scoring does; without
    them the model would learn "no statement" as a feature of the past only.
    """
    start_day, end_day = int(bounds[0]) - _HISTORY_DAYS, int(bounds[n_months])
    years = np.arange(start.year - _HISTORY_DAYS // 365, start.year + n_months // 12 + 2)
    fye = cust["fye_month"].to_numpy()
    # Last day of the fiscal-year-end month for every customer x year.
    # datetime64[M] counts months from 1970-01; FYE month m of year y maps to
    # the first day of the following month, minus one day.
    month_start = ((years[None, :] - 1970) * 12 + fye[:, None]).astype("datetime64[M]")
    pe_day = (month_start.astype("datetime64[D]") - _DAY).astype(np.int64)
    onb = cust["onb_day"].to_numpy()[:, None]
    dday = cust["default_day"].to_numpy()[:, None]
    keep = (
        (pe_day >= start_day)
        & (pe_day < end_day)
        & (pe_day > onb - 730)
        # Firms stop delivering statements once they have defaulted.
        & ((dday < 0) | (pe_day < dday))
    )
    keep &= rng.random(keep.shape) >= p.statement_missing_prob
    ci, _ = np.nonzero(keep)
    pe = pe_day[keep]
    k = len(pe)

    z = cust["z"].to_numpy()[ci]
    ind = cust["industry"].to_numpy()[ci]
    pe_month = np.clip(np.searchsorted(bounds, pe, side="right") - 1, 0, factor.shape[1] - 1)
    y = factor[ind, pe_month]
    cd = dday[ci, 0]
    months_left = np.where(cd >= 0, (cd - pe) / 30.44, np.inf)
    distress = np.clip(1.0 - months_left / 18.0, 0.0, 1.0)
    h = (
        p.fin_z_weight * z
        + p.fin_firm_sd * cust["firm_effect"].to_numpy()[ci]
        + p.fin_noise_sd * rng.standard_normal(k)
        + p.fin_cycle_weight * y
        - p.fin_distress_drop * distress
    )

    prof = np.array([_profile(name) for name in industries])[ind]
    margin_base, turnover, ca_base, inv_base = prof[:, 1], prof[:, 2], prof[:, 3], prof[:, 4]

    years_in = (pe - start_day) / 365.25
    revenue = np.exp(cust["log_rev"].to_numpy()[ci]) * np.exp(
        0.03 * years_in + 0.05 * h + 0.08 * rng.standard_normal(k)
    )
    margin = np.clip(margin_base + 0.04 * h + 0.03 * rng.standard_normal(k), -0.5, 0.5)
    ebitda = np.round(revenue * margin)
    ebit = ebitda - np.round(revenue * rng.uniform(0.01, 0.05, k))
    total_assets = np.maximum(np.round(revenue / turnover * np.exp(0.25 * rng.standard_normal(k))), 1.0)
    leverage = np.clip(0.6 - 0.15 * h + 0.12 * rng.standard_normal(k), 0.05, 1.6)
    total_liabilities = np.round(total_assets * leverage)
    debt_rate = 0.04 + 0.015 * np.maximum(-h, 0.0)
    interest = np.round(total_liabilities * rng.uniform(0.3, 0.7, k) * debt_rate)
    pre_tax = ebit - interest
    net_income = np.round(np.where(pre_tax > 0, 0.75 * pre_tax, pre_tax))
    current_assets = np.round(total_assets * np.clip(ca_base + 0.08 * rng.standard_normal(k), 0.1, 0.95))
    cash = np.round(current_assets * np.clip(0.15 + 0.05 * h + 0.05 * rng.standard_normal(k), 0.01, 0.8))
    inventory = np.floor((current_assets - cash) * np.clip(inv_base * rng.uniform(0.6, 1.2, k), 0.0, 0.95))
    current_liabilities = np.round(
        total_liabilities * np.clip(0.55 - 0.05 * h + 0.1 * rng.standard_normal(k), 0.1, 1.0)
    )
    equity = total_assets - total_liabilities
    retained = equity - np.round(total_assets * rng.uniform(0.03, 0.15, k))

    rank = customer_ids.to_numpy()[ci]
    order = np.lexsort((pe, rank))
    return pd.DataFrame(
        {
            "customer_id": _text(rank[order]),
            "period_end": _to_datetime(pe[order]),
            "revenue": np.round(revenue[order]),
            "ebitda": ebitda[order],
            "ebit": ebit[order],
            "net_income": net_income[order],
            "interest_expense": interest[order],
            "total_assets": total_assets[order],
            "total_liabilities": total_liabilities[order],
            "current_assets": current_assets[order],
            "current_liabilities": current_liabilities[order],
            "inventory": inventory[order],
            "cash": cash[order],
            "retained_earnings": retained[order],
            "equity": equity[order],
        }
    )


_HISTORY_DAYS = 730


def _default_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    default_month: np.ndarray,
    n_months: int,
    customer_ids: pd.Series,
) -> pd.DataFrame:
    """First defaults inside the window (lookahead defaults are dropped)."""
    write_off = rng.random(len(cust)) < p.write_off_share
    inside = default_month < n_months
    days = cust["default_day"].to_numpy()[inside]
    ids = customer_ids.to_numpy()[inside]
    kinds = np.where(write_off[inside], "write_off", "90dpd").astype(object)
    order = np.lexsort((ids, days))
    return pd.DataFrame(
        {
            "customer_id": _text(ids[order]),
            "default_date": _to_datetime(days[order]),
            "default_type": _text(kinds[order]),
        }
    )


def _outlook_table(
    rng: np.random.Generator,
    p: SynthParams,
    factor: np.ndarray,
    industries: list[str],
    bounds: np.ndarray,
    n_months: int,
) -> pd.DataFrame:
    """Monthly industry outlook: a noisy view of the coming industry cycle."""
    n_ind = len(industries)
    lead = max(int(p.outlook_lead_months), 1)
    # Mean of the factor over the next `lead` months: a forecast, not a nowcast.
    csum = np.cumsum(np.hstack([np.zeros((n_ind, 1)), factor]), axis=1)
    t = np.arange(n_months)
    ahead = (csum[:, t + 1 + lead] - csum[:, t + 1]) / lead
    score = p.outlook_scale * ahead + p.outlook_noise_sd * rng.standard_normal((n_ind, n_months))
    score = np.round(np.clip(score, -3.0, 3.0), 2)
    return pd.DataFrame(
        {
            "industry": _text(np.repeat(np.array(industries, dtype=object), n_months)),
            "as_of_date": _to_datetime(np.tile(bounds[:n_months], n_ind)),
            "outlook_score": score.ravel(),
        }
    )
