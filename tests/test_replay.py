"""Limit policy replay: the walk by hand, the ledger's own limits, monotonicity, leakage, bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from credit_lab.core.replay_params import ReplayParams
from credit_lab.data.synthetic import generate_ledger
from credit_lab.limits.replay import (
    KnownAtReview,
    check_no_leakage,
    known_at,
    limits_as_they_were,
    purchases_multiple_policy,
    replay,
    user_rule,
)
from credit_lab.limits.replay_walk import ReplayInputError, walk_orders

D = pd.Timestamp


# ---------------------------------------------------------------------------------------------
# the walk, worked by hand


def _hand_invoices() -> pd.DataFrame:
    return pd.DataFrame({
        "invoice_id": ["I0", "I1", "I2", "I3", "I4", "I5", "I6"],
        "customer_id": "A",
        "invoice_date": pd.to_datetime(["2023-12-20", "2024-01-05", "2024-01-10", "2024-01-15", "2024-01-20",
                                        "2024-02-05", "2024-02-20"]),
        "amount": [20.0, 60.0, 30.0, 50.0, 40.0, 90.0, 10.0],
        "paid_date": pd.to_datetime(["2024-01-08", "2024-01-20", "2024-02-10", "2024-03-10", None, None, None]),
        "paid_amount": [20.0, 60.0, 30.0, 50.0, np.nan, np.nan, np.nan],
    })


_HAND_LIMITS = pd.DataFrame({"review_date": pd.to_datetime(["2024-01-01", "2024-02-01"]), "customer_id": "A",
                             "limit": [100.0, 150.0]})
_HAND_DEFAULTS = pd.DataFrame({"customer_id": ["A"], "default_date": pd.to_datetime(["2024-02-15"])})


def _hand_walk(partial: bool, lgd: float | None) -> tuple[pd.DataFrame, np.ndarray]:
    res = walk_orders(_hand_invoices(), _HAND_LIMITS, ["2024-01-01", "2024-02-01"], _HAND_DEFAULTS,
                      partial=partial, lgd=lgd, end_date="2024-03-01", gross_margin=0.25)
    return res.table.set_index("review_date"), res.served_amount


def test_walk_by_hand_blocking_whole_orders():
    # Jan (limit 100): I0 (before the window) is open until 01-08. I1: 20 + 60 = 80 served; I2: I0 paid,
    # 60 + 30 = 90 served; I3: 90 + 50 = 140 blocked; I4: I1 paid on 01-20, 30 + 40 = 70 served.
    # Feb (limit 150): I5: 70 + 90 = 160 blocked; default 02-15: I2 paid 02-10, open = I4 = 40;
    # I6 comes after the default: blocked.
    table, served = _hand_walk(partial=False, lgd=0.5)
    assert served.tolist() == [20.0, 60.0, 30.0, 0.0, 40.0, 0.0, 0.0]
    jan, feb = table.loc[D("2024-01-01")], table.loc[D("2024-02-01")]
    assert (jan["orders_served"], jan["served_amount"], jan["orders_blocked"], jan["blocked_amount"]) == (3, 130, 1, 50)
    assert (feb["orders_served"], feb["served_amount"], feb["orders_blocked"], feb["blocked_amount"]) == (0, 0, 2, 100)
    assert feb["blocked_margin"] == pytest.approx(25.0)
    assert (jan["exposure_at_default"], jan["loss"]) == (0.0, 0.0)
    assert (feb["exposure_at_default"], feb["loss"]) == (40.0, 20.0)
    # Open days x amount: I0 20x7, I1 60x15, I2 30x22, I4 40x12 in Jan (31 days); I2 30x9, I4 40x14 in Feb
    # (29 days; exposure stops at the default).
    assert jan["average_exposure"] == pytest.approx((140 + 900 + 660 + 480) / 31)
    assert feb["average_exposure"] == pytest.approx((270 + 560) / 29)


def test_walk_by_hand_partial_service():
    # I3 gets the headroom 10 (40 blocked); I4: 40 + 40 = 80 served; Feb I5: open 80, headroom 70 served,
    # 20 blocked; at the default I3's 10, I4's 40 and I5's 70 are open: EAD 120.
    table, served = _hand_walk(partial=True, lgd=0.5)
    assert served.tolist() == [20.0, 60.0, 30.0, 10.0, 40.0, 70.0, 0.0]
    jan, feb = table.loc[D("2024-01-01")], table.loc[D("2024-02-01")]
    assert (jan["orders_served"], jan["served_amount"], jan["orders_blocked"], jan["blocked_amount"]) == (4, 140, 1, 40)
    assert (feb["orders_served"], feb["served_amount"], feb["orders_blocked"], feb["blocked_amount"]) == (1, 70, 2, 30)
    assert (feb["exposure_at_default"], feb["loss"]) == (120.0, 60.0)


def test_walk_by_hand_ledger_shortfall_as_loss():
    # lgd None: each open invoice loses its own shortfall; I3 was paid in full after the default.
    table, _ = _hand_walk(partial=False, lgd=None)
    assert table.loc[D("2024-02-01"), "loss"] == 40.0
    table, _ = _hand_walk(partial=True, lgd=None)
    assert table.loc[D("2024-02-01"), "loss"] == 110.0


def test_walk_rejects_bad_input():
    with pytest.raises(ReplayInputError, match="strictly increasing"):
        walk_orders(_hand_invoices(), _HAND_LIMITS, ["2024-02-01", "2024-01-01"])
    with pytest.raises(ReplayInputError, match="lgd"):
        walk_orders(_hand_invoices(), _HAND_LIMITS, ["2024-01-01", "2024-02-01"], lgd=1.5)
    with pytest.raises(ReplayInputError, match="lacks column"):
        walk_orders(_hand_invoices().drop(columns="paid_date"), _HAND_LIMITS, ["2024-01-01"])
    with pytest.raises(ReplayInputError, match="not one of the reviews"):
        walk_orders(_hand_invoices(), _HAND_LIMITS, ["2024-01-01"], end_date="2024-03-01")


# ---------------------------------------------------------------------------------------------
# the synthetic ledger


@pytest.fixture(scope="module")
def ledger():
    return generate_ledger(n_customers=300, n_months=24, seed=11, recovery_rate=0.4)


@pytest.fixture(scope="module")
def tables(ledger):
    return {"customers": ledger.customers, "invoices": ledger.invoices, "defaults": ledger.defaults}


_SETTINGS = ReplayParams(n_reviews=12, bootstrap_samples=200, lgd=None)


def _unlimited(known: KnownAtReview) -> pd.Series:
    return pd.Series(np.inf, index=known.customers["customer_id"].to_numpy())


def _realised_losses(ledger, first_review: pd.Timestamp, lgd: float | None) -> float:
    """Open receivable at each default in the window x LGD (or each invoice's shortfall), in plain pandas."""
    inv = ledger.invoices.merge(ledger.defaults[["customer_id", "default_date"]], on="customer_id")
    inv = inv.loc[(inv["default_date"] >= first_review) & (inv["default_date"] < ledger.end_date)]
    open_at_default = (inv["invoice_date"] < inv["default_date"]) & ~(inv["paid_date"] <= inv["default_date"])
    inv = inv.loc[open_at_default]
    if lgd is not None:
        return float(inv["amount"].sum() * lgd)
    return float((inv["amount"] - inv["paid_amount"].fillna(0.0)).clip(lower=0.0).sum())


@pytest.mark.parametrize("lgd", [None, 0.45])
def test_limits_never_exceeded_block_nothing_and_lose_what_the_ledger_lost(ledger, tables, lgd):
    # Customers onboarded after a review get new_customer_limit until the next: unlimited too.
    settings = _SETTINGS.model_copy(update={"lgd": lgd, "new_customer_limit": 1e15})
    result = replay(tables, {"unlimited": _unlimited}, settings, end_date=ledger.end_date)
    row = result.summary.loc["unlimited"]
    assert row["orders_blocked"] == 0 and row["blocked_sales"] == 0.0
    expected = _realised_losses(ledger, result.reviews[0], lgd)
    assert expected > 0
    assert row["bad_debt"] == pytest.approx(expected, rel=1e-9)
    in_window = ledger.invoices["invoice_date"].between(result.reviews[0], ledger.end_date, inclusive="left")
    assert row["served_sales"] == pytest.approx(ledger.invoices.loc[in_window, "amount"].sum(), rel=1e-12)


def _ledger_exposure_at_orders(invoices: pd.DataFrame) -> pd.Series:
    """Per invoice: the ledger's own open receivable just before it (earlier invoices not paid by its date)."""
    inv = invoices.reset_index(drop=True).reset_index(names="row")
    pairs = inv.merge(inv, on="customer_id", suffixes=("", "_earlier"))
    earlier = pairs["row_earlier"] < pairs["row"]
    still_open = ~(pairs["paid_date_earlier"] <= pairs["invoice_date"])
    pairs = pairs.loc[earlier & still_open]
    return pairs.groupby("row")["amount_earlier"].sum().reindex(inv["row"]).fillna(0.0)


def test_limits_as_they_were_block_exactly_where_the_ledger_first_exceeded_them(ledger, tables):
    result = replay(tables, {"as they were": limits_as_they_were}, _SETTINGS, end_date=ledger.end_date)
    inv = ledger.invoices.sort_values(["customer_id", "invoice_date"], kind="stable").reset_index(drop=True)
    limit = inv["customer_id"].map(ledger.customers.set_index("customer_id")["credit_limit"])
    exceeds = (_ledger_exposure_at_orders(inv).to_numpy() + inv["amount"].to_numpy() > limit.to_numpy() + 1e-9)
    first = result.reviews[0]
    onboarded = inv["customer_id"].map(ledger.customers.set_index("customer_id")["onboarding_date"])
    # A customer onboarded after a review has no limit at it (served against new_customer_limit): skip those.
    comparable = (inv["invoice_date"] >= first) & (onboarded < first)
    ledger_first = inv.loc[comparable & exceeds].groupby("customer_id")["invoice_date"].min()
    walk = walk_orders(inv, result.limits["as they were"], result.reviews, ledger.defaults,
                       end_date=result.end_date, default_limit=_SETTINGS.new_customer_limit)
    blocked = inv.loc[comparable & (walk.served_amount < inv["amount"].to_numpy())]
    replay_first = blocked.groupby("customer_id")["invoice_date"].min()
    assert len(ledger_first) > 0, "the synthetic ledger's invoices do exceed its limits"
    pd.testing.assert_series_equal(replay_first.sort_index(), ledger_first.sort_index())
    # Blocking only removes receivables, so the replay cannot lose more than the ledger did.
    assert result.summary.loc["as they were", "bad_debt"] <= _realised_losses(ledger, first, None) + 1e-6
    assert result.summary.loc["as they were", "limit_changes"] == 0  # today's limits replayed backwards


def test_limit_history_replaces_todays_limits(ledger, tables):
    cid = ledger.customers["customer_id"].iloc[0]
    history = pd.DataFrame({"customer_id": [cid, cid], "valid_from": pd.to_datetime(["2000-01-01", "2024-03-01"]),
                            "limit": [5_000.0, 7_000.0]})
    with_history = {**tables, "limit_history": history}
    before = limits_as_they_were(known_at(with_history, "2024-02-01"))
    at = limits_as_they_were(known_at(with_history, "2024-03-01"))
    assert before[cid] == 5_000.0 and at[cid] == 7_000.0
    other = ledger.customers["customer_id"].iloc[1]
    assert at[other] == ledger.customers.set_index("customer_id").loc[other, "credit_limit"]


def test_tighter_multiple_trades_bad_debt_for_blocked_sales(ledger, tables):
    ks = [0.5, 1.0, 2.0, 4.0, 8.0]
    result = replay(tables, {k: purchases_multiple_policy(k) for k in ks},
                    _SETTINGS.model_copy(update={"bootstrap_samples": 10}), end_date=ledger.end_date)
    bad_debt = result.summary.loc[ks, "bad_debt"].to_numpy()
    blocked = result.summary.loc[ks, "blocked_sales"].to_numpy()
    assert np.all(np.diff(bad_debt) >= 0), bad_debt  # a looser k never lowers bad debt
    assert np.all(np.diff(blocked) <= 0), blocked  # ... and never blocks more
    assert bad_debt[0] < bad_debt[-1] and blocked[0] > blocked[-1]


def test_user_rule_caps_and_combines(tables):
    known = known_at(tables, "2024-06-01")
    base = limits_as_they_were(known)
    multiple = purchases_multiple_policy(3.0)(known)
    rule = user_rule(limits_as_they_were, purchases_multiple_policy(3.0), cap=50_000.0)(known)
    assert (rule <= 50_000.0).all()
    assert np.allclose(rule, np.minimum(np.minimum(base, multiple.reindex(base.index)), 50_000.0))


def test_purchases_policy_gives_a_new_customer_its_limit():
    cust = pd.DataFrame({"customer_id": ["A", "B"], "onboarding_date": pd.to_datetime(["2020-01-01", "2024-05-20"])})
    inv = pd.DataFrame({"customer_id": ["A", "A"], "invoice_date": pd.to_datetime(["2024-03-10", "2024-05-10"]),
                        "amount": [300.0, 300.0], "paid_date": pd.NaT})
    limits = purchases_multiple_policy(2.0, trailing_months=3, new_customer_limit=1234.0)(
        known_at({"customers": cust, "invoices": inv}, "2024-06-01"))
    assert limits["A"] == pytest.approx(2.0 * 600.0 / 3.0) and limits["B"] == 1234.0


# ---------------------------------------------------------------------------------------------
# leakage


def _leaky(tables):
    """A policy built from the whole ledger: this month's and next month's purchases, i.e. the future."""
    purchases = tables["invoices"].groupby("customer_id")["amount"].sum()

    def policy(known: KnownAtReview) -> pd.Series:
        return 0.1 * purchases.reindex(known.customers["customer_id"]).fillna(0.0)

    return policy


@pytest.mark.parametrize("review", ["2023-09-01", "2024-03-01"])
def test_no_policy_here_sees_the_future(tables, review):
    honest = {"as they were": limits_as_they_were, "k x purchases": purchases_multiple_policy(2.0),
              "rule": user_rule(limits_as_they_were, purchases_multiple_policy(3.0), cap=100_000.0)}
    for name, policy in honest.items():
        diff = check_no_leakage(lambda _tables, p=policy: p, tables, review)
        assert diff.empty, f"{name}: {diff.head()}"


def test_the_leakage_harness_catches_a_leaky_policy(tables):
    diff = check_no_leakage(_leaky, tables, "2024-03-01")
    assert len(diff) > 10
    assert (diff["limit"] != diff["limit_changed_future"]).all()


def test_known_at_blanks_later_payments_and_drops_later_records(tables):
    known = known_at(tables, "2024-03-01")
    assert (known.invoices["invoice_date"] < D("2024-03-01")).all()
    assert not (known.invoices["paid_date"] >= D("2024-03-01")).any()
    assert known.invoices["paid_amount"].isna().sum() == known.invoices["paid_date"].isna().sum()
    assert (known.defaults["default_date"] < D("2024-03-01")).all()
    assert (known.customers["onboarding_date"] < D("2024-03-01")).all()


# ---------------------------------------------------------------------------------------------
# bootstrap and settings


def test_bootstrap_intervals_contain_the_estimate_and_are_seeded(ledger, tables):
    policies = {"as they were": limits_as_they_were, "k2": purchases_multiple_policy(2.0)}
    first = replay(tables, policies, _SETTINGS, end_date=ledger.end_date).summary
    again = replay(tables, policies, _SETTINGS, end_date=ledger.end_date).summary
    other = replay(tables, policies, _SETTINGS.model_copy(update={"seed": 1}), end_date=ledger.end_date).summary
    for metric in ("bad_debt", "lost_margin", "profit"):
        assert (first[f"{metric}_low"] <= first[metric]).all() and (first[metric] <= first[f"{metric}_high"]).all()
        assert (first[f"{metric}_low"] < first[f"{metric}_high"]).all()
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["profit_low"], other["profit_low"])


