"""IFRS 9 simplified approach for trade receivables: ageing, loss rates, provision matrix, PD-based ECL.

Definitions used throughout
---------------------------
Snapshot at a date ``t``
    Taken at the *start* of day ``t`` (before that day's events). An invoice is open at
    ``t`` when ``invoice_date < t`` and it was not paid before ``t`` (``paid_date`` is NaT
    or ``paid_date >= t``). Its days past due are ``(t - due_date)`` in whole days; 0 or
    less is "current". An invoice paid on or after ``t`` is open at ``t`` with its full
    amount.
Settlement
    The ledger holds one payment per invoice. That payment settles the invoice:
    ``paid_amount`` is collected and a shortfall ``amount - paid_amount`` (only defaulted
    customers pay partly) is treated as written off on ``paid_date``. So an open invoice
    always carries its full ``amount`` and a partly paid one is not open any more.
Point in time
    Only what was known at ``as_of`` is used: invoices issued before ``as_of``, payments
    made before ``as_of`` (later payments count as "not paid yet") and defaults before
    ``as_of``.
Month-ends
    ``t_k = as_of - k`` calendar months. With ``as_of`` on the first of a month these are
    the month-ends of the previous months (start of day 1 = end of the day before).
Loss
    The part of a balance open at month-end ``t`` that is not collected within
    ``outcome_months`` (``W``) after ``t``: never paid by ``t + W``, or the shortfall of a
    partial payment made before ``t + W``. Cash received after ``t + W`` counts as a
    recovery of a written-off amount and does not reduce the historical loss. A month-end
    ``t`` is used for a loss outcome only when ``t + W <= as_of`` (its outcome is complete).
Write-off policy (:func:`write_off`)
    With ``write_off_days_past_due = D``, an invoice not settled ``D`` days after its due date is
    written off on that day for nothing (settled with ``paid_amount`` 0) before anything else is
    computed: it leaves the open book after that day, at ``as_of`` and at every historical
    month-end, and counts as lost in the loss rates (IFRS 9 5.4.4). See the ``write_off`` module.

Loss-rate methods (:func:`loss_rates`)
--------------------------------------
``"cohort"`` (vintage)
    Loss rate of bucket ``b`` = sum over month-ends of the balance in ``b`` not collected
    within ``W`` / sum of the balance in ``b`` (balance-weighted pooling).
``"roll_rate"``
    Each invoice in bucket ``b`` at ``t`` is followed to ``t + 1 month``: it was collected,
    partly collected (the shortfall goes straight to loss), is still in ``b`` ("stayed";
    e.g. not yet due, or a short month), or has moved on to a later bucket. Pooled over the
    month-ends, of the balance that *left* ``b``: ``d_b`` went straight to loss and
    ``f_b->c`` rolled to bucket ``c > b``. The roll rate of ``b`` is ``d_b + sum_c f_b->c``
    (share of the leaving balance not collected). The last bucket rolls to the loss state
    with the cohort loss rate of that bucket. Loss rates are chained backwards,
    ``L_b = d_b + sum_c f_b->c * L_c``; when balances only move to the next bucket and no
    partial payment happens this is the classical product of roll rates,
    ``L_b = r_b * r_b+1 * ... * L_last``. Bucket skips (a 31-day month can carry an invoice
    from 30 to 61 days past due) are thus handled exactly instead of being forced into the
    next bucket.

Roll transitions use the latest ``history_months`` month-ends ``t_1 .. t_H``; loss outcomes
use the latest ``history_months`` complete ones ``t_W .. t_(W+H-1)``.

No-loss floor (:func:`no_loss_floor`)
-------------------------------------
A bucket whose historical rate is 0 because the pooled history holds no loss for it (a ledger
without defaults or write-offs) would carry no provision. With ``no_loss_floor="pd_lgd"`` it is
priced instead at the balance-weighted 12-month PD x LGD of the customers whose receivables sit
in it today, or, without PDs, at the fixed ``no_loss_floor_rates``; the matrix's ``rate_basis``
says which rate each bucket is priced at. A bucket with any observed loss is never floored. See
the ``floor`` module for the exact rule.

Forward-looking adjustment
--------------------------
Macro scenarios ``{name: (weight, multiplier)}`` with weights summing to 1: the adjusted
rate is ``sum_s weight_s * min(1, multiplier_s * historical rate)`` (or the floor, where a
bucket is floored); a rate never exceeds 100 % in any scenario.

PD-based lifetime ECL (:func:`lifetime_ecl`)
--------------------------------------------
Receivables due within a year live only until they are collected or their customer defaults.
A default is dated when an invoice reaches 90 days past due, so a receivable due on ``d`` is
lost to any default dated up to ``d + 90`` days (its customer stopped paying on or before
``d``), even though it would have been collected at ``d`` + the collection delay: it is at risk
for ``h`` months, until the later of its expected collection and the day it reaches 90 days past
due (:func:`months_at_risk`). With a constant default hazard within the year,
``PD_lifetime = 1 - (1 - PD_12m) ** (h / 12)``. The loss is the cash not received at the
expected collection date ``t`` months away (:func:`expected_months_to_collection`), so it is
discounted over ``t`` at the annual rate: ``ECL = EAD * LGD * PD_lifetime * (1 + r) ** (-t / 12)``.
No new sales are assumed (the simplified approach covers the receivables on the books).

Errors are :class:`ProvisionInputError` (a :class:`ValueError`); messages name the table,
column or setting, the bad value and the fix.

Layout
------
The package holds one module per concern: ``settings`` (buckets, scenarios, the input
error), ``ledger`` (invoice checks and day arithmetic), ``ageing_table``, ``historical`` (cohort
and roll-rate loss rates), ``floor`` (the no-loss floor), ``write_off`` (the write-off policy and the
write-offs of a ledger), ``matrix`` (scenario adjustment and the provision matrix), ``lifetime``
(PD-based lifetime ECL, time to collection and at risk, expected-loss tables) and ``reconciliation`` (by
segment, and whether the PD-based measures agree with the matrix within a band).
Every public name is re-exported here, so ``from credit_lab.risk.provisions import X``
works as before the split.
"""

