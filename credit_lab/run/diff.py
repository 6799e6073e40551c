"""What changed between two runs of the same book: grades, customers, limits, watchlist, PD model and reserve.

:func:`diff_runs` computes a :class:`RunDiff` (run B against run A); :func:`summary_lines`, :func:`diff_html`
and :func:`write_diff` say it in words, HTML and CSV. Nothing rendered holds a time or an absolute path: a run's
index page embeds the comparison with the previous run of its book, and a rerun must write the same bytes.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import OutputFolderError, RunDiffError
from credit_lab.core.formatting import money
from credit_lab.data import io
from credit_lab.run.store import MANIFEST, book_of_run

__all__ = ["CSV_FILES", "TOP", "RunDiff", "diff_html", "diff_runs", "diff_summary_html", "summary_lines",
           "write_diff"]

#: a change of a limit below a cent is float noise, not a decision
_CENT = 0.005
#: customers listed per table on the page (the largest by amount); the CSV holds every one
TOP = 50
#: the tables a comparison needs, with the stage that writes each (for the message when one is missing)
_NEEDED = {"data/scores.parquet": "04_scoring_explain", "data/limits.parquet": "05_limits",
           "data/watchlist.parquet": "05_limits"}
#: RunDiff table -> the CSV write_diff puts it in
CSV_FILES = {"migration": "migration.csv", "customers_added": "customers_added.csv",
             "customers_gone": "customers_gone.csv", "limit_changes": "limit_changes.csv",
             "watchlist_changes": "watchlist_changes.csv", "reserve": "reserve.csv"}
#: the first three go into the summary
_RESERVE_MEASURES = (("reserve_recommended", "recommended risk reserve"), ("el", "12-month EL, net of mitigation"),
                     ("provision_matrix", "provision, IFRS 9 matrix"), ("el_gross", "12-month EL, gross"),
                     ("lifetime_ecl", "lifetime ECL of receivables"))
_KINDS = ("raised", "cut", "zeroed")


@dataclass
class RunDiff:
    """Run B against run A (``run_a``, ``run_b``: their names on the pages). ``migration``: customers in both by
    grade in A (rows) and B (columns), best first; ``migration_summary``: customers_in_both, upgraded, downgraded,
    unchanged and their ``*_share``; ``limit_totals``: raised / cut / zeroed / unchanged -> ``{"customers",
    "amount"}`` (final limit B - A); ``model``: each run's PD model (sha256, champion, method) and ``changed``
    (None: a run recorded none); ``reserve_waterfall``: B's, only when computed against A (see ``waterfall_note``)."""

    run_a: str
    run_b: str
    book: str
    migration: pd.DataFrame
    migration_summary: dict[str, float]
    customers_added: pd.DataFrame
    customers_gone: pd.DataFrame
    limit_changes: pd.DataFrame
    limit_totals: dict[str, dict[str, float]]
    watchlist_changes: pd.DataFrame
    watchlist_size: dict[str, int]
    model: dict[str, Any]
    reserve: pd.DataFrame
    reserve_waterfall: pd.DataFrame | None
    waterfall_note: str


@dataclass
class _Run:
    name: str
    path: Path
    params: dict
    scores: pd.DataFrame
    limits: pd.DataFrame
    limit: pd.Series
    watchlist: pd.DataFrame
    reserve: dict
    model: dict

    @property
    def names(self) -> pd.Series:
        return self.limits["customer_name"] if "customer_name" in self.limits else pd.Series(dtype="string")


def _manifest(run_dir: Path, label: str) -> dict:
    if not (run_dir / MANIFEST).is_file():
        raise RunDiffError(f"{label} ({run_dir}) is not a run folder: it has no {MANIFEST}; give a folder that "
                           "`credit-lab run` wrote, e.g. outputs/<run_id>")
    try:
        return io.read_json(run_dir / MANIFEST)
    except ValueError as err:
        raise RunDiffError(f"{label}: {run_dir / MANIFEST} is not valid JSON ({err})") from None


def _table(run_dir: Path, rel: str, label: str) -> pd.DataFrame:
    if not (run_dir / rel).is_file():
        raise RunDiffError(f"{label} ({run_dir}) has no {rel}, which the comparison needs: the run did not reach "
                           f"stage {_NEEDED[rel]}, or the file was removed; compare runs that finished")
    frame = pd.read_parquet(run_dir / rel)
    if "customer_id" not in frame.columns:
        raise RunDiffError(f"{label}: {rel} has no customer_id column (columns: {', '.join(map(str, frame.columns))})")
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame.drop_duplicates("customer_id").set_index("customer_id")


