"""Reasons behind the scores: their wording, their stability under a refit, unseen values, points.

Stage 04 scores and explains today's customers; what it reports about those explanations is
computed here, over the models and DataFrames it reads, with no file access.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import CreditLabError
from credit_lab.data.table_mode import split_table
from credit_lab.features.point_in_time import REASON_GROUPS
from credit_lab.models.champion import SegmentedModel
from credit_lab.models.development import RunSettings, fit_candidates, split_development
from credit_lab.models.explain import Explanation, explain, grouped_reason_codes, reason_codes

__all__ = ["reason_stability", "reason_wording", "scorecard_points", "shap_reference_check", "unseen_values"]

logger = logging.getLogger(__name__)


def reason_wording(dictionary: pd.DataFrame | None
                   ) -> tuple[dict[str, str] | None, dict[str, tuple[str, str, tuple[str, ...]]]]:
    """Reason phrases per feature and reason groups: the ledger's own, or (table mode) the table's
    feature ``dictionary`` indexed by feature, with its ``reason`` and optional ``group`` columns."""
    if dictionary is None:
        return None, REASON_GROUPS
    d = dictionary
    groups: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    if "group" in d:
        for g, part in d.dropna(subset=["group"]).groupby("group", sort=False):
            groups[str(g)] = (f"unfavourable {g}", str(g), tuple(part.index))
    return d["reason"].to_dict(), groups


def scorecard_points(card, current: pd.DataFrame) -> pd.DataFrame:
    """Each customer's exact points per variable from ``card`` (a scorecard, or a segmented one; the expert
    scorecard: score points per criterion, with its risk class and the criteria the customer lacks)."""
    if getattr(card, "family", "") == "expert":
        points = card.contributions(current)
        segment = np.where(current["is_new_customer"].fillna(False).astype(bool), "new", "existing")
        total = points.sum(axis=1)
        return points.assign(total_score=total, segment=segment,
                             risk_class=card.risk_class(score=total.to_numpy())).join(card.missing_criteria(current))
    if isinstance(card, SegmentedModel):
        seg = card.segment_of(current)
        parts = []
        for s in np.unique(seg):
            sub = current.loc[seg == s]
            parts.append(card.model_for(s).card_.explain_points(sub[card.model_for(s).features_]))
        points = pd.concat(parts).reindex(current.index)
        segment = pd.Series(seg, index=current.index)
    else:
        points = card.card_.explain_points(current[card.features_])
        segment = pd.Series("all", index=current.index)
    return points.assign(total_score=points.sum(axis=1), segment=segment)


def shap_reference_check(model, current: pd.DataFrame, expl: Explanation, tolerance: float,
                         rows: int = 500) -> dict[str, Any]:
    """The run's tree SHAP values against ``shap.TreeExplainer`` on the first ``rows`` customers."""
    if getattr(model, "family", "").endswith("scorecard"):
        return {"checked": False, "reason": "the champion is a scorecard: its contributions are exact by construction"}
    if getattr(model, "family", "") == "expert":
        return {"checked": False, "reason": "the expert scorecard's contributions (weight x points of each criterion, "
                                            "on the score's log-odds scale) are exact by construction"}
    sample = current.iloc[:rows]
    ref, _ = explain(model, sample, tolerance, engine="shap")
    ours = expl.frame().loc[sample.index, ref.feature_names].to_numpy()
    return {"checked": True, "customers": len(sample), "reference": "shap.TreeExplainer",
            "max_abs_difference": float(np.max(np.abs(ours - ref.values), initial=0.0))}


def unseen_values(model, current: pd.DataFrame) -> dict[str, Any]:
    """Categories (table mode) or bins (scorecard) met today that the fit data never had.

    Read right after ``model`` explained ``current``: each model that scored some of these
    customers then holds the unseen values of its own rows.
    """
    models = ([model.model_for(s) for s in np.unique(model.segment_of(current))]
              if isinstance(model, SegmentedModel) else [model])
    out: dict[str, Any] = {}
    for m in models:
        for holder in (getattr(m, "encoder_", None), getattr(m, "card_", None)):
            if holder is not None and getattr(holder, "last_unseen_", None):
                out.update({k: {kk: (vv if not isinstance(vv, np.generic) else vv.item()) for kk, vv in v.items()}
                            for k, v in holder.last_unseen_.items()})
    return out


