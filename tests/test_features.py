import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import FeatureParams
from credit_lab.data.contract import validate_ledger
from credit_lab.features.point_in_time import (
    FEATURE_DICTIONARY,
    build_features,
    build_labels,
    build_training_set,
    feature_names,
    monotone_constraints,
    training_snapshots,
)
from tests.conftest import tiny_customers, tiny_invoices

SNAP = pd.Timestamp("2023-04-01")
P = FeatureParams()


def tiny_tables(**cust):
    return validate_ledger({"customers": tiny_customers(**cust), "invoices": tiny_invoices()}).tables


def test_payment_features_hand_worked():
    f = build_features(tiny_tables(credit_limit=["1500", "20000", "5000"]), SNAP, P)
    c1 = f.loc["C1"]
    # I1: due 02-09, paid 02-19 -> 10 days late. I2: due 03-12, open -> 20 days overdue at 04-01.
    assert c1["invoice_count"] == 2
    assert c1["days_beyond_terms_mean"] == 10
    assert c1["days_beyond_terms_max"] == 20
    assert c1["share_late_30"] == 0 and c1["max_days_past_due_open"] == 20
    assert c1["overdue_share_of_open"] == 1.0
    assert c1["utilisation"] == pytest.approx(2000 / 1500)
    assert c1["dso_days"] == pytest.approx(2000 / 3000 * 365)
    assert c1["dispute_rate"] == 0.5
    # month-ends 04-01 and 03-01 hold I2 (2000 > 1500); on 02-01 only I1 (1000) is open.
    assert c1["limit_breaches"] == 2
    assert c1["tenure_months"] == pytest.approx((SNAP - pd.Timestamp("2020-01-01")).days / 30.4375)
    assert np.isnan(c1["lateness_trend"])  # nothing settled in the 9 months before the last 3
    assert c1["has_payment_history"] == 1 and not f.loc["C1", "is_new_customer"]
    # C2 paid 5 days early: early payment counts as 0 days beyond terms.
    assert f.loc["C2", "days_beyond_terms_mean"] == 0
    # C3's only invoice is paid on 05-01, after the snapshot: open and not yet due on 04-01.
    c3 = f.loc["C3"]
    assert np.isnan(c3["days_beyond_terms_mean"]) and c3["max_days_past_due_open"] == 0
    assert c3["has_payment_history"] == 0 and f.loc["C3", "is_new_customer"]


def test_financial_ratios_hand_worked():
    fin = pd.DataFrame({
        "customer_id": ["C1", "C1"], "period_end": ["2021-12-31", "2022-12-31"],
        "revenue": ["800", "1000"], "ebitda": ["90", "100"], "ebit": ["70", "80"], "net_income": ["30", "40"],
        "interest_expense": ["10", "20"], "total_assets": ["900", "1000"], "total_liabilities": ["500", "600"],
        "current_assets": ["350", "400"], "current_liabilities": ["180", "200"], "inventory": ["90", "100"],
        "cash": ["40", "50"], "retained_earnings": ["100", "150"], "equity": ["400", "400"],
    })
    tables = validate_ledger({"customers": tiny_customers(), "invoices": tiny_invoices(), "financials": fin}).tables
    f = build_features(tables, SNAP, P, financials_publication_lag_days=60).loc["C1"]
    assert f["current_ratio"] == pytest.approx(2.0)
    assert f["quick_ratio"] == pytest.approx(1.5)
    assert f["liabilities_to_assets"] == pytest.approx(0.6)
    assert f["ebitda_margin"] == pytest.approx(0.1)
    assert f["interest_coverage"] == pytest.approx(5.0)
    assert f["return_on_assets"] == pytest.approx(0.04)
    z = 6.56 * 200 / 1000 + 3.26 * 150 / 1000 + 6.72 * 80 / 1000 + 1.05 * 400 / 600
    assert f["altman_z2"] == pytest.approx(z)
    assert f["revenue_growth"] == pytest.approx(0.25)
    assert f["has_financials"] == 1
    # With a 120-day lag the 2022 statement is not yet known on 2023-04-01: the 2021 one is used.
    f_lag = build_features(tables, SNAP, P, financials_publication_lag_days=120).loc["C1"]
    assert f_lag["current_ratio"] == pytest.approx(350 / 180)
    assert np.isnan(f_lag["revenue_growth"])
    # No statement: ratios stay missing (no imputation), the indicator says so.
    assert np.isnan(build_features(tables, SNAP, P).loc["C2", "current_ratio"])
    assert build_features(tables, SNAP, P).loc["C2", "has_financials"] == 0


