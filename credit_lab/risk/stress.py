"""Stress scenarios for the reserve: stressed PDs, LGDs and mitigation, side by side.

A scenario changes the inputs of the loss model, not its mechanics: PDs are multiplied
(for the whole book and/or one industry), LGDs raised, the credit insurer may fail (its
cover is then worth nothing), and the largest customers may default for certain. Each
stressed book then goes through the same mitigation and loss-distribution code as the base.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from credit_lab.core.config import DEFAULT_STRESS_SCENARIOS
from credit_lab.core.exceptions import CreditLabError

__all__ = ["StressScenario", "StressInputError", "DEFAULT_SCENARIOS", "stressed_book"]

_PD_MAX = 1.0 - 1e-9  # "defaults for certain" without leaving the open interval the copula needs


class StressInputError(CreditLabError, ValueError):
    """A stress scenario that cannot be applied; the message names the scenario and the fix."""


@dataclass(frozen=True)
class StressScenario:
    """One stress scenario.

    Attributes
    ----------
    name : label in the report.
    pd_multiplier : applied to every PD (capped below 1).
    industry_pd_multiplier : extra multiplier per industry; the key ``"largest"`` means the
        industry with the largest exposure at default.
    lgd_uplift : added to every LGD (capped at 1), fraction.
    insurer_fails : the credit insurer defaults: insured parts are no longer covered.
    largest_defaults : this many customers with the largest EAD default for certain.
    """

    name: str
    pd_multiplier: float = 1.0
    industry_pd_multiplier: dict[str, float] = field(default_factory=dict)
    lgd_uplift: float = 0.0
    insurer_fails: bool = False
    largest_defaults: int = 0

    def __post_init__(self) -> None:
        if self.pd_multiplier <= 0 or any(m <= 0 for m in self.industry_pd_multiplier.values()):
            raise StressInputError(f"scenario {self.name!r}: PD multipliers must be > 0")
        if not 0.0 <= self.lgd_uplift <= 1.0:
            raise StressInputError(f"scenario {self.name!r}: lgd_uplift {self.lgd_uplift} must be in [0, 1]")
        if self.largest_defaults < 0:
            raise StressInputError(f"scenario {self.name!r}: largest_defaults must be >= 0")


DEFAULT_SCENARIOS = DEFAULT_STRESS_SCENARIOS


def stressed_book(book: pd.DataFrame, scenario: StressScenario) -> tuple[pd.DataFrame, list[str]]:
    """The book's ``pd`` and ``lgd`` (and ``insured_limit``) under a scenario.

    Parameters
    ----------
    book : one row per customer with ``pd``, ``lgd``, ``ead``, ``industry``, ``insured_limit``.
    scenario : the stress.

    Returns
    -------
    The stressed copy, and notes (e.g. an industry named in the scenario that is not in the book).
    """
    out = book.copy()
    notes: list[str] = []
    mult = pd.Series(scenario.pd_multiplier, index=out.index)
    for industry, factor in scenario.industry_pd_multiplier.items():
        target = industry
        if industry == "largest":
            target = out.groupby("industry")["ead"].sum().idxmax()
        hit = out["industry"].astype(str) == str(target)
        if not hit.any():
            notes.append(f"scenario {scenario.name!r}: industry {industry!r} is not in the book; not stressed")
        mult = mult.where(~hit, mult * factor)
    out["pd"] = np.minimum(out["pd"].astype(float) * mult, _PD_MAX)
    out["lgd"] = np.minimum(out["lgd"].astype(float) + scenario.lgd_uplift, 1.0)
    if scenario.insurer_fails:
        out["insured_limit"] = 0.0
    if scenario.largest_defaults:
        top = out["ead"].nlargest(scenario.largest_defaults).index
        out.loc[top, "pd"] = _PD_MAX
    return out, notes
