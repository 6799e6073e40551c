"""The multi-snapshot features equal the per-snapshot group-by features they replaced.

The reference below is the implementation of ``credit_lab/features/point_in_time.py`` before the
one-pass rewrite (commit 0f4e331), kept verbatim as a test oracle: per snapshot, a pandas group-by
per feature and one per month-end for ``limit_breaches``. It is not a code path of the package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import FeatureParams
from credit_lab.data.contract import validate_ledger
from credit_lab.features import payment
from credit_lab.features.point_in_time import (
    FEATURE_DICTIONARY,
    build_current_and_training_set,
    build_features,
    build_features_at,
    build_labels,
    build_training_set,
    data_cut_date,
    feature_names,
    training_snapshots,
)
from tests.conftest import tiny_customers, tiny_invoices

_DAY = np.timedelta64(1, "D")


# ------------------------------------------------------------------ reference (the code before, verbatim)

def _days(a: np.ndarray, b: np.ndarray | np.datetime64) -> np.ndarray:
    return (a - b) / _DAY


def _per_customer(values: pd.Series | np.ndarray, ids: np.ndarray, how: str, index: pd.Index) -> pd.Series:
    s = pd.Series(np.asarray(values, dtype=float)).groupby(ids, sort=False).agg(how)
    return s.reindex(index)


def _payment_features(inv: pd.DataFrame, customers: pd.DataFrame, snap: np.datetime64,
                      params: FeatureParams) -> pd.DataFrame:
    idx = pd.Index(customers["customer_id"], name="customer_id")
    window_start = np.datetime64(pd.Timestamp(snap) - pd.DateOffset(months=params.lookback_months), "ns")
    recent_start = np.datetime64(pd.Timestamp(snap) - pd.DateOffset(months=3), "ns")
    inv_date = inv["invoice_date"].to_numpy()
    due = inv["due_date"].to_numpy()
    paid = inv["paid_date"].to_numpy()
    cid = inv["customer_id"].to_numpy()
    amount = inv["amount"].to_numpy(dtype=float)

    issued = inv_date < snap
    # A payment made on/after the snapshot is unknown at the snapshot: the invoice is open then.
    settled = issued & ~np.isnat(paid) & (paid < snap)
    open_ = issued & ~settled
    dbt = np.maximum(_days(paid, due), 0.0)  # NaN where unpaid
    overdue_days = np.maximum(_days(np.full(len(inv), snap), due), 0.0)

    out = pd.DataFrame(index=idx)
    in_window = issued & (inv_date >= window_start)
    out["invoice_count"] = _per_customer(in_window, cid, "sum", idx).fillna(0.0)

    settled_win = settled & (paid >= window_start)
    out["days_beyond_terms_mean"] = _per_customer(dbt[settled_win], cid[settled_win], "mean", idx)
    lateness = np.where(settled, dbt, np.where(open_, overdue_days, np.nan))
    touched = (settled_win | (open_ & (due >= window_start))) | (open_ & (due < snap))
    out["days_beyond_terms_max"] = _per_customer(lateness[touched], cid[touched], "max", idx)

    due_win = issued & (due >= window_start) & (due < snap)
    for k in (30, 60, 90):
        late_k = np.where(settled, dbt > k, overdue_days > k)
        out[f"share_late_{k}"] = _per_customer(late_k[due_win], cid[due_win], "mean", idx)

    open_amount = np.where(open_, amount, 0.0)
    overdue_open = open_ & (due < snap)
    receivables = _per_customer(open_amount, cid, "sum", idx).fillna(0.0)
    overdue_amount = _per_customer(np.where(overdue_open, amount, 0.0), cid, "sum", idx).fillna(0.0)
    out["max_days_past_due_open"] = _per_customer(overdue_days[overdue_open], cid[overdue_open], "max", idx).fillna(0.0)
    out["overdue_share_of_open"] = (overdue_amount / receivables).where(receivables > 0)
    sales = _per_customer(np.where(in_window, amount, 0.0), cid, "sum", idx).fillna(0.0)
    window_days = float(_days(np.datetime64(snap, "ns"), window_start))
    out["dso_days"] = (receivables / sales * window_days).where(sales > 0)

    recent = settled & (paid >= recent_start)
    prior = settled_win & (paid < recent_start)
    out["lateness_trend"] = (_per_customer(dbt[recent], cid[recent], "mean", idx)
                             - _per_customer(dbt[prior], cid[prior], "mean", idx))
    disputed = inv["disputed"].to_numpy(dtype=bool)
    out["dispute_rate"] = _per_customer(disputed[in_window], cid[in_window], "mean", idx)

    limit = customers.set_index("customer_id")["credit_limit"].reindex(idx).astype(float)
    out["utilisation"] = (receivables / limit).where(limit > 0)
    breaches = pd.Series(0.0, index=idx)
    for m in range(params.lookback_months):
        month_end = np.datetime64(pd.Timestamp(snap) - pd.DateOffset(months=m), "ns")
        open_then = (inv_date < month_end) & (np.isnat(paid) | (paid >= month_end))
        bal = _per_customer(np.where(open_then, amount, 0.0), cid, "sum", idx).fillna(0.0)
        breaches += ((bal > limit) & (limit > 0)).astype(float)
    out["limit_breaches"] = breaches

    onboard = customers.set_index("customer_id")["onboarding_date"].reindex(idx).to_numpy()
    tenure_months = _days(np.full(len(idx), snap), onboard) / 30.4375
    out["tenure_months"] = tenure_months
    months_active = np.clip(np.minimum(tenure_months, params.lookback_months), 1.0, None)
    out["orders_per_month"] = out["invoice_count"] / months_active
    recent_issued = issued & (inv_date >= recent_start)
    prior_issued = in_window & (inv_date < recent_start)
    rate_recent = _per_customer(recent_issued, cid, "sum", idx).fillna(0.0) / 3.0
    prior_months = params.lookback_months - 3
    rate_prior = _per_customer(prior_issued, cid, "sum", idx).fillna(0.0) / max(prior_months, 1)
    out["ordering_trend"] = (rate_recent / rate_prior).where((rate_prior > 0)
                                                             & (tenure_months >= params.lookback_months))
    out["has_payment_history"] = _per_customer(settled, cid, "sum", idx).fillna(0.0).gt(0).astype(float)
    out["receivables_open"] = receivables
    out["sales_in_window"] = sales
    return out


def _financial_features(fin: pd.DataFrame | None, idx: pd.Index, snap: np.datetime64, lag_days: int) -> pd.DataFrame:
    cols = ["current_ratio", "quick_ratio", "liabilities_to_assets", "ebitda_margin", "interest_coverage",
            "return_on_assets", "altman_z2", "financials_age_months", "has_financials", "revenue_growth",
            "log_revenue", "revenue_latest"]
    out = pd.DataFrame(np.nan, index=idx, columns=cols)
    out["has_financials"] = 0.0
    if fin is None or len(fin) == 0:
        return out
    avail = fin["available_date"] if "available_date" in fin else pd.Series(pd.NaT, index=fin.index)
    avail = avail.fillna(fin["period_end"] + pd.Timedelta(days=lag_days))
    known = fin.loc[(avail < snap).to_numpy() & fin["customer_id"].isin(idx).to_numpy()]
    if len(known) == 0:
        return out
    known = known.sort_values(["customer_id", "period_end"])
    latest = known.groupby("customer_id", sort=False).tail(1).set_index("customer_id")
    previous = known.groupby("customer_id", sort=False).nth(-2).set_index("customer_id")
    f = latest.reindex(idx)

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
        prev_rev = previous["revenue"].reindex(idx)
        out["revenue_growth"] = ratio(f["revenue"], prev_rev) - 1.0
        out["log_revenue"] = np.log(f["revenue"].where(f["revenue"] > 0))
        out["revenue_latest"] = f["revenue"]
    return out


def _outlook_features(outlook: pd.DataFrame | None, customers: pd.DataFrame, snap: np.datetime64) -> pd.DataFrame:
    idx = pd.Index(customers["customer_id"], name="customer_id")
    out = pd.DataFrame(np.nan, index=idx, columns=["industry_outlook", "industry_outlook_change"])
    if outlook is None or len(outlook) == 0:
        return out
    known = outlook.loc[outlook["as_of_date"] < snap].sort_values("as_of_date")
    if len(known) == 0:
        return out
    latest = known.groupby("industry").tail(1).set_index("industry")["outlook_score"]
    three_back = np.datetime64(pd.Timestamp(snap) - pd.DateOffset(months=3), "ns")
    older = known.loc[known["as_of_date"] < three_back].groupby("industry").tail(1).set_index("industry")
    industry = customers["industry"].to_numpy()
    out["industry_outlook"] = latest.reindex(industry).to_numpy()
    out["industry_outlook_change"] = (out["industry_outlook"].to_numpy()
                                      - older["outlook_score"].reindex(industry).to_numpy())
    return out


def _reference_features(tables: dict[str, pd.DataFrame], snapshot: pd.Timestamp | str, params: FeatureParams,
                        financials_publication_lag_days: int = 90) -> pd.DataFrame:
    snap = np.datetime64(pd.Timestamp(snapshot), "ns")
    customers = tables["customers"]
    population = customers.loc[(customers["onboarding_date"] < snap).to_numpy()]
    defaults = tables.get("defaults")
    if defaults is not None and len(defaults):
        in_default = defaults.loc[defaults["default_date"] < snap, "customer_id"].unique()
        population = population.loc[~population["customer_id"].isin(in_default)]
    population = population.reset_index(drop=True)
    inv = tables["invoices"]
    inv = inv.loc[inv["customer_id"].isin(population["customer_id"]).to_numpy()]
    pay = _payment_features(inv, population, snap, params)
    fin = _financial_features(tables.get("financials"), pay.index, snap, financials_publication_lag_days)
    outl = _outlook_features(tables.get("industry_outlook"), population, snap)
    feats = pd.concat([pay, fin, outl], axis=1)
    meta = population.set_index("customer_id")[["industry", "region", "credit_limit"]]
    feats = feats.join(meta)
    feats["snapshot_date"] = pd.Timestamp(snapshot)
    feats["is_new_customer"] = ((feats["tenure_months"] < params.new_customer_months)
                                | (feats["has_payment_history"] == 0))
    ordered = feature_names() + [c for c in feats.columns if c not in FEATURE_DICTIONARY]
    return feats[ordered]


def _reference_training_set(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, params: FeatureParams,
                            financials_publication_lag_days: int = 90) -> pd.DataFrame:
    frames = []
    for snap in training_snapshots(as_of, params):
        feats = _reference_features(tables, snap, params, financials_publication_lag_days)
        feats["default_in_horizon"] = build_labels(tables.get("defaults"), feats.index, snap,
                                                   params.label_horizon_months)
        frames.append(feats)
    return pd.concat(frames)


# ------------------------------------------------------------------ the comparisons

def assert_same_features(new: pd.DataFrame, old: pd.DataFrame) -> None:
    """Same rows in the same order, same columns and dtypes; floats equal to 1e-12 (NaN where NaN)."""
    assert new.index.equals(old.index)
    assert list(new.columns) == list(old.columns)
    assert new.dtypes.equals(old.dtypes)
    for col in old.columns:
        if old[col].dtype.kind == "f":
            np.testing.assert_allclose(new[col].to_numpy(), old[col].to_numpy(), rtol=1e-12, atol=1e-12,
                                       equal_nan=True, err_msg=col)
        else:
            pd.testing.assert_series_equal(new[col], old[col], check_exact=True)


def _tables(n_customers: int, seed: int, **kwargs) -> dict[str, pd.DataFrame]:
    from credit_lab.data.synthetic import generate_ledger

    ledger = generate_ledger(n_customers=n_customers, n_months=36, seed=seed, **kwargs)
    raw = {t: getattr(ledger, t) for t in ("customers", "invoices", "financials", "defaults", "industry_outlook")}
    return validate_ledger(raw).tables


@pytest.fixture(scope="module")
def demo_tables():
    """A demo-like ledger: 1,000 customers over 36 months (~100,000 invoices), defaults, statements."""
    return _tables(1000, seed=3)


def test_training_set_equals_the_per_snapshot_group_bys(demo_tables):
    as_of = data_cut_date(demo_tables)
    new = build_training_set(demo_tables, as_of, FeatureParams())
    old = _reference_training_set(demo_tables, as_of, FeatureParams())
    assert new["snapshot_date"].nunique() == FeatureParams().training_snapshots
    assert len(new) > 3000 and new["limit_breaches"].gt(0).any() and new["lateness_trend"].notna().any()
    assert_same_features(new, old)


@pytest.mark.parametrize("params", [FeatureParams(lookback_months=3, snapshot_spacing_months=1, training_snapshots=4),
                                    FeatureParams(lookback_months=24, label_horizon_months=6)],
                         ids=["lookback3-monthly", "lookback24"])
def test_other_windows_equal_too(demo_tables, params):
    as_of = data_cut_date(demo_tables)
    assert_same_features(build_training_set(demo_tables, as_of, params, 60),
                         _reference_training_set(demo_tables, as_of, params, 60))


def test_single_snapshots_equal_including_today_and_mid_month(demo_tables):
    as_of = data_cut_date(demo_tables)
    for snap in (as_of, pd.Timestamp("2024-02-17"), pd.Timestamp("2023-03-01")):
        assert_same_features(build_features(demo_tables, snap, FeatureParams()),
                             _reference_features(demo_tables, snap, FeatureParams()))


def test_blocks_of_customers_give_the_same_features(demo_tables, monkeypatch):
    """Invoices are gathered a block of customers at a time; tiny blocks change nothing."""
    snaps = training_snapshots(data_cut_date(demo_tables), FeatureParams())
    whole = build_training_set(demo_tables, data_cut_date(demo_tables), FeatureParams())
    monkeypatch.setattr(payment, "_BLOCK_INVOICES", 97)
    blocked = build_training_set(demo_tables, data_cut_date(demo_tables), FeatureParams())
    pd.testing.assert_frame_equal(blocked, whole, check_exact=True)
    assert whole["snapshot_date"].drop_duplicates().tolist() == snaps


def test_write_offs_recoveries_and_odd_records_equal():
    """Write-offs and recoveries, invoices of unknown customers, a customer without invoices, an
    unsorted invoice table, defaults of unknown customers and repeated defaults."""
    tables = _tables(300, seed=8, write_off_days_past_due=360, recovery_rate=0.4)
    inv = tables["invoices"].sample(frac=1.0, random_state=1).reset_index(drop=True)
    stray = inv.head(20).assign(customer_id="NOT-A-CUSTOMER")
    tables["invoices"] = pd.concat([inv, stray], ignore_index=True)
    lonely = tables["customers"].head(1).assign(customer_id="NO-INVOICES")
    tables["customers"] = pd.concat([tables["customers"], lonely], ignore_index=True)
    d = tables["defaults"]
    tables["defaults"] = pd.concat([d, d.head(3).assign(default_date=d["default_date"].head(3) - pd.Timedelta(days=40)),
                                    d.head(1).assign(customer_id="GHOST")], ignore_index=True)
    as_of = data_cut_date(tables)
    assert_same_features(build_training_set(tables, as_of, FeatureParams()),
                         _reference_training_set(tables, as_of, FeatureParams()))


def test_tiny_ledger_with_statements_equals():
    fin = pd.DataFrame({
        "customer_id": ["C1", "C1", "C3"], "period_end": ["2021-12-31", "2022-12-31", "2022-06-30"],
        "revenue": ["800", "1000", "0"], "ebitda": ["90", "100", "-5"], "ebit": ["70", "80", "-9"],
        "net_income": ["30", "40", "-10"], "interest_expense": ["10", "20", "0"], "total_assets": ["900", "1000", "50"],
        "total_liabilities": ["500", "600", "0"], "current_assets": ["350", "400", "20"],
        "current_liabilities": ["180", "200", "0"], "inventory": ["90", "100", None], "cash": ["40", "50", "1"],
        "retained_earnings": ["100", "150", "3"], "equity": ["400", "400", None],
    })
    tables = validate_ledger({"customers": tiny_customers(credit_limit=["1500", "20000", "0"]),
                              "invoices": tiny_invoices(), "financials": fin}).tables
    for snap in ("2023-01-01", "2023-02-10", "2023-04-01", "2023-06-01"):
        for lag in (60, 120):
            assert_same_features(build_features(tables, snap, FeatureParams(), lag),
                                 _reference_features(tables, snap, FeatureParams(), lag))
    assert set(feature_names()) <= set(FEATURE_DICTIONARY)


def test_today_and_the_training_set_from_one_pass_equal_their_own_builders(demo_tables):
    """Stage 02 builds both from one grouping of the invoices; each frame is exactly what its builder gives."""
    as_of = data_cut_date(demo_tables)
    params = FeatureParams()
    current, train = build_current_and_training_set(demo_tables, as_of, params, 60)
    pd.testing.assert_frame_equal(current, build_features(demo_tables, as_of, params, 60), check_exact=True)
    pd.testing.assert_frame_equal(train, build_training_set(demo_tables, as_of, params, 60), check_exact=True)
    alone, none = build_current_and_training_set(demo_tables, as_of, params, 60, training=False)
    assert none is None
    pd.testing.assert_frame_equal(alone, current, check_exact=True)


def test_features_at_many_dates_equal_one_date_at_a_time(demo_tables):
    """Any order, a repeated date, a mid-month date: each frame as if built alone."""
    dates = [pd.Timestamp("2024-05-01"), pd.Timestamp("2023-11-17"), pd.Timestamp("2024-05-01"),
             pd.Timestamp("2024-04-01")]
    frames = build_features_at(demo_tables, dates, FeatureParams())
    assert len(frames) == len(dates)
    for date, frame in zip(dates, frames):
        pd.testing.assert_frame_equal(frame, build_features(demo_tables, date, FeatureParams()), check_exact=True)
