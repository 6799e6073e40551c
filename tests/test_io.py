import numpy as np
import pandas as pd
import pytest

from credit_lab.core.config import DataParams, TableSource
from credit_lab.core.exceptions import InputFileError, SchemaError
from credit_lab.data import io
from tests.conftest import tiny_customers


def test_csv_with_column_mapping_is_read_as_text(tmp_path):
    path = tmp_path / "kunden.csv"
    tiny_customers().rename(columns={"customer_id": "Kundennummer", "credit_limit": "Kreditlimit"}).to_csv(
        path, index=False)
    df = io.read_table("customers", TableSource(path=str(path),
                                                columns={"customer_id": "Kundennummer", "credit_limit": "Kreditlimit"}))
    assert df["customer_id"].tolist() == ["C1", "C2", "C3"]
    assert df["credit_limit"].tolist() == ["10000", "20000", "5000"]  # typing is the schema's job


def test_wrong_mapped_column_lists_available_and_closest(tmp_path):
    path = tmp_path / "c.csv"
    tiny_customers().rename(columns={"customer_id": "CustomerNo"}).to_csv(path, index=False)
    with pytest.raises(SchemaError) as err:
        io.read_table("customers", TableSource(path=str(path), columns={"customer_id": "CustomerNr"}))
    msg = str(err.value)
    assert "'CustomerNr'" in msg and "closest: 'CustomerNo'" in msg and "available columns" in msg


def test_mapping_to_unknown_column_and_missing_file(tmp_path):
    path = tmp_path / "c.csv"
    tiny_customers().to_csv(path, index=False)
    with pytest.raises(SchemaError, match="unknown column"):
        io.read_table("customers", TableSource(path=str(path), columns={"limit": "credit_limit"}))
    with pytest.raises(InputFileError, match="not found"):
        io.read_table("customers", TableSource(path=str(tmp_path / "none.csv")))


def test_parquet_and_read_input_tables(tmp_path):
    path = tmp_path / "c.parquet"
    tiny_customers().to_parquet(path)
    tables = io.read_input_tables(DataParams(source="files", files={
        "customers": TableSource(path=str(path)), "invoices": TableSource(path=str(path))}))
    assert list(tables) == ["customers", "invoices"] and len(tables["customers"]) == 3


def test_json_is_deterministic_and_writes_undefined_as_null(tmp_path):
    io.write_json(tmp_path / "a.json", {"b": 1, "a": pd.Timestamp("2024-01-01")})
    io.write_json(tmp_path / "b.json", {"a": pd.Timestamp("2024-01-01"), "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    io.write_json(tmp_path / "c.json", {"x": float("nan"), "y": [np.float64("inf"), 1.5], "z": np.float64(2.0)})
    assert io.read_json(tmp_path / "c.json") == {"x": None, "y": [None, 1.5], "z": 2.0}


def test_csv_export_neutralises_formulas_but_not_numbers(tmp_path):
    df = pd.DataFrame({"customer_name": ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "Acme", None,
                                         "\t=1"],
                       "limit_change": [-5000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    io.write_csv(tmp_path / "x.csv", df)
    back = pd.read_csv(tmp_path / "x.csv", encoding="utf-8-sig", keep_default_na=False)
    assert back["customer_name"].tolist()[:5] == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "Acme"]
    assert back["customer_name"].iloc[6] == "'\t=1"
    assert back["limit_change"].iloc[0] == -5000.0  # a negative number stays a number


def test_input_that_would_not_fit_in_memory_is_refused_before_reading(tmp_path, monkeypatch):
    from credit_lab.core.exceptions import InputTooLargeError

    path = tmp_path / "invoices.csv"
    path.write_text("invoice_id\n" + "I1\n" * 2000)
    data = DataParams(source="files", files={"customers": TableSource(path=str(path)),
                                             "invoices": TableSource(path=str(path))})
    monkeypatch.setattr(io, "available_memory_bytes", lambda: 1000)
    with pytest.raises(InputTooLargeError, match=r"invoices 0\.00 GiB.*are available"):
        io.read_input_tables(data)
    monkeypatch.setattr(io, "available_memory_bytes", lambda: 10**12)
    assert len(io.read_input_tables(data)["invoices"]) == 2000


def test_available_memory_is_read_from_the_kernel():
    assert 0 < io.available_memory_bytes() < 2**50  # Linux: /proc/meminfo MemAvailable


def test_written_files_follow_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        io.atomic_write_bytes(tmp_path / "a" / "page.html", b"<p>x</p>")
        io.write_json(tmp_path / "a" / "x.json", {"a": 1})
        io.write_parquet(tmp_path / "a" / "t.parquet", pd.DataFrame({"a": [1]}))
        io.write_csv(tmp_path / "a" / "t.csv", pd.DataFrame({"a": [1]}))
        for f in (tmp_path / "a").iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o644, f.name  # readable by the auditors it is for
        assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
        os.umask(0o077)  # a private umask keeps files private
        io.write_json(tmp_path / "a" / "private.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "a" / "private.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)
