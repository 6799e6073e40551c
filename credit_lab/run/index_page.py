"""A run's front page: headline figures, links to every stage's report, portfolio charts."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import pandas as pd

from credit_lab.core.config import RunParams
from credit_lab.core.formatting import money
from credit_lab.data.io import read_json
from credit_lab.limits.letters import letters_summary
from credit_lab.report.figures import fig_el_breakdown, fig_grade_distribution, fig_to_data_uri
from credit_lab.report.style import apply_figure_style
from credit_lab.run.assumptions import DEFAULT, DecisionSetting, run_decisions, settings_frame
from credit_lab.run.diff import diff_runs, diff_summary_html, write_diff
from credit_lab.run.stages import STAGES, StageContext
from credit_lab.run.store import MANIFEST, previous_run

__all__ = ["assumptions_section", "changes_section", "index_page"]

logger = logging.getLogger(__name__)

#: where the comparison with the previous run of the book goes, in the run folder
DIFF_PREVIOUS = "data/diff_previous"


def assumptions_section(run_dir: Path, dq: dict) -> str:
    """The settings behind the run's decisions (as stage 01 recorded them) and what the run decided, as HTML.

    A setting the params file set is marked "your params file" in bold; every string is escaped.
    """
    e = html.escape
    settings = [DecisionSetting.from_record(r) for r in dq.get("decision_assumptions", [])]
    frame = settings_frame(settings)
    rows = "\n".join(
        f"<tr><th><code>{e(key)}</code></th><td>{e(value)}</td>"
        f"<td>{e(set_by) if s.source == DEFAULT else f'<strong>{e(set_by)}</strong>'}</td><td>{e(effect)}</td></tr>"
        for s, (key, value, set_by, effect) in zip(settings, frame.itertuples(index=False), strict=True))
    titles = {stage: title for stage, (title, _, _) in STAGES.items()}
    decisions = "\n".join(
        f"<li><em>{e(titles.get(d.stage, d.stage))}</em>: " + (f"<code>{e(d.key)}</code>: " if d.key else "")
        + f"{e(d.decision)}</li>" for d in run_decisions(run_dir))
    n_set = sum(s.source != DEFAULT for s in settings)
    table = (f"<table><tr><th>Setting</th><th>Value</th><th>Set by</th><th>What it does</th></tr>{rows}</table>"
             if settings else "<p>This run's data-quality stage recorded no settings.</p>")
    return f"""<h2>Assumptions behind these decisions</h2>
