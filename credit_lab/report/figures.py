"""Tables and figures for the reports, from the stages' result objects.

Plot functions take an optional ``ax`` (or create a figure), never call
``plt.show()`` and return the figure, so notebooks, the index page and tests
all use them the same way. Text from the data (names, ids) is always escaped
before it goes into HTML.
"""

from __future__ import annotations

import base64
import html
import io as _io

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from credit_lab.models.explanation import Explanation  # noqa: E402
from credit_lab.models.metrics import accuracy_ratio, auc, cap_curve, score_distribution  # noqa: E402
from credit_lab.report.validation_figures import plot_calibration, plot_score_distribution  # noqa: E402

__all__ = [
    "fig_monthly_activity",
    "fig_default_rate_by_snapshot",
    "fig_missing_share",
    "fig_roc",
    "fig_calibration",
    "fig_grade_distribution",
    "fig_shap_bar",
    "fig_shap_beeswarm",
    "fig_waterfall",
    "fig_limit_changes",
    "fig_el_breakdown",
    "fig_frontier",
    "fig_loss_distribution",
    "fig_stress",
    "fig_waterfall_steps",
    "fig_risk_contributions",
    "fig_exposure_by",
    "metrics_table",
    "fig_to_data_uri",
    "escape",
]


def _axes(ax=None, figsize=(8, 4)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def fig_monthly_activity(tables: dict[str, pd.DataFrame]) -> plt.Figure:
    """Invoices issued per month, and default events per month by industry (clustering shows here)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    inv = tables["invoices"]
    inv.groupby(inv["invoice_date"].dt.to_period("M")).size().plot(ax=a1, color="#3b6ea5")
    a1.set_title("Invoices issued per month")
    a1.set_xlabel("")
    d = tables.get("defaults")
    if d is not None and len(d):
        cust = tables["customers"].set_index("customer_id")["industry"]
        dd = d.assign(industry=d["customer_id"].map(cust), month=d["default_date"].dt.to_period("Q"))
        dd.pivot_table(index="month", columns="industry", values="customer_id", aggfunc="count",
                       fill_value=0).plot(kind="bar", stacked=True, ax=a2, width=0.9, legend=False)
        a2.legend(fontsize=7, ncol=2)
        a2.set_title("Default events per quarter, by industry")
        a2.set_xlabel("")
    else:
        a2.text(0.5, 0.5, "no default events in the data", ha="center")
        a2.set_axis_off()
    fig.tight_layout()
    return fig


def fig_default_rate_by_snapshot(train: pd.DataFrame, ax=None) -> plt.Figure:
    """Default rate within the horizon of each training snapshot."""
    fig, ax = _axes(ax)
    rate = train.groupby("snapshot_date")["default_in_horizon"].mean()
    ax.bar([str(pd.Timestamp(s).date()) for s in rate.index], rate.to_numpy() * 100, color="#a53b3b")
    ax.set_ylabel("default rate, %")
    ax.set_title("Observed default rate per training snapshot")
    return fig


def fig_missing_share(features: pd.DataFrame, names: list[str], ax=None) -> plt.Figure:
    """Share of customers with each feature missing (missing stays missing)."""
    fig, ax = _axes(ax, figsize=(8, 6))
    share = features[names].isna().mean().sort_values()
    ax.barh(share.index, share.to_numpy() * 100, color="#777")
    ax.set_xlabel("% missing")
    ax.set_title("Missing values per feature (today's population)")
    fig.tight_layout()
    return fig


def fig_roc(y: np.ndarray, pd_: np.ndarray, label: str, ax=None) -> plt.Figure:
    """ROC curve with the AUC in the legend (the package's one AUC)."""
    fig, ax = _axes(ax, figsize=(5, 5))
    fpr, tpr, _ = roc_curve(y, pd_)
    ax.plot(fpr, tpr, label=f"{label}: AUC {auc(y, pd_):.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(loc="lower right")
    ax.set_title("ROC curve")
    return fig


def fig_cap(y: np.ndarray, pd_: np.ndarray, label: str, ax=None) -> plt.Figure:
    """Cumulative accuracy profile: share of defaulters caught by rejecting the riskiest share."""
    fig, ax = _axes(ax, figsize=(5, 5))
    cap = cap_curve(y, pd_)
    ax.plot(cap.iloc[:, 0], cap.iloc[:, 1], label=f"{label}: AR {accuracy_ratio(y, pd_):.3f}")
    rate = float(np.mean(y))
    ax.plot([0, rate, 1], [0, 1, 1], ls=":", color="black", label="perfect model")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="random")
    ax.set_xlabel("share of customers (riskiest first)")
    ax.set_ylabel("share of defaulters")
    ax.legend(loc="lower right")
    ax.set_title("CAP curve")
    return fig


def fig_calibration_deciles(table: pd.DataFrame, label: str) -> plt.Figure:
    """Observed default rate against mean PD per PD decile, with confidence intervals."""
    fig, ax = _axes(None, figsize=(5, 5))
    plot_calibration(table, ax=ax, label=label)
    ax.set_title("Calibration by PD decile")
    return fig


def fig_score_distribution(y: np.ndarray, score: np.ndarray) -> plt.Figure:
    """Score points of goods and bads on common bins."""
    fig, ax = _axes(None, figsize=(7, 4))
    plot_score_distribution(score_distribution(y, score, bins=25), ax=ax)
    ax.set_title("Score distribution of goods and bads")
    return fig


def fig_auc_by_period(table: pd.DataFrame) -> plt.Figure:
    """AUC per month and sample."""
    fig, ax = _axes(None, figsize=(8, 3.5))
    for sample, part in table.groupby("sample", sort=False):
        ax.plot(part["period"].astype(str), part["auc"], marker="o", label=sample)
    ax.set_ylabel("AUC")
    ax.set_title("Discrimination by month")
    ax.legend()
    fig.autofmt_xdate()
    return fig


def fig_shap_dependence(expl: Explanation, top: int = 4) -> plt.Figure:
    """SHAP value against feature value for the most important features."""
    imp = pd.Series(np.abs(expl.values).mean(axis=0), index=expl.feature_names).sort_values(ascending=False)
    names = list(imp.index[:top])
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        j = expl.feature_names.index(name)
        x = expl.data[name].to_numpy(dtype=float)
        ok = ~np.isnan(x)
        ax.scatter(x[ok], expl.values[ok, j], s=6, alpha=0.4, color="#3b6ea5")
        if (~ok).any():
            ax.scatter(np.full((~ok).sum(), np.nanmin(x) if ok.any() else 0.0), expl.values[~ok, j], s=6,
                       alpha=0.4, color="#c0392b", label="missing")
            ax.legend(fontsize=7)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(name)
        ax.set_ylabel("SHAP (log-odds)")
    fig.suptitle("Dependence: how each top feature's value moves the log-odds of default", fontsize=10)
    fig.tight_layout()
    return fig


def fig_calibration(grades: pd.DataFrame, ax=None) -> plt.Figure:
    """Mean predicted PD against observed default rate per grade."""
    fig, ax = _axes(ax, figsize=(6, 4))
    g = grades.dropna(subset=["mean_pd"])
    x = np.arange(len(g))
    ax.bar(x - 0.2, g["mean_pd"] * 100, width=0.4, label="mean predicted PD")
    ax.bar(x + 0.2, g["observed_default_rate"] * 100, width=0.4, label="observed default rate")
    ax.set_xticks(x, g["grade"])
    ax.set_ylabel("%")
    ax.set_title("Calibration by grade (out-of-time)")
    ax.legend()
    return fig


def fig_grade_distribution(scores: pd.DataFrame, grade_order: list[str], ax=None) -> plt.Figure:
    """Customers per grade."""
    fig, ax = _axes(ax, figsize=(6, 4))
    counts = scores["grade"].value_counts().reindex(grade_order, fill_value=0)
    ax.bar(counts.index, counts.to_numpy(), color="#3b6ea5")
    ax.set_title("Customers per grade")
    ax.set_ylabel("customers")
    return fig


def fig_shap_bar(expl: Explanation, top: int = 15, ax=None) -> plt.Figure:
    """Mean |SHAP| per feature: global importance on the log-odds scale."""
    fig, ax = _axes(ax, figsize=(8, 6))
    imp = pd.Series(np.abs(expl.values).mean(axis=0), index=expl.feature_names).sort_values().tail(top)
    ax.barh(list(imp.index), imp.to_numpy(), color="#3b6ea5")
    ax.set_xlabel("mean |SHAP value| (log-odds of default)")
    ax.set_title("Global importance")
    fig.tight_layout()
    return fig


def fig_shap_beeswarm(expl: Explanation, top: int = 15, seed: int = 0) -> plt.Figure:
    """SHAP beeswarm: each dot a customer, colour the feature value.

    shap stacks the dots in an order drawn from numpy's global generator; it is seeded with ``seed``
    for the plot and restored after, so a rerun draws the same picture and nothing else is disturbed.
    """
    import shap

    e = shap.Explanation(values=expl.values, base_values=expl.base_values(),
                         data=expl.data.to_numpy(), feature_names=expl.feature_names)
    plt.figure(figsize=(9, 7))
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        shap.plots.beeswarm(e, max_display=top, show=False)
    finally:
        np.random.set_state(state)
    fig = plt.gcf()
    fig.axes[0].set_title("Every customer's SHAP values for the top features (colour: the feature's value)")
    fig.tight_layout()
    return fig


def fig_waterfall(expl: Explanation, customer_id: str, top: int = 12) -> plt.Figure:
    """Waterfall of one customer's SHAP values from the base value to its log-odds."""
    import shap

    i = expl.data.index.get_loc(customer_id)
    e = shap.Explanation(values=expl.values[i], base_values=float(expl.base_values()[i]),
                         data=expl.data.iloc[i].to_numpy(),
                         feature_names=expl.feature_names)
    plt.figure(figsize=(9, 6))
    shap.plots.waterfall(e, max_display=top, show=False)
    fig = plt.gcf()
    fig.suptitle(f"Customer {customer_id}: contributions to the log-odds of default", fontsize=10)
    fig.tight_layout()
    return fig


def fig_limit_changes(limits: pd.DataFrame, grade_order: list[str]) -> plt.Figure:
    """Distribution of limit changes and total limits per grade, today vs proposed."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    change_pct = (limits["limit_change"] / limits["current_limit"].where(limits["current_limit"] > 0)) * 100
    a1.hist(change_pct.dropna().clip(-100, 200), bins=40, color="#3b6ea5")
    a1.set_xlabel("change vs today's limit, % (clipped at 200)")
    a1.set_title("Proposed limit changes")
    by = limits.groupby("grade")[["current_limit", "proposed_limit"]].sum().reindex(grade_order).fillna(0) / 1e6
    by.plot(kind="bar", ax=a2)
    a2.set_ylabel("millions")
    a2.set_title("Total limits per grade")
    fig.tight_layout()
    return fig


def fig_frontier(frontier_table: pd.DataFrame, current_el: float, current_profit: float, ax=None) -> plt.Figure:
    """Expected profit of the optimal limits against the EL budget, today's limits marked."""
    fig, ax = _axes(ax, figsize=(7, 4))
    t = frontier_table.sort_values("el_budget")
    ax.plot(t["el_budget"] / 1e6, t["expected_profit"] / 1e6, marker="o", label="optimal limits")
    ax.scatter([current_el / 1e6], [current_profit / 1e6], color="C3", zorder=3, label="today's limits")
    ax.set_xlabel("expected-loss budget, millions")
    ax.set_ylabel("expected profit, millions")
    ax.set_title("Efficient frontier")
    ax.legend()
    return fig


def fig_exposure_by(table: pd.DataFrame, ax=None) -> plt.Figure:
    """Total limits per group (industry, region), today against proposed."""
    fig, ax = _axes(ax, figsize=(8, 4))
    (table[["current_limit", "proposed_limit"]] / 1e6).plot(kind="bar", ax=ax)
    ax.set_ylabel("total limits, millions")
    ax.set_title(f"Concentration by {table.index.name}: today vs proposed")
    fig.tight_layout()
    return fig


def fig_loss_distribution(quantiles: pd.Series, var: dict, es: dict, expected_loss: float, ax=None) -> plt.Figure:
    """Portfolio loss distribution (quantile curve) with EL, VaR and ES marked."""
    fig, ax = _axes(ax, figsize=(8, 4))
    q = quantiles[(quantiles.index >= 0.5)]
    ax.plot(q.to_numpy() / 1e6, q.index.to_numpy(), color="#3b6ea5")
    ax.axvline(expected_loss / 1e6, color="grey", ls=":", label=f"EL {expected_loss / 1e6:,.2f}m")
    for (level, value), colour in zip(sorted(var.items()), ("C1", "C2", "C3", "C4")):
        ax.axvline(value / 1e6, color=colour, ls="--", label=f"VaR {level:.1%} {value / 1e6:,.2f}m")
        ax.axvline(es[level] / 1e6, color=colour, ls=":", alpha=0.7, label=f"ES {level:.1%} {es[level] / 1e6:,.2f}m")
    ax.set_xlabel("portfolio loss over 12 months, millions")
    ax.set_ylabel("probability the loss is lower")
    ax.set_ylim(0.5, 1.0005)
    ax.set_title("Loss distribution")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def fig_risk_contributions(contributions: pd.DataFrame, column: str, ax=None) -> plt.Figure:
    """Euler risk contributions by industry (they add up to the portfolio figure)."""
    fig, ax = _axes(ax, figsize=(8, 4))
    c = contributions.sort_values(column)
    ax.barh(c.index.astype(str), c[column].to_numpy() / 1e6, color="#a53b3b", label=column)
    ax.barh(c.index.astype(str), c["el"].to_numpy() / 1e6, color="#777", label="expected loss")
    ax.set_xlabel("millions")
    ax.set_title(f"Contributions by industry: {column} and EL")
    ax.legend()
    fig.tight_layout()
    return fig


def fig_waterfall_steps(table: pd.DataFrame, ax=None) -> plt.Figure:
    """Reserve waterfall: the previous reserve, each step's change, today's reserve."""
    fig, ax = _axes(ax, figsize=(9, 4))
    start = float(table["reserve"].iloc[0])
    changes = table["change"].iloc[1:]
    bottoms = start + changes.cumsum().shift(fill_value=0.0)
    ax.bar([table.index[0]], [start / 1e6], color="#777")
    ax.bar(changes.index, changes.to_numpy() / 1e6, bottom=bottoms.to_numpy() / 1e6,
           color=["#a53b3b" if c > 0 else "#3b8a3b" for c in changes])
    ax.bar(["today"], [float(table["reserve"].iloc[-1]) / 1e6], color="#3b6ea5")
    ax.set_ylabel("recommended reserve, millions")
    ax.set_title("What moved the reserve")
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig


def fig_stress(stress: pd.DataFrame, ax=None) -> plt.Figure:
    """Provision, EL and reserve per stress scenario, side by side."""
    fig, ax = _axes(ax, figsize=(9, 4))
    (stress[["provision", "el", "reserve"]] / 1e6).plot(kind="barh", ax=ax)
    ax.invert_yaxis()
    ax.set_xlabel("millions")
    ax.set_title("Stress tests")
    fig.tight_layout()
    return fig


def fig_el_breakdown(by_grade: pd.DataFrame, by_industry: pd.DataFrame) -> plt.Figure:
    """Expected loss gross and net of mitigation, by grade and by industry."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    for ax, table, title in ((a1, by_grade, "grade"), (a2, by_industry, "industry")):
        t = table.drop(index="Total", errors="ignore")[["el_gross", "el"]] / 1e3
        t.columns = ["gross", "net of insurance/guarantees"]
        t.plot(kind="bar", ax=ax)
        ax.set_ylabel("expected loss, thousands")
        ax.set_title(f"12-month expected loss by {title}")
    fig.tight_layout()
    return fig


def model_card_markdown(card: dict) -> str:
    """The model card as Markdown: use, data, segments, features, performance, limitations, hashes."""
    e = escape
    perf = "\n".join(f"| {e(k)} | {v['n']:,} | {v['defaults']:,} | {v['auc']:.3f} | {v['gini']:.3f} | {v['ks']:.3f} | "
                     f"{v['brier']:.4f} |" for k, v in card["performance"].items())
    chall = "\n".join(f"| {e(c['candidate'])} | {c['rank_out_of_time']} | {c.get('rank_calibration', '')} | "
                      f"{c['auc']:.3f} | {c['brier']:.4f} |" for c in card["challengers"])
    data = card["data"]
    return "\n".join([
        f"**Model:** {e(card['model'])}  ",
        *([f"**Method:** {e(card['method'])}: {e(card['method_reason'])}  "] if card.get("method_reason") else []),
        f"**Intended use:** {e(card['intended_use'])}  ",
        f"**Data:** {e(data['source'])}; scoring date {e(data['as_of_date'])}; snapshots "
        f"{e(', '.join(data['snapshots']))}; "
        f"{data['fit_rows']:,} fit, {data['calibration_rows']:,} calibration, {data['validation_rows']:,} validation "
        "rows; "
        f"label: {e(data['label'])}  ",
        f"**Segments:** {e(card['segments'])}  ",
        f"**Features ({len(card['features'])}):** {e(', '.join(card['features']))}  ",
        "**Calibration:** " + "; ".join(f"{e(k)}: {e(v['method'])} (shift {v['shift']:+.3f}"
                                         f"{_anchor_words(v.get('central_tendency'))})"
                                         for k, v in card["calibration"].items()) + "  ",
        *([f"**Champion:** {e(card['champion_choice'])}  "] if card.get("champion_choice") else []),
        *(["**Boosting rounds:** " + "; ".join(f"{e(k)}: {v['rounds']} ({e(v['basis'])})"
                                              for k, v in card["boosting_rounds"].items())]
          if card.get("boosting_rounds") else []),
        "", "| sample | n | defaults | AUC | Gini | KS | Brier |", "|---|---:|---:|---:|---:|---:|---:|", perf,
        "", "| candidate | rank out of time | rank on calibration sample | AUC | Brier |",
        "|---|---:|---:|---:|---:|", chall,
        "", "**Limitations:**", *[f"- {e(x)}" for x in card["limitations"]],
        "", "**Artifacts (SHA-256):**", *[f"- `{e(k)}`: `{e(v)}`" for k, v in card["artifacts"].items()],
    ])


def _anchor_words(decision: dict | None) -> str:
    """The central-tendency decision of one calibration, in a few words for the model card."""
    if not decision:
        return ""
    if decision["applied"]:
        return f"; re-anchored to {decision['target']:.2%}"
    band = decision.get("band")
    if decision["setting"] == "auto" and band and band[0] <= decision["mean_pd_before"] <= band[1]:
        return f"; not re-anchored, within the interval of its long-run rate {decision['long_run_rate']:.2%}"
    return "; not re-anchored" + (" (model.central_tendency = null)" if decision["setting"] == "off" else "")


def escape(value: object) -> str:
    """Text from the data or the params, made safe to put into HTML or Markdown output."""
    return html.escape(str(value), quote=True)


def metrics_table(metrics: list) -> pd.DataFrame:
    """Validation metrics as a table, one row per sample."""
    return pd.DataFrame([m.__dict__ for m in metrics]).set_index("sample").round(4)


def fig_to_data_uri(fig: plt.Figure) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
