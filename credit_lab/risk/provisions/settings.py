"""Provision settings (buckets, history, scenarios, discounting), the bucket labels and the input error."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from credit_lab.core.exceptions import CreditLabError
from credit_lab.core.formatting import plain_number

#: Upper edges (days past due, inclusive) of every bucket but the last:
#: current, 1-30, 31-60, 61-90, >90.
DEFAULT_BUCKET_EDGES: tuple[int, ...] = (0, 30, 60, 90)

#: Fixed floor loss rates of the buckets of :data:`DEFAULT_BUCKET_EDGES`, for a bucket whose history
#: holds no loss when no PD is at hand: about PD x LGD at an LGD of 45 % for a 12-month PD of
#: about 1 % (current), 4 % (1-30), 11 % (31-60) and 33 % (61-90); past 90 days IFRS 9 presumes
#: default (B5.5.37), so the >90 floor is about the LGD itself.
DEFAULT_NO_LOSS_FLOOR_RATES: tuple[float, ...] = (0.005, 0.02, 0.05, 0.15, 0.50)


TOTAL = "Total"


class ProvisionInputError(CreditLabError, ValueError):
    """Invalid input to a provision computation; the message names the input and the fix."""


def _check_scenarios(scenarios: Any) -> Mapping[str, tuple[float, float]]:
    if not isinstance(scenarios, Mapping) or len(scenarios) == 0:
        raise ProvisionInputError(f"scenarios = {scenarios!r} must be a non-empty mapping "
                                  "{name: (weight, multiplier)}, e.g. {'base': (1.0, 1.0)}")
    out: dict[str, tuple[float, float]] = {}
    for name, value in scenarios.items():
        try:
            weight, mult = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ProvisionInputError(f"scenarios[{name!r}] = {value!r} must be a pair (weight, multiplier), "
                                      "e.g. (0.3, 1.3)") from None
        if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise ProvisionInputError(f"scenarios[{name!r}] weight = {weight!r} must be in [0, 1]")
        if not (math.isfinite(mult) and mult >= 0.0):
            raise ProvisionInputError(f"scenarios[{name!r}] multiplier = {mult!r} must be finite and >= 0 "
                                      "(1.0 leaves the historical rate unchanged)")
        out[str(name)] = (weight, mult)
    total = sum(w for w, _ in out.values())
    if abs(total - 1.0) > 1e-9:
        raise ProvisionInputError(f"scenario weights sum to {plain_number(total)}"
                                  ", not 1; rescale them so they add up to 1 "
                                  f"(given: { {k: w for k, (w, _) in out.items()} })")
    return MappingProxyType(out)


def _check_edges(edges: Any, name: str) -> tuple[int, ...]:
    edges = tuple(edges)
    if (len(edges) == 0 or any(not isinstance(e, (int, np.integer)) or isinstance(e, bool) for e in edges)
            or edges[0] != 0 or any(b <= a for a, b in itertools.pairwise(edges))):
        raise ProvisionInputError(f"{name} = {edges!r} must be strictly increasing whole "
                                  "days starting at 0, e.g. (0, 30, 60, 90)")
    return tuple(int(e) for e in edges)


@dataclass(frozen=True)
class ProvisionSettings:
    """Settings of the provision matrix.

    Attributes
    ----------
    bucket_edges : tuple of int
        Upper edges, in days past due (inclusive), of every bucket but the last; the first
        must be 0 ("current" = not yet due). ``(0, 30, 60, 90)`` gives current, 1-30,
        31-60, 61-90, >90.
    method : {"roll_rate", "cohort"}
        How historical loss rates are measured (see the module docstring).
    history_months : int
        Month-ends pooled for each estimate (the latest ones whose outcome is complete).
    outcome_months : int
        ``W``: a balance not collected within this many months of a month-end is a loss.
    scenarios : mapping
        ``{name: (weight, multiplier)}``; weights sum to 1. The default is a single base
        scenario that leaves the historical rates unchanged.
    no_loss_floor : {"pd_lgd", "none"}
        What a bucket whose history holds no loss gets instead of its zero rate (see
        :func:`no_loss_floor`): ``"pd_lgd"`` a floor, the balance-weighted 12-month PD x LGD
        of today's receivables in it when PDs are given, else the fixed
        ``no_loss_floor_rates``; ``"none"`` keeps the zero.
    no_loss_floor_rates : tuple of float
        Fixed floor loss rates (fractions), one per bucket of ``no_loss_floor_edges``, used
        when no PD is given.
    no_loss_floor_edges : tuple of int
        The bucket edges ``no_loss_floor_rates`` are given for. Kept apart from
        ``bucket_edges`` so that a matrix whose buckets were merged still floors each invoice
        at the rate of its own days past due.
    write_off_days_past_due : int or None
        The write-off policy (see :func:`write_off`): an invoice not settled this many days
        after its due date is written off on that day, for nothing, so it leaves the open book
        and counts as lost in the history. Above the last bucket edge. None (default): only the
        write-offs the ledger records.

    Examples
    --------
    >>> s = ProvisionSettings(scenarios={"base": (0.6, 1.0), "downside": (0.4, 1.5)})
    >>> s.bucket_edges, s.method
    ((0, 30, 60, 90), 'roll_rate')
    """

    bucket_edges: tuple[int, ...] = DEFAULT_BUCKET_EDGES
    method: Literal["roll_rate", "cohort"] = "roll_rate"
    history_months: int = 24
    outcome_months: int = 12
    scenarios: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: MappingProxyType({"base": (1.0, 1.0)}))
    no_loss_floor: Literal["pd_lgd", "none"] = "pd_lgd"
    no_loss_floor_rates: tuple[float, ...] = DEFAULT_NO_LOSS_FLOOR_RATES
    no_loss_floor_edges: tuple[int, ...] = DEFAULT_BUCKET_EDGES
    write_off_days_past_due: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bucket_edges", _check_edges(self.bucket_edges, "bucket_edges"))
        object.__setattr__(self, "no_loss_floor_edges",
                           _check_edges(self.no_loss_floor_edges, "no_loss_floor_edges"))
        if self.no_loss_floor not in ("pd_lgd", "none"):
            raise ProvisionInputError(f"no_loss_floor = {self.no_loss_floor!r} must be 'pd_lgd' or 'none'")
        try:
            floor_rates = tuple(float(r) for r in self.no_loss_floor_rates)
        except (TypeError, ValueError):
            raise ProvisionInputError(f"no_loss_floor_rates = {self.no_loss_floor_rates!r} must be numbers, one "
                                      "per bucket, e.g. (0.005, 0.02, 0.05, 0.15, 0.5)") from None
        n_buckets = len(self.no_loss_floor_edges) + 1
        if len(floor_rates) != n_buckets:
            raise ProvisionInputError(
                f"no_loss_floor_rates has {len(floor_rates)} rate(s) but no_loss_floor_edges = "
                f"{self.no_loss_floor_edges} define {n_buckets} buckets {list(bucket_labels(self.no_loss_floor_edges))}"
                "; give one rate per bucket")
        for label, rate in zip(bucket_labels(self.no_loss_floor_edges), floor_rates):
            if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
                raise ProvisionInputError(f"no_loss_floor_rates[{label!r}] = {plain_number(rate)} must be a fraction "
                                          "in [0, 1] (e.g. 0.02 for 2 %)")
        object.__setattr__(self, "no_loss_floor_rates", floor_rates)
        if self.method not in ("roll_rate", "cohort"):
            raise ProvisionInputError(f"method = {self.method!r} must be 'roll_rate' or 'cohort'")
        for name in ("history_months", "outcome_months"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ProvisionInputError(f"{name} = {v!r} must be a whole number of months >= 1")
        object.__setattr__(self, "scenarios", _check_scenarios(self.scenarios))
        days = self.write_off_days_past_due
        if days is not None:
            if not isinstance(days, (int, np.integer)) or isinstance(days, bool) or days <= self.bucket_edges[-1]:
                raise ProvisionInputError(
                    f"write_off_days_past_due = {days!r} must be a whole number of days above the last bucket edge "
                    f"({self.bucket_edges[-1]}), or the last bucket would always be empty; e.g. 360, or None "
                    "for no write-off policy")
            object.__setattr__(self, "write_off_days_past_due", int(days))

    @property
    def buckets(self) -> tuple[str, ...]:
        """Bucket labels, in order."""
        return bucket_labels(self.bucket_edges)


def bucket_labels(edges: Sequence[int]) -> tuple[str, ...]:
    """Labels of the buckets defined by ``edges``.

    Examples
    --------
    >>> bucket_labels((0, 30, 60, 90))
    ('current', '1-30', '31-60', '61-90', '>90')
    """
    edges = tuple(int(e) for e in edges)
    labels = ["current"] + [f"{a + 1}-{b}" for a, b in itertools.pairwise(edges)] + [f">{edges[-1]}"]
    return tuple(labels)