def _read_json_or_empty(path: Path) -> dict:
    try:
        value = io.read_json(path)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_run(run_dir: Path, manifest: dict, label: str) -> _Run:
    scores, limits, watchlist = (_table(run_dir, rel, label) for rel in _NEEDED)
    limit_col = "final_limit" if "final_limit" in limits.columns else "proposed_limit"
    if "grade" not in scores.columns or limit_col not in limits.columns:
        raise RunDiffError(f"{label}: data/scores.parquet needs a grade column and data/limits.parquet a final_limit "
                           f"(or proposed_limit) column; found {list(scores.columns)} and {list(limits.columns)}")
    if "on_watchlist" in watchlist.columns:  # the table may keep customers whose signals no longer put them on it
        watchlist = watchlist[watchlist["on_watchlist"].fillna(False).astype(bool)]
    params = _read_json_or_empty(run_dir / "params.json") or manifest.get("params") or {}
    return _Run(run_dir.resolve().name, run_dir, params, scores, limits, limits[limit_col].astype(float), watchlist,
                _read_json_or_empty(run_dir / "data" / "reserve_summary.json"),
                _model_of(manifest, _read_json_or_empty(run_dir / "models" / "pd_model.json")))


def diff_runs(run_a: str | Path, run_b: str | Path, names: tuple[str, str] | None = None) -> RunDiff:
    """Compare run B with run A, two run folders of the same book. Raises :class:`RunDiffError` when a folder is
    not a run folder, the two are runs of different books (both named) or a table it needs is missing (named).
    ``names``: how the pages call the two runs (default ``run <folder name>``; the index page says "this run")."""
    path_a, path_b = Path(run_a), Path(run_b)
    manifest_a, manifest_b = _manifest(path_a, "run A"), _manifest(path_b, "run B")
    book_a, book_b = book_of_run(path_a), book_of_run(path_b)
    for label, path, book in (("run A", path_a, book_a), ("run B", path_b, book_b)):
        if not book:
            raise RunDiffError(f"{label} ({path}): cannot tell which book it is of ({MANIFEST} names no 'book', "
                               "data/data_quality.json no 'source')")
    if book_a != book_b:
        raise RunDiffError(f"{path_a} and {path_b} are runs of different books ({book_a!r} and {book_b!r}); "
                           "a diff compares two runs of the same book: give an earlier run of the same data")
    a, b = _read_run(path_a, manifest_a, "run A"), _read_run(path_b, manifest_b, "run B")
    a.name, b.name = names or (f"run {a.name}", f"run {b.name}")
    migration, summary = _migration(a, b)
    ids_a, ids_b = a.scores.index.union(a.limits.index), b.scores.index.union(b.limits.index)
    changes, totals = _limit_changes(a, b)
    waterfall, note = _waterfall(a, b)
    return RunDiff(
        run_a=a.name, run_b=b.name, book=book_b, migration=migration, migration_summary=summary,
        customers_added=_customers(b, ids_b.difference(ids_a)), customers_gone=_customers(a, ids_a.difference(ids_b)),
        limit_changes=changes, limit_totals=totals, watchlist_changes=_watchlist_changes(a, b),
        watchlist_size={"a": len(a.watchlist), "b": len(b.watchlist)}, model=_model(a.model, b.model),
        reserve=_reserve(a, b), reserve_waterfall=waterfall, waterfall_note=note)


def _grade_order(a: _Run, b: _Run) -> list[str]:
    """Grades best to worst: the master scale's order, or (for grades it does not name) by mean PD."""
    seen = set(a.scores["grade"].dropna().astype(str)) | set(b.scores["grade"].dropna().astype(str))
    scale = [str(g.get("grade")) for g in b.params.get("master_scale") or [] if isinstance(g, dict)]
    if scale and seen <= set(scale):
        return [g for g in scale if g in seen]
    pooled = pd.concat([a.scores[["grade", "pd"]], b.scores[["grade", "pd"]]]).dropna(subset=["grade"])
    mean_pd = pooled.assign(grade=pooled["grade"].astype(str)).groupby("grade")["pd"].mean()
    return list(mean_pd.sort_values(kind="stable").index)


