"""Stage 03, PD model: fit the candidate models, pick the champion, calibrate and validate it, write
the model, its description and the model card. The modelling is :mod:`credit_lab.models.development`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from credit_lab.models import development as dv
from credit_lab.models import expert_development as ex
from credit_lab.models.calibration import fit_calibrated
from credit_lab.models.expert import ExpertScorecard
from credit_lab.models.metrics import ValidationMetrics
from credit_lab.models.shared_predictions import shared_predictions
from credit_lab.run.stages.context import StageContext, read_as_of, require

__all__ = ["ModelResult", "stage_model"]

logger = logging.getLogger(__name__)


@dataclass
class ModelResult:
    """The champion, its validation on every sample, the candidates and the model card."""

    model: Any
    metrics: list[ValidationMetrics]
    oot: pd.DataFrame
    grades_oot: pd.DataFrame
    artifact: dict[str, Any]
    candidates: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None
    calibration: Any = None
    binomial: pd.DataFrame | None = None
    hosmer_lemeshow: Any = None
    hosmer_lemeshow_grades: Any = None
    calibration_table: pd.DataFrame | None = None
    auc_by_period: pd.DataFrame | None = None
    stability: pd.DataFrame | None = None
    points: pd.DataFrame | None = None
    model_card: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    oot_label: str = "out-of-time"
    method: str = "statistical"
    method_reason: str = ""
    expert_classes: pd.DataFrame | None = None
    expert_policy: pd.DataFrame | None = None
    central_tendency: dv.CentralTendencyCheck | None = None


def _read_development(ctx: StageContext) -> dv.Development:
    """The samples of stage 02's training set (table mode: with the risk directions, written here)."""
    train = ctx.read("features_train.parquet").set_index("customer_id")
    if not ctx.table_mode:
        return dv.development_samples(train, ctx.params)
    meta = ctx.read_json("table_features.json")
    dictionary = ctx.read("feature_dictionary.parquet").set_index("feature")
    dev = dv.development_samples(train, ctx.params, meta, dictionary)
    ctx.write("risk_directions.parquet", dev.directions.reset_index())
    return dev


def _save_models(ctx: StageContext, candidates: dict[str, Any], champion: str,
                 dev: dv.Development, method: ex.MethodChoice) -> dict[str, Any]:
    """Pickle the champion (and its challenger); write and return their description."""
    model = candidates[champion]
    sha = ctx.save_model("pd_model.fitted.json", model)
    challenger = dv.challenger_name(candidates, champion)
    challenger_sha = ctx.save_model("challenger_model.fitted.json", candidates[challenger]) if challenger else None
    artifact = dv.model_artifact(model, dev, champion, sha, challenger, challenger_sha, ctx.table_mode, ctx.params)
    artifact |= {"method": method.method, "method_reason": method.reason}
    ctx.write_model_json("pd_model.json", artifact)
    return artifact


def _write_validation(ctx: StageContext, v: dv.Validation, stability: pd.DataFrame,
                      points: pd.DataFrame | None) -> None:
    ctx.write("oot_predictions.parquet", v.oot.reset_index())
    ctx.write_json("validation.json", [m.__dict__ for m in v.metrics])
    ctx.write("candidates.parquet", v.candidates)
    if v.segments is not None:
        ctx.write("segment_comparison.parquet", v.segments)
    ctx.write("binomial_test.parquet", v.binomial.reset_index())
    ctx.write_json("hosmer_lemeshow.json", {
        name: {"statistic": r.statistic, "dof": r.dof, "p_value": r.p_value}
        for name, r in (("pd_deciles", v.hosmer_lemeshow), ("grades", v.hosmer_lemeshow_grades))})
    ctx.write("calibration_table.parquet", v.calibration_table.reset_index(drop=True))
    ctx.write("auc_by_period.parquet", v.auc_by_period)
    ctx.write("stability.parquet", stability)
    if points is not None:
        ctx.write("scorecard_points.parquet", points)
        ctx.write_csv("scorecard_points.csv", points)


