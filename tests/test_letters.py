import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_lab.core.config import params_from_dict
from credit_lab.core.exceptions import ParamsError
from credit_lab.limits.letters import (
    KINDS,
    SUMMARY_FILE,
    LetterSettings,
    compose_letters,
    letter_counts,
    letter_html,
    letter_kinds,
    letters_for,
    letters_summary,
)

AS_OF = pd.Timestamp("2026-01-01")


def table():
    return pd.DataFrame({
        "customer_name": ['<script>alert("x")</script> & Co', "Steady Ltd", "Grower GmbH"],
        "current_limit": [100_000.0, 50_000.0, 0.0],
        "proposed_limit": [70_000.0, 50_500.0, 20_000.0],
        "decided_by": ["change_cap", "profit_optimum", "insurer_cap"],
        "reason_1": ["pays invoices late on average", "", "short relationship"],
        "reason_2": ["<b>bold</b>", "", ""], "reason_3": ["", "", ""],
        "hint": ["paying within terms", "", ""], "hint_limit": [90_000.0, float("nan"), float("nan")],
    }, index=pd.Index(['"><img src=x onerror=alert(1)>', "C2", "C3"], name="customer_id"))


def changes(current, new, balance=None):
    """A limits table of customers C0, C1, ... with today's and the new limit (and the open balance)."""
    frame = pd.DataFrame({"current_limit": current, "proposed_limit": new, "decided_by": "profit_optimum"},
                         index=pd.Index([f"C{i}" for i in range(len(current))], name="customer_id"))
    return frame if balance is None else frame.assign(receivables_open=balance)


def test_letters_only_for_material_changes_and_all_text_escaped():
    pages = letters_for(table(), AS_OF, LetterSettings(company_name="Acme <Trading>"))
    assert sorted(pages) == ["index.html", "letter_00001.html", "letter_00002.html", "letters_all.html"]
    everything = "".join(pages.values())
    assert "<script>" not in everything and "<img" not in everything and "<b>bold</b>" not in everything
    assert "&lt;script&gt;" in everything and "Acme &lt;Trading&gt;" in everything
    first = pages["letter_00001.html"]  # sorted by id: the hostile id sorts first
    assert 'data-kind="reduction"' in first and "Acme &lt;Trading&gt;: reduction</h2>" in first
    assert "reduce your credit limit from <b>100,000</b> to <b>70,000</b>, effective <b>2026-01-15</b>" in first
    assert "a limit changes by a limited share at each review" in first
    assert "paying within terms would improve your risk rating and could raise your limit to about 90,000" in first
    second = pages["letter_00002.html"]
    assert 'data-kind="first_limit"' in second
    assert "set your first credit limit with us at <b>20,000</b>, effective <b>2026-01-01</b>" in second
    assert "Steady Ltd" not in everything  # a 1% change gets no letter
    assert pages["letters_all.html"].count('<article class="letter"') == 2
    assert "0 increase, 1 reduction, 0 limit withdrawn, 1 first limit" in pages["index.html"]


def test_hostile_names_in_every_kind_are_escaped():
    hostile = '<script>alert("n")</script>'
    frame = changes([0.0, 10_000.0, 10_000.0, 10_000.0], [5_000.0, 0.0, 5_000.0, 20_000.0]).assign(
        customer_name=hostile, reason_1="went over <i>its</i> limit", hint="<b>x</b>", hint_limit=99_999.0)
    frame.index = pd.Index([f"<img id={i}>" for i in range(4)], name="customer_id")
    pages = letters_for(frame, AS_OF, LetterSettings(currency="<EUR>"))
    assert set(letter_kinds(frame, LetterSettings())) == set(KINDS)
    everything = "".join(pages.values())
    assert "<script>" not in everything and "<img" not in everything and "<i>" not in everything
    assert "<b>x</b>" not in everything and "<EUR>" not in everything and "&lt;EUR&gt; 20,000" in everything


@pytest.mark.parametrize(("current", "new", "told"), [
    (100_000.0, 104_000.0, False),  # 4% and 4,000: below both
    (100_000.0, 108_000.0, False),  # 8,000 but 8%: the share is missing
    (20_000.0, 24_000.0, False),    # 20% but 4,000: the amount is missing
    (40_000.0, 45_000.0, True),     # 12.5% and 5,000: both reached
    (100_000.0, 92_000.0, False),   # an 8% cut: below the share
    (2_000.0, 1_800.0, True),       # a 10% cut of 200: cuts need no amount by default
])
def test_a_change_needs_both_its_share_and_its_amount(current, new, told):
    assert (letter_kinds(changes([current], [new]), LetterSettings()).iloc[0] != "") is told


