"""A run's front page: headline figures, links to every stage's report, portfolio charts."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from credit_lab.core.config import RunParams
from credit_lab.core.formatting import money
from credit_lab.data.io import read_json
from credit_lab.report.figures import fig_el_breakdown, fig_grade_distribution, fig_to_data_uri
from credit_lab.run.assumptions import DEFAULT, DecisionSetting, run_decisions, settings_frame
from credit_lab.run.stages import STAGES, StageContext

__all__ = ["assumptions_section", "index_page"]


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
    headline.append(("Quarantined rows", f"{sum(r['rows_quarantined'] for r in dq['rows']):,}"))
    rows = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in headline)
    links = "\n".join(
        f'<li><a href="reports/{html.escape(s)}.html">{html.escape(title)}</a> '
        + (f"<strong>skipped</strong>: {html.escape(skipped[s])}" if s in skipped else
           f'(<a href="notebooks/{html.escape(s)}.ipynb">notebook</a>)') + "</li>"
        for s, (title, _, _) in STAGES.items()
    )
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
<h1>credit_lab run <code>{html.escape(params.run_id)}</code></h1>
<p>Data: {html.escape(dq['source'])}. Manifest with hashes of every file: <a href="manifest.json">manifest.json</a>.</p>
<h2>Headline figures</h2><table>{rows}</table>
{assumptions_section(Path(run_dir), dq)}
<h2>Reports</h2><ol>{links}</ol>
{'<p>Letters to customers whose limit changes: <a href="letters/index.html">letters/</a> (all in one file: '
 '<a href="letters/letters_all.html">letters_all.html</a>).</p>' if limits is not None else ''}
<p>Tables for spreadsheets: {', '.join(files) or 'none in this run'}.</p>
<h2>Portfolio</h2>{imgs}
</body></html>
"""
