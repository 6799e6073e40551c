"""PD-based replay policies: leakage (frozen and refit), the budgets' trade-off, the frontier and the
calibration table recomputed from the walks, the ``replay`` params block and replay from params only."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import params_from_dict
from credit_lab.core.exceptions import ParamsError
from credit_lab.data.synthetic import generate_ledger
from credit_lab.features.point_in_time import build_features
from credit_lab.limits.replay import check_no_leakage, known_at, limits_as_they_were
from credit_lab.limits.replay_frontier import expected_vs_walked, frontier_table
from credit_lab.limits.replay_policies import ReviewPD, optimizer_policy, pd_cutoff_policy, replay_from_params
from credit_lab.report.replay_figures import fig_replay_expected_vs_walked, fig_replay_frontier

matplotlib.use("Agg")

BUDGETS = [0.5, 0.75, 1.0, 1.25]


@pytest.fixture(scope="module")
def ledger():
    return generate_ledger(n_customers=500, n_months=30, seed=5)


@pytest.fixture(scope="module")
def tables(ledger):
    return {"customers": ledger.customers, "invoices": ledger.invoices, "defaults": ledger.defaults,
            "financials": ledger.financials, "industry_outlook": ledger.industry_outlook}


@pytest.fixture(scope="module")
def params():
    return params_from_dict({"replay": {"n_reviews": 4, "bootstrap_samples": 100}})


@pytest.fixture(scope="module")
def result(tables, params, ledger):
    return replay_from_params(tables, params, end_date=ledger.end_date)


def _first_and_last(result):
    return result.reviews[0], result.reviews[-1]


# ---------------------------------------------------------------------------------------------
# leakage


@pytest.mark.parametrize("model", ["frozen", "refit"])
def test_pd_policies_see_nothing_after_the_review(tables, params, result, model):
    first, last = _first_and_last(result)
    for review in (first, last):
        cutoff = check_no_leakage(lambda t: pd_cutoff_policy(ReviewPD(params, model, first, t), 0.1,
                                                             limits_as_they_were), tables, review)
        optimized = check_no_leakage(lambda t: optimizer_policy(ReviewPD(params, model, first, t), 0.75, 0.45),
                                     tables, review)
        assert cutoff.empty and optimized.empty, (model, review, cutoff.head(), optimized.head())


def _changed_between(tables, start, end):
    """The ledger with invoices dated in [start, end) tripled and left unpaid, and 20 more defaults in it."""
    out = {name: frame.copy() for name, frame in tables.items()}
    inv = out["invoices"]
    inside = inv["invoice_date"].between(start, end, inclusive="left")
    inv.loc[inside, "amount"] *= 3.0
    inv.loc[inside, ["paid_date", "paid_amount"]] = [pd.NaT, np.nan]
    healthy = out["customers"].loc[~out["customers"]["customer_id"].isin(out["defaults"]["customer_id"])]
    fresh = healthy.sample(20, random_state=0)[["customer_id"]].assign(default_date=start + pd.Timedelta(days=20))
    out["defaults"] = pd.concat([out["defaults"], fresh], ignore_index=True)
    return out


def test_a_frozen_model_never_moves_with_records_after_the_first_review(tables, params, result):
    first, last = _first_and_last(result)
    changed = _changed_between(tables, first, last)
    frozen, frozen_changed = ReviewPD(params, "frozen", first, tables), ReviewPD(params, "frozen", first, changed)
    known = known_at(changed, last)
    features = build_features(known.tables(), last, params.features)
    # The same model: identical PDs on any features.
    np.testing.assert_array_equal(frozen.fits_[first].model.predict_pd(features),
                                  frozen_changed.fits_[first].model.predict_pd(features))
    # The later review's PDs (and limits) move, through the features only.
    moved = frozen_changed.scored(known)["pd"]
    before = frozen.scored(known_at(tables, last))["pd"]
    common = moved.index.intersection(before.index)
    assert not np.allclose(moved.loc[common], before.loc[common])
    # A refit model does learn from them, one model per review.
    refit, refit_changed = ReviewPD(params, "refit", first), ReviewPD(params, "refit", first)
    assert not np.allclose(refit.fitted_for(known_at(tables, last)).model.predict_pd(features),
                           refit_changed.fitted_for(known).model.predict_pd(features))
    refit_changed.scored(known_at(changed, first))
    assert sorted(refit_changed.models_table()["fitted_as_of"]) == [first, last]


def test_a_frozen_model_refuses_a_review_before_its_fit(tables, params, result):
    first, _ = _first_and_last(result)
    source = ReviewPD(params, "frozen", first, tables)
    with pytest.raises(ValueError, match="know the future"):
        source.scored(known_at(tables, first - pd.DateOffset(months=1)))


# ---------------------------------------------------------------------------------------------
# the budgets' trade-off, the frontier, the calibration check


def test_tighter_budgets_trade_bad_debt_for_blocked_sales(result):
    family = result.summary.loc[[f"optimizer {b:g}x EL" for b in BUDGETS]]
    assert np.all(np.diff(family["bad_debt"].to_numpy()) >= 0), family["bad_debt"]
    assert np.all(np.diff(family["blocked_sales"].to_numpy()) <= 0), family["blocked_sales"]
    # The tightest budget does cut bad debt and block more than the loosest.
    assert family["bad_debt"].iloc[0] < family["bad_debt"].iloc[-1]
    assert family["blocked_sales"].iloc[0] > family["blocked_sales"].iloc[-1]


def test_the_frontier_is_recomputed_from_the_walks(result, params):
    table = frontier_table(result).set_index("policy")
    current = result.current_policy
    assert current == "as they were" and bool(table.loc[current, "is_current"])
    walked = {name: (walk["loss"].sum(), walk["blocked_amount"].sum()) for name, walk in result.walks.items()}
    for name, row in table.iterrows():
        bad_debt, blocked = walked[name]
        assert row["bad_debt"] == pytest.approx(bad_debt, rel=1e-12)
        assert row["lost_margin"] == pytest.approx(params.replay.gross_margin * blocked, rel=1e-12)
        assert row["bad_debt_avoided"] == pytest.approx(walked[current][0] - bad_debt, rel=1e-9, abs=1e-6)
    family = table.loc[~table["is_current"]].sort_values("el_budget_vs_current")
    assert family["el_budget_vs_current"].tolist() == BUDGETS
    for tight, loose in zip(family.index[:-1], family.index[1:]):
        avoided = walked[loose][0] - walked[tight][0]
        expected = (params.replay.gross_margin * (walked[tight][1] - walked[loose][1]) / avoided
                    if avoided > 0 else np.nan)
        assert family.loc[tight, "margin_per_bad_debt_avoided"] == pytest.approx(expected, nan_ok=True)
    assert fig_replay_frontier(frontier_table(result)).axes


def test_expected_loss_is_recomputed_by_hand(result, params):
    lgd, horizon = params.reserve.lgd, params.features.label_horizon_months
    table = expected_vs_walked(result, lgd, horizon, ["optimizer 0.75x EL"])
    walk = result.walks["optimizer 0.75x EL"]
    pds = result.pd_by_review.set_index(["review_date", "customer_id"])["pd"]
    for review, row in table.set_index("review_date").iterrows():
        cells = walk.loc[walk["review_date"] == review]
        mean_pd = pds.loc[review].mean()
        expected = 0.0
        for cid, days, exposure in zip(cells["customer_id"], cells["period_days"], cells["average_exposure"]):
            p = pds.get((review, cid), mean_pd)
            expected += (1.0 - (1.0 - p) ** (days / (horizon * 365.25 / 12.0))) * lgd * exposure
        assert row["expected_loss"] == pytest.approx(expected, rel=1e-9)
        assert row["walked_loss"] == pytest.approx(cells["loss"].sum(), rel=1e-12)
    assert fig_replay_expected_vs_walked(table, "optimizer 0.75x EL").axes


def test_every_review_is_scored_once_by_the_frozen_model(result):
    assert len(result.models) == 1 and result.models["fitted_as_of"].iloc[0] == result.reviews[0]
    assert sorted(result.pd_by_review["review_date"].unique()) == list(result.reviews)


# ---------------------------------------------------------------------------------------------
# the params block


def test_two_policies_run_from_params_only(tables, ledger):
    # The expert scorecard (model.method: expert) scores the book: PD-based policies work on it too.
    params = params_from_dict({"model": {"method": "expert"}, "replay": {
        "n_reviews": 3, "bootstrap_samples": 50, "policies": [
        {"kind": "purchases_multiple", "name": "3 x purchases", "k": 3, "trailing_months": 3},
        {"kind": "pd_cutoff", "name": "3 x purchases, 0 above 10%", "cutoff": 0.1, "otherwise": "3 x purchases"}]}})
    result = replay_from_params(tables, params, end_date=ledger.end_date)
    assert list(result.summary.index) == ["3 x purchases", "3 x purchases, 0 above 10%"]
    assert result.models[["method", "fitted_as_of"]].values.tolist() == [["expert", result.reviews[0]]]
    cut = result.limits["3 x purchases, 0 above 10%"].merge(result.pd_by_review, on=["review_date", "customer_id"])
    assert (cut.loc[cut["pd"] > 0.1, "limit"] == 0).all()
    assert result.summary.loc["3 x purchases, 0 above 10%", "bad_debt"] <= result.summary.loc["3 x purchases",
                                                                                              "bad_debt"]


@pytest.mark.parametrize(("policies", "message"), [
    ([{"kind": "pd_cutoff", "name": "x", "cutoff": 0.1, "otherwise": "nowhere"}], "otherwise names \\['nowhere'\\]"),
    ([{"kind": "as_they_were"}, {"kind": "as_they_were"}], "already used"),
    ([{"kind": "optimizer", "budgets": [0.5, 0.5]}], "budgets must be distinct"),
    ([{"kind": "optimizer", "budgets": []}], "replay.policies.0.optimizer.budgets"),
    ([{"kind": "pd_cutoff", "name": "x", "cutoff": 1.5, "otherwise": "y"}], "replay.policies.0.pd_cutoff.cutoff"),
    ([{"kind": "lottery", "name": "x"}], "replay.policies.0"),
    ([{"kind": "rule", "name": "r", "of": ["a"], "combine": "mean"}], "replay.policies.0.rule.combine"),
    ([{"kind": "purchases_multiple", "name": "k", "k": 2, "months": 3}], "replay.policies.0.purchases_multiple.months"),
    ([], "replay.policies"),
])
def test_bad_policies_are_named_in_the_error(policies, message):
    with pytest.raises(ParamsError, match=message):
        params_from_dict({"replay": {"policies": policies}})


def test_the_model_choice_is_checked():
    with pytest.raises(ParamsError, match="replay.model"):
        params_from_dict({"replay": {"model": "sometimes"}})
    assert params_from_dict({}).replay.enabled is False
