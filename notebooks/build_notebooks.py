"""Regenerates the committed stage notebooks (thin: parameters, a call into credit_lab, displays).

Edit the cell sources here, then run `.venv/bin/python notebooks/build_notebooks.py` from the
repository root; commit the notebooks without outputs.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell

PARAMS = '''run_dir: str = "../outputs/notebook-smoke"  # run folder this stage reads from and writes to
params_file: str = "../params/smoke.yaml"  # run params (a pipeline run passes its params.json)
build_missing_upstream: bool = True  # on its own: compute missing earlier stages; a pipeline run passes False'''

SETUP = '''import warnings
import pandas as pd
from IPython.display import display, Markdown
from credit_lab import reporting, stages
warnings.filterwarnings("ignore", category=FutureWarning)
pd.set_option("display.max_columns", 30, "display.width", 200)
ctx = stages.open_stage("{stage}", run_dir, params_file, build_missing_upstream)'''

books = {
"01_data_quality": ("1. Data quality", """The ledger is checked against its data contract: columns, types, ranges, unique keys,
references between tables and row rules. Nothing is dropped or imputed silently: invalid rows either stop
the run or are quarantined and listed below with their reasons.""", [
    ("code", "result = stages.stage_data_quality(ctx)\ndisplay(Markdown(f\"**Source:** {reporting.escape(result.source)}  \\n**Scoring date (as of):** {result.as_of.date()}\"))"),
    ("md", "## Rows per table"),
    ("code", "display(result.summary)"),
    ("md", "## Contract violations\nEach broken rule with the number of rows and example keys."),
    ("code", "violations = pd.DataFrame([v.__dict__ for v in result.validation.violations])\ndisplay(violations if len(violations) else Markdown(\"No violations: every row meets the contract.\"))"),
    ("md", "## Quarantined rows (first 50)"),
    ("code", "q = result.validation.quarantine\ndisplay(q.head(50) if len(q) else Markdown(\"No row was quarantined.\"))"),
    ("md", "## Declared assumptions\nOptional columns that were not supplied take these documented values."),
    ("code", "display(Markdown(\"\\n\".join(f\"- {a}\" for a in result.validation.assumptions) or \"None: every optional column was supplied.\"))"),
    ("md", "## Activity over time\nInvoices per month, and default events per quarter by industry: defaults cluster by industry and time."),
    ("code", "fig = reporting.fig_monthly_activity(result.validation.tables)"),
]),
"02_features": ("2. Point-in-time features", """Features are computed as of each snapshot date from records dated strictly before it:
payment behaviour, financial ratios, operations and industry prospects. The label is a default within the
horizon after the snapshot. Missing values stay missing.""", [
    ("code", "result = stages.stage_features(ctx)\ntrain, current = result.train, result.current\ndisplay(Markdown(f\"**Training rows:** {len(train):,} over {train['snapshot_date'].nunique()} snapshots; **today's population:** {len(current):,} customers as of {result.as_of.date()}\"))"),
    ("md", "## Feature dictionary\nRisk direction +1: a higher value means riskier (the model is constrained that way); -1: safer; 0: no constraint."),
    ("code", "from credit_lab.features import feature_dictionary_frame, feature_names\ndisplay(feature_dictionary_frame())"),
    ("md", "## Default rate per training snapshot"),
    ("code", "fig = reporting.fig_default_rate_by_snapshot(train)"),
    ("md", "## Today's population: summary statistics"),
    ("code", "display(current[feature_names()].describe().T.round(3))"),
    ("code", "fig = reporting.fig_missing_share(current, feature_names())"),
]),
"03_model": ("3. PD model", """A gradient-boosted classifier with monotone constraints from the feature dictionary,
fitted on the earlier snapshots, calibrated on a held-out set of customers and validated out of time on the
latest snapshot.""", [
    ("code", "result = stages.stage_model(ctx)\ndisplay(Markdown(f\"**Artifact:** `{result.artifact['file']}`  \\n**SHA-256:** `{result.artifact['sha256']}`  \\n**Snapshots:** {', '.join(result.artifact['snapshots'])}\"))"),
    ("md", "## Validation metrics\nAUC, Gini, Kolmogorov-Smirnov and Brier score per sample; out-of-time is the one that counts."),
    ("code", "display(reporting.metrics_table(result.metrics))"),
    ("code", "fig = reporting.fig_roc(result.oot['default_in_horizon'].to_numpy(), result.oot['pd'].to_numpy(), 'out-of-time')"),
    ("md", "## Master scale and calibration (out-of-time)"),
    ("code", "display(result.grades_oot.round(4))\nfig = reporting.fig_calibration(result.grades_oot)"),
    ("md", "## Monotone constraints"),
    ("code", "display(pd.Series(result.artifact['monotone_constraints'], name='constraint').to_frame())"),
]),
"04_scoring_explain": ("4. Scoring and explanations", """Every current customer gets a calibrated PD, a grade on the master
scale and score points. SHAP values explain the model's log-odds exactly: the run stops if base value plus
the sum of a customer's SHAP values differs from the model output by more than the tolerance.""", [
    ("code", "result = stages.stage_scoring(ctx)\nscores, expl = result.scores, result.explanation\ndisplay(Markdown(f\"**Customers scored:** {len(scores):,}  \\n**Max additivity error:** {result.additivity_error:.2e} (tolerance {ctx.params.explain.additivity_tolerance:g})\"))"),
    ("md", "## Grades"),
    ("code", "fig = reporting.fig_grade_distribution(scores, ctx.params.grade_names)\ndisplay(scores.groupby('grade')[['pd', 'score']].agg(['count', 'mean']).round(4))"),
    ("md", "## Global explanation"),
    ("code", "fig = reporting.fig_shap_bar(expl)"),
    ("code", "fig = reporting.fig_shap_beeswarm(expl)"),
    ("md", "## Reasons: the top adverse factors of the riskiest customers"),
    ("code", "cols = ['pd', 'grade', 'score'] + [c for c in scores.columns if c.startswith('reason_') and not c.endswith(('_feature', '_log_odds'))]\ndisplay(scores.sort_values('pd', ascending=False)[cols].head(20))"),
    ("md", "## Individual explanations\nA waterfall for each customer listed in `explain.explain_customers` (the riskiest customer when the list is empty)."),
    ("code", "wanted = [c for c in ctx.params.explain.explain_customers if c in scores.index] or [scores['pd'].idxmax()]\nunknown = sorted(set(ctx.params.explain.explain_customers) - set(scores.index))\nif unknown:\n    display(Markdown(f\"Not in today's population (not shown): {reporting.escape(unknown)}\"))\nfor customer_id in wanted:\n    fig = reporting.fig_waterfall(expl, customer_id)\n    display(fig)\n    reporting.plt.close(fig)"),
]),
"05_limits": ("5. Credit limits", """With `limits.method: optimize` (the default) every limit maximizes the book's expected
profit: margin on the sales a limit enables (the customer's purchase need over its payment terms is uncertain)
minus funding cost, expected loss PD × LGD × limit and a charge on unexpected-loss capital, subject to the
expected-loss budget (risk appetite), the exposure budget, industry and region caps, the single-name cap,
grade bounds, the maximum change per review, insurers' caps and the PD cut-off. The optimum is exact;
shadow prices say what one more unit of each binding budget is worth.""", [
    ("code", "result = stages.stage_limits(ctx)\nlimits = result.limits\ndisplay(Markdown(f\"**Method:** {result.method} &nbsp; **Total limits:** {limits['current_limit'].sum():,.0f} today → {limits['proposed_limit'].sum():,.0f} proposed\" + (f\" &nbsp; **solved in** {result.solve_seconds:.2f} s\" if result.solve_seconds is not None else \"\")))"),
    ("code", "for note in result.notes:\n    display(Markdown(f'**Note:** {reporting.escape(note)}'))"),
    ("md", "## What decided the limits"),
    ("code", "display(limits.groupby('decided_by').agg(customers=('proposed_limit', 'size'), total_limit=('proposed_limit', 'sum'), total_change=('limit_change', 'sum')).round(0))"),
    ("md", "## Constraints, binding ones and their shadow prices\nShadow price: expected profit gained per extra currency unit of that budget or cap."),
    ("code", "display(result.constraints.round(4) if result.constraints is not None else Markdown('Rules method: no portfolio constraints.'))"),
    ("md", "## Efficient frontier\nBest expected profit for each expected-loss budget; the red dot is today's limits (which may break today's caps and bands)."),
    ("code", "fig = reporting.fig_frontier(result.frontier.table, result.frontier.current_el, result.frontier.current_profit) if result.frontier is not None else None"),
    ("md", "## Concentration before and after"),
    ("code", "display(result.exposure_by_industry.round(0) if result.exposure_by_industry is not None else limits.groupby('industry')[['current_limit', 'proposed_limit']].sum().round(0))\nfig = reporting.fig_exposure_by(limits.groupby('industry')[['current_limit', 'proposed_limit']].sum())"),
    ("code", "fig = reporting.fig_limit_changes(limits, ctx.params.grade_names)"),
    ("md", "## Largest reductions, with their reasons\nEach limit's explanation: what decided it, the main risk factors from the PD model, and the behaviour that would raise it most."),
    ("code", "cols = ['customer_name', 'grade', 'pd', 'current_limit', 'proposed_limit', 'decided_by'] + (['explanation'] if 'explanation' in limits else ['limit_reason'])\nwith pd.option_context('display.max_colwidth', None):\n    display(limits.sort_values('limit_change')[cols].head(15))"),
    ("md", "## What would raise limits\nCustomers whose own behaviour would raise their limit the most (PD re-scored by the model, limit recomputed at the portfolio's shadow prices)."),
    ("md", "## Early warning: the watchlist\nSignals compare today's features with `review.compare_months` before; severity is the weighted count of firing signals."),
    ("code", "wl = result.watchlist\ndisplay(Markdown(f'**{len(wl)} customers on the watchlist.**'))\nwith pd.option_context('display.max_colwidth', 120):\n    display(wl[['severity', 'firing_signals', 'recommended_action', 'signal_details']].head(15))"),
    ("md", "## Backtest of the signals on the ledger's history\nHit rate: share of firings followed by default within the horizon; lift: hit rate / base default rate; recall: share of defaulters flagged before default; lead: median days from the first flag to the default."),
    ("code", "if result.backtest is not None:\n    display(Markdown(f'Base default rate over the backtest: {result.backtest_base_rate:.2%}'))\n    display(result.backtest.round(3))"),
    ("md", "## Adjustment rules, approvals and the decision log\nThe optimizer's proposal passes through the adjustment standards (`review.rules`) to the final limit; each change is routed by size and grade."),
    ("code", "log = result.decision_log\ndisplay(limits.groupby(['adjustment_rule'])['final_change'].agg(['size', 'sum']).rename(index={'': '(no rule: proposal)'}).round(0))\ndisplay(log.groupby(['approver', 'status']).size().rename('decisions').to_frame())\nwith pd.option_context('display.max_colwidth', 80):\n    display(log[log['status'] == 'pending'].head(10))"),
    ("md", "## Review calendar"),
    ("code", "display(result.calendar['status'].value_counts().to_frame('customers'))\ndisplay(result.calendar.sort_values('next_review_date').head(10))"),
    ("md", "## Letters to customers\nEvery limit that changes by at least `letters.min_change_pct` gets a letter in `letters/` of the run folder (one file each, and `letters_all.html`). Two samples:"),
    ("code", "from IPython.display import HTML\nsamples = [name for name in sorted(result.letters) if name.startswith('letter_')][:2]\ndisplay(Markdown(f\"**{len(result.letters) - 2} letters** written.\"))\nfor name in samples:\n    display(HTML(result.letters[name].split('<body>')[1].split('</body>')[0]))"),
    ("code", "if 'hint' in limits:\n    hints = limits[limits['hint'] != ''].assign(gain=lambda t: t['hint_limit'] - t['proposed_limit'])\n    display(hints.groupby('hint').agg(customers=('gain', 'size'), total_gain=('gain', 'sum')).round(0))\n    display(hints.sort_values('gain', ascending=False)[['customer_name', 'pd', 'hint', 'hint_pd', 'proposed_limit', 'hint_limit']].head(10))"),
]),
"06_risk_reserve": ("6. Risk control: expected loss, provisions, concentration", """Exposure at default on the final limits
(EAD = outstanding + CCF × undrawn limit), net of collateral, credit insurance (cover, insured limit, deductible,
the insurer's own default) and guarantees; 12-month and lifetime expected loss; the IFRS 9 provision matrix from
the ledger's own roll rates with a forward-looking adjustment, reconciled with the PD-based lifetime ECL; and
concentration by name and industry with the granularity adjustment.""", [
    ("code", "result = stages.stage_reserve(ctx)\nt = result.totals\nfor note in result.notes:\n    display(Markdown(f'**Note:** {reporting.escape(note)}'))\ndisplay(pd.Series(t, name='value').to_frame().round(4))"),
    ("md", "## Gross and net exposure\nWhat collateral, insurance and guarantees take off the exposure, and the expected loss before and after."),
    ("code", "mit = result.exposures[['ead', 'collateralised', 'insured', 'guaranteed', 'net_exposure', 'el_gross', 'el']].sum().to_frame('total')\ndisplay(mit.round(0))\ndisplay(result.by_grade.round(4))\ndisplay(result.by_industry.round(4))\nfig = reporting.fig_el_breakdown(result.by_grade, result.by_industry)"),
    ("md", "## IFRS 9 provision matrix (simplified approach)\nLoss rates per ageing bucket from the ledger's own history, adjusted by the probability-weighted macro scenarios in `reserve.provisions.scenarios`."),
    ("code", "display(result.provision.matrix.round(4) if result.provision is not None else Markdown('Not computed (see the note above).'))"),
    ("md", "## Provision matrix against the PD-based lifetime ECL\nThe same open receivables, two methods; the difference by segment and why."),
    ("code", "if result.reconciliation is not None:\n    with pd.option_context('display.max_colwidth', 200):\n        display(result.reconciliation.round(4))"),
    ("md", "## 12-month and lifetime expected loss of the receivables"),
    ("code", "if result.el_tables is not None:\n    display(result.el_tables.by_grade.round(4))\n    display(result.el_tables.by_industry.round(4))"),
    ("md", "## Portfolio loss distribution and the risk-reserve fund\nA multi-factor Gaussian copula (one factor per industry, `reserve.industry_factor_correlation` between industries, asset correlation `reserve.asset_correlation`) over every customer's exposure and net LGD; the conditional loss distribution is computed exactly per factor scenario, so name concentration is kept. The recommended reserve is EL + UL at `reserve.confidence` (= VaR); the half-widths are 95% intervals of the estimate."),
    ("code", "loss = result.loss\ndisplay(result.loss_table.round(4))\nheld = t['reserve_held']\ndisplay(Markdown(f\"**Recommended risk reserve** at {t['reserve_confidence']:.1%}: **{t['reserve_recommended']:,.0f}** (EL {loss.expected_loss:,.0f} + UL {t['reserve_recommended'] - loss.expected_loss:,.0f})\" + (f\"; held today {held:,.0f}, gap {t['reserve_gap']:,.0f}\" if held == held else '; set reserve.reserve_held to compare with the fund held today')))\nfig = reporting.fig_loss_distribution(loss.quantiles, loss.var, loss.es, loss.expected_loss)"),
    ("md", "## What moved the reserve since the previous run\nStarting from the previous run's book (`reserve.previous_run`, by default the output folder's latest run), one element at a time is switched to today's and the reserve recomputed."),
    ("code", "display(result.waterfall.round(0) if result.waterfall is not None else Markdown('No previous run to compare with (the first run in this output folder, or `reserve.previous_run` not set).'))\nfig = reporting.fig_waterfall_steps(result.waterfall) if result.waterfall is not None else None"),
    ("md", "## Who carries the risk: Euler contributions\nContributions to VaR and ES add up to the portfolio figure; shares far above a customer's or industry's share of EL mark concentration."),
    ("code", "col = f'es_{ctx.params.reserve.confidence * 100:g}'\nif loss.sector_contributions is not None and col in loss.sector_contributions:\n    display(loss.sector_contributions.round(0))\n    fig = reporting.fig_risk_contributions(loss.sector_contributions, col)\n    display(loss.obligor_contributions.sort_values(col, ascending=False).head(10).round(0))"),
    ("md", "## Stress tests\nEach scenario (`reserve.stress_scenarios`) re-runs mitigation and the loss distribution on stressed PDs and LGDs; the provision matrix is scaled by the scenario's exposure-weighted PD multiplier, and customers made to default are provided for in full."),
    ("code", "display(result.stress.round(4))\nfig = reporting.fig_stress(result.stress)"),
    ("md", "## Concentration\nHerfindahl-Hirschman index on EAD by name and industry, effective numbers, top-10 share, and the Gordy-Lütkebohmert granularity adjustment (capital for name concentration on top of the one-factor IRB capital)."),
    ("code", "c = result.concentration\ndisplay(pd.Series({k: getattr(c, k) for k in ('total_exposure', 'names', 'hhi_name', 'effective_names', 'hhi_industry', 'effective_industries', 'top_n', 'top_n_share') if hasattr(c, k)}, name='value').to_frame())\ng = result.granularity\ndisplay(Markdown(f'**Granularity adjustment:** {g.ga:.4%} of EAD = {g.ga_amount:,.0f} (K* = {g.k_star:.4f}, δ = {g.delta:.4f}, {g.form} form)'))"),
    ("md", "## Use of the concentration caps\nFinal limits against the industry and region caps the limit stage applied, and the names closest to the single-name cap."),
    ("code", "display(result.cap_utilization.round(4))"),
    ("md", "## Largest expected losses"),
    ("code", "display(result.exposures.sort_values('el', ascending=False).head(15).round(4))"),
]),
}

for stage, (title, intro, cells) in books.items():
    nb = new_notebook()
    pc = new_code_cell(PARAMS)
    pc.metadata["tags"] = ["parameters"]
    nb.cells = [pc, new_markdown_cell(f"# {title}\n\n{intro}"), new_code_cell(SETUP.format(stage=stage))]
    for kind, src in cells:
        nb.cells.append(new_code_cell(src) if kind == "code" else new_markdown_cell(src))
    nb.metadata["kernelspec"] = {"name": "credit-lab", "display_name": "credit_lab", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(nb.cells):
        c.id = f"{stage[:2]}-cell-{i:02d}"
    nbformat.write(nb, Path(__file__).resolve().parent / f"{stage}.ipynb")
print("ok")
