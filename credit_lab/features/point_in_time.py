"""Point-in-time features and labels, and the feature dictionary.

Every feature of a snapshot is built only from what was known strictly before
the snapshot date: invoices issued before it, payments made before it (an
invoice paid later is still *open* at the snapshot), statements that had
become available before it, industry outlooks published before it. The label
is whether the customer defaults within the horizon after the snapshot.

A customer's features depend only on its own records and its industry's
outlook, so the functions can run on any partition of customers.

The snapshots of a training set are built together: the payment features of all of them come
from one compiled pass over the invoices (:mod:`credit_lab.features.payment`), the statements are
sorted by customer once, and customers are matched to their records by row numbers rather than by
hashing their ids again for every snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_lab.core.config import FeatureParams
from credit_lab.features.payment import customer_codes, payment_features

__all__ = [
    "FeatureSpec",
    "FEATURE_DICTIONARY",
    "REASON_GROUPS",
    "feature_names",
    "new_customer_feature_names",
    "monotone_constraints",
    "build_features",
    "build_features_at",
    "build_current_and_training_set",
    "build_labels",
    "build_training_set",
    "training_snapshots",
    "data_cut_date",
    "feature_dictionary_frame",
]

_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: what it means, its unit, which way is riskier, where it comes from.

    ``risk_direction`` is +1 when a higher value means a riskier customer, -1
    when it means a safer one, 0 when no direction is assumed. ``reason`` is
    the plain-language phrase used in reason codes when the feature pushes the
    PD up.
    """

    name: str
    description: str
    unit: str
    risk_direction: int
    source: str  # payment / financial / operations / prospects
    reason: str


_SPECS = (
    FeatureSpec("invoice_count", "invoices issued in the lookback window", "count", 0, "payment",
                "few invoices on record"),
    FeatureSpec("days_beyond_terms_mean", "mean days paid beyond terms, invoices settled in the window", "days", 1,
                "payment", "pays invoices late on average"),
    FeatureSpec("days_beyond_terms_max", "worst days beyond terms, settled or still open, in the window", "days", 1,
                "payment", "had a very late invoice"),
    FeatureSpec("share_late_30", "share of invoices due in the window paid or open more than 30 days late", "share",
                1, "payment", "often pays more than 30 days late"),
    FeatureSpec("share_late_60", "share of invoices due in the window paid or open more than 60 days late", "share",
                1, "payment", "often pays more than 60 days late"),
    FeatureSpec("share_late_90", "share of invoices due in the window paid or open more than 90 days late", "share",
                1, "payment", "has invoices more than 90 days late"),
    FeatureSpec("max_days_past_due_open", "oldest overdue open invoice at the snapshot", "days", 1, "payment",
                "has overdue unpaid invoices"),
    FeatureSpec("overdue_share_of_open", "overdue share of open receivables at the snapshot", "share", 1, "payment",
                "a large part of its balance is overdue"),
    FeatureSpec("dso_days", "days sales outstanding: open receivables / sales in the window x days", "days", 1,
                "payment", "takes long to pay (high DSO)"),
    FeatureSpec("lateness_trend", "mean days beyond terms, last 3 months minus the 9 months before", "days", 1,
                "payment", "has started paying later recently"),
    FeatureSpec("dispute_rate", "share of invoices in the window disputed", "share", 1, "payment",
                "disputes many invoices"),
    FeatureSpec("utilisation", "open receivables at the snapshot / current credit limit", "ratio", 1, "payment",
                "uses most of its credit limit"),
    FeatureSpec("limit_breaches", "month-ends in the window with open receivables above the limit", "count", 1,
                "payment", "went over its credit limit"),
    FeatureSpec("current_ratio", "current assets / current liabilities", "ratio", -1, "financial",
                "weak liquidity (current ratio)"),
    FeatureSpec("quick_ratio", "(current assets - inventory) / current liabilities", "ratio", -1, "financial",
                "weak quick ratio"),
    FeatureSpec("liabilities_to_assets", "total liabilities / total assets", "ratio", 1, "financial",
                "high leverage"),
    FeatureSpec("ebitda_margin", "EBITDA / revenue", "ratio", -1, "financial", "low operating margin"),
    FeatureSpec("interest_coverage", "EBITDA / interest expense (capped to [-50, 100]; 100 without interest)",
                "ratio", -1, "financial", "earnings barely cover interest"),
    FeatureSpec("return_on_assets", "net income / total assets", "ratio", -1, "financial", "low profitability"),
    FeatureSpec("altman_z2", "Altman Z'' = 6.56 WC/TA + 3.26 RE/TA + 6.72 EBIT/TA + 1.05 equity/TL", "score", -1,
                "financial", "weak Altman Z'' score"),
    FeatureSpec("financials_age_months", "months since the period end of the latest known statement", "months", 1,
                "financial", "financial statements are out of date"),
    FeatureSpec("has_financials", "1 if any statement was known at the snapshot", "flag", 0, "financial",
                "no financial statements on file"),
    FeatureSpec("revenue_growth", "revenue growth over the previous statement", "ratio", -1, "operations",
                "revenue is shrinking"),
    FeatureSpec("log_revenue", "natural log of revenue in the latest statement", "log currency", -1, "operations",
                "small company"),
    FeatureSpec("tenure_months", "months since onboarding", "months", -1, "operations", "short relationship"),
    FeatureSpec("orders_per_month", "invoices per month over the months of the window the customer existed",
                "count/month", 0, "operations", "orders rarely"),
    FeatureSpec("ordering_trend", "invoices per month, last 3 months / the 9 months before", "ratio", 0,
                "operations", "ordering pattern changed"),
    FeatureSpec("has_payment_history", "1 if any invoice was settled before the snapshot", "flag", 0, "payment",
                "no payment history"),
    FeatureSpec("industry_outlook", "latest industry outlook score before the snapshot", "score", -1, "prospects",
                "weak industry outlook"),
    FeatureSpec("industry_outlook_change", "change of the industry outlook over the last 3 months", "score", -1,
                "prospects", "industry outlook deteriorating"),
)

