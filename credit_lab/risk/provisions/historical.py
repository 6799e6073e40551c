"""Historical loss rates per bucket, by cohort (vintage) or by roll rates; see the package docstring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.risk.provisions.ledger import _NEVER, _as_date, _bucket_of, _day, _days, _Ledger, _ledger, _lookup_by_id
from credit_lab.risk.provisions.settings import ProvisionInputError, ProvisionSettings
from credit_lab.risk.provisions.write_off import apply_write_off_policy


@dataclass(frozen=True, eq=False)
class LossRates:
    """Historical loss rates per bucket and the month-end observations behind them.

    Attributes
    ----------
    method : str
        ``"roll_rate"`` or ``"cohort"``.
    rates : DataFrame
        Index ``bucket``. ``loss_rate`` (fraction of the bucket's balance lost),
        ``observed_balance`` (currency, the pooled denominator), ``months`` (month-ends
        pooled) and, for the roll-rate method, ``roll_rate`` (share of the balance leaving
        the bucket that is not collected; the last bucket's roll into loss is its loss rate),
        ``direct_loss_share`` (``d_b``) and one ``to_<bucket>`` column per later bucket
        (``f_b->c``).
    observations : DataFrame
        One row per month-end, bucket and kind: ``kind = "roll"`` (one-month transition,
        columns ``balance``, ``collected``, ``lost_on_settlement``, ``stayed``, ``rolled``,
        ``rate`` = roll rate) or ``kind = "outcome"`` (``balance``, ``collected`` within
        the outcome window, ``uncollected``, ``rate`` = loss rate). With ``defaults``
        given, ``balance_defaulted`` is the part of ``balance`` owed by customers already
        in default at the month-end. Currency amounts.
    as_of : Timestamp
        The date the rates are measured at.
    settings : ProvisionSettings
        The settings used.
    """

    method: str
    rates: pd.DataFrame
    observations: pd.DataFrame
    as_of: pd.Timestamp
    settings: ProvisionSettings

    @property
    def loss_rate(self) -> pd.Series:
        """The loss rate per bucket (fraction)."""
        return self.rates["loss_rate"]


def _month_end(as_of: pd.Timestamp, k: int) -> pd.Timestamp:
    return as_of - pd.DateOffset(months=k)


def _defaulted_since(defaults: pd.DataFrame | None, led: _Ledger, as_of: pd.Timestamp) -> np.ndarray | None:
    """Per invoice, the day its customer defaulted (known at ``as_of``), else ``_NEVER``."""
    if defaults is None:
        return None
    if not isinstance(defaults, pd.DataFrame) or not {"customer_id", "default_date"} <= set(defaults.columns):
        raise ProvisionInputError("defaults must be a DataFrame with columns customer_id and default_date")
    if not pd.api.types.is_datetime64_any_dtype(defaults["default_date"]):
        raise ProvisionInputError(f"defaults.default_date has dtype {defaults['default_date'].dtype}; convert it "
                                  "with pd.to_datetime")
    d = defaults.loc[defaults["default_date"] < as_of]
    first = d.groupby("customer_id")["default_date"].min()
    day = pd.Series(_days(first), index=first.index)
    return _lookup_by_id(led.frame["customer_id"], day, _NEVER)


def _observe(led: _Ledger, t: pd.Timestamp, edges: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    day = _day(t)
    is_open = (led.issued < day) & (led.paid >= day)
    idx = np.flatnonzero(is_open)
    return idx, _bucket_of(day - led.due[idx], edges)


def _check_history(led: _Ledger, as_of: pd.Timestamp, settings: ProvisionSettings) -> None:
    if len(led.issued) == 0:
        raise ProvisionInputError(f"invoices has no invoice issued before as_of = {as_of.date()}; "
                                  "loss rates need history")
    reach = settings.outcome_months + settings.history_months - 1
    earliest = _month_end(as_of, reach)
    first = pd.Timestamp(np.datetime64(int(led.issued.min()), "D"))
    if earliest <= first:
        room = 0
        while _month_end(as_of, settings.outcome_months + room) > first:
            room += 1
        raise ProvisionInputError(
            f"history_months = {settings.history_months} with outcome_months = {settings.outcome_months} reaches "
            f"back to {earliest.date()}, not after the first invoice in the ledger ({first.date()}); use "
            f"history_months <= {room}" + ("" if room else " (none fits: lower outcome_months or move as_of later)"))


def loss_rates(invoices: pd.DataFrame, as_of: Any, settings: ProvisionSettings | None = None,
               defaults: pd.DataFrame | None = None) -> LossRates:
    """Historical loss rate per days-past-due bucket, from the ledger's own history.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger (see :func:`open_items`); only what was known at ``as_of`` is
        used.
    as_of : date
        Measurement date; no information after it is used.
    settings : ProvisionSettings, optional
        Buckets, ``method`` (``"roll_rate"`` or ``"cohort"``), ``history_months``,
        ``outcome_months`` and the write-off policy (a written-off invoice leaves the balances
        after its write-off day and counts as lost); see the module docstring for the definitions.
    defaults : DataFrame, optional
        ``customer_id``, ``default_date``. Only used to report, per observation, the part of
        the balance owed by customers already in default (``balance_defaulted``); it does
        not change the rates (the loss definition rests on cash collected).

    Returns
    -------
    LossRates
        Rates per bucket and the per-month observations.

    Raises
    ------
    ProvisionInputError
        If the history does not reach back far enough, or a bucket never had a balance
        leave it (roll rate) or never had a balance (cohort) in the pooled month-ends.

    Examples
    --------
    One invoice of 100 due on 1 Feb 2024 that passes through every bucket and is settled
    with 50 on 1 Jul 2024: half of every balance it ever was is lost.

    >>> inv = pd.DataFrame({"invoice_id": ["I1"], "customer_id": ["C1"],
    ...     "invoice_date": pd.to_datetime(["2024-01-02"]), "due_date": pd.to_datetime(["2024-02-01"]),
    ...     "paid_date": pd.to_datetime(["2024-07-01"]), "amount": [100.0], "paid_amount": [50.0],
    ...     "disputed": [False]})
    >>> s = ProvisionSettings(method="cohort", history_months=6, outcome_months=12)
    >>> loss_rates(inv, "2025-07-01", s).loss_rate.tolist()
    [0.5, 0.5, 0.5, 0.5, 0.5]
    """
    settings = settings or ProvisionSettings()
    as_of = _as_date(as_of, "as_of")
    invoices = apply_write_off_policy(invoices, as_of, settings.write_off_days_past_due)
    led = _ledger(invoices, as_of)
    _check_history(led, as_of, settings)
    default_day = _defaulted_since(defaults, led, as_of)
    edges, labels = settings.bucket_edges, settings.buckets
    nb, H, W = len(labels), settings.history_months, settings.outcome_months

    rows: list[dict] = []

    def base_row(t: pd.Timestamp, kind: str, b: int, sel: np.ndarray, bal_idx: np.ndarray) -> dict:
        row = {"month_end": t, "bucket": labels[b], "kind": kind, "balance": float(led.amount[bal_idx][sel].sum())}
        if default_day is not None:
            defaulted = default_day[bal_idx][sel] < _day(t)
            row["balance_defaulted"] = float(led.amount[bal_idx][sel][defaulted].sum())
        return row

    # outcome observations: every bucket for the cohort method, the last one for roll rates
    outcome_buckets = range(nb) if settings.method == "cohort" else [nb - 1]
    for k in range(W, W + H):
        t = _month_end(as_of, k)
        horizon = _day(t + pd.DateOffset(months=W))
        idx, b = _observe(led, t, edges)
        collected = np.where(led.paid[idx] < horizon, led.paid_amount[idx], 0.0)
        for j in outcome_buckets:
            sel = b == j
            row = base_row(t, "outcome", j, sel, idx)
            row["collected"] = float(collected[sel].sum())
            row["uncollected"] = row["balance"] - row["collected"]
            rows.append(row)

    roll_to = np.zeros((nb, nb))
    if settings.method == "roll_rate":
        for k in range(1, H + 1):
            t = _month_end(as_of, k)
            nxt = _day(_month_end(as_of, k - 1))
            idx, b = _observe(led, t, edges)
            amt = led.amount[idx]
            settled = led.paid[idx] < nxt
            b_next = _bucket_of(nxt - led.due[idx], edges)
            collected = np.where(settled, led.paid_amount[idx], 0.0)
            lost = np.where(settled, amt - led.paid_amount[idx], 0.0)
            stayed = ~settled & (b_next == b)
            rolled = ~settled & (b_next > b)
            np.add.at(roll_to, (b[rolled], b_next[rolled]), amt[rolled])
            for j in range(nb - 1):
                sel = b == j
                row = base_row(t, "roll", j, sel, idx)
                row.update(collected=float(collected[sel].sum()), lost_on_settlement=float(lost[sel].sum()),
                           stayed=float(amt[sel & stayed].sum()), rolled=float(amt[sel & rolled].sum()))
                rows.append(row)

    obs = pd.DataFrame(rows)
    roll = obs["kind"] == "roll"
    leaving = obs["balance"] - obs["stayed"] if "stayed" in obs else None
    obs["rate"] = np.nan
    if roll.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            obs.loc[roll, "rate"] = ((obs["lost_on_settlement"] + obs["rolled"]) / leaving)[roll]
    out_rows = obs["kind"] == "outcome"
    with np.errstate(invalid="ignore", divide="ignore"):
        obs.loc[out_rows, "rate"] = (obs["uncollected"] / obs["balance"])[out_rows]

    rates = pd.DataFrame(index=pd.Index(list(labels), name="bucket"))
    outcome = obs.loc[out_rows].groupby("bucket", sort=False)[["balance", "uncollected"]].sum()
    outcome_months = obs.loc[out_rows].groupby("bucket", sort=False).size()
    if settings.method == "cohort":
        empty = [lab for lab in labels if outcome.loc[lab, "balance"] <= 0]
        if empty:
            raise ProvisionInputError(
                f"bucket(s) {empty} had no balance at any of the {H} month-ends used, so no loss rate can be "
                "measured; raise history_months or merge those buckets (bucket_edges)")
        rates["observed_balance"] = outcome["balance"].reindex(labels)
        rates["loss_rate"] = (outcome["uncollected"] / outcome["balance"]).reindex(labels)
        rates["months"] = outcome_months.reindex(labels).astype(int)
    else:
        last = labels[-1]
        if outcome.loc[last, "balance"] <= 0:
            raise ProvisionInputError(
                f"bucket {last!r} had no balance at any of the {H} month-ends with a complete outcome, so the roll "
                "into loss cannot be measured; raise history_months or lower the last bucket edge")
        r = obs.loc[roll].groupby("bucket", sort=False)[["balance", "stayed", "lost_on_settlement", "rolled"]].sum()
        r = r.reindex(labels[:-1])
        leave = r["balance"] - r["stayed"]
        empty = [lab for lab in labels[:-1] if not leave.loc[lab] > 0]
        if empty:
            raise ProvisionInputError(
                f"no balance left bucket(s) {empty} in the {H} months observed, so their roll rate is unknown; "
                "raise history_months or merge those buckets (bucket_edges)")
        direct = (r["lost_on_settlement"] / leave).to_numpy()
        flows = roll_to[: nb - 1] / leave.to_numpy()[:, None]
        loss = np.zeros(nb)
        loss[-1] = outcome.loc[last, "uncollected"] / outcome.loc[last, "balance"]
        for j in range(nb - 2, -1, -1):
            loss[j] = direct[j] + flows[j, j + 1:] @ loss[j + 1:]
        rates["observed_balance"] = np.append(leave.to_numpy(), outcome.loc[last, "balance"])
        rates["roll_rate"] = np.append(((r["lost_on_settlement"] + r["rolled"]) / leave).to_numpy(), loss[-1])
        rates["direct_loss_share"] = np.append(direct, np.nan)
        for c in range(1, nb):
            rates[f"to_{labels[c]}"] = np.append(flows[:, c], np.nan)
        rates["loss_rate"] = loss
        rates["months"] = [H] * (nb - 1) + [int(outcome_months.loc[last])]
    return LossRates(method=settings.method, rates=rates, observations=obs, as_of=as_of, settings=settings)


def loss_in_default(invoices: pd.DataFrame, as_of: Any, defaults: pd.DataFrame,
                    settings: ProvisionSettings | None = None) -> float:
    """Share of what customers already in default owed at a month-end that was never collected.

    The ledger's own loss given default on receivables, to set against the LGD the PD-based ECL
    uses for customers in default: over the month-ends whose outcome the loss rates use
    (``t_W .. t_(W+H-1)``), the balance open at ``t`` owed by customers whose first default is
    before ``t``, and the part of it not collected within ``outcome_months`` (the loss definition
    of the loss rates), pooled balance-weighted, under the write-off policy of ``settings``.

    Parameters
    ----------
    invoices : DataFrame
        The invoice ledger.
    as_of : date
        Measurement date; no information after it is used.
    defaults : DataFrame
        ``customer_id``, ``default_date``.
    settings : ProvisionSettings, optional
        ``history_months``, ``outcome_months`` and the write-off policy.

    Returns
    -------
    float
        Fraction; NaN when no customer in default owed anything at those month-ends.

    Examples
    --------
    C1 defaults on 1 Jan 2024 owing I1 (100, never paid) and I2 (50, settled with 20 on 1 Mar 2024).
    Of the month-ends 1 Jan .. 1 Jun 2024, those after the default hold I1 five times and I2 twice:
    (5 x 100 + 2 x 30) / (5 x 100 + 2 x 50).

    >>> inv = pd.DataFrame({"invoice_id": ["I1", "I2"], "customer_id": ["C1", "C1"],
    ...     "invoice_date": pd.to_datetime(["2023-11-01", "2023-11-15"]),
    ...     "due_date": pd.to_datetime(["2023-12-01", "2023-12-15"]),
    ...     "paid_date": pd.to_datetime([None, "2024-03-01"]), "amount": [100.0, 50.0],
    ...     "paid_amount": [np.nan, 20.0], "disputed": [False, False]})
    >>> d = pd.DataFrame({"customer_id": ["C1"], "default_date": pd.to_datetime(["2024-01-01"])})
    >>> round(loss_in_default(inv, "2025-06-01", d, ProvisionSettings(history_months=6)), 4)
    0.9333
    """
    settings = settings or ProvisionSettings()
    as_of = _as_date(as_of, "as_of")
    invoices = apply_write_off_policy(invoices, as_of, settings.write_off_days_past_due)
    led = _ledger(invoices, as_of)
    if defaults is None:
        raise ProvisionInputError("defaults is required: the loss in default needs the customers' default dates")
    default_day = _defaulted_since(defaults, led, as_of)
    balance = uncollected = 0.0
    for k in range(settings.outcome_months, settings.outcome_months + settings.history_months):
        t = _month_end(as_of, k)
        day, horizon = _day(t), _day(t + pd.DateOffset(months=settings.outcome_months))
        owed = (led.issued < day) & (led.paid >= day) & (default_day < day)
        collected = np.where(led.paid[owed] < horizon, led.paid_amount[owed], 0.0)
        balance += float(led.amount[owed].sum())
        uncollected += float((led.amount[owed] - collected).sum())
    return uncollected / balance if balance > 0 else float("nan")
