"""Property-based tests: random and malformed tables either validate or fail with our own error.

Never a raw traceback from deep inside pandas, never a silently wrong result: when validation
passes, every input row is either in a valid table or in the quarantine, and the valid tables
meet their contract.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_lab.core.config import FeatureParams, TableSource
from credit_lab.core.exceptions import CreditLabError
from credit_lab.data import io
from credit_lab.data.contract import SCHEMAS, validate_ledger
from credit_lab.features.point_in_time import build_features

CELL = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", " ", "NaN", "inf", "-inf", "1e309", "yes", "no", "2023-02-30", "2024-01-15", "01/15/2024",
                     "C1", "C2", "I1", "-5", "0", "12.5", "1,000", "\u00e9\u00e8\u4e2d", "=1+1", "<b>x</b>"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)


@st.composite
def table(draw, name: str, n_max: int = 6):
    schema = SCHEMAS[name]
    n = draw(st.integers(min_value=0, max_value=n_max))
    cols = [c.name for c in schema.columns if draw(st.booleans()) or (c.required and draw(st.integers(0, 9)) > 0)]
    data = {c: [draw(CELL) for _ in range(n)] for c in cols}
    if draw(st.booleans()):  # sometimes a well-formed key column so later tables can reference it
        for k in schema.key:
            if k in data and k.endswith("_id"):
                data[k] = [draw(st.sampled_from(["C1", "C2", "C3", "I1", "I2"])) for _ in range(n)]
    return pd.DataFrame(data, dtype=object) if data else pd.DataFrame(index=range(n))


def _assert_contract(result, raw):
    for name, valid in result.tables.items():
        quarantined = int((result.quarantine["table"] == name).sum())
        assert len(valid) + quarantined == len(raw[name]), name  # every row accounted for
        schema = SCHEMAS[name]
        for col in schema.columns:
            values = valid[col.name]
            if not col.nullable:
                assert values.notna().all(), (name, col.name)
            if col.kind in ("int", "float") and len(values):
                arr = values.astype(float).to_numpy()
                arr = arr[~np.isnan(arr)]
                assert np.isfinite(arr).all(), (name, col.name)
                if col.min_value is not None:
                    assert (arr > col.min_value).all() if col.min_exclusive else (arr >= col.min_value).all()
                if col.max_value is not None:
                    assert (arr <= col.max_value).all()
        assert not valid.duplicated(subset=list(schema.key)).any(), name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customers=table("customers"), invoices=table("invoices"), financials=table("financials"),
       on_invalid=st.sampled_from(["fail", "quarantine"]), fmt=st.sampled_from([None, "%m/%d/%Y"]))
def test_validation_runs_or_fails_with_our_error(customers, invoices, financials, on_invalid, fmt):
    raw = {"customers": customers, "invoices": invoices, "financials": financials}
    try:
        result = validate_ledger(raw, on_invalid=on_invalid, date_formats={"invoices": fmt})
    except CreditLabError:
        return
    _assert_contract(result, raw)
    if len(result.tables["customers"]):
        try:
            feats = build_features(result.tables, pd.Timestamp("2024-01-01"), FeatureParams())
        except CreditLabError:
            return
        assert feats.index.is_unique


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_reading_any_csv_text_runs_or_fails_with_our_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("csv") / "customers.csv"
    path.write_text(text, encoding="utf-8")
    try:
        df = io.read_table("customers", TableSource(path=str(path)))
        validate_ledger({"customers": df, "invoices": df.iloc[0:0]})
    except CreditLabError:
        pass


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200))
def test_reading_garbage_bytes_fails_with_our_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("pq") / "customers.parquet"
    path.write_bytes(blob)
    try:
        io.read_table("customers", TableSource(path=str(path)))
    except CreditLabError:
        pass


def test_empty_tables_fail_clearly():
    empty = {name: pd.DataFrame({c.name: [] for c in SCHEMAS[name].columns}) for name in ("customers", "invoices")}
    try:
        validate_ledger(empty)
    except CreditLabError as err:
        assert "no valid rows" in str(err)
    else:  # pragma: no cover - must not pass silently
        raise AssertionError("an empty ledger validated")


@st.composite
def corrupted_ledger(draw):
    """A valid small ledger with a few cells replaced by hostile values."""
    from tests.conftest import tiny_customers, tiny_invoices

    tables = {"customers": tiny_customers().astype(object), "invoices": tiny_invoices().astype(object)}
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(sorted(tables)))
        df = tables[name]
        row = draw(st.integers(0, len(df) - 1))
        col = draw(st.sampled_from(list(df.columns)))
        df.iat[row, df.columns.get_loc(col)] = draw(CELL)
    return tables


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=corrupted_ledger())
def test_corrupted_cells_are_quarantined_and_the_rest_is_used(raw):
    try:
        result = validate_ledger(raw, on_invalid="quarantine")
    except CreditLabError as err:
        assert "no valid rows" in str(err)  # the only reason to stop in quarantine mode
        return
    _assert_contract(result, raw)
    feats = build_features(result.tables, pd.Timestamp("2023-04-01"), FeatureParams())
    assert set(feats.index) <= set(result.tables["customers"]["customer_id"])
