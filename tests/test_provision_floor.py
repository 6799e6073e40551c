"""The no-loss floor of the IFRS 9 provision matrix: a bucket whose history holds no loss is priced at
its customers' PD x LGD (or, without PDs, at the fixed rates of the params) instead of a zero rate;
a bucket with observed losses keeps its historical rate; ``none`` keeps the zero and says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit_lab.core.config import ProvisionParams, params_from_dict
from credit_lab.core.exceptions import ParamsError
from credit_lab.risk import reserve_run as rr
from credit_lab.risk.provisions import (
    FLOOR_PARAMS,
    FLOOR_PD_LGD,
    HISTORY,
    ProvisionInputError,
    ProvisionSettings,
    adjust_for_scenarios,
    no_loss_floor,
    open_items,
    provision_from_ledger,
    provision_matrix,
)
from tests.conftest import invoice_rows as ledger

# Buckets current, 1-30, >30; cohort loss rates from the month-ends 1 Feb, 1 Mar and 1 Apr 2023, each
# with a 2-month outcome (complete by 1 Jun 2023, the reporting date).
AS_OF = "2023-06-01"
EDGES = (0, 30)
SCENARIOS = {"base": (0.5, 1.0), "down": (0.5, 2.0)}  # every rate x 1.5 (none reaches 100 %)
HISTORY_LEDGER = [
    # current on 1 Feb, paid in full on 20 Feb
    ("H0", "C1", "2023-01-10", "2023-02-10", "2023-02-20", 1_000.0, 1_000.0),
    # current on 1 Mar, 1-30 on 1 Apr (12 days past due), paid in full on 5 Apr
    ("H1", "C1", "2023-02-20", "2023-03-20", "2023-04-05", 1_000.0, 1_000.0),
    # >30 on 1 Feb (32 days) and 1 Mar (60 days); settled on 15 Mar with 198 of 200: 2 lost each time
    ("H2", "C2", "2022-12-01", "2022-12-31", "2023-03-15", 200.0, 198.0),
]
TODAY = [  # open on 1 Jun 2023, none of them open at a month-end of the history
    ("T1", "C1", "2023-05-10", "2023-06-09", None, 3_000.0, None),  # current
    ("T2", "C2", "2023-05-01", "2023-06-15", None, 1_000.0, None),  # current
    ("T3", "C2", "2023-04-20", "2023-05-20", None, 2_000.0, None),  # 1-30 (12 days)
    ("T4", "C3", "2023-04-02", "2023-04-02", None, 400.0, None),    # >30 (60 days)
]
NO_LOSS_LEDGER = ledger(HISTORY_LEDGER + TODAY)
PD_12M = pd.Series({"C1": 0.02, "C2": 0.04, "C3": 0.5})
LGD = 0.5


def settings(**kwargs):
    return ProvisionSettings(bucket_edges=EDGES, method="cohort", history_months=3, outcome_months=2,
                             scenarios=SCENARIOS, **kwargs)


def provision_params(**kwargs):
    return ProvisionParams(bucket_edges=EDGES, method="cohort", history_months=3, outcome_months=2,
                           scenarios=SCENARIOS, no_loss_floor_rates=(0.005, 0.02, 0.10), **kwargs)


def test_the_history_holds_no_loss_in_two_buckets_and_a_small_one_in_the_third():
    res = provision_from_ledger(NO_LOSS_LEDGER, AS_OF, settings(no_loss_floor="none"))
    # >30: 2 of 200 lost at 1 Feb and at 1 Mar
    assert res.loss_rates.loss_rate.tolist() == [0.0, 0.0, pytest.approx(4 / 400)]
    assert res.matrix["gross_carrying_amount"].tolist() == [4_000.0, 2_000.0, 400.0, 6_400.0]


def test_pd_lgd_floor_hand_worked():
    res = provision_from_ledger(NO_LOSS_LEDGER, AS_OF, settings(), pd_12m=PD_12M, lgd=LGD)
    m = res.matrix
    # current: 3,000 of C1 (PD 2 %) and 1,000 of C2 (PD 4 %): (60 + 40) / 4,000 x 50 % = 1.25 %
    assert m.loc["current", "floor_loss_rate"] == pytest.approx(0.0125, rel=1e-12)
    # 1-30: 2,000 of C2 alone: 4 % x 50 % = 2 %
    assert m.loc["1-30", "floor_loss_rate"] == pytest.approx(0.02, rel=1e-12)
    assert m["rate_basis"].tolist() == [FLOOR_PD_LGD, FLOOR_PD_LGD, HISTORY, ""]
    # scaled by the scenarios like a historical rate: x 1.5
    assert m["adjusted_loss_rate"].drop(index="Total").tolist() == pytest.approx([0.01875, 0.03, 0.015], rel=1e-12)
    # 4,000 x 1.875 % + 2,000 x 3 % + 400 x 1.5 % = 75 + 60 + 6
    assert m["allowance"].tolist() == pytest.approx([75.0, 60.0, 6.0, 141.0], rel=1e-12)
    assert res.allowance == pytest.approx(141.0, rel=1e-12)
    assert res.floor_uplift == pytest.approx(135.0, rel=1e-12)
    assert res.historical_allowance == pytest.approx(4.0, rel=1e-12)  # 400 x 1 %, no floor, no scenarios
    # the invoices carry the floored rates, so the reconciliation with the PD-based ECL sees them too
    assert res.items.set_index("invoice_id")["allowance"].to_dict() == pytest.approx(
        {"T1": 56.25, "T2": 18.75, "T3": 60.0, "T4": 6.0}, rel=1e-12)


def test_a_bucket_with_observed_losses_keeps_its_rate_even_below_the_floor():
    # C3's PD x LGD is 25 %, far above the 1 % the >30 bucket lost: the floor is no minimum
    res = provision_from_ledger(NO_LOSS_LEDGER, AS_OF, settings(), pd_12m=PD_12M, lgd=LGD)
    row = res.matrix.loc[">30"]
    assert row["rate_basis"] == HISTORY and np.isnan(row["floor_loss_rate"])
    assert row["adjusted_loss_rate"] == pytest.approx(0.015, rel=1e-12)
    assert row["allowance"] == pytest.approx(6.0, rel=1e-12)


@given(st.lists(st.tuples(st.floats(1e-9, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1e6)), min_size=1, max_size=6))
def test_a_positive_historical_rate_is_never_replaced(rows):
    labels = [f"b{i}" for i in range(len(rows))]
    rates = pd.Series([r for r, _, _ in rows], index=labels)
    gross = pd.Series([g for _, _, g in rows], index=labels)
    floor = pd.DataFrame({"floor_loss_rate": [f for _, f, _ in rows], "rate_basis": FLOOR_PD_LGD}, index=labels)
    m = provision_matrix(gross, rates, SCENARIOS, floor).drop(index="Total")
    assert (m["rate_basis"] == HISTORY).all() and m["floor_loss_rate"].isna().all()
    np.testing.assert_array_equal(m["adjusted_loss_rate"].to_numpy(), adjust_for_scenarios(rates, SCENARIOS).to_numpy())


def test_none_keeps_the_zero_rates():
    res = provision_from_ledger(NO_LOSS_LEDGER, AS_OF, settings(no_loss_floor="none"), pd_12m=PD_12M, lgd=LGD)
    m = res.matrix
    assert (m["rate_basis"].drop(index="Total") == HISTORY).all() and m["floor_loss_rate"].isna().all()
    assert m["allowance"].tolist() == pytest.approx([0.0, 0.0, 6.0, 6.0], abs=1e-12)
    assert res.allowance == pytest.approx(6.0) and res.floor_uplift == 0.0


def test_without_pds_the_fixed_rates_of_the_settings_are_the_floor():
    # the default fixed rates: current 0.5 %, 1-30 2 %
    res = provision_from_ledger(NO_LOSS_LEDGER, AS_OF, settings())
    m = res.matrix
    assert m["rate_basis"].tolist() == [FLOOR_PARAMS, FLOOR_PARAMS, HISTORY, ""]
    assert m["floor_loss_rate"].iloc[:2].tolist() == [0.005, 0.02]
    # 4,000 x 0.75 % + 2,000 x 3 % + 6 = 30 + 60 + 6
    assert res.allowance == pytest.approx(96.0, rel=1e-12)
    assert res.floor_uplift == pytest.approx(90.0, rel=1e-12)


def test_a_merged_bucket_takes_the_fixed_rates_of_the_days_its_invoices_are_past_due():
    # buckets merged down to current and >30: the fixed rates stay on the days past due of each invoice
    inv = ledger([("A", "C1", "2023-01-01", "2023-04-17", None, 300.0, None),   # 45 days: 31-60 rate 5 %
                  ("B", "C1", "2023-01-01", "2023-02-21", None, 100.0, None)])  # 100 days: >90 rate 50 %
    s = ProvisionSettings(bucket_edges=(0, 30), no_loss_floor_edges=(0, 30, 60, 90))
    floor = no_loss_floor(open_items(inv, AS_OF, s), s)
    assert floor.loc[">30", "floor_loss_rate"] == pytest.approx((300 * 0.05 + 100 * 0.5) / 400, rel=1e-12)
    assert floor.loc[">30", "rate_basis"] == FLOOR_PARAMS
    assert floor["floor_loss_rate"].iloc[:2].isna().all()  # no open balance: nothing to floor


def test_the_run_floors_and_says_so_once():
    notes: list[str] = []
    res = rr.fitted_provision_matrix(provision_params(), NO_LOSS_LEDGER, None, pd.Timestamp(AS_OF), notes,
                                     PD_12M, LGD)
    assert res.allowance == pytest.approx(141.0, rel=1e-12)
    floor_notes = [n for n in notes if "no loss" in n]
    assert len(floor_notes) == 1
    note = floor_notes[0]
    assert "bucket(s) current, 1-30" in note and "B5.5.35" in note and "PD x LGD (50%)" in note
    assert "current 1.25%, 1-30 2.00%" in note
    assert "raises the provision by 135, from 6 to 141" in note


def test_the_run_gives_customers_without_a_score_pd_one():
    # C1 has no score (already in default): its 3,000 current count at PD 1
    notes: list[str] = []
    res = rr.fitted_provision_matrix(provision_params(), NO_LOSS_LEDGER, None, pd.Timestamp(AS_OF), notes,
                                     PD_12M.drop("C1"), LGD)
    assert res.matrix.loc["current", "floor_loss_rate"] == pytest.approx((3_000 * 1.0 + 1_000 * 0.04) / 4_000 * LGD)


def test_the_run_without_pds_falls_back_to_the_params_rates_and_says_so():
    notes: list[str] = []
    res = rr.fitted_provision_matrix(provision_params(), NO_LOSS_LEDGER, None, pd.Timestamp(AS_OF), notes)
    assert res.matrix["rate_basis"].tolist() == [FLOOR_PARAMS, FLOOR_PARAMS, HISTORY, ""]
    note = next(n for n in notes if "no loss" in n)
    assert "reserve.provisions.no_loss_floor_rates (current 0.50%, 1-30 2.00%)" in note
    assert "no PD is available" in note
    assert "raises the provision by 90, from 6 to 96" in note


def test_the_run_with_none_says_the_provision_may_be_understated():
    notes: list[str] = []
    res = rr.fitted_provision_matrix(provision_params(no_loss_floor="none"), NO_LOSS_LEDGER, None,
                                     pd.Timestamp(AS_OF), notes, PD_12M, LGD)
    assert res.allowance == pytest.approx(6.0)
    note = next(n for n in notes if "no loss" in n)
    assert "may be understated" in note and "6,000 of receivables carry no provision" in note


def test_no_note_when_every_bucket_has_observed_losses():
    notes: list[str] = []
    # H0 and H1 settled with 999 of 1,000: current and 1-30 lost 0.1 % too
    lossy = [row[:6] + (999.0,) if row[0] in ("H0", "H1") else row for row in HISTORY_LEDGER]
    res = rr.fitted_provision_matrix(provision_params(), ledger(lossy + TODAY), None, pd.Timestamp(AS_OF), notes,
                                     PD_12M, LGD)
    assert res.loss_rates.loss_rate.tolist() == pytest.approx([0.001, 0.001, 0.01])
    assert (res.matrix["rate_basis"].drop(index="Total") == HISTORY).all() and res.floor_uplift == 0.0
    assert not [n for n in notes if "no loss" in n]


def test_missing_pd_and_lgd_are_refused():
    s = settings()
    items = open_items(NO_LOSS_LEDGER, AS_OF, s)
    with pytest.raises(ProvisionInputError, match=r"pd_12m of customer 'C3' .* is nan"):
        no_loss_floor(items, s, PD_12M.drop("C3"), LGD)
    with pytest.raises(ProvisionInputError, match=r"lgd = None must be a fraction"):
        no_loss_floor(items, s, PD_12M)


@pytest.mark.parametrize("kwargs, match", [
    ({"no_loss_floor": "zero"}, "'pd_lgd' or 'none'"),
    ({"no_loss_floor_rates": (0.01, 0.02)}, r"2 rate\(s\) but no_loss_floor_edges = \(0, 30, 60, 90\) define 5"),
    ({"no_loss_floor_rates": (0.01, 0.02, 1.5, 0.1, 0.5)}, r"no_loss_floor_rates\['31-60'\] = 1\.5"),
])
def test_floor_settings_are_validated(kwargs, match):
    with pytest.raises(ProvisionInputError, match=match):
        ProvisionSettings(**kwargs)


def test_floor_params_are_validated():
    with pytest.raises(ParamsError, match=r"no_loss_floor_rates has 5 rate\(s\) but bucket_edges \[0, 30\] define 3"):
        params_from_dict({"reserve": {"provisions": {"bucket_edges": [0, 30]}}})
    with pytest.raises(ParamsError, match=r"reserve\.provisions\.no_loss_floor"):
        params_from_dict({"reserve": {"provisions": {"no_loss_floor": "zero"}}})