def test_the_reduction_amount_threshold_applies_when_set():
    frame = changes([2_000.0, 100_000.0], [1_000.0, 80_000.0])
    assert list(letter_kinds(frame, LetterSettings(min_reduction_amount=5_000.0))) == ["", "reduction"]


def test_withdrawal_first_limit_and_a_cut_below_the_balance_are_always_told():
    never = LetterSettings(increases=False, min_increase_pct=10.0, min_increase_amount=1e12,
                           min_reduction_pct=1.0, min_reduction_amount=1e12)
    frame = changes([500.0, 0.0, float("nan"), 100_000.0, 100_000.0, 100_000.0, 100_000.0],
                    [0.0, 1_000.0, 1_000.0, 99_000.0, 99_000.0, 99_000.0, 99_000.0],
                    [0.0, 0.0, 0.0, 99_500.0, 50_000.0, float("nan"), 120_000.0])
    # C5: no balance known; C6: already over today's limit, the cut does not take it below
    assert list(letter_kinds(frame, never)) == ["withdrawn", "first_limit", "first_limit", "reduction", "", "", ""]


def test_unchanged_or_missing_limits_get_no_letter():
    frame = changes([0.0, 10_000.0, 10_000.0], [0.0, 10_000.0, float("nan")])
    assert list(letter_kinds(frame, LetterSettings(min_reduction_pct=0.0, min_increase_pct=0.0,
                                                   min_increase_amount=0.0))) == ["", "", ""]


def test_increases_off_keeps_every_other_kind():
    frame = changes([10_000.0, 10_000.0, 0.0, 10_000.0], [50_000.0, 0.0, 5_000.0, 5_000.0])
    assert list(letter_kinds(frame, LetterSettings(increases=False))) == ["", "withdrawn", "first_limit",
                                                                          "reduction"]
    assert list(letter_kinds(frame, LetterSettings())) == ["increase", "withdrawn", "first_limit", "reduction"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1_000.0, 20_000.0, 300_000.0]),
                          st.floats(0.0, 400_000.0), st.floats(0.0, 400_000.0)), min_size=1, max_size=20),
       st.floats(0.0, 0.5), st.floats(0.0, 20_000.0))
def test_stricter_thresholds_never_add_a_letter(rows, pct, amount):
    frame = changes(*map(list, zip(*rows, strict=True)))
    loose = letter_kinds(frame, LetterSettings(min_increase_pct=pct, min_increase_amount=amount,
                                               min_reduction_pct=pct, min_reduction_amount=amount))
    strict = letter_kinds(frame, LetterSettings(min_increase_pct=pct * 2, min_increase_amount=amount * 2,
                                                min_reduction_pct=pct * 2, min_reduction_amount=amount * 2))
    assert ((strict != "") <= (loose != "")).all()
    assert (loose[frame["current_limit"] == frame["proposed_limit"]] == "").all()


def test_effective_date_is_the_scoring_date_plus_the_kinds_notice():
    notice = LetterSettings(effective_after_days={"increase": 0, "reduction": 30, "withdrawn": 7})
    assert notice.effective_date("reduction", pd.Timestamp("2026-01-31")) == pd.Timestamp("2026-03-02")
    assert notice.effective_date("withdrawn", pd.Timestamp("2025-12-28 15:30")) == pd.Timestamp("2026-01-04")
    assert notice.effective_date("first_limit", AS_OF) == AS_OF  # not set: at once
    row = {"current_limit": 100_000.0, "proposed_limit": 50_000.0, "decided_by": "el_budget",
           "receivables_open": 60_000.0}
    letter = letter_html(row, "C1", pd.Timestamp("2026-01-31"), notice)
    assert "effective <b>2026-03-02</b>" in letter and "Until then your limit stays at 100,000" in letter
    assert "Your open balance today, <b>60,000</b>, is above the new limit" in letter
    at_once = letter_html(row, "C1", AS_OF, LetterSettings(effective_after_days={"reduction": 0}))
    assert "effective <b>2026-01-01</b>" in at_once and "Until then" not in at_once


def test_unknown_or_negative_notice_is_refused():
    with pytest.raises(ValueError, match=r"unknown kinds \['cut'\]"):
        LetterSettings(effective_after_days={"cut": 14})
    with pytest.raises(ValueError, match="0..365"):
        LetterSettings(effective_after_days={"reduction": -1})
    with pytest.raises(ParamsError, match=r"letters\.effective_after_days\.reduction"):
        params_from_dict({"letters": {"effective_after_days": {"reduction": -1}}})
    with pytest.raises(ParamsError, match=r"letters\.min_change_pct: unknown key"):
        params_from_dict({"letters": {"min_change_pct": 0.05}})


