"""The run history: every run of an output folder in one table, and each book's figures over time.

:func:`run_summary` reads one run's headline figures from its own files (``data/run_summary.json``, written at
the end of every run by :func:`write_run_summary`; for older runs, from the tables). :func:`history_page` builds
``OUTPUT_DIR/index.html`` from ``runs.jsonl``: all runs newest first, then per book (runs of different books
are never mixed in one chart) trend charts across its succeeded runs. A figure a run does not have is ``None``
and shows as "n/a", never as 0.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from pathlib import Path
from typing import Any, Callable

import matplotlib.pyplot as plt
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.ticker import FuncFormatter

from credit_lab.core.formatting import money, percent
from credit_lab.data import io
from credit_lab.report.figures import fig_to_data_uri
from credit_lab.report.style import apply_figure_style
from credit_lab.run.store import MANIFEST, book_of_run, read_run_log

__all__ = ["SUMMARY_FILE", "history_page", "run_rows", "run_summary", "text_row", "write_history",
           "write_run_summary"]

logger = logging.getLogger(__name__)

#: where a run keeps its headline figures (no times, ids or paths: a rerun writes the same bytes)
SUMMARY_FILE = "data/run_summary.json"
SUMMARY_KEYS = ("as_of_date", "scoring_method", "champion", "validation_sample", "auc", "psi_pd",
                "defaults_observed", "defaults_expected", "mean_pd", "customers", "limits_current",
                "limits_proposed", "limits_final", "el_gross", "el", "provision", "reserve_recommended", "watchlist")
#: the PSI of the PD that is trended: today's book against the development sample
PSI_SAMPLE = "current population"


def _number(value: Any) -> float | None:
    """A finite number as a Python float, else None (NaN, null, missing are all 'the run has no figure')."""
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(round(number))


def _json(path: Path) -> Any:
    return io.read_json(path) if path.is_file() else None


def _columns(path: Path, wanted: list[str]) -> pd.DataFrame | None:
    """Only the ``wanted`` columns a parquet file has (None if the file is missing)."""
    if not path.is_file():
        return None
    names = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in wanted if c in names])


def _validation(data: Path) -> dict:
    """The out-of-time metrics of a run (holdout in table mode without dates); {} if it has neither."""
    metrics = {m.get("sample"): m for m in _json(data / "validation.json") or []}
    return metrics.get("out-of-time") or metrics.get("holdout") or {}


def _psi_pd(data: Path) -> float | None:
    table = _columns(data / "stability.parquet", ["sample", "variable", "measure", "value"])
    if table is None or not {"sample", "variable", "measure", "value"} <= set(table.columns):
        return None
    row = table[(table["variable"] == "pd") & (table["measure"] == "PSI") & (table["sample"] == PSI_SAMPLE)]
    return _number(row["value"].iloc[0]) if len(row) else None


def _compute_summary(run_dir: Path) -> dict[str, Any]:
    data = run_dir / "data"
    summary: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    summary["as_of_date"] = (_json(data / "data_quality.json") or {}).get("as_of_date")
    meta = _json(run_dir / "models" / "pd_model.json") or {}
    summary["scoring_method"], summary["champion"] = meta.get("method"), meta.get("champion")
    oot = _validation(data)
    if oot:
        n, mean_pd = _number(oot.get("n")), _number(oot.get("mean_pd"))
        summary.update(validation_sample=oot.get("sample"), auc=_number(oot.get("auc")),
                       defaults_observed=_count(oot.get("n_defaults")),
                       defaults_expected=None if n is None or mean_pd is None else n * mean_pd)
    summary["psi_pd"] = _psi_pd(data)
    scores = _columns(data / "scores.parquet", ["pd"])
    if scores is not None and "pd" in scores.columns:
        summary.update(customers=len(scores), mean_pd=_number(scores["pd"].mean()) if len(scores) else None)
    limits = _columns(data / "limits.parquet", ["current_limit", "proposed_limit", "final_limit"])
    if limits is not None:
        for key, column in (("limits_current", "current_limit"), ("limits_proposed", "proposed_limit"),
                            ("limits_final", "final_limit" if "final_limit" in limits else "proposed_limit")):
            summary[key] = _number(limits[column].sum()) if column in limits else None
    reserve = _json(data / "reserve_summary.json") or {}
    el_table = _columns(data / "expected_loss.parquet", ["el", "el_gross"]) if "el" not in reserve else None
    for key in ("el", "el_gross"):
        summary[key] = _number(reserve[key]) if key in reserve else (
            _number(el_table[key].sum()) if el_table is not None and key in el_table else None)
    summary["provision"] = _number(reserve.get("provision_matrix"))
    summary["reserve_recommended"] = _number(reserve.get("reserve_recommended"))
    if (data / "watchlist.parquet").is_file():
        summary["watchlist"] = pq.ParquetFile(data / "watchlist.parquet").metadata.num_rows
    return summary


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """The headline figures of one run, from its ``data/run_summary.json`` or, for older runs, its tables.

    Keys are :data:`SUMMARY_KEYS`; a figure the run does not have (a stage skipped, an expert-scorecard
    run without an out-of-time sample) is None. Large tables are read one or two columns at a time.
    """
    run_dir = Path(run_dir)
    stored = _json(run_dir / SUMMARY_FILE)
    if isinstance(stored, dict):
        return dict.fromkeys(SUMMARY_KEYS) | stored
    return _compute_summary(run_dir)


def write_run_summary(run_dir: str | Path) -> dict[str, Any]:
    """Compute a run's headline figures from its tables and write them to ``data/run_summary.json``."""
    summary = _compute_summary(Path(run_dir))
    io.write_json(Path(run_dir) / SUMMARY_FILE, summary)
    return summary


