"""The write-off policy (credit_lab.risk.provisions.write_off): in the synthetic generator, in the provision
matrix on a ledger that never writes off, and in the run's note and totals; null keeps today's behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import ProvisionParams, SyntheticDataParams, params_from_dict
from credit_lab.core.exceptions import ParamsError
from credit_lab.data.synthetic import generate_ledger
from credit_lab.risk import reserve_run as rr
from credit_lab.risk.provisions import (
    ProvisionInputError,
    ProvisionSettings,
    apply_write_off_policy,
    collection_delay_days,
    loss_rates,
    open_items,
    provision_from_ledger,
    write_off,
)
from tests.conftest import invoice_rows as ledger

# Buckets current, 1-30, >30; cohort loss rates pooled over the month-ends 1 Feb, 1 Mar and 1 Apr 2024,
# each with a 2-month outcome (complete by 1 Jun 2024, the reporting date).
AS_OF = "2024-06-01"
EDGES = (0, 30)
BOOK = ledger([
    # never paid: 397 days past due today; under a 360-day policy written off on 25 Apr 2024
    # (1 May 2023 + 360 days), after every month-end of the history, so the loss rates are the same
    ("OLD", "C1", "2023-04-01", "2023-05-01", None, 1_000.0, None),
    # never paid: current on 1 Mar, >30 on 1 Apr, 92 days past due today
    ("RECENT", "C2", "2024-02-01", "2024-03-01", None, 500.0, None),
    # current today
    ("CUR", "C3", "2024-05-20", "2024-06-20", None, 2_000.0, None),
    # current on 1 Feb, paid in full on 20 Feb
    ("H1", "C3", "2024-01-05", "2024-02-04", "2024-02-20", 1_000.0, 1_000.0),
    # 1-30 on 1 Feb (12 days), >30 on 1 Mar (41 days), paid in full on 10 Mar
    ("H2", "C3", "2024-01-01", "2024-01-20", "2024-03-10", 400.0, 400.0),
])
# Cohort rates: current (1,000 + 500) lost 500 = 1/3; 1-30 lost nothing; >30 held OLD at the three
# month-ends (3 x 1,000, lost), H2 (400, collected) and RECENT (500, lost): 3,500 / 3,900.
RATE_CURRENT, RATE_OVER_30 = 1 / 3, 3_500 / 3_900


def settings(days):
    return ProvisionSettings(bucket_edges=EDGES, method="cohort", history_months=3, outcome_months=2,
                             no_loss_floor="none", write_off_days_past_due=days)


def test_an_invoice_past_the_policy_leaves_the_open_book_and_the_allowance():
    res = provision_from_ledger(BOOK, AS_OF, settings(360))
    assert set(res.items["invoice_id"]) == {"RECENT", "CUR"}
    assert res.loss_rates.loss_rate.tolist() == pytest.approx([RATE_CURRENT, 0.0, RATE_OVER_30])
    assert res.matrix.loc[">30", "gross_carrying_amount"] == 500.0
    assert res.allowance == pytest.approx(2_000 * RATE_CURRENT + 500 * RATE_OVER_30)
    # the written-off amount is counted, beside the allowance
    table = res.write_offs.table
    assert table["invoice_id"].tolist() == ["OLD"]
    assert table.loc[0, "write_off_date"] == pd.Timestamp("2024-04-25")
    assert table.loc[0, "written_off_amount"] == 1_000.0 and bool(table.loc[0, "by_policy"])
    assert res.write_offs.by_policy == 1_000.0
    assert res.write_offs.written_off_since("2023-06-01") == 1_000.0
    assert res.write_offs.written_off_since("2024-04-26") == 0.0


def test_null_keeps_the_old_debt_in_the_last_bucket_at_its_loss_rate():
    res = provision_from_ledger(BOOK, AS_OF, settings(None))
    assert set(res.items["invoice_id"]) == {"OLD", "RECENT", "CUR"}
    assert res.matrix.loc[">30", "gross_carrying_amount"] == 1_500.0
    assert res.allowance == pytest.approx(2_000 * RATE_CURRENT + 1_500 * RATE_OVER_30)
    assert res.write_offs.by_policy == 0.0 and res.write_offs.table.empty
    # None is what the settings default to: the same matrix
    default = provision_from_ledger(BOOK, AS_OF, ProvisionSettings(bucket_edges=EDGES, method="cohort",
                                                                   history_months=3, outcome_months=2,
                                                                   no_loss_floor="none"))
    pd.testing.assert_frame_equal(default.matrix, res.matrix)


def test_the_policy_is_point_in_time():
    # on 20 Apr 2024 OLD is 355 days past due: not yet written off, still open
    assert "OLD" in set(open_items(BOOK, "2024-04-20", settings(360))["invoice_id"])
    assert "OLD" not in set(open_items(BOOK, "2024-04-26", settings(360))["invoice_id"])
    # an invoice paid after its write-off day is written off on that day; the later cash is a recovery
    late = ledger([("L", "C1", "2023-01-01", "2023-02-01", "2024-03-01", 100.0, 100.0)])
    out = apply_write_off_policy(late, AS_OF, 360)
    assert out.loc[0, "paid_date"] == pd.Timestamp("2023-02-01") + pd.Timedelta(days=360)
    assert out.loc[0, "paid_amount"] == 0.0
    # ... but not when the payment is made on or before it
    on_time = ledger([("L", "C1", "2023-01-01", "2023-02-01", "2024-01-27", 100.0, 100.0)])
    assert apply_write_off_policy(on_time, AS_OF, 360) is on_time


def test_the_history_loses_a_written_off_invoice_after_its_write_off_day():
    # reporting on 1 Aug 2024 with the month-ends 1 Apr, 1 May and 1 Jun: OLD (written off on 25 Apr)
    # is in the overdue bucket on 1 Apr only; without the policy on all three
    s = ProvisionSettings(bucket_edges=(0,), method="cohort", history_months=3, outcome_months=2,
                          write_off_days_past_due=360)
    with_policy = provision_from_ledger(BOOK, "2024-08-01", s).loss_rates
    without = provision_from_ledger(BOOK, "2024-08-01", ProvisionSettings(
        bucket_edges=(0,), method="cohort", history_months=3, outcome_months=2)).loss_rates
    assert with_policy.rates.loc[">0", "observed_balance"] == 1_000 + 3 * 500  # OLD once, RECENT three times
    assert without.rates.loc[">0", "observed_balance"] == 3 * 1_000 + 3 * 500
    # loss_rates applies the policy by itself, as open_items does
    assert loss_rates(BOOK, "2024-08-01", s).rates.loc[">0", "observed_balance"] == 2_500


def test_a_partial_payment_counts_its_shortfall_as_written_off_in_the_ledger():
    book = ledger([("P", "C1", "2023-10-01", "2023-11-01", "2024-02-01", 300.0, 120.0)])
    w = write_off(book, AS_OF, 360)
    assert w.table[["invoice_id", "written_off_amount"]].values.tolist() == [["P", 180.0]]
    assert not w.table["by_policy"].any() and w.by_policy == 0.0
    assert w.written_off_since("2024-01-01") == 180.0


def test_a_write_off_is_not_a_late_payment():
    # a settlement that collected nothing does not stretch the average days paid after due
    paid = ledger([("A", "C1", "2024-01-01", "2024-01-31", "2024-02-10", 100.0, 100.0)])
    written_off = ledger([("W", "C1", "2023-01-01", "2023-01-31", "2024-01-26", 5_000.0, 0.0)])
    assert collection_delay_days(pd.concat([paid, written_off], ignore_index=True), AS_OF) == pytest.approx(10.0)


def test_the_policy_is_validated():
    with pytest.raises(ProvisionInputError, match="above the last bucket edge"):
        ProvisionSettings(write_off_days_past_due=90)
    with pytest.raises(ProvisionInputError, match="whole number of days"):
        ProvisionSettings(write_off_days_past_due=365.0)
    with pytest.raises(ProvisionInputError, match="whole number of days >= 1"):
        apply_write_off_policy(BOOK, AS_OF, 0)
    with pytest.raises(ParamsError, match="write_off_days_past_due 60 must be above the last bucket edge 90"):
        params_from_dict({"reserve": {"provisions": {"write_off_days_past_due": 60}}})
    with pytest.raises(ParamsError, match="reconciliation_band"):
        params_from_dict({"reserve": {"provisions": {"reconciliation_band": 0}}})
    assert ProvisionParams(write_off_days_past_due=None).write_off_days_past_due is None
    assert ProvisionParams().write_off_days_past_due == SyntheticDataParams().write_off_days_past_due == 360


# ---------------------------------------------------------------------------
# the policy of the matrix against the generator's (the generator's own tests: tests/test_synth.py)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def never():
    return generate_ledger(n_customers=600, n_months=36, seed=4)


@pytest.fixture(scope="module")
def written():
    return generate_ledger(n_customers=600, n_months=36, seed=4, write_off_days_past_due=360)


def test_the_matrix_of_a_ledger_that_writes_off_is_the_matrix_of_the_policy(never, written):
    s = ProvisionSettings(history_months=12, outcome_months=12, write_off_days_past_due=360)
    by_generator = provision_from_ledger(written.invoices, written.end_date, s, written.defaults)
    by_policy = provision_from_ledger(never.invoices, never.end_date, s, never.defaults)
    assert by_policy.allowance == pytest.approx(by_generator.allowance, rel=1e-12)
    assert by_generator.write_offs.by_policy == 0.0 < by_policy.write_offs.by_policy
    assert by_policy.write_offs.written_off_since(never.end_date - pd.DateOffset(months=12)) == pytest.approx(
        by_generator.write_offs.written_off_since(written.end_date - pd.DateOffset(months=12)))
    unpolicied = provision_from_ledger(never.invoices, never.end_date, ProvisionSettings(history_months=12,
                                                                                         outcome_months=12))
    last = unpolicied.matrix.index[-2]
    assert (unpolicied.matrix.loc[last, "gross_carrying_amount"]
            == pytest.approx(by_policy.matrix.loc[last, "gross_carrying_amount"] + by_policy.write_offs.by_policy
                             - _paid_after_the_write_off_day(never)))
    assert unpolicied.allowance > by_policy.allowance


def _paid_after_the_write_off_day(never) -> float:
    # written off by the policy but not open in the ledger at its end: paid later than the write-off day
    inv = never.invoices
    late = inv["paid_date"].notna() & (inv["paid_date"] > inv["due_date"] + pd.Timedelta(days=360))
    return float(inv.loc[late, "amount"].sum())


# ---------------------------------------------------------------------------
# the run: the note and the totals
# ---------------------------------------------------------------------------

def provision_params(**kwargs):
    return ProvisionParams(bucket_edges=EDGES, method="cohort", history_months=3, outcome_months=2,
                           scenarios={"base": (1.0, 1.0)}, no_loss_floor="none",
                           no_loss_floor_rates=(0.005, 0.02, 0.10), **kwargs)


def test_the_run_says_what_the_policy_wrote_off():
    notes: list[str] = []
    res = rr.fitted_provision_matrix(provision_params(), BOOK, None, pd.Timestamp(AS_OF), notes)
    note = next(n for n in notes if n.startswith("Write-offs"))
    assert "not settled 360 days after their due date are written off" in note and "IFRS 9 5.4.4" in note
    assert "The policy wrote off 1,000 that the ledger still carried as open" in note
    assert "1,000 was written off in the 12 months to 2024-06-01" in note
    assert "covers the 2,500 still on the books" in note
    assert rr.write_off_totals(res) == {"provision_written_off_by_policy": 1_000.0,
                                        "provision_written_off_12m": 1_000.0}


def test_the_run_without_a_policy_says_so():
    notes: list[str] = []
    res = rr.fitted_provision_matrix(provision_params(write_off_days_past_due=None), BOOK, None,
                                     pd.Timestamp(AS_OF), notes)
    assert res.matrix.loc["Total", "gross_carrying_amount"] == 3_500.0
    note = next(n for n in notes if n.startswith("Write-offs"))
    assert "no write-off policy" in note and "however long past due" in note
    assert np.isclose(rr.write_off_totals(res)["provision_written_off_by_policy"], 0.0)


def test_the_policy_replaces_only_the_settled_columns():
    """The ledger under the policy is the old whole-frame copy with the written-off rows settled, and
    shares the id columns with the input instead of copying every invoice's strings."""
    book = BOOK.astype({"invoice_id": "string[pyarrow]", "customer_id": "string[pyarrow]"})
    before = book.copy()
    out = apply_write_off_policy(book, AS_OF, 360)
    expected = book.copy()
    hit = expected["invoice_id"].eq("OLD").to_numpy()
    expected.loc[hit, "paid_date"] = pd.Timestamp("2024-04-25")
    expected.loc[hit, "paid_amount"] = 0.0
    pd.testing.assert_frame_equal(out, expected, check_exact=True)
    pd.testing.assert_frame_equal(book, before, check_exact=True)  # the input is not changed
    assert out["customer_id"].array._pa_array is book["customer_id"].array._pa_array
