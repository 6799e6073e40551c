"""Stage 04, scoring and explanations: score every current customer; exact explanations, additivity
check, reason codes, their stability under refitting with another seed, and the scorecard's points
per customer. What is said about the reasons is :mod:`credit_lab.models.reasons`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.models import reasons as rs
from credit_lab.models.development import RunSettings
from credit_lab.models.explain import Explanation, explain, grouped_reason_codes
from credit_lab.models.grading import assign_grades, score_points
from credit_lab.run.compute import map_partitions, split_rows
from credit_lab.run.stages.context import StageContext, load_pd_model, require

__all__ = ["ScoringResult", "stage_scoring"]

logger = logging.getLogger(__name__)


@dataclass
class ScoringResult:
    """Scores and explanations of today's customers, with what is known about the reasons' reliability."""

    scores: pd.DataFrame
    explanation: Explanation
    additivity_error: float
    scorecard_points: pd.DataFrame | None = None
    scorecard_name: str | None = None
    reason_stability: dict[str, Any] = field(default_factory=dict)
    unseen: dict[str, Any] = field(default_factory=dict)
    shap_reference: dict[str, Any] = field(default_factory=dict)


def _scorecard_points(ctx: StageContext, current: pd.DataFrame, champion) -> tuple[pd.DataFrame | None, str | None]:
    """Each customer's exact points per variable from the scorecard (the champion or the challenger)."""
    meta = ctx.model_meta()
    if meta["champion"].endswith("scorecard") or meta["champion"] == "expert":
        card, name = champion, meta["champion"]
    elif meta.get("challenger") and meta["challenger"]["name"].endswith("scorecard"):
        ch = meta["challenger"]
        card, name = ctx.load_model(ch["file"], ch["sha256"]), ch["name"]
    else:
        return None, None
    return rs.scorecard_points(card, current), name


def _score_part(current: pd.DataFrame, model, tolerance: float) -> tuple[np.ndarray, Explanation, float]:
    """PDs, exact explanations and their largest additivity error for some customers (all of them, or one
    partition on a Dask worker)."""
    return (model.predict_pd(current), *explain(model, current, tolerance))


def _scores_and_explanations(ctx: StageContext, model, current: pd.DataFrame
                             ) -> tuple[np.ndarray, Explanation, float]:
    """PDs and explanations on the run's compute engine: a customer's PD and explanation depend only on its own
    features, so blocks of rows on Dask workers, stacked in order, give the local arrays."""
    tol = ctx.params.explain.additivity_tolerance
    parts = map_partitions(ctx.params.compute, _score_part, lambda n: split_rows(current, n), current, model, tol)
    if len(parts) == 1:
        return parts[0]
    # each part checked its own additivity (explain raises above the tolerance): the largest error is the book's
    bases = [e.base_value for _, e, _ in parts]
    same = all(np.ndim(b) == 0 for b in bases) and len({float(b) for b in bases}) == 1
    expl = Explanation(np.vstack([e.values for _, e, _ in parts]),
                       bases[0] if same else np.concatenate([e.base_values() for _, e, _ in parts]),
                       pd.concat([e.data for _, e, _ in parts]), np.concatenate([e.output for _, e, _ in parts]))
    pd_ = np.concatenate([np.asarray(x, dtype=float) for x, _, _ in parts])
    return pd_, expl, max(err for _, _, err in parts)


def stage_scoring(ctx: StageContext) -> ScoringResult:
    """Score every current customer; exact explanations, additivity check, reason codes, their
    stability under refitting with another seed, and the scorecard's points per customer."""
    require(ctx, "04_scoring_explain")
    p = ctx.params
    model = load_pd_model(ctx)
    current = ctx.read("features_current.parquet").set_index("customer_id")
    pd_, expl, err = _scores_and_explanations(ctx, model, current)
    unseen = rs.unseen_values(model, current)
    phrases, groups = rs.reason_wording(
        ctx.read("feature_dictionary.parquet").set_index("feature") if ctx.table_mode else None)
    is_new = current["is_new_customer"].to_numpy()
    reasons = grouped_reason_codes(expl, groups, p.explain.top_reasons, phrases)
    scores = pd.DataFrame({
        "pd": pd_, "grade": assign_grades(pd_, p.master_scale), "score": score_points(pd_, p.score_scaling),
        "raw_log_odds": expl.output, "shap_base_value": expl.base_values(), "is_new_customer": is_new,
    }, index=current.index).join(reasons)
    points, card_name = _scorecard_points(ctx, current, model)
    if card_name == "expert":  # the expert's own score, class and gaps travel with every customer's PD
        scores = scores.join(points[["total_score", "risk_class", "criteria_missing", "weight_missing_share"]]
                             .rename(columns={"total_score": "expert_score"}))
    ctx.write("scores.parquet", scores.reset_index())
    shap_frame = expl.frame()
    ctx.write("shap_values.parquet", shap_frame.reset_index())
    if points is not None:
        ctx.write("scorecard_contributions.parquet", points.reset_index())
    stability = (rs.reason_stability(RunSettings(p, ctx.table_mode), ctx.model_meta(),
                                     ctx.read("features_train.parquet").set_index("customer_id"), current, expl,
                                     phrases, groups)
                 if ctx.exists("features_train.parquet") else
                 {"computed": False, "reason": "no outcome data: there is no model fitted on data to refit"})
    reference = rs.shap_reference_check(model, current, expl, p.explain.additivity_tolerance)
    ctx.write_json("explain.json", {
        "base_value": float(np.mean(expl.base_values())), "max_additivity_error": err,
        "tolerance": p.explain.additivity_tolerance, "customers": len(scores), "reason_stability": stability,
        "unseen_values": unseen, "scorecard": card_name, "shap_reference": reference})
    return ScoringResult(scores, expl, err, points, card_name, stability, unseen, reference)
