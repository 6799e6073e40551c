"""Replay limit policies on history: the bad debt each would have avoided and the sales it would have blocked.

A **policy** is a plain function ``policy(known: KnownAtReview) -> pd.Series`` (customer_id ->
limit, currency). At every review date the engine builds :class:`KnownAtReview` by *filtering* the
ledger (:func:`known_at`): invoices issued before the review with the payments known before it
(a later payment is blanked: the invoice is open at the review), defaults before it, customers
onboarded before it, statements available before it, limit history valid from on or before it.
So a policy handed a ``KnownAtReview`` cannot see the future; one built *from* the full ledger
(a model fitted on all of it, a closure over the tables) can, and :func:`check_no_leakage` catches
that by rebuilding the policy on a ledger whose future has been changed.

The walk (:mod:`credit_lab.limits.replay_walk`) then serves each period's orders against the limits
set at its review; :func:`replay` runs every policy over the same reviews and compares them with
bootstrap intervals over customers.

Policies here need no PD model: :func:`limits_as_they_were`, :func:`purchases_multiple_policy`
(k x average monthly purchases) and :func:`user_rule` (a combination of policies with a cap). The
PD-based ones (the optimizer at several risk budgets, zero above a PD) plug in as further functions
of a ``KnownAtReview``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from credit_lab.core.replay_params import ReplayParams
from credit_lab.features.point_in_time import data_cut_date
from credit_lab.limits.replay_costs import net_of_mitigation
from credit_lab.limits.replay_walk import ReplayInputError, walk_orders

__all__ = [
    "KnownAtReview",
    "Policy",
    "ReplayResult",
    "check_no_leakage",
    "known_at",
    "limits_as_they_were",
    "purchases_multiple_policy",
    "replay",
    "review_dates",
    "user_rule",
]

logger = logging.getLogger(__name__)

_DAYS_PER_MONTH = 365.25 / 12.0
_DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, eq=False)
class KnownAtReview:
    """What the ledger held at a review date: every record dated before it, and nothing else.

    Attributes
    ----------
    review_date : Timestamp
    customers : DataFrame
        Customers onboarded before the review. Their ``credit_limit`` is the customers table's:
        a ledger without limit history holds only today's limits (see :func:`limits_as_they_were`).
    invoices : DataFrame
        Invoices issued before the review; ``paid_date`` / ``paid_amount`` blanked where the
        payment is dated on or after it.
    defaults : DataFrame
        Defaults dated before the review.
    financials : DataFrame or None
        Statements available before the review (``available_date``, or the period end plus the
        publication lag).
    limit_history : DataFrame or None
        ``customer_id``, ``valid_from``, ``limit`` rows valid from on or before the review.
    industry_outlook : DataFrame or None
        Outlook scores dated (``as_of_date``) before the review.
    """

    review_date: pd.Timestamp
    customers: pd.DataFrame
    invoices: pd.DataFrame
    defaults: pd.DataFrame
    financials: pd.DataFrame | None = None
    limit_history: pd.DataFrame | None = None
    industry_outlook: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The known records as ledger tables (for :func:`credit_lab.features.point_in_time.build_features`)."""
        out = {"customers": self.customers, "invoices": self.invoices, "defaults": self.defaults}
        for name in ("financials", "industry_outlook", "limit_history"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


Policy = Callable[[KnownAtReview], pd.Series]


def known_at(tables: Mapping[str, pd.DataFrame], review_date, financials_publication_lag_days: int = 90
             ) -> KnownAtReview:
    """Filter the ledger ``tables`` to what was known at ``review_date`` (see :class:`KnownAtReview`).

    Examples
    --------
    >>> inv = pd.DataFrame({"customer_id": ["A", "A"], "invoice_date": pd.to_datetime(["2024-01-02", "2024-03-01"]),
    ...     "amount": [1.0, 2.0], "paid_date": pd.to_datetime(["2024-02-10", None]), "paid_amount": [1.0, None]})
    >>> cust = pd.DataFrame({"customer_id": ["A"], "onboarding_date": pd.to_datetime(["2023-01-01"])})
    >>> known = known_at({"customers": cust, "invoices": inv}, "2024-02-01")
    >>> len(known.invoices), bool(known.invoices["paid_date"].isna().all())
    (1, True)
    """
    t = pd.Timestamp(review_date).normalize()
    customers = tables["customers"]
    customers = customers.loc[pd.to_datetime(customers["onboarding_date"]) < t].reset_index(drop=True)
    invoices = tables["invoices"]
    invoices = invoices.loc[invoices["invoice_date"] < t].copy()
    later = ~(invoices["paid_date"] < t)  # NaT compares False: an unpaid invoice stays unpaid
    invoices.loc[later, "paid_date"] = pd.NaT
    if "paid_amount" in invoices:
        invoices.loc[later, "paid_amount"] = np.nan
    defaults = tables.get("defaults")
    if defaults is None:
        defaults = pd.DataFrame({"customer_id": pd.Series([], dtype=object),
                                 "default_date": pd.Series([], dtype="datetime64[ns]")})
    defaults = defaults.loc[defaults["default_date"] < t].reset_index(drop=True)
    financials = tables.get("financials")
    if financials is not None:
        available = (pd.to_datetime(financials["available_date"]) if "available_date" in financials
                     else pd.Series(pd.NaT, index=financials.index))
        available = available.fillna(pd.to_datetime(financials["period_end"])
                                     + pd.Timedelta(days=int(financials_publication_lag_days)))
        financials = financials.loc[available < t].reset_index(drop=True)
    history = tables.get("limit_history")
    if history is not None:
        history = history.loc[pd.to_datetime(history["valid_from"]) <= t].reset_index(drop=True)
    outlook = tables.get("industry_outlook")
    if outlook is not None:
        outlook = outlook.loc[pd.to_datetime(outlook["as_of_date"]) < t].reset_index(drop=True)
    return KnownAtReview(t, customers, invoices.reset_index(drop=True), defaults, financials, history, outlook)


# ---------------------------------------------------------------------------------------------
# policies that need no PD model


def limits_as_they_were(known: KnownAtReview) -> pd.Series:
    """The ledger's own limits: the latest ``limit_history`` row valid at the review, else ``credit_limit``.

    A ledger without a limit history replays *today's* limits backwards (the customers table
    holds one limit per customer); give ``tables["limit_history"]`` (``customer_id``,
    ``valid_from``, ``limit``) to replay the limits as they stood at each review.
    """
    limits = known.customers.set_index("customer_id")["credit_limit"].astype(float)
    history = known.limit_history
    if history is not None and len(history):
        latest = (history.sort_values("valid_from", kind="stable")
                  .groupby("customer_id", sort=False)["limit"].last().astype(float))
        limits = latest.combine_first(limits)
        limits = limits.loc[limits.index.isin(known.customers["customer_id"])]
    return limits


def _monthly_purchases(known: KnownAtReview, trailing_months: int) -> pd.Series:
    """Average monthly invoiced amount over the trailing months (over the customer's tenure when shorter)."""
    t = known.review_date
    start = t - pd.DateOffset(months=int(trailing_months))
    inv = known.invoices.loc[known.invoices["invoice_date"] >= start]
    total = inv.groupby("customer_id")["amount"].sum()
    onboarded = pd.to_datetime(known.customers.set_index("customer_id")["onboarding_date"])
    observed_days = (t - onboarded.clip(lower=start)).dt.days.astype(float)
    months = np.clip(observed_days / _DAYS_PER_MONTH, 1.0, float(trailing_months))
    return (total.reindex(onboarded.index).fillna(0.0) / months).rename("monthly_purchases")


def purchases_multiple_policy(k: float, trailing_months: int = 6, new_customer_limit: float = 10_000.0) -> Policy:
    """Limit = ``k`` x average monthly purchases over the trailing ``trailing_months`` months.

    The average is over the months the customer was onboarded within the window (at least one); a
    customer with no purchases in the window gets ``new_customer_limit``.

    Examples
    --------
    >>> policy = purchases_multiple_policy(k=2.0, trailing_months=3)
    >>> policy.__name__
    'purchases_x2_over_3m'
    """
    if not k > 0:
        raise ReplayInputError(f"k = {k!r} must be > 0 (the limit in months of purchases)")
    if int(trailing_months) < 1:
        raise ReplayInputError(f"trailing_months = {trailing_months!r} must be >= 1")

    def policy(known: KnownAtReview) -> pd.Series:
        monthly = _monthly_purchases(known, trailing_months)
        return (k * monthly).where(monthly > 0.0, float(new_customer_limit)).rename("limit")

    policy.__name__ = f"purchases_x{k:g}_over_{int(trailing_months)}m"
    return policy


def user_rule(*policies: Policy, combine: str = "min", cap: float | None = None, floor: float | None = None
              ) -> Policy:
    """A policy combining others customer by customer (``min`` or ``max``), then capped and floored.

    Examples
    --------
    >>> rule = user_rule(limits_as_they_were, purchases_multiple_policy(3.0), cap=250_000.0)
    """
    if not policies:
        raise ReplayInputError("user_rule needs at least one policy to combine")
    if combine not in ("min", "max"):
        raise ReplayInputError(f"combine = {combine!r}; expected 'min' or 'max'")

    def policy(known: KnownAtReview) -> pd.Series:
        frame = pd.concat([p(known).astype(float) for p in policies], axis=1)
        limits = frame.min(axis=1) if combine == "min" else frame.max(axis=1)
        if cap is not None:
            limits = limits.clip(upper=float(cap))
        if floor is not None:
            limits = limits.clip(lower=float(floor))
        return limits.rename("limit")

    return policy


# ---------------------------------------------------------------------------------------------
# the engine


def review_dates(end_date, settings: ReplayParams) -> pd.DatetimeIndex:
    """Monthly reviews: ``n_reviews`` from ``first_review``, or the last ``n_reviews`` month starts before the end."""
    end = pd.Timestamp(end_date).normalize()
    if settings.first_review is not None:
        first = pd.Timestamp(settings.first_review)
    else:
        first = (end - pd.offsets.MonthBegin(1)).normalize() if end.day != 1 else end
        first = first - pd.DateOffset(months=settings.n_reviews)
    reviews = pd.date_range(first, periods=settings.n_reviews, freq="MS")
    if reviews[-1] >= end:
        raise ReplayInputError(f"the last review {reviews[-1].date()} is not before the end of the data "
                               f"{end.date()}; start earlier (replay.first_review) or use fewer reviews (n_reviews)")
    return reviews


def _policy_limits(name: str, policy: Policy, known: KnownAtReview) -> pd.DataFrame:
    limits = policy(known)
    if not isinstance(limits, pd.Series):
        raise ReplayInputError(f"policy {name!r} returned {type(limits).__name__} at {known.review_date.date()}; "
                               "expected a pandas Series customer_id -> limit")
    values = pd.to_numeric(limits, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(values) | (values < 0)
    if bad.any():
        example = int(np.argmax(bad))
        raise ReplayInputError(f"policy {name!r} at {known.review_date.date()}: {int(bad.sum())} limit(s) missing "
                               f"or negative, e.g. customer {limits.index[example]!r} = {limits.iloc[example]!r}; "
                               "expected a limit >= 0 for every customer it returns")
    return pd.DataFrame({"review_date": known.review_date, "customer_id": limits.index.to_numpy(), "limit": values})


def _limit_changes(limits: pd.DataFrame) -> pd.Series:
    """Per customer: reviews at which its limit differs from the one set at the previous review."""
    wide = limits.pivot(index="customer_id", columns="review_date", values="limit").sort_index(axis=1)
    values = wide.to_numpy()
    changed = (values[:, 1:] != values[:, :-1]) & ~np.isnan(values[:, 1:]) & ~np.isnan(values[:, :-1])
    return pd.Series(changed.sum(axis=1), index=wide.index, name="limit_changes")


_BOOTSTRAPPED = ("bad_debt", "net_bad_debt", "lost_margin", "profit")


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """Policies replayed on the same history.

    Attributes
    ----------
    summary : DataFrame
        One row per policy: ``bad_debt``, ``blocked_sales``, ``orders_blocked``, ``lost_margin``,
        ``served_sales``, ``average_exposure`` (time-weighted over the window), ``limit_changes``,
        ``mitigated`` (the part of the bad debt collateral, insurance and guarantees covered),
        ``net_bad_debt`` (bad debt - mitigated), ``profit`` (margin on served sales - net bad debt -
        cost of funds on the average exposure), with :func:`replay_from_params` ``average_capital``
        (:func:`credit_lab.limits.replay_costs.average_capital`), and ``<metric>_low`` /
        ``<metric>_high`` bootstrap intervals for bad debt, net bad debt, lost margin and profit.
    by_customer : DataFrame
        One row per policy and customer with the same totals.
    walks : dict of DataFrame
        Per policy, the walk's table per customer and period.
    limits : dict of DataFrame
        Per policy, the limits set at each review (``review_date``, ``customer_id``, ``limit``).
    reviews : DatetimeIndex
    end_date : Timestamp
    settings : ReplayParams
    pd_by_review : DataFrame or None
        ``review_date``, ``customer_id``, ``pd`` of the PD model the PD-based policies used
        (:func:`credit_lab.limits.replay_policies.replay_from_params`); None without one.
    models : DataFrame or None
        One row per fitted PD model: when it was fitted, the method and champion, its training rows.
    budgets : dict
        Policy name -> EL budget (multiple of the EL of the limits as they were) of the optimizer's family.
    current_policy : str or None
        The policy the frontier marks as today's (the limits as they were).
    """

    summary: pd.DataFrame
    by_customer: pd.DataFrame
    walks: dict[str, pd.DataFrame] = field(repr=False)
    limits: dict[str, pd.DataFrame] = field(repr=False)
    reviews: pd.DatetimeIndex
    end_date: pd.Timestamp
    settings: ReplayParams
    pd_by_review: pd.DataFrame | None = field(default=None, repr=False)
    models: pd.DataFrame | None = field(default=None, repr=False)
    budgets: dict[str, float] = field(default_factory=dict)
    current_policy: str | None = None

    def table(self) -> pd.DataFrame:
        """The summary rounded for reading (currency to units)."""
        return self.summary.round(0)


def _customer_totals(walk: pd.DataFrame, changes: pd.Series, settings: ReplayParams, window_days: float,
                     mitigants: pd.DataFrame | None, insurer_max_liability: float | None) -> pd.DataFrame:
    net, mitigated = net_of_mitigation(walk, mitigants, insurer_max_liability)
    walk = walk.assign(exposure_days=walk["average_exposure"] * walk["period_days"], net_loss=net, mitigated=mitigated)
    totals = walk.groupby("customer_id", sort=True)[
        ["orders_served", "served_amount", "orders_blocked", "blocked_amount", "blocked_margin", "exposure_days",
         "exposure_at_default", "loss", "mitigated", "net_loss"]].sum()
    out = pd.DataFrame({
        "served_sales": totals["served_amount"],
        "orders_blocked": totals["orders_blocked"],
        "blocked_sales": totals["blocked_amount"],
        "lost_margin": settings.gross_margin * totals["blocked_amount"],
        "average_exposure": totals["exposure_days"] / window_days,
        "exposure_at_default": totals["exposure_at_default"],
        "bad_debt": totals["loss"],
        "mitigated": totals["mitigated"],
        "net_bad_debt": totals["net_loss"],
    })
    out["limit_changes"] = changes.reindex(out.index).fillna(0).astype(np.int64)
    out["profit"] = (settings.gross_margin * out["served_sales"] - out["net_bad_debt"]
                     - settings.cost_of_funds_rate * totals["exposure_days"] / _DAYS_PER_YEAR)
    return out


def _bootstrap(per_customer: dict[str, pd.DataFrame], settings: ReplayParams) -> dict[str, dict[str, tuple]]:
    """Percentile intervals of the totals, resampling customers with replacement (the same draws for
    every policy, so the intervals of two policies come from the same resampled books)."""
    index = sorted(set().union(*(frame.index for frame in per_customer.values())))
    n = len(index)
    rng = np.random.default_rng(settings.seed)
    weights = np.empty((settings.bootstrap_samples, n))
    for b in range(settings.bootstrap_samples):
        weights[b] = np.bincount(rng.integers(0, n, n), minlength=n)
    alpha = (1.0 - settings.confidence) / 2.0
    out: dict[str, dict[str, tuple]] = {}
    for name, frame in per_customer.items():
        values = frame.reindex(index).fillna(0.0)[list(_BOOTSTRAPPED)].to_numpy()
        totals = weights @ values
        low, high = np.quantile(totals, [alpha, 1.0 - alpha], axis=0)
        out[name] = {metric: (low[i], high[i]) for i, metric in enumerate(_BOOTSTRAPPED)}
    return out


def replay(tables: Mapping[str, pd.DataFrame], policies: Mapping[str, Policy], settings: ReplayParams | None = None,
           *, end_date=None, financials_publication_lag_days: int = 90, mitigants: pd.DataFrame | None = None,
           insurer_max_liability: float | None = None) -> ReplayResult:
    """Run every policy over the same monthly reviews and compare them (see the module docstring).

    Parameters
    ----------
    tables : mapping of DataFrame
        The ledger: ``customers``, ``invoices``, optional ``defaults``, ``financials`` and
        ``limit_history`` (``customer_id``, ``valid_from``, ``limit``).
    policies : mapping name -> policy
        Each a function of a :class:`KnownAtReview` returning a limit per customer.
    settings : ReplayParams, optional
        Defaults when omitted.
    end_date : date, optional
        End of the replay window (exclusive); default the month start after the latest record.
    mitigants : DataFrame, optional
        Collateral, insurance and guarantees per customer
        (:func:`credit_lab.limits.replay_costs.mitigants_from_customers`); None: bad debt is not
        mitigated (``net_bad_debt`` = ``bad_debt``).
    insurer_max_liability : float, optional
        The credit insurer's yearly aggregate limit.

    Returns
    -------
    ReplayResult

    Examples
    --------
    >>> from credit_lab.data.synthetic import generate_ledger
    >>> ledger = generate_ledger(n_customers=100, n_months=12, seed=3)
    >>> tables = {"customers": ledger.customers, "invoices": ledger.invoices, "defaults": ledger.defaults}
    >>> result = replay(tables, {"as they were": limits_as_they_were},
    ...                 ReplayParams(n_reviews=3, bootstrap_samples=50), end_date=ledger.end_date)
    >>> list(result.summary.index)
    ['as they were']
    """
    settings = settings or ReplayParams()
    if not policies:
        raise ReplayInputError("replay needs at least one policy, e.g. {'as they were': limits_as_they_were}")
    end = pd.Timestamp(end_date).normalize() if end_date is not None else data_cut_date(dict(tables))
    reviews = review_dates(end, settings)
    knowns = [known_at(tables, r, financials_publication_lag_days) for r in reviews]
    window_days = float((end - reviews[0]).days)
    walks, limits, per_customer = {}, {}, {}
    for name, policy in policies.items():
        limit_table = pd.concat([_policy_limits(name, policy, known) for known in knowns], ignore_index=True)
        walk = walk_orders(tables["invoices"], limit_table, reviews, tables.get("defaults"),
                           partial=settings.partial_service, lgd=settings.lgd, end_date=end,
                           default_limit=settings.new_customer_limit, gross_margin=settings.gross_margin).table
        walks[name], limits[name] = walk, limit_table
        per_customer[name] = _customer_totals(walk, _limit_changes(limit_table), settings, window_days, mitigants,
                                              insurer_max_liability)
        logger.info("replayed policy %r over %d reviews", name, len(reviews))
    intervals = _bootstrap(per_customer, settings)
    rows = []
    for name, frame in per_customer.items():
        row = {"policy": name, **frame.drop(columns="exposure_at_default").sum().to_dict()}
        for metric, (low, high) in intervals[name].items():
            row[f"{metric}_low"], row[f"{metric}_high"] = low, high
        rows.append(row)
    summary = pd.DataFrame(rows).set_index("policy")
    summary[["orders_blocked", "limit_changes"]] = summary[["orders_blocked", "limit_changes"]].astype(np.int64)
    by_customer = pd.concat({name: frame for name, frame in per_customer.items()}, names=["policy", "customer_id"])
    return ReplayResult(summary, by_customer.reset_index(), walks, limits, reviews, end, settings)


# ---------------------------------------------------------------------------------------------
# the leakage harness


def _changed_future(tables: Mapping[str, pd.DataFrame], review: pd.Timestamp, seed: int) -> dict[str, pd.DataFrame]:
    """A copy of the ledger with everything dated on or after ``review`` changed, and nothing before."""
    rng = np.random.default_rng(seed)
    out = {name: frame.copy() for name, frame in tables.items()}
    inv = out["invoices"]
    later = (inv["invoice_date"] >= review).to_numpy()
    inv.loc[later, "amount"] = inv.loc[later, "amount"] * rng.uniform(0.2, 5.0, int(later.sum()))
    paid_later = (inv["paid_date"] >= review).to_numpy()
    inv.loc[paid_later, "paid_date"] = pd.NaT  # a payment after the review never comes
    if "paid_amount" in inv:
        inv.loc[paid_later, "paid_amount"] = np.nan
    unpaid = inv["paid_date"].isna().to_numpy() & ~paid_later & (inv["invoice_date"] < review).to_numpy()
    # Unpaid invoices are paid after the review instead.
    inv.loc[unpaid, "paid_date"] = review + pd.Timedelta(days=3)
    if "paid_amount" in inv:
        inv.loc[unpaid, "paid_amount"] = inv.loc[unpaid, "amount"]
    defaults = out.get("defaults")
    customers = out["customers"]
    if defaults is not None:
        kept = defaults.loc[defaults["default_date"] < review]
        fresh = customers.loc[~customers["customer_id"].isin(kept["customer_id"]), ["customer_id"]]
        fresh = fresh.sample(frac=0.3, random_state=seed).assign(default_date=review + pd.Timedelta(days=10))
        out["defaults"] = pd.concat([kept, fresh], ignore_index=True)
    late = (pd.to_datetime(customers["onboarding_date"]) >= review).to_numpy()
    if "credit_limit" in customers:
        customers.loc[late, "credit_limit"] = customers.loc[late, "credit_limit"] * 3.0 + 1000.0
    history = out.get("limit_history")
    if history is not None:
        future = (pd.to_datetime(history["valid_from"]) > review).to_numpy()
        history.loc[future, "limit"] = history.loc[future, "limit"] * 0.5
    return out


def check_no_leakage(make_policy: Callable[[Mapping[str, pd.DataFrame]], Policy], tables: Mapping[str, pd.DataFrame],
                     review_date, seed: int = 0) -> pd.DataFrame:
    """The limits a policy sets at ``review_date`` that change when the ledger's future changes.

    The future (everything dated on or after the review) is rewritten: invoice amounts scaled,
    payments after the review dropped and open invoices paid just after it, defaults after it
    replaced by others, later customers' limits and later limit history changed. The policy is
    built by ``make_policy(tables)`` on each version of the ledger (so a policy built from the
    whole ledger, e.g. a model fitted on all of it, is caught) and run on what was known at the
    review. An honest policy returns an empty table.

    Parameters
    ----------
    make_policy : callable tables -> policy
        For a policy that is not built from data: ``lambda tables: policy``.

    Returns
    -------
    DataFrame
        ``customer_id``, ``limit``, ``limit_changed_future``: the customers whose limit differs
        (or that appear in one version only).
    """
    review = pd.Timestamp(review_date).normalize()
    changed = _changed_future(tables, review, seed)
    before = make_policy(tables)(known_at(tables, review)).astype(float).rename("limit")
    after = make_policy(changed)(known_at(changed, review)).astype(float).rename("limit_changed_future")
    both = pd.concat([before, after], axis=1)
    same = np.isclose(both["limit"], both["limit_changed_future"], rtol=1e-12, atol=0.0)
    same |= both["limit"].isna() & both["limit_changed_future"].isna()
    diff = both.loc[~same]
    return diff.rename_axis("customer_id").reset_index()
