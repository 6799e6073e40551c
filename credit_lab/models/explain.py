"""SHAP explanations of the PD model, their additivity check, and reason codes.

The booster's raw output is the log-odds of default; SHAP values explain it
exactly: ``base_value + sum(shap) == raw log-odds``. The check below enforces
that for every customer before any explanation is reported. Calibration is a
monotone map of the raw log-odds, so the ranking of factors carries over to
the calibrated PD.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.features.point_in_time import FEATURE_DICTIONARY
from credit_lab.models.explanation import Explanation, check_additivity

__all__ = ["Explanation", "explain", "tree_shap", "check_additivity", "reason_codes", "grouped_reason_codes"]


def explain(model, X: pd.DataFrame, tolerance: float = 1e-6, engine: str = "fast") -> tuple[Explanation, float]:
    """Exact explanation of ``model``'s raw log-odds for the rows of ``X``, checked for additivity.

    Every model family explains itself through ``model.explanation(X, engine)``: trees
    (:class:`~credit_lab.models.gbm.PDModel`) by their exact SHAP values; the scorecard by its
    per-variable contributions (coefficient x WoE of the customer's bin), which are its exact
    SHAP values too, as the model is additive; a segmented model by each customer's segment
    model; a calibrated model by the model it calibrates.

    ``engine="shap"`` computes tree SHAP values with ``shap.TreeExplainer`` instead of the fast
    exact algorithm (the reference the report compares against).

    Returns the explanation and the max additivity error found.
    """
    expl = model.explanation(X, engine=engine)
    err = check_additivity(expl.values, expl.base_value, expl.output, tolerance)
    return expl, err


def tree_shap(tree_model, matrix: np.ndarray, engine: str = "fast") -> tuple[np.ndarray, float]:
    """Exact (path-dependent) SHAP values of a tree ensemble and its expected value.

    ``engine="fast"``: :class:`credit_lab.models.fast_shap.FastTreeExplainer` (the same values as
    ``shap.TreeExplainer``, faster); ``"shap"``: ``shap.TreeExplainer`` itself.
    """
    if engine == "fast":
        from credit_lab.models.fast_shap import FastTreeExplainer  # deferred: numba imports slowly

        explainer = FastTreeExplainer(tree_model)
        return np.asarray(explainer.shap_values(matrix), dtype=float), float(explainer.expected_value)
    if engine != "shap":
        raise ValueError(f"engine must be 'fast' or 'shap', got {engine!r}")
    import shap  # imported here: it is slow to import and only this stage needs it

    explainer = shap.TreeExplainer(tree_model)
    values = np.asarray(explainer.shap_values(matrix), dtype=float)
    if values.ndim == 3:  # some shap versions return one slice per class
        values = values[..., -1]
    return values, float(np.ravel(explainer.expected_value)[-1])


def reason_codes(expl: Explanation, top: int = 3, phrases: dict[str, str] | None = None) -> pd.DataFrame:
    """The ``top`` factors that raise each customer's PD the most, in plain language.

    Only factors with a positive contribution (adverse) are listed; a customer
    with fewer adverse factors gets empty trailing reasons. ``phrases`` (feature ->
    phrase) replaces the ledger's feature dictionary, e.g. for a customer table.
    """
    vals = expl.values
    names = np.array(expl.feature_names, dtype=object)
    order = np.argsort(-vals, axis=1, kind="stable")[:, :top]
    out = {}
    data = expl.data.to_numpy()
    rows = np.arange(len(vals))[:, None]
    top_vals = vals[rows, order]
    top_feat = names[order]
    top_data = data[rows, order]
    for k in range(top):
        texts = []
        for feat, contribution, value in zip(top_feat[:, k], top_vals[:, k], top_data[:, k]):
            if contribution <= 0:
                texts.append("")
                continue
            spec = FEATURE_DICTIONARY.get(feat) if phrases is None else None
            if phrases is not None:
                texts.append(phrases.get(feat, str(feat)) if not np.isnan(value) else f"no information on: {feat}")
            elif spec is None:
                texts.append(str(feat))
            elif np.isnan(value):
                texts.append(f"no information on: {spec.description}")
            else:
                texts.append(spec.reason)
        out[f"reason_{k + 1}"] = texts
        out[f"reason_{k + 1}_feature"] = np.where(top_vals[:, k] > 0, top_feat[:, k], "")
        out[f"reason_{k + 1}_log_odds"] = np.where(top_vals[:, k] > 0, top_vals[:, k], 0.0)
    return pd.DataFrame(out, index=expl.data.index)


def grouped_reason_codes(expl: Explanation, groups: dict[str, tuple[str, str, tuple[str, ...]]], top: int = 3,
                         phrases: dict[str, str] | None = None) -> pd.DataFrame:
    """Reason codes by reason group: the groups whose summed contributions raise the PD most.

    ``groups`` maps a group to ``(reason, what is missing, features)``; a group's contribution
    is the sum of its features' (exact, additive) contributions, so the grouped reasons still
    add up to the model output. Features in no group are their own group (``phrases`` or the
    feature dictionary give their reason). A group raising the PD while none of its features is
    known reads "missing information on ...". Columns: ``reason_k`` (the text), ``reason_k_group``,
    ``reason_k_feature`` (the group's largest adverse feature) and ``reason_k_log_odds``.
    """
    names = expl.feature_names
    members: dict[str, list[int]] = {}
    texts: dict[str, tuple[str, str]] = {}
    placed: set[str] = set()
    for key, (reason, missing, feats) in groups.items():
        idx = [names.index(f) for f in feats if f in names]
        if idx:
            members[key], texts[key] = idx, (reason, missing)
            placed.update(names[i] for i in idx)
    for i, f in enumerate(names):
        if f not in placed:
            spec = FEATURE_DICTIONARY.get(f)
            reason = (phrases or {}).get(f) or (spec.reason if spec else f)
            members[f], texts[f] = [i], (reason, spec.description if spec else f)
    keys = list(members)
    vals = np.column_stack([expl.values[:, members[k]].sum(axis=1) for k in keys])
    known = np.column_stack([(~np.isnan(expl.data.to_numpy(dtype=float)[:, members[k]])).any(axis=1) for k in keys])
    order = np.argsort(-vals, axis=1, kind="stable")[:, :top]
    rows = np.arange(len(vals))[:, None]
    top_vals, top_keys, top_known = vals[rows, order], np.array(keys, dtype=object)[order], known[rows, order]
    out: dict[str, object] = {}
    for k in range(min(top, len(keys))):
        adverse = top_vals[:, k] > 0
        out[f"reason_{k + 1}"] = [
            "" if not a else (texts[g][0] if kn else f"missing information on {texts[g][1]}")
            for a, g, kn in zip(adverse, top_keys[:, k], top_known[:, k], strict=True)]
        out[f"reason_{k + 1}_group"] = np.where(adverse, top_keys[:, k], "")
        feature = []
        for i, (a, g) in enumerate(zip(adverse, top_keys[:, k], strict=True)):
            cols = members[g]
            feature.append(names[cols[int(np.argmax(expl.values[i, cols]))]] if a else "")
        out[f"reason_{k + 1}_feature"] = feature
        out[f"reason_{k + 1}_log_odds"] = np.where(adverse, top_vals[:, k], 0.0)
    return pd.DataFrame(out, index=expl.data.index)
