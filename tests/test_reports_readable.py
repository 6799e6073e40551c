"""Reports people can read: formatted numbers, a table of contents, searchable long tables, described figures.

The helpers (credit_lab.report.tables, .style, .export) on small frames and pages; the reports of the
shared smoke run for what a reader gets.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from credit_lab.core.formatting import percent, readable_number
from credit_lab.report.export import finish_report
from credit_lab.report.style import describe_figure
from credit_lab.report.tables import INTERACTIVE_ROWS, column_kind, long_table, table_html

SCIENTIFIC = re.compile(r"\b\d(\.\d+)?[eE][+-]?\d+\b")
STAGES = ("01_data_quality", "02_features", "03_model", "04_scoring_explain", "05_limits", "06_risk_reserve")


def visible_text(page: str) -> str:
    """What a reader sees: no scripts, no styles, no embedded images."""
    page = re.sub(r"<script\b.*?</script>|<style\b.*?</style>", "", page, flags=re.S | re.I)
    page = re.sub(r"data:[^\"')\s]+", "", page)
    return BeautifulSoup(page, "html.parser").get_text(" ")


def cells(page: str) -> list[list[str]]:
    soup = BeautifulSoup(page, "html.parser")
    return [[td.get_text() for td in tr.find_all(["td", "th"])] for tr in soup.find_all("tr")]


# ---------------------------------------------------------------- helpers on small data


@pytest.mark.parametrize(("value", "text"), [
    (736.0, "736"), (-4280.0, "-4,280"), (2.5e9, "2,500,000,000"), (12.3456, "12.35"), (0.94592, "0.9459"),
    (5.33e-15, "5.33 × 10⁻¹⁵"), (1e-6, "1 × 10⁻⁶"), (0.0, "0"), (float("nan"), "n/a"), (float("inf"), "∞"),
])
def test_readable_number_never_scientific(value, text):
    assert readable_number(value) == text
    assert not SCIENTIFIC.search(readable_number(value))


def test_percent():
    assert percent(0.012345) == "1.23%" and percent(0.995, digits=1) == "99.5%" and percent(1) == "100.00%"
    assert percent(3e-7) == "<0.01%" and percent(0) == "0.00%" and percent(None) == "n/a"


@pytest.mark.parametrize(("name", "values", "kind"), [
    ("pd", [0.01, 0.3], "percent"), ("mean_pd", [0.02], "percent"), ("observed_default_rate", [0.1], "percent"),
    ("el_rate_of_ead", [0.0006], "percent"), ("utilization", [0.58], "percent"), ("var_rel_ci95", [0.003], "percent"),
    ("pd_ecl", [714571.0], "money"),                      # says pd, is an amount: the values decide
    ("current_limit", [5000.0], "money"), ("es_99.5", [1.2e6], "money"), ("total_gain", [2053193.0], "money"),
    ("log_loss", [0.09], "number"), ("auc", [0.91], "number"), ("customers", [54], "number"),
    (("pd", "count"), [54, 194], "number"), (("pd", "mean"), [0.002, 0.01], "percent"),
    ("customer_name", ["a", "b"], "text"), ("on_watchlist", [True, False], "text"),
])
def test_column_kind(name, values, kind):
    assert column_kind(name, values) == kind


def test_table_formats_each_column_by_kind_and_drops_a_plain_row_number():
    frame = pd.DataFrame({"customer_id": ["C1", "C2"], "pd": [0.003088, np.nan], "current_limit": [2659000.0, 1.8613e6],
                          "auc": [0.91234, 5e-9], "on_watchlist": [True, False],
                          "snapshot": pd.to_datetime(["2024-01-31", "2024-02-29"])})
    page = table_html(frame)
    rows = cells(page)
    assert rows[0] == ["customer_id", "pd", "current_limit", "auc", "on_watchlist", "snapshot"]
    assert rows[1] == ["C1", "0.31%", "2,659,000", "0.9123", "yes", "2024-01-31"]
    assert rows[2] == ["C2", "–", "1,861,300", "5 × 10⁻⁹", "no", "2024-02-29"]
    assert 'class="num"' in page and "cl-interactive" not in page and not SCIENTIFIC.search(visible_text(page))


def test_table_of_measures_by_row_formats_each_row_by_its_label():
    totals = pd.Series({"ead": 61779394.7, "reserve_confidence": 0.995, "names": 736}, name="value").to_frame()
    assert cells(table_html(totals))[1:] == [["ead", "61,779,395"], ["reserve_confidence", "99.50%"],
                                             ["names", "736"]]


def test_multiindex_columns_and_named_index_are_kept():
    grades = pd.DataFrame({"grade": ["A", "A", "B"], "pd": [0.001, 0.003, 0.02]}).groupby("grade")[["pd"]].agg(
        ["count", "mean"])
    rows = cells(table_html(grades))
    assert rows[0] == ["grade", "pd count", "pd mean"] and rows[1] == ["A", "2", "0.20%"]


def test_text_is_escaped_and_cut_at_the_display_width():
    frame = pd.DataFrame({"name": ['<script>alert("x")</script>' + "x" * 80]})
    page = table_html(frame)
    assert "<script>" not in page and "&lt;script&gt;" in page
    with pd.option_context("display.max_colwidth", 20):
        assert len(cells(table_html(frame))[1][0]) == 20
    with pd.option_context("display.max_colwidth", None):
        assert cells(table_html(frame))[1][0].endswith("x" * 80)


def test_long_table_is_interactive_bounded_and_links_its_files():
    frame = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(30)], "pd": np.linspace(0, 0.3, 30)})
    page = long_table(frame, name="limits", files=["data/limits.parquet", "data/limits.csv"], what="customers",
                      max_rows=25)._repr_html_()
    rows = cells(page)
    assert len(rows) == 1 + 25 and rows[-1][0] == "C0024"
    assert 'class="cl-data cl-interactive" id="table-limits"' in page
    assert 'href="../data/limits.parquet"' in page and 'href="../data/limits.csv"' in page
    assert "The first 25 of 30 customers" in page
    short = table_html(frame.head(INTERACTIVE_ROWS))
    assert "cl-interactive" not in short and "cl-table-note" not in short


def test_describe_figure_uses_titles_and_axis_labels():
    fig, (a1, a2) = plt.subplots(1, 2)
    fig.suptitle("Dependence")
    a1.set_title("Invoices issued per month")
    a1.set_ylabel("invoices")
    try:
        assert describe_figure(fig) == "Figure: Dependence; Invoices issued per month (y: invoices)"
    finally:
        plt.close(fig)
    bare = plt.figure()
    try:
        assert describe_figure(bare) == "Figure: chart"
    finally:
        plt.close(bare)


PAGE = """<html><head><title>t</title></head><body><main>
<div class="jp-Cell jp-MarkdownCell"><h1 id="1.-Data">1. Data<a class="anchor-link" href="#1.-Data">¶</a></h1>
<p>intro</p></div>
<div class="jp-Cell jp-MarkdownCell"><h2 id="Rows">Rows<a class="anchor-link" href="#Rows">¶</a></h2></div>
<div class="jp-OutputArea"><img alt="No description has been provided for this image" src="data:image/png;base64,QUJD
"/></div>
<div class="jp-Cell jp-MarkdownCell"><h2 id="Rows">Rows<a class="anchor-link" href="#Rows">¶</a></h2></div>
<div class="jp-OutputArea"><img src="data:image/png;base64,REVG"/>TABLE</div>
</main></body></html>"""


def test_finish_report_adds_contents_alt_text_and_the_script_once():
    table = table_html(pd.DataFrame({"x": range(INTERACTIVE_ROWS + 1)}))
    page = finish_report(PAGE.replace("TABLE", table + table), {"QUJD": "Figure: ROC curve"})
    soup = BeautifulSoup(page, "html.parser")
    nav = soup.select_one("nav.cl-toc")
    assert nav is not None and nav.find_previous("h1") is not None  # right after the title
    targets = [a["href"] for a in nav.select("a")]
    assert targets == ["#Rows", "#Rows-2"]  # a repeated heading gets its own id
    assert all(soup.find(id=t[1:]) is not None for t in targets)
    assert [img["alt"] for img in soup.find_all("img")] == ["Figure: ROC curve", "Figure in the section 'Rows'"]
    assert page.count("function sortKey") == 1 and "http" not in "".join(s.get_text() for s in soup("script"))
    assert finish_report(PAGE.replace("TABLE", "")).count("<script") == 0  # no long table: no script
    assert finish_report(PAGE) == finish_report(PAGE)  # nothing random


# ---------------------------------------------------------------- the reports of the smoke run


@pytest.fixture(scope="module")
def reports(smoke_run) -> dict[str, str]:
    run_dir, _ = smoke_run
    return {stage: (run_dir / "reports" / f"{stage}.html").read_text(encoding="utf-8") for stage in STAGES}


def test_reports_show_no_scientific_notation(reports):
    for stage, page in reports.items():
        hits = [m.group(0) for m in SCIENTIFIC.finditer(visible_text(page))]
        assert not hits, f"{stage}: {hits[:5]}"


def test_reports_have_a_table_of_contents_with_working_anchors(reports):
    for stage, page in reports.items():
        soup = BeautifulSoup(page, "html.parser")
        nav = soup.select_one("nav.cl-toc")
        assert nav is not None, stage
        links = [a["href"] for a in nav.select("a")]
        assert len(links) >= 2, stage
        assert all(h.startswith("#") and soup.find(id=h[1:]) is not None for h in links), stage
        assert len(set(links)) == len(links), stage


def test_every_figure_has_a_description(reports):
    for stage, page in reports.items():
        assert "No description has been provided" not in page, stage
        images = BeautifulSoup(page, "html.parser").find_all("img")
        assert images, stage
        assert all(img.get("alt", "").strip() for img in images), stage
        # the figures' own titles, not only the section they are in
        assert any(img["alt"].startswith("Figure: ") for img in images), stage


def test_limits_table_is_searchable_offline_and_bounded(reports, smoke_run):
    run_dir, _ = smoke_run
    limits = pd.read_parquet(run_dir / "data" / "limits.parquet")
    soup = BeautifulSoup(reports["05_limits"], "html.parser")
    table = soup.select_one("table#table-limits")
    assert table is not None and "cl-interactive" in table["class"]
    shown = [tr.find("td").get_text() for tr in table.select("tbody tr")]
    assert len(shown) == min(len(limits), 1000)
    assert limits["customer_id"].iloc[-1] in shown or len(limits) > 1000
    note = table.find_parent("div", class_="cl-table").select_one(".cl-table-note")
    assert f"{len(limits):,} customers" in note.get_text() and note.find("a", href="../data/limits.parquet")
    assert any("function sortKey" in s.get_text() for s in soup("script"))
    for stage in ("05_limits",):  # watchlist and decision log are long tables too
        page = reports[stage]
        assert 'id="table-watchlist"' in page and 'id="table-decision-log"' in page


def test_reports_load_nothing_from_the_network(reports):
    for stage, page in reports.items():
        soup = BeautifulSoup(page, "html.parser")
        sources = [s.get("src", "") for s in soup("script")] + [link.get("href", "") for link in soup("link")]
        assert not [s for s in sources if re.match(r"(https?:)?//", s)], stage
        # nor by a script's dynamic import (nbconvert's template imports mermaid from a CDN)
        assert not [s for s in soup("script") if re.search(r"https?://", s.get_text())], stage
        assert len(page.encode()) < 3_000_000, stage  # tables are bounded: no report balloons


def test_report_tables_embed_at_most_1000_rows(reports):
    for stage, page in reports.items():
        for table in BeautifulSoup(page, "html.parser").find_all("table"):
            assert len(table.select("tbody tr")) <= 1000, stage


def test_smoke_reports_exist(smoke_run):
    run_dir, _ = smoke_run
    assert all((run_dir / "reports" / f"{s}.html").is_file() for s in STAGES)
    assert Path(run_dir / "data" / "limits.parquet").is_file()


def test_sections_that_show_nothing_are_left_out():
    import nbformat

    from credit_lab.report.export import without_empty_sections

    def code(*outputs):
        return nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", text=t) for t in outputs])

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"), code("the headline says once what was skipped"),
        nbformat.v4.new_markdown_cell("## Shown"), code("a table"), code(),
        nbformat.v4.new_markdown_cell("## Skipped part\nText about it."), code(), code(),
        nbformat.v4.new_markdown_cell("## Text only"),
        nbformat.v4.new_markdown_cell("### Skipped too"), code(),
    ])
    kept = [c.source.splitlines()[0] for c in without_empty_sections(nb).cells if c.cell_type == "markdown"]
    assert kept == ["# Title", "## Shown", "## Text only"]
    assert len(nb.cells) == 6


def test_missing_values_nullable_types_and_an_index_named_like_a_column():
    frame = pd.DataFrame({"grade": ["A", "B"], "pd": [0.1, pd.NA], "customers": pd.array([3, None], dtype="Int64")},
                         index=pd.Index(["x", "y"], name="grade"))
    rows = cells(table_html(frame))
    assert rows == [["grade", "grade", "pd", "customers"], ["x", "A", "10.00%", "3"], ["y", "B", "–", "–"]]
    assert cells(table_html(pd.Series([1.5e-9, 3.0], name="value")))[1:] == [["1.5 × 10⁻⁹"], ["3"]]
