"""The generator's and the data contract's fast paths give what the straightforward code gave.

The invoice ids are written into an Arrow buffer, customer ids taken in Arrow, invoices put in date
order by a 16-bit stable sort (:mod:`credit_lab.data.synthetic.days`); a sorted text key is checked
for duplicates by comparing neighbours and all-ASCII text skips the bidirectional-control regex
(:mod:`credit_lab.data.contract`). Each is compared with the plain NumPy / pandas code it replaced,
and a small ledger's content is pinned to the hash the generator gave before the fast paths.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import credit_lab.data.contract as contract
import credit_lab.data.synthetic.customers as customers_module
import credit_lab.data.synthetic.financials as financials_module
import credit_lab.data.synthetic.invoices as invoices_module
from credit_lab.data.synthetic import DEFAULT_PARAMS, generate_ledger
from credit_lab.data.synthetic.days import _numbered_ids, _stable_order, _take_text, _text

TABLES = ("customers", "financials", "invoices", "defaults", "industry_outlook", "limit_history")


def _reference_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """The ids as the generator built them before: NumPy unicode, then Python strings."""
    return _text(np.char.add(prefix, np.char.zfill(np.asarray(numbers).astype(str), width)).astype(object))


def _as_frame(column) -> pd.Series:
    """The column as a DataFrame built from it holds it (pandas infers the dtype of object arrays)."""
    return pd.DataFrame({"c": column})["c"]


def _content_hash(frame: pd.DataFrame) -> str:
    """A hash of column names, dtypes and values that does not depend on pandas' own hashing."""
    h = hashlib.sha256()
    for name in frame.columns:
        col = frame[name]
        h.update(f"{name}:{col.dtype}:{len(col)};".encode())
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            h.update(col.to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
        elif pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            h.update(np.ascontiguousarray(col.to_numpy()).tobytes())
        else:
            h.update("\x1f".join("\x00" if pd.isna(v) else str(v) for v in col.tolist()).encode())
    return h.hexdigest()[:20]


@pytest.mark.parametrize(("prefix", "numbers", "width"), [
    ("INV", np.arange(1, 12_346), 7),
    ("INV", np.array([0, 9, 10, 9_999, 10_000, 99_999_999, 123_456_789]), 9),  # groups of four digits, padded
    ("C", np.array([5, 3, 1]), 6),                                             # any order
    ("", np.array([7, 10**12 + 3]), 13),                                        # no prefix, beyond 32 bits
    ("INV", np.array([1, 2, 123]), 2),                                          # wider than the width: fallback
    ("Nº", np.array([1, 2]), 3),                                                # non-ASCII prefix: fallback
])
def test_numbered_ids_equal_the_numpy_strings(prefix, numbers, width):
    fast, slow = _as_frame(_numbered_ids(prefix, numbers, width)), _as_frame(_reference_ids(prefix, numbers, width))
    assert fast.dtype == slow.dtype
    pd.testing.assert_series_equal(fast, slow)


def test_a_ledger_without_invoices_is_generated():
    # np.char.zfill fails on no numbers: generating one customer without invoices used to raise
    assert _numbered_ids("INV", np.array([], dtype=np.int64), 7).dtype == object
    ledger = generate_ledger(n_customers=1, n_months=1, seed=5)
    assert len(ledger.invoices) == 0 and list(ledger.invoices.columns)[:2] == ["invoice_id", "customer_id"]


def test_take_text_equals_taking_python_strings():
    ids = pd.Series(_text(np.array(["C01", "C002", "Ä3", "C4"], dtype=object)))
    for rows in (np.array([3, 0, 0, 2, 1, 3]), np.array([], dtype=np.int64)):
        fast, slow = _as_frame(_take_text(ids, rows)), _as_frame(_text(ids.to_numpy()[rows]))
        assert fast.dtype == slow.dtype
        pd.testing.assert_series_equal(fast, slow)
    with_missing = pd.Series(_text(np.array(["A", None, "B"], dtype=object)))
    pd.testing.assert_series_equal(_as_frame(_take_text(with_missing, np.array([1, 2, 1]))),
                                   _as_frame(_text(with_missing.to_numpy()[[1, 2, 1]])))


def test_stable_order_is_the_lexsort_by_date_then_customer():
    rng = np.random.default_rng(4)
    counts = rng.poisson(3.0, 500)
    customer = np.repeat(np.arange(500), counts)  # cells run customer by customer, as in _invoice_table
    for span in (30, 1_100, 70_000):  # the last is beyond 16 bits: NumPy's stable sort on int64
        day = 19_000 + rng.integers(0, span, customer.size)
        np.testing.assert_array_equal(_stable_order(day), np.lexsort((customer, day)))
    assert _stable_order(np.array([], dtype=np.int64)).size == 0


CASES = {
    "plain": dict(n_customers=300, n_months=24, seed=7),
    "write_off_recovery": dict(n_customers=300, n_months=24, seed=7, write_off_days_past_due=360, recovery_rate=0.55),
    "limit_cuts": dict(n_customers=300, n_months=24, seed=5, write_off_days_past_due=180,
                       params=replace(DEFAULT_PARAMS, limit_cut_share=0.2)),
}

# Computed with the generator before the fast paths (np.char ids, object arrays, np.lexsort).
PINNED = {
    ("plain", "customers"): "71534c8bdcfd1ec58ce6",
    ("plain", "invoices"): "1ee3bc2bbd5a9293fe14",
    ("write_off_recovery", "invoices"): "ec591f58e29e43ce3242",
    ("limit_cuts", "invoices"): "3bdd6a9af6d5a451c27e",
    ("limit_cuts", "limit_history"): "d1bcfdec0a692a51756d",
    ("limit_cuts", "financials"): "c29a62fb77d516e92e1a",
}


@pytest.mark.parametrize(("case", "table"), sorted(PINNED))
def test_small_ledger_content_is_pinned(case, table):
    assert _content_hash(getattr(generate_ledger(**CASES[case]), table)) == PINNED[(case, table)]


def _slow_helpers(monkeypatch):
    def take(values, rows):
        return _text(values.to_numpy()[rows])

    for module in (customers_module, invoices_module):
        monkeypatch.setattr(module, "_numbered_ids", _reference_ids)
    for module in (financials_module, invoices_module):
        monkeypatch.setattr(module, "_take_text", take)
    monkeypatch.setattr(invoices_module, "_stable_order", lambda days: np.argsort(days, kind="stable"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_ledger_equals_the_straightforward_generator(case, monkeypatch):
    fast = generate_ledger(**CASES[case])
    with monkeypatch.context() as patch:
        _slow_helpers(patch)
        slow = generate_ledger(**CASES[case])
    for name in TABLES:
        a, b = getattr(fast, name), getattr(slow, name)
        if a is None:
            assert b is None
            continue
        assert list(a.dtypes.astype(str)) == list(b.dtypes.astype(str)), name
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert fast.invoices["invoice_id"].is_monotonic_increasing  # what the contract's sorted-key check uses


def _arrow_text(values: list) -> pd.Series:
    return pd.Series(values, dtype="string[pyarrow]")


@pytest.mark.parametrize("keys", [
    ["A1", "A2", "A2", "A3", "B", "B", "B", "C"],  # sorted, copies next to each other
    ["A1", "A2", "A3"],                            # sorted, unique
    ["B", "A", "B", "C"],                          # not sorted: hashed
    ["A", None, "A", None],                        # missing keys: hashed, as pandas counts them
    ["A"],
    [],
])
def test_duplicated_keys_as_pandas_counts_them(keys):
    frame = pd.DataFrame({"k": _arrow_text(keys)})
    expected = frame.duplicated(subset=["k"], keep=False).to_numpy(dtype=bool)
    np.testing.assert_array_equal(contract._duplicated(frame, ["k"]), expected)


def test_sorted_duplicated_declines_what_it_cannot_decide():
    assert contract._sorted_duplicated(pa.array(["b", "a"])) is None
    assert contract._sorted_duplicated(pa.array(["a", None, "b"])) is None
    np.testing.assert_array_equal(contract._sorted_duplicated(pa.array(["a", "a", "b"])), [True, True, False])


@pytest.mark.parametrize("text", [
    ["Müller GmbH", "Łódź S.A.", "O'Neil & Sons Ltd"],  # not ASCII, no controls: the regex decides
    ["Acme\u202eLtd", "Bolt", None],                     # a control: shown as a marker
    ["Plain", "Ascii", None],
])
def test_visible_text_with_and_without_ascii_shortcut(text, monkeypatch):
    raw = _arrow_text(text)
    values = contract._strip_text(raw)
    fast_values, fast_notes = contract._visible_text(raw, values, "customers", "customer_name")
    monkeypatch.setattr(contract, "_arrow_strings", lambda series: None)  # the pandas path, no Arrow shortcut
    slow_values, slow_notes = contract._visible_text(raw, values, "customers", "customer_name")
    pd.testing.assert_series_equal(fast_values, slow_values)
    assert fast_notes == slow_notes


def _ledger_with_bad_rows() -> dict[str, pd.DataFrame]:
    ledger = generate_ledger(n_customers=300, n_months=24, seed=7)
    raw = {name: getattr(ledger, name).copy() for name in TABLES[:5]}
    cust, inv = raw["customers"], raw["invoices"]
    cust.loc[5, "customer_id"] = cust.loc[6, "customer_id"]  # a duplicate customer orphans its invoices
    cust.loc[7, "customer_name"] = "Acme\u202eLtd"
    inv.loc[3, "invoice_id"] = inv.loc[4, "invoice_id"]      # sorted ids with one copy
    inv.loc[10, "amount"] = -5.0
    inv.loc[11, "customer_id"] = "NOPE"
    inv.loc[12, "paid_date"] = inv.loc[12, "invoice_date"] - pd.Timedelta(days=3)
    return raw


def test_validation_equals_the_hashing_path(monkeypatch):
    raw = _ledger_with_bad_rows()
    fast = contract.validate_ledger(raw, on_invalid="quarantine")
    monkeypatch.setattr(contract, "_sorted_duplicated", lambda keys: None)
    slow = contract.validate_ledger(raw, on_invalid="quarantine")
    assert fast.violations == slow.violations and fast.assumptions == slow.assumptions
    assert any(v.column == "invoice_id" and v.rule == "unique" and v.n_rows == 2 for v in fast.violations)
    pd.testing.assert_frame_equal(fast.quarantine, slow.quarantine)
    for name in fast.tables:
        pd.testing.assert_frame_equal(fast.tables[name], slow.tables[name])