def _migration(a: _Run, b: _Run) -> tuple[pd.DataFrame, dict[str, float]]:
    both = a.scores.index.intersection(b.scores.index).sort_values()
    grade_a = a.scores.loc[both, "grade"].astype(str).rename("grade_a")
    grade_b = b.scores.loc[both, "grade"].astype(str).rename("grade_b")
    order = _grade_order(a, b)
    matrix = pd.crosstab(grade_a, grade_b).reindex(index=order, columns=order, fill_value=0).astype(int)
    matrix.index.name, matrix.columns.name = "grade_a", "grade_b"
    rank = {g: i for i, g in enumerate(order)}
    move = grade_b.map(rank) - grade_a.map(rank)
    n = len(both)
    counts = {k: int(v.sum()) for k, v in (("upgraded", move < 0), ("downgraded", move > 0), ("unchanged", move == 0))}
    summary: dict[str, float] = {"customers_in_both": n, **counts}
    summary.update({f"{k}_share": (v / n if n else 0.0) for k, v in counts.items()})
    return matrix, summary


def _customers(run: _Run, ids: pd.Index) -> pd.DataFrame:
    """One row per customer of ``ids`` with its name, grade, PD and final limit in ``run``, largest limit first."""
    ids = ids.sort_values()
    out = pd.DataFrame({"customer_id": ids, "customer_name": run.names.reindex(ids).to_numpy(),
                        "grade": run.scores["grade"].reindex(ids).to_numpy(),
                        "pd": run.scores["pd"].reindex(ids).to_numpy() if "pd" in run.scores else np.nan,
                        "final_limit": run.limit.reindex(ids).to_numpy()})
    return out.sort_values(["final_limit", "customer_id"], ascending=[False, True], kind="stable",
                           na_position="last").reset_index(drop=True)


def _limit_changes(a: _Run, b: _Run) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    common = a.limit.index.intersection(b.limit.index).sort_values()
    limit_a, limit_b = a.limit.loc[common], b.limit.loc[common]
    change = limit_b - limit_a
    kind = np.select([(limit_b.abs() < _CENT) & (limit_a >= _CENT), change >= _CENT, change <= -_CENT],
                     ["zeroed", "raised", "cut"], default="unchanged")
    frame = pd.DataFrame({"customer_id": common, "customer_name": b.names.reindex(common).to_numpy(),
                          "grade_a": a.scores["grade"].reindex(common).to_numpy(),
                          "grade_b": b.scores["grade"].reindex(common).to_numpy(),
                          "limit_a": limit_a.to_numpy(), "limit_b": limit_b.to_numpy(),
                          "change": change.to_numpy(), "kind": kind})
    totals = {k: {"customers": int((kind == k).sum()), "amount": float(change[kind == k].sum())}
              for k in (*_KINDS, "unchanged")}
    frame = frame[frame["kind"] != "unchanged"]
    order = np.lexsort((frame["customer_id"].to_numpy(), -frame["change"].abs().to_numpy()))
    return frame.iloc[order].reset_index(drop=True), totals


