"""Settings of a limit policy replay (:func:`credit_lab.limits.replay.replay`).

Not yet a block of :class:`~credit_lab.core.config.RunParams` nor of ``params/default.yaml``: the
report stage that reads it comes with the PD-based policies in the next increment.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from credit_lab.core.params_base import StrictParams

__all__ = ["ReplayParams"]


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
    trailing_months: int = Field(6, ge=1, le=60, description="window of the k x purchases policy (months)")
    purchases_multiple: float = Field(2.0, gt=0.0, le=100.0, description="k of the k x purchases policy")
    limit_cap: float | None = Field(None, gt=0.0, description="cap of the user rule (currency); null = none")
    bootstrap_samples: int = Field(1000, ge=10, le=100_000, description="resamples of customers")
    confidence: float = Field(0.9, gt=0.0, lt=1.0, description="level of the bootstrap intervals")
    seed: int = Field(0, ge=0, description="seed of the bootstrap")

    @model_validator(mode="after")
    def _month_start(self) -> "ReplayParams":
        if self.first_review is not None and self.first_review.day != 1:
            raise ValueError(f"first_review must be a month start (reviews are monthly); got {self.first_review}")
        return self
