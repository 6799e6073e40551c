"""Where the competition term's numbers come from: competitive intensity estimated from the ledger's limit cuts.

The limit optimizer (:mod:`credit_lab.limits.optimizer.competition`) takes, per industry, an intensity
``c`` with ``P(lose the relationship) = c x share of the need the limit leaves unmet``. A ledger with a
``limit_history`` table holds the evidence to estimate it: what customers did after their limit was
cut, against comparable customers who were not cut.

Method (:func:`competition_evidence`, settings ``limits.competition.ledger_estimate``):

1. A **cut** is a ``limit_history`` row whose limit is at least ``min_cut_share`` below the customer's
   previous row. Its month ``m`` is the calendar month of ``valid_from``; each customer counts once,
   at its first cut whose outcome window ends by the data cut (later cuts are *pending*).
2. At ``m``, the **population** of an industry is the customers onboarded at least ``lookback_months``
   before ``m``, with purchases in those months and no default before the outcome window ends (a
   default stops orders for reasons of its own). Its need over the payment terms, as the optimizer
   sizes it, is ``need = purchases in the lookback / lookback_months x payment_terms_days / 30.44``.
3. **Controls** are the population's customers not cut from ``lookback_months`` before ``m`` to the
   end of the outcome window, matched to the cut ones on the industry, the month and one of
   ``size_bands`` bands of trailing purchases (quantiles within the industry and month).
4. **Lost** = no invoice in the ``follow_up_months`` starting ``lag_months`` after ``m`` (orders already
   placed at the cut are filled).
5. Per industry, with ``s = max(0, 1 - new limit / need)`` the shortfall of each cut customer,

       intensity = (lost share of the cut - lost share of their matched controls) / mean s,

   since ``E[lost | cut] - E[lost | control] = c x E[s]`` when cuts are not chosen by what the customer was
   about to do anyway. The interval holds the central ``confidence`` of ``bootstrap_draws`` seeded draws of
   that ratio: the lost shares of the cut customers and of each size band's controls drawn from their Jeffreys
   posteriors ``Beta(lost + 1/2, kept + 1/2)`` (a resample of 0 lost out of 30 would give an interval of width
   0), the mean shortfall resampled over the cut customers. Estimate and interval
   are clipped to [0, 1] (a note says when); fewer than ``min_cut_customers`` cut customers with an outcome,
   or a mean shortfall under 0.05, is *not enough evidence* and the params' intensity stands.

Caveats the report repeats: a real ledger's cuts follow risk, so customers about to leave or fail may be cut
more often (the default exclusion and the size matching remove part of that, not all); the deterministic
shortfall ``1 - L / need`` ignores the month-to-month variation the optimizer's expected shortfall includes,
which makes the estimate somewhat high for volatile buyers; blocked orders are not on the ledger and are not
used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from credit_lab.core.competition_params import CompetitionParams, LedgerEstimateParams

__all__ = ["EVIDENCE_COLUMNS", "apply_ledger_estimate", "competition_evidence", "evidence_method", "limit_cuts"]

logger = logging.getLogger(__name__)

_DAYS_PER_MONTH = 365.25 / 12.0
#: below this mean shortfall the cuts left almost all of the need covered: the ratio says nothing
_MIN_MEAN_SHORTFALL = 0.05
#: bootstrap cells held in memory at once (draws x cut customers)
_CHUNK_CELLS = 4_000_000

EVIDENCE_COLUMNS = ("industry", "n_cut", "n_control", "lost_share_cut", "lost_share_control", "mean_shortfall",
                    "intensity", "low", "high", "params_intensity", "enough_evidence", "params_in_interval",
                    "verdict")


def evidence_method(settings: LedgerEstimateParams) -> str:
    """The method in one paragraph, with the settings filled in (for the report)."""
    level = f"{settings.confidence:.0%}"
    return (f"Cut = a limit lowered by at least {settings.min_cut_share:.0%}; each cut customer is compared with "
            f"uncut customers of its industry, month and size band ({settings.size_bands} bands of the "
            f"{settings.lookback_months} months' purchases before the cut). Lost = no order in the "
            f"{settings.follow_up_months} months from {settings.lag_months} month(s) after the cut. Intensity = "
            f"(lost share of the cut - of their controls) / mean shortfall, shortfall = 1 - new limit / need (need "
            f"= monthly purchases x payment terms in months); {level} interval from {settings.bootstrap_draws} "
            "draws (lost shares from their Jeffreys posteriors, shortfall resampled over customers); fewer than "
            f"{settings.min_cut_customers} cut customers: not enough evidence. Customers defaulting before the "
            "outcome is known are left out of both groups; cuts chosen for risk can still bias the estimate upwards.")


def limit_cuts(limit_history: pd.DataFrame, min_cut_share: float = 0.05) -> pd.DataFrame:
    """The limit cuts in a ``limit_history`` table: rows at least ``min_cut_share`` below the customer's previous row.

    Returns
    -------
    DataFrame
        ``customer_id``, ``cut_date``, ``limit_before``, ``limit_after``, one row per cut, by customer and date.

    Examples
    --------
    >>> h = pd.DataFrame({"customer_id": ["A", "A", "A", "B"], "limit": [100.0, 50.0, 80.0, 10.0],
    ...                   "valid_from": pd.to_datetime(["2024-01-01", "2024-06-01", "2024-09-01", "2024-01-01"])})
    >>> limit_cuts(h)[["customer_id", "limit_before", "limit_after"]].values.tolist()
    [['A', 100.0, 50.0]]
    """
    h = limit_history.sort_values(["customer_id", "valid_from"], kind="stable")
    ids = h["customer_id"].to_numpy()
    limit = h["limit"].to_numpy(dtype=float)
    same = np.zeros(len(h), dtype=bool)
    same[1:] = ids[1:] == ids[:-1]
    before = np.full(len(h), np.nan)
    before[1:] = limit[:-1]
    cut = same & (limit < before * (1.0 - float(min_cut_share)))
    return pd.DataFrame({"customer_id": ids[cut], "cut_date": pd.to_datetime(h["valid_from"]).to_numpy()[cut],
                         "limit_before": before[cut], "limit_after": limit[cut]})


def _month_index(dates: pd.Series | np.ndarray, base: pd.Timestamp) -> np.ndarray:
    d = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))
    return np.asarray((d.year - base.year) * 12 + (d.month - base.month), dtype=np.int64)


class _Ledger:
    """Invoices keyed (customer code, month) once, so window sums and counts are two binary searches each."""

    def __init__(self, invoices: pd.DataFrame, codes: pd.Index, base: pd.Timestamp, n_months: int) -> None:
        cust = codes.get_indexer(invoices["customer_id"])
        month = _month_index(invoices["invoice_date"], base)
        keep = cust >= 0
        self.width = n_months + 2
        key = cust[keep] * self.width + np.clip(month[keep], 0, self.width - 1)
        order = np.argsort(key, kind="stable")
        self.key = key[order]
        self.cum = np.concatenate([[0.0], np.cumsum(invoices["amount"].to_numpy(dtype=float)[keep][order])])

    def _at(self, cust: np.ndarray, month: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.key, cust * self.width + np.clip(month, 0, self.width - 1), side="left")

    def amount(self, cust: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Invoiced amount of each customer in months ``[start, stop)``."""
        return self.cum[self._at(cust, stop)] - self.cum[self._at(cust, start)]

    def count(self, cust: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Invoices of each customer in months ``[start, stop)``."""
        return self._at(cust, stop) - self._at(cust, start)


def _panel(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, s: LedgerEstimateParams
           ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Cut customers (one row each) and control cells (industry, month, band: customers, lost) at every cut month."""
    customers, invoices = tables["customers"], tables["invoices"]
    codes = pd.Index(customers["customer_id"])
    cuts = limit_cuts(tables["limit_history"], s.min_cut_share)
    notes: list[str] = []
    empty = (pd.DataFrame(columns=["industry", "month", "band", "lost", "shortfall"]),
             pd.DataFrame(columns=["industry", "month", "band", "customers", "lost"]))
    if not len(cuts) or not len(invoices):
        return *empty, notes
    base = pd.Timestamp(invoices["invoice_date"].min()).to_period("M").to_timestamp()
    last = (as_of.year - base.year) * 12 + (as_of.month - base.month)  # outcome windows end by the data cut
    cust_of_cut = codes.get_indexer(cuts["customer_id"])
    cut_month = _month_index(cuts["cut_date"], base)
    ends = cut_month + s.lag_months + s.follow_up_months
    observable = (cut_month >= s.lookback_months) & (ends <= last) & (cust_of_cut >= 0)
    pending = int(((ends > last) & (cust_of_cut >= 0)).sum())
    if pending:
        notes.append(f"{pending} limit cut(s) too recent for an outcome ({s.lag_months} + {s.follow_up_months} "
                     "months after the cut): not used")
    early = int(((cut_month < s.lookback_months) & (cust_of_cut >= 0)).sum())
    if early:
        notes.append(f"{early} limit cut(s) with less than {s.lookback_months} months of invoices before them: "
                     "not used")
    # each customer once, at its first cut with an outcome
    first = pd.Series(cut_month[observable]).groupby(cust_of_cut[observable]).min()
    if first.empty:
        return *empty, notes
    treated_month = np.full(len(codes), -1, dtype=np.int64)
    treated_month[first.index.to_numpy()] = first.to_numpy()
    # every cut keyed (customer, month), to tell which customers were cut near a month (no control then)
    span = last + 3
    known = cust_of_cut >= 0
    cut_key = np.sort(cust_of_cut[known] * span + np.clip(cut_month[known], -1, last + 1) + 1)
    new_limit = pd.Series(cuts["limit_after"].to_numpy()[observable]).groupby(
        [cust_of_cut[observable], cut_month[observable]]).min()

    book = _Ledger(invoices, codes, base, last)
    onboarded = _month_index(customers["onboarding_date"], base)
    # onboarded on the month's first day counts the month in full
    onboarded += (pd.to_datetime(customers["onboarding_date"]).dt.day.to_numpy() > 1).astype(np.int64)
    defaults = tables.get("defaults")
    default_month = np.full(len(codes), np.iinfo(np.int64).max)
    if defaults is not None and len(defaults):
        d_cust = codes.get_indexer(defaults["customer_id"])
        ok = d_cust >= 0
        np.minimum.at(default_month, d_cust[ok], _month_index(defaults["default_date"], base)[ok])
    industry = customers["industry"].astype("string").fillna("(none)").to_numpy(dtype=object)
    terms = customers["payment_terms_days"].to_numpy(dtype=float)
    everyone = np.arange(len(codes))
    treated_rows, control_cells = [], []
    for month in np.unique(first.to_numpy()):  # the months with cuts: a handful of vectorized passes
        start, stop = month - s.lookback_months, month + s.lag_months + s.follow_up_months
        trailing = book.amount(everyone, np.full(len(codes), start), np.full(len(codes), month))
        need = trailing / s.lookback_months * terms / _DAYS_PER_MONTH
        # lost before its outcome is known to a default, or too young for a full lookback: out of both groups
        population = (onboarded <= start) & (trailing > 0) & (need > 0) & (default_month >= stop)
        treated = population & (treated_month == month)
        # a cut in [start, stop): its need or its outcome is not an uncut customer's
        cut_nearby = (np.searchsorted(cut_key, everyone * span + stop + 1)
                      > np.searchsorted(cut_key, everyone * span + start + 1))
        control = population & ~treated & ~cut_nearby
        groups = pd.DataFrame({"industry": industry, "trailing": trailing})[treated | control]
        band = (groups.groupby("industry")["trailing"].rank(pct=True, method="first").to_numpy()
                * s.size_bands).astype(np.int64).clip(0, s.size_bands - 1)
        band_of = np.full(len(codes), -1, dtype=np.int64)
        band_of[groups.index.to_numpy()] = band
        lost = book.count(everyone, np.full(len(codes), month + s.lag_months), np.full(len(codes), stop)) == 0
        t = np.flatnonzero(treated)
        limit_after = new_limit.reindex(pd.MultiIndex.from_arrays([t, np.full(len(t), month)])).to_numpy()
        treated_rows.append(pd.DataFrame({
            "industry": industry[t], "month": month, "band": band_of[t], "lost": lost[t],
            "shortfall": np.clip(1.0 - limit_after / need[t], 0.0, 1.0)}))
        c = np.flatnonzero(control)
        control_cells.append(pd.DataFrame({"industry": industry[c], "month": month, "band": band_of[c],
                                           "lost": lost[c].astype(float)})
                             .groupby(["industry", "month", "band"], as_index=False)
                             .agg(customers=("lost", "size"), lost=("lost", "sum")))
    return pd.concat(treated_rows, ignore_index=True), pd.concat(control_cells, ignore_index=True), notes


def _draws(lost: np.ndarray, shortfall: np.ndarray, cell: np.ndarray, cell_n: np.ndarray, cell_lost: np.ndarray,
           draws: int, rng: np.random.Generator) -> np.ndarray:
    """The intensity in each of ``draws`` draws: the cut customers' lost share and each size band's control share
    from their Jeffreys posteriors ``Beta(lost + 1/2, kept + 1/2)`` (honest when few or none are lost, where
    resampling 0 of 30 lost gives an interval of width 0), the mean shortfall resampled over cut customers."""
    n = len(lost)
    k = float(lost.sum())
    weight = np.bincount(cell, minlength=len(cell_n)) / n  # the controls' share is matched to where the cuts are
    lost_share = rng.beta(k + 0.5, n - k + 0.5, size=draws)
    control = rng.beta(cell_lost[None, :] + 0.5, cell_n[None, :] - cell_lost[None, :] + 0.5,
                       size=(draws, len(cell_n))) @ weight
    mean_s = np.empty(draws)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for first in range(0, draws, chunk):
        b = min(chunk, draws - first)
        mean_s[first:first + b] = shortfall[rng.integers(0, n, size=(b, n))].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_s > 0, (lost_share - control) / mean_s, np.nan)


