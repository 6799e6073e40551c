"""The central tendency of calibrated PDs: the long-run default rate and the rule that re-anchors to it.

A PD model calibrated on a held-out sample reproduces that sample's default rate: Platt scaling
and isotonic regression both make the mean PD equal the observed rate of the rows they are fitted
on. That sample is a few thousand customers drawn from the development window, so its rate is one
draw; the *long-run default rate* is what the PDs should average to over the cycle (Basel: the
long-run average of one-year default rates).

:func:`long_run_default_rate` measures it on the development cohorts: each development snapshot is
a cohort of customers followed for the label horizon (12 months), and the rate is the arithmetic
mean of the cohorts' one-year default rates, over every labelled row of every development snapshot
(fit and calibration customers alike). The out-of-time snapshot never enters it: it stays for
validation. Its uncertainty counts each default once: cohorts spaced closer than the horizon share
outcome months, so only the rows of the cohorts whose outcome windows do not overlap
(:func:`credit_lab.models.expert.annual_cohorts`) count as independent.

:func:`anchor_central_tendency` applies ``model.central_tendency``: ``auto`` shifts the calibrated
PDs in log-odds to the long-run rate when the calibration sample's mean PD lies outside the
two-sided 95% binomial interval of that rate (exact binomial quantiles of ``n`` independent rows
at the long-run rate, divided by ``n``), and leaves them alone inside it, where the difference is
within the sampling noise of the rate itself; a number forces that target; ``None`` switches the
shift off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom

from credit_lab.models.calibration_map import central_tendency_adjustment
from credit_lab.models.expert import annual_cohorts
from credit_lab.models.validation_inputs import ValidationInputError, _outcomes, _probabilities

__all__ = ["BAND_CONFIDENCE", "CentralTendency", "LongRunRate", "anchor_central_tendency", "long_run_default_rate"]

logger = logging.getLogger(__name__)

BAND_CONFIDENCE = 0.95
"""Two-sided confidence of the band inside which ``auto`` leaves the calibrated PDs alone."""

_POOLED = "all rows"


@dataclass(frozen=True)
class LongRunRate:
    """The long-run default rate of the development cohorts and how many independent rows it rests on.

    Attributes
    ----------
    rate : arithmetic mean of the cohorts' default rates.
    independent_rows : rows of the cohorts whose outcome windows do not overlap (the binomial ``n``).
    cohorts : one row per cohort (index ``cohort``: the snapshot date, or ``"all rows"`` without
        snapshots): ``rows``, ``defaults``, ``default_rate`` and ``independent`` (counted in ``n``).
    basis : which rows, in words (for the report).
    """

    rate: float
    independent_rows: int
    cohorts: pd.DataFrame = field(repr=False)
    basis: str = "the development cohorts"

    def band(self, confidence: float = BAND_CONFIDENCE) -> tuple[float, float]:
        """Two-sided interval of the default rate ``independent_rows`` rows show at the long-run rate.

        Exact binomial quantiles: ``[ppf((1-c)/2), ppf((1+c)/2)] / n`` of ``Binomial(n, rate)``; e.g.
        ``n = 100`` at 5% gives ``[0.01, 0.10]``.
        """
        n = self.independent_rows
        tail = (1.0 - confidence) / 2.0
        return float(binom.ppf(tail, n, self.rate) / n), float(binom.ppf(1.0 - tail, n, self.rate) / n)


def long_run_default_rate(outcome: Any, cohort: Any = None, horizon_months: int = 12,
                          basis: str = "the development cohorts") -> LongRunRate:
    """The long-run default rate: the mean of the one-year default rates of the cohorts.

    Parameters
    ----------
    outcome : array-like of 0/1, one per labelled row of the development window (fit and
        calibration customers; never the out-of-time rows).
    cohort : array-like of snapshot dates, one per row; None (or all missing) pools every row into
        one cohort (a customer table without snapshots).
    horizon_months : the label horizon; cohorts closer than this share outcome months, so only the
        cohorts at least this far apart (counting back from the latest) give independent rows.
    basis : which rows these are, in words.

    Returns
    -------
    LongRunRate

    Examples
    --------
    >>> lr = long_run_default_rate([1, 0, 0, 0, 1, 1, 0, 0], ["2024-01-01"] * 4 + ["2025-01-01"] * 4)
    >>> lr.rate, lr.independent_rows   # (1/4 + 2/4) / 2; cohorts 12 months apart: both independent
    (0.375, 8)
    """
    y = _outcomes(outcome, "outcome")
    dates = pd.Series(pd.NaT if cohort is None else pd.to_datetime(np.asarray(cohort)), index=range(len(y)))
    if len(dates) != len(y):
        raise ValidationInputError(f"cohort has {len(dates)} values for {len(y)} outcomes; give one snapshot per row")
    if dates.isna().all():
        dates = pd.Series(_POOLED, index=dates.index)
    elif dates.isna().any():
        raise ValidationInputError(f"cohort: {int(dates.isna().sum())} row(s) have no snapshot date; every labelled "
                                   "development row belongs to a snapshot (or pass cohort=None to pool them)")
    cohorts = (pd.DataFrame({"cohort": dates.to_numpy(), "default": y})
               .groupby("cohort")["default"].agg(rows="size", defaults="sum"))
    cohorts["default_rate"] = cohorts["defaults"] / cohorts["rows"]
    if cohorts.index[0] == _POOLED:
        cohorts["independent"] = True
    else:
        kept = annual_cohorts(cohorts.rename_axis("snapshot_date").reset_index(), horizon_months)["snapshot_date"]
        cohorts["independent"] = cohorts.index.isin(kept)
    return LongRunRate(rate=float(cohorts["default_rate"].mean()),
                       independent_rows=int(cohorts.loc[cohorts["independent"], "rows"].sum()),
                       cohorts=cohorts, basis=basis)


@dataclass(frozen=True)
class CentralTendency:
    """What ``model.central_tendency`` did to one calibration: the rule, the numbers and why.

    Attributes
    ----------
    setting : ``"auto"``, ``"fixed"`` (a number in the params) or ``"off"`` (null).
    mean_pd_before, mean_pd_after : mean calibrated PD over the calibration sample before and after
        the shift (equal when nothing was shifted).
    applied : whether the PDs were shifted.
    target : the mean PD they were shifted to (None when not shifted).
    shift : the log-odds shift (0 when not shifted).
    reason : why, in one sentence with the numbers.
    long_run : the long-run default rate (None when none was measured).
    band : the two-sided 95% binomial interval of the long-run rate (``auto`` only).
    """

    setting: str
    mean_pd_before: float
    mean_pd_after: float
    applied: bool
    reason: str
    target: float | None = None
    shift: float = 0.0
    long_run: LongRunRate | None = None
    band: tuple[float, float] | None = None

    def summary(self) -> dict[str, Any]:
        """The decision as plain JSON-able values (the model card's ``calibration`` entry)."""
        lr = self.long_run
        return {
            "setting": self.setting, "applied": self.applied, "reason": self.reason, "target": self.target,
            "shift": self.shift, "mean_pd_before": self.mean_pd_before, "mean_pd_after": self.mean_pd_after,
            "long_run_rate": None if lr is None else lr.rate,
            "independent_rows": None if lr is None else lr.independent_rows,
            "band": None if self.band is None else list(self.band),
            "long_run_basis": None if lr is None else lr.basis,
            "cohorts": [] if lr is None else [
                {"cohort": str(k.date()) if isinstance(k, pd.Timestamp) else str(k), "rows": int(r.rows),
                 "defaults": int(r.defaults), "default_rate": float(r.default_rate),
                 "independent": bool(r.independent)} for k, r in lr.cohorts.iterrows()],
        }


def _pct(x: float) -> str:
    return f"{x:.2%}"


def anchor_central_tendency(pd_: Any, setting: float | str | None, long_run: LongRunRate | None = None,
                            confidence: float = BAND_CONFIDENCE) -> CentralTendency:
    """Decide whether to shift calibrated PDs to the long-run rate, and the shift.

    Parameters
    ----------
    pd_ : array-like of PDs: the calibration map's PDs over the calibration sample, before any shift.
    setting : ``model.central_tendency``: ``"auto"`` (the rule above, needs ``long_run``), a number
        in (0, 1) (always shifted to it) or None (never shifted).
    long_run : the long-run default rate of the development cohorts.
    confidence : two-sided confidence of the band (``auto``).

    Returns
    -------
    CentralTendency
        With ``shift`` the log-odds shift of :func:`~credit_lab.models.calibration_map.central_tendency_adjustment`
        that makes the mean of ``pd_`` equal ``target`` (to its 1e-12 tolerance), 0 when not shifted.
    """
    p = _probabilities(pd_, "pd")
    before = float(p.mean())
    if setting is None:
        return CentralTendency("off", before, before, False, "model.central_tendency = null: the calibrated PDs are "
                               "not re-anchored", long_run=long_run)
    if isinstance(setting, str):
        if setting != "auto":
            raise ValidationInputError(f"central_tendency must be 'auto', a rate in (0, 1) or None; got {setting!r}")
        if long_run is None:
            raise ValidationInputError("central_tendency='auto' needs the long-run default rate of the development "
                                       "cohorts: pass long_run=long_run_default_rate(outcome, snapshot_date)")
        lo, hi = long_run.band(confidence)
        where = (f"the calibration sample's mean PD {_pct(before)} against the long-run default rate "
                 f"{_pct(long_run.rate)} of {long_run.basis} (two-sided {confidence:.0%} binomial interval "
                 f"{_pct(lo)}-{_pct(hi)} for {long_run.independent_rows:,} independent rows)")
        if not 0.0 < long_run.rate < 1.0:
            return CentralTendency("auto", before, before, False, f"not shifted: {where}; a rate of 0 or 1 is no "
                                   "anchor", long_run=long_run, band=(lo, hi))
        if lo <= before <= hi:
            return CentralTendency("auto", before, before, False, f"not shifted: {where}; inside the interval, the "
                                   "difference is within the rate's own sampling noise", long_run=long_run,
                                   band=(lo, hi))
        target, reason, band = long_run.rate, f"shifted to the long-run rate: {where}; outside the interval", (lo, hi)
        setting_name = "auto"
    else:
        target = float(setting)
        if not 0.0 < target < 1.0:
            raise ValidationInputError(f"central_tendency must lie strictly between 0 and 1; got {setting!r}")
        reason = f"shifted to model.central_tendency = {_pct(target)} (set in the params), from {_pct(before)}"
        setting_name, band = "fixed", None
    adjusted, shift = central_tendency_adjustment(p, target)
    return CentralTendency(setting_name, before, float(adjusted.mean()), True, reason, target=target,
                           shift=float(shift), long_run=long_run, band=band)

