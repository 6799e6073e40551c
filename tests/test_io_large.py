"""Reading and validating large CSVs: progress, same result as the old whole-file reader, errors.

The old reader was ``pd.read_csv(path, dtype=str, skipinitialspace=True)`` on the whole file; the
columnar reader (and its pandas fallback) must give the same table, and validation the same
typed tables, quarantine and violations.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import TableSource
from credit_lab.core.exceptions import InputFileError
from credit_lab.data import contract as sch
from credit_lab.data import io
from credit_lab.data.contract import SCHEMAS, validate_ledger, validate_table
from tests.conftest import tiny_invoices

N_CUSTOMERS = 50


def _old_read(path, sep=","):
    df = pd.read_csv(path, dtype=str, sep=sep, keep_default_na=True, skipinitialspace=True)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _customers_csv(path):
    lines = ["customer_id,customer_name,industry,region,onboarding_date,payment_terms_days,credit_limit"]
    for i in range(N_CUSTOMERS):
        name = f'"Customer {i}, Ltd"' if i % 3 else f"Customer {i}"
        lines.append(f"C{i},{name},Retail,North,2019-0{1 + i % 9}-15,30,{1000 * (i + 1)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _messy_invoices_csv(path, n=3000, leading_spaces=False, seed=3):
    """Quotes, empty and NA cells, trailing blanks, CRLF, an extra column, a few broken rows."""
    rng = np.random.default_rng(seed)
    pad = " " if leading_spaces else ""
    rows = ["invoice_id,customer_id ,invoice_date,due_date,amount,paid_date,paid_amount,disputed,note"]
    for i in range(n):
        day = 1 + i % 28
        amount = f"{rng.integers(1, 10**6) / 100:.2f}"
        paid = "" if i % 7 == 0 else f"03/{day:02d}/2023"
        paid_amount = "" if not paid else (amount if i % 11 else "NA")
        disputed = (["yes", "no", " no", "", "TRUE"] if leading_spaces else ["yes", "no", "no ", "", "TRUE"])[i % 5]
        note = ['"late, again"', "", "n/a", '"multi\nline"', "ok "][i % 5]
        if i == 17:
            amount = "12.5O"  # a bad row: not a number
        if i == 18:
            paid = "13/45/2023"  # and a bad date
        if i % 500 == 3:
            amount = f'"{int(rng.integers(1000, 9999)):,}.50"'  # thousands separator, quoted
        rows.append(f"I{i},{pad}C{i % (N_CUSTOMERS + 2)},01/{day:02d}/2023,02/{day:02d}/2023,{pad}{amount},"
                    f"{paid},{paid_amount},{disputed},{note}")
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-8"))


@pytest.mark.parametrize("leading_spaces", [False, True], ids=["columnar", "pandas-fallback"])
def test_same_table_and_validation_as_the_old_reader(tmp_path, caplog, leading_spaces):
    cust_path, inv_path = tmp_path / "customers.csv", tmp_path / "invoices.csv"
    _customers_csv(cust_path)
    _messy_invoices_csv(inv_path, leading_spaces=leading_spaces)
    fmt = "%m/%d/%Y"
    with caplog.at_level(logging.INFO, logger="credit_lab.data.io"):
        new = {"customers": io.read_table("customers", TableSource(path=str(cust_path))),
               "invoices": io.read_table("invoices", TableSource(path=str(inv_path), date_format=fmt))}
    how = "pandas" if leading_spaces else "columnar"
    assert any("table 'invoices': read 3,000 rows" in r.getMessage() and how in r.getMessage()
               for r in caplog.records)
    old = {"customers": _old_read(cust_path), "invoices": _old_read(inv_path)}
    for name, old_table in old.items():
        pd.testing.assert_frame_equal(new[name], old_table)
        assert all(str(t) == "str" for t in new[name].dtypes)  # compact Arrow-backed text, not object
    assert new["invoices"]["note"].isna().sum() == 1200  # "" and n/a are missing, as before
    v_new = validate_ledger(new, on_invalid="quarantine", date_formats={"invoices": fmt})
    v_old = validate_ledger(old, on_invalid="quarantine", date_formats={"invoices": fmt})
    for name in v_old.tables:
        pd.testing.assert_frame_equal(v_new.tables[name], v_old.tables[name])
    pd.testing.assert_frame_equal(v_new.quarantine, v_old.quarantine)
    assert [v.message() for v in v_new.violations] == [v.message() for v in v_old.violations]
    q = v_new.quarantine.set_index("row_number")["reasons"]
    assert "amount:type" in q[18] and "paid_date:type" in q[19]
    assert (v_new.quarantine["reasons"].str.contains("customer_id:reference")).sum() > 0
    inv = v_new.tables["invoices"]
    assert str(inv["invoice_date"].dtype) == "datetime64[ns]" and inv["amount"].dtype == float
    assert inv["note"].dtype == new["invoices"]["note"].dtype  # extra columns pass through


def test_progress_is_reported_per_block_and_ends_at_the_file_size(tmp_path, monkeypatch, caplog):
    path = tmp_path / "invoices.csv"
    _messy_invoices_csv(path, n=4000)
    monkeypatch.setattr(io, "_CSV_BLOCK_BYTES", 1 << 14)
    monkeypatch.setattr(io, "_PROGRESS_SECONDS", 0.0)
    calls = []
    with caplog.at_level(logging.INFO, logger="credit_lab.data.io"):
        df = io.read_table("invoices", TableSource(path=str(path)), progress=lambda *a: calls.append(a))
    assert len(calls) > 5
    rows, done, total = zip(*calls)
    assert list(rows) == sorted(rows) and list(done) == sorted(done)
    assert len(set(rows)) >= len(rows) - 1  # only the closing call may repeat the row count
    assert set(total) == {path.stat().st_size} and done[-1] == path.stat().st_size and rows[-1] == len(df) == 4000
    messages = [r.getMessage() for r in caplog.records]
    assert any("rows read" in m and "MB" in m and "%" in m and "rows/s" in m for m in messages)
    # the pandas fallback reports too, and Parquet once
    calls.clear()
    monkeypatch.setattr(io, "_PANDAS_CHUNK_ROWS", 500)
    spaced = tmp_path / "spaced.csv"
    _messy_invoices_csv(spaced, n=2000, leading_spaces=True)
    io.read_table("invoices", TableSource(path=str(spaced)), progress=lambda *a: calls.append(a))
    assert len(calls) >= 4 and calls[-1] == (2000, spaced.stat().st_size, spaced.stat().st_size)
    calls.clear()
    pq = tmp_path / "invoices.parquet"
    df.to_parquet(pq)
    io.read_table("invoices", TableSource(path=str(pq)), progress=lambda *a: calls.append(a))
    assert calls == [(4000, pq.stat().st_size, pq.stat().st_size)]


def test_an_error_in_the_progress_callback_is_passed_on(tmp_path):
    path = tmp_path / "invoices.csv"
    _messy_invoices_csv(path, n=50)

    def stop(rows, done, total):
        raise ValueError("stop reading")

    with pytest.raises(ValueError, match="stop reading"):
        io.read_table("invoices", TableSource(path=str(path)), progress=stop)


@pytest.mark.parametrize("text", [
    "invoice_id,amount\nI1,5\nI2,6,7,8\n",  # too many cells
    'invoice_id,amount\nI1,5\n"I2,6\n',  # a quote never closed
    'invoice_id,amount\nI1,5"\n"I2,6\n',  # the same behind a quote inside a cell
    "",  # nothing at all
])
def test_malformed_csv_names_the_file(tmp_path, text):
    path = tmp_path / "broken_invoices.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=r"table 'invoices': cannot read '.*broken_invoices\.csv'"):
        io.read_table("invoices", TableSource(path=str(path)))
    with pytest.raises(Exception) as old_err:
        _old_read(path)
    with pytest.raises(InputFileError) as new_err:
        io.read_table("invoices", TableSource(path=str(path)))
    assert str(old_err.value) in str(new_err.value)  # pandas' own words, as before


def test_header_only_and_single_column_files_match_the_old_reader(tmp_path):
    for text in ("invoice_id,amount\n", "invoice_id\nI1\n\t\nI2\n", "invoice_id;amount\r\n\r\nI1;NA\r\n"):
        path = tmp_path / "invoices.csv"
        path.write_bytes(text.encode("utf-8"))
        sep = ";" if ";" in text else ","
        pd.testing.assert_frame_equal(io.read_table("invoices", TableSource(path=str(path), separator=sep)),
                                      _old_read(path, sep))


def test_invalid_utf8_is_an_input_error(tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_bytes(b"invoice_id,amount\nI1,5\nI\xff\xfe2,6\n")
    with pytest.raises(InputFileError, match="invoices.csv"):
        io.read_table("invoices", TableSource(path=str(path)))


def test_reasons_with_several_violations_per_row_are_listed_in_rule_order():
    inv = tiny_invoices(invoice_id=["I1", "I1", "I3", "I4"], amount=["-5", "abc", "1,000", "0"],
                        due_date=["2022-01-01", "2023-03-12", "x", "2023-04-15"],
                        paid_date=["2022-01-01", None, "2023-03-01", "2023-02-01"],
                        paid_amount=["1000", None, None, "-1"], disputed=["no", "maybe", "yes", None])
    table, reasons, violations, _ = validate_table(
        inv, SCHEMAS["invoices"], None, {("customers", "customer_id"): pd.Index(["C1", "C2"])})
    assert reasons.dtype == "string"
    assert reasons.tolist() == [  # as the row-by-row implementation wrote them
        ("amount:range;invoice_id:unique;due_date+invoice_date:due_not_before_invoice;"
         "paid_date+invoice_date:paid_not_before_invoice"),
        "amount:type;disputed:type;invoice_id:unique",
        "due_date:type;paid_amount+paid_date:paid_amount_when_paid",
        "amount:range;paid_amount:range;customer_id:reference;paid_date+invoice_date:paid_not_before_invoice",
    ]
    assert [(v.column, v.rule, v.n_rows, v.example_keys) for v in violations][:3] == [
        ("due_date", "type", 1, ("I3",)), ("amount", "type", 1, ("I1",)), ("amount", "range", 2, ("I1", "I4"))]
    assert table["amount"].tolist()[2] == 1000.0
    _, clean_reasons, _, _ = validate_table(tiny_invoices(), SCHEMAS["invoices"])
    assert clean_reasons.tolist() == [""] * 4 and clean_reasons.dtype == "string"


TRICKY_NUMBERS = ["1", "-17.5", "0", "-0", "-0.0", "+5", "007", "1,000", " 12 ", "1e3", "1.5E-2", ".5", "5.", "-",
                  "inf", "-inf", "NaN", "nan", "", "abc", "12.5O", "123456789012345", "1234567890123456",
                  "9007199254740993", "-9223372036854775809", "18446744073709551616", "0.1000000000000000055511",
                  "\u0663", "1_000", None]
TRICKY_DATES = ["2023-01-05", " 2023-01-05 ", "2023-02-30", "05.01.2023", "01/15/2024", "1/5/2024", "20240105",
                "2024-01-15T10:00", "2024-01-15 10:00:00.123456789", "0001-01-01", "2300-01-01", "", "x", None]


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_vectorised_coercion_equals_the_elementwise_one(dtype):
    rng = np.random.default_rng(0)
    nums = pd.Series(rng.choice(np.array(TRICKY_NUMBERS, dtype=object), 3000), dtype=dtype)
    # only plain decimals, then with a 16-digit integer whose value depends on the rest of the column
    plain = pd.Series([f"{x:.2f}" for x in rng.normal(0, 1e4, 2000)] + ["12", "-3"], dtype=dtype)
    for series in (nums, plain, pd.concat([plain, pd.Series(["1234567890123456789"], dtype=dtype)]),
                   pd.Series([], dtype=dtype)):
        old = pd.to_numeric(series.astype("string").str.strip().str.replace(",", "", regex=False),
                            errors="coerce").astype(float)
        new = sch._parse_numbers(series)
        np.testing.assert_array_equal(new.to_numpy(), old.to_numpy())
        assert (np.signbit(new.to_numpy()) == np.signbit(old.to_numpy())).all()
    dates = pd.Series(rng.choice(np.array(TRICKY_DATES, dtype=object), 3000), dtype=dtype)
    for fmt in (None, "%m/%d/%Y", "%d.%m.%Y"):
        old = pd.to_datetime(dates.astype("string").str.strip(), format=fmt or "ISO8601", errors="coerce")
        new = sch._parse_dates(dates, fmt)
        pd.testing.assert_series_equal(new, old)