FEATURE_DICTIONARY: dict[str, FeatureSpec] = {s.name: s for s in _SPECS}

# Reason groups: features that say the same thing to a customer (late payment measured five ways)
# are one reason. A group's contribution is the sum of its features' exact contributions, so
# grouped reasons still add up to the model output, name each cause once, and do not flip
# between near-identical features when the model is refitted.
REASON_GROUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # group: (reason when it raises the PD, what is missing when none of its features is known, features)
    "late_payment": ("pays invoices late", "payment punctuality",
                     ("days_beyond_terms_mean", "days_beyond_terms_max", "share_late_30", "share_late_60",
                      "share_late_90", "lateness_trend")),
    "overdue_balance": ("has overdue unpaid invoices", "the open balance",
                        ("max_days_past_due_open", "overdue_share_of_open", "dso_days")),
    "disputes": ("disputes many invoices", "disputes", ("dispute_rate",)),
    "limit_use": ("uses most of or goes over its credit limit", "use of the limit", ("utilisation", "limit_breaches")),
    "liquidity": ("weak liquidity", "liquidity", ("current_ratio", "quick_ratio")),
    "leverage": ("high leverage or a weak Altman Z'' score", "leverage", ("liabilities_to_assets", "altman_z2")),
    "profitability": ("low profitability", "profitability", ("ebitda_margin", "interest_coverage", "return_on_assets")),
    "statements": ("financial statements missing or out of date", "financial statements",
                   ("financials_age_months", "has_financials")),
    "size_growth": ("small or shrinking company", "size and growth", ("revenue_growth", "log_revenue")),
    "relationship": ("short relationship with little payment history", "the relationship",
                     ("tenure_months", "has_payment_history", "invoice_count")),
    "ordering": ("ordering pattern changed", "ordering", ("orders_per_month", "ordering_trend")),
    "industry": ("weak or deteriorating industry outlook", "the industry outlook",
                 ("industry_outlook", "industry_outlook_change")),
}


