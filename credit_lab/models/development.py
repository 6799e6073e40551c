"""Model development: samples, candidate models, the champion, its validation and its model card.

Stage 03 reads the training set and writes what comes out; everything between is here, over
DataFrames and the run's params, with no file access. Stage 04 refits the champion with another
seed through :func:`fit_candidates` to measure how stable the reasons are.
"""

from __future__ import annotations

import logging
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.config import RunParams
from credit_lab.data.table_mode import infer_risk_directions
from credit_lab.features.point_in_time import FEATURE_DICTIONARY, feature_names, new_customer_feature_names
from credit_lab.models import validation as vl
from credit_lab.models.calibration import fit_calibrated
from credit_lab.models.central_tendency import LongRunRate, long_run_default_rate
from credit_lab.models.champion import SEGMENT_COLUMN, SegmentedModel, candidate_table
from credit_lab.models.gbm import PDModel
from credit_lab.models.grading import assign_grades, grade_table
from credit_lab.models.metrics import ValidationMetrics, validation_metrics
from credit_lab.models.scorecard import ScorecardModel

__all__ = ["CentralTendencyCheck", "Development", "RunSettings", "Validation", "auc_by_period", "auto_compared",
           "boosting_rounds", "calibration_summary", "challenger_name", "champion_basis", "champion_name",
           "check_central_tendency", "development_long_run", "development_samples", "fit_candidates",
           "model_artifact", "model_card", "model_fit_rows", "points_table", "segment_comparison", "split_development",
           "stability", "unanchored", "validate_champion"]

logger = logging.getLogger(__name__)