def _seconds(entry: dict) -> float | None:
    try:
        return (dt.datetime.fromisoformat(entry["finished_at"])
                - dt.datetime.fromisoformat(entry["started_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def run_rows(out_root: str | Path) -> list[dict[str, Any]]:
    """One record per line of ``runs.jsonl``, newest first: id, status, folder, times, seconds, book, error
    (of a failed or interrupted run, from its manifest), whether the folder still holds that run, figures."""
    out_root = Path(out_root)
    rows = []
    for entry in reversed(read_run_log(out_root)):
        folder = str(entry.get("folder") or "")
        run_dir = out_root / folder
        manifest_path = run_dir / MANIFEST
        # a rerun under the same id replaces the folder: only the run whose manifest the line hashes is still there
        inside = bool(folder) and not Path(folder).is_absolute() and ".." not in Path(folder).parts
        here = inside and manifest_path.is_file() and io.sha256_file(manifest_path) == entry.get("manifest_sha256")
        manifest = _json(manifest_path) if here else {}
        status = entry.get("status")
        rows.append({
            "run_id": entry.get("run_id"), "status": status, "folder": folder, "started_at": entry.get("started_at"),
            "finished_at": entry.get("finished_at"), "seconds": _seconds(entry),
            "book": book_of_run(run_dir) if here else None, "in_folder": here,
            "error": manifest.get("error") if status != "succeeded" else None,
            "summary": run_summary(run_dir) if here and status == "succeeded" else None,
        })
    return rows


# --- formatting -----------------------------------------------------------------------------------------------

def _ratio(v: float) -> str:
    return f"{v:.3f}"


def _psi(v: float) -> str:
    return f"{v:.4f}"


def _whole(v: float) -> str:
    return f"{v:,.0f}"


#: (summary key, column heading, format) of the figures in the run table
FIGURES: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("auc", "AUC out of time", _ratio), ("psi_pd", "PSI of the PD", _psi), ("mean_pd", "mean PD", percent),
    ("customers", "customers", _whole), ("limits_final", "total limits (final)", money), ("el", "EL", money),
    ("provision", "provision", money), ("reserve_recommended", "recommended reserve", money),
    ("watchlist", "watchlist", _whole))
#: (title, summary keys plotted, their labels, tick format) of the trend charts of a book
CHARTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], Callable[[float], str]], ...] = (
    ("Out-of-time AUC", ("auc",), ("AUC",), _ratio),
    ("PSI of the PD, today against development", ("psi_pd",), ("PSI",), _psi),
    ("Mean PD today", ("mean_pd",), ("mean PD",), percent),
    ("Defaults in the out-of-time sample, observed and expected", ("defaults_observed", "defaults_expected"),
     ("observed", "expected (sum of PDs)"), lambda v: f"{v:,.1f}"),
    ("Total limits, today and final", ("limits_current", "limits_final"), ("today", "final"), money),
    ("12-month expected loss, net of mitigation", ("el",), ("EL",), money),
    ("Provision, IFRS 9 matrix", ("provision",), ("provision",), money),
    ("Recommended risk reserve", ("reserve_recommended",), ("reserve",), money),
    ("Customers on the watchlist", ("watchlist",), ("watchlist",), _whole),
)