def feature_names() -> list[str]:
    """Model features in a fixed order."""
    return [s.name for s in _SPECS]


def new_customer_feature_names() -> list[str]:
    """Features of the new-customer model: what is known before a payment record exists.

    New customers (tenure under ``features.new_customer_months`` or no settled invoice) are
    judged on their financial statements, operations and industry prospects, plus the few
    signs their first orders already give (order count and use of the limit).
    """
    early = {"invoice_count", "utilisation", "orders_per_month"}
    return [s.name for s in _SPECS if s.source in ("financial", "operations", "prospects") or s.name in early]


def monotone_constraints(names: list[str]) -> list[int]:
    """Monotone constraints for a GBM on log-odds of default, from the dictionary's risk directions."""
    return [FEATURE_DICTIONARY[n].risk_direction if n in FEATURE_DICTIONARY else 0 for n in names]


def feature_dictionary_frame() -> pd.DataFrame:
    """The dictionary as a table for reports."""
    return pd.DataFrame([s.__dict__ for s in _SPECS])


def data_cut_date(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """First day of the month after the latest dated record: the natural scoring date."""
    latest = []
    inv = tables["invoices"]
    for col in ("invoice_date", "paid_date"):
        if len(inv) and inv[col].notna().any():
            latest.append(inv[col].max())
    d = tables.get("defaults")
    if d is not None and len(d):
        latest.append(d["default_date"].max())
    last = max(latest)
    return (last + pd.offsets.MonthBegin(1)).normalize()


def training_snapshots(as_of: pd.Timestamp, params: FeatureParams) -> list[pd.Timestamp]:
    """Historical snapshot dates, oldest first; the last one's label window ends at ``as_of``."""
    last = as_of - pd.DateOffset(months=params.label_horizon_months)
    return [last - pd.DateOffset(months=params.snapshot_spacing_months * k)
            for k in range(params.training_snapshots - 1, -1, -1)]


def _days(a: np.ndarray, b: np.ndarray | np.datetime64) -> np.ndarray:
    return (a - b) / _DAY


@dataclass(frozen=True)
class _Statements:
    """Statements of known customers sorted by customer row and period end (ties in input order), once."""

    table: pd.DataFrame  # RangeIndex, the sorted rows
    customer_row: np.ndarray  # row of each statement's customer in the customer table
    available: np.ndarray  # datetime64[ns]: when each became known
    n_customers: int


def _sorted_statements(fin: pd.DataFrame | None, customer_ids: pd.Series, lag_days: int) -> _Statements | None:
    if fin is None or len(fin) == 0:
        return None
    avail = fin["available_date"] if "available_date" in fin else pd.Series(pd.NaT, index=fin.index)
    avail = np.asarray(avail.fillna(fin["period_end"] + pd.Timedelta(days=lag_days)), dtype="datetime64[ns]")
    rows = customer_codes(fin["customer_id"], customer_ids)
    keep = np.flatnonzero(rows >= 0)
    order = keep[np.lexsort((np.asarray(fin["period_end"], dtype="datetime64[ns]")[keep], rows[keep]))]
    table = fin.drop(columns=["customer_id"]).iloc[order].reset_index(drop=True)  # ids: the rows say whose
    return _Statements(table, rows[order], avail[order], len(customer_ids))


def _financial_features(statements: _Statements | None, idx: pd.Index, take: np.ndarray,
                        snap: np.datetime64) -> pd.DataFrame:
    """Ratios of the latest statement known before ``snap`` of the customers at rows ``take`` (index ``idx``)."""
    cols = ["current_ratio", "quick_ratio", "liabilities_to_assets", "ebitda_margin", "interest_coverage",
            "return_on_assets", "altman_z2", "financials_age_months", "has_financials", "revenue_growth",
            "log_revenue", "revenue_latest"]
    out = pd.DataFrame(np.nan, index=idx, columns=cols)
    out["has_financials"] = 0.0
    if statements is None:
        return out
    known = np.flatnonzero(statements.available < snap)
    if len(known) == 0:
        return out
    row = statements.customer_row[known]
    is_latest = np.r_[row[1:] != row[:-1], True]
    is_previous = np.r_[(row[1:] == row[:-1]) & is_latest[1:], False]
    latest_at = np.full(statements.n_customers, -1)
    latest_at[row[is_latest]] = known[is_latest]
    previous_at = np.full(statements.n_customers, -1)
    previous_at[row[is_previous]] = known[is_previous]
    # position -1: no statement, a row of NaN; computed on positions, labelled with idx at the end (cheaper)
    f = statements.table.reindex(latest_at[take]).reset_index(drop=True)
    out = out.reset_index(drop=True)

    def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
        return (num / den).where(den > 0)

    with np.errstate(divide="ignore", invalid="ignore"):
        out["current_ratio"] = ratio(f["current_assets"], f["current_liabilities"])
        out["quick_ratio"] = ratio(f["current_assets"] - f["inventory"].fillna(0.0)
                                   .where(f["current_assets"].notna()), f["current_liabilities"])
        out["liabilities_to_assets"] = ratio(f["total_liabilities"], f["total_assets"])
        out["ebitda_margin"] = ratio(f["ebitda"], f["revenue"])
        cover = f["ebitda"] / f["interest_expense"]
        no_interest = f["interest_expense"].eq(0) & f["ebitda"].notna()
        cover = cover.where(~no_interest, np.where(f["ebitda"] >= 0, 100.0, -50.0))
        out["interest_coverage"] = cover.clip(-50.0, 100.0)
        out["return_on_assets"] = ratio(f["net_income"], f["total_assets"])
        equity = f["equity"].fillna(f["total_assets"] - f["total_liabilities"])
        x1 = ratio(f["current_assets"] - f["current_liabilities"], f["total_assets"])
        x2 = ratio(f["retained_earnings"], f["total_assets"])
        x3 = ratio(f["ebit"], f["total_assets"])
        x4 = (equity / f["total_liabilities"]).where(f["total_liabilities"] > 0, 10.0).clip(upper=10.0)
        out["altman_z2"] = 6.56 * x1 + 3.26 * x2 + 6.72 * x3 + 1.05 * x4
        out["financials_age_months"] = _days(np.full(len(idx), snap), f["period_end"].to_numpy()) / 30.4375
        out["has_financials"] = f["total_assets"].notna().astype(float)
        prev_rev = statements.table["revenue"].reindex(previous_at[take]).reset_index(drop=True)
        out["revenue_growth"] = ratio(f["revenue"], prev_rev) - 1.0
        out["log_revenue"] = np.log(f["revenue"].where(f["revenue"] > 0))
        out["revenue_latest"] = f["revenue"]
    return out.set_axis(idx)


def _outlook_features(outlook: pd.DataFrame | None, industry_code: np.ndarray, industries: pd.Index, idx: pd.Index,
                      snap: np.datetime64) -> pd.DataFrame:
    """Latest outlook of each customer's industry (``industries[industry_code]``, -1: none) and its 3-month change."""
    out = pd.DataFrame(np.nan, index=idx, columns=["industry_outlook", "industry_outlook_change"])
    if outlook is None or len(outlook) == 0:
        return out
    known = outlook.loc[outlook["as_of_date"] < snap].sort_values("as_of_date")
    if len(known) == 0:
        return out
    latest = known.groupby("industry").tail(1).set_index("industry")["outlook_score"]
    three_back = np.datetime64(pd.Timestamp(snap) - pd.DateOffset(months=3), "ns")
    older = known.loc[known["as_of_date"] < three_back].groupby("industry").tail(1).set_index("industry")

    def per_customer(score: pd.Series) -> np.ndarray:
        # one value per industry, then per customer by code; code -1 picks the NaN appended last
        return np.append(score.reindex(industries).to_numpy(dtype=float), np.nan)[industry_code]

    out["industry_outlook"] = per_customer(latest)
    out["industry_outlook_change"] = out["industry_outlook"].to_numpy() - per_customer(older["outlook_score"])
    return out


def build_features(tables: dict[str, pd.DataFrame], snapshot: pd.Timestamp | str, params: FeatureParams,
                   financials_publication_lag_days: int = 90) -> pd.DataFrame:
    """Features of every customer onboarded before ``snapshot`` and not in default before it.

    Parameters
    ----------
    tables : validated ledger tables (``customers``, ``invoices``; optional ``financials``,
        ``defaults``, ``industry_outlook``).
    snapshot : the as-of date; only records dated strictly before it are used.
    params : lookback window and new-customer threshold.
    financials_publication_lag_days : a statement without ``available_date`` counts as known
        this many days after its period end.

    Returns
    -------
    DataFrame indexed by ``customer_id`` with :func:`feature_names` columns plus descriptive
    columns (``snapshot_date``, ``industry``, ``region``, ``is_new_customer``,
    ``receivables_open``, ``sales_in_window``, ``revenue_latest``, ``credit_limit``).
    """
    return _build_snapshots(tables, [pd.Timestamp(snapshot)], params, financials_publication_lag_days)[0]


def build_features_at(tables: dict[str, pd.DataFrame], snapshots: list[pd.Timestamp] | list[str],
                      params: FeatureParams, financials_publication_lag_days: int = 90) -> list[pd.DataFrame]:
    """:func:`build_features` of each of ``snapshots``, the invoices read in one pass for all of them.

    Parameters are those of :func:`build_features`; ``snapshots`` may come in any order and
    repeat. Returns one frame per snapshot, in the order given, each equal to
    ``build_features(tables, snapshot, ...)``: a customer's features at one snapshot do not depend
    on which other snapshots are built with it. Use it wherever several dates of the same ledger
    are needed (a backtest, a training set and today): a pass costs about as much for twelve
    snapshots as for one.

    Examples
    --------
    >>> from credit_lab.data.synthetic import generate_ledger
    >>> from credit_lab.data.contract import validate_ledger
    >>> L = generate_ledger(n_customers=50, n_months=24, seed=0)
    >>> tables = validate_ledger({t: getattr(L, t) for t in ("customers", "invoices")}).tables
    >>> a, b = build_features_at(tables, ["2024-06-01", "2024-07-01"], FeatureParams())
    >>> a.equals(build_features(tables, "2024-06-01", FeatureParams()))
    True
    """
    return _build_snapshots(tables, [pd.Timestamp(s) for s in snapshots], params, financials_publication_lag_days)


def _first_default(customers: pd.DataFrame, defaults: pd.DataFrame | None) -> np.ndarray:
    """Each customer's first default date (NaT: none), by row of ``customers``."""
    first_default = np.full(len(customers), np.datetime64("NaT"), dtype="datetime64[ns]")
    if defaults is not None and len(defaults):
        codes = customer_codes(defaults["customer_id"], customers["customer_id"])
        dates = np.asarray(defaults["default_date"], dtype="datetime64[ns]")
        known = (codes >= 0) & ~np.isnat(dates)
        first = pd.Series(dates[known]).groupby(codes[known]).min()
        first_default[first.index.to_numpy()] = first.to_numpy()
    return first_default


def _population(customers: pd.DataFrame, first_default: np.ndarray, snapshot: pd.Timestamp) -> np.ndarray:
    """Rows of the customers onboarded before the snapshot and not in default before it."""
    snap = np.datetime64(pd.Timestamp(snapshot), "ns")
    onboard = np.asarray(customers["onboarding_date"], dtype="datetime64[ns]")
    return np.flatnonzero((onboard < snap) & ~(first_default < snap))  # NaT compares False: never defaulted


def _build_snapshots(tables: dict[str, pd.DataFrame], snapshots: list[pd.Timestamp], params: FeatureParams,
                     financials_publication_lag_days: int) -> list[pd.DataFrame]:
    """:func:`build_features` of every snapshot, the payment features of all of them in one pass."""
    customers = tables["customers"]
    first_default = _first_default(customers, tables.get("defaults"))
    rows = [_population(customers, first_default, snapshot) for snapshot in snapshots]
    payments = payment_features(tables["invoices"], customers, snapshots, rows, params)
    statements = _sorted_statements(tables.get("financials"), customers["customer_id"],
                                    financials_publication_lag_days)
    industry_code, industries = pd.factorize(customers["industry"])
    frames = []
    for snapshot, take, pay in zip(snapshots, rows, payments):
        snap = np.datetime64(snapshot, "ns")
        fin = _financial_features(statements, pay.index, take, snap)
        outl = _outlook_features(tables.get("industry_outlook"), industry_code[take], industries, pay.index, snap)
        feats = pd.concat([pay, fin, outl], axis=1)
        for col in ("industry", "region", "credit_limit"):  # rows in the same order: no join needed
            feats[col] = customers[col].array.take(take)
        feats["snapshot_date"] = pd.Timestamp(snapshot)
        feats["is_new_customer"] = ((feats["tenure_months"] < params.new_customer_months)
                                    | (feats["has_payment_history"] == 0))
        ordered = feature_names() + [c for c in feats.columns if c not in FEATURE_DICTIONARY]
        frames.append(feats[ordered])
    return frames


def build_labels(defaults: pd.DataFrame | None, customer_ids: pd.Index, snapshot: pd.Timestamp,
                 horizon_months: int) -> pd.Series:
    """1 if the customer defaults on or after ``snapshot`` and before ``snapshot + horizon``, else 0.

    Features use records strictly before the snapshot, so a default dated on the
    snapshot day is an outcome, not an input.
    """
    start = pd.Timestamp(snapshot)
    end = start + pd.DateOffset(months=horizon_months)
    if defaults is None or len(defaults) == 0:
        return pd.Series(0, index=customer_ids, name="default_in_horizon", dtype="int8")
    d = defaults.loc[(defaults["default_date"] >= start) & (defaults["default_date"] < end), "customer_id"]
    return pd.Series(customer_ids.isin(d.unique()).astype("int8"), index=customer_ids, name="default_in_horizon")


def build_training_set(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, params: FeatureParams,
                       financials_publication_lag_days: int = 90) -> pd.DataFrame:
    """Stacked features and labels of every training snapshot (column ``default_in_horizon``)."""
    snaps = training_snapshots(as_of, params)
    return _labelled(tables, snaps, _build_snapshots(tables, snaps, params, financials_publication_lag_days), params)


def build_current_and_training_set(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, params: FeatureParams,
                                   financials_publication_lag_days: int = 90, *, training: bool = True
                                   ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(build_features(tables, as_of, ...), build_training_set(tables, as_of, ...))`` from one pass.

    The invoices are grouped by customer and walked once for today and every training snapshot
    together; each frame equals the one its own function returns. ``training=False`` builds
    today's features only and returns ``None`` for the training set (a ledger without outcomes).
    """
    snaps = training_snapshots(as_of, params) if training else []
    frames = _build_snapshots(tables, [*snaps, pd.Timestamp(as_of)], params, financials_publication_lag_days)
    current = frames.pop()
    return current, (_labelled(tables, snaps, frames, params) if training else None)


def _labelled(tables: dict[str, pd.DataFrame], snaps: list[pd.Timestamp], frames: list[pd.DataFrame],
              params: FeatureParams) -> pd.DataFrame:
    """The training snapshots' ``frames`` with their labels, stacked."""
    first_default = _first_default(tables["customers"], tables.get("defaults"))
    for snap, feats in zip(snaps, frames):
        # as build_labels: nobody in the population defaulted before the snapshot, so a default in
        # [snapshot, snapshot + horizon) is a first default before the horizon's end
        end = np.datetime64(pd.Timestamp(snap) + pd.DateOffset(months=params.label_horizon_months), "ns")
        defaulted = first_default[_population(tables["customers"], first_default, snap)] < end
        feats["default_in_horizon"] = pd.Series(defaulted.astype("int8"), index=feats.index,
                                                name="default_in_horizon")
    return pd.concat(frames)