def split_development(train: pd.DataFrame, oot_snapshots: int, calibration_share: float = 0.25,
                      seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split stacked snapshots into fit / calibration (by customer) / out-of-time (latest snapshots).

    Customers, not rows, are split between fit and calibration so the same firm
    never appears on both sides.
    """
    snaps = np.sort(train["snapshot_date"].unique())
    oot_dates = snaps[-oot_snapshots:]
    is_oot = train["snapshot_date"].isin(oot_dates).to_numpy()
    dev = train.loc[~is_oot]
    customers = np.sort(dev.index.unique().to_numpy())
    rng = np.random.default_rng(seed)
    # every snapshot out of time (a short history): empty fit and calibration samples, which the
    # method choice counts as too few defaults
    cal_ids = (rng.choice(customers, size=max(1, int(round(calibration_share * len(customers)))), replace=False)
               if len(customers) else customers)
    is_cal = dev.index.isin(cal_ids)
    return dev.loc[~is_cal], dev.loc[is_cal], train.loc[is_oot]

@dataclass(frozen=True)
class RunSettings:
    """What candidate fitting needs of a run: its params and whether it reads a customer table."""

    params: RunParams
    table_mode: bool


@dataclass
class Development:
    """Fit / calibration / validation samples, the features and the model's data-dependent settings."""

    fit: pd.DataFrame
    cal: pd.DataFrame
    oot: pd.DataFrame
    names: list[str]
    kwargs: dict[str, Any]
    oot_label: str
    extra: dict[str, Any] = field(default_factory=dict)
    directions: pd.DataFrame | None = None


def development_samples(train: pd.DataFrame, params: RunParams, table_meta: dict[str, Any] | None = None,
                        dictionary: pd.DataFrame | None = None) -> Development:
    """Split ``train`` into fit, calibration and validation samples.

    Parameters
    ----------
    train : the training set indexed by customer_id (stage 02's ``features_train``).
    params : the run's params.
    table_meta, dictionary : table mode only: ``table_features.json`` and the feature dictionary
        indexed by feature. The risk direction of every numeric feature is then inferred on the fit
        rows (declared ones kept) and returned in ``directions``.
    """
    if table_meta is None:
        fit, cal, oot = split_development(train, params.model.oot_snapshots, seed=params.seed)
        return Development(fit, cal, oot, feature_names(), {}, "out-of-time", {})
    names = table_meta["features"]
    fit, cal, oot = (train[train["sample"] == s] for s in ("fit", "calibration", "holdout"))
    declared = {f: int(d) for f, d in dictionary["risk_direction"].dropna().items()}
    numeric_fit = fit[names].copy()
    for col, codes in table_meta["special_codes"].items():  # special codes say nothing about the direction
        numeric_fit[col] = numeric_fit[col].where(~numeric_fit[col].isin(codes))
    directions = infer_risk_directions(numeric_fit, fit["default_in_horizon"].to_numpy(), table_meta["numeric"],
                                       declared)
    kwargs = {"monotone": directions["risk_direction"].to_dict(), "categorical": table_meta["categorical"],
              "special_codes": table_meta["special_codes"]}
    label = "out-of-time" if table_meta["has_date"] else "holdout"
    return Development(fit, cal, oot, names, kwargs, label, {"risk_directions": directions["basis"].to_dict()},
                       directions)


def fit_candidates(ctx: RunSettings, fit: pd.DataFrame, cal: pd.DataFrame, names: list[str], kwargs: dict,
                    seed: int, families: tuple[str, ...] = ("gbm", "scorecard")) -> tuple[dict[str, Any], list[str]]:
    """Every candidate model: GBM and scorecard, single and (ledger mode) segmented new/existing."""
    p = ctx.params
    monotone = kwargs.get("monotone") or {f: FEATURE_DICTIONARY[f].risk_direction for f in names
                                          if f in FEATURE_DICTIONARY}
    sc = p.score_scaling
    y, y_cal = fit["default_in_horizon"], cal["default_in_horizon"]
    # The rounds rule is decided once, on the whole fit sample: a book with fewer defaults than
    # model.cv_rounds_below_defaults has every GBM (segment models too) choose its rounds by
    # cross-validation; a larger book keeps max_iter for all of them.
    n_bad = int(y.sum())
    gbm_params = p.model if min(n_bad, len(y) - n_bad) < p.model.cv_rounds_below_defaults else \
        p.model.model_copy(update={"cv_rounds_below_defaults": 0})

    def make(family: str, features: list[str]):
        if family == "gbm":
            return PDModel.from_params(features, gbm_params, random_state=seed, **kwargs)
        return ScorecardModel.from_params(features, p.model, random_state=seed, categorical=kwargs.get("categorical"),
                                          special_codes=kwargs.get("special_codes"), monotone=monotone, pdo=sc.pdo,
                                          base_score=sc.base_score, base_odds=sc.base_odds)

    out: dict[str, Any] = {}
    notes: list[str] = []
    # Each calibrated model is anchored to the long-run rate of the population it scores: the single
    # models to the whole development window's, a segment's model to its segment's.
    long_run = development_long_run(pd.concat([fit, cal]), ctx)
    train, sample_note = model_fit_rows(fit, p.model.max_fit_rows, seed)
    if sample_note:
        notes.append(sample_note)
    y_train = train["default_in_horizon"]
    for family in families:
        out[family] = fit_calibrated(make(family, names), train, y_train, cal, y_cal, params=p.model,
                                     long_run=long_run)
    if not p.model.segments or (ctx.table_mode and p.data.table.tenure_column is None):
        return out, notes
    if ctx.table_mode:
        new_features = [f for f in names if f not in p.data.table.history_features]
    else:
        new_features = new_customer_feature_names()
    for family in families:
        models = {}
        for segment, features in (("new", new_features), ("existing", names)):
            is_new = segment == "new"
            f_rows = fit[SEGMENT_COLUMN].fillna(False).astype(bool) == is_new
            c_rows = cal[SEGMENT_COLUMN].fillna(False).astype(bool) == is_new
            n_def, c_def = int(y[f_rows].sum()), int(y_cal[c_rows].sum())
            if n_def < p.model.min_segment_defaults or c_def < 2 or c_rows.sum() - c_def < 2:
                if family == families[0]:
                    notes.append(f"The {segment}-customer segment has {n_def} default(s) in its fit rows (below "
                                 f"model.min_segment_defaults = {p.model.min_segment_defaults}) or {c_def} in its "
                                 "calibration rows: it is scored by the single model.")
                continue
            t_rows = train[SEGMENT_COLUMN].fillna(False).astype(bool) == is_new
            models[segment] = fit_calibrated(make(family, features), train[t_rows], y_train[t_rows], cal[c_rows],
                                             y_cal[c_rows], params=p.model,
                                             long_run=development_long_run(pd.concat([fit[f_rows], cal[c_rows]]),
                                                                           ctx, f"{segment} customers"))
        if models:
            out[f"segmented {family}"] = SegmentedModel(models, fallback=out[family])
    return out, notes


def model_fit_rows(fit: pd.DataFrame, cap: int | None, seed: int) -> tuple[pd.DataFrame, str | None]:
    """The fit rows the candidate models train on, and a note when they are a sample.

    Every row up to ``cap`` (``model.max_fit_rows``); above it a seeded sample drawn separately from the
    defaults and the non-defaults with the same share of each, so the sample's default rate is the fit
    sample's (to rounding) and the models' raw PDs keep their level. Rows keep their order.
    """
    n = len(fit)
    if cap is None or n <= cap:
        return fit, None
    y = fit["default_in_horizon"].to_numpy(dtype=int)
    rng = np.random.default_rng(seed)
    share = cap / n
    picked = []
    for outcome in (1, 0):
        rows = np.flatnonzero(y == outcome)
        picked.append(rng.choice(rows, size=int(round(share * len(rows))), replace=False))
    take = np.sort(np.concatenate(picked))
    n_bad = int(y.sum())
    note = (f"The candidate models were fitted on {len(take):,} of the {n:,} fit rows (model.max_fit_rows = "
            f"{cap:,}): a seeded sample of {share:.1%} of the defaults ({len(picked[0]):,} of {n_bad:,}) and of the "
            f"non-defaults. The long-run rate, the calibration (every calibration row) and every validation "
            "table use all rows; model.max_fit_rows: null fits on every row.")
    return fit.iloc[take], note


def development_long_run(rows: pd.DataFrame, ctx: RunSettings, who: str = "") -> LongRunRate:
    """The long-run default rate of development rows (fit and calibration, never out-of-time).

    Ledger mode: the mean of the one-year default rates of the development snapshots (each a
    12-month cohort), its binomial ``n`` the rows of the snapshots whose outcome windows do not
    overlap. Table mode: the fit and calibration rows pooled (a table has no snapshots).
    """
    table = ctx.table_mode or rows["snapshot_date"].isna().all()
    y = rows["default_in_horizon"].to_numpy(dtype=int)
    of = f" of {who}" if who else ""
    if table:
        return long_run_default_rate(y, basis=f"the fit and calibration rows{of}")
    n_cohorts = rows["snapshot_date"].nunique()
    return long_run_default_rate(y, rows["snapshot_date"].to_numpy(), ctx.params.features.label_horizon_months,
                                 basis=f"the {n_cohorts} development snapshot(s){of}")


def champion_name(params: RunParams, candidates: dict[str, Any], cal: pd.DataFrame) -> str:
    """``model.champion``, or (``auto``) the family with the higher calibration-sample AUC, GBM on a tie.

    With segments, ``auto`` compares the segmented GBM and the segmented scorecard (the ones
    :func:`auto_compared` names); the candidate table's ``rank_calibration`` shows that ranking.
    """
    p = params.model
    if p.champion != "auto":
        prefix = "segmented " if f"segmented {p.champion}" in candidates else ""
        return prefix + p.champion
    y = cal["default_in_horizon"].to_numpy()
    scores = {n: vl.auc(y, candidates[n].predict_pd(cal)) for n in auto_compared(candidates)}
    return max(scores, key=lambda n: (scores[n], n.endswith("gbm")))


def auto_compared(candidates: dict[str, Any]) -> list[str]:
    """The candidates ``model.champion: auto`` chooses between: the segmented ones when there are any."""
    segmented = [n for n in candidates if n.startswith("segmented ")]
    return segmented or [n for n in candidates if n in ("gbm", "scorecard")]


def challenger_name(candidates: dict[str, Any], champion: str) -> str | None:
    """The candidate of the other family with the champion's segmentation, if there is one."""
    return next((n for n in candidates if n != champion and
                 n.split(" ")[-1] != champion.split(" ")[-1] and
                 n.startswith("segmented") == champion.startswith("segmented")), None)


@dataclass
class Validation:
    """The champion's validation: metrics per sample, candidates, and the validation sample's tests."""

    metrics: list[ValidationMetrics]
    candidates: pd.DataFrame
    oot: pd.DataFrame
    grades_oot: pd.DataFrame
    segments: pd.DataFrame | None
    binomial: pd.DataFrame
    hosmer_lemeshow: Any
    hosmer_lemeshow_grades: Any
    calibration_table: pd.DataFrame
    auc_by_period: pd.DataFrame


def validate_champion(candidates: dict[str, Any], champion: str, dev: Development, params: RunParams) -> Validation:
    """Metrics of the champion on every sample, every candidate compared, grade and calibration tests."""
    model = candidates[champion]
    fit, cal, oot = dev.fit, dev.cal, dev.oot
    samples = {"development (fit)": fit, "calibration": cal, dev.oot_label: oot}
    metrics = [validation_metrics(label, s["default_in_horizon"].to_numpy(), model.predict_pd(s))
               for label, s in samples.items()]
    preds = {label: (s["default_in_horizon"].to_numpy(), {n: m.predict_pd(s) for n, m in candidates.items()})
             for label, s in samples.items()}
    cand = candidate_table(preds, champion)
    oot_out = pd.DataFrame({
        "snapshot_date": oot["snapshot_date"], "default_in_horizon": oot["default_in_horizon"],
        "pd": model.predict_pd(oot),
    }, index=oot.index)
    oot_out["grade"] = assign_grades(oot_out["pd"].to_numpy(), params.master_scale)
    y_oot, pd_oot = oot_out["default_in_horizon"].to_numpy(), oot_out["pd"].to_numpy()
    grades_oot = grade_table(oot_out["grade"].to_numpy(), pd_oot, y_oot, params.master_scale)
    segments = segment_comparison(candidates, champion, oot)
    binomial = vl.binomial_test_by_grade(oot_out["grade"], pd_oot, y_oot, grade_order=params.grade_names)
    hl = vl.hosmer_lemeshow(y_oot, pd_oot, groups=10)
    hl_grades = vl.hosmer_lemeshow(y_oot, pd_oot, by=oot_out["grade"].to_numpy())
    cal_table = vl.calibration_table(y_oot, pd_oot, bins=10)
    by_period = auc_by_period(model, samples)
    return Validation(metrics, cand, oot_out, grades_oot, segments, binomial, hl, hl_grades, cal_table, by_period)


def segment_comparison(candidates: dict[str, Any], champion: str, oot: pd.DataFrame) -> pd.DataFrame | None:
    """Segmented against single model of the champion's family on the same out-of-time rows."""
    family = champion.split(" ")[-1]
    pair = {"single": candidates.get(family), "segmented": candidates.get(f"segmented {family}")}
    if pair["segmented"] is None:
        return None
    y = oot["default_in_horizon"].to_numpy()
    seg = np.where(oot[SEGMENT_COLUMN].fillna(False).to_numpy(dtype=bool), "new", "existing")
    rows = []
    for name, model in pair.items():
        p = model.predict_pd(oot)
        for label, mask in (("all", np.ones(len(y), bool)), ("new", seg == "new"), ("existing", seg == "existing")):
            both = 0 < y[mask].sum() < mask.sum()
            rows.append({"model": f"{name} {family}", "segment": label, "n": int(mask.sum()),
                         "defaults": int(y[mask].sum()), "auc": vl.auc(y[mask], p[mask]) if both else np.nan,
                         "brier": vl.brier_score(y[mask], p[mask]) if mask.any() else np.nan,
                         "mean_pd": float(p[mask].mean()) if mask.any() else np.nan})
    return pd.DataFrame(rows)


def auc_by_period(model, samples: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """AUC per snapshot month of every sample that has snapshot dates."""
    frames = []
    for label, s in samples.items():
        if s["snapshot_date"].isna().all():
            continue
        period = pd.to_datetime(s["snapshot_date"]).dt.to_period("M").astype(str)
        t = vl.auc_by_period(s["default_in_horizon"].to_numpy(), model.predict_pd(s), period.to_numpy())
        frames.append(t.reset_index().assign(sample=label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["period", "n", "defaults", "auc", "note", "sample"])


def stability(model, fit: pd.DataFrame, oot: pd.DataFrame, current: pd.DataFrame, names: list[str],
              categorical: list[str], oot_label: str) -> pd.DataFrame:
    """PSI of the PD and CSI of every feature, development against out-of-time and today."""
    frames = {"development": fit, oot_label: oot, "current population": current}
    scored = {k: v[names].assign(pd=model.predict_pd(v)) for k, v in frames.items()}
    # a feature never observed in development (e.g. no statements at all) has no bins to compare
    observed = [f for f in names if fit[f].notna().any()]
    table = vl.population_stability(scored, "pd", observed, reference="development", categorical=categorical)
    never = [{"sample": s, "variable": f, "measure": "CSI", "value": np.nan, "flag": "never observed in development"}
             for s in list(frames)[1:] for f in names if f not in observed]
    return pd.concat([table, pd.DataFrame(never)], ignore_index=True) if never else table


def calibration_summary(model) -> dict[str, Any]:
    """Calibration method, shift and comparison of the model (of each segment's model)."""
    parts = model.models | {"all (single)": model.fallback} if isinstance(model, SegmentedModel) else {"all": model}
    out = {}
    for segment, m in parts.items():
        if m is None:
            continue
        c = m.calibrator_
        decision = getattr(c, "central_tendency", None)  # None: a model saved before the rule existed
        out[segment] = {"method": c.method, "shift": float(c.shift), "target_mean": c.target_mean,
                        "comparison": c.comparison.reset_index().to_dict(orient="records"),
                        "central_tendency": None if decision is None else decision.summary()}
    return out


def unanchored(model):
    """A copy of ``model`` with every calibration's central-tendency shift undone: its PDs before the shift."""
    copy = deepcopy(model)
    parts = [*copy.models.values(), copy.fallback] if isinstance(copy, SegmentedModel) else [copy]
    for m in parts:
        if m is not None and hasattr(m, "calibrator_"):
            m.calibrator_.shift = 0.0
    return copy


@dataclass
class CentralTendencyCheck:
    """The champion's PDs before and after the central-tendency shift, against what was observed.

    Attributes
    ----------
    table : per sample (calibration, development window, validation) and segment: rows, defaults,
        observed rate, mean PD before and after; on each whole held-out sample the Hosmer-Lemeshow
        p-value by PD decile and the AUC before and after.
    cohorts : per snapshot (table mode: per sample): rows, defaults, observed rate, mean PD before and
        after, and whether it is in the long-run rate (development) or validation only.
    findings : sentences for the report and the model card's limitations.
    """

    table: pd.DataFrame
    cohorts: pd.DataFrame
    findings: list[str]


def _anchor_rows(label: str, s: pd.DataFrame, before: np.ndarray, after: np.ndarray, segmented: bool,
                 tests: bool) -> list[dict[str, Any]]:
    y = s["default_in_horizon"].to_numpy(dtype=int)
    parts = [("all", np.ones(len(y), bool))]
    if segmented:
        seg = SegmentedModel.segment_of(s)
        parts += [(name, seg == name) for name in ("new", "existing") if (seg == name).any()]
    rows = []
    for part, mask in parts:
        row = {"sample": label, "segment": part, "rows": int(mask.sum()), "defaults": int(y[mask].sum()),
               "observed_rate": float(y[mask].mean()), "mean_pd_before": float(before[mask].mean()),
               "mean_pd_after": float(after[mask].mean()), "hl_p_before": np.nan, "hl_p_after": np.nan,
               "auc_before": np.nan, "auc_after": np.nan}
        if tests and part == "all" and 0 < y.sum() < len(y):
            row |= {"hl_p_before": vl.hosmer_lemeshow(y, before, groups=10).p_value,
                    "hl_p_after": vl.hosmer_lemeshow(y, after, groups=10).p_value,
                    "auc_before": vl.auc(y, before), "auc_after": vl.auc(y, after)}
        rows.append(row)
    return rows


def check_central_tendency(model, dev: Development, calib: dict[str, Any], table_mode: bool) -> CentralTendencyCheck:
    """The champion's mean PD before and after its central-tendency shift, per sample, segment and cohort.

    The development window's rows are fit and calibration rows together (the fit rows are scored
    in sample); the Hosmer-Lemeshow test (10 PD deciles, as in the validation) and the AUC are
    computed on the held-out samples only.
    """
    plain = unanchored(model)
    segmented = isinstance(model, SegmentedModel)
    samples = (("calibration", (dev.cal,), True), ("development window (fit + calibration)", (dev.fit, dev.cal), False),
               (dev.oot_label, (dev.oot,), True))
    # A PD is a function of its own row: the window's PDs are its two samples' (scored once each here or by
    # the validation before, through shared_predictions), not a third scoring of the concatenated frame.
    scored = {label: (pd.concat(parts) if len(parts) > 1 else parts[0],
                      *(np.concatenate([m.predict_pd(part) for part in parts]) for m in (plain, model)), tests)
              for label, parts, tests in samples}
    table = pd.DataFrame([r for label, (s, b, a, tests) in scored.items()
                          for r in _anchor_rows(label, s, b, a, segmented, tests)])
    frames = []
    for label, use in (("development window (fit + calibration)", "development: in the long-run rate"),
                       (dev.oot_label, "validation only: never sets the calibration")):
        s, before, after, _ = scored[label]
        by = (pd.Series(label, index=s.index) if table_mode or s["snapshot_date"].isna().all()
              else pd.to_datetime(s["snapshot_date"]).dt.date.astype(str))
        frames.append(pd.DataFrame({"cohort": by.to_numpy(), "default": s["default_in_horizon"].to_numpy(dtype=int),
                                    "pd_before": before, "pd_after": after})
                      .groupby("cohort").agg(rows=("default", "size"), defaults=("default", "sum"),
                                             observed_rate=("default", "mean"), mean_pd_before=("pd_before", "mean"),
                                             mean_pd_after=("pd_after", "mean"))
                      .reset_index().assign(use=use))
    cohorts = pd.concat(frames, ignore_index=True)
    return CentralTendencyCheck(table, cohorts, _central_tendency_findings(table, cohorts, calib, dev.oot_label))


def _central_tendency_findings(table: pd.DataFrame, cohorts: pd.DataFrame, calib: dict[str, Any],
                               oot_label: str) -> list[str]:
    """What the re-anchoring did and what it cannot do, in sentences with the numbers."""
    pct = "{:.2%}".format
    decided = []
    for part, c in calib.items():
        ct = c.get("central_tendency")
        if ct is None:
            continue
        if ct["applied"]:
            decided.append(f"{part}: mean PD on the calibration sample shifted from {pct(ct['mean_pd_before'])} to "
                           f"{pct(ct['mean_pd_after'])}" + (
                               f" (outside the 95% interval {pct(ct['band'][0])}-{pct(ct['band'][1])} of its "
                               f"long-run rate {pct(ct['long_run_rate'])})" if ct["setting"] == "auto" else
                               " (model.central_tendency set in the params)"))
        elif ct["setting"] == "auto" and ct["band"][0] <= ct["mean_pd_before"] <= ct["band"][1]:
            decided.append(f"{part}: not shifted, mean PD {pct(ct['mean_pd_before'])} inside the 95% interval "
                           f"{pct(ct['band'][0])}-{pct(ct['band'][1])} of its long-run rate {pct(ct['long_run_rate'])}")
        elif ct["setting"] == "auto":
            decided.append(f"{part}: {ct['reason']}")
    settings = {c["central_tendency"]["setting"] for c in calib.values() if c.get("central_tendency")}
    if settings == {"off"}:
        out = ["PDs are calibrated to the calibration sample's default rate (held-out customers of the development "
               "window) and not re-anchored to a long-run rate (model.central_tendency = null)."]
    else:
        shown = sorted({pct(c["central_tendency"]["target"]) if c["central_tendency"]["setting"] == "fixed"
                        else c["central_tendency"]["setting"] for c in calib.values() if c.get("central_tendency")})
        out = ["PDs are calibrated on held-out customers of the development window; model.central_tendency = "
               f"{' / '.join(shown)} (the rule is in the report): " + "; ".join(decided) + "."]
    oot = table[(table["sample"] == oot_label) & (table["segment"] == "all")]
    window = cohorts[cohorts["use"].str.startswith("development")]
    if oot.empty or window.empty:
        return out
    o = oot.iloc[0]
    out.append(f"On the {oot_label} sample the mean PD is {pct(o['mean_pd_after'])} ({pct(o['mean_pd_before'])} "
               f"before any shift) against {pct(o['observed_rate'])} observed; Hosmer-Lemeshow by PD decile p = "
               f"{o['hl_p_after']:.3f} ({o['hl_p_before']:.3f} before).")
    lo, hi = window["observed_rate"].min(), window["observed_rate"].max()
    rate = o["observed_rate"]
    if len(window) > 1 and not lo <= rate <= hi:
        out.append(f"The {oot_label} cohort's default rate ({pct(rate)}) is {'below' if rate < lo else 'above'} every "
                   f"development cohort's ({pct(lo)}-{pct(hi)}): the PD level is set on the development window only, "
                   f"never tuned to the {oot_label} sample, so a year better or worse than the development window "
                   "stays visible there as a gap, and the Hosmer-Lemeshow test there may reject.")
    dev_all = table[(table["sample"].str.startswith("development")) & (table["segment"] == "all")].iloc[0]
    pd_up = o["mean_pd_before"] > dev_all["mean_pd_before"]
    # said only where the out-of-time miss exceeds the sampling noise of its observed rate
    noise = 1.96 * np.sqrt(o["mean_pd_before"] * (1 - o["mean_pd_before"]) / o["rows"])
    if pd_up != (rate > dev_all["observed_rate"]) and abs(rate - o["mean_pd_before"]) > noise:
        out.append(f"Before any shift the model scores the {oot_label} book {'riskier' if pd_up else 'safer'} than the "
                   f"development window (mean PD {pct(o['mean_pd_before'])} against "
                   f"{pct(dev_all['mean_pd_before'])}) while {'fewer' if pd_up else 'more'} of it defaulted "
                   f"({pct(rate)} against {pct(dev_all['observed_rate'])}): its features moved one way and its "
                   "outcomes the other, which no shift of the calibration level removes.")
    return out


def points_table(candidates: dict[str, Any], champion: str) -> pd.DataFrame | None:
    """The scorecard's points per bin (the segmented scorecard's per segment), as a plain table."""
    segmented = champion.startswith("segmented")
    card = candidates.get("segmented scorecard" if segmented else "scorecard")
    if card is None:
        return None
    if not segmented:
        return card.points_table().assign(segment="all")
    frames = [m.points_table().assign(segment=seg) for seg, m in card.models.items()]
    if len(card.models) < 2:
        frames.append(card.fallback.points_table().assign(segment="other segments (single scorecard)"))
    return pd.concat(frames, ignore_index=True)


def model_artifact(model, dev: Development, champion: str, sha: str, challenger: str | None,
                   challenger_sha: str | None, table_mode: bool, params: RunParams) -> dict[str, Any]:
    """The description of the saved model written beside it as ``models/pd_model.json``."""
    fit, cal, oot = dev.fit, dev.cal, dev.oot
    snapshots = [dev.oot_label] if table_mode else sorted(
        str(pd.Timestamp(s).date()) for s in pd.concat([fit, cal, oot])["snapshot_date"].unique())
    return {
        "file": "models/pd_model.fitted.json", "sha256": sha, "champion": champion, "features": dev.names,
        "features_used": model.features_,
        "monotone_constraints": dict(zip(model.features_, model.monotone_cst_, strict=True)),
        "unused_features": model.unused_features_,
        "challenger": ({"name": challenger, "file": "models/challenger_model.fitted.json", "sha256": challenger_sha}
                       if challenger else None),
        "fit_rows": len(fit), "calibration_rows": len(cal), "oot_rows": len(oot), "validation_sample": dev.oot_label,
        "snapshots": snapshots, "params": params.model.model_dump(mode="json"),
        # what the data decided about the candidates (table mode: directions, categories, codes),
        # so a refit (reason stability) uses the same settings without re-deriving them
        "model_settings": dev.kwargs, "boosting_rounds": boosting_rounds(model), **dev.extra,
    }


def boosting_rounds(model) -> dict[str, dict[str, Any]]:
    """Rounds each GBM of ``model`` was fitted with and how they were chosen (empty for a scorecard)."""
    parts = model.models | {"all (single)": model.fallback} if isinstance(model, SegmentedModel) else {"all": model}
    out = {}
    for segment, m in parts.items():
        booster = getattr(m, "estimator", m)
        if getattr(booster, "n_rounds_", None) is not None:
            out[segment] = {"rounds": int(booster.n_rounds_), "basis": booster.rounds_basis_}
    return out


def champion_basis(params: RunParams, cand: pd.DataFrame, champion: str) -> str:
    """How the champion was chosen, in words, with the calibration-sample ranking it was chosen on."""
    on_cal = cand[cand["sample"] == "calibration"].sort_values("rank_calibration")
    ranking = ", ".join(f"{c} {a:.3f}" for c, a in zip(on_cal["candidate"], on_cal["auc"], strict=True))
    if params.model.champion == "auto":
        compared = auto_compared(dict.fromkeys(on_cal["candidate"]))
        return (f"model.champion = auto: {champion}, the highest calibration-sample AUC of "
                f"{' and '.join(compared)} (calibration-sample AUC: {ranking})")
    given = "set in the params" if "champion" in params.model.model_fields_set else "the shipped default"
    return (f"model.champion = {params.model.champion}: {given}, not chosen (calibration-sample AUC: "
            f"{ranking})")


def model_card(settings: RunSettings, artifact: dict, metrics: list[ValidationMetrics], cand: pd.DataFrame,
               calib: dict, stability: pd.DataFrame, notes: list[str], oot_label: str, source: str,
               as_of: pd.Timestamp, features_train_sha256: str,
               central_tendency: CentralTendencyCheck | None = None) -> dict[str, Any]:
    """Intended use, data window, segments, features, performance, limitations, artifact hashes.

    ``source`` and ``as_of`` are the data's (stage 01), ``features_train_sha256`` the hash of the
    training set the model was fitted on; ``central_tendency`` (:func:`check_central_tendency`)
    puts the re-anchoring, and what it does out of time, among the limitations.
    """
    p = settings.params
    oot = metrics[-1]
    shifted = stability[stability["flag"] == "significant shift"]
    limitations = list(notes) + [
        f"Validated on the {oot_label} sample ({oot.n} rows, {oot.n_defaults} defaults); the grade-level tests have "
        "little power where a grade holds few defaults.",
        *(central_tendency.findings if central_tendency is not None else
          ["PDs are calibrated on held-out customers of the development window (the calibration sample)."]),
    ]
    if len(shifted):
        limitations.append("Population shift (PSI/CSI above 0.25) against development in: " + ", ".join(
            f"{v} ({smp})" for v, smp in zip(shifted["variable"], shifted["sample"], strict=True)))
    return {
        "model": artifact["champion"],
        "intended_use": "12-month probability of default of business customers buying on credit terms, to set and "
                        "review credit limits and size the risk reserve; not for consumer lending decisions.",
        "data": {"source": source, "as_of_date": as_of.date().isoformat(),
                 "snapshots": artifact["snapshots"], "fit_rows": artifact["fit_rows"],
                 "calibration_rows": artifact["calibration_rows"], "validation_rows": artifact["oot_rows"],
                 "label": "default within the horizon after the snapshot" if not settings.table_mode
                 else f"outcome column {p.data.table.outcome.column}"},
        "segments": ((f"new customers ({p.data.table.tenure_column} below features.new_customer_months, or "
                      "unknown) and existing customers, each with its own model" if settings.table_mode else
                      "new customers (tenure < features.new_customer_months or no settled invoice) and existing "
                      "customers, each with its own model") if artifact["champion"].startswith("segmented")
                     else "one model for every customer"),
        "features": artifact["features_used"],
        "performance": {m.sample: {"auc": m.auc, "gini": m.gini, "ks": m.ks, "brier": m.brier, "n": m.n,
                                   "defaults": m.n_defaults} for m in metrics},
        "champion_choice": champion_basis(p, cand, artifact["champion"]),
        "boosting_rounds": artifact.get("boosting_rounds", {}),
        "challengers": cand[cand["sample"] == oot_label][["candidate", "auc", "brier", "rank_out_of_time",
                                                         "rank_calibration"]].to_dict(orient="records"),
        "calibration": {k: {"method": v["method"], "shift": v["shift"],
                            **({"central_tendency": v["central_tendency"]} if v.get("central_tendency") else {})}
                        for k, v in calib.items()},
        **({"central_tendency": {"setting": p.model.central_tendency,
                                 "check": central_tendency.table.to_dict(orient="records"),
                                 "cohorts": central_tendency.cohorts.to_dict(orient="records")}}
           if central_tendency is not None else {}),
        "limitations": limitations,
        "artifacts": {"pd_model.fitted.json": artifact["sha256"],
                      **({"challenger_model.fitted.json": artifact["challenger"]["sha256"]}
                         if artifact["challenger"] else {}),
                      "features_train.parquet": features_train_sha256},
    }