def test_labels_window_and_population():
    defaults = pd.DataFrame({"customer_id": ["C1", "C2", "C3"],
                             "default_date": pd.to_datetime(["2023-04-01", "2024-04-01", "2023-03-31"])})
    ids = pd.Index(["C1", "C2", "C3"])
    labels = build_labels(defaults, ids, SNAP, 12)
    assert labels.tolist() == [1, 0, 0]  # on the snapshot day counts; one year later does not
    tables = tiny_tables()
    tables["defaults"] = defaults
    assert "C3" not in build_features(tables, SNAP, P).index  # already in default before the snapshot


def test_training_snapshots_end_one_horizon_before_as_of():
    snaps = training_snapshots(pd.Timestamp("2026-01-01"), FeatureParams(training_snapshots=3))
    assert snaps == [pd.Timestamp("2024-07-01"), pd.Timestamp("2024-10-01"), pd.Timestamp("2025-01-01")]


def test_dictionary_covers_every_feature_with_direction_and_reason():
    assert set(feature_names()) == set(FEATURE_DICTIONARY)
    for spec in FEATURE_DICTIONARY.values():
        assert spec.risk_direction in (-1, 0, 1) and spec.description and spec.reason
        assert spec.source in ("payment", "financial", "operations", "prospects")
    assert monotone_constraints(["days_beyond_terms_mean", "tenure_months", "unknown"]) == [1, -1, 0]


# ------------------------------------------------------------------ leakage

def _perturb_on_or_after(tables, snap, seed=0):
    """Change every record dated on/after ``snap`` (and add new ones); keep everything before."""
    rng = np.random.default_rng(seed)
    t = {k: v.copy() for k, v in tables.items()}
    inv = t["invoices"]
    late = inv["invoice_date"] >= snap
    inv.loc[late, "amount"] = inv.loc[late, "amount"] * rng.uniform(0.1, 5, late.sum())
    inv.loc[late, "disputed"] = ~inv.loc[late, "disputed"]
    paid_after = inv["paid_date"] >= snap
    # a payment made after the snapshot moves (still after it), or never happens
    inv.loc[paid_after, "paid_date"] = inv.loc[paid_after, "paid_date"] + pd.to_timedelta(
        rng.integers(0, 90, paid_after.sum()), unit="D")
    never = paid_after & (rng.random(len(inv)) < 0.3)
    inv.loc[never, ["paid_date", "paid_amount"]] = [pd.NaT, np.nan]
    extra = inv.loc[inv["invoice_date"] < snap].head(50).copy()
    extra["invoice_id"] = extra["invoice_id"] + "-X"
    extra["invoice_date"] = snap + pd.Timedelta(days=3)
    extra["due_date"] = snap + pd.Timedelta(days=33)
    t["invoices"] = pd.concat([inv, extra], ignore_index=True)
    fin = t["financials"]
    known_from = fin["period_end"] + pd.Timedelta(days=90)
    unknown = known_from >= snap
    for col in ("revenue", "ebitda", "total_liabilities", "current_liabilities", "cash"):
        fin.loc[unknown, col] = fin.loc[unknown, col] * 0.1
    outl = t["industry_outlook"]
    outl.loc[outl["as_of_date"] >= snap, "outlook_score"] = -3.0
    d = t["defaults"]
    d.loc[d["default_date"] >= snap, "default_date"] = snap + pd.Timedelta(days=1)
    cust = t["customers"]
    newcomer = cust.head(1).copy()
    newcomer["customer_id"], newcomer["onboarding_date"] = "NEW-AFTER", snap
    t["customers"] = pd.concat([cust, newcomer], ignore_index=True)
    return t


def _assert_no_leakage(builder, tables, snap):
    before = builder(tables, snap)
    after = builder(_perturb_on_or_after(tables, snap), snap)
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("months", [9, 15, 20])
def test_no_leakage_records_on_or_after_snapshot_change_no_feature(small_tables, months):
    snap = pd.Timestamp("2023-01-01") + pd.DateOffset(months=months)
    perturbed = _perturb_on_or_after(small_tables, snap)
    # the perturbation really changes the data after the snapshot ...
    assert not perturbed["invoices"]["paid_date"].equals(small_tables["invoices"]["paid_date"])
    # ... and no feature notices
    _assert_no_leakage(lambda t, s: build_features(t, s, P), small_tables, snap)


def test_leakage_check_catches_a_leaky_builder(small_tables):
    snap = pd.Timestamp("2024-01-01")

    def leaky(tables, s):  # peeks 45 days past the snapshot
        return build_features(tables, s + pd.Timedelta(days=45), P).assign(snapshot_date=s)

    with pytest.raises(AssertionError):
        _assert_no_leakage(leaky, small_tables, snap)


def test_training_set_stacks_snapshots_with_labels(small_tables):
    params = FeatureParams(training_snapshots=3)
    train = build_training_set(small_tables, pd.Timestamp("2025-01-01"), params)
    assert train["snapshot_date"].nunique() == 3
    assert set(train["default_in_horizon"].unique()) <= {0, 1}
    assert train.groupby("snapshot_date").apply(lambda g: g.index.is_unique).all()