def test_a_hint_only_promises_a_higher_limit_when_it_is_higher():
    row = {"current_limit": 100_000.0, "proposed_limit": 50_000.0, "decided_by": "pd_cutoff",
           "hint": "paying within terms"}
    assert "could raise" not in letter_html({**row, "hint_limit": float("nan")}, "C1", AS_OF, LetterSettings())
    assert "could raise" not in letter_html({**row, "hint_limit": 40_000.0}, "C1", AS_OF, LetterSettings())
    assert "could raise your limit to about 60,000" in letter_html({**row, "hint_limit": 60_000.0}, "C1", AS_OF,
                                                                  LetterSettings())


def test_letters_are_counted_by_kind(tmp_path):
    frame = changes([10_000.0, 10_000.0, 0.0, 10_000.0, 10_000.0, 10_000.0, 10_000.0],
                    [50_000.0, 0.0, 5_000.0, 5_000.0, 9_900.0, 9_500.0, 10_000.0],
                    [0.0, 0.0, 0.0, 8_000.0, 0.0, 0.0, 0.0])
    counts = letter_counts(frame, AS_OF, LetterSettings())
    assert counts["by_kind"] == {"increase": 1, "reduction": 1, "withdrawn": 1, "first_limit": 1}
    assert counts["letters"] == 4 and counts["below_balance"] == 1
    assert counts["limit_changes"] == 6 and counts["changes_without_letter"] == 2
    assert counts["effective_date"] == {"increase": "2026-01-01", "reduction": "2026-01-15",
                                        "withdrawn": "2026-01-15", "first_limit": "2026-01-01"}
    pages = letters_for(frame, AS_OF, LetterSettings())
    assert sum(name.startswith("letter_") for name in pages) == counts["letters"]
    assert letters_summary(tmp_path) == {}  # no letters written: nothing to show
    (tmp_path / SUMMARY_FILE).parent.mkdir()
    (tmp_path / SUMMARY_FILE).write_text(json.dumps(counts))
    assert letters_summary(tmp_path) == counts


def test_the_smoke_run_writes_as_many_letters_as_its_summary_counts(smoke_run):
    run_dir, _ = smoke_run
    summary = letters_summary(run_dir)
    assert summary["letters"] == sum(summary["by_kind"].values())
    assert len(list((run_dir / "letters").glob("letter_*.html"))) == summary["letters"]
    table = pd.read_parquet(run_dir / "data" / "letters.parquet")
    assert len(table) == summary["letters"] and table["letter_kind"].value_counts().to_dict() == {
        k: v for k, v in summary["by_kind"].items() if v}
    first = (run_dir / "letters" / table["file"].iloc[0]).read_text(encoding="utf-8")
    assert table["letter_html"].iloc[0] in first and table["customer_name"].iloc[0] in first


def test_every_reason_the_optimizer_gives_has_customer_wording():
    from credit_lab.limits.letters import CUSTOMER_WORDING
    from credit_lab.limits.optimizer import DECIDED_BY

    assert set(DECIDED_BY) <= set(CUSTOMER_WORDING), sorted(set(DECIDED_BY) - set(CUSTOMER_WORDING))


def _number_through_pandas(value):
    """``letters._number`` before its fast path for numbers (the reference)."""
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return float(number) if pd.notna(number) else float("nan")


_ODD_VALUES = [0, -3, 2**40, 2**70, 1.5, -0.0, float("nan"), float("inf"), -float("inf"), None, pd.NA, pd.NaT,
               np.nan, np.float32(0.1), np.float64(1e300), np.int64(-7), np.uint64(2**63 + 5), np.int8(3), True,
               np.bool_(False), "12.5", " 7", "1e3", "1,000", "abc", "", "inf", "nan"]


@pytest.mark.parametrize("value", _ODD_VALUES, ids=[repr(v) for v in _ODD_VALUES])
def test_number_equals_the_pandas_parser(value):
    from credit_lab.limits.letters import _number

    np.testing.assert_equal(_number(value), _number_through_pandas(value))
    assert type(_number(value)) is float


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**80, 2**80)))
@settings(max_examples=300, deadline=None)
def test_number_equals_the_pandas_parser_on_any_number(value):
    from credit_lab.limits.letters import _number

    np.testing.assert_equal(_number(value), _number_through_pandas(value))


