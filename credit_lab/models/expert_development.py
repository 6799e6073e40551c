"""Which method scores the book, and the expert scorecard's set-up, calibration and validation.

:func:`choose_method` reads the outcomes the data holds: the statistical models when the fit sample
has ``model.min_fit_defaults`` defaults and the calibration sample ``model.min_calibration_defaults``;
otherwise the expert scorecard, calibrated by the most prudent estimation when there are outcomes
(a handful of defaults, or none among known non-defaults), and by the policy's PD table (or the
stated long-run rate) when there are none at all. The choice and its reason are written where a
reader looks: the model report, the model card, the manifest and the index page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.config import RunParams
from credit_lab.core.exceptions import CreditLabError
from credit_lab.models import validation as vl
from credit_lab.models.development import split_development
from credit_lab.models.expert import ExpertScorecard, annual_cohorts, require_criteria
from credit_lab.models.grading import assign_grades
from credit_lab.models.metrics import ValidationMetrics, validation_metrics

__all__ = ["ExpertFit", "MethodChoice", "choose_method", "expert_artifact", "expert_challenger_note",
           "expert_classes_table", "expert_model_card", "fit_expert"]

_CALIBRATION_WORDS = {
    "table": "the policy's PD per risk class",
    "long_run_rate": "the score calibrated to the stated long-run default rate",
    "most_prudent": "the most prudent estimation (Pluto-Tasche) per risk class",
}


@dataclass(frozen=True)
class MethodChoice:
    """``statistical`` or ``expert``, with the defaults counted and the reason in words."""

    method: str
    reason: str
    fit_defaults: int | None = None
    calibration_defaults: int | None = None


def _samples(params: RunParams, train: pd.DataFrame, table_mode: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    if table_mode:
        return train[train["sample"] == "fit"], train[train["sample"] == "calibration"]
    fit, cal, _ = split_development(train, params.model.oot_snapshots, seed=params.seed)
    return fit, cal


def choose_method(params: RunParams, train: pd.DataFrame | None, table_mode: bool,
                  expert_possible: bool = True) -> MethodChoice:
    """The scoring method the data allows (``model.method``: auto decides; statistical or expert force one).

    ``train`` is stage 02's labelled training set, or None when the data holds no outcomes.
    ``expert_possible`` is False when none of the expert scorecard's criteria is in the data (a
    customer table whose columns the policy does not name): with few defaults the statistical
    models then score the book, if they can be calibrated at all, and the reason says so.
    """
    m = params.model
    if train is None:
        return MethodChoice("expert", "no outcome data: nothing to learn a PD from, so the expert scorecard scores "
                                      "the book with the policy's PD per risk class")
    fit, cal = _samples(params, train, table_mode)
    n_fit, n_cal = int(fit["default_in_horizon"].sum()), int(cal["default_in_horizon"].sum())
    counted = (f"the fit sample holds {n_fit} default(s) in {len(fit)} rows and the calibration sample {n_cal} in "
               f"{len(cal)}")
    enough = (n_fit >= m.min_fit_defaults and n_cal >= m.min_calibration_defaults
              and len(fit) - n_fit >= m.min_fit_defaults and len(cal) - n_cal >= m.min_calibration_defaults)
    if m.method == "statistical" or (m.method == "auto" and enough):
        why = ("model.method = statistical (set in the params)" if m.method == "statistical" else
               f"{counted}, at least model.min_fit_defaults = {m.min_fit_defaults} and "
               f"model.min_calibration_defaults = {m.min_calibration_defaults}")
        beside = ("the expert scorecard is a challenger" if expert_possible else
                  "no expert scorecard challenger: none of its criteria is a column of the data")
        return MethodChoice("statistical", f"statistical models: {why}; {beside}", n_fit, n_cal)
    why = ("model.method = expert (set in the params)" if m.method == "expert" else
           f"{counted}, fewer than model.min_fit_defaults = {m.min_fit_defaults} or model.min_calibration_defaults "
           f"= {m.min_calibration_defaults} (defaults and non-defaults each)")
    if not expert_possible and m.method == "auto":
        if min(n_cal, len(cal) - n_cal) < 2 or min(n_fit, len(fit) - n_fit) < 2:
            raise CreditLabError(
                f"{counted}: too few to fit and calibrate a statistical model, and none of the expert scorecard's "
                "criteria is a column of the data. Name your criteria in model.expert.criteria (each with its "
                "column, bands and weight) to score every customer by the expert scorecard")
        return MethodChoice("statistical", f"statistical models, although {why}: none of the expert scorecard's "
                                           "criteria is a column of the data (name them in model.expert.criteria "
                                           "for a low-default method); treat these PDs as uncertain", n_fit, n_cal)
    return MethodChoice("expert", f"expert scorecard with low-default calibration: {why}", n_fit, n_cal)


@dataclass
class ExpertFit:
    """The expert scorecard of the run, its evidence per class and (with outcomes) its validation."""

    model: ExpertScorecard
    labelled: pd.DataFrame | None
    metrics: list[ValidationMetrics]
    binomial: pd.DataFrame | None
    sample: str


def fit_expert(params: RunParams, current: pd.DataFrame, train: pd.DataFrame | None,
               table_mode: bool) -> ExpertFit:
    """Set the expert scorecard up on today's book and calibrate it on the outcomes there are.

    With outcomes, the labelled rows are the snapshots whose outcome windows do not overlap (ledger
    mode; every labelled row in table mode), so each default counts once: the most prudent PD per
    class comes from them, and the same rows test the PDs (binomial test per grade) and measure the
    ranking (the ranking is set by the policy, never learnt from these rows; the PD per class is).
    """
    external = params.model.expert.external_score_column if not table_mode else None
    model = ExpertScorecard(params.model.expert, external_column=external).fit(current)
    require_criteria(model, current)
    if train is None:
        return ExpertFit(model, None, [], None, "")
    labelled = train if table_mode else annual_cohorts(train, params.features.label_horizon_months)
    described = ("labelled rows" if table_mode else
                 f"customer-periods of {labelled['snapshot_date'].nunique()} snapshot(s) whose outcome windows do "
                 "not overlap")
    sample = "labelled rows" if table_mode else "labelled cohorts"
    y = labelled["default_in_horizon"].to_numpy(dtype=int)
    model.calibrate(labelled, y, sample=described)
    pd_ = model.predict_pd(labelled)
    metrics = [validation_metrics(sample, y, pd_)] if 0 < y.sum() < len(y) else []
    grades = assign_grades(pd_, params.master_scale)
    binomial = vl.binomial_test_by_grade(grades, pd_, y, grade_order=params.grade_names)
    return ExpertFit(model, labelled, metrics, binomial, sample)


def expert_artifact(model: ExpertScorecard, choice: MethodChoice, sha: str, fit: ExpertFit,
                    params: RunParams) -> dict[str, Any]:
    """``models/pd_model.json`` of an expert-scored run (the statistical runs' keys, the expert's values)."""
    cal = model.calibrator_
    return {
        "file": "models/pd_model.fitted.json", "sha256": sha, "champion": "expert", "method": "expert",
        "method_reason": choice.reason, "calibration": cal.method, "calibration_basis": cal.basis,
        "features": model.names_, "features_used": [n for n, f in zip(model.names_, model.features_, strict=True)
                                                    if f not in model.unused_features_],
        "monotone_constraints": dict(zip(model.names_, model.monotone_cst_, strict=True)),
        "unused_features": model.unused_features_, "challenger": None,
        "fit_rows": 0, "calibration_rows": 0 if fit.labelled is None else len(fit.labelled),
        "oot_rows": 0, "validation_sample": fit.sample or "none (no outcomes)", "snapshots": [],
        "params": params.model.model_dump(mode="json"), "model_settings": {}, "boosting_rounds": {},
    }


def expert_model_card(params: RunParams, artifact: dict, fit: ExpertFit, source: str, as_of: pd.Timestamp,
                      current_rows: int) -> dict[str, Any]:
    """Intended use, method and why, policy, calibration evidence, limitations."""
    model = fit.model
    cal = model.calibrator_
    dims = params.model.expert
    without = [d for d in sorted(set(dims.dimension_weights_existing) | set(dims.dimension_weights_new))
               if d not in {c.dimension for c in model.criteria_.values()}
               and (dims.dimension_weights_existing.get(d, 0) > 0 or dims.dimension_weights_new.get(d, 0) > 0)]
    limitations = [
        "The criteria, bands and weights are the credit policy's judgement (model.expert), not estimated from "
        "outcomes; the ranking has not been validated" + (" on outcomes (there are none)." if fit.labelled is None
                                                          else f" beyond the {fit.sample} shown."),
        f"PDs: {_CALIBRATION_WORDS[cal.method]} ({cal.basis}).",
    ]
    if without:
        limitations.append(f"Dimension(s) {', '.join(without)} have weight but no criterion in the data (e.g. no "
                           "external score column is mapped): their weight is spread over the other dimensions.")
    if model.unused_features_:
        limitations.append("Criteria absent from the data (their weight is spread over the others for every "
                           f"customer): {', '.join(model.unused_features_)}.")
    if cal.method == "most_prudent":
        limitations.append(f"The most prudent estimates are upper confidence bounds at {cal.confidence:.0%}: "
                           "conservative by construction, they fall as outcomes accumulate.")
    return {
        "model": "expert", "method": "expert scorecard", "method_reason": artifact["method_reason"],
        "intended_use": "12-month probability of default of business customers buying on credit terms, to set and "
                        "review credit limits and size the risk reserve, where the book holds too few defaults for "
                        "a statistical model; not for consumer lending decisions.",
        "data": {"source": source, "as_of_date": as_of.date().isoformat(), "scored_rows": current_rows,
                 "snapshots": sorted(str(pd.Timestamp(d).date()) for d in fit.labelled["snapshot_date"].dropna()
                                     .unique()) if fit.labelled is not None else [],
                 "fit_rows": 0, "calibration_rows": artifact["calibration_rows"],
                 "validation_rows": artifact["calibration_rows"],
                 "label": ("default within the horizon after the snapshot, " + fit.sample) if fit.labelled is not None
                 else "none (no outcome data)"},
        "segments": "new and existing customers share the criteria; their dimension weights differ "
                    "(model.expert.dimension_weights_new / _existing)",
        "features": artifact["features_used"],
        "performance": {m.sample: {"auc": m.auc, "gini": m.gini, "ks": m.ks, "brier": m.brier, "n": m.n,
                                   "defaults": m.n_defaults} for m in fit.metrics},
        "champion_choice": artifact["method_reason"],
        "boosting_rounds": {},
        "challengers": [],
        "calibration": {"all": {"method": cal.method, "shift": float(cal.shift)}},
        "limitations": limitations,
        "artifacts": {"pd_model.fitted.json": artifact["sha256"]},
    }


def expert_classes_table(model: ExpertScorecard, current: pd.DataFrame) -> pd.DataFrame:
    """Per risk class: today's customers, their mean score and the PD in force, with the calibration evidence."""
    score = model.score(current)
    cls = model.risk_class(score=score)
    today = pd.DataFrame({"risk_class": cls, "score": score}).groupby("risk_class")["score"].agg(["count", "mean"])
    table = model.calibrator_.classes.join(today.rename(columns={"count": "customers_today",
                                                                 "mean": "mean_score_today"}))
    table["customers_today"] = table["customers_today"].fillna(0).astype(int)
    return table.reset_index()


def expert_challenger_note(candidates: pd.DataFrame, oot_label: str) -> str:
    """How far the champion beats the expert scorecard on the validation sample, in words."""
    on = candidates[candidates["sample"] == oot_label].set_index("candidate")
    if "expert" not in on.index:
        return ""
    champ = on[on["role"] == "champion"]
    if champ.empty or np.isnan(on.loc["expert", "auc"]):
        return ""
    name = champ.index[0]
    return (f"On the {oot_label} sample the champion ({name}) reaches AUC {champ['auc'].iloc[0]:.3f} against "
            f"{on.loc['expert', 'auc']:.3f} for the expert scorecard (the policy's judgement, never fitted).")
