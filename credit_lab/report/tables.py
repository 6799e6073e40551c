"""Tables as readers see them in the HTML reports: numbers formatted by what they measure, long tables bounded.

Every table a report shows goes through :func:`table_html`, whether a cell displays a DataFrame
(:func:`credit_lab.report.style.setup_notebook` makes it the notebooks' HTML formatter for frames) or a
section hands over a :class:`ReportTable` (:func:`long_table`: a bounded table with a link to its file
in the run folder). A column's kind follows from its name and values (:func:`column_kind`):

========== ============================================================ =================
kind       columns                                                      shown as
========== ============================================================ =================
percent    PDs, rates, shares, LGD, CCF, weights, utilisation (fractions) ``1.23%``
money      limits, exposures, EL, ECL, provisions, reserves, budgets     ``1,234,568``
number     anything else numeric: counts, statistics, scores             ``736``, ``0.9459``
text       text, dates, yes/no                                           as written
========== ============================================================ =================

Nothing is ever shown in scientific notation (:func:`credit_lab.core.formatting.readable_number`).
Tables longer than :data:`INTERACTIVE_ROWS` get the class ``cl-interactive``: the report's one
small script (:data:`TABLE_SCRIPT`, added by :mod:`credit_lab.report.export`) makes them searchable
and sortable in the browser, without any network access; without the script they are plain tables.
"""

from __future__ import annotations

import html
import re
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from credit_lab.core.formatting import money, percent, readable_number

__all__ = ["INTERACTIVE_ROWS", "MAX_ROWS", "TABLE_CSS", "TABLE_SCRIPT", "ReportTable", "column_kind", "format_value",
           "long_table", "table_html"]

Kind = Literal["percent", "money", "number", "text"]

#: tables with more rows than this are searchable and sortable in the report
INTERACTIVE_ROWS = 20
#: no report embeds more rows of one table; the rest is in the table's file in the run folder
MAX_ROWS = 1000
#: what a missing value shows as
MISSING = "–"

# Words of a column name (split at "_", " ", ".") that make it a fraction shown in percent, or an amount of money.
_PERCENT_WORDS = frozenset({"pd", "rate", "share", "lgd", "ccf", "utilization", "utilisation", "confidence", "recall",
                            "precision", "weight", "predicted", "ci"})
_PERCENT_NAMES = frozenset({"band_low", "band_high"})
_PERCENT_ENDINGS = ("_rel_ci95", "_vs_base")
_MONEY_WORDS = frozenset({"limit", "exposure", "ead", "el", "ecl", "provision", "reserve", "loss", "amount", "balance",
                          "outstanding", "budget", "used", "slack", "profit", "var", "es", "ul", "collateralised",
                          "insured", "guaranteed", "gap", "allowance", "gross", "carrying", "receivables", "headroom",
                          "cap", "difference", "gain", "change", "sum", "optimum", "need"})
# statistics whose names share a word with money (log loss is no loss of money)
_NUMBER_NAMES = frozenset({"log_loss", "brier", "auc", "gini", "ks", "accuracy_ratio", "lift", "hhi_name",
                           "hhi_industry"})
# a frame of one column with one of these names lists measures by row (the row label says what each is)
_VALUE_COLUMNS = frozenset({"value", "total", "values"})


def _words(name: Hashable) -> tuple[str, list[str]]:
    text = "_".join(str(n) for n in name) if isinstance(name, tuple) else str(name)
    text = text.strip().lower()
    return text, [w for w in re.split(r"[_\s.]+", text) if w]


def column_kind(name: Hashable, values: Sequence[Any] | pd.Series | None = None) -> Kind:
    """How a column (or, in a table of measures by row, a row) is formatted: from its name, checked on its values.

    Parameters
    ----------
    name : hashable
        The column name (a tuple for a column of a MultiIndex: its levels are read together).
    values : sequence, optional
        The column's values. Non-numeric values make the column ``text``; a name that says
        percent with a value beyond ±1 is not a fraction, so it is a ``money`` or ``number`` column.

    Returns
    -------
    {"percent", "money", "number", "text"}

    Examples
    --------
    >>> column_kind("mean_pd", [0.01, 0.2])
    'percent'
    >>> column_kind("pd_ecl", [714571.0])
    'money'
    >>> column_kind("auc", [0.91])
    'number'
    """
    numeric = _numeric(values) if values is not None else np.array([0.0])
    if numeric is None:
        return "text"
    text, words = _words(name)
    fraction = bool(np.all(np.abs(numeric[np.isfinite(numeric)]) <= 1 + 1e-9))
    if text in _NUMBER_NAMES:
        return "number"
    if fraction and (text in _PERCENT_NAMES or text.endswith(_PERCENT_ENDINGS) or _PERCENT_WORDS.intersection(words)):
        return "percent"
    if _MONEY_WORDS.intersection(words):
        return "money"
    return "number"


