"""Plots of the validation tables: the calibration plot and the score histogram of goods and bads.

They draw the tables computed in :mod:`credit_lab.models` (a report concern, so they
live in the report layer); each takes an optional matplotlib ``ax`` and returns it.
"""

from __future__ import annotations

import logging
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_calibration", "plot_score_distribution"]

logger = logging.getLogger(__name__)


def plot_calibration(table: pd.DataFrame, ax: Any = None, label: str = "model") -> Any:
    """Calibration plot of a calibration table: observed default rate against mean PD.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`credit_lab.models.calibration_tests.calibration_table`.
    ax : matplotlib Axes, optional
    label : str

    Returns
    -------
    matplotlib.axes.Axes
        With the diagonal and the observed rates with their confidence intervals.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    x = table["mean_predicted"].to_numpy()
    obs = table["observed_rate"].to_numpy()
    err = np.vstack([obs - table["ci_lower"].to_numpy(), table["ci_upper"].to_numpy() - obs])
    top = float(max(np.max(table["ci_upper"]), np.max(x))) * 1.05 or 1.0
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect calibration")
    ax.errorbar(x, obs, yerr=err, fmt="o", capsize=3, label=label)
    ax.set_xlabel("mean predicted PD")
    ax.set_ylabel("observed default rate")
    ax.legend()
    return ax


def plot_score_distribution(table: pd.DataFrame, ax: Any = None) -> Any:
    """Step plot of the score shares of goods and bads from :func:`credit_lab.models.metrics.score_distribution`.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`credit_lab.models.metrics.score_distribution`.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    edges = np.r_[table["bin_from"].to_numpy(), table["bin_to"].to_numpy()[-1]]
    for col, name in (("share_goods", "goods"), ("share_bads", "bads")):
        ax.stairs(table[col].to_numpy(), edges, label=name)
    ax.set_xlabel("score")
    ax.set_ylabel("share of class")
    ax.legend()
    return ax