def test_profit_adds_up(ledger, tables):
    s = _SETTINGS
    result = replay(tables, {"as they were": limits_as_they_were}, s, end_date=ledger.end_date)
    row = result.summary.loc["as they were"]
    years = (result.end_date - result.reviews[0]).days / 365.25
    assert row["profit"] == pytest.approx(s.gross_margin * row["served_sales"] - row["bad_debt"]
                                          - s.cost_of_funds_rate * row["average_exposure"] * years, rel=1e-9)
    assert row["lost_margin"] == pytest.approx(s.gross_margin * row["blocked_sales"])


def test_bad_policy_output_and_settings_are_refused(ledger, tables):
    def broken(known):
        return pd.Series(np.nan, index=known.customers["customer_id"])

    with pytest.raises(ReplayInputError, match="policy 'broken'.*missing or negative"):
        replay(tables, {"broken": broken}, _SETTINGS, end_date=ledger.end_date)
    with pytest.raises(ValidationError, match="month start"):
        ReplayParams(first_review="2024-01-15")
    with pytest.raises(ValidationError, match="extra"):
        ReplayParams(n_review=3)
    with pytest.raises(ReplayInputError, match="not before the end"):
        replay(tables, {"a": limits_as_they_were}, ReplayParams(first_review="2024-12-01", n_reviews=3),
               end_date=ledger.end_date)