<p>The settings that shaped the scores, limits and reserve: {n_set} of {len(settings)} set in your params file, the
others at their shipped default (<code>params/default.yaml</code>).</p>
{table}
<h3>What this run decided when it applied them</h3>
{f'<ul>{decisions}</ul>' if decisions else '<p>No stage recorded a decision.</p>'}"""


def changes_section(run_dir: Path, params: RunParams) -> str:
    """What changed since the last run of this book, as HTML; its CSVs and full page go to ``DIFF_PREVIOUS``.

    Called on the staging folder: the previous run is found as the pipeline found it for the reserve waterfall
    (:func:`~credit_lab.run.store.previous_run`, reruns of the same params and inputs skipped). The section holds
    no time and no absolute path, so a rerun writes the same bytes; a comparison that fails is said in a
    sentence and never fails the run.
    """
    e, run_dir = html.escape, Path(run_dir)
    head = "<h2>What changed since the last run of this book</h2>\n"
    out_root = Path(params.output_dir).resolve()
    if not (run_dir / MANIFEST).is_file():
        return head + "<p>This folder has no manifest naming its book, so it is compared with no earlier run.</p>"
    try:
        manifest = read_json(run_dir / MANIFEST)
        previous = previous_run(out_root, manifest.get("book") or "", manifest.get("reproduction_key"),
                                exclude=out_root / params.run_id)
        if previous is None:
            return head + "<p>This is the first run of this book in its output folder: nothing to compare with.</p>"
        # "this run", not its id: the page must not depend on the run id (a rerun under another id is the same run)
        diff = diff_runs(previous, run_dir, names=(f"run {previous.name}", "this run"))
        write_diff(diff, run_dir / DIFF_PREVIOUS)
    except Exception as err:  # noqa: BLE001 -- the run's own results stand whatever the comparison hits
        logger.warning("comparison with the previous run not computed: %s", err)
        why = str(err)
        for path, label in ((run_dir.resolve(), "this run"), (run_dir, "this run"), (out_root, "the output folder")):
            why = why.replace(str(path), label)
        return head + f"<p>The comparison with the last run of this book could not be computed: {e(why)}</p>"
    return (head + f"<p>This run against {e(diff.run_a)}, the last run of this book before it (customers, grades "
                   "and final limits; the reserve as each run computed it).</p>\n"
            + diff_summary_html(diff, "h3", link_dir=f"{DIFF_PREVIOUS}/"))


_LETTER_KINDS = {"reduction": "reductions", "withdrawn": "limits withdrawn", "increase": "increases",
                 "first_limit": "first limits"}


def _letters_line(run_dir: Path) -> str:
    """The letters the run wrote, counted by kind, with links."""
    counts = letters_summary(run_dir)
    links = ('<a href="letters/index.html">letters/</a> ' + (
        '(all in one file: <a href="letters/letters_all.html">letters_all.html</a>)'
        if (run_dir / "letters" / "letters_all.html").is_file() else
        "(printable in parts of 1,000: letters_all_0001.html and on, listed in its index)"))
    if not counts:
        return f"<p>Letters to customers whose limit changes: {links}.</p>"
    kinds = ", ".join(f"{counts['by_kind'].get(k, 0):,} {label}" for k, label in _LETTER_KINDS.items())
    quiet = counts.get("changes_without_letter", 0)
    return (f"<p>Letters to customers: {counts['letters']:,} ({kinds}) in {links}; "
            f"{counts.get('below_balance', 0):,} of them tell the customer its open balance is above the new "
            f"limit. {quiet:,} smaller limit changes get no letter (the <code>letters</code> thresholds).</p>")


def _replay_headline(data: Path) -> list[tuple[str, str]]:
    """With stage 07: today's policy's replayed bad debt and lost margin, and the policy of highest profit."""
    if not (data / "replay_summary.parquet").is_file():
        return []
    meta = read_json(data / "replay.json")
    summary = pd.read_parquet(data / "replay_summary.parquet").set_index("policy")
    window = f"{len(meta['reviews'])} monthly reviews from {meta['reviews'][0]}"
    out = []
    current = meta.get("current_policy")
    if current in summary.index:
        row = summary.loc[current]
        out.append((f"Policy replay ({window}): {current}",
                    f"bad debt {money(row['bad_debt'])} (net of mitigation {money(row['net_bad_debt'])}), margin "
                    f"on blocked orders {money(row['lost_margin'])}"))
    best = summary["profit"].idxmax()
    out.append(("Policy replay: highest profit", f"{best}: {money(summary.loc[best, 'profit'])} "
                                                 f"({len(summary)} policies compared)"))
    return out


def index_page(run_dir: Path, params: RunParams) -> str:
    """The run's front page: headline figures and links to every report."""
    data = Path(run_dir) / "data"
    dq = read_json(data / "data_quality.json")
    skipped = StageContext(Path(run_dir), params).skipped()

    def table(name: str) -> pd.DataFrame | None:
        return pd.read_parquet(data / name) if (data / name).is_file() else None

    metrics = {m["sample"]: m for m in read_json(data / "validation.json")} if (data / "validation.json").is_file() \
        else {}
    oot = metrics.get("out-of-time", metrics.get("holdout", next(iter(metrics.values()), {})))
    scores, limits = table("scores.parquet"), table("limits.parquet")
    reserve = read_json(data / "reserve_summary.json") if (data / "reserve_summary.json").is_file() else {}
    by_grade, by_ind = table("el_by_grade.parquet"), table("el_by_industry.parquet")
    watchlist = table("watchlist.parquet")
    headline = [("Scoring date", dq["as_of_date"])]
    model = Path(run_dir) / "models" / "pd_model.json"
    meta = read_json(model) if model.is_file() else {}
    if meta.get("method"):
        headline.append(("Scoring method", ("expert scorecard" if meta["method"] == "expert" else
                                            f"statistical ({meta['champion']})") + f": {meta['method_reason']}"))
    if scores is not None:
        headline.append(("Customers scored", f"{len(scores):,}"))
        if oot:
            headline += [
                (f"{oot['sample'].capitalize()} AUC / Gini", f"{oot.get('auc', float('nan')):.3f} / "
                                                             f"{oot.get('gini', float('nan')):.3f}"),
                (f"{oot['sample'].capitalize()} default rate", f"{oot.get('default_rate', float('nan')):.2%}")]
        headline.append(("Mean PD today", f"{scores['pd'].mean():.2%}"))
    if limits is not None:
        headline += [
            ("Total limits today → proposed → final",
             f"{limits['current_limit'].sum():,.0f} → {limits['proposed_limit'].sum():,.0f} → "
             f"{limits.get('final_limit', limits['proposed_limit']).sum():,.0f}"),
            ("Limits cut to zero (PD cut-off)", f"{int((limits['decided_by'] == 'pd_cutoff').sum()):,}"),
        ]
    if watchlist is not None:
        headline.append(("Customers on the watchlist", f"{len(watchlist):,}"))
    if "ead" in reserve:
        headline += [
            ("Exposure at default (final limits)", f"{reserve['ead']:,.0f}"),
            ("12-month expected loss, gross → net of mitigation", f"{reserve['el_gross']:,.0f} → {reserve['el']:,.0f}"),
        ]
    if reserve:
        headline.append(("Provision, IFRS 9 matrix", money(reserve.get("provision_matrix"))))
    if "lifetime_ecl" in reserve:
        headline += [
            ("Lifetime ECL of receivables, PD-based", money(reserve.get("lifetime_ecl"))),
            (f"Recommended risk reserve (EL + UL at {reserve.get('reserve_confidence', float('nan')):.1%})",
             money(reserve.get("reserve_recommended"))),
        ]
    headline += _replay_headline(data)
    headline.append(("Quarantined rows", f"{sum(r['rows_quarantined'] for r in dq['rows']):,}"))
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in headline)
    links = "\n".join(
        f'<li><a href="reports/{html.escape(s)}.html">{html.escape(title)}</a> '
        + (f"<strong>skipped</strong>: {html.escape(skipped[s])}" if s in skipped else
           f'(<a href="notebooks/{html.escape(s)}.ipynb">notebook</a>)') + "</li>"
        for s, (title, _, _) in STAGES.items()
    )
    apply_figure_style()  # the reports' one figure style
    images = []
    if scores is not None:
        images.append(("customers per grade", fig_grade_distribution(scores, params.grade_names)))
    if by_grade is not None and by_ind is not None:
        images.append(("expected loss by grade and industry",
                       fig_el_breakdown(by_grade.set_index("grade"), by_ind.set_index("industry"))))
    imgs = "\n".join(f'<img alt="{alt}" src="{fig_to_data_uri(fig)}">' for alt, fig in images)
    files = [f'<a href="data/{n}">{n}</a>' for n in ("limits.csv", "decision_log.csv", "watchlist.csv")
             if (data / n).is_file()]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>credit_lab run of {html.escape(dq['as_of_date'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}th,td{{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}}
img{{max-width:100%}}</style></head><body>
<h1>credit_lab run, scoring date {html.escape(dq['as_of_date'])}</h1>
<p>Data: {html.escape(dq['source'])}. The run's id, its times and the SHA-256 of every file are in
<a href="manifest.json">manifest.json</a>; every other file, this page included, depends only on the params and the
input data, so a rerun can be checked file by file (<code>credit-lab verify --against</code>).</p>
<h2>Headline figures</h2><table>{rows}</table>
{assumptions_section(Path(run_dir), dq)}
{changes_section(Path(run_dir), params)}
<h2>Reports</h2><ol>{links}</ol>
{_letters_line(Path(run_dir)) if limits is not None else ''}
<p>Tables for spreadsheets: {', '.join(files) or 'none in this run'}.</p>
<h2>Portfolio</h2>{imgs}
</body></html>
"""