def _params_intensity(competition: CompetitionParams, industry: str) -> float:
    return float(competition.intensities().get(industry, competition.default_intensity))


def competition_evidence(tables: Mapping[str, pd.DataFrame], competition: CompetitionParams | None = None, *,
                         as_of=None, seed: int = 0) -> pd.DataFrame:
    """Per industry, the competitive intensity the ledger's limit cuts imply, with its interval (method: module doc).

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Validated ledger tables: ``customers`` (``customer_id``, ``industry``, ``onboarding_date``,
        ``payment_terms_days``), ``invoices`` (``customer_id``, ``invoice_date``, ``amount``),
        ``limit_history`` (``customer_id``, ``valid_from``, ``limit``), optional ``defaults``.
    competition : CompetitionParams, optional
        ``limits.competition``: the intensities the estimate is set beside and ``ledger_estimate``, the
        method's settings. Default: the shipped params.
    as_of : date-like, optional
        The data cut; outcome windows must end by it. Default: the first day of the month after the
        latest invoice.
    seed : int
        Seed of the interval's draws.

    Returns
    -------
    DataFrame
        One row per industry of the customers table, columns :data:`EVIDENCE_COLUMNS`: ``intensity``,
        ``low`` and ``high`` clipped to [0, 1] (NaN without enough evidence), shares in [0, 1]. ``attrs``
        holds ``method`` (a paragraph) and ``notes`` (cuts not used, clipping).

    Examples
    --------
    >>> from credit_lab.data.synthetic import generate_ledger
    >>> ledger = generate_ledger(n_customers=300, n_months=24, seed=1)
    >>> tables = {"customers": ledger.customers, "invoices": ledger.invoices,
    ...           "limit_history": ledger.customers[["customer_id", "onboarding_date", "credit_limit"]]
    ...           .set_axis(["customer_id", "valid_from", "limit"], axis=1)}
    >>> bool(competition_evidence(tables)["verdict"].str.startswith("not enough evidence").all())
    True
    """
    competition = competition or CompetitionParams()
    s = competition.ledger_estimate
    if "limit_history" not in tables:
        raise KeyError("competition_evidence needs tables['limit_history'] (customer_id, valid_from, limit)")
    invoices = tables["invoices"]
    if as_of is None:
        latest = pd.Timestamp(invoices["invoice_date"].max()) if len(invoices) else pd.Timestamp.today()
        as_of = latest.to_period("M").to_timestamp() + pd.DateOffset(months=1)
    treated, controls, notes = _panel(tables, pd.Timestamp(as_of), s)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 18]))
    alpha = 1.0 - s.confidence
    rows = []
    industries = sorted(tables["customers"]["industry"].astype("string").fillna("(none)").unique())
    for name in industries:
        params_value = _params_intensity(competition, name)
        cut = treated.loc[treated["industry"] == name]
        cells = controls.loc[controls["industry"] == name].set_index(["month", "band"])
        cell_of = cells.index.get_indexer(pd.MultiIndex.from_frame(cut[["month", "band"]])) if len(cut) else []
        cell_of = np.asarray(cell_of, dtype=np.int64)
        unmatched = int((cell_of < 0).sum())
        if unmatched:
            notes.append(f"{name}: {unmatched} cut customer(s) without an uncut customer of their size band: not used")
        cut = cut.loc[cell_of >= 0]
        cell_of = cell_of[cell_of >= 0]
        used = np.unique(cell_of)
        n_cut = len(cut)
        row = {"industry": name, "n_cut": n_cut, "n_control": int(cells["customers"].to_numpy()[used].sum()),
               "lost_share_cut": np.nan, "lost_share_control": np.nan, "mean_shortfall": np.nan, "intensity": np.nan,
               "low": np.nan, "high": np.nan, "params_intensity": params_value, "enough_evidence": False,
               "params_in_interval": pd.NA}
        if n_cut:
            cell_n = cells["customers"].to_numpy(dtype=float)
            cell_rate = cells["lost"].to_numpy(dtype=float) / cell_n
            lost = cut["lost"].to_numpy(dtype=float)
            shortfall = cut["shortfall"].to_numpy(dtype=float)
            row.update(lost_share_cut=lost.mean(), lost_share_control=cell_rate[cell_of].mean(),
                       mean_shortfall=shortfall.mean())
        if n_cut < s.min_cut_customers:
            row["verdict"] = (f"not enough evidence: {n_cut} cut customer(s) with an outcome, fewer than "
                              f"{s.min_cut_customers} (ledger_estimate.min_cut_customers); params' intensity "
                              f"{params_value:.2f} stands")
        elif row["mean_shortfall"] < _MIN_MEAN_SHORTFALL:
            row["verdict"] = (f"not enough evidence: the cuts left almost none of the need unmet (mean shortfall "
                              f"{row['mean_shortfall']:.3f}); params' intensity {params_value:.2f} stands")
        else:
            raw = (row["lost_share_cut"] - row["lost_share_control"]) / row["mean_shortfall"]
            boot = _draws(lost, shortfall, cell_of, cell_n, cells["lost"].to_numpy(dtype=float),
                          s.bootstrap_draws, rng)
            low, high = np.nanquantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
            if not 0.0 <= raw <= 1.0 or not (0.0 <= low and high <= 1.0):
                notes.append(f"{name}: estimate {raw:.2f} [{low:.2f}, {high:.2f}] clipped to [0, 1], the range of an "
                             "intensity")
            raw, low, high = (float(np.clip(v, 0.0, 1.0)) for v in (raw, low, high))
            inside = low <= params_value <= high
            where = ("lies in" if inside else "is below" if params_value < low else "is above")
            row.update(intensity=raw, low=low, high=high, enough_evidence=True, params_in_interval=inside,
                       verdict=f"params' intensity {params_value:.2f} {where} the interval [{low:.2f}, {high:.2f}]")
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))
    out["params_in_interval"] = out["params_in_interval"].astype("boolean")
    out.attrs["method"] = evidence_method(s)
    out.attrs["notes"] = notes
    return out


