"""The generated ledger (:class:`Ledger`) and :func:`generate_ledger`, which draws its parts in a fixed order.

The order of the random draws (customers, cycle, defaults, then the customer, invoice,
financial, default and outlook tables, all from one generator) is what makes a seed
reproduce the same ledger; keep it when changing a building block. Recoveries in default
draw from a second generator of their own, so switching them on changes nothing else; so do the
opt-in limit cuts and the customers they lose (``SynthParams.limit_cut_share``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_lab.data.synthetic.customers import _customer_table, _draw_customers
from credit_lab.data.synthetic.cycle import _industry_factor, _outlook_table
from credit_lab.data.synthetic.days import _month_bounds
from credit_lab.data.synthetic.defaults import _default_table, _simulate_defaults
from credit_lab.data.synthetic.financials import _financial_table
from credit_lab.data.synthetic.invoices import _invoice_table
from credit_lab.data.synthetic.limit_cuts import _limit_cuts
from credit_lab.data.synthetic.params import DEFAULT_PARAMS, INDUSTRY_NAMES, REGION_NAMES, SynthParams, _names

#: Spawn key of the recoveries' random stream (``SeedSequence([seed, _RECOVERY_STREAM])``).
_RECOVERY_STREAM = 1
#: Spawn key of the limit cuts' random stream (``SeedSequence([seed, _LIMIT_CUT_STREAM])``).
_LIMIT_CUT_STREAM = 2


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
    limit_history : pandas.DataFrame or None
        With ``SynthParams.limit_cut_share > 0``: ``customer_id``, ``valid_from``, ``limit`` (the
        limit at onboarding, then each cut at a review); None otherwise.
    """

    customers: pd.DataFrame
    financials: pd.DataFrame
    invoices: pd.DataFrame
    defaults: pd.DataFrame
    industry_outlook: pd.DataFrame
    start_date: pd.Timestamp
    end_date: pd.Timestamp
    limit_history: pd.DataFrame | None = None


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
    write_off_days_past_due: int | None = None,
    recovery_rate: float | None = None,
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
        Seed of the random generator (and of the recoveries' own stream); equal
        arguments give equal frames.
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
    write_off_days_past_due : int, optional
        The write-off policy: an invoice not settled this many days after its due date (360: the
        usual one-year policy in trade credit) is written off on that day, recorded as its
        settlement with ``paid_amount`` 0 (the shortfall ``amount - paid_amount`` is the amount
        written off), so it is no longer an open receivable. None (default): never written off,
        a defaulted customer's unpaid invoices stay open; the random draws, and so every other
        value of the ledger, are the same either way.
    recovery_rate : float, optional
        The expected share of what a defaulted customer owes at its default that is recovered
        (1 - its loss given default), in [0, 1). Each invoice the customer had not settled by its
        default is settled by one recovery payment: a Beta-distributed share of its amount with this
        mean (``params.recovery_concentration``), paid ``params.recovery_months`` after the default
        and before the invoice's write-off day, the rest being lost; so the ledger's loss in default
        is about ``1 - recovery_rate``. The recoveries have their own random stream (from ``seed``),
        so only those invoices' ``paid_date`` and ``paid_amount`` differ from the ledger without.
        None or 0 (default): no recovery model; most of those invoices are never paid and some
        partly (``params.unpaid_prob``, ``params.partial_recovery_prob``), as before it existed.

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
    if write_off_days_past_due is not None and (isinstance(write_off_days_past_due, bool)
                                                or not isinstance(write_off_days_past_due, (int, np.integer))
                                                or write_off_days_past_due < 1):
        raise ValueError(f"write_off_days_past_due must be a whole number of days >= 1 or None; "
                         f"got {write_off_days_past_due!r}")
    if recovery_rate is not None and (isinstance(recovery_rate, bool)
                                      or not isinstance(recovery_rate, (int, float, np.integer, np.floating))
                                      or not 0.0 <= recovery_rate < 1.0):
        raise ValueError(f"recovery_rate must be a share in [0, 1) or None; got {recovery_rate!r}")
    p = DEFAULT_PARAMS if params is None else params

    rng = np.random.default_rng(seed)
    # A stream of its own, so switching recoveries on leaves every draw from `rng` where it was.
    recovery_rng = np.random.default_rng(np.random.SeedSequence([seed, _RECOVERY_STREAM])) if recovery_rate else None
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
    invoices = _invoice_table(rng, p, cust, factor, bounds, n_months, customers["customer_id"],
                              write_off_days_past_due, recovery_rate, recovery_rng)
    financials = _financial_table(rng, p, cust, factor, bounds, n_months, start, industries, customers["customer_id"])
    defaults = _default_table(rng, p, cust, default_month, n_months, customers["customer_id"])
    outlook = _outlook_table(rng, p, factor, industries, bounds, n_months)

    history = None
    if p.limit_cut_share > 0:
        cut_rng = np.random.default_rng(np.random.SeedSequence([seed, _LIMIT_CUT_STREAM]))
        customers, invoices, defaults, history = _limit_cuts(cut_rng, p, cust, customers, invoices, defaults,
                                                             bounds, n_months, industries)
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
        limit_history=history,
    )