def test_letters_are_unchanged_by_the_fast_number_path(monkeypatch):
    """A book of every kind of letter (balances, hints, missing values): the same pages as through pandas."""
    from credit_lab.limits import letters

    rng = np.random.default_rng(4)
    n = 400
    current = rng.choice([0.0, 5_000.0, 20_000.0, 100_000.0, np.nan], n)
    frame = changes(current, np.round(current * rng.uniform(0.0, 2.0, n) + rng.choice([0.0, 15_000.0], n), -2),
                    rng.choice([0.0, 30_000.0, 90_000.0, np.nan], n))
    frame = frame.assign(customer_name=[f"Firm {i} & Sons" for i in range(n)], reason_1="went over its credit limit",
                         hint=rng.choice(["", "paying within terms"], n),
                         hint_limit=rng.choice([np.nan, 50_000.0, 250_000.0], n))
    pages = letters_for(frame, AS_OF, LetterSettings(currency="EUR"))
    assert sum(name.startswith("letter_") for name in pages) > 100
    monkeypatch.setattr(letters, "_number", _number_through_pandas)
    assert letters_for(frame, AS_OF, LetterSettings(currency="EUR")) == pages


def test_a_large_book_gets_its_letters_in_parts_no_page_holding_all(monkeypatch):
    from credit_lab.limits import letters as lt

    monkeypatch.setattr(lt, "LETTERS_PER_FILE", 3)
    n = 7
    frame = changes([10_000.0] * n, [5_000.0] * n)  # every one a 50% reduction: all told
    pages = letters_for(frame, AS_OF, LetterSettings())
    assert "letters_all.html" not in pages
    parts = sorted(p for p in pages if p.startswith("letters_all_"))
    assert parts == ["letters_all_0001.html", "letters_all_0002.html", "letters_all_0003.html"]
    assert [pages[p].count('<article class="letter"') for p in parts] == [3, 3, 1]
    assert sum(p.startswith("letter_") for p in pages) == n
    assert pages["index_0003.html"].count("<li>") == 1 and '<ol start="7">' in pages["index_0003.html"]
    index = pages["index.html"]
    assert "7 limit letters" in index and index.count("<li>") == 3 and 'href="index_0002.html"' in index
    assert "letters 4 to 6</a> (C3 to C5)" in index


def test_every_letter_is_a_row_of_the_table_with_its_file_and_effective_date():
    frame = changes([10_000.0, 0.0, 10_000.0, 10_000.0], [5_000.0, 5_000.0, 0.0, 50_000.0])
    letters = compose_letters(frame, AS_OF, LetterSettings())
    assert letters.own_files
    table = letters.table
    assert list(table["customer_id"]) == ["C0", "C1", "C2", "C3"]
    assert list(table["letter_kind"]) == ["reduction", "first_limit", "withdrawn", "increase"]
    assert list(table["effective_date"]) == ["2026-01-15", "2026-01-01", "2026-01-15", "2026-01-01"]
    assert list(table["file"]) == [f"letter_0000{i}.html" for i in range(1, 5)]
    for file, body in zip(table["file"], table["letter_html"], strict=True):
        assert body in letters.pages[file] and body in letters.pages["letters_all.html"]


def test_beyond_max_files_the_letters_are_in_their_parts_and_the_table_only(monkeypatch):
    from credit_lab.limits import letters as lt

    monkeypatch.setattr(lt, "LETTERS_PER_FILE", 3)
    n = 7
    frame = changes([10_000.0] * n, [5_000.0] * n)  # every one a 50% reduction: all told
    each = compose_letters(frame, AS_OF, LetterSettings(max_files=n))
    parts = compose_letters(frame, AS_OF, LetterSettings(max_files=n - 1))
    assert each.own_files and not parts.own_files
    assert sum(p.startswith("letter_") for p in each.pages) == n
    assert not any(p.startswith("letter_") for p in parts.pages)
    # the same letters, the same printable parts; only where each letter is filed differs
    assert list(parts.table["letter_html"]) == list(each.table["letter_html"])
    assert all(parts.pages[p] == each.pages[p] for p in each.pages if p.startswith("letters_all_"))
    assert list(parts.table["file"]) == ["letters_all_0001.html"] * 3 + ["letters_all_0002.html"] * 3 + [
        "letters_all_0003.html"]
    for file, body in zip(parts.table["file"], parts.table["letter_html"], strict=True):
        assert body in parts.pages[file]
    assert "more than letters.max_files (6)" in parts.pages["index.html"]
    assert 'href="letter_' not in "".join(parts.pages.values())  # no link to a file not written
    assert "<li>C3 (C3): reduction</li>" in parts.pages["index_0002.html"]


def test_max_files_is_a_param_of_twenty_thousand_letters_by_default():
    assert LetterSettings(**params_from_dict({}).letters.model_dump()).max_files == 20_000
    with pytest.raises(ParamsError, match="max_files"):
        params_from_dict({"letters": {"max_files": -1}})