def fmt(value: Any, how: Callable[[float], str]) -> str:
    """A figure as text, or "n/a" when the run does not have it."""
    return "n/a" if _number(value) is None else how(float(value))


def defaults_text(summary: dict | None) -> str:
    s = summary or {}
    return f"{fmt(s.get('defaults_observed'), _whole)} / {fmt(s.get('defaults_expected'), lambda v: f'{v:,.1f}')}"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def started_text(started_at: str | None) -> str:
    try:
        return dt.datetime.fromisoformat(started_at).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return "n/a"


def text_row(row: dict, book_width: int = 40) -> tuple[str, ...]:
    """One run of :func:`run_rows` as the cells of ``credit-lab runs``: id, started, book, status, duration,
    AUC, mean PD, total limits (final), EL, recommended reserve, watchlist ("n/a" for a figure it has not)."""
    s = row["summary"] or {}
    book = row["book"] or "n/a"
    book = book if len(book) <= book_width else book[:book_width - 3] + "..."
    status = str(row["status"]) + ("" if row["in_folder"] else " (replaced)")
    return (str(row["run_id"]), started_text(row["started_at"]), book, status, duration_text(row["seconds"]),
            fmt(s.get("auc"), _ratio), fmt(s.get("mean_pd"), percent), fmt(s.get("limits_final"), money),
            fmt(s.get("el"), money), fmt(s.get("reserve_recommended"), money), fmt(s.get("watchlist"), _whole))


# --- the page -------------------------------------------------------------------------------------------------

