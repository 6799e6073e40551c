"""What changed between two runs (credit_lab.run.diff): tiny run folders built here, each number hand-computed.

Run A and run B of one book, three grades A < B < C (best first):

========  ==========================  ==========================  ===============
customer  run A: grade, final limit   run B: grade, final limit   what changed
========  ==========================  ==========================  ===============
c1        A, 100                      B, 150                      downgraded, raised +50
c2        B, 200                      A, 0                        upgraded, zeroed -200
c3        C, 300                      C, 250                      cut -50
c4        B, 50                       B, 50                       unchanged
c6        C, 70                       --                          gone
c5        --                          A, 80                       added
========  ==========================  ==========================  ===============

Watchlist: A has c1, c6 (and c3 listed but no longer on it); B has c1, c2: c2 in, c6 out.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from credit_lab.core.exceptions import ParamsError, RunDiffError
from credit_lab.run import cli
from credit_lab.run.diff import TOP, diff_html, diff_runs, summary_lines, write_diff
from credit_lab.run.index_page import changes_section

BOOK = "embedded synthetic ledger (seed 1, 6 customers, 24 months)"
SCALE = [{"grade": "A", "pd_max": 0.01}, {"grade": "B", "pd_max": 0.05}, {"grade": "C", "pd_max": 1.0}]
GRADE_PD = {"A": 0.005, "B": 0.02, "C": 0.1}
RUN_A = {"c1": ("A", 100.0), "c2": ("B", 200.0), "c3": ("C", 300.0), "c4": ("B", 50.0), "c6": ("C", 70.0)}
RUN_B = {"c1": ("B", 150.0), "c2": ("A", 0.0), "c3": ("C", 250.0), "c4": ("B", 50.0), "c5": ("A", 80.0)}
RESERVE_A = {"reserve_recommended": 1_000_000.0, "el": 200_000.0, "provision_matrix": 300_000.0}
RESERVE_B = {"reserve_recommended": 1_234_567.0, "el": 190_000.0, "provision_matrix": 310_000.0}
SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")


def make_run(folder: Path, customers: dict[str, tuple[str, float]], *, book: str = BOOK,
             watchlist: dict[str, bool] | None = None, reserve: dict | None = None, sha: str = "a" * 64,
             names: dict[str, str] | None = None, pds: dict[str, float] | None = None,
             previous_run: str | None = None, waterfall: pd.DataFrame | None = None, key: str = "k") -> Path:
    """A run folder with only what a diff reads: manifest, params, scores, limits, watchlist, reserve, model."""
    (folder / "data").mkdir(parents=True)
    (folder / "models").mkdir()
    ids = list(customers)
    names = names or {}
    pds = pds or {}
    (folder / "manifest.json").write_text(json.dumps({
        "run_id": folder.name, "status": "succeeded", "book": book, "reproduction_key": key,
        "scoring_method": {"method": "statistical", "champion": "gbm"},
        "outputs": {"models/pd_model.fitted.json": sha}}))
    (folder / "params.json").write_text(json.dumps({"master_scale": SCALE, "reserve": {"previous_run": previous_run}}))
    (folder / "data" / "data_quality.json").write_text(json.dumps({"source": book, "as_of_date": "2025-01-01"}))
    grades = [customers[c][0] for c in ids]
    pd.DataFrame({"customer_id": pd.Series(ids, dtype="string"), "grade": grades,
                  "pd": [pds.get(c, GRADE_PD[g]) for c, g in zip(ids, grades)]}
                 ).to_parquet(folder / "data" / "scores.parquet")
    pd.DataFrame({"customer_id": pd.Series(ids, dtype="string"),
                  "customer_name": [names.get(c, f"Name of {c}") for c in ids],
                  "current_limit": 0.0, "proposed_limit": [customers[c][1] for c in ids],
                  "final_limit": [customers[c][1] for c in ids]}).to_parquet(folder / "data" / "limits.parquet")
    watch = watchlist or {}
    pd.DataFrame({"customer_id": pd.Series(list(watch), dtype="string"), "on_watchlist": list(watch.values()),
                  "severity": [3.0] * len(watch), "n_signals": [2] * len(watch),
                  "firing_signals": ["limit_breach, pd_downgrade"] * len(watch),
                  "recommended_action": ["reduce_limit"] * len(watch)}
                 ).to_parquet(folder / "data" / "watchlist.parquet")
    (folder / "data" / "reserve_summary.json").write_text(json.dumps(reserve or {}))
    if waterfall is not None:
        waterfall.to_parquet(folder / "data" / "reserve_waterfall.parquet")
    (folder / "models" / "pd_model.json").write_text(json.dumps({
        "file": "models/pd_model.fitted.json", "sha256": sha, "champion": "gbm", "method": "statistical"}))
    return folder


@pytest.fixture()
def runs(tmp_path):
    a = make_run(tmp_path / "a", RUN_A, watchlist={"c1": True, "c6": True, "c3": False}, reserve=RESERVE_A)
    b = make_run(tmp_path / "b", RUN_B, watchlist={"c1": True, "c2": True}, reserve=RESERVE_B)
    return a, b


def test_grade_migration_counts_and_shares(runs):
    d = diff_runs(*runs)
    assert list(d.migration.index) == ["A", "B", "C"] and list(d.migration.columns) == ["A", "B", "C"]
    expected = pd.DataFrame([[0, 1, 0], [1, 1, 0], [0, 0, 1]], index=["A", "B", "C"], columns=["A", "B", "C"])
    assert (d.migration.to_numpy() == expected.to_numpy()).all()
    assert d.migration_summary == {"customers_in_both": 4, "upgraded": 1, "downgraded": 1, "unchanged": 2,
                                   "upgraded_share": 0.25, "downgraded_share": 0.25, "unchanged_share": 0.5}


def test_limits_raised_cut_zeroed_with_amounts_and_totals(runs):
    d = diff_runs(*runs)
    assert d.limit_totals == {"raised": {"customers": 1, "amount": 50.0}, "cut": {"customers": 1, "amount": -50.0},
                              "zeroed": {"customers": 1, "amount": -200.0},
                              "unchanged": {"customers": 1, "amount": 0.0}}
    changes = d.limit_changes.set_index("customer_id")
    assert list(changes.index) == ["c2", "c1", "c3"]  # largest change first, then by id
    assert changes.loc["c2", ["limit_a", "limit_b", "change", "kind"]].tolist() == [200.0, 0.0, -200.0, "zeroed"]
    assert changes.loc["c1", "kind"] == "raised" and changes.loc["c3", "kind"] == "cut"
    assert changes.loc["c1", ["grade_a", "grade_b"]].tolist() == ["A", "B"]
    assert summary_lines(d)[0] == "1 limit raised (+50), 1 cut (-50), 1 zeroed (-200), 1 unchanged."


def test_customers_added_and_gone_with_their_limit(runs):
    d = diff_runs(*runs)
    assert d.customers_added[["customer_id", "grade", "final_limit"]].values.tolist() == [["c5", "A", 80.0]]
    assert d.customers_gone[["customer_id", "grade", "final_limit"]].values.tolist() == [["c6", "C", 70.0]]
    assert summary_lines(d)[1] == "1 customer added (limits 80), 1 gone (limits 70)."


def test_watchlist_in_and_out_counts_only_customers_on_it(runs):
    d = diff_runs(*runs)
    assert d.watchlist_changes[["customer_id", "watchlist"]].values.tolist() == [["c2", "in"], ["c6", "out"]]
    assert d.watchlist_size == {"a": 2, "b": 2}  # c3 is in A's table but off the watchlist


def test_model_changed_or_not(tmp_path):
    a = make_run(tmp_path / "a", RUN_A, sha="1" * 64)
    same = make_run(tmp_path / "same", RUN_B, sha="1" * 64)
    other = make_run(tmp_path / "other", RUN_B, sha="2" * 64)
    unchanged = diff_runs(a, same).model
    assert unchanged["changed"] is False and unchanged["a"]["manifest_agrees"] is True
    changed = diff_runs(a, other)
    assert changed.model["changed"] is True
    line = summary_lines(changed)[4]
    assert "PD model changed" in line and "111111111111 → 222222222222" in line


def test_reserve_a_to_b_and_the_waterfall_only_when_computed_against_a(tmp_path):
    a = make_run(tmp_path / "a", RUN_A, reserve=RESERVE_A)
    steps = pd.DataFrame({"step": ["previous run", "limits and balances (EAD)"], "reserve": [1e6, 1.2e6],
                          "change": [0.0, 2e5]})
    against_a = make_run(tmp_path / "b", RUN_B, reserve=RESERVE_B, previous_run=str(a), waterfall=steps)
    d = diff_runs(a, against_a)
    row = d.reserve.set_index("measure").loc["recommended risk reserve"]
    assert (row["run_a"], row["run_b"], row["change"]) == (1_000_000.0, 1_234_567.0, 234_567.0)
    assert d.reserve_waterfall is not None and d.reserve_waterfall["step"].tolist() == steps["step"].tolist()
    assert summary_lines(d)[-1].startswith("Recommended risk reserve 1,000,000 → 1,234,567 (+234,567)")
    elsewhere = make_run(tmp_path / "c", RUN_B, reserve=RESERVE_B, previous_run=str(tmp_path / "older"),
                         waterfall=steps)
    d = diff_runs(a, elsewhere)
    assert d.reserve_waterfall is None and "computed against another run (older)" in d.waterfall_note
    d = diff_runs(a, make_run(tmp_path / "d", RUN_B, reserve=RESERVE_B))
    assert d.reserve_waterfall is None and "not computed" in d.waterfall_note


def test_runs_of_different_books_are_refused_naming_both(tmp_path):
    a = make_run(tmp_path / "a", RUN_A, book="customer table: north.csv")
    b = make_run(tmp_path / "b", RUN_B, book="customer table: south.csv")
    with pytest.raises(RunDiffError, match="different books") as err:
        diff_runs(a, b)
    assert "north.csv" in str(err.value) and "south.csv" in str(err.value)
    assert isinstance(err.value, ParamsError)  # the command exits 2, as for any usage error


def test_a_folder_that_is_not_a_run_or_lacks_a_table_is_refused_by_name(runs, tmp_path):
    a, b = runs
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDiffError, match="not a run folder"):
        diff_runs(a, tmp_path / "empty")
    (b / "data" / "limits.parquet").unlink()
    with pytest.raises(RunDiffError, match="data/limits.parquet"):
        diff_runs(a, b)


HOSTILE_ID = '"><script>alert("id")</script>'
HOSTILE_NAME = '=HYPERLINK("http://evil","click")'


def test_hostile_ids_are_escaped_in_html_and_neutralised_in_csv(tmp_path):
    a = make_run(tmp_path / "a", {**RUN_A, HOSTILE_ID: ("A", 10.0), "=1+2": ("B", 5.0)})
    b = make_run(tmp_path / "b", {**RUN_B, HOSTILE_ID: ("B", 20.0), "=1+2": ("B", 0.0)},
                 names={HOSTILE_ID: HOSTILE_NAME}, watchlist={HOSTILE_ID: True})
    d = diff_runs(a, b)
    page = diff_html(d)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<script" not in page.lower()
    assert 'src="http' not in page and "<link" not in page  # self-contained: nothing fetched
    write_diff(d, tmp_path / "out")
    with open(tmp_path / "out" / "limit_changes.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["customer_id"]: r for r in csv.DictReader(fh)}
    assert rows["'=1+2"]["change"] == "-5"  # the id is text, neutralised; the amount stays a number
    assert rows[HOSTILE_ID]["customer_name"] == "'" + HOSTILE_NAME
    for f in (tmp_path / "out").glob("*.csv"):
        for row in csv.reader(f.read_text(encoding="utf-8-sig").splitlines()):
            assert not any(cell.startswith(("=", "+", "@")) for cell in row), (f.name, row)


def test_numbers_read_as_people_write_them_never_scientific(tmp_path):
    big = {c: (g, 1e12 + i) for i, (c, (g, _)) in enumerate(RUN_A.items())}
    a = make_run(tmp_path / "a", {**big, "gone": ("C", 1e-5)}, pds={c: 1e-7 for c in [*RUN_A, "gone"]},
                 reserve={"reserve_recommended": 1e-9})
    b = make_run(tmp_path / "b", {**big, "c1": ("A", 2.5e12)}, pds={c: 3e-6 for c in RUN_A},
                 reserve={"reserve_recommended": 12_345_678.9})
    d = diff_runs(a, b)
    page = write_diff(d, tmp_path / "out").read_text(encoding="utf-8")
    assert "+1,500,000,000,000" in page and "12,345,679" in page
    gone = (tmp_path / "out" / "customers_gone.csv").read_text(encoding="utf-8-sig")
    assert "gone,Name of gone,C,0.0000001,0.00001" in gone
    csvs = [f.read_text(encoding="utf-8-sig") for f in (tmp_path / "out").glob("*.csv")]
    for text in [page, *summary_lines(d), *csvs]:
        assert not SCIENTIFIC.search(text), SCIENTIFIC.search(text)


def test_long_lists_show_the_top_by_amount_and_say_the_rest_is_in_the_csv(tmp_path):
    n = TOP + 12
    a = make_run(tmp_path / "a", {f"x{i:03d}": ("B", 1000.0) for i in range(n)})
    b = make_run(tmp_path / "b", {f"x{i:03d}": ("B", 1000.0 + i) for i in range(n)})
    d = diff_runs(a, b)
    page = diff_html(d)
    assert f"The {TOP} largest of {n - 1} shown; all in" in page and "limit_changes.csv" in page
    assert "x061" in page and "x011" not in page  # the largest raises shown, the smallest only in the CSV
    write_diff(d, tmp_path / "out")
    assert len(pd.read_csv(tmp_path / "out" / "limit_changes.csv", encoding="utf-8-sig")) == n - 1  # x000: +0


def test_cli_diff_prints_the_summary_writes_the_page_and_refuses_other_books(runs, tmp_path, monkeypatch, capsys):
    a, b = runs
    monkeypatch.chdir(tmp_path)
    assert cli.main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "1 limit raised (+50)" in out and "diff-a-vs-b/diff.html" in out
    assert {p.name for p in (tmp_path / "diff-a-vs-b").iterdir()} >= {
        "diff.html", "migration.csv", "customers_added.csv", "customers_gone.csv", "limit_changes.csv",
        "watchlist_changes.csv", "reserve.csv"}
    other = make_run(tmp_path / "other", RUN_B, book="customer table: elsewhere.csv")
    assert cli.main(["diff", str(a), str(other), "--out", str(tmp_path / "x")]) == 2
    assert "different books" in capsys.readouterr().err
    assert cli.main(["diff", str(a), str(tmp_path / "nowhere")]) == 2


def _log(out_root: Path, *folders: str) -> None:
    (out_root / "runs.jsonl").write_text("".join(json.dumps({"folder": f, "status": "succeeded"}) + "\n"
                                                 for f in folders))


def test_index_section_compares_with_the_previous_run_of_the_book_without_paths(tmp_path):
    out_root = tmp_path / "outputs"
    make_run(out_root / "2026-10", RUN_A, watchlist={"c1": True}, reserve=RESERVE_A, key="k1")
    make_run(out_root / "other-book", RUN_A, book="customer table: other.csv", key="k0")
    _log(out_root, "2026-10", "other-book")
    staging = make_run(out_root / ".staging" / "2026-11", RUN_B, reserve=RESERVE_B, key="k2")
    params = SimpleNamespace(output_dir=str(out_root), run_id="2026-11")
    section = changes_section(staging, params)
    assert "run 2026-10" in section and "1 limit raised (+50)" in section and "2026-11" not in section
    assert str(tmp_path) not in section and 'href="data/diff_previous/limit_changes.csv"' in section
    written = {p.name: p.read_bytes() for p in (staging / "data" / "diff_previous").iterdir()}
    assert "diff.html" in written and "migration.csv" in written
    assert changes_section(staging, params) == section  # a rerun writes the same bytes
    assert {p.name: p.read_bytes() for p in (staging / "data" / "diff_previous").iterdir()} == written


def test_index_section_without_a_previous_run_or_with_a_broken_one_says_so(tmp_path):
    out_root = tmp_path / "outputs"
    staging = make_run(out_root / ".staging" / "first", RUN_B, key="k2")
    params = SimpleNamespace(output_dir=str(out_root), run_id="first")
    assert "first run of this book" in changes_section(staging, params)
    broken = make_run(out_root / "before", RUN_A, key="k1")
    (broken / "data" / "scores.parquet").unlink()
    _log(out_root, "before")
    section = changes_section(staging, params)
    assert "could not be computed" in section and "data/scores.parquet" in section
    assert str(tmp_path) not in section
    # a rerun of the same params on the same inputs is not compared with its original
    rerun = make_run(out_root / ".staging" / "again", RUN_A, key="k1")
    assert "first run of this book" in changes_section(rerun, SimpleNamespace(output_dir=str(out_root),
                                                                              run_id="again"))


def test_smoke_runs_compared_after_changing_a_copy(smoke_run, tmp_path):
    """End to end on the shared smoke run: copies A and B, B's limits and scores altered by hand."""
    run_dir, _ = smoke_run
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(run_dir, a)
    shutil.copytree(run_dir, b)
    assert diff_runs(a, b).limit_totals["unchanged"]["customers"] > 0  # a copy: nothing changed
    limits = pd.read_parquet(b / "data" / "limits.parquet")
    positive = limits.index[limits["final_limit"] > 1][:2]
    limits.loc[positive[0], "final_limit"] += 1000.0
    limits.loc[positive[1], "final_limit"] = 0.0
    limits.to_parquet(b / "data" / "limits.parquet")
    scores = pd.read_parquet(b / "data" / "scores.parquet")
    order = [g["grade"] for g in json.loads((b / "params.json").read_text())["master_scale"]]
    worse = order[min(order.index(scores.loc[0, "grade"]) + 1, len(order) - 1)]
    moved = worse != scores.loc[0, "grade"]
    scores.loc[0, "grade"] = worse
    scores.drop(index=[len(scores) - 1]).to_parquet(b / "data" / "scores.parquet")
    d = diff_runs(a, b)
    assert d.limit_totals["raised"] == {"customers": 1, "amount": 1000.0}
    assert d.limit_totals["zeroed"]["customers"] == 1
    assert d.migration_summary["downgraded"] == int(moved) and d.migration_summary["upgraded"] == 0
    assert d.migration_summary["customers_in_both"] == len(scores) - 1
    assert cli.main(["diff", str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "diff.html").is_file()