def _numeric(values: Sequence[Any] | pd.Series) -> np.ndarray | None:
    """The values as floats, or None when any present value is not a number (bools count as text)."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    present = series.dropna()
    if len(present) and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                            for v in present):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return None if len(present) else np.array([], dtype=float)


def format_value(value: Any, kind: Kind, *, max_chars: int | None = None) -> str:
    """One cell as text for reading (see the module docstring); ``max_chars`` cuts long text with an ellipsis."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float | np.floating)
                                                              and np.isnan(value)):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, float | np.floating) or (kind != "text" and isinstance(value, int | np.integer)):
        # a number in a column of text (a transposed table) is still a number for reading
        if kind == "percent":
            return percent(value)
        if kind == "money":
            return readable_number(value) if not np.isfinite(value) else money(value)
        return readable_number(value)
    text = str(value)
    if max_chars is not None and len(text) > max_chars:
        text = text[:max(max_chars - 1, 1)] + "…"
    return text


def _with_index(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a meaningful index as its first column(s); a plain row number is dropped."""
    index = frame.index
    if not isinstance(index, pd.MultiIndex) and index.name is None and pd.api.types.is_integer_dtype(index):
        return frame.reset_index(drop=True)
    names = [n if n is not None else ("" if index.nlevels == 1 else f"level_{i}") for i, n in enumerate(index.names)]
    flat = frame.copy()
    flat.index = index.set_names(names)
    if isinstance(flat.columns, pd.MultiIndex):  # reset_index needs the new columns' names at every level
        flat.columns = [" ".join(str(x) for x in c if str(x)) for c in flat.columns]
    return flat.reset_index(allow_duplicates=True)  # an index named like a column: both are shown


def _header(name: Hashable) -> str:
    return " ".join(str(x) for x in name if str(x)) if isinstance(name, tuple) else str(name)


def table_html(frame: pd.DataFrame | pd.Series, *, max_rows: int = MAX_ROWS, name: str | None = None,
               source: Sequence[str] = (), what: str = "rows") -> str:
    """A table as HTML for the reports: formatted by column kind, at most ``max_rows`` rows, long ones interactive.

    Parameters
    ----------
    frame : DataFrame or Series
        The table; a meaningful index becomes the first column(s).
    max_rows : int, default :data:`MAX_ROWS`
        Rows embedded at most; the note above the table says how many there are and where the rest is.
    name : str, optional
        Gives the table a stable id (``table-<name>``), for links to it.
    source : sequence of str
        Files with the whole table, relative to the report (``../data/limits.parquet``): linked in the note.
    what : str, default "rows"
        What a row is, for the note (``customers``).

    Returns
    -------
    str
        ``<div class="cl-table">`` with an optional note and the ``<table>``; text is escaped.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    total = len(frame)
    flat = _with_index(frame.head(max_rows))
    width = pd.get_option("display.max_colwidth")
    by_row = (flat.shape[1] == 2 and str(flat.columns[1]).lower() in _VALUE_COLUMNS
              and flat.iloc[:, 0].map(lambda v: isinstance(v, str)).all())
    kinds = [column_kind(c, flat.iloc[:, j]) for j, c in enumerate(flat.columns)]
    header = "".join(f'<th scope="col">{html.escape(_header(c))}</th>' for c in flat.columns)
    body = []
    for row in flat.itertuples(index=False, name=None):
        cells = []
        for j, value in enumerate(row):
            kind = kinds[j]
            if by_row and j == 1:
                kind = column_kind(row[0], [value])
            text = html.escape(format_value(value, kind, max_chars=width))
            cells.append(f'<td class="num">{text}</td>' if kind != "text" else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    classes = "cl-data cl-interactive" if total > INTERACTIVE_ROWS else "cl-data"
    table_id = f' id="table-{html.escape(re.sub(r"[^A-Za-z0-9_-]+", "-", name))}"' if name else ""
    note = _note(total, max_rows, source, what)
    return (f'<div class="cl-table">{note}<div class="cl-scroll"><table class="{classes}"{table_id}>'
            f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table></div></div>")


def _note(total: int, max_rows: int, source: Sequence[str], what: str) -> str:
    links = " or ".join(f'<a href="{html.escape(s)}">{html.escape(s.rsplit("/", 1)[-1])}</a>' for s in source)
    if total > max_rows:
        text = f"The first {max_rows:,} of {total:,} {what}"
        text += f"; all of them are in {links}." if links else "."
    elif links:
        text = f"{total:,} {what}; also in {links}."
    else:
        return ""
    return f'<p class="cl-table-note">{text}</p>'


class ReportTable:
    """A table a section shows, displayed in a notebook as :func:`table_html` renders it (built by :func:`long_table`).

    ``frame`` is the whole table; the report embeds at most ``max_rows`` of it.
    """

    def __init__(self, frame: pd.DataFrame, *, name: str | None, source: Sequence[str], what: str,
                 max_rows: int) -> None:
        self.frame = frame
        self.name = name
        self.source = tuple(source)
        self.what = what
        self.max_rows = max_rows

    def _repr_html_(self) -> str:
        return table_html(self.frame, max_rows=self.max_rows, name=self.name, source=self.source, what=self.what)

    def __repr__(self) -> str:
        return f"ReportTable({self.name!r}, {len(self.frame)} {self.what})"


def long_table(frame: pd.DataFrame, *, name: str, files: Sequence[str] = (), what: str = "rows",
               columns: Sequence[str] | None = None, max_rows: int = MAX_ROWS) -> ReportTable:
    """A long table for a report: all its rows up to ``max_rows``, searchable and sortable, with links to its files.

    Parameters
    ----------
    frame : DataFrame
        The whole table (limits, watchlist, quarantine, decision log).
    name : str
        Stable id of the table in the report (``table-<name>``).
    files : sequence of str
        The table's files in the run folder (``data/limits.parquet``), linked from the report (``../data/...``).
    what : str, default "rows"
        What a row is, for the note above the table.
    columns : sequence of str, optional
        The columns to show (those present); all when omitted.
    max_rows : int, default :data:`MAX_ROWS`

    Examples
    --------
    >>> t = long_table(pd.DataFrame({"customer_id": ["C1"], "pd": [0.01]}), name="limits", files=["data/limits.csv"])
    >>> 'href="../data/limits.csv"' in t._repr_html_()
    True
    """
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return ReportTable(frame, name=name, source=[f"../{f}" for f in files], what=what, max_rows=max_rows)


#: styles of the report tables (added once per report)
TABLE_CSS = """
.cl-table { margin: 0.5em 0 1em; }
.cl-table-note { margin: 0.2em 0; color: #555; }
.cl-scroll { max-height: 34em; overflow: auto; }
table.cl-data { border-collapse: collapse; font-size: 0.92em; }
table.cl-data th, table.cl-data td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: left;
  vertical-align: top; }
table.cl-data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.cl-data thead th { position: sticky; top: 0; background: #f4f6f8; }
table.cl-interactive thead th { cursor: pointer; }
table.cl-interactive thead th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.cl-interactive thead th[aria-sort="descending"]::after { content: " \\25BC"; }
.cl-tools { margin: 0.3em 0; }
.cl-tools input { padding: 0.2em 0.4em; min-width: 18em; }
.cl-tools span { margin-left: 0.8em; color: #555; }
nav.cl-toc { border: 1px solid #ddd; background: #fafbfc; padding: 0.4em 1.2em; margin: 1em 0; }
nav.cl-toc ol { margin: 0.3em 0; }
"""

#: search and sort for every ``table.cl-interactive``: self-contained, no library, no network (added once per report)
TABLE_SCRIPT = """
(function () {
  "use strict";
  function sortKey(text) {
    var t = text.replace(/[,%\\s]/g, "").replace(/^[<>]/, "").replace("\\u2212", "-");
    if (t === "" || t === "\\u2013") { return null; }
    var n = Number(t);
    return isNaN(n) ? text.toLowerCase() : n;
  }
  function compare(a, b) {
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    if (typeof a === typeof b) { return a < b ? -1 : (a > b ? 1 : 0); }
    return typeof a === "number" ? -1 : 1;
  }
  function enhance(table) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    var tools = document.createElement("div");
    tools.className = "cl-tools";
    var box = document.createElement("input");
    box.type = "search";
    box.placeholder = "Search " + rows.length + " rows";
    box.setAttribute("aria-label", "Search the table below");
    var count = document.createElement("span");
    tools.appendChild(box);
    tools.appendChild(count);
    var scroll = table.parentNode;
    scroll.parentNode.insertBefore(tools, scroll);
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, i) {
        var hit = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
        row.style.display = hit ? "" : "none";
        shown += hit ? 1 : 0;
      });
      count.textContent = words.length ? shown + " of " + rows.length + " rows" : "";
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "Sort by this column";
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var keyed = rows.map(function (row, i) { return [sortKey(row.cells[col].textContent), i, row]; });
        keyed.sort(function (a, b) {
          var c = compare(a[0], b[0]);
          if (c !== 0 && a[0] !== null && b[0] !== null && !ascending) { c = -c; }
          return c !== 0 ? c : a[1] - b[1];
        });
        keyed.forEach(function (k) { body.appendChild(k[2]); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.cl-interactive"), enhance);
})();
"""
