"""The look of every report, set in one place: figure theme, how tables display, what each figure says in words.

Each stage notebook calls :func:`setup_notebook` once, in its setup cell. From then on, in that kernel:

- every figure uses one theme (:func:`apply_figure_style`: seaborn's ``whitegrid`` with the
  reports' palette), whichever helper in :mod:`credit_lab.report.figures` drew it;
- every DataFrame a cell displays is rendered by :func:`credit_lab.report.tables.table_html`
  (numbers formatted by column kind, long tables bounded and searchable);
- every figure a cell displays carries a description of itself (:func:`describe_figure`: its
  titles and axis labels) in the output's metadata, which the HTML export turns into the
  image's ``alt`` text (:mod:`credit_lab.report.export`).
"""

from __future__ import annotations

import logging
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from credit_lab.report.tables import table_html

logger = logging.getLogger(__name__)

__all__ = ["PALETTE", "apply_figure_style", "describe_figure", "setup_notebook"]

#: the reports' colours, in the order plots take them (the first two are the figures' blue and red)
PALETTE = ("#3b6ea5", "#a53b3b", "#3b8a3b", "#d08c2b", "#7a5195", "#777777", "#2a9d8f", "#c06c84")


def apply_figure_style() -> None:
    """Set the one theme of all report figures (seaborn ``whitegrid``, the reports' palette, readable sizes)."""
    import seaborn as sns  # deferred: only report kernels draw

    sns.set_theme(context="notebook", style="whitegrid", palette=list(PALETTE), font_scale=0.9,
                  rc={"figure.dpi": 90, "axes.titleweight": "bold", "axes.titlesize": 11, "legend.frameon": False,
                      "axes.spines.top": False, "axes.spines.right": False})


def describe_figure(fig: Figure) -> str:
    """A figure in words, for its ``alt`` text: its title(s) and what its axes show.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> _ = ax.set_title("ROC curve"); _ = ax.set_xlabel("false-positive rate"); _ = ax.set_ylabel("true-positive rate")
    >>> describe_figure(fig)
    'Figure: ROC curve (x: false-positive rate; y: true-positive rate)'
    >>> plt.close(fig)
    """
    suptitle = fig.get_suptitle().strip()
    titles = [suptitle] if suptitle else []
    axes_words = []
    for ax in fig.axes:
        title = ax.get_title().strip()
        if title and title not in titles:
            titles.append(title)
        labels = [f"{axis}: {label}" for axis, label in (("x", ax.get_xlabel().strip()), ("y", ax.get_ylabel().strip()))
                  if label]
        if labels and not axes_words:
            axes_words = labels
    text = "Figure: " + ("; ".join(titles) if titles else "chart")
    if axes_words:
        text += f" ({'; '.join(axes_words)})"
    return text[:300]


def _frame_html(frame: pd.DataFrame | pd.Series) -> str:
    return table_html(frame)


def setup_notebook() -> None:
    """Apply the report style to the running IPython kernel (see the module docstring); safe to call twice."""
    from IPython import get_ipython

    apply_figure_style()
    shell = get_ipython()
    if shell is None:  # plain Python: nothing displays
        return
    # pyplot loads its backend at the first figure, and the inline backend then registers its PNG formatter for
    # figures, replacing any other: load it now, so that the formatter below wraps the backend's
    plt.switch_backend(plt.get_backend())
    formatters = shell.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, _frame_html)
    formatters["text/html"].for_type(pd.Series, _frame_html)
    png = formatters["image/png"]
    draw = png.lookup_by_type(Figure) if Figure in png else None
    if draw is None:
        logger.warning("no PNG formatter for matplotlib figures: figures keep no description")
        return
    if getattr(draw, "_credit_lab_described", False):
        return

    def described(fig: Figure) -> Any:
        data = draw(fig)
        return (data, {"alt": describe_figure(fig)}) if data is not None else None

    described._credit_lab_described = True  # type: ignore[attr-defined]
    png.for_type(Figure, described)

