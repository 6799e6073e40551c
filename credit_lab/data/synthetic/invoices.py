"""Invoices and payment behaviour (days beyond terms depend on quality, the cycle and an approaching default)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from credit_lab.data.synthetic.days import _numbered_ids, _stable_order, _take_text, _to_datetime
from credit_lab.data.synthetic.params import SynthParams


def _invoice_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    factor: np.ndarray,
    bounds: np.ndarray,
    n_months: int,
    customer_ids: pd.Series,
    write_off_days_past_due: int | None = None,
    recovery_rate: float | None = None,
    recovery_rng: np.random.Generator | None = None,
) -> pd.DataFrame:
    """Invoices and their payments inside the window.

    With ``recovery_rate`` (and ``recovery_rng``, its own stream), every invoice a defaulted
    customer has not settled at its default is settled by a recovery (:func:`_recoveries`) instead
    of the partial recoveries drawn from ``rng``; those are still drawn, so ``rng`` is consumed as
    without and only these invoices' settlements change.

    With ``write_off_days_past_due``, an invoice not settled that many days after its due date is
    written off on that day (inside the window): recorded as its settlement, ``paid_date`` the
    write-off day and ``paid_amount`` 0, so the shortfall ``amount - paid_amount`` is the amount
    written off. No random number is drawn for it, so the rest of the ledger is the same as without.
    """
    # Drawn in a function of its own: its dozens of per-invoice temporaries are freed before the
    # table is assembled (1.5 GB fewer at 10 million invoices).
    cols = dict(zip(("ci", "inv_day", "due_day", "amount", "paid_day", "paid_amount", "open_at_end", "disputed"),
                    _draw_invoices(rng, p, cust, factor, bounds, n_months, write_off_days_past_due, recovery_rate,
                                   recovery_rng)))
    m = len(cols["ci"])
    # By invoice date, then customer: the cells run customer by customer, so ``ci`` never decreases
    # and a stable sort on the date alone gives ``np.lexsort((ci, inv_day))``.
    order = _stable_order(cols["inv_day"])
    width_id = max(7, len(str(m)))

    def ordered(name: str) -> np.ndarray:
        # a gather as fancy indexing, without its per-element overhead; the generation-order array is
        # dropped once gathered, so at most one column exists twice
        return np.take(cols.pop(name), order)

    table = {"invoice_id": _numbered_ids("INV", np.arange(1, m + 1), width_id),
             "customer_id": _take_text(customer_ids, ordered("ci"))}
    table["invoice_date"] = _to_datetime(ordered("inv_day"))
    table["due_date"] = _to_datetime(ordered("due_day"))
    table["amount"] = ordered("amount")
    paid = ordered("paid_day").astype("datetime64[D]").astype("datetime64[ns]")
    table["paid_date"] = np.where(ordered("open_at_end"), np.datetime64("NaT", "ns"), paid)
    del paid
    table["paid_amount"] = ordered("paid_amount")
    table["disputed"] = ordered("disputed")
    # Every column is a fresh array: no copy, and no stacking of same-typed columns into one block.
    return pd.DataFrame(table, copy=False)


def _draw_invoices(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    factor: np.ndarray,
    bounds: np.ndarray,
    n_months: int,
    write_off_days_past_due: int | None,
    recovery_rate: float | None,
    recovery_rng: np.random.Generator | None,
) -> tuple[np.ndarray, ...]:
    """The invoices in generation order (customer by customer): customer row, invoice and due day,
    amount, settlement day (``int64`` minimum while open) and amount, open at the end, disputed."""
    n = len(cust)
    end_day = int(bounds[n_months])
    onb = cust["onb_day"].to_numpy()
    dday = cust["default_day"].to_numpy()
    stop = np.where(dday >= 0, np.minimum(dday, end_day), end_day)

    # Customer-month cells; activity is prorated for partial months.
    lo = np.maximum(bounds[None, :n_months], onb[:, None])
    hi = np.minimum(bounds[None, 1 : n_months + 1], stop[:, None])
    width = np.maximum(hi - lo, 0)
    month_len = np.diff(bounds[: n_months + 1])[None, :]
    lam = cust["rate"].to_numpy()[:, None] * width / month_len
    counts = rng.poisson(lam).ravel()
    cell = np.repeat(np.arange(n * n_months), counts)
    ci = cell // n_months
    month = cell % n_months
    m = len(cell)
    inv_day = lo.ravel()[cell] + np.floor(rng.random(m) * width.ravel()[cell]).astype(np.int64)
    del cell
    # Each per-invoice quantity is built when needed and dropped after its last use: at 100 million
    # invoices every such array holds 800 MB. The draws are the same, in the same order.
    due_day = inv_day + cust["terms"].to_numpy()[ci]

    rate = cust["rate"].to_numpy()[ci]
    mean_amount = cust["yearly_purchases"].to_numpy()[ci] / 12.0 / rate
    del rate
    amount = mean_amount * np.exp(p.amount_log_sd * rng.standard_normal(m) - 0.5 * p.amount_log_sd**2)
    del mean_amount
    amount = np.maximum(np.round(amount, 2), 10.0)

    # Pre-default deterioration, measured from the invoice date.
    cd = dday[ci]
    to_default = np.where(cd >= 0, cd - inv_day, np.inf)
    ramp_frac = np.clip(1.0 - to_default / cust["ramp_days"].to_numpy()[ci], 0.0, 1.0)
    del to_default

    y = factor[cust["industry"].to_numpy()[ci], month]
    del month
    on_time = rng.random(m) < cust["on_time_prob"].to_numpy()[ci] * (1.0 - ramp_frac)
    habitual = (
        cust["habit"].to_numpy()[ci]
        - p.cycle_late_days * y
        + p.invoice_noise_days * rng.standard_normal(m)
        + (rng.random(m) < p.late_shock_prob) * rng.exponential(p.late_shock_mean_days, m)
    )
    del y
    late = np.where(on_time, rng.normal(-1.0, 2.0, m), habitual)
    del on_time, habitual
    late += p.ramp_max_days * ramp_frac**p.ramp_power

    logit_d = special.logit(p.dispute_base_prob) - p.dispute_z * cust["z"].to_numpy()[ci] + p.dispute_ramp * ramp_frac
    del ramp_frac
    disputed = rng.random(m) < special.expit(logit_d)
    del logit_d
    late += disputed * rng.uniform(10.0, 60.0, m)
    paid_day = np.maximum(due_day + np.round(late).astype(np.int64), inv_day)
    del late
    paid_amount = amount.copy()

    # Invoices due within 90 days (+ jitter) before a default are what trip
    # the 90-days-past-due event: mostly never paid, some partly recovered.
    near = (cd >= 0) & (due_day >= cd - 90 - rng.integers(0, 21, m))
    unpaid = near & (rng.random(m) < p.unpaid_prob)
    del near
    partial = unpaid & (rng.random(m) < p.partial_recovery_prob)
    paid_day = np.where(partial, np.maximum(cd, inv_day) + rng.integers(15, 240, m), paid_day)
    paid_amount = np.where(partial, np.round(amount * rng.uniform(0.1, 0.7, m), 2), paid_amount)
    never = (unpaid & ~partial) | (disputed & (rng.random(m) < 0.03))
    if recovery_rate:  # None or 0: the partial recoveries above, as before recoveries existed
        if recovery_rng is None:
            raise ValueError("recovery_rate needs recovery_rng, the recoveries' own random stream")
        recovered, recovery_day, recovered_amount = _recoveries(
            recovery_rng, p, recovery_rate, cd, due_day, amount, paid_day, never, write_off_days_past_due)
        paid_day = np.where(recovered, recovery_day, paid_day)
        paid_amount = np.where(recovered, recovered_amount, paid_amount)
        never = never & ~recovered
    if write_off_days_past_due is not None:
        # Written off: not settled by its write-off day, which falls inside the window. Cash the
        # customer would pay later is a recovery outside the receivables ledger.
        write_off_day = due_day + int(write_off_days_past_due)
        written_off = (never | (paid_day > write_off_day)) & (write_off_day < end_day)
        never = never & ~written_off
        paid_day = np.where(written_off, write_off_day, paid_day)
        paid_amount = np.where(written_off, 0.0, paid_amount)
    open_at_end = never | (paid_day >= end_day)
    paid_day = np.where(open_at_end, np.iinfo(np.int64).min, paid_day)
    paid_amount = np.where(open_at_end, np.nan, paid_amount)
    return ci, inv_day, due_day, amount, paid_day, paid_amount, open_at_end, disputed


_DAYS_PER_MONTH = 365.25 / 12.0


def _recoveries(
    rng: np.random.Generator,
    p: SynthParams,
    recovery_rate: float,
    default_day: np.ndarray,
    due_day: np.ndarray,
    amount: np.ndarray,
    paid_day: np.ndarray,
    never: np.ndarray,
    write_off_days_past_due: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a defaulted customer pays on the invoices it had not settled when it defaulted.

    Each such invoice (issued before the default, as every invoice of the customer is, and not
    settled by the default day) is settled by one recovery: a share of its amount drawn from a Beta
    with mean ``recovery_rate`` and ``a + b = p.recovery_concentration``, paid a uniform
    ``p.recovery_months`` after the default and, under a write-off policy, at the latest the day
    before the invoice's write-off day (an invoice whose write-off day comes within a day of the
    default is not recovered: the policy writes it off). The shortfall is the loss, so the ledger
    loses about ``1 - recovery_rate`` of what a defaulted customer owes at its default, the quantity
    an LGD stands for. The share and the delay are drawn for every invoice, recovered or not, so
    the stream does not depend on which are.

    Returns
    -------
    recovered : bool array
    recovery_day : int array
        Day numbers of the recoveries (meaningful where ``recovered``).
    recovered_amount : float array
        Currency, rounded to cents (meaningful where ``recovered``).
    """
    if not 0.0 < recovery_rate < 1.0:
        raise ValueError(f"recovery_rate must be in (0, 1); got {recovery_rate!r}")
    kappa = float(p.recovery_concentration)
    lo, hi = (float(x) for x in p.recovery_months)
    if not kappa > 0.0:
        raise ValueError(f"SynthParams.recovery_concentration must be > 0; got {kappa!r}")
    if not 0.0 < lo <= hi:
        raise ValueError(f"SynthParams.recovery_months must be (low, high) months with 0 < low <= high; "
                         f"got {p.recovery_months!r}")
    m = len(amount)
    share = rng.beta(recovery_rate * kappa, (1.0 - recovery_rate) * kappa, m)
    delay = np.maximum(np.round(rng.uniform(lo, hi, m) * _DAYS_PER_MONTH).astype(np.int64), 1)
    recovery_day = default_day + delay
    recovered = (default_day >= 0) & (never | (paid_day > default_day))
    if write_off_days_past_due is not None:
        last_day = due_day + int(write_off_days_past_due) - 1
        recovery_day = np.minimum(recovery_day, last_day)
        recovered &= last_day > default_day
    return recovered, recovery_day, np.round(amount * np.clip(share, 0.0, 1.0), 2)
