"""A stage's Parquet reads: a large file read a column at a time gives ``pd.read_parquet``'s frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_lab.data import io
from credit_lab.run.stages import context


def _ledger_like(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    paid = pd.Series(dates + pd.to_timedelta(rng.integers(0, 90, n), unit="D"))
    paid[rng.random(n) < 0.2] = pd.NaT
    ids = pd.Series([f"C{i % 97:05d}" for i in range(n)], dtype="string")
    ids[5] = pd.NA
    return pd.DataFrame({
        "invoice_id": pd.array([f"INV{i:07d}" for i in range(n)], dtype="string"),
        "customer_id": ids,
        "invoice_date": dates,
        "paid_date": paid,
        "amount": rng.lognormal(7, 1, n).round(2),
        "paid_amount": np.where(rng.random(n) < 0.1, np.nan, 1.0),
        "disputed": rng.random(n) < 0.05,
        "terms": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 90, n)), dtype="Int64"),
        "industry": pd.Categorical(rng.choice(["Retail", "Energy"], n)),
    })


@pytest.mark.parametrize("exclude", [(), ("invoice_id", "paid_amount")])
def test_a_large_file_read_column_by_column_is_the_frame_pandas_reads(tmp_path, monkeypatch, exclude):
    frame = _ledger_like(5_000)
    path = tmp_path / "invoices.parquet"
    io.write_parquet(path, frame)
    expected = pd.read_parquet(path, columns=[c for c in frame.columns if c not in exclude])
    monkeypatch.setattr(context, "COLUMNWISE_ROWS", 1_000)  # this file is "large"
    seen = []
    real = pd.read_parquet

    def spy(p, columns=None, **kw):
        seen.append(columns)
        return real(p, columns=columns, **kw)

    monkeypatch.setattr(context.pd, "read_parquet", spy)
    got = context._read_parquet(path, exclude)
    assert all(c is not None and len(c) == 1 for c in seen)  # really one column at a time
    assert len(seen) == len(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert list(got.dtypes) == list(expected.dtypes)


def test_a_small_file_or_a_stored_index_is_read_whole(tmp_path, monkeypatch):
    frame = _ledger_like(500).set_index("invoice_id")
    path = tmp_path / "indexed.parquet"
    frame.to_parquet(path)  # the index stored as a column
    monkeypatch.setattr(context, "COLUMNWISE_ROWS", 100)
    got = context._read_parquet(path)
    pd.testing.assert_frame_equal(got, pd.read_parquet(path), check_exact=True)
    assert got.index.name == "invoice_id"
