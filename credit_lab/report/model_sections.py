"""The PD-model report's sections, for either method: statistical models or the expert scorecard.

Stage 03 scores the book with the statistical models when the data holds enough defaults and with
the expert scorecard otherwise (:mod:`credit_lab.models.expert_development`). Each function takes
the stage's result and returns what its section shows, or ``None`` when that section does not
apply to the method in force (the headline says once which method it is and why); the notebook
hands them to :func:`credit_lab.report.sections.show`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import Markdown

from credit_lab.models.grading import score_points
from credit_lab.report import figures

__all__ = ["auc_part", "calibration_part", "candidates_part", "central_tendency_part", "deciles_part",
           "expert_classes_part",
           "expert_policy_part", "grades_part", "headline", "metrics_part", "monotone_part", "points_part",
           "segments_part", "stability_part"]

_WORDS = {"table": "the policy's PD per risk class (model.expert.risk_classes)",
          "long_run_rate": "the score calibrated to the stated long-run default rate",
          "most_prudent": "the most prudent estimation of Pluto and Tasche per risk class"}


def headline(result: Any) -> list[Markdown]:
    """Which method scored the book and why, the champion and its artifact, and the stage's notes."""
    art = result.artifact
    method = "expert scorecard" if result.method == "expert" else "statistical models"
    lines = [f"**Method:** {method}: {figures.escape(result.method_reason)}  ",
             f"**Champion:** {figures.escape(art['champion'])}  ", f"**Artifact:** `{art['file']}`  ",
             f"**SHA-256:** `{art['sha256']}`  "]
    if art.get("snapshots"):
        lines.append(f"**Snapshots:** {', '.join(art['snapshots'])}")
    return [Markdown("\n".join(lines)), *(Markdown(f"**Note:** {figures.escape(n)}") for n in result.notes)]


def _statistical(result: Any) -> bool:
    return result.method != "expert"


def candidates_part(result: Any) -> pd.DataFrame | None:
    return result.candidates.round(4) if _statistical(result) else None


def segments_part(result: Any) -> pd.DataFrame | Markdown | None:
    if not _statistical(result):
        return None
    return (result.segments.round(4) if result.segments is not None
            else Markdown("One model for every customer (table mode, or `model.segments: false`)."))


def metrics_part(result: Any, params: Any) -> list | None:
    """The champion's metrics per sample, ROC, CAP and score distribution on the validation sample."""
    if not _statistical(result):
        return None
    y, p = result.oot["default_in_horizon"].to_numpy(), result.oot["pd"].to_numpy()
    return [figures.metrics_table(result.metrics), figures.fig_roc(y, p, result.oot_label),
            figures.fig_cap(y, p, result.oot_label),
            figures.fig_score_distribution(y, score_points(p, params.score_scaling))]


def calibration_part(result: Any) -> list | None:
    if not _statistical(result):
        return None
    out: list = []
    for segment, c in result.calibration.items():
        out.append(Markdown(f"**{figures.escape(segment)}:** {c['method']}, central-tendency shift "
                            f"{c['shift']:+.4f} log-odds"))
        out.append(pd.DataFrame(c["comparison"]).round(5))
    return out


_RULES = {
    "auto": "**Rule** (`model.central_tendency: auto`): the long-run default rate is the mean of the one-year default "
            "rates of the development snapshots (each snapshot a cohort followed for the label horizon; fit and "
            "calibration customers together; the out-of-time snapshot never, it stays for validation). The calibrated "
            "PDs are shifted in log-odds to that rate when the calibration sample's mean PD lies outside the rate's "
            "two-sided 95% binomial interval (exact binomial quantiles for the rows of the snapshots whose outcome "
            "windows do not overlap, so each default counts once), and left alone inside it, where the difference is "
            "within the rate's own sampling noise. Each segment's model is anchored to its segment's rate.",
    "fixed": "**Rule** (`model.central_tendency` set to a number): the calibrated PDs are shifted in log-odds so their "
             "mean over the calibration sample equals that number, whatever the data say.",
    "off": "**Rule** (`model.central_tendency: null`): the calibrated PDs are not re-anchored; they keep the "
           "calibration sample's default rate.",
}