from __future__ import annotations

from credit_lab.risk.provisions.ageing_table import ageing, open_items
from credit_lab.risk.provisions.floor import FLOOR_PARAMS, FLOOR_PD_LGD, HISTORY, no_loss_floor
from credit_lab.risk.provisions.historical import LossRates, loss_in_default, loss_rates
from credit_lab.risk.provisions.lifetime import (
    DEFAULT_DAYS_PAST_DUE,
    ExpectedLossTables,
    collection_delay_days,
    expected_loss_table,
    expected_months_to_collection,
    lifetime_ecl,
    months_at_risk,
)
from credit_lab.risk.provisions.matrix import (
    ProvisionResult,
    adjust_for_scenarios,
    provision_from_ledger,
    provision_matrix,
)
from credit_lab.risk.provisions.reconciliation import (
    EL_12M,
    LIFETIME_ECL,
    MATRIX,
    ProvisionAgreement,
    provision_agreement,
    reconcile,
)
from credit_lab.risk.provisions.settings import (
    DEFAULT_BUCKET_EDGES,
    DEFAULT_NO_LOSS_FLOOR_RATES,
    TOTAL,
    ProvisionInputError,
    ProvisionSettings,
    bucket_labels,
)
from credit_lab.risk.provisions.write_off import WriteOffs, apply_write_off_policy, write_off

__all__ = [
    "DEFAULT_BUCKET_EDGES",
    "DEFAULT_DAYS_PAST_DUE",
    "DEFAULT_NO_LOSS_FLOOR_RATES",
    "EL_12M",
    "FLOOR_PARAMS",
    "FLOOR_PD_LGD",
    "HISTORY",
    "LIFETIME_ECL",
    "MATRIX",
    "TOTAL",
    "ExpectedLossTables",
    "LossRates",
    "ProvisionAgreement",
    "ProvisionInputError",
    "ProvisionResult",
    "ProvisionSettings",
    "WriteOffs",
    "adjust_for_scenarios",
    "ageing",
    "apply_write_off_policy",
    "bucket_labels",
    "collection_delay_days",
    "expected_loss_table",
    "expected_months_to_collection",
    "lifetime_ecl",
    "loss_in_default",
    "loss_rates",
    "months_at_risk",
    "no_loss_floor",
    "open_items",
    "provision_agreement",
    "provision_from_ledger",
    "provision_matrix",
    "reconcile",
    "write_off",
]
