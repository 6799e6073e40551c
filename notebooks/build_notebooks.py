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
from credit_lab.report import figures as reporting
from credit_lab.run import stages
warnings.filterwarnings("ignore", category=FutureWarning)
pd.set_option("display.max_columns", 30, "display.width", 200)
ctx = stages.open_stage("{stage}", run_dir, params_file, build_missing_upstream)'''

books = {
"01_data_quality": ("1. Data quality", """The ledger is checked against its data contract: columns, types, ranges, unique keys,
references between tables and row rules. Nothing is dropped or imputed silently: invalid rows either stop
the run or are quarantined and listed below with their reasons. In table mode the same holds for the customer table:
ids, outcome coding, limit and balance, dates.""", [
    ("code", "result = stages.stage_data_quality(ctx)\ndisplay(Markdown(f\"**Source:** {reporting.escape(result.source)}  \\n**Scoring date (as of):** {result.as_of.date()}\"))"),
    ("md", "## Rows per table"),
    ("code", "display(result.summary)"),
    ("md", "## Contract violations\nEach broken rule with the number of rows and example keys."),
    ("code", "violations = pd.DataFrame([v.__dict__ for v in result.validation.violations])\ndisplay(violations if len(violations) else Markdown(\"No violations: every row meets the contract.\"))"),
    ("md", "## Quarantined rows (first 50)"),
    ("code", "q = result.validation.quarantine\ndisplay(q.head(50) if len(q) else Markdown(\"No row was quarantined.\"))"),
    ("md", "## Declared assumptions\nOptional columns that were not supplied take these documented values; in table mode, the codes declared as missing and the outcome coding."),
    ("code", "display(Markdown(\"\\n\".join(f\"- {a}\" for a in result.validation.assumptions) or \"None: every optional column was supplied.\"))"),
    ("md", "## Declared rules for the export's messes\nWhat each rule in `data.rules` and each declared word list did, with row counts."),
    ("code", "display(result.rules if len(result.rules) else Markdown(\"No declared rule applied.\"))"),
    ("md", "## Stages the data allows\nStages that cannot run on this data are skipped, each with the reason; nothing is invented."),
    ("code", "display(pd.Series(result.skipped, name='reason').to_frame() if result.skipped else Markdown(\"Every stage can run.\"))"),
    ("md", "## Activity over time\nInvoices per month, and default events per quarter by industry: defaults cluster by industry and time (ledger mode)."),
    ("code", "fig = reporting.fig_monthly_activity(result.validation.tables) if 'invoices' in result.validation.tables else None"),
]),
"02_features": ("2. Point-in-time features", """Features are computed as of each snapshot date from records dated strictly before it:
payment behaviour, financial ratios, operations and industry prospects. The label is a default within the
horizon after the snapshot. Missing values stay missing. In table mode (`data.source: table`) the features
are the table's columns as given (declared codes set to missing) and the label is its outcome column.""", [
    ("code", "result = stages.stage_features(ctx)\ntrain, current = result.train, result.current\nnames = result.feature_names\ndisplay(Markdown((f\"**Training rows:** {len(train):,} ({train['default_in_horizon'].sum():,} defaults); \" if train is not None else \"**No training set** (no outcomes); \") + f\"**today's population:** {len(current):,} customers as of {result.as_of.date()}\"))"),
    ("md", "## Feature dictionary\nRisk direction +1: a higher value means riskier (the model is constrained that way); -1: safer; 0: no constraint; empty: inferred from the data when the model is fitted."),
    ("code", "display(result.dictionary)"),
    ("md", "## Default rate per training snapshot (ledger mode)"),
    ("code", "fig = reporting.fig_default_rate_by_snapshot(train) if train is not None and not ctx.table_mode else None"),
    ("md", "## Today's population: summary statistics"),
    ("code", "display(current[names].describe(include='all').T)"),
    ("code", "fig = reporting.fig_missing_share(current, names)"),
]),
"03_model": ("3. PD model: candidates, calibration and validation", """Two model families behind one interface: a
gradient-boosted classifier with monotone constraints from the feature dictionary, and a WoE scorecard
(optimal monotone binning, IV selection, logistic regression, points per bin). In ledger mode (and in table mode
with `data.table.tenure_column`) new customers (short tenure or no payment history) and existing customers get
separate models with their own features.
Models are fitted on the earlier snapshots, calibrated on a held-out set of customers (Platt or isotonic,
chosen by cross-validated Brier score) and validated on the out-of-time sample (table mode without a date:
a seeded holdout), which no choice ever looked at.""", [
    ("code", "result = stages.stage_model(ctx)\nart = result.artifact\ndisplay(Markdown(f\"**Champion:** {art['champion']}  \\n**Artifact:** `{art['file']}`  \\n**SHA-256:** `{art['sha256']}`  \\n**Snapshots:** {', '.join(art['snapshots'])}\"))\nfor note in result.notes:\n    display(Markdown(f'**Note:** {reporting.escape(note)}'))"),
    ("md", "## Champion and challengers\nEvery candidate on every sample; the rank is on the out-of-time sample. The champion is set by `model.champion` (auto: higher AUC on the calibration sample)."),
    ("code", "display(result.candidates.round(4))"),
    ("md", "## Segmented against single model\nThe champion family's single model and its new/existing segmented version on the same out-of-time rows."),
    ("code", "display(result.segments.round(4) if result.segments is not None else Markdown('One model for every customer (table mode, or `model.segments: false`).'))"),
    ("md", "## Validation metrics of the champion\nAUC, Gini, Kolmogorov-Smirnov and Brier score per sample; out-of-time is the one that counts."),
    ("code", "display(reporting.metrics_table(result.metrics))\ny_oot, pd_oot = result.oot['default_in_horizon'].to_numpy(), result.oot['pd'].to_numpy()\nfig = reporting.fig_roc(y_oot, pd_oot, result.oot_label)"),
    ("code", "fig = reporting.fig_cap(y_oot, pd_oot, result.oot_label)"),
    ("code", "from credit_lab.models.gbm import score_points\nfig = reporting.fig_score_distribution(y_oot, score_points(pd_oot, ctx.params.score_scaling))"),
    ("md", "## Calibration\nThe map from raw log-odds to PD chosen on the calibration sample (out-of-fold Brier and log loss of both), and the long-run central-tendency shift if `model.central_tendency` is set."),
    ("code", "for segment, c in result.calibration.items():\n    display(Markdown(f\"**{segment}:** {c['method']}, central-tendency shift {c['shift']:+.4f} log-odds\"))\n    display(pd.DataFrame(c['comparison']).round(5))"),
    ("md", "## Master scale, binomial test and Hosmer-Lemeshow (out-of-time)\nPer grade: defaults against the grade's mean PD, one-sided exact binomial test (traffic light: green not rejected at 95%, yellow rejected at 95%, red rejected at 99.9%) and the Jeffreys test."),
    ("code", "display(result.grades_oot.round(4))\nfig = reporting.fig_calibration(result.grades_oot)\ndisplay(result.binomial.round(4))\nhl, hlg = result.hosmer_lemeshow, result.hosmer_lemeshow_grades\ndisplay(Markdown(f'**Hosmer-Lemeshow** by PD decile: statistic {hl.statistic:.2f}, {hl.dof} dof, p = {hl.p_value:.3f}; by grade: {hlg.statistic:.2f}, {hlg.dof} dof, p = {hlg.p_value:.3f}'))"),
    ("code", "display(result.calibration_table.round(4))\nfig = reporting.fig_calibration_deciles(result.calibration_table, result.oot_label)"),
    ("md", "## AUC by month"),
    ("code", "display(result.auc_by_period.round(4))\nfig = reporting.fig_auc_by_period(result.auc_by_period) if len(result.auc_by_period) else None"),
    ("md", "## Population stability\nPSI of the PD and CSI of every feature against the development sample: below 0.10 stable, 0.10-0.25 moderate shift, above 0.25 significant shift."),
    ("code", "st = result.stability\ndisplay(st[st['measure'] == 'PSI'].round(4))\ndisplay(st[st['flag'] != 'stable'].sort_values('value', ascending=False).round(4))"),
    ("md", "## The scorecard's points table\nPoints per bin (points-to-double-odds scaling); a customer's score is the sum of the points of its bins. The full table is in `data/scorecard_points.csv`."),
    ("code", "if result.points is not None:\n    with pd.option_context('display.max_rows', 60):\n        display(result.points.round(3).head(60))"),
    ("md", "## Monotone constraints"),
    ("code", "display(pd.Series(result.artifact['monotone_constraints'], name='constraint').to_frame())"),
    ("md", "## Model card"),
    ("code", "card = result.model_card\ndisplay(Markdown(reporting.model_card_markdown(card)))"),
]),
"04_scoring_explain": ("4. Scoring and explanations", """Every current customer gets a calibrated PD, a grade on the master
scale and score points. SHAP values explain the model's log-odds exactly: the run stops if base value plus
the sum of a customer's SHAP values differs from the model output by more than the tolerance.""", [
    ("code", "result = stages.stage_scoring(ctx)\nscores, expl = result.scores, result.explanation\nref = result.shap_reference\ndisplay(Markdown(f\"**Customers scored:** {len(scores):,}  \\n**Max additivity error:** {result.additivity_error:.2e} (tolerance {ctx.params.explain.additivity_tolerance:g})  \\n\" + (f\"**Against shap.TreeExplainer** on {ref['customers']} customers: max abs difference {ref['max_abs_difference']:.1e}\" if ref.get('checked') else f\"**Reference check:** {ref.get('reason', '')}\")))"),
    ("md", "## Grades"),
    ("code", "fig = reporting.fig_grade_distribution(scores, ctx.params.grade_names)\ndisplay(scores.groupby('grade')[['pd', 'score']].agg(['count', 'mean']).round(4))"),
    ("md", "## Global explanation"),
    ("code", "fig = reporting.fig_shap_bar(expl)"),
    ("code", "fig = reporting.fig_shap_beeswarm(expl)"),
    ("md", "## Dependence of the top features"),
    ("code", "fig = reporting.fig_shap_dependence(expl)"),
    ("md", "## Stability of the reasons\nThe champion refitted with another seed (another fit/calibration draw): overlap of each customer's top-3 adverse factors."),
    ("code", "rs = result.reason_stability\nif rs.get('computed'):\n    display(Markdown(f\"Seeds {rs['seeds'][0]} and {rs['seeds'][1]}, {rs['customers']:,} customers; reason groups are what customers read, features the detail.\"))\n    display(pd.DataFrame({k: v for k, v in rs.items() if isinstance(v, dict)}).T.round(3))\nelse:\n    display(Markdown(f\"Not computed: {reporting.escape(rs.get('reason', ''))}\"))\nif result.unseen:\n    display(Markdown('**Values the model never saw in its fit data** (scored as missing / neutral):'))\n    display(pd.DataFrame(result.unseen).T)"),
    ("md", "## Reasons: the top adverse factors of the riskiest customers"),
    ("code", "cols = ['pd', 'grade', 'score'] + [c for c in scores.columns if c.startswith('reason_') and not c.endswith(('_feature', '_log_odds', '_group'))]\ndisplay(scores.sort_values('pd', ascending=False)[cols].head(20))"),
    ("md", "## Individual explanations\nA waterfall for each customer listed in `explain.explain_customers` (the riskiest customer when the list is empty)."),
    ("code", "wanted = [c for c in ctx.params.explain.explain_customers if c in scores.index] or [scores['pd'].idxmax()]\nunknown = sorted(set(ctx.params.explain.explain_customers) - set(scores.index))\nif unknown:\n    display(Markdown(f\"Not in today's population (not shown): {reporting.escape(unknown)}\"))\nfor customer_id in wanted:\n    fig = reporting.fig_waterfall(expl, customer_id)\n    display(fig)\n    reporting.plt.close(fig)"),
    ("md", "## The scorecard's points for these customers\nExact per-variable points of the scorecard (champion or challenger): they add up to the customer's scorecard score."),
    ("code", "if result.scorecard_points is not None:\n    display(Markdown(f'Scorecard: {result.scorecard_name}'))\n    display(result.scorecard_points.loc[wanted].T.round(2))"),
]),
"05_limits": ("5. Credit limits", """With `limits.method: optimize` (the default) every limit maximizes the book's expected
profit: margin on the sales a limit enables (the customer's purchase need over its payment terms is uncertain)
minus funding cost, expected loss PD × LGD × limit and a charge on unexpected-loss capital, subject to the
expected-loss budget (risk appetite), the exposure budget, industry and region caps, the single-name cap,
grade bounds, the maximum change per review, insurers' caps and the PD cut-off. The optimum is exact;
shadow prices say what one more unit of each binding budget is worth.""", [
    ("code", "result = stages.stage_limits(ctx)\nlimits = result.limits\nif limits is not None:\n    display(Markdown(f\"**Method:** {result.method} &nbsp; **Total limits:** {limits['current_limit'].sum():,.0f} today → {limits['proposed_limit'].sum():,.0f} proposed\" + (f\" &nbsp; **solved in** {result.solve_seconds:.2f} s\" if result.solve_seconds is not None else \"\")))"),
    ("code", "for note in result.notes:\n    display(Markdown(f'**Note:** {reporting.escape(note)}'))"),
    ("md", "## What decided the limits"),
    ("code", "if limits is not None:\n    display(limits.groupby('decided_by').agg(customers=('proposed_limit', 'size'), total_limit=('proposed_limit', 'sum'), total_change=('limit_change', 'sum')).round(0))"),
    ("md", "## Constraints, binding ones and their shadow prices\nShadow price: expected profit gained per extra currency unit of that budget or cap."),
    ("code", "if limits is not None:\n    display(result.constraints.round(4) if result.constraints is not None else Markdown('Rules method: no portfolio constraints.'))"),
    ("md", "## Efficient frontier\nBest expected profit for each expected-loss budget; the red dot is today's limits (which may break today's caps and bands)."),
    ("code", "if limits is not None:\n    fig = reporting.fig_frontier(result.frontier.table, result.frontier.current_el, result.frontier.current_profit) if result.frontier is not None else None"),
    ("md", "## Concentration before and after"),
    ("code", "if limits is not None:\n    display(result.exposure_by_industry.round(0) if result.exposure_by_industry is not None else limits.groupby('industry')[['current_limit', 'proposed_limit']].sum().round(0))\n    fig = reporting.fig_exposure_by(limits.groupby('industry')[['current_limit', 'proposed_limit']].sum())"),
    ("code", "if limits is not None:\n    fig = reporting.fig_limit_changes(limits, ctx.params.grade_names)"),
    ("md", "## Largest reductions, with their reasons\nEach limit's explanation: what decided it, the main risk factors from the PD model, and the behaviour that would raise it most."),
    ("code", "if limits is not None:\n    cols = ['customer_name', 'grade', 'pd', 'current_limit', 'proposed_limit', 'decided_by'] + (['explanation'] if 'explanation' in limits else ['limit_reason'])\n    with pd.option_context('display.max_colwidth', None):\n        display(limits.sort_values('limit_change')[cols].head(15))"),
    ("md", "## What would raise limits\nCustomers whose own behaviour would raise their limit the most (PD re-scored by the model, limit recomputed at the portfolio's shadow prices)."),
    ("md", "## Early warning: the watchlist\nSignals compare today's features with `review.compare_months` before; severity is the weighted count of firing signals."),
    ("code", "if result.watchlist is not None:\n    wl = result.watchlist\n    display(Markdown(f'**{len(wl)} customers on the watchlist.**'))\n    with pd.option_context('display.max_colwidth', 120):\n        display(wl[['severity', 'firing_signals', 'recommended_action', 'signal_details']].head(15))"),
    ("md", "## Backtest of the signals on the ledger's history\nHit rate: share of firings followed by default within the horizon; lift: hit rate / base default rate; recall: share of defaulters flagged before default; lead: median days from the first flag to the default."),
    ("code", "if result.backtest is not None:\n    display(Markdown(f'Base default rate over the backtest: {result.backtest_base_rate:.2%}'))\n    display(result.backtest.round(3))"),
    ("md", "## Adjustment rules, approvals and the decision log\nThe optimizer's proposal passes through the adjustment standards (`review.rules`) to the final limit; each change is routed by size and grade."),
    ("code", "if result.decision_log is not None:\n    log = result.decision_log\n    display(limits.groupby(['adjustment_rule'])['final_change'].agg(['size', 'sum']).rename(index={'': '(no rule: proposal)'}).round(0))\n    display(log.groupby(['approver', 'status']).size().rename('decisions').to_frame())\n    with pd.option_context('display.max_colwidth', 80):\n        display(log[log['status'] == 'pending'].head(10))"),
    ("md", "## Review calendar"),
    ("code", "if result.calendar is not None:\n    display(result.calendar['status'].value_counts().to_frame('customers'))\n    display(result.calendar.sort_values('next_review_date').head(10))"),
    ("md", "## Letters to customers\nEvery limit that changes by at least `letters.min_change_pct` gets a letter in `letters/` of the run folder (one file each, and `letters_all.html`). Two samples:"),
    ("code", "if limits is not None:\n    from IPython.display import HTML\n    samples = [name for name in sorted(result.letters) if name.startswith('letter_')][:2]\n    display(Markdown(f\"**{len(result.letters) - 2} letters** written.\"))\n    for name in samples:\n        display(HTML(result.letters[name].split('<body>')[1].split('</body>')[0]))"),
    ("code", "if limits is not None and 'hint' in limits:\n    hints = limits[limits['hint'] != ''].assign(gain=lambda t: t['hint_limit'] - t['proposed_limit'])\n    display(hints.groupby('hint').agg(customers=('gain', 'size'), total_gain=('gain', 'sum')).round(0))\n    display(hints.sort_values('gain', ascending=False)[['customer_name', 'pd', 'hint', 'hint_pd', 'proposed_limit', 'hint_limit']].head(10))"),
]),
"06_risk_reserve": ("6. Risk control: expected loss, provisions, concentration", """Exposure at default on the final limits
(EAD = outstanding + CCF × undrawn limit), net of collateral, credit insurance (cover, insured limit, deductible,
the insurer's own default) and guarantees; 12-month and lifetime expected loss; the IFRS 9 provision matrix from
the ledger's own roll rates with a forward-looking adjustment, reconciled with the PD-based lifetime ECL; and
concentration by name and industry with the granularity adjustment.""", [
    ("code", "result = stages.stage_reserve(ctx)\nt = result.totals\nfor note in result.notes:\n    display(Markdown(f'**Note:** {reporting.escape(note)}'))\ndisplay(pd.Series(t, name='value').to_frame().round(4))"),
    ("md", "## Gross and net exposure\nWhat collateral, insurance and guarantees take off the exposure, and the expected loss before and after."),
    ("code", "if result.loss is not None:\n    mit = result.exposures[['ead', 'collateralised', 'insured', 'guaranteed', 'net_exposure', 'el_gross', 'el']].sum().to_frame('total')\n    display(mit.round(0))\n    display(result.by_grade.round(4))\n    display(result.by_industry.round(4))\n    fig = reporting.fig_el_breakdown(result.by_grade, result.by_industry)"),
    ("md", "## Ageing of today's receivables\nOpen receivables per customer by days past due (shown here when there are no PDs; with PDs the exposure tables below include them)."),
    ("code", "if result.loss is None:\n    display(result.exposures.head(20).round(2))\n    display(result.exposures.sum().to_frame('total').round(2))"),
    ("md", "## IFRS 9 provision matrix (simplified approach)\nLoss rates per ageing bucket from the ledger's own history, adjusted by the probability-weighted macro scenarios in `reserve.provisions.scenarios`."),
    ("code", "display(result.provision.matrix.round(4) if result.provision is not None else Markdown('Not computed (see the note above).'))"),
    ("md", "## Provision matrix against the PD-based lifetime ECL\nThe same open receivables, two methods; the difference by segment and why."),
    ("code", "if result.reconciliation is not None:\n    with pd.option_context('display.max_colwidth', 200):\n        display(result.reconciliation.round(4))"),
    ("md", "## 12-month and lifetime expected loss of the receivables"),
    ("code", "if result.el_tables is not None:\n    display(result.el_tables.by_grade.round(4))\n    display(result.el_tables.by_industry.round(4))"),
    ("md", "## Portfolio loss distribution and the risk-reserve fund\nA multi-factor Gaussian copula (one factor per industry, `reserve.industry_factor_correlation` between industries, asset correlation `reserve.asset_correlation`) over every customer's exposure and net LGD; the conditional loss distribution is computed exactly per factor scenario, so name concentration is kept. The recommended reserve is EL + UL at `reserve.confidence` (= VaR); the half-widths are 95% intervals of the estimate."),
    ("code", "if result.loss is not None:\n    loss = result.loss\n    display(result.loss_table.round(4))\n    held = t['reserve_held']\n    display(Markdown(f\"**Recommended risk reserve** at {t['reserve_confidence']:.1%}: **{t['reserve_recommended']:,.0f}** (EL {loss.expected_loss:,.0f} + UL {t['reserve_recommended'] - loss.expected_loss:,.0f})\" + (f\"; held today {held:,.0f}, gap {t['reserve_gap']:,.0f}\" if held == held else '; set reserve.reserve_held to compare with the fund held today')))\n    fig = reporting.fig_loss_distribution(loss.quantiles, loss.var, loss.es, loss.expected_loss)"),
    ("md", "## What moved the reserve since the previous run\nStarting from the previous run's book (`reserve.previous_run`, by default the output folder's latest run), one element at a time is switched to today's and the reserve recomputed."),
    ("code", "if result.loss is not None:\n    display(result.waterfall.round(0) if result.waterfall is not None else Markdown('No previous run to compare with (the first run in this output folder, or `reserve.previous_run` not set).'))\n    fig = reporting.fig_waterfall_steps(result.waterfall) if result.waterfall is not None else None"),
    ("md", "## Who carries the risk: Euler contributions\nContributions to VaR and ES add up to the portfolio figure; shares far above a customer's or industry's share of EL mark concentration."),
    ("code", "if result.loss is not None:\n    col = f'es_{ctx.params.reserve.confidence * 100:g}'\n    if loss.sector_contributions is not None and col in loss.sector_contributions:\n        display(loss.sector_contributions.round(0))\n        fig = reporting.fig_risk_contributions(loss.sector_contributions, col)\n        display(loss.obligor_contributions.sort_values(col, ascending=False).head(10).round(0))"),
    ("md", "## Stress tests\nEach scenario (`reserve.stress_scenarios`) re-runs mitigation and the loss distribution on stressed PDs and LGDs; the provision matrix is scaled by the scenario's exposure-weighted PD multiplier, and customers made to default are provided for in full."),
    ("code", "if result.loss is not None:\n    display(result.stress.round(4))\n    fig = reporting.fig_stress(result.stress)"),
    ("md", "## Concentration\nHerfindahl-Hirschman index on EAD by name and industry, effective numbers, top-10 share, and the Gordy-Lütkebohmert granularity adjustment (capital for name concentration on top of the one-factor IRB capital)."),
    ("code", "if result.loss is not None:\n    c = result.concentration\n    display(pd.Series({k: getattr(c, k) for k in ('total_exposure', 'names', 'hhi_name', 'effective_names', 'hhi_industry', 'effective_industries', 'top_n', 'top_n_share') if hasattr(c, k)}, name='value').to_frame())\n    g = result.granularity\n    display(Markdown(f'**Granularity adjustment:** {g.ga:.4%} of EAD = {g.ga_amount:,.0f} (K* = {g.k_star:.4f}, δ = {g.delta:.4f}, {g.form} form)'))"),
    ("md", "## Use of the concentration caps\nFinal limits against the industry and region caps the limit stage applied, and the names closest to the single-name cap."),
    ("code", "if result.loss is not None:\n    display(result.cap_utilization.round(4))"),
    ("md", "## Largest expected losses"),
    ("code", "if result.loss is not None:\n    display(result.exposures.sort_values('el', ascending=False).head(15).round(4))"),
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