def central_tendency_part(result: Any) -> list | None:
    """The re-anchoring rule, the long-run rate per model and the decision, and what it does out of time."""
    if not _statistical(result) or result.central_tendency is None:
        return None
    decisions = {seg: c["central_tendency"] for seg, c in result.calibration.items() if c.get("central_tendency")}
    settings = {d["setting"] for d in decisions.values()}
    rows = [{"model": seg, "long_run_rate": d["long_run_rate"], "independent_rows": d["independent_rows"],
             "band_low": d["band"][0] if d["band"] else None, "band_high": d["band"][1] if d["band"] else None,
             "mean_pd_before": d["mean_pd_before"], "mean_pd_after": d["mean_pd_after"],
             "shifted": "yes" if d["applied"] else "no", "shift_log_odds": d["shift"]} for seg, d in decisions.items()]
    check = result.central_tendency
    return [*(Markdown(_RULES[s]) for s in sorted(settings)),
            Markdown("**Per calibrated model** (mean PD over its calibration sample, before and after):"),
            pd.DataFrame(rows).set_index("model").round(5),
            Markdown("\n".join(f"- **{figures.escape(seg)}:** {figures.escape(d['reason'])}."
                                for seg, d in decisions.items())),
            Markdown("**Default rate and mean PD per cohort** (the champion, before and after the shift):"),
            check.cohorts.round(5),
            Markdown("**Before and after, per sample and segment** (Hosmer-Lemeshow by PD decile and AUC on the "
                     "held-out samples):"),
            check.table.round(5),
            Markdown("\n".join(f"- {figures.escape(f)}" for f in check.findings))]


def grades_part(result: Any) -> list | None:
    """Per grade: defaults against the PD, binomial and Jeffreys tests, Hosmer-Lemeshow."""
    if not _statistical(result):
        return None
    hl, hlg = result.hosmer_lemeshow, result.hosmer_lemeshow_grades
    return [result.grades_oot.round(4), figures.fig_calibration(result.grades_oot), result.binomial.round(4),
            Markdown(f"**Hosmer-Lemeshow** by PD decile: statistic {hl.statistic:.2f}, {hl.dof} dof, "
                     f"p = {hl.p_value:.3f}; by grade: {hlg.statistic:.2f}, {hlg.dof} dof, p = {hlg.p_value:.3f}")]


def deciles_part(result: Any) -> list | None:
    if not _statistical(result):
        return None
    return [result.calibration_table.round(4),
            figures.fig_calibration_deciles(result.calibration_table, result.oot_label)]


def auc_part(result: Any) -> list | None:
    if not _statistical(result):
        return None
    table = result.auc_by_period
    return [table.round(4), figures.fig_auc_by_period(table) if len(table) else None]


def stability_part(result: Any) -> list | None:
    if not _statistical(result):
        return None
    st = result.stability
    return [st[st["measure"] == "PSI"].round(4),
            st[st["flag"] != "stable"].sort_values("value", ascending=False).round(4)]


def points_part(result: Any) -> pd.DataFrame | None:
    if not _statistical(result) or result.points is None:
        return None
    return result.points.round(3).head(60)


def monotone_part(result: Any) -> pd.DataFrame:
    return pd.Series(result.artifact["monotone_constraints"], name="constraint").to_frame()


def expert_policy_part(result: Any) -> list | None:
    """The criteria with their weights for new and existing customers, and every band's points."""
    if _statistical(result):
        return None
    policy = result.expert_policy
    weights = (policy.drop_duplicates("criterion")
               .set_index("criterion")[["dimension", "column", "weight_new", "weight_existing"]])
    unused = set(result.artifact["unused_features"])
    weights["in the data"] = ["no" if c in unused else "yes" for c in weights["column"]]
    by_dim = weights.groupby("dimension")[["weight_new", "weight_existing"]].sum()
    return [Markdown("**Weights** (share of the score each criterion carries when every criterion is known; a "
                     "customer lacking some has their weight spread over the rest, in proportion):"),
            by_dim.round(3), weights.round(3),
            Markdown("**Bands:** points (0-100) by value; the full policy is in `data/expert_policy.csv`."),
            policy[["criterion", "band", "points"]]]


def expert_classes_part(result: Any) -> list | None:
    """Per risk class: the PD in force, how it was set, today's customers; the test on outcomes if any."""
    if _statistical(result):
        return None
    cal = result.model.calibrator_
    out: list = [Markdown(f"**PD per risk class:** {_WORDS[cal.method]}. {figures.escape(cal.basis)}."),
                 result.expert_classes.round(5)]
    if result.binomial is not None:
        out += [Markdown(f"**Observed defaults per grade against the PD** on the {figures.escape(result.oot_label)} "
                         "(one-sided exact binomial test; a conservative PD should rarely be rejected):"),
                result.binomial.round(4)]
    if result.metrics:
        out.append(figures.metrics_table(result.metrics))
    return out