def apply_ledger_estimate(competition: CompetitionParams, evidence: pd.DataFrame | None
                          ) -> tuple[CompetitionParams, list[str]]:
    """``competition`` with each industry's intensity replaced by the ledger's estimate where it suffices.

    Only when ``competition.use_ledger_estimate``; otherwise, or without evidence, the params come back as
    they are. The notes say which industries took the estimate and which kept the params' value.
    """
    if not competition.use_ledger_estimate:
        return competition, []
    if evidence is None:
        return competition, ["Competition: limits.competition.use_ledger_estimate is true, but the ledger has no "
                             "limit_history table to estimate intensities from; the params' intensities are used."]
    enough = evidence.loc[evidence["enough_evidence"].astype(bool)]
    if enough.empty:
        return competition, ["Competition: limits.competition.use_ledger_estimate is true, but no industry has "
                             "enough limit cuts with an outcome to estimate its intensity; the params' intensities "
                             "are used."]
    intensities = {**competition.intensities(),
                   **{str(k): round(float(v), 4) for k, v in zip(enough["industry"], enough["intensity"])}}
    kept = sorted(set(evidence["industry"]) - set(enough["industry"]))
    replaced = ", ".join(f"{k} {_params_intensity(competition, k):.2f} -> {v:.2f}"
                         for k, v in zip(enough["industry"], enough["intensity"]))
    note = f"Competition: the ledger's estimate replaces the params' intensity for {replaced}"
    note += f"; params' intensity kept (not enough evidence) for {', '.join(kept)}." if kept else "."
    return competition.model_copy(update={"intensity_by_industry": intensities}), [note]
