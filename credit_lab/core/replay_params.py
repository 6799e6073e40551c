"""Settings of a limit policy replay: the ``replay`` block of the run's params.

:func:`credit_lab.limits.replay.replay` reads the walk's settings; the PD model choice and the
policies (``policies``: a list of the kinds below) are read by
:func:`credit_lab.limits.replay_policies.replay_from_params`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from credit_lab.core.params_base import StrictParams

__all__ = ["AsTheyWereSpec", "OptimizerSpec", "PDCutoffSpec", "PurchasesMultipleSpec", "ReplayParams", "RuleSpec",
           "optimizer_policy_name"]


class AsTheyWereSpec(StrictParams):
    """The ledger's own limits (``limit_history`` when given, else the customers table's ``credit_limit``)."""

    kind: Literal["as_they_were"] = "as_they_were"
    name: str = Field("as they were", min_length=1, description="the policy's name in the tables")


class PurchasesMultipleSpec(StrictParams):
    """Limit = k x average monthly purchases over the trailing months."""

    kind: Literal["purchases_multiple"] = "purchases_multiple"
    name: str = Field(..., min_length=1)
    k: float = Field(2.0, gt=0.0, le=100.0, description="months of purchases")
    trailing_months: int = Field(6, ge=1, le=60, description="window of the average (months)")


class PDCutoffSpec(StrictParams):
    """Zero above a PD cut-off, otherwise the limit of another policy (named before this one)."""

    kind: Literal["pd_cutoff"] = "pd_cutoff"
    name: str = Field(..., min_length=1)
    cutoff: float = Field(..., gt=0.0, le=1.0, description="PD above this: limit 0")
    otherwise: str = Field(..., min_length=1, description="name of the policy giving the other customers' limits")


class OptimizerSpec(StrictParams):
    """The limit optimizer (params ``limits``) at each EL budget, a multiple of the EL of the limits as they were."""

    kind: Literal["optimizer"] = "optimizer"
    name: str = Field("optimizer", min_length=1, description="prefix of the family's names: '<name> <budget>x EL'")
    budgets: list[float] = Field(default_factory=lambda: [0.5, 0.75, 1.0, 1.25], min_length=1,
                                 description="EL budgets (limits.el_budget_vs_current), one policy each")


class RuleSpec(StrictParams):
    """The ``min`` (or ``max``) of policies named before this one, capped and floored."""

    kind: Literal["rule"] = "rule"
    name: str = Field(..., min_length=1)
    of: list[str] = Field(..., min_length=1, description="names of the policies combined")
    combine: Literal["min", "max"] = "min"
    cap: float | None = Field(None, gt=0.0, description="at most this (currency); null = no cap")
    floor: float | None = Field(None, ge=0.0, description="at least this (currency); null = no floor")


PolicySpec = Annotated[AsTheyWereSpec | PurchasesMultipleSpec | PDCutoffSpec | OptimizerSpec | RuleSpec,
                       Field(discriminator="kind")]


def optimizer_policy_name(spec: OptimizerSpec, budget: float) -> str:
    """The name of one member of an optimizer family, e.g. ``optimizer 0.75x EL``."""
    return f"{spec.name} {budget:g}x EL"


def _default_policies() -> list:
    return [AsTheyWereSpec(), PurchasesMultipleSpec(name="2 x purchases", k=2.0, trailing_months=6),
            PDCutoffSpec(name="as they were, 0 above PD 20%", cutoff=0.2, otherwise="as they were"), OptimizerSpec()]


class ReplayParams(StrictParams):
    """How a replay walks history and prices what it finds.

    Reviews are month starts: ``n_reviews`` of them from ``first_review``, or (``first_review``
    null) the last ``n_reviews`` month starts before the end of the ledger.
    """

    first_review: dt.date | None = Field(None, description="first review date (a month start); null = count "
                                                           "back n_reviews months from the end")
    n_reviews: int = Field(24, ge=1, le=600, description="number of monthly reviews")
    partial_service: bool = Field(False, description="serve an order up to the headroom instead of blocking it")
    lgd: float | None = Field(None, ge=0.0, le=1.0, description="loss given default, share of the exposure at "
                              "default; null = each open invoice's own shortfall in the ledger")
    gross_margin: float = Field(0.2, ge=0.0, le=1.0, description="gross margin, share of sales")
    cost_of_funds_rate: float = Field(0.05, ge=0.0, le=1.0, description="annual rate on average exposure")
    new_customer_limit: float = Field(10_000.0, ge=0.0, description="limit of a customer without purchases "
                                      "or without a limit at a review (currency)")
    bootstrap_samples: int = Field(1000, ge=10, le=100_000, description="resamples of customers")
    confidence: float = Field(0.9, gt=0.0, lt=1.0, description="level of the bootstrap intervals")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")
    enabled: bool = Field(False, description="run the replay in the report stage")
    model: Literal["frozen", "refit"] = Field("frozen", description="PD model of the PD-based policies: fitted "
                                              "once before the first review (frozen) or at every review (refit)")
    policies: list[PolicySpec] = Field(default_factory=_default_policies, min_length=1,
                                       description="the policies compared, each a mapping with a kind")

    @model_validator(mode="after")
    def _month_start(self) -> "ReplayParams":
        if self.first_review is not None and self.first_review.day != 1:
            raise ValueError(f"first_review must be a month start (reviews are monthly); got {self.first_review}")
        return self

    @model_validator(mode="after")
    def _policies_name_each_other(self) -> "ReplayParams":
        defined: list[str] = []
        for i, spec in enumerate(self.policies):
            where = f"policies[{i}] (kind {spec.kind}, name {spec.name!r})"
            if isinstance(spec, PDCutoffSpec | RuleSpec):
                named = [spec.otherwise] if isinstance(spec, PDCutoffSpec) else spec.of
                key = "otherwise" if isinstance(spec, PDCutoffSpec) else "of"
                unknown = [n for n in named if n not in defined]
                if unknown:
                    raise ValueError(f"{where}: {key} names {unknown}, not a policy defined before it; defined "
                                     f"before it: {defined}. Define the policy it refers to earlier in the list")
            if isinstance(spec, OptimizerSpec):
                if len(set(spec.budgets)) != len(spec.budgets) or min(spec.budgets) <= 0:
                    raise ValueError(f"{where}: budgets must be distinct multiples > 0 of today's EL; got "
                                     f"{spec.budgets}")
                names = [optimizer_policy_name(spec, b) for b in spec.budgets]
            else:
                names = [spec.name]
            clash = [n for n in names if n in defined]
            if clash:
                raise ValueError(f"{where}: the policy name(s) {clash} are already used; give each policy its own "
                                 "name")
            defined.extend(names)
        return self
