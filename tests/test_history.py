"""The run history: ``OUTPUT_DIR/index.html``, ``data/run_summary.json`` and ``credit-lab runs``.

Run folders are fabricated in tmp_path by :func:`make_run` (a manifest, a few tiny tables, a line in a
hash-chained runs.jsonl); one end-to-end check reads the shared smoke run.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from credit_lab.core.formatting import money
from credit_lab.data import io
from credit_lab.run import history
from credit_lab.run.cli import main
from credit_lab.run.store import RUNS_LOG

SCI = re.compile(r"\d[eE][+-]?\d")
HOSTILE = '<script>alert("x")</script>'


def _append_log(out_root: Path, entry: dict) -> None:
    log = out_root / RUNS_LOG
    lines = log.read_bytes().splitlines() if log.is_file() else []
    entry = {**entry, "prev_entry_sha256": hashlib.sha256(lines[-1]).hexdigest() if lines else None}
    with open(log, "ab") as fh:
        fh.write((json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))


def make_run(out_root: Path, run_id: str, *, book: str = "book A", started: str = "2026-01-05T05:00:00+00:00",
             finished: str | None = "2026-01-05T05:01:30+00:00", status: str = "succeeded", folder: str | None = None,
             error: str | None = None, auc: float | None = 0.8, psi: float = 0.02, pds=(0.01, 0.03, 0.05),
             limits=(1000.0, 2000.0, 3000.0), reserve: dict | None = None, watchlist: int | None = 2,
             oot_sample: str = "out-of-time") -> Path:
    """A run folder with the files the history reads, logged in ``out_root/runs.jsonl``; None skips a table."""
    folder = folder or run_id
    run_dir = out_root / folder
    data = run_dir / "data"
    data.mkdir(parents=True)
    io.write_json(data / "data_quality.json", {"as_of_date": "2026-01-01", "source": book})
    io.write_json(run_dir / "models" / "pd_model.json", {"method": "statistical", "champion": "gbm"})
    if auc is not None:
        io.write_json(data / "validation.json", [
            {"sample": "development (fit)", "auc": 0.99, "n": 10, "n_defaults": 9, "mean_pd": 0.9},
            {"sample": oot_sample, "auc": auc, "gini": 2 * auc - 1, "n": 400, "n_defaults": 11, "mean_pd": 0.025}])
        pd.DataFrame({"sample": ["out-of-time", "current population"], "variable": ["pd", "pd"],
                      "measure": ["PSI", "PSI"], "value": [0.5, psi], "flag": ["x", "y"]}).to_parquet(
            data / "stability.parquet")
    if pds is not None:
        pd.DataFrame({"customer_id": [f"C{i}" for i in range(len(pds))], "pd": pds}).to_parquet(
            data / "scores.parquet")
    if limits is not None:
        pd.DataFrame({"current_limit": [v * 2 for v in limits], "proposed_limit": [v + 1 for v in limits],
                      "final_limit": list(limits)}).to_parquet(data / "limits.parquet")
    if reserve is None:
        reserve = {"el": 3619240.0, "el_gross": 4000000.0, "provision_matrix": 1234567.8, "reserve_recommended": 9e6}
    if reserve:
        io.write_json(data / "reserve_summary.json", reserve)
    if watchlist is not None:
        pd.DataFrame({"customer_id": [f"W{i}" for i in range(watchlist)]}).to_parquet(data / "watchlist.parquet")
    manifest = {"run_id": run_id, "status": status, "started_at": started, "finished_at": finished, "book": book}
    if error:
        manifest["error"] = error
    io.write_json(run_dir / "manifest.json", manifest)
    _append_log(out_root, {"run_id": run_id, "status": status, "folder": folder, "started_at": started,
                           "finished_at": finished, "manifest_sha256": io.sha256_file(run_dir / "manifest.json")})
    return run_dir


def visible_text(page: str) -> str:
    """What a reader sees: the text outside tags, and the alt texts of the images."""
    page = re.sub(r"<style.*?</style>", "", page, flags=re.S)
    alts = " ".join(re.findall(r'alt="([^"]*)"', page))
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + alts)


def row_cells(page: str, run_id: str) -> list[str]:
    """The cells (as text) of the table row of ``run_id``."""
    row = next(r for r in re.findall(r"<tr>.*?</tr>", page, flags=re.S) if f"<code>{run_id}</code>" in r)
    return [html.unescape(re.sub(r"<[^>]+>", " ", c)).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]


def sections(page: str) -> dict[str, str]:
    """The per-book sections of the page, by their (unescaped) heading."""
    parts = re.split(r"<h3>(.*?)</h3>", page.split("<h2>Trends per book</h2>", 1)[1])
    return {html.unescape(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


@pytest.fixture(scope="module")
def history_root(tmp_path_factory) -> Path:
    """Two books of two runs each, a book with a single run, a failed run, in the order they ran."""
    out = tmp_path_factory.mktemp("outputs")
    make_run(out, "a-2026-01", started="2026-01-05T05:00:00+00:00", finished="2026-01-05T05:01:30+00:00",
             auc=0.81, limits=(1000.0, 2000.0))
    make_run(out, "b-2026-01", book="book B", started="2026-01-05T06:00:00+00:00",
             finished="2026-01-05T06:00:40+00:00", auc=0.66, pds=(0.2, 0.4))
    make_run(out, "a-2026-02", folder="_failed/a-2026-02-20260205T050000Z", status="failed",
             started="2026-02-05T05:00:00+00:00", finished="2026-02-05T05:00:10+00:00",
             error="stage 03_model failed in cell 4: ValueError: too few defaults")
    make_run(out, "a-2026-02b", started="2026-02-05T07:00:00+00:00", finished="2026-02-05T08:02:03+00:00",
             auc=0.79, psi=0.00001, limits=(3619240.0, 1.5e9))
    make_run(out, "b-2026-02", book="book B", started="2026-02-05T09:00:00+00:00",
             finished="2026-02-05T09:00:50+00:00", auc=0.64, pds=(0.25, 0.35))
    make_run(out, "c-2026-02", book="book C", started="2026-02-06T09:00:00+00:00",
             finished="2026-02-06T09:00:50+00:00")
    return out


@pytest.fixture(scope="module")
def page(history_root) -> str:
    return history.history_page(history_root)


def test_summary_holds_the_figures_of_the_runs_own_files(tmp_path):
    run_dir = make_run(tmp_path, "r1", auc=0.8, psi=0.02, pds=(0.01, 0.03, 0.05), limits=(1000.0, 2000.0, 3000.0))
    s = history.run_summary(run_dir)
    assert s["as_of_date"] == "2026-01-01" and s["scoring_method"] == "statistical" and s["champion"] == "gbm"
    assert s["auc"] == 0.8 and s["validation_sample"] == "out-of-time"  # not the development sample's 0.99
    assert s["psi_pd"] == 0.02  # today against development, not the out-of-time sample's 0.5
    assert s["defaults_observed"] == 11 and s["defaults_expected"] == pytest.approx(400 * 0.025)
    assert s["mean_pd"] == pytest.approx(0.03) and s["customers"] == 3
    assert (s["limits_current"], s["limits_proposed"], s["limits_final"]) == (12000.0, 6003.0, 6000.0)
    assert (s["el"], s["el_gross"], s["provision"], s["reserve_recommended"]) == (3619240.0, 4e6, 1234567.8, 9e6)
    assert s["watchlist"] == 2
    assert set(s) == set(history.SUMMARY_KEYS)


def test_holdout_stands_in_for_out_of_time_and_el_comes_from_the_table_without_a_reserve_summary(tmp_path):
    run_dir = make_run(tmp_path, "r1", oot_sample="holdout", reserve={})
    pd.DataFrame({"el": [1.5, 2.5], "el_gross": [2.0, 3.0]}).to_parquet(run_dir / "data" / "expected_loss.parquet")
    s = history.run_summary(run_dir)
    assert s["validation_sample"] == "holdout" and s["auc"] == 0.8
    assert (s["el"], s["el_gross"]) == (4.0, 5.0) and s["provision"] is None and s["reserve_recommended"] is None


def test_figures_a_run_does_not_have_are_none_and_shown_as_na(tmp_path):
    make_run(tmp_path, "expert", auc=None, limits=None, reserve={}, watchlist=None)
    s = history.run_summary(tmp_path / "expert")
    assert s["customers"] == 3 and s["mean_pd"] == pytest.approx(0.03)
    missing = ("auc", "psi_pd", "defaults_observed", "defaults_expected", "limits_final", "el", "provision",
               "reserve_recommended", "watchlist")
    assert all(s[k] is None for k in missing), {k: s[k] for k in missing}
    cells = row_cells(history.history_page(tmp_path), "expert")
    # run, started, book, status, duration, as of, method, AUC, PSI, mean PD, defaults, customers, limits, EL, ...
    assert cells[7:9] == ["n/a", "n/a"] and cells[9] == "3.00%" and cells[10] == "n/a / n/a" and cells[11] == "3"
    assert cells[12:] == ["n/a"] * 5
    assert not any(c in ("0", "0.000", "0.00%") for c in cells)


def test_the_stored_summary_has_no_time_id_or_path_and_a_rerun_writes_the_same_bytes(tmp_path):
    first = make_run(tmp_path, "run-1", started="2026-01-05T05:00:00+00:00")
    again = make_run(tmp_path, "run-2", started="2026-03-01T05:00:00+00:00")
    history.write_run_summary(first)
    history.write_run_summary(again)
    text = (first / history.SUMMARY_FILE).read_bytes()
    assert text == (again / history.SUMMARY_FILE).read_bytes()
    assert b"run-1" not in text and str(tmp_path).encode() not in text and b"05:00" not in text
    # once written, the history reads the run's own record, not the tables
    io.write_json(first / history.SUMMARY_FILE, json.loads(text) | {"auc": 0.5})
    assert history.run_summary(first)["auc"] == 0.5 and history.run_summary(again)["auc"] == 0.8


def test_the_page_lists_every_run_newest_first_failed_ones_with_their_error(page):
    ids = re.findall(r"<tr><td>(?:<a [^>]*>)?<code>([^<]*)</code>", page)
    assert ids == ["c-2026-02", "b-2026-02", "a-2026-02b", "a-2026-02", "b-2026-01", "a-2026-01"]
    assert '<a href="a-2026-01/index.html"><code>a-2026-01</code></a>' in page
    failed = row_cells(page, "a-2026-02")
    assert failed[3].startswith("failed") and "too few defaults" in failed[3]
    assert '<a href="_failed/a-2026-02-20260205T050000Z/">' in page
    assert failed[1] == "2026-02-05 05:00 UTC" and failed[4] == "10 s"
    assert row_cells(page, "a-2026-02b")[4] == "1 h 02 min" and row_cells(page, "a-2026-01")[4] == "1 min 30 s"


def test_the_table_shows_the_figures_in_the_runs_files(page, history_root):
    for run_id in ("a-2026-01", "a-2026-02b", "b-2026-02"):
        data = history_root / run_id / "data"
        oot = io.read_json(data / "validation.json")[1]
        reserve = io.read_json(data / "reserve_summary.json")
        cells = row_cells(page, run_id)
        assert cells[2] == io.read_json(history_root / run_id / "manifest.json")["book"]
        assert cells[7] == f"{oot['auc']:.3f}"
        assert cells[9] == f"{pd.read_parquet(data / 'scores.parquet')['pd'].mean():.2%}"
        assert cells[10] == f"{oot['n_defaults']} / {oot['n'] * oot['mean_pd']:,.1f}"
        assert cells[12] == money(pd.read_parquet(data / "limits.parquet")["final_limit"].sum())
        assert cells[13:16] == [money(reserve["el"]), money(reserve["provision_matrix"]),
                                money(reserve["reserve_recommended"])]
        assert cells[16] == str(len(pd.read_parquet(data / "watchlist.parquet")))


def test_books_are_never_mixed_in_one_chart(page):
    by_book = sections(page)
    assert list(by_book) == ["book A", "book B", "book C"]
    runs = {"book A": ("a-2026-01", "a-2026-02b"), "book B": ("b-2026-01", "b-2026-02")}
    for book, (first, last) in runs.items():
        alts = re.findall(r'alt="([^"]*)"', by_book[book])
        assert len(alts) == len(history.CHARTS)
        for alt in map(html.unescape, alts):
            assert f"runs of {book}," in alt and f"in {first} to" in alt and alt.endswith(f"in {last}")
            others = [r for b, ids in runs.items() if b != book for r in ids]
            assert not any(r in alt for r in others), alt
    assert "mean PD 30.00% in b-2026-01 to 30.00% in b-2026-02" in html.unescape(by_book["book B"])
    assert "nothing to trend yet" in by_book["book C"] and "<img" not in by_book["book C"]
    assert "a-2026-02<" not in "".join(by_book.values())  # the failed run is in no trend


def test_no_scientific_notation_in_what_a_reader_sees(page):
    text = visible_text(page)
    assert "3,619,240" in text and "1,503,619,240" in text  # an EL of 3619240.0 and a-2026-02b's limits, in full
    assert not SCI.search(text), SCI.findall(text)[:5]


def test_strings_from_runs_are_escaped(tmp_path):
    make_run(tmp_path, HOSTILE, folder="evil", book=HOSTILE)
    make_run(tmp_path, "ok", folder="_failed/x", status="failed", book=HOSTILE, error=HOSTILE)
    page = history.history_page(tmp_path)
    assert "<script" not in page
    assert html.escape(HOSTILE) in page and '<a href="evil/index.html">' in page


def test_a_replaced_run_keeps_its_line_without_the_figures_of_the_run_that_replaced_it(tmp_path):
    make_run(tmp_path, "monthly", started="2026-01-05T05:00:00+00:00", auc=0.7)
    shutil.rmtree(tmp_path / "monthly")
    make_run(tmp_path, "monthly", started="2026-02-05T05:00:00+00:00", auc=0.9)
    newest, oldest = history.run_rows(tmp_path)
    assert newest["in_folder"] and newest["summary"]["auc"] == 0.9
    assert not oldest["in_folder"] and oldest["summary"] is None


def test_a_log_line_pointing_out_of_the_output_folder_is_not_followed(tmp_path):
    make_run(tmp_path / "elsewhere", "outside")
    (tmp_path / "out").mkdir()
    line = json.loads((tmp_path / "elsewhere" / RUNS_LOG).read_text())
    _append_log(tmp_path / "out", line | {"folder": "../elsewhere/outside"})
    (row,) = history.run_rows(tmp_path / "out")
    assert not row["in_folder"] and row["summary"] is None and 'href="..' not in history.history_page(tmp_path / "out")


def test_write_history_writes_the_page_and_a_failure_only_warns(tmp_path, monkeypatch, caplog):
    make_run(tmp_path, "r1")
    assert history.write_history(tmp_path) == tmp_path / "index.html"
    assert "<code>r1</code>" in (tmp_path / "index.html").read_text()

    def broken(out_root):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(history, "history_page", broken)
    with caplog.at_level(logging.WARNING, logger="credit_lab.run.history"):
        assert history.write_history(tmp_path) is None
    assert "disk on fire" in caplog.text and "RuntimeError" in caplog.text


def test_an_interrupted_run_found_by_a_later_run_is_in_the_history(tmp_path):
    from credit_lab.run.pipeline import _retire_interrupted

    staging = tmp_path / ".staging" / "killed"
    staging.mkdir(parents=True)
    io.write_json(staging / "manifest.json", {"run_id": "killed", "status": "running",
                                              "started_at": "2026-01-05T05:00:00+00:00", "stages": {}})
    _retire_interrupted(tmp_path, "killed")
    cells = row_cells((tmp_path / "index.html").read_text(), "killed")
    assert cells[3].startswith("interrupted") and "stopped without finishing" in cells[3]


def test_runs_command_prints_a_table_and_json(history_root, capsys):
    assert main(["runs", str(history_root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["run", "started"] and len(lines) == 7
    assert lines[1].startswith("c-2026-02") and "n/a" in lines[4]  # the failed run has no figures
    starts = {re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", line).start() for line in lines[1:]}
    assert starts == {lines[0].index("started")}  # the columns are aligned
    assert "1,503,619,240" in lines[3]

    assert main(["runs", str(history_root), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in runs][-1] == "a-2026-01" and len(runs) == 6
    failed = next(r for r in runs if r["status"] == "failed")
    assert failed["summary"] is None and "too few defaults" in failed["error"]
    assert runs[-1]["summary"] == history.run_summary(history_root / "a-2026-01") and runs[-1]["seconds"] == 90


def test_runs_command_on_a_folder_without_runs_and_on_a_missing_folder(tmp_path, capsys):
    assert main(["runs", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "no runs logged" in captured.err
    assert main(["runs", str(tmp_path)]) == 0 and "no runs logged" in capsys.readouterr().out
    assert main(["runs", str(tmp_path / "nowhere")]) == 5
    assert "does not exist" in capsys.readouterr().err


def test_a_pipeline_run_writes_its_summary_and_the_history(smoke_run):
    run_dir, _ = smoke_run
    page = (run_dir.parent / "index.html").read_text(encoding="utf-8")
    assert '<a href="smoke/index.html"><code>smoke</code></a>' in page
    stored = io.read_json(run_dir / history.SUMMARY_FILE)
    assert stored == json.loads(json.dumps(history._compute_summary(run_dir)))  # the tables, read again
    assert history.SUMMARY_FILE in io.read_json(run_dir / "manifest.json")["outputs"]  # hashed with the run
    limits = pd.read_parquet(run_dir / "data" / "limits.parquet")
    assert stored["limits_final"] == pytest.approx(limits["final_limit"].sum())
    assert stored["mean_pd"] == pytest.approx(pd.read_parquet(run_dir / "data" / "scores.parquet")["pd"].mean())
    assert stored["customers"] == len(pd.read_parquet(run_dir / "data" / "scores.parquet", columns=["pd"]))
    assert stored["auc"] is not None
    cells = row_cells(page, "smoke")
    assert cells[3] == "succeeded" and cells[12] == money(limits["final_limit"].sum())
    assert not SCI.search(visible_text(page))
