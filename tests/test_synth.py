"""Tests of the synthetic trade-credit ledger generator."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from credit_lab.data.synthetic import DEFAULT_PARAMS, Ledger, SynthParams, generate_ledger
from credit_lab.risk.provisions import ProvisionSettings, apply_write_off_policy, loss_in_default, open_items

TABLES = ("customers", "financials", "invoices", "defaults", "industry_outlook")

COLUMNS = {
    "customers": [
        "customer_id",
        "customer_name",
        "industry",
        "region",
        "onboarding_date",
        "payment_terms_days",
        "credit_limit",
        "insurance_cover_pct",
        "insured_limit",
        "guarantee_amount",
    ],
    "financials": [
        "customer_id",
        "period_end",
        "revenue",
        "ebitda",
        "ebit",
        "net_income",
        "interest_expense",
        "total_assets",
        "total_liabilities",
        "current_assets",
        "current_liabilities",
        "inventory",
        "cash",
        "retained_earnings",
        "equity",
    ],
    "invoices": [
        "invoice_id",
        "customer_id",
        "invoice_date",
        "due_date",
        "amount",
        "paid_date",
        "paid_amount",
        "disputed",
    ],
    "defaults": ["customer_id", "default_date", "default_type"],
    "industry_outlook": ["industry", "as_of_date", "outlook_score"],
}

STRING_COLUMNS = {
    "customers": ["customer_id", "customer_name", "industry", "region"],
    "financials": ["customer_id"],
    "invoices": ["invoice_id", "customer_id"],
    "defaults": ["customer_id", "default_type"],
    "industry_outlook": ["industry"],
}
DATE_COLUMNS = {
    "customers": ["onboarding_date"],
    "financials": ["period_end"],
    "invoices": ["invoice_date", "due_date", "paid_date"],
    "defaults": ["default_date"],
    "industry_outlook": ["as_of_date"],
}


@pytest.fixture(scope="module")
def small() -> Ledger:
    return generate_ledger(n_customers=300, n_months=24, seed=7)


@pytest.fixture(scope="module")
def medium() -> Ledger:
    return generate_ledger(n_customers=2000, n_months=36, seed=3)


# --------------------------------------------------------------------------
# Determinism and shape
# --------------------------------------------------------------------------


def test_same_seed_gives_identical_frames(small: Ledger) -> None:
    again = generate_ledger(n_customers=300, n_months=24, seed=7)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    assert again.start_date == small.start_date
    assert again.end_date == small.end_date


def test_different_seed_gives_different_frames(small: Ledger) -> None:
    other = generate_ledger(n_customers=300, n_months=24, seed=8)
    for name in ("customers", "invoices", "financials"):
        with pytest.raises(AssertionError):
            pd.testing.assert_frame_equal(getattr(small, name), getattr(other, name))


def test_generation_does_not_touch_global_numpy_state() -> None:
    np.random.seed(123)
    before = np.random.random(3)
    np.random.seed(123)
    generate_ledger(n_customers=50, n_months=12, seed=1)
    after = np.random.random(3)
    np.testing.assert_array_equal(before, after)


def test_window_bounds(small: Ledger) -> None:
    assert small.start_date == pd.Timestamp("2023-01-01")
    assert small.end_date == pd.Timestamp("2025-01-01")
    custom = generate_ledger(n_customers=20, n_months=7, start_date="2020-03-01", seed=0)
    assert custom.end_date == pd.Timestamp("2020-10-01")


@pytest.mark.parametrize("name", TABLES)
def test_columns_and_dtypes(small: Ledger, name: str) -> None:
    df = getattr(small, name)
    assert list(df.columns) == COLUMNS[name]
    assert len(df) > 0
    for col in STRING_COLUMNS[name]:
        assert pd.api.types.is_string_dtype(df[col]), col
        assert df[col].notna().all(), col
    for col in DATE_COLUMNS[name]:
        assert pd.api.types.is_datetime64_any_dtype(df[col]), col
    numeric = set(COLUMNS[name]) - set(STRING_COLUMNS[name]) - set(DATE_COLUMNS[name])
    for col in numeric - {"disputed", "payment_terms_days"}:
        assert pd.api.types.is_float_dtype(df[col]), col
    if name == "customers":
        assert pd.api.types.is_integer_dtype(df["payment_terms_days"])
    if name == "invoices":
        assert pd.api.types.is_bool_dtype(df["disputed"])


def test_sizes_follow_arguments() -> None:
    ledger = generate_ledger(n_customers=120, n_months=18, seed=2, n_industries=4, n_regions=3)
    assert len(ledger.customers) == 120
    assert ledger.customers["industry"].nunique() == 4
    assert ledger.customers["region"].nunique() == 3
    assert len(ledger.industry_outlook) == 4 * 18


# --------------------------------------------------------------------------
# Keys and referential integrity
# --------------------------------------------------------------------------


def test_keys_are_unique(small: Ledger) -> None:
    assert small.customers["customer_id"].is_unique
    assert small.customers["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert small.invoices["invoice_id"].is_unique
    assert not small.financials.duplicated(["customer_id", "period_end"]).any()
    assert small.defaults["customer_id"].is_unique
    assert not small.industry_outlook.duplicated(["industry", "as_of_date"]).any()


def test_referential_integrity(small: Ledger) -> None:
    ids = set(small.customers["customer_id"])
    for name in ("invoices", "financials", "defaults"):
        assert set(getattr(small, name)["customer_id"]) <= ids, name
    assert set(small.industry_outlook["industry"]) == set(small.customers["industry"])


def test_outlook_covers_every_month_and_industry(small: Ledger) -> None:
    months = pd.date_range(small.start_date, small.end_date, freq="MS", inclusive="left")
    out = small.industry_outlook
    for _, grp in out.groupby("industry"):
        assert list(grp["as_of_date"].sort_values()) == list(months)
    assert out["outlook_score"].between(-3, 3).all()
    assert out["outlook_score"].std() > 0.3


# --------------------------------------------------------------------------
# Date rules
# --------------------------------------------------------------------------


def test_nothing_dated_on_or_after_end(small: Ledger) -> None:
    end = small.end_date
    assert (small.customers["onboarding_date"] < end).all()
    assert (small.invoices["invoice_date"] < end).all()
    assert (small.invoices["paid_date"].dropna() < end).all()
    assert (small.financials["period_end"] < end).all()
    assert (small.defaults["default_date"] < end).all()
    assert (small.industry_outlook["as_of_date"] < end).all()
    assert (small.invoices["invoice_date"] >= small.start_date).all()


def test_invoice_dates(small: Ledger) -> None:
    inv = small.invoices.merge(small.customers, on="customer_id", how="left")
    assert (inv["invoice_date"] >= inv["onboarding_date"]).all()
    terms = pd.to_timedelta(inv["payment_terms_days"], unit="D")
    assert (inv["due_date"] == inv["invoice_date"] + terms).all()
    paid = inv["paid_date"].notna()
    assert (inv.loc[paid, "paid_date"] >= inv.loc[paid, "invoice_date"]).all()


def test_no_invoice_on_or_after_default(medium: Ledger) -> None:
    inv = medium.invoices.merge(medium.defaults, on="customer_id", how="inner")
    assert len(inv) > 0
    assert (inv["invoice_date"] < inv["default_date"]).all()


def test_default_after_onboarding(medium: Ledger) -> None:
    d = medium.defaults.merge(medium.customers, on="customer_id")
    assert (d["default_date"] > d["onboarding_date"]).all()
    assert set(d["default_type"]) == {"90dpd", "write_off"}


def test_onboarding_spread(medium: Ledger) -> None:
    onb = medium.customers["onboarding_date"]
    recent = (onb >= medium.end_date - pd.DateOffset(months=12)).mean()
    assert 0.08 <= recent <= 0.18
    assert (onb < medium.start_date - pd.DateOffset(years=5)).mean() > 0.25
    assert onb.min() >= medium.start_date - pd.DateOffset(years=11)


# --------------------------------------------------------------------------
# Invoices and payments
# --------------------------------------------------------------------------


def test_payment_fields(medium: Ledger) -> None:
    inv = medium.invoices
    assert (inv["amount"] > 0).all()
    unpaid = inv["paid_date"].isna()
    assert (inv["paid_amount"].isna() == unpaid).all()
    paid = inv[~unpaid]
    assert (paid["paid_amount"] > 0).all()
    assert (paid["paid_amount"] <= paid["amount"]).all()
    # Partial payments only happen on defaulted customers' invoices.
    partial = paid[paid["paid_amount"] < paid["amount"]]
    assert len(partial) > 0
    assert set(partial["customer_id"]) <= set(medium.defaults["customer_id"])
    assert 0.01 <= inv["disputed"].mean() <= 0.06


def test_invoice_volume_is_realistic(medium: Ledger) -> None:
    per_customer_month = len(medium.invoices) / (len(medium.customers) * 36)
    assert 2.0 <= per_customer_month <= 5.0
    # Bigger credit limits come with more and larger invoices.
    n_inv = medium.invoices.groupby("customer_id").size()
    limit = medium.customers.set_index("customer_id")["credit_limit"].reindex(n_inv.index)
    assert n_inv.corr(limit, method="spearman") > 0.2


def test_recent_customers_have_fewer_invoices(medium: Ledger) -> None:
    cust = medium.customers.set_index("customer_id")
    n_inv = medium.invoices.groupby("customer_id").size().reindex(cust.index, fill_value=0)
    recent = cust["onboarding_date"] >= medium.end_date - pd.DateOffset(months=12)
    old = cust["onboarding_date"] < medium.start_date
    assert recent.sum() > 50
    assert n_inv[recent].mean() < 0.4 * n_inv[old].mean()


def test_payment_behaviour_deteriorates_before_default(medium: Ledger) -> None:
    inv = medium.invoices.merge(medium.defaults, on="customer_id", how="left")
    paid = inv[inv["paid_date"].notna()]
    late = (paid["paid_date"] - paid["due_date"]).dt.days
    near = paid["default_date"].notna() & (paid["invoice_date"] >= paid["default_date"] - pd.DateOffset(months=6))
    never = paid["default_date"].isna()
    assert late[near].mean() > late[never].mean() + 15
    # Defaulted customers leave invoices unpaid, healthy ones hardly ever.
    old = inv["invoice_date"] < medium.end_date - pd.DateOffset(months=6)
    open_rate = inv[old].groupby(inv["default_date"].notna())["paid_date"].apply(lambda s: s.isna().mean())
    assert open_rate[True] > 0.1
    assert open_rate[False] < 0.01


# --------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------


def _annual_default_rate(ledger: Ledger) -> float:
    cust = ledger.customers.set_index("customer_id")
    ddate = ledger.defaults.set_index("customer_id")["default_date"].reindex(cust.index)
    begin = cust["onboarding_date"].clip(lower=ledger.start_date)
    stop = ddate.fillna(ledger.end_date)
    years = ((stop - begin).dt.days.clip(lower=0)).sum() / 365.25
    return len(ledger.defaults) / years


def test_default_rate_in_band() -> None:
    t0 = time.perf_counter()
    ledger = generate_ledger(n_customers=2000, n_months=36, seed=11)
    assert time.perf_counter() - t0 < 10.0
    assert 0.03 <= _annual_default_rate(ledger) <= 0.08


def test_default_rate_follows_target(medium: Ledger) -> None:
    high = generate_ledger(n_customers=2000, n_months=36, seed=3, annual_default_rate=0.10)
    assert _annual_default_rate(high) > 1.5 * _annual_default_rate(medium)
    none = generate_ledger(n_customers=200, n_months=12, seed=3, annual_default_rate=0.0)
    assert len(none.defaults) == 0


def test_defaults_cluster_by_industry_and_time(medium: Ledger) -> None:
    from scipy.stats import chi2_contingency

    cust = medium.customers
    table = pd.crosstab(cust["industry"], cust["customer_id"].isin(medium.defaults["customer_id"]))
    assert chi2_contingency(table).pvalue < 1e-3
    # The outlook leads the cycle: industries with a poor outlook at the start
    # of a quarter see more defaults during that quarter.
    industry = cust.set_index("customer_id")["industry"]
    d = medium.defaults.assign(
        industry=lambda x: x["customer_id"].map(industry),
        quarter=lambda x: x["default_date"].dt.to_period("Q"),
    )
    counts = d.groupby(["industry", "quarter"]).size().rename("n")
    out = medium.industry_outlook
    first = out[out["as_of_date"].dt.month.isin([1, 4, 7, 10])].assign(
        quarter=lambda x: x["as_of_date"].dt.to_period("Q")
    )
    cells = first.set_index(["industry", "quarter"])[["outlook_score"]].join(counts).fillna(0.0)
    size = cells.index.get_level_values("industry").map(industry.value_counts())
    cells["rate"] = cells["n"] / size.to_numpy()
    assert cells["outlook_score"].corr(cells["rate"], method="spearman") < -0.2


# --------------------------------------------------------------------------
# Customers and financials
# --------------------------------------------------------------------------


def test_customer_attributes(medium: Ledger) -> None:
    c = medium.customers
    assert set(c["payment_terms_days"]) <= {14, 30, 45, 60, 90}
    assert (c["payment_terms_days"] == 14).mean() < 0.15
    assert (c["credit_limit"] >= 0).all()
    assert (c["credit_limit"] % 1000 == 0).all()
    uninsured = c["insurance_cover_pct"] == 0
    assert 0.4 <= uninsured.mean() <= 0.6
    assert c.loc[~uninsured, "insurance_cover_pct"].between(0.7, 0.9).all()
    assert (c.loc[uninsured, "insured_limit"] == 0).all()
    assert (c["insured_limit"] <= c["credit_limit"]).all()
    guaranteed = c["guarantee_amount"] > 0
    assert 0.05 <= guaranteed.mean() <= 0.15
    assert (c["guarantee_amount"] >= 0).all()
    names = c["customer_name"]
    assert names.str.contains("'").any()
    assert names.str.contains("&").any()
    assert names.str.contains(r"GmbH|Ltd|S\.A\.|Inc\.").mean() > 0.2


def test_accounting_identities(medium: Ledger) -> None:
    f = medium.financials
    assert (f["equity"] == f["total_assets"] - f["total_liabilities"]).all()
    assert (f["total_assets"] > 0).all()
    assert (f["total_liabilities"] >= 0).all()
    assert (f["interest_expense"] >= 0).all()
    assert (f["revenue"] > 0).all()
    assert (f["cash"] >= 0).all()
    assert (f["cash"] <= f["current_assets"]).all()
    assert (f["current_assets"] <= f["total_assets"]).all()
    assert (f["inventory"] >= 0).all()
    assert (f["inventory"] <= f["current_assets"] - f["cash"]).all()
    assert (f["ebit"] <= f["ebitda"]).all()
    assert (f["current_liabilities"] <= f["total_liabilities"]).all()
    assert (f["equity"] < 0).any()  # distressed firms exist
    assert f.notna().all().all()


def test_financial_statement_coverage(medium: Ledger) -> None:
    f = medium.financials.merge(medium.customers, on="customer_id")
    assert (f["period_end"] > f["onboarding_date"] - pd.DateOffset(years=2)).all()
    # the file holds two years of statements from before the ledger window
    assert (f["period_end"] >= medium.start_date - pd.DateOffset(years=2)).all()
    assert (f["period_end"] < medium.start_date).any()
    ends = f["period_end"]
    assert ends.dt.is_month_end.all()
    assert (ends.dt.month == 12).mean() > 0.6
    assert set(ends.dt.month) <= {3, 6, 12}
    n_stat = f.groupby("customer_id").size()
    assert n_stat.max() <= 5
    # About 3 % of statements are not delivered: old, non-defaulted customers
    # would otherwise all have five December statements (2 before the window, 3 in it).
    c = medium.customers.set_index("customer_id")
    dec = f.groupby("customer_id")["period_end"].first().dt.month == 12
    healthy_old = c.index[(c["onboarding_date"] < medium.start_date) & ~c.index.isin(medium.defaults["customer_id"])]
    dec_old = healthy_old[dec.reindex(healthy_old, fill_value=False).to_numpy()]
    got = n_stat.reindex(dec_old, fill_value=0)
    missing_share = 1 - got.sum() / (5 * len(dec_old))
    assert 0.01 <= missing_share <= 0.06
    # No statement after a customer's default.
    late = f.merge(medium.defaults, on="customer_id")
    assert (late["period_end"] < late["default_date"]).all()


def test_financials_carry_credit_signal(medium: Ledger) -> None:
    f = medium.financials.sort_values("period_end").groupby("customer_id").last()
    lev = f["total_liabilities"] / f["total_assets"]
    defaulted = f.index.isin(medium.defaults["customer_id"])
    assert lev[defaulted].median() > lev[~defaulted].median() + 0.05


# --------------------------------------------------------------------------
# Write-off policy
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def medium_written() -> Ledger:
    return generate_ledger(n_customers=2000, n_months=36, seed=3, write_off_days_past_due=360)


def test_write_off_policy_leaves_no_receivable_older_than_it(medium_written: Ledger) -> None:
    inv, end = medium_written.invoices, medium_written.end_date
    write_off_day = inv["due_date"] + pd.Timedelta(days=360)
    # settled by the write-off day, or still open because that day lies beyond the ledger's end
    assert (inv["paid_date"].isna() | (inv["paid_date"] <= write_off_day)).all()
    assert (write_off_day[inv["paid_date"].isna()] >= end).all()
    assert (inv["paid_date"].dropna() < end).all()  # nothing written off after the window
    # so no month-end of the window finds an invoice more than 360 days past due
    for t in pd.date_range(medium_written.start_date, end, freq="MS"):
        items = open_items(inv, t, ProvisionSettings(history_months=1, outcome_months=1))
        assert items.empty or items["days_past_due"].max() <= 360
    written_off = inv["paid_amount"].eq(0)
    assert written_off.sum() > 50
    assert (inv.loc[written_off, "paid_date"] == write_off_day[written_off]).all()


def test_write_off_policy_changes_only_the_settlement_of_what_it_writes_off(medium: Ledger,
                                                                          medium_written: Ledger) -> None:
    for name in ("customers", "financials", "defaults", "industry_outlook"):
        pd.testing.assert_frame_equal(getattr(medium, name), getattr(medium_written, name))
    before, after = medium.invoices, medium_written.invoices
    keep = ["invoice_id", "customer_id", "invoice_date", "due_date", "amount", "disputed"]
    pd.testing.assert_frame_equal(before[keep], after[keep])
    changed = ~((before["paid_date"] == after["paid_date"]) | (before["paid_date"].isna() & after["paid_date"].isna()))
    assert (after.loc[changed, "paid_amount"] == 0.0).all()
    # what it writes off is what the provision matrix's policy writes off in the ledger that never does
    pd.testing.assert_frame_equal(apply_write_off_policy(before, medium.end_date, 360), after)
    # nearly all of it is owed by customers who defaulted (the rest: disputes never settled)
    owed = after.loc[changed, ["customer_id", "amount"]]
    by_defaulted = owed.loc[owed["customer_id"].isin(medium_written.defaults["customer_id"]), "amount"].sum()
    assert by_defaulted > 0.9 * owed["amount"].sum()


def test_write_off_policy_also_writes_off_payments_later_than_it() -> None:
    # long payment delays: some invoices would be paid more than 360 days after their due date
    slow = SynthParams(late_shock_prob=0.3, late_shock_mean_days=300.0)
    paid_late = generate_ledger(n_customers=200, n_months=36, seed=5, params=slow).invoices
    late = paid_late["paid_date"] > paid_late["due_date"] + pd.Timedelta(days=360)
    assert late.sum() > 10
    inv = generate_ledger(n_customers=200, n_months=36, seed=5, params=slow, write_off_days_past_due=360).invoices
    assert (inv.loc[late, "paid_amount"] == 0.0).all()
    assert (inv.loc[late, "paid_date"] == inv.loc[late, "due_date"] + pd.Timedelta(days=360)).all()


def test_without_write_off_policy_defaulted_receivables_stay_open(medium: Ledger) -> None:
    # None is the default: the ledger is the one generated before the policy existed
    again = generate_ledger(n_customers=2000, n_months=36, seed=3, write_off_days_past_due=None)
    pd.testing.assert_frame_equal(again.invoices, medium.invoices)
    inv = medium.invoices
    stale = inv["paid_date"].isna() & (inv["due_date"] + pd.Timedelta(days=360) < medium.end_date)
    assert stale.sum() > 50
    assert inv.loc[stale, "customer_id"].isin(medium.defaults["customer_id"]).mean() > 0.9


# --------------------------------------------------------------------------
# Recoveries in default
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def medium_recovered() -> Ledger:
    return generate_ledger(n_customers=2000, n_months=36, seed=3, write_off_days_past_due=360, recovery_rate=0.55)


def _pooled_weights(ledger: Ledger, settings: ProvisionSettings) -> np.ndarray:
    """Per invoice, the weight ``loss_in_default`` pools it with: its amount x the month-ends it was open at and
    owed by a customer already in default."""
    inv, as_of = ledger.invoices, ledger.end_date
    default_date = inv["customer_id"].map(ledger.defaults.set_index("customer_id")["default_date"])
    months = np.zeros(len(inv))
    for k in range(settings.outcome_months, settings.outcome_months + settings.history_months):
        t = as_of - pd.DateOffset(months=k)
        owed = (inv["invoice_date"] < t) & (inv["paid_date"].isna() | (inv["paid_date"] >= t)) & (default_date < t)
        months += owed.to_numpy()
    return months * inv["amount"].to_numpy()


@pytest.mark.parametrize("recovery_rate", [0.55, 0.3])
def test_recoveries_bring_the_loss_in_default_near_one_minus_the_recovery_rate(recovery_rate: float) -> None:
    ledger = generate_ledger(n_customers=2000, n_months=36, seed=3, write_off_days_past_due=360,
                             recovery_rate=recovery_rate)
    settings = ProvisionSettings(history_months=12, outcome_months=12, write_off_days_past_due=360)
    observed = loss_in_default(ledger.invoices, ledger.end_date, ledger.defaults, settings)
    # The pooled loss is a weighted mean of independent Beta shares (sd sqrt(r (1 - r) / (kappa + 1))), so its
    # standard error follows from the weights: about 0.01 on this book (248 defaults, ~1,750 invoices owed in
    # default). Four of them leave a false alarm about 1 in 15,000; without recoveries the loss is 0.94.
    w = _pooled_weights(ledger, settings)
    sd = np.sqrt(recovery_rate * (1 - recovery_rate) / (DEFAULT_PARAMS.recovery_concentration + 1))
    standard_error = sd * np.sqrt((w**2).sum()) / w.sum()
    assert 0.005 < standard_error < 0.02
    assert abs(observed - (1 - recovery_rate)) < 4 * standard_error


def test_recovery_payments_fall_after_default_and_before_the_write_off(medium_written: Ledger,
                                                                       medium_recovered: Ledger) -> None:
    # the recoveries draw from their own stream: every other table and column is the ledger without them
    for name in ("customers", "financials", "defaults", "industry_outlook"):
        pd.testing.assert_frame_equal(getattr(medium_written, name), getattr(medium_recovered, name))
    before, after = medium_written.invoices, medium_recovered.invoices
    keep = ["invoice_id", "customer_id", "invoice_date", "due_date", "amount", "disputed"]
    pd.testing.assert_frame_equal(before[keep], after[keep])
    default_date = after["customer_id"].map(medium_recovered.defaults.set_index("customer_id")["default_date"])
    end = medium_recovered.end_date
    # what a defaulted customer had not settled by its default (inside the window) is recovered, nothing else changes
    recovered = default_date.notna() & ~(before["paid_date"] <= default_date) & (default_date + pd.DateOffset(
        months=9, days=1) < end) & (after["due_date"] + pd.Timedelta(days=359) > default_date)
    same = (before["paid_date"] == after["paid_date"]) | (before["paid_date"].isna() & after["paid_date"].isna())
    assert recovered.sum() > 500
    assert same[~default_date.notna() | (before["paid_date"] <= default_date)].all()
    paid, rec = after.loc[recovered, "paid_date"], after.loc[recovered]
    assert paid.notna().all()
    assert (paid > default_date[recovered]).all()  # after the default ...
    assert (paid < rec["due_date"] + pd.Timedelta(days=360)).all()  # ... and before the write-off day
    delay = (paid - default_date[recovered]).dt.days
    assert delay.max() <= 275 and delay.quantile(0.9) >= 61  # 2 to 9 months, unless the write-off day comes first
    share = rec["paid_amount"] / rec["amount"]
    assert share.between(0.0, 1.0).all()
    # the mean of n independent Beta(2.2, 1.8) shares: sd 0.22 / sqrt(n), under 0.01 here
    assert abs(share.mean() - 0.55) < 4 * 0.2225 / np.sqrt(len(share))
    assert 0.05 < share.std() < 0.4  # drawn per invoice, not one fixed share


@pytest.mark.parametrize("off", [None, 0, 0.0])
def test_without_a_recovery_rate_the_ledger_is_the_one_before_recoveries(medium_written: Ledger, off) -> None:
    again = generate_ledger(n_customers=2000, n_months=36, seed=3, write_off_days_past_due=360, recovery_rate=off)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(again, name), getattr(medium_written, name))


# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_customers": 0},
        {"n_months": 0},
        {"annual_default_rate": -0.1},
        {"annual_default_rate": 1.0},
        {"n_industries": 0},
        {"write_off_days_past_due": 0},
        {"write_off_days_past_due": 360.0},
        {"recovery_rate": 1.0},
        {"recovery_rate": -0.1},
        {"recovery_rate": True},
        {"recovery_rate": "0.5"},
    ],
)
def test_invalid_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_ledger(**kwargs)


def test_params_are_tunable() -> None:
    assert isinstance(DEFAULT_PARAMS, SynthParams)
    calm = SynthParams(ramp_max_days=0.0, habit_z_days=0.0, invoice_noise_days=1.0)
    ledger = generate_ledger(n_customers=300, n_months=24, seed=7, params=calm)
    base = generate_ledger(n_customers=300, n_months=24, seed=7)
    late_calm = (ledger.invoices["paid_date"] - ledger.invoices["due_date"]).dt.days.std()
    late_base = (base.invoices["paid_date"] - base.invoices["due_date"]).dt.days.std()
    assert late_calm < late_base