def reason_stability(settings: RunSettings, meta: dict[str, Any], train: pd.DataFrame, current: pd.DataFrame,
                     expl: Explanation, phrases: dict[str, str] | None, groups: dict) -> dict[str, Any]:
    """Top-3 reasons of today's customers under the champion refitted with another seed.

    The other seed draws another fit/calibration split (and seeds the learners), so the
    refitted model has seen different customers; the overlap of the two top-3 reason sets
    per customer says how much the explanations depend on that draw. Reported for the
    reason groups customers read, and for single features.

    ``meta`` is the champion's description (``models/pd_model.json``), ``train`` the training set
    indexed by customer_id. A book of more than ``explain.stability_customers`` customers is compared
    on a seeded sample of that many (the refit is the same): the shares it reports are means over
    customers, and 50,000 of them pin a share to within half a point (95%) while a million took a
    minute and a half of the stage to explain twice and rank.
    """
    p = settings.params
    if meta["champion"] == "expert":
        return {"computed": False, "reason": "the expert scorecard is not fitted on data: its points, and so its "
                                             "reasons, are the same whatever the seed"}
    other = (p.seed + 1) % 2**32
    names, kwargs = meta["features"], meta["model_settings"]
    if settings.table_mode:
        tp = p.data.table
        date = train["snapshot_date"] if train["snapshot_date"].notna().all() else None
        sample = split_table(train["default_in_horizon"], date, tp.holdout_share, tp.calibration_share, other)
        fit, cal = train[sample == "fit"], train[sample == "calibration"]
    else:
        fit, cal, _ = split_development(train, p.model.oot_snapshots, seed=other)
    family = meta["champion"].split(" ")[-1]
    book = len(current)
    if book > p.explain.stability_customers:
        rows = np.sort(np.random.default_rng(p.seed).choice(book, p.explain.stability_customers, replace=False))
        current = current.iloc[rows]
        expl = Explanation(expl.values[rows], expl.base_value if np.ndim(expl.base_value) == 0 else
                           np.asarray(expl.base_value)[rows], expl.data.iloc[rows], expl.output[rows])
    try:
        refit, _ = fit_candidates(settings, fit, cal, names, kwargs, other, families=(family,))
        expl2, _ = explain(refit[meta["champion"]], current, p.explain.additivity_tolerance)
    except (CreditLabError, KeyError) as err:
        return {"computed": False, "reason": str(err)}

    def overlap(a: pd.DataFrame, b: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
        cols = [f"reason_{i}_{col}" for i in range(1, 4) if f"reason_{i}_{col}" in a]
        sa = [set(filter(None, r)) for r in a[cols].itertuples(index=False)]
        sb = [set(filter(None, r)) for r in b[cols].itertuples(index=False)]
        share = np.array([len(x & y) / max(len(x), len(y), 1) for x, y in zip(sa, sb, strict=True)])
        return share, a[cols[0]].to_numpy() == b[cols[0]].to_numpy()

    out: dict[str, Any] = {"computed": True, "seeds": [p.seed, other], "customers": len(current), "of_customers": book}
    # the riskiest fifth: the customers whose reasons are sent with a cut or refused limit
    risky = expl.output >= np.quantile(expl.output, 0.8)
    for label, a, b, col in (
            ("reason groups", grouped_reason_codes(expl, groups, 3, phrases),
             grouped_reason_codes(expl2, groups, 3, phrases), "group"),
            ("features", reason_codes(expl, 3, phrases), reason_codes(expl2, 3, phrases), "feature")):
        share, first = overlap(a, b, col)
        for scope, rows in (("all customers", slice(None)), ("riskiest 20%", risky)):
            out[f"{label}, {scope}"] = {"mean_top3_overlap": float(share[rows].mean()),
                                        "share_identical_top3": float((share[rows] == 1).mean()),
                                        "share_same_first_reason": float(first[rows].mean())}
    return out