def _expert_model(ctx: StageContext, choice: ex.MethodChoice, current: pd.DataFrame,
                  train: pd.DataFrame | None) -> ModelResult:
    """Score the book with the expert scorecard: set up on today's book, calibrated on the outcomes there are."""
    p = ctx.params
    fit = ex.fit_expert(p, current, train, ctx.table_mode)
    model = fit.model
    sha = ctx.save_model("pd_model.fitted.json", model)
    artifact = ex.expert_artifact(model, choice, sha, fit, p)
    ctx.write_model_json("pd_model.json", artifact)
    classes, policy = ex.expert_classes_table(model, current), model.points_table()
    ctx.write("expert_classes.parquet", classes)
    ctx.write("expert_policy.parquet", policy)
    ctx.write_csv("expert_policy.csv", policy)
    ctx.write_json("validation.json", [m.__dict__ for m in fit.metrics])
    if fit.binomial is not None:
        ctx.write("binomial_test.parquet", fit.binomial.reset_index())
    card = ex.expert_model_card(p, artifact, fit, ctx.read_json("data_quality.json")["source"], read_as_of(ctx),
                                len(current))
    ctx.write_model_json("model_card.json", card)
    return ModelResult(model, fit.metrics, None, None, artifact, binomial=fit.binomial, model_card=card,
                       notes=card["limitations"], oot_label=fit.sample, method="expert", method_reason=choice.reason,
                       expert_classes=classes, expert_policy=policy)


def stage_model(ctx: StageContext) -> ModelResult:
    """Choose the method the data allows; fit the candidate models, pick the champion, calibrate and validate
    it, write the model card (or, with too few defaults, set up and calibrate the expert scorecard)."""
    require(ctx, "03_model")
    p = ctx.params
    current = ctx.read("features_current.parquet").set_index("customer_id")
    train = ctx.read("features_train.parquet").set_index("customer_id") if ctx.exists("features_train.parquet") \
        else None
    criteria = p.model.expert.criterion_columns()
    if p.model.expert.external_score_column and not ctx.table_mode:
        criteria.add(p.model.expert.external_score_column)
    choice = ex.choose_method(p, train, ctx.table_mode, expert_possible=bool(criteria & set(current.columns)))
    if choice.method == "expert":
        return _expert_model(ctx, choice, current, train)
    settings = dv.RunSettings(p, ctx.table_mode)
    dev = _read_development(ctx)
    candidates, notes = dv.fit_candidates(settings, dev.fit, dev.cal, dev.names, dev.kwargs, p.seed)
    if p.model.expert.criterion_columns() & set(dev.fit.columns):
        candidates["expert"] = fit_calibrated(ExpertScorecard(p.model.expert), dev.fit, dev.fit["default_in_horizon"],
                                              dev.cal, dev.cal["default_in_horizon"], params=p.model,
                                              long_run=dv.development_long_run(pd.concat([dev.fit, dev.cal]), settings))
    # Every model is fitted: from here on the validation, the stability and the central-tendency check score the
    # same samples with the same models again and again, and each prediction is computed once.
    with shared_predictions():
        champion = dv.champion_name(p, candidates, dev.cal)
        model = candidates[champion]
        v = dv.validate_champion(candidates, champion, dev, p)
        stability = dv.stability(model, dev.fit, dev.oot, current, dev.names, dev.kwargs.get("categorical", []),
                                 dev.oot_label)
        calib = dv.calibration_summary(model)
        anchor = dv.check_central_tendency(model, dev, calib, ctx.table_mode)
    points = dv.points_table(candidates, champion)
    artifact = _save_models(ctx, candidates, champion, dev, choice)
    _write_validation(ctx, v, stability, points)
    notes = [*notes, ex.expert_challenger_note(v.candidates, dev.oot_label)]
    card = dv.model_card(settings, artifact, v.metrics, v.candidates, calib, stability, [n for n in notes if n],
                         dev.oot_label, ctx.read_json("data_quality.json")["source"], read_as_of(ctx),
                         ctx.sha256("features_train.parquet"), anchor) | {"method": "statistical",
                                                                            "method_reason": choice.reason}
    ctx.write_model_json("model_card.json", card)
    return ModelResult(model, v.metrics, v.oot, v.grades_oot, artifact, v.candidates, v.segments, calib, v.binomial,
                       v.hosmer_lemeshow, v.hosmer_lemeshow_grades, v.calibration_table, v.auc_by_period, stability,
                       points, card, [n for n in notes if n], dev.oot_label, "statistical", choice.reason,
                       central_tendency=anchor)