def _watchlist_changes(a: _Run, b: _Run) -> pd.DataFrame:
    keep = ["severity", "n_signals", "firing_signals", "recommended_action"]
    parts = []
    for change, run, ids in (("in", b, b.watchlist.index.difference(a.watchlist.index)),
                             ("out", a, a.watchlist.index.difference(b.watchlist.index))):
        rows = run.watchlist.reindex(index=ids.sort_values(), columns=keep)
        rows.insert(0, "customer_name", run.names.reindex(rows.index).to_numpy())
        rows.insert(0, "watchlist", change)
        parts.append(rows.rename_axis("customer_id").reset_index())
    frame = pd.concat(parts, ignore_index=True)
    severity = pd.to_numeric(frame["severity"], errors="coerce").fillna(0.0).to_numpy()
    order = np.lexsort((frame["customer_id"].to_numpy(), -severity, frame["watchlist"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _model_of(manifest: dict, meta: dict) -> dict[str, Any]:
    """A run's PD model from models/pd_model.json (or the manifest's record), and whether the manifest's hash of
    the artifact agrees (None before the run is published: a staging folder's manifest has no hashes yet)."""
    scoring = manifest.get("scoring_method") or {}
    recorded = (manifest.get("outputs") or {}).get(meta.get("file") or "")
    return {"sha256": meta.get("sha256") or recorded, "champion": meta.get("champion") or scoring.get("champion"),
            "method": meta.get("method") or scoring.get("method"),
            "manifest_agrees": None if recorded is None or not meta.get("sha256") else recorded == meta["sha256"]}


def _model(ma: dict, mb: dict) -> dict[str, Any]:
    known = ma["sha256"] and mb["sha256"]
    return {"a": ma, "b": mb, "changed": any(ma[k] != mb[k] for k in ("sha256", "champion", "method")) if known
            else None}


def _reserve(a: _Run, b: _Run) -> pd.DataFrame:
    rows = [(label, a.reserve.get(key), b.reserve.get(key)) for key, label in _RESERVE_MEASURES
            if a.reserve.get(key) is not None or b.reserve.get(key) is not None]
    frame = pd.DataFrame(rows, columns=["measure", "run_a", "run_b"]).astype({"run_a": float, "run_b": float})
    frame["change"] = frame["run_b"] - frame["run_a"]
    return frame


def _waterfall(a: _Run, b: _Run) -> tuple[pd.DataFrame | None, str]:
    """B's reserve waterfall, if it was computed against A, and a sentence saying what it is (or why none)."""
    against = (b.params.get("reserve") or {}).get("previous_run")
    if not against:
        return None, f"The reserve waterfall of {b.name} was not computed: it had no previous run to compare with."
    if Path(against).resolve() != a.path.resolve():
        return None, (f"The reserve waterfall of {b.name} was computed against another run ({Path(against).name}), "
                      f"not against {a.name}: see the risk-reserve report of {b.name}.")
    path = b.path / "data" / "reserve_waterfall.parquet"
    if not path.is_file():
        return None, f"The reserve waterfall of {b.name} against {a.name} was not computed: see its reserve notes."
    return pd.read_parquet(path), f"How the recommended reserve of {b.name} moved since {a.name}, step by step."


def _signed(value: Any) -> str:
    """An amount with its sign, rounded to whole units: ``+1,234``, ``-80``, ``±0``."""
    if value is None or value != value:
        return "n/a"
    return ("+" if value >= 0.5 else "-" if value <= -0.5 else "±") + money(abs(value))


def summary_lines(d: RunDiff) -> list[str]:
    """The diff in a few sentences, one per subject (plain text, for the terminal and the pages)."""
    t, m, s = d.limit_totals, d.migration_summary, lambda n: "" if n == 1 else "s"  # plural
    n_raised, n_added, n_both = t["raised"]["customers"], len(d.customers_added), int(m["customers_in_both"])
    added, gone = d.customers_added["final_limit"].sum(), d.customers_gone["final_limit"].sum()
    n_in = int((d.watchlist_changes["watchlist"] == "in").sum())
    lines = [
        f"{n_raised:,} limit{s(n_raised)} raised ({_signed(t['raised']['amount'])}), {t['cut']['customers']:,} cut "
        f"({_signed(t['cut']['amount'])}), {t['zeroed']['customers']:,} zeroed ({_signed(t['zeroed']['amount'])}), "
        f"{t['unchanged']['customers']:,} unchanged.",
        f"{n_added:,} customer{s(n_added)} added (limits {money(added)}), {len(d.customers_gone):,} gone (limits "
        f"{money(gone)}).",
        f"Of the {n_both:,} customer{s(n_both)} in both runs, {int(m['upgraded']):,} upgraded "
        f"({m['upgraded_share']:.1%}), {int(m['downgraded']):,} downgraded ({m['downgraded_share']:.1%}), "
        f"{int(m['unchanged']):,} kept their grade ({m['unchanged_share']:.1%}).",
        f"Watchlist: {n_in:,} in, {len(d.watchlist_changes) - n_in:,} out ({d.watchlist_size['a']:,} → "
        f"{d.watchlist_size['b']:,} customers).",
        _model_line(d.model, d.run_a, d.run_b),
    ]
    if len(d.reserve):
        lines.append("; ".join(f"{r.measure.capitalize() if i == 0 else r.measure} {money(r.run_a)} → "
                               f"{money(r.run_b)} ({_signed(r.change)})"
                               for i, r in enumerate(d.reserve.head(3).itertuples(index=False))) + ".")
    return lines


def _model_line(model: dict, run_a: str, run_b: str) -> str:
    a, b = model["a"], model["b"]
    if model["changed"] is None:
        missing = run_a if not a["sha256"] else run_b
        return f"PD model: {missing} recorded none, so whether it changed cannot be told."
    if not model["changed"]:
        return f"PD model unchanged ({b['champion']}, {b['method']}; artifact sha256 {b['sha256'][:12]})."
    return (f"PD model changed: {a['champion']}, {a['method']} → {b['champion']}, {b['method']} "
            f"(artifact sha256 {a['sha256'][:12]} → {b['sha256'][:12]}).")


_AMOUNTS = {"change", "final_limit", "limit_a", "limit_b", "run_a", "run_b", "reserve"}
_LISTS = (("customers_added", "Customers added", "customer added"),
          ("customers_gone", "Customers gone", "customer gone"),
          ("watchlist_changes", "Watchlist: in and out", "change to the watchlist"))
_LABELS = {"customer_id": "customer", "customer_name": "name", "pd": "PD", "final_limit": "final limit",
           "grade_a": "grade before", "grade_b": "grade now", "limit_a": "limit before", "limit_b": "limit now",
           "n_signals": "signals", "firing_signals": "signals firing", "recommended_action": "recommended action"}


def _cell(column: str, value: Any) -> str:
    """One value as escaped text: amounts with thousands separators, PDs as percentages, never 1e-05."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return html.escape(str(value))
    if column in _AMOUNTS:
        return _signed(value) if column == "change" else money(value)
    if column == "pd":
        return f"{value:.2%}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _html_table(frame: pd.DataFrame, labels: dict[str, str] | None = None) -> str:
    labels = {**_LABELS, **(labels or {})}
    head = "".join(f"<th>{html.escape(labels.get(str(c), str(c)))}</th>" for c in frame.columns)
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(str(c), v)}</td>" for c, v in zip(frame.columns, row)) + "</tr>"
                     for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>\n{body}</table>"


def _bounded(frame: pd.DataFrame, csv: str, what: str, labels: dict[str, str] | None = None) -> str:
    """The first :data:`TOP` rows of ``frame`` (largest first) as a table, saying where the rest are."""
    if frame.empty:
        return f"<p>No {html.escape(what)}.</p>"
    more = (f"<p>The {TOP} largest of {len(frame):,} shown; all in <a href=\"{csv}\">{csv}</a>.</p>"
            if len(frame) > TOP else f"<p>All {len(frame):,} also in <a href=\"{csv}\">{csv}</a>.</p>")
    return _html_table(frame.head(TOP), labels) + "\n" + more


def _migration_table(d: RunDiff) -> str:
    e, same = html.escape, ' class="same"'
    head = f"<th>grade in {e(d.run_a)} ↓ / in {e(d.run_b)} →</th>" + "".join(
        f"<th>{e(str(g))}</th>" for g in d.migration.columns)
    body = "\n".join(f"<tr><th>{e(str(g))}</th>" + "".join(f"<td{same if g == h else ''}>{int(n):,}</td>"
                                                           for h, n in row.items()) + "</tr>"
                     for g, row in d.migration.iterrows())
    return f"<table class=\"matrix\"><tr>{head}</tr>\n{body}</table>"


def diff_summary_html(d: RunDiff, heading: str = "h3", link_dir: str | None = None) -> str:
    """The compact view: the summary sentences, the grade migration matrix and (given ``link_dir``, the folder
    :func:`write_diff` wrote to, relative to the page) links to the full page and the CSVs."""
    e = html.escape
    items = "\n".join(f"<li>{e(line)}</li>" for line in summary_lines(d))
    links = ""
    if link_dir is not None:
        files = [*CSV_FILES.values(), *(["reserve_waterfall.csv"] if d.reserve_waterfall is not None else [])]
        links = (f"<p>All of it: <a href=\"{e(link_dir)}diff.html\">diff.html</a>; tables for spreadsheets: "
                 + ", ".join(f"<a href=\"{e(link_dir + f)}\">{e(f)}</a>" for f in files) + ".</p>")
    return (f"<ul>{items}</ul>\n<{heading}>Grade migration</{heading}>\n<p>Customers in both runs, by grade in "
            f"{e(d.run_a)} (rows) and in {e(d.run_b)} (columns); the diagonal kept its grade.</p>\n"
            f"{_migration_table(d)}\n{links}")


def diff_html(d: RunDiff) -> str:
    """The whole comparison as one self-contained HTML page (no script, no external file; every value escaped);
    the links go to the CSVs :func:`write_diff` writes next to it."""
    e = html.escape
    totals = pd.DataFrame([(k, d.limit_totals[k]["customers"], d.limit_totals[k]["amount"])
                           for k in (*_KINDS, "unchanged")], columns=["limits", "customers", "change"])
    model = pd.DataFrame([{"run": name, **d.model[k]} for k, name in (("a", d.run_a), ("b", d.run_b))])
    lists = "\n".join(f"<h2>{title}</h2>\n{_bounded(getattr(d, attr), CSV_FILES[attr], what)}"
                      for attr, title, what in _LISTS)
    waterfall = "" if d.reserve_waterfall is None else _html_table(d.reserve_waterfall) + \
        '\n<p>Also in <a href="reserve_waterfall.csv">reserve_waterfall.csv</a>.</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>What changed: {e(d.run_a)} → {e(d.run_b)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin-bottom:1em}}th,td{{padding:4px 10px;border-bottom:1px solid #ddd}}
th,td{{text-align:left}}table.matrix td{{text-align:right}}td.same{{background:#eee}}</style></head><body>
<h1>What changed: {e(d.run_a)} → {e(d.run_b)}</h1>
<p>Book: {e(d.book)}. Every figure is {e(d.run_b)} against {e(d.run_a)}; limits are final limits.</p>
<h2>Summary</h2>
{diff_summary_html(d, "h2")}
<h2>Limits of customers in both runs</h2>
{_html_table(totals)}
{_bounded(d.limit_changes, CSV_FILES["limit_changes"], "limit changed")}
{lists}
<h2>PD model</h2>
<p>{e(_model_line(d.model, d.run_a, d.run_b))}</p>
{_html_table(model)}
<h2>Reserve</h2>
{_html_table(d.reserve, {"run_a": d.run_a, "run_b": d.run_b}) if len(d.reserve) else '<p>No reserve in either.</p>'}
<p>{e(d.waterfall_note)}</p>
{waterfall}
<p>Tables for spreadsheets: {", ".join(f'<a href="{f}">{f}</a>' for f in CSV_FILES.values())}.</p>
</body></html>
"""


def _plain_float(value: float) -> str:
    """A float in a CSV cell without exponent (``0.000003``, not ``3e-06``), with the digits that round-trip."""
    text = np.format_float_positional(value, trim="-")
    return "0" if text == "-0" else text


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Like :func:`credit_lab.data.io.write_csv` (UTF-8 with BOM, formulas neutralised, atomic), with the
    header neutralised too (grade names are columns of the matrix) and floats written without exponent."""
    safe = io.neutralise_formulas(frame)
    header = pd.DataFrame([[str(c) for c in frame.columns]], columns=range(len(frame.columns)), dtype="string")
    safe.columns = list(io.neutralise_formulas(header).iloc[0])
    io.atomic_write_bytes(path, safe.to_csv(index=False, float_format=_plain_float).encode("utf-8-sig"))


def write_diff(d: RunDiff, out_dir: str | Path) -> Path:
    """Write ``diff.html`` and one CSV per table (:data:`CSV_FILES`, and ``reserve_waterfall.csv`` when there
    is one) into ``out_dir``, each atomically; return the page's path."""
    out = Path(out_dir)
    tables = {name: getattr(d, attr) for attr, name in CSV_FILES.items()}
    tables[CSV_FILES["migration"]] = d.migration.reset_index()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            _write_csv(out / name, frame)
        if d.reserve_waterfall is not None:
            _write_csv(out / "reserve_waterfall.csv", d.reserve_waterfall)
        else:  # a waterfall left by an earlier diff into this folder is not this one's
            (out / "reserve_waterfall.csv").unlink(missing_ok=True)
        io.atomic_write_bytes(out / "diff.html", diff_html(d).encode("utf-8"))
    except OSError as err:
        raise OutputFolderError(f"cannot write the diff into {out}: {err.strerror or err}; choose another folder "
                                "(--out)") from err
    return out / "diff.html"
