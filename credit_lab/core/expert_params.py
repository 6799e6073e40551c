"""The expert scorecard's params (``model.expert``): criteria, bands, weights, risk classes, PD source.

Kept apart from :mod:`credit_lab.core.config` because the shipped policy is long; ``config`` imports
it into :class:`~credit_lab.core.config.ModelParams`. ``params/default.yaml`` states each threshold's
rationale beside it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from credit_lab.core.params_base import StrictParams as _Strict

__all__ = ["EXPERT_DIMENSIONS", "ExpertCriterion", "ExpertDimension", "ExpertParams", "RiskClass"]

ExpertDimension = Literal["payment_history", "financial_strength", "operations", "prospects", "external_rating"]
EXPERT_DIMENSIONS: tuple[str, ...] = ("payment_history", "financial_strength", "operations", "prospects",
                                      "external_rating")


class ExpertCriterion(_Strict):
    """One criterion of the expert scorecard: a column banded into 0-100 points.

    ``bands`` are ``[upper edge, points]`` pairs with increasing edges and a last edge of null: a
    value below the first edge gets the first points, and so on; the last pair takes every value
    above. ``relative: true`` reads the edges as shares (0-1) of the book the scorecard is set up
    on (quantiles), for a column without a natural scale (an industry outlook index).
    ``categories`` (value -> points) replaces the bands for a text column.
    """

    dimension: ExpertDimension
    weight: float = Field(1.0, gt=0.0, description="weight within its dimension")
    bands: tuple[tuple[float | None, float], ...] = ()
    categories: dict[str, float] = Field(default_factory=dict)
    relative: bool = False
    column: str | None = Field(None, description="the feature / table column; null = the criterion's name")

    @model_validator(mode="after")
    def _bands_or_categories(self) -> "ExpertCriterion":
        if bool(self.bands) == bool(self.categories):
            raise ValueError("give either bands ([upper edge, points] pairs) or categories ({value: points})")
        if self.bands:
            edges = [e for e, _ in self.bands]
            if edges[-1] is not None or any(e is None for e in edges[:-1]):
                raise ValueError(f"the last band's edge must be null (every value above) and only it; got {edges}")
            if any(b <= a for a, b in zip(edges[:-1], edges[1:-1])):
                raise ValueError(f"band edges must increase; got {edges}")
            if self.relative and not all(0.0 < e < 1.0 for e in edges[:-1]):
                raise ValueError(f"relative band edges are shares of the book, strictly between 0 and 1; got {edges}")
        points = [p for _, p in self.bands] + list(self.categories.values())
        if not all(0.0 <= p <= 100.0 for p in points):
            raise ValueError(f"points must lie in [0, 100]; got {points}")
        return self


class RiskClass(_Strict):
    """A risk class of the expert score: score >= score_min, and the PD the policy gives it."""

    name: str = Field(min_length=1, max_length=16)
    score_min: float = Field(ge=0.0, le=100.0)
    pd: float = Field(gt=0.0, lt=1.0)


def _c(dimension: str, weight: float, bands: list, relative: bool = False) -> ExpertCriterion:
    return ExpertCriterion(dimension=dimension, weight=weight, bands=tuple(tuple(b) for b in bands),
                           relative=relative)


# The shipped policy: params/default.yaml states each threshold's rationale beside it.
_DEFAULT_CRITERIA: dict[str, ExpertCriterion] = {
    "days_beyond_terms_mean": _c("payment_history", 3, [[2, 100], [7, 80], [15, 55], [30, 25], [None, 0]]),
    "share_late_30": _c("payment_history", 2, [[0.02, 100], [0.10, 70], [0.25, 40], [0.50, 15], [None, 0]]),
    "days_beyond_terms_max": _c("payment_history", 2, [[15, 100], [30, 75], [60, 45], [90, 15], [None, 0]]),
    "dispute_rate": _c("payment_history", 1, [[0.02, 100], [0.05, 75], [0.15, 40], [None, 10]]),
    "lateness_trend": _c("payment_history", 1, [[-2, 100], [2, 80], [7, 50], [15, 20], [None, 0]]),
    "dso_days": _c("payment_history", 1, [[45, 100], [60, 80], [90, 50], [120, 20], [None, 0]]),
    "utilisation": _c("payment_history", 1, [[0.5, 100], [0.8, 80], [1.0, 50], [1.2, 20], [None, 0]]),
    "current_ratio": _c("financial_strength", 2, [[0.8, 0], [1.0, 30], [1.2, 55], [1.5, 75], [2.0, 90],
                                                   [None, 100]]),
    "liabilities_to_assets": _c("financial_strength", 2, [[0.4, 100], [0.6, 75], [0.75, 50], [0.9, 20],
                                                           [None, 0]]),
    "ebitda_margin": _c("financial_strength", 1.5, [[0.0, 0], [0.03, 30], [0.07, 60], [0.12, 85], [None, 100]]),
    "interest_coverage": _c("financial_strength", 1.5, [[1, 0], [2, 30], [4, 60], [8, 85], [None, 100]]),
    "altman_z2": _c("financial_strength", 3, [[1.1, 0], [1.85, 40], [2.6, 70], [4.0, 90], [None, 100]]),
    "tenure_months": _c("operations", 2, [[6, 20], [12, 40], [36, 65], [60, 85], [None, 100]]),
    "log_revenue": _c("operations", 1.5, [[13.8, 20], [15.4, 45], [16.8, 70], [18.4, 85], [None, 100]]),
    "revenue_growth": _c("operations", 1, [[-0.15, 0], [-0.05, 35], [0.0, 60], [0.10, 85], [0.30, 100],
                                          [None, 70]]),
    "orders_per_month": _c("operations", 1, [[0.5, 30], [1, 55], [3, 80], [None, 100]]),
    "industry_outlook": _c("prospects", 2, [[0.2, 20], [0.4, 40], [0.6, 60], [0.8, 80], [None, 100]],
                           relative=True),
    "industry_outlook_change": _c("prospects", 1, [[-0.5, 10], [-0.1, 40], [0.1, 60], [0.5, 80], [None, 100]]),
}

_DEFAULT_CLASSES = (
    RiskClass(name="1", score_min=80, pd=0.0025), RiskClass(name="2", score_min=65, pd=0.0075),
    RiskClass(name="3", score_min=50, pd=0.02), RiskClass(name="4", score_min=35, pd=0.05),
    RiskClass(name="5", score_min=20, pd=0.12), RiskClass(name="6", score_min=0, pd=0.30),
)


class ExpertParams(_Strict):
    """The expert scorecard: criteria banded into points, weights per dimension for new and existing
    customers, risk classes and how the score becomes a PD."""

    dimension_weights_existing: dict[ExpertDimension, float] = Field(
        default_factory=lambda: {"payment_history": 0.45, "financial_strength": 0.25, "operations": 0.15,
                                 "prospects": 0.10, "external_rating": 0.05})
    dimension_weights_new: dict[ExpertDimension, float] = Field(
        default_factory=lambda: {"payment_history": 0.0, "financial_strength": 0.45, "operations": 0.15,
                                 "prospects": 0.15, "external_rating": 0.25})
    criteria: dict[str, ExpertCriterion] = Field(default_factory=lambda: dict(_DEFAULT_CRITERIA))
    external_score_column: str | None = Field(
        None, description="ledger mode: customers-file column with an external rating or bureau score (criterion "
                          "external_score); table mode: name it as a criterion")
    external_score_bands: tuple[tuple[float | None, float], ...] = (
        (20.0, 0.0), (40.0, 30.0), (60.0, 60.0), (80.0, 85.0), (None, 100.0))
    score_without_information: float = Field(
        35.0, ge=0.0, le=100.0, description="score of a customer none of whose criteria is known")
    risk_classes: tuple[RiskClass, ...] = _DEFAULT_CLASSES
    pd_from: Literal["table", "long_run_rate"] = Field(
        "table", description="without outcomes: the risk class's PD, or the score calibrated to long_run_default_rate")
    long_run_default_rate: float | None = Field(None, gt=0.0, lt=1.0)
    low_default_confidence: float = Field(
        0.75, ge=0.5, lt=1.0, description="confidence of the most prudent estimation (Pluto-Tasche) with few defaults")

    def criterion_columns(self) -> set[str]:
        """The data columns the criteria read (a criterion's ``column``, else its name)."""
        return {c.column or name for name, c in self.criteria.items()}

    @model_validator(mode="after")
    def _consistent(self) -> "ExpertParams":
        for segment, w in (("existing", self.dimension_weights_existing), ("new", self.dimension_weights_new)):
            if any(v < 0 for v in w.values()) or sum(w.values()) <= 0:
                raise ValueError(f"dimension_weights_{segment}: weights must be >= 0 with a positive total; got {w}")
        mins = [c.score_min for c in self.risk_classes]
        if not mins or any(b >= a for a, b in zip(mins, mins[1:])) or mins[-1] != 0:
            raise ValueError(f"risk_classes: score_min must decrease from class to class and end at 0; got {mins}")
        pds = [c.pd for c in self.risk_classes]
        if any(b <= a for a, b in zip(pds, pds[1:])):
            raise ValueError(f"risk_classes: pd must increase from the best class to the worst; got {pds}")
        if self.pd_from == "long_run_rate" and self.long_run_default_rate is None:
            raise ValueError("pd_from: long_run_rate needs long_run_default_rate (e.g. 0.02)")
        return self