def _row_html(row: dict) -> str:
    e = html.escape
    s = row["summary"]
    link = (f'{row["folder"]}/index.html' if row["status"] == "succeeded" else f'{row["folder"]}/')
    run_id = e(str(row["run_id"]))
    ident = f'<a href="{e(link)}"><code>{run_id}</code></a>' if row["in_folder"] else f"<code>{run_id}</code>"
    status = e(str(row["status"]))
    if not row["in_folder"]:
        status += " (folder since replaced or changed)"
    elif row["error"]:
        status += f'<div class="error">{e(str(row["error"]))}</div>'
    method = (s or {}).get("scoring_method")
    cells = [ident, e(started_text(row["started_at"])), e(row["book"] or "n/a"), status,
             e(duration_text(row["seconds"])), e((s or {}).get("as_of_date") or "n/a"), e(method or "n/a")]
    cells += [fmt((s or {}).get(key), how) for key, _, how in FIGURES[:3]]
    cells += [defaults_text(s)] + [fmt((s or {}).get(key), how) for key, _, how in FIGURES[3:]]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _chart(book: str, runs: list[dict], title: str, keys: tuple[str, ...], labels: tuple[str, ...],
           how: Callable[[float], str]) -> str:
    """One trend chart as an <img> with a data URI, or a sentence when no run of the book has the figure."""
    e = html.escape
    series = {label: [_number(r["summary"].get(k)) for r in runs] for k, label in zip(keys, labels, strict=True)}
    if all(v is None for values in series.values() for v in values):
        return f"<p>{e(title)}: no run of this book has this figure.</p>"
    apply_figure_style()  # the reports' one figure style
    fig, ax = plt.subplots(figsize=(6, 3))
    x = list(range(len(runs)))
    for (label, values), colour in zip(series.items(), ("#3b6ea5", "#a53b3b")):
        ax.plot(x, [float("nan") if v is None else v for v in values], marker="o", color=colour, label=label)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: how(v)))
    ax.set_xticks(x, [str(r["run_id"]) for r in runs], rotation=30, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    first, last = runs[0], runs[-1]
    alt = (f"{title} across the {len(runs)} runs of {book}, oldest to newest: "
           + "; ".join(f"{label} {fmt(values[0], how)} in {first['run_id']} to {fmt(values[-1], how)} in "
                       f"{last['run_id']}" for label, values in series.items()))
    return f'<img alt="{e(alt)}" src="{fig_to_data_uri(fig)}">'


def _book_section(book: str, runs: list[dict]) -> str:
    e = html.escape
    head = f"<h3>{e(book)}</h3>"
    if len(runs) < 2:
        return head + f"<p>Only one succeeded run of this book (<code>{e(str(runs[0]['run_id']))}</code>): there " \
                      "is nothing to trend yet.</p>"
    charts = "\n".join(_chart(book, runs, *spec) for spec in CHARTS)
    return head + f"<p>{len(runs)} succeeded runs, oldest to newest.</p>\n<div class=\"charts\">{charts}</div>"


def history_page(out_root: str | Path) -> str:
    """The HTML of ``OUTPUT_DIR/index.html``: every logged run, then each book's trends (books never mixed)."""
    e = html.escape
    rows = run_rows(out_root)
    heads = ["run", "started", "book", "status", "duration", "as of", "method",
             *(h for _, h, _ in FIGURES[:3]), "defaults observed / expected", *(h for _, h, _ in FIGURES[3:])]
    table = ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in heads) + "</tr>\n"
             + "\n".join(_row_html(r) for r in rows) + "</table>") if rows else \
        "<p>No run has finished in this folder yet.</p>"
    books: dict[str, list[dict]] = {}
    for r in sorted((r for r in rows if r["summary"] is not None), key=lambda r: str(r["started_at"])):
        books.setdefault(r["book"] or "book not recorded", []).append(r)
    sections = "\n".join(_book_section(book, runs) for book, runs in sorted(books.items())) or \
        "<p>No succeeded run to trend.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>credit_lab run history</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;font-size:13px}}
th,td{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}
td:nth-child(n+8){{text-align:right;white-space:nowrap}}.error{{color:#a53b3b;font-size:12px;max-width:40em;
white-space:pre-wrap}}.charts img{{max-width:48%;margin:4px}}</style></head><body>
<h1>credit_lab run history</h1>
<p>Every run logged in <a href="runs.jsonl">runs.jsonl</a>, newest first ({len(rows)} in all). Figures are each
run's own (<code>data/run_summary.json</code>); "n/a": the run does not have that figure. AUC and defaults are on
the out-of-time sample (holdout without dates); the PSI compares today's PDs with development.</p>
{table}
<h2>Trends per book</h2>
<p>Only runs of the same book are compared; each book's succeeded runs in the order they started.</p>
{sections}
</body></html>
"""


def write_history(out_root: str | Path) -> Path | None:
    """Write ``OUTPUT_DIR/index.html`` atomically; never raises: a page that cannot be built must not fail or
    mask the run, so the error is logged as a warning and None returned."""
    target = Path(out_root) / "index.html"
    try:
        io.atomic_write_bytes(target, history_page(out_root).encode("utf-8"))
    except Exception as err:  # noqa: BLE001 - the run's own outcome matters more than its history page
        logger.warning("the run history %s was not updated: %s: %s", target, type(err).__name__, err)
        return None
    return target
