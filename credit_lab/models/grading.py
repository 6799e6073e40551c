"""The master scale and score points: grades and points of PDs, and the grade table.

These turn any model's PDs into grades and points; they belong to no model family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.core.config import Grade, ScoreScaling

__all__ = ["assign_grades", "grade_table", "score_points"]

_EPS = 1e-9


def assign_grades(pd_: np.ndarray, scale: tuple[Grade, ...] | list[Grade]) -> np.ndarray:
    """Grade of each PD on the master scale: the first grade whose ``pd_max`` is >= the PD."""
    bounds = np.array([g.pd_max for g in scale])
    names = np.array([g.grade for g in scale], dtype=object)
    pos = np.searchsorted(bounds, np.asarray(pd_, dtype=float), side="left")
    return names[np.minimum(pos, len(bounds) - 1)]


def score_points(pd_: np.ndarray, scaling: ScoreScaling) -> np.ndarray:
    """Score points by points-to-double-odds scaling.

    ``score = base_score + pdo / ln 2 * ln(odds / base_odds)`` with good:bad
    ``odds = (1 - PD) / PD``: ``base_odds`` earns ``base_score`` and every
    doubling of the odds adds ``pdo`` points.
    """
    p = np.clip(np.asarray(pd_, dtype=float), _EPS, 1 - _EPS)
    factor = scaling.pdo / np.log(2.0)
    return scaling.base_score + factor * (np.log((1 - p) / p) - np.log(scaling.base_odds))


def grade_table(grades: np.ndarray, pd_: np.ndarray, y: np.ndarray | None,
                scale: tuple[Grade, ...] | list[Grade]) -> pd.DataFrame:
    """Count, mean PD and (when outcomes are given) observed default rate per grade."""
    lower = [0.0] + [g.pd_max for g in scale[:-1]]
    frame = pd.DataFrame({"grade": grades, "pd": pd_})
    if y is not None:
        frame["default"] = np.asarray(y, dtype=float)
    agg = {"customers": ("pd", "size"), "mean_pd": ("pd", "mean")}
    if y is not None:
        agg["observed_default_rate"] = ("default", "mean")
        agg["defaults"] = ("default", "sum")
    table = frame.groupby("grade").agg(**agg)
    band = pd.DataFrame({"grade": [g.grade for g in scale], "pd_from": lower, "pd_to": [g.pd_max for g in scale]})
    return band.merge(table, left_on="grade", right_index=True, how="left").fillna({"customers": 0})
