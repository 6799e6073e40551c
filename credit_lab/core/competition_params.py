"""Params of the competition term and the strategic floors of the limit optimizer (``limits.competition``,
``limits.strategic``).

Kept apart from :mod:`credit_lab.core.config` (which is long); ``config`` imports them into
:class:`~credit_lab.core.config.LimitParams`. The formula they feed is in
:mod:`credit_lab.limits.optimizer.competition`; ``params/default.yaml`` documents each key.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from credit_lab.core.params_base import StrictParams

__all__ = ["CompetitionParams", "LedgerEstimateParams", "StrategicParams",
           "intensity_from_supplier_hhi"]

def intensity_from_supplier_hhi(hhi: float) -> float:
    """The documented default intensity for an industry's supplier side: ``1 - HHI / 10,000``.

    The Herfindahl-Hirschman index (0-10,000: the sum of the suppliers' squared market shares in
    percent) says how many real alternatives a customer cut short has: one supplier (10,000) leaves
    it captive (0); five equal ones (2,000) give 0.8; a fragmented market close to 1. A rule of
    thumb, to be replaced by a market view or the ledger's estimate.

    >>> [round(intensity_from_supplier_hhi(h), 4) for h in (10_000, 2_000, 500)]
    [0.0, 0.8, 0.95]
    """
    if not 0.0 <= float(hhi) <= 10_000.0:
        raise ValueError(f"a Herfindahl-Hirschman index lies in [0, 10000]; got {hhi!r}")
    return 1.0 - float(hhi) / 10_000.0


class LedgerEstimateParams(StrictParams):
    """How the ledger's limit cuts estimate an industry's intensity (:mod:`credit_lab.limits.competition_evidence`).

    A customer whose limit was cut is compared with uncut customers of the same industry and size
    band at the same month: the share of each group with no order in the ``follow_up_months`` after
    a ``lag_months`` lag; their difference over the mean shortfall share is the intensity.
    """

    lookback_months: int = Field(12, ge=1, le=60,
                                 description="months of purchases before a cut that size the customer's need")
    lag_months: int = Field(1, ge=0, le=24, description="months after the cut's month before a missing order counts")
    follow_up_months: int = Field(6, ge=1, le=60, description="months without any order that count as lost")
    min_cut_share: float = Field(0.05, ge=0.0, lt=1.0,
                                 description="a drop of the limit by at least this share of it counts as a cut")
    min_cut_customers: int = Field(
        30, ge=1, le=1_000_000, description="fewer cut customers with an outcome in an industry: not enough evidence")
    size_bands: int = Field(4, ge=1, le=20, description="controls are matched on this many bands of trailing purchases")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="level of the interval around the estimate")
    bootstrap_draws: int = Field(2000, ge=100, le=100_000,
                                 description="draws behind the interval (seeded by the run's seed)")


class CompetitionParams(StrictParams):
    """How much a limit below a customer's need risks the whole relationship.

    The probability of losing the relationship this review is ``intensity x expected share of the
    need the limit leaves unmet``: 0 = captive (a shortfall costs this period's blocked orders and
    nothing more), 1 = the relationship is lost in proportion to the share of need unmet. The shipped
    intensity is 0 everywhere, so limits stay what they were until the user states a market view.
    """

    intensity_by_industry: dict[str, float] = Field(
        default_factory=dict, description="competitive intensity per industry, in [0, 1]; unnamed: "
                                          "supplier_hhi_by_industry, else default_intensity")
    supplier_hhi_by_industry: dict[str, float] = Field(
        default_factory=dict, description="how concentrated each industry's supplier side is (HHI, 0-10,000): an "
                                          "industry not in intensity_by_industry takes the documented default "
                                          "1 - HHI / 10,000")
    default_intensity: float = Field(0.0, ge=0.0, le=1.0, description="intensity of an industry not named above")
    relationship_years: float = Field(3.0, gt=0.0, le=30.0,
                                      description="expected remaining years of a relationship, at today's margin")
    discount_rate: float = Field(0.10, ge=0.0, le=1.0, description="yearly rate discounting future margin")
    full_value_tenure_months: int = Field(
        24, ge=1, le=600, description="tenure at which a relationship counts in full; younger ones in proportion")
    use_ledger_estimate: bool = Field(
        False, description="true: an industry's intensity estimated from the ledger's limit cuts replaces the one "
                           "above where the evidence suffices (the limits report says which)")
    ledger_estimate: LedgerEstimateParams = Field(default_factory=LedgerEstimateParams,
                                                  description="how the ledger's limit cuts are read")

    @field_validator("supplier_hhi_by_industry")
    @classmethod
    def _hhi_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0.0 <= float(v) <= 10_000.0}
        if bad:
            raise ValueError(f"a Herfindahl-Hirschman index lies in [0, 10000] (the sum of squared market shares in "
                             f"percent); got {bad}")
        return value

    def intensities(self) -> dict[str, float]:
        """Intensity per named industry: ``intensity_by_industry``, else the supplier HHI's documented default."""
        from_hhi = {str(k): intensity_from_supplier_hhi(v) for k, v in self.supplier_hhi_by_industry.items()}
        return {**from_hhi, **{str(k): float(v) for k, v in self.intensity_by_industry.items()}}

    @field_validator("intensity_by_industry")
    @classmethod
    def _intensities_are_shares(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0.0 <= float(v) <= 1.0}
        if bad:
            raise ValueError(f"every intensity must lie in [0, 1] (0 = captive, 1 = a shortfall loses the relationship "
                             f"in proportion); got {bad}")
        return value


class StrategicParams(StrictParams):
    """Customers whose limit is held at least at a share of their expected need (a floor).

    A customer is strategic when its id is listed, when ``flag_column`` is true for it, or when it is
    among the ``top_by_margin`` customers by yearly margin. The floor yields to the hard caps
    (PD cut-off, single-name, grade maximum, insurer, change band, new-customer caps): protecting a
    customer never overrides the risk limits.
    """

    customers: list[str] = Field(default_factory=list, description="customer ids held at the floor")
    flag_column: str | None = Field(None, min_length=1,
                                    description="a true/false column of the customers table marking strategic ones")
    top_by_margin: int = Field(0, ge=0, le=1_000_000, description="the N customers with the largest yearly margin")
    protected_share_of_need: float = Field(
        0.8, gt=0.0, le=2.0, description="floor = this share of the expected purchase need over the payment terms")

    @property
    def applies(self) -> bool:
        """Whether any rule names a strategic customer."""
        return bool(self.customers) or self.flag_column is not None or self.top_by_margin > 0
