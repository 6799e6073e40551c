"""Limit setting for a book: the rules method and the inputs, policy and results of the optimizer.

``limits.method: rules`` (:func:`set_limits`): ``limit = min(capacity cap, risk cap of the grade,
single-name cap)``, zero above the PD cut-off, rounded down. ``limits.method: optimize``
(:func:`optimize_book`): purchase statistics and demand, the share caps that mean something for
this book, the exact optimizer of :mod:`credit_lab.limits.optimizer`, and what would raise each
limit. Every limit carries what decided it and its change against today's limit.

A customer without orders in the window is sized on what it declared (``expected_monthly_purchases``,
then ``requested_limit``), before its revenue and today's limit; a new customer (``is_new_customer``)
is then held to ``limits.new_customer_cap`` and to ``limits.new_customer_cap_share_of_request`` of
its requested limit, under both methods (:func:`new_customer_caps`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from credit_lab.core.config import LimitParams
from credit_lab.core.exceptions import ParamsError
from credit_lab.limits.optimizer import (
    DECIDED_BY,
    InfeasibleLimitsError,
    LimitPolicy,
    build_problem,
    irb_capital_rate,
    net_margin_rate,
    optimize_limits,
    relationship_value,
    single_customer_optimum,
)
from credit_lab.models.grading import assign_grades

__all__ = ["DECLARED_COLUMNS", "DEFAULT_MISFIT_SHARE", "LIMIT_DRIVERS", "capacity_cap", "competition_columns",
           "declared", "defaults_that_fit", "new_customer_caps", "set_limits"]

LIMIT_DRIVERS = {
    "capacity": "its expected purchases over its payment terms (or its size) cap the limit",
    "risk_grade": "the maximum limit for its risk grade",
    "single_name": "the company's single-customer cap (share of own equity)",
    "new_customer_cap": "a new customer's limit is capped (limits.new_customer_cap) until it has a payment history",
    "requested_limit": "a new customer gets at most the limit it requested",
    "pd_cutoff": "its probability of default is above the company's cut-off",
}

#: What decided a capacity cap sized on the customer's declarations (no ordering history yet).
_CAPACITY_BY_BASIS = {
    "declared purchases": "the purchases it declared it expects, over its payment terms, cap the limit "
                          "(no ordering history yet)",
    "requested limit": "the limit it requested caps the limit (no ordering history or declared purchases yet)",
}

#: Optional customers columns a new customer declares on its application (NaN, 0 or absent = not declared).
DECLARED_COLUMNS = ("requested_limit", "expected_monthly_purchases")

_DAYS_PER_MONTH = 30.4375


def declared(book: pd.DataFrame, column: str) -> pd.Series:
    """A declared amount per customer, NaN where not declared (absent column, empty cell or 0)."""
    if column not in book:
        return pd.Series(np.nan, index=book.index)
    values = book[column].astype(float)
    return values.where(values > 0)


def _is_new(book: pd.DataFrame) -> pd.Series:
    """Customers the new-customer caps apply to: no payment history yet (``has_payment_history`` 0 or
    unknown, ledger mode); where the book has no such column (table mode), the ``is_new_customer`` segment."""
    if "has_payment_history" in book:
        return ~(pd.to_numeric(book["has_payment_history"], errors="coerce").fillna(0) > 0)
    if "is_new_customer" not in book:
        return pd.Series(False, index=book.index)
    return book["is_new_customer"].astype("boolean").fillna(False).astype(bool)


def new_customer_caps(book: pd.DataFrame, params: LimitParams) -> pd.DataFrame:
    """The caps on a new customer's limit: ``new_customer_cap`` and ``requested_limit`` (NaN = none).

    A customer without payment history (:func:`_is_new`) gets at most ``limits.new_customer_cap`` and
    at most ``limits.new_customer_cap_share_of_request`` x its ``requested_limit`` (where it declared
    one); null params switch a cap off. The absolute cap stops the model granting an unknown buyer
    more, it never cuts a limit already granted: it is the larger of the cap and today's limit.
    Customers with a payment history are not capped here.
    """
    is_new = _is_new(book)
    out = pd.DataFrame({"new_customer_cap": np.nan, "requested_limit": np.nan}, index=book.index)
    if params.new_customer_cap is not None:
        today = pd.to_numeric(book.get("credit_limit", pd.Series(0.0, index=book.index)), errors="coerce").fillna(0)
        cap = np.maximum(float(params.new_customer_cap), today)
        out["new_customer_cap"] = cap.where(is_new)
    if params.new_customer_cap_share_of_request is not None:
        request = declared(book, "requested_limit") * params.new_customer_cap_share_of_request
        out["requested_limit"] = request.where(is_new)
    return out


def _driver_text(driver: str, basis: str, params: LimitParams, drivers: dict[str, str]) -> str:
    if driver == "capacity" and basis in _CAPACITY_BY_BASIS:
        return _CAPACITY_BY_BASIS[basis]
    if driver == "new_customer_cap" and params.new_customer_cap is not None:
        return f"a new customer's limit is capped at {params.new_customer_cap:,.0f} until it has a payment history"
    if driver == "requested_limit" and params.new_customer_cap_share_of_request not in (None, 1.0):
        return (f"a new customer gets at most {params.new_customer_cap_share_of_request:.0%} of the limit it "
                "requested")
    return drivers[driver]


def capacity_cap(sales_in_window: pd.Series, months_observed: pd.Series, payment_terms_days: pd.Series,
                 revenue: pd.Series, current_limit: pd.Series, params: LimitParams,
                 expected_monthly_purchases: pd.Series | None = None,
                 requested_limit: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """What the customer can use: purchases over its terms with headroom, at most a share of its revenue.

    Without purchases in the window, the purchases it declared (``expected_monthly_purchases``
    over its terms with headroom) stand in for them, and failing those the limit it requested
    (``requested_limit``); NaN or 0 = not declared. Returns the cap and its basis
    (``purchases``, ``declared purchases``, ``requested limit``, ``revenue``, or
    ``current_limit`` when there is none of them: the limit is then kept as is).
    """
    terms_months = payment_terms_days.astype(float) / _DAYS_PER_MONTH
    monthly = (sales_in_window / months_observed.clip(lower=1.0)).where(sales_in_window > 0)
    need_cap = monthly * terms_months * params.purchase_headroom
    need_basis = pd.Series("purchases", index=need_cap.index, dtype=object)
    for label, stand_in in (
        ("declared purchases", None if expected_monthly_purchases is None
         else expected_monthly_purchases.astype(float).where(expected_monthly_purchases > 0)
         * terms_months * params.purchase_headroom),
        ("requested limit", None if requested_limit is None
         else requested_limit.astype(float).where(requested_limit > 0)),
    ):
        if stand_in is None:
            continue
        use = need_cap.isna() & stand_in.notna()
        need_cap = need_cap.where(~use, stand_in)
        need_basis = need_basis.where(~use, label)
    revenue_cap = revenue * params.revenue_cap_pct
    cap = pd.concat([need_cap, revenue_cap], axis=1).min(axis=1, skipna=True)
    basis = need_basis.where(need_cap.notna() & (need_cap <= revenue_cap.fillna(np.inf)), "revenue")
    neither = cap.isna()
    cap = cap.where(~neither, current_limit.astype(float))
    basis = basis.where(~neither, "current_limit")
    return cap, basis


def set_limits(scored: pd.DataFrame, params: LimitParams, lookback_months: int) -> pd.DataFrame:
    """Proposed limit per customer with the cap that decided it.

    Parameters
    ----------
    scored : one row per customer with ``pd``, ``grade``, ``credit_limit`` (today's),
        ``payment_terms_days``, ``sales_in_window``, ``tenure_months``, ``revenue_latest``;
        optional ``is_new_customer`` (absent = none is new), ``expected_monthly_purchases``
        and ``requested_limit`` (:data:`DECLARED_COLUMNS`).
    params : caps, cut-off and rounding.
    lookback_months : length of the window ``sales_in_window`` covers.

    Returns
    -------
    DataFrame with ``capacity_cap``, ``capacity_basis``, ``risk_cap``, ``single_name_cap``,
    ``new_customer_cap``, ``request_cap`` (NaN where they do not apply), ``proposed_limit``,
    ``limit_change``, ``decided_by`` and ``limit_reason``.
    """
    months = scored["tenure_months"].clip(upper=lookback_months)
    cap_capacity, basis = capacity_cap(scored["sales_in_window"], months, scored["payment_terms_days"],
                                       scored["revenue_latest"], scored["credit_limit"], params,
                                       expected_monthly_purchases=declared(scored, "expected_monthly_purchases"),
                                       requested_limit=declared(scored, "requested_limit"))
    risk_cap = scored["grade"].map(params.risk_cap_by_grade).astype(float)
    single_name = params.own_equity * params.single_name_cap_pct
    new_caps = new_customer_caps(scored, params)
    caps = pd.DataFrame({"capacity": cap_capacity, "risk_grade": risk_cap,
                         "single_name": np.full(len(scored), single_name),
                         "new_customer_cap": new_caps["new_customer_cap"].fillna(np.inf),
                         "requested_limit": new_caps["requested_limit"].fillna(np.inf)}, index=scored.index)
    # Ties go to the first column: capacity before risk grade, single name and the new-customer caps.
    decided = caps.idxmin(axis=1)
    limit = caps.min(axis=1)
    above_cutoff = scored["pd"] > params.pd_cutoff
    limit = limit.where(~above_cutoff, 0.0)
    decided = decided.where(~above_cutoff, "pd_cutoff")
    if params.rounding > 0:
        limit = np.floor(limit / params.rounding) * params.rounding
    out = pd.DataFrame({
        "capacity_cap": cap_capacity, "capacity_basis": basis, "risk_cap": risk_cap,
        "single_name_cap": single_name, "new_customer_cap": new_caps["new_customer_cap"],
        "request_cap": new_caps["requested_limit"], "current_limit": scored["credit_limit"].astype(float),
        "proposed_limit": limit, "decided_by": decided,
    }, index=scored.index)
    out["limit_change"] = out["proposed_limit"] - out["current_limit"]
    out["limit_reason"] = [
        f"Limit {new:,.0f} ({'+' if chg >= 0 else '-'}{abs(chg):,.0f} vs today): "
        f"{_driver_text(d, b, params, LIMIT_DRIVERS)}."
        for new, chg, d, b in zip(out["proposed_limit"], out["limit_change"], out["decided_by"], out["capacity_basis"])
    ]
    return out


# ---------------------------------------------------------------- portfolio optimization

def purchase_statistics(invoices: pd.DataFrame, as_of: pd.Timestamp, lookback_months: int,
                        customer_ids: pd.Index) -> pd.DataFrame:
    """Monthly purchases of each customer over the lookback window: mean, CV and months observed.

    Only invoices issued before ``as_of`` count. Months without an invoice count as zero
    purchases, from the customer's first invoice month in the window on.
    """
    start = pd.Timestamp(as_of) - pd.DateOffset(months=lookback_months)
    dates = invoices["invoice_date"]
    # the three columns read, not the whole table's rows (a third of a ledger is in the window)
    inv = invoices[["customer_id", "invoice_date", "amount"]].loc[(dates >= start) & (dates < as_of)
                                                                  & invoices["customer_id"].isin(customer_ids)]
    month = (inv["invoice_date"].dt.year - start.year) * 12 + (inv["invoice_date"].dt.month - start.month)
    grid = pd.crosstab(inv["customer_id"], month, values=inv["amount"], aggfunc="sum").fillna(0.0)
    grid = grid.reindex(columns=range(lookback_months), fill_value=0.0)
    values = grid.to_numpy()
    first = np.where(values > 0, np.arange(lookback_months), lookback_months).min(axis=1)
    observed = np.arange(lookback_months)[None, :] >= first[:, None]
    n_obs = observed.sum(axis=1)
    mean = np.where(n_obs > 0, (values * observed).sum(axis=1) / np.maximum(n_obs, 1), np.nan)
    var = np.where(n_obs > 1, (((values - mean[:, None]) ** 2) * observed).sum(axis=1) / np.maximum(n_obs - 1, 1),
                   np.nan)
    out = pd.DataFrame({"monthly_purchases_mean": mean, "monthly_purchases_cv": np.sqrt(var) / mean,
                        "months_observed": n_obs}, index=grid.index)
    return out.reindex(customer_ids).fillna({"months_observed": 0})


def optimization_inputs(book: pd.DataFrame, purchases: pd.DataFrame, params: LimitParams, lgd: float
                        ) -> tuple[pd.DataFrame, pd.Series]:
    """Per-customer inputs of :func:`credit_lab.limits.optimizer.build_problem`, and the basis of each demand.

    The purchase need over the payment terms is lognormal with mean = monthly purchases x terms
    in months, and a CV from the customer's own month-to-month variation scaled to the terms
    (independent months: cv_terms = cv_month / sqrt(months of terms)); with fewer than three
    months of orders the CV is ``demand_cv_default``. Without orders, the need is taken from what
    the customer declared (``expected_monthly_purchases`` x terms in months, then its
    ``requested_limit``), then from revenue (``revenue_cap_pct`` of it) and failing that from
    today's limit; customers with none of these cannot be given a limit by the optimizer and
    are reported. A new customer's caps (:func:`new_customer_caps`) are per-customer upper
    bounds, columns ``new_customer_cap`` and ``requested_limit_cap``.
    """
    terms_months = book["payment_terms_days"].astype(float) / _DAYS_PER_MONTH
    monthly = purchases["monthly_purchases_mean"].reindex(book.index)
    need = monthly * terms_months
    basis = pd.Series("ordering history", index=book.index)
    for label, stand_in in (("declared purchases", declared(book, "expected_monthly_purchases") * terms_months),
                            ("requested limit", declared(book, "requested_limit"))):
        use = need.isna() & stand_in.notna()
        need = need.where(~use, stand_in)
        basis = basis.where(~use, label)
    from_revenue = need.isna() & (book["revenue_latest"] > 0)
    need = need.where(~from_revenue, book["revenue_latest"] * params.revenue_cap_pct)
    basis = basis.where(~from_revenue, "revenue")
    from_limit = need.isna() & (book["credit_limit"] > 0)
    need = need.where(~from_limit, book["credit_limit"].astype(float))
    basis = basis.where(~from_limit, "today's limit")
    basis = basis.where(need.notna(), "none")
    cv_month = purchases["monthly_purchases_cv"].reindex(book.index)
    enough = purchases["months_observed"].reindex(book.index).fillna(0) >= 3
    cv = (cv_month / np.sqrt(terms_months.clip(lower=1.0))).where(enough & (cv_month > 0), params.demand_cv_default)
    cv = cv.clip(0.1, 3.0)
    margin = book["industry"].map(params.gross_margin_by_industry).astype(float).fillna(params.gross_margin)
    collection_days = book["payment_terms_days"].astype(float) + book["days_beyond_terms_mean"].fillna(0.0)
    lgd_arr = np.full(len(book), lgd)
    inputs = pd.DataFrame({
        "mean_demand": need, "demand_cv": cv, "gross_margin": margin, "collection_days": collection_days,
        "pd": book["pd"].astype(float), "lgd": lgd_arr,
        "ul_rate": irb_capital_rate(book["pd"].to_numpy(dtype=float), lgd_arr),
        "industry": book["industry"].astype(str), "region": book["region"].astype(str),
        "grade": book["grade"].astype(str), "current_limit": book["credit_limit"].astype(float),
    }, index=book.index)
    if params.insured_limit_caps:
        insured = book["insurance_cover_pct"].astype(float) > 0
        inputs["insurer_cap"] = book["insured_limit"].astype(float).where(insured, np.inf)
    new_caps = new_customer_caps(book, params)
    if new_caps.notna().any(axis=None):
        inputs["new_customer_cap"] = new_caps["new_customer_cap"].fillna(np.inf)
        inputs["requested_limit_cap"] = new_caps["requested_limit"].fillna(np.inf)
    return inputs, basis


def share_caps(params: LimitParams, inputs: pd.DataFrame, exposure: float
               ) -> tuple[dict[str, float], dict[str, float], dict[str, dict], list[str]]:
    """Industry and region caps from the named caps and the shares of the exposure budget.

    A share cap is a concentration limit only on a dimension where the book has at least two
    segments: with one (every customer in industry ``all`` in a table without an industry
    column, or a ledger of one industry) it would cap the whole book, so it is not applied and
    a note says so. Without an exposure budget there is nothing to take a share of (off, with a
    note). A share below 1 / segments is applied as set, with a note: even an evenly spread book
    could then use only ``segments x share`` of the exposure budget. Caps named per segment
    (``industry_caps`` / ``region_caps``) always stay as given.

    Returns the caps per industry and per region, what was decided per dimension
    (``{"share", "segments", "applied"}``) and the notes.
    """
    caps: dict[str, dict[str, float]] = {"industry": dict(params.industry_caps), "region": dict(params.region_caps)}
    decided: dict[str, dict] = {}
    notes: list[str] = []
    for dim, share in (("industry", params.industry_cap_share), ("region", params.region_cap_share)):
        if share is None:
            continue
        names = list(pd.unique(inputs[dim]))
        key = f"limits.{dim}_cap_share = {share:g}"
        applied = False
        if not np.isfinite(exposure):
            notes.append(f"{key} is not applied: there is no exposure budget (limits.exposure_budget and "
                         "limits.exposure_budget_vs_current are null) to take a share of.")
        elif len(names) < 2:
            which = f" ('{names[0]}')" if names else ""
            notes.append(f"{key} is not applied: the book has one {dim}{which}, so a share cap would cap the "
                         "whole book, not a concentration.")
        else:
            applied = True
            for name in names:
                caps[dim].setdefault(name, exposure * share)
            if share * len(names) < 1.0:
                plural = "industries" if dim == "industry" else "regions"
                notes.append(f"{key} is below 1/{len(names)} (the book has {len(names)} {plural}): even a book "
                             f"spread evenly over them can use at most {share * len(names):.0%} of the exposure "
                             "budget; the cap is applied as set.")
        decided[dim] = {"share": share, "segments": len(names), "applied": applied}
    return caps["industry"], caps["region"], decided, notes


#: a shipped default that would close or cut more than this share of today's accounts is a policy decision
#: the user has not taken: it is not applied, and the limits report says so
DEFAULT_MISFIT_SHARE = 0.10


def defaults_that_fit(params: LimitParams, book: pd.DataFrame) -> tuple[LimitParams, list[str]]:
    """``params`` with the shipped defaults that make no sense for this book switched off, and why.

    Only settings the user left at their default are checked (``params.model_fields_set``); a value
    set in the params file always applies. ``pd_cutoff`` is switched off when it would close more than
    :data:`DEFAULT_MISFIT_SHARE` of the accounts that hold a limit today (a book whose own default
    rate is near the cut-off, e.g. a card book), and ``risk_cap_by_grade`` (absolute amounts sized for
    the demo book) when it would cut more than that share of them.
    """
    holders = book["credit_limit"].fillna(0) > 0
    n = int(holders.sum())
    notes: list[str] = []
    if n == 0:
        return params, notes
    update: dict[str, object] = {}
    given = params.model_fields_set
    if "pd_cutoff" not in given:
        closed = int((holders & (book["pd"] > params.pd_cutoff)).sum())
        if closed > DEFAULT_MISFIT_SHARE * n:
            update["pd_cutoff"] = 1.0
            notes.append(
                f"limits.pd_cutoff (the shipped default {params.pd_cutoff:.0%}) is not applied: it would close "
                f"{closed:,} of the {n:,} accounts that hold a limit today ({closed / n:.0%}; this book's mean PD is "
                f"{book['pd'].mean():.1%}), a policy decision rather than a default. Set limits.pd_cutoff in the "
                "params to apply a cut-off.")
    if "risk_cap_by_grade" not in given:
        caps = book["grade"].map(params.risk_cap_by_grade).astype(float)
        cut = int((holders & (book["credit_limit"] > caps)).sum())
        if cut > DEFAULT_MISFIT_SHARE * n:
            update["risk_cap_by_grade"] = dict.fromkeys(params.risk_cap_by_grade, float("inf"))
            amounts = ", ".join(f"{g} {v:,.0f}" for g, v in params.risk_cap_by_grade.items())
            notes.append(
                f"limits.risk_cap_by_grade (the shipped default amounts, {amounts}) is not applied: it would cut "
                f"{cut:,} of the {n:,} accounts that hold a limit today ({cut / n:.0%}), "
                "so it does not fit this book's scale. Set limits.risk_cap_by_grade in the params to cap limits by "
                "grade.")
    return (params.model_copy(update=update) if update else params), notes


def competition_columns(book: pd.DataFrame, purchases: pd.DataFrame, inputs: pd.DataFrame, basis: pd.Series,
                        params: LimitParams, cost_of_funds_rate: float | None = None
                        ) -> tuple[pd.DataFrame, list[str]]:
    """``inputs`` with the competition term's and the strategic floors' columns, and notes on what was not found.

    With a competitive intensity above 0 anywhere (``limits.competition``): ``competitive_intensity``
    (the customer's industry's, else ``default_intensity``) and ``relationship_value`` (``V`` of
    :func:`credit_lab.limits.optimizer.relationship_value`: net margin x yearly purchases at the
    customer's own monthly run rate x the annuity of ``relationship_years`` at ``discount_rate`` x
    ``min(1, tenure / full_value_tenure_months)``; 0 without ordering history: a need declared or
    read off revenue is not a relationship yet). With a strategic rule (``limits.strategic``):
    ``strategic_floor`` = ``protected_share_of_need`` x the mean need, NaN for the others.
    """
    comp, strat = params.competition, params.strategic
    notes: list[str] = []
    out = inputs.copy()
    rate = params.cost_of_funds_rate if cost_of_funds_rate is None else cost_of_funds_rate
    margin = net_margin_rate(inputs["gross_margin"], inputs["collection_days"], rate)
    history = basis == "ordering history"
    monthly = purchases["monthly_purchases_mean"].reindex(book.index).astype(float)
    yearly_margin = pd.Series(np.maximum(margin, 0.0) * (monthly * 12.0).where(history, 0.0).fillna(0.0),
                              index=book.index)
    intensities = comp.intensities()
    if intensities or comp.default_intensity > 0:
        industry = book["industry"].astype(str)
        unknown = sorted(set(intensities) - set(industry))
        if unknown:
            notes.append(f"limits.competition.intensity_by_industry / supplier_hhi_by_industry name {unknown}, not "
                         f"found in this book's industries ({sorted(set(industry))}): those intensities are not used.")
        from_hhi = sorted(set(comp.supplier_hhi_by_industry) - set(comp.intensity_by_industry) - set(unknown))
        if from_hhi:
            notes.append("Competitive intensity from the supplier side's concentration (1 - HHI / 10,000, "
                         "limits.competition.supplier_hhi_by_industry): " + ", ".join(
                             f"{k} HHI {comp.supplier_hhi_by_industry[k]:,.0f} -> {intensities[k]:.2f}"
                             for k in from_hhi) + ".")
        out["competitive_intensity"] = industry.map(intensities).fillna(comp.default_intensity).astype(float)
        if "tenure_months" in book:
            tenure = book["tenure_months"].astype(float)
        else:
            tenure = purchases["months_observed"].reindex(book.index).astype(float)
            notes.append("The book has no tenure_months: a relationship's age is taken as its months of orders in "
                         "the lookback window (limits.competition.full_value_tenure_months).")
        out["relationship_value"] = relationship_value(
            margin, (monthly * 12.0).where(history), tenure, relationship_years=comp.relationship_years,
            discount_rate=comp.discount_rate, full_value_tenure_months=comp.full_value_tenure_months)
        if not (out["relationship_value"] > 0).any():
            notes.append("limits.competition is set but no customer has an ordering history to value its "
                         "relationship on (e.g. table mode): the competition term changes no limit.")
    if strat.applies:
        chosen = pd.Series(book.index.isin([str(c) for c in strat.customers])
                           | book.index.isin(list(strat.customers)), index=book.index)
        missing = sorted(set(map(str, strat.customers)) - set(map(str, book.index)))
        if missing:
            notes.append(f"limits.strategic.customers names {len(missing)} id(s) not in this book "
                         f"(e.g. {missing[:5]}): they are skipped.")
        if strat.flag_column is not None:
            if strat.flag_column not in book:
                raise ParamsError(f"limits.strategic.flag_column = {strat.flag_column!r}: no such column in the "
                                  f"customers table; name a true/false column of it or set the key to null.")
            flag = book[strat.flag_column]
            chosen |= (flag.astype(str).str.lower().isin(["true", "1", "yes", "y"])
                       if flag.dtype == object else flag.fillna(0).astype(bool))
        if strat.top_by_margin > 0:
            top = yearly_margin[yearly_margin > 0].nlargest(strat.top_by_margin).index
            chosen |= book.index.isin(top)
        floor = (strat.protected_share_of_need * inputs["mean_demand"]).where(chosen)
        out["strategic_floor"] = floor
        notes.append(f"{int(floor.notna().sum()):,} strategic customer(s) (limits.strategic) are held at "
                     f"{strat.protected_share_of_need:.0%} of their expected purchase need over the payment terms, "
                     "unless a hard cap (PD cut-off, single-name, grade maximum, insurer, change band, "
                     "new-customer caps) is lower.")
    return out, notes


def limit_policy(params: LimitParams, inputs: pd.DataFrame) -> tuple[LimitPolicy, dict[str, dict], list[str]]:
    """The optimizer's policy from params; relative budgets are measured on today's limits.

    Returns the policy, what :func:`share_caps` decided per dimension, and its notes.
    """
    current = inputs["current_limit"]
    el_today = float((inputs["pd"] * inputs["lgd"] * current).sum())
    el_budget = params.el_budget if params.el_budget is not None else (
        el_today * params.el_budget_vs_current if params.el_budget_vs_current is not None else np.inf)
    exposure = params.exposure_budget if params.exposure_budget is not None else (
        float(current.sum()) * params.exposure_budget_vs_current
        if params.exposure_budget_vs_current is not None else np.inf)
    industry_caps, region_caps, decided, notes = share_caps(params, inputs, exposure)
    policy = LimitPolicy(
        el_budget=float(el_budget), exposure_budget=float(exposure), industry_caps=industry_caps,
        region_caps=region_caps, own_equity=params.own_equity, single_name_pct=params.single_name_cap_pct,
        grade_bounds={g: (float(params.min_limit_by_grade.get(g, 0.0)), float(cap))
                      for g, cap in params.risk_cap_by_grade.items()},
        max_change=params.max_change_per_review, pd_cutoff=params.pd_cutoff,
        cost_of_funds_rate=params.cost_of_funds_rate, capital_rate=params.capital_rate,
    )
    return policy, decided, notes


def optimize_book(book: pd.DataFrame, purchases: pd.DataFrame, params: LimitParams, lgd: float, seed: int = 0,
                  model=None, features: pd.DataFrame | None = None, master_scale=None, client=None,
                  partitions: int | None = None):
    """Optimal limits for the scored book, with the constraint behind each one.

    Returns ``(table, result, problem)``: ``table`` has one row per customer with
    ``proposed_limit``, ``limit_change``, ``decided_by``, ``limit_reason`` and the demand basis;
    customers without any demand information keep limit 0 with ``decided_by = "no_demand_data"``.
    With ``model``, ``features`` and ``master_scale`` it also says which behaviour would raise
    each limit most (:func:`improvement_hints`), in ``hint`` / ``hint_pd`` / ``hint_limit``.
    With a Dask ``client`` the optimizer's passes over the whole book run on its workers, in ``partitions``
    blocks of customers (:func:`~credit_lab.limits.optimizer.optimize_limits`); the limits are the same.
    """
    inputs, basis = optimization_inputs(book, purchases, params, lgd)
    inputs, competition_notes = competition_columns(book, purchases, inputs, basis, params)
    known = inputs["mean_demand"].notna() & (inputs["mean_demand"] > 0)
    policy, decided, notes = limit_policy(params, inputs.loc[known])
    notes += competition_notes
    try:
        try:
            problem = build_problem(inputs.loc[known], policy)
            result = optimize_limits(problem, seed=seed, client=client, partitions=partitions)
        except InfeasibleLimitsError as first:
            if params.on_infeasible_budget != "lift_reduction_band" or policy.max_change is None:
                raise
            # The risk appetite wins over the change band: cuts may exceed the band, increases may not.
            policy = replace(policy, max_decrease=1.0)
            problem = build_problem(inputs.loc[known], policy)
            result = optimize_limits(problem, seed=seed, client=client, partitions=partitions)
            notes.append(f"The budgets need larger cuts than the +-{params.max_change_per_review:.0%} change band "
                         f"allows ({str(first).split(';')[0]}), so the band's lower edge was lifted for this run "
                         "(limits.on_infeasible_budget: lift_reduction_band); increases stay within the band.")
    except InfeasibleLimitsError as err:
        raise InfeasibleLimitsError(
            f"{err}\nIn the params: policy.el_budget is limits.el_budget (or limits.el_budget_vs_current x "
            "today's EL), policy.exposure_budget is limits.exposure_budget(_vs_current), industry/region caps "
            "are limits.industry_caps / industry_cap_share and region_caps / region_cap_share, "
            "policy.max_change is limits.max_change_per_review, strategic floors are limits.strategic."
        ) from None
    solved = result.to_frame()
    table = pd.DataFrame(index=book.index)
    table["current_limit"] = book["credit_limit"].astype(float)
    table["proposed_limit"] = solved["limit"].reindex(book.index).fillna(0.0)
    table["limit_change"] = table["proposed_limit"] - table["current_limit"]
    table["decided_by"] = solved["decided_by"].reindex(book.index).fillna("no_demand_data")
    table["decided_by_constraint"] = solved["decided_by_constraint"].reindex(book.index).fillna("no_demand_data")
    table["profit_optimum"] = solved["profit_optimum"].reindex(book.index)
    table["expected_profit"] = solved["expected_profit_pwl"].reindex(book.index).fillna(0.0)
    table["expected_loss_on_limit"] = solved["expected_loss"].reindex(book.index).fillna(0.0)
    table["purchase_need_over_terms"] = inputs["mean_demand"]
    table["demand_basis"] = basis
    without: dict = {}
    if "competitive_intensity" in inputs:
        # The same book solved without the term: what weighing competition changed, limit by limit.
        plain = optimize_limits(problem.without_competition(), seed=seed, initial_prices=result.prices, client=client,
                                partitions=partitions)
        ids = pd.Index(problem.customer_ids)
        table["competitive_intensity"] = inputs["competitive_intensity"]
        table["relationship_value"] = inputs["relationship_value"]
        table["relationship_value_kept"] = pd.Series(problem.relationship_value_kept(result.limits),
                                                     index=ids).reindex(book.index)
        table["limit_without_competition"] = pd.Series(plain.limits, index=ids).reindex(book.index).fillna(0.0)
        without = table["limit_without_competition"].to_dict()
    if "strategic_floor" in inputs:
        table["strategic_floor"] = inputs["strategic_floor"]
    drivers = {**DECIDED_BY, "no_demand_data": "no purchases, declared needs, revenue or current limit to size a "
                                               "limit on"}
    if params.strategic.applies:
        share = params.strategic.protected_share_of_need
        drivers["strategic_floor"] = (f"a strategic customer's limit is held at {share:.0%} of its expected purchase "
                                      "need over the payment terms (limits.strategic)")
    sized_on = {"declared purchases": " Its purchase need is the one it declared (no ordering history yet).",
                "requested limit": " Its purchase need is taken as the limit it requested (no ordering history "
                                   "yet)."}
    table["limit_reason"] = [
        f"Limit {new:,.0f} ({'+' if chg >= 0 else '-'}{abs(chg):,.0f} vs today): "
        f"{_driver_text(d, '', params, drivers)}.{sized_on.get(b, '')}"
        + (f" Without weighing competition it would be {without[cid]:,.0f}." if d == "relationship_value" else "")
        for cid, new, chg, d, b in zip(table.index, table["proposed_limit"], table["limit_change"],
                                       table["decided_by"], table["demand_basis"])
    ]
    table["hint"], table["hint_pd"], table["hint_limit"] = "", np.nan, np.nan
    if model is not None and features is not None and master_scale is not None:
        hints = improvement_hints(model, features, inputs.loc[known], problem, result.prices, master_scale)
        has = hints["hint"] != ""
        ids = hints.index[has]
        table.loc[ids, "hint"] = hints.loc[ids, "hint"]
        table.loc[ids, "hint_pd"] = hints.loc[ids, "hint_pd"]
        table.loc[ids, "hint_limit"] = table.loc[ids, "proposed_limit"] + hints.loc[ids, "hint_limit_gain"]
    table.attrs["notes"] = notes
    table.attrs["share_caps"] = decided
    return table, result, problem


#: The columns :func:`reason_sentence` reads.
REASON_COLUMNS = ("limit_reason", "reason_1", "reason_2", "reason_3", "hint", "hint_pd", "hint_limit")


def reason_sentence(row: pd.Series | dict) -> str:
    """One plain-language sentence: the limit, what decided it, the main risk factors, the hint."""
    factors = [r for r in (row.get("reason_1"), row.get("reason_2"), row.get("reason_3")) if isinstance(r, str) and r]
    text = row["limit_reason"]
    if factors:
        text += " Main risk factors: " + "; ".join(factors) + "."
    if isinstance(row.get("hint"), str) and row["hint"]:
        text += (f" {row['hint'][0].upper()}{row['hint'][1:]} would lower the PD to {row['hint_pd']:.1%} and "
                 f"could raise the limit to about {row['hint_limit']:,.0f}.")
    return text


# ---------------------------------------------------------------- what would raise a limit

#: Behaviours a customer controls, as the feature values they would produce.
HINT_SCENARIOS: dict[str, dict[str, float | tuple[str, float]]] = {
    "paying within terms": {
        "days_beyond_terms_mean": 0.0, "days_beyond_terms_max": 0.0, "share_late_30": 0.0, "share_late_60": 0.0,
        "share_late_90": 0.0, "max_days_past_due_open": 0.0, "overdue_share_of_open": 0.0,
        "lateness_trend": ("max", 0.0),
    },
    "settling its overdue invoices": {"max_days_past_due_open": 0.0, "overdue_share_of_open": 0.0},
    "staying within its credit limit": {"utilisation": ("max", 0.8), "limit_breaches": 0.0},
    "resolving its disputes": {"dispute_rate": 0.0},
}


def _apply_scenario(features: pd.DataFrame, changes: dict) -> pd.DataFrame:
    out = features.copy()
    for col, rule in changes.items():
        if col not in out:
            continue
        if isinstance(rule, tuple):  # ("max", v): cap the value at v, keep lower ones
            out[col] = out[col].where(out[col].isna() | (out[col] <= rule[1]), rule[1])
        else:
            out[col] = out[col].where(out[col].isna(), rule)
    return out


def improvement_hints(model, features: pd.DataFrame, inputs: pd.DataFrame, problem, prices: np.ndarray,
                      master_scale, min_gain: float = 1000.0, min_gain_share: float = 0.05) -> pd.DataFrame:
    """For each customer, the behaviour that would raise its limit most, and to what.

    Each scenario of :data:`HINT_SCENARIOS` changes the customer's own payment features, the
    PD model re-scores it, and the limit is recomputed as the customer's optimum at the
    portfolio's current shadow prices (budgets priced, not re-solved: the marginal answer
    for one customer changing its behaviour), within its bounds for the new grade.

    Returns
    -------
    DataFrame indexed like ``inputs`` with ``hint``, ``hint_pd``, ``hint_limit`` (empty /
    NaN where no behaviour raises the limit by at least ``min_gain``, or by ``min_gain_share`` of the
    limit where that is less: a book of small limits gets hints too).
    """
    ids = pd.Index(problem.customer_ids)
    feats = features.loc[ids]
    kinds = np.asarray(problem.row_kinds)
    pi_el = float(prices[list(problem.row_names).index("el_budget")])
    pi_exp = float(prices[list(problem.row_names).index("exposure_budget")])
    pi_ind = prices[kinds == "industry_cap"]
    pi_reg = prices[kinds == "region_cap"]

    def priced_limit(prob) -> np.ndarray:
        k = (prob.risk_cost + pi_el * prob.el_rate + pi_exp
             + (pi_ind[prob.industry_code] if pi_ind.size else 0.0)
             + (pi_reg[prob.region_code] if pi_reg.size else 0.0))
        return single_customer_optimum(prob.mean_demand, prob.demand_cv, prob.margin_rate, k, prob.lower, prob.upper)

    base = priced_limit(problem)
    threshold = np.minimum(min_gain, min_gain_share * np.maximum(base, 0.0))
    best_gain = np.zeros(len(ids))
    best = pd.DataFrame({"hint": "", "hint_pd": np.nan, "hint_limit": np.nan}, index=ids)
    for label, changes in HINT_SCENARIOS.items():
        changed = _apply_scenario(feats, changes)
        cols = [c for c in changes if c in feats]
        differs = ~np.isclose(changed[cols].to_numpy(dtype=float, na_value=np.nan),
                              feats[cols].to_numpy(dtype=float, na_value=np.nan), equal_nan=True).all(axis=1)
        if not differs.any():
            continue
        # Only the customers the behaviour changes are re-scored (a PD is a function of its own row): the
        # others keep their PD, and their gain is zero whatever it would be.
        new_pd = inputs.loc[ids, "pd"].to_numpy(dtype=float, copy=True)
        new_pd[differs] = model.predict_pd(changed.loc[differs])
        alt = inputs.loc[ids].copy()
        alt["pd"] = new_pd
        alt["grade"] = assign_grades(new_pd, master_scale)
        alt["ul_rate"] = irb_capital_rate(new_pd, alt["lgd"].to_numpy(dtype=float))
        new_limit = priced_limit(build_problem(alt, problem.policy))
        gain = np.where(differs, new_limit - base, 0.0)
        better = (gain > best_gain) & (gain >= threshold)
        best_gain = np.where(better, gain, best_gain)
        best.loc[better, "hint"] = label
        best.loc[better, "hint_pd"] = new_pd[better]
        best.loc[better, "hint_limit_gain"] = gain[better]
    best["hint_limit_gain"] = best.get("hint_limit_gain", pd.Series(np.nan, index=ids))
    return best
