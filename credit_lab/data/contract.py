"""The data contract of every input table, and its validation.

Each table has a declared schema: columns with kind, required/optional,
nullability and ranges, a unique key, references to other tables and row
rules. :func:`validate_ledger` coerces raw tables (as read from CSV, Parquet or
the generator) to those kinds and checks every rule. Nothing is dropped or
imputed silently: a violation either fails the run (``on_invalid="fail"``)
with a message naming table, column, rule, the number of offending rows and
example keys, or moves the offending rows to a quarantine table with their
reasons (``on_invalid="quarantine"``). The only values filled in are the
documented defaults of *absent optional columns*, and each is reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_lab.core.exceptions import SchemaError, closest_hint

__all__ = [
    "Column",
    "RowRule",
    "Reference",
    "TableSchema",
    "Violation",
    "LedgerValidation",
    "SCHEMAS",
    "validate_table",
    "validate_ledger",
]

logger = logging.getLogger(__name__)

Kind = Literal["str", "int", "float", "date", "bool"]

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_N_EXAMPLES = 5


@dataclass(frozen=True)
class Column:
    """One column of a table's contract."""

    name: str
    kind: Kind
    description: str
    required: bool = True
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    min_exclusive: bool = False
    default_when_absent: object = None  # used (and reported) only when an optional column is absent


@dataclass(frozen=True)
class RowRule:
    """A rule across columns of one row; ``check`` returns True where the row is valid."""

    name: str
    columns: tuple[str, ...]
    description: str
    check: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Reference:
    """Referential integrity: ``column`` values must exist in ``table.target_column``."""

    column: str
    table: str
    target_column: str


@dataclass(frozen=True)
class TableSchema:
    """The declared contract of one input table."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    references: tuple[Reference, ...] = ()
    row_rules: tuple[RowRule, ...] = ()
    required_table: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class Violation:
    """A broken rule: which table, column and rule, how many rows, example keys."""

    table: str
    column: str
    rule: str
    n_rows: int
    example_keys: tuple[str, ...]
    detail: str

    def message(self) -> str:
        examples = ", ".join(self.example_keys)
        return (
            f"table '{self.table}', column '{self.column}', rule '{self.rule}': {self.n_rows} row(s) "
            f"{self.detail}; e.g. {examples}"
        )


@dataclass
class LedgerValidation:
    """Validated tables plus everything the data-quality report shows."""

    tables: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    violations: list[Violation]
    assumptions: list[str] = field(default_factory=list)
    row_counts_in: dict[str, int] = field(default_factory=dict)


def _later_or_equal(a: str, b: str) -> Callable[[pd.DataFrame], pd.Series]:
    def check(df: pd.DataFrame) -> pd.Series:
        return df[a].isna() | df[b].isna() | (df[a] >= df[b])

    return check


def _paid_amount_when_paid(df: pd.DataFrame) -> pd.Series:
    return df["paid_date"].isna() | df["paid_amount"].notna()


def _paid_amount_within_amount(df: pd.DataFrame) -> pd.Series:
    # an overpayment is settled by data.rules.overpayments before validation; one left here is quarantined
    # (a non-positive amount is its own violation: amount:range)
    return df["paid_amount"].isna() | ~(df["amount"] > 0) | (df["paid_amount"] <= df["amount"] * (1 + 1e-9))


def _cash_within_current_assets(df: pd.DataFrame) -> pd.Series:
    return df["cash"].isna() | df["current_assets"].isna() | (df["cash"] <= df["current_assets"] * (1 + 1e-9) + 1e-6)


_money = "currency units"

SCHEMAS: dict[str, TableSchema] = {
    "customers": TableSchema(
        name="customers",
        key=("customer_id",),
        columns=(
            Column("customer_id", "str", "customer identifier"),
            Column("customer_name", "str", "legal name", required=False, nullable=True, default_when_absent=""),
            Column("industry", "str", "industry / sector"),
            Column("region", "str", "sales region"),
            Column("onboarding_date", "date", "date the customer was onboarded"),
            Column("payment_terms_days", "int", "invoice payment terms, days", min_value=0, max_value=365),
            Column("credit_limit", "float", f"credit limit granted today, {_money}", min_value=0),
            Column(
                "insurance_cover_pct", "float", "share of an insured loss the insurer pays (0-1)",
                required=False, min_value=0, max_value=1, default_when_absent=0.0,
            ),
            Column(
                "insured_limit", "float", f"limit the credit insurer covers, {_money}",
                required=False, min_value=0, default_when_absent=0.0,
            ),
            Column(
                "guarantee_amount", "float", f"third-party guarantee, {_money}",
                required=False, min_value=0, default_when_absent=0.0,
            ),
            Column(
                "collateral_value", "float", f"collateral pledged, {_money}",
                required=False, min_value=0, default_when_absent=0.0,
            ),
            Column(
                "collateral_haircut", "float", "haircut on the collateral's value (0-1; empty = params default)",
                required=False, nullable=True, min_value=0, max_value=1,
            ),
            Column(
                "guarantor_pd", "float", "12-month PD of the guarantor (empty = params default)",
                required=False, nullable=True, min_value=0, max_value=1,
            ),
            Column(
                "last_review_date", "date", "date of the last credit review (empty = never: onboarding counts)",
                required=False, nullable=True,
            ),
            # What a customer declared on its application: a new customer's limit is sized on it
            # while it has no ordering history (credit_lab.limits.setting).
            Column(
                "requested_limit", "float", f"credit limit the customer applied for, {_money} (empty = not declared)",
                required=False, nullable=True, min_value=0,
            ),
            Column(
                "expected_monthly_purchases", "float",
                f"purchases a month the customer declared it expects to make, {_money} (empty = not declared)",
                required=False, nullable=True, min_value=0,
            ),
        ),
    ),
    "invoices": TableSchema(
        name="invoices",
        key=("invoice_id",),
        columns=(
            Column("invoice_id", "str", "invoice number"),
            Column("customer_id", "str", "customer identifier"),
            Column("invoice_date", "date", "date issued"),
            Column("due_date", "date", "date payment is due"),
            Column("amount", "float", f"invoice amount, {_money}", min_value=0, min_exclusive=True),
            Column("paid_date", "date", "date settled (empty = open)", nullable=True),
            Column(
                "paid_amount", "float", f"amount settled, {_money}", required=False, nullable=True, min_value=0,
            ),
            Column("disputed", "bool", "invoice disputed by the customer", required=False, default_when_absent=False),
        ),
        references=(Reference("customer_id", "customers", "customer_id"),),
        row_rules=(
            RowRule("due_not_before_invoice", ("due_date", "invoice_date"), "have due_date before invoice_date",
                    _later_or_equal("due_date", "invoice_date")),
            RowRule("paid_not_before_invoice", ("paid_date", "invoice_date"), "have paid_date before invoice_date",
                    _later_or_equal("paid_date", "invoice_date")),
            RowRule("paid_amount_when_paid", ("paid_amount", "paid_date"),
                    "have a paid_date but no paid_amount", _paid_amount_when_paid),
            RowRule("paid_amount_within_amount", ("paid_amount", "amount"),
                    "have a paid_amount above the invoice amount (an overpayment; data.rules.overpayments: "
                    "settle_in_full settles the invoice and counts the excess)", _paid_amount_within_amount),
        ),
    ),
    "financials": TableSchema(
        name="financials",
        key=("customer_id", "period_end"),
        columns=(
            Column("customer_id", "str", "customer identifier"),
            Column("period_end", "date", "fiscal period end"),
            Column("available_date", "date", "date the statement became known", required=False, nullable=True),
            Column("revenue", "float", f"revenue, {_money}", min_value=0),
            Column("ebitda", "float", f"EBITDA, {_money}", required=False, nullable=True),
            Column("ebit", "float", f"EBIT, {_money}", required=False, nullable=True),
            Column("net_income", "float", f"net income, {_money}", required=False, nullable=True),
            Column("interest_expense", "float", f"interest expense, {_money}", required=False, nullable=True,
                   min_value=0),
            Column("total_assets", "float", f"total assets, {_money}", min_value=0, min_exclusive=True),
            Column("total_liabilities", "float", f"total liabilities, {_money}", min_value=0),
            Column("current_assets", "float", f"current assets, {_money}", required=False, nullable=True,
                   min_value=0),
            Column("current_liabilities", "float", f"current liabilities, {_money}", required=False,
                   nullable=True, min_value=0),
            Column("inventory", "float", f"inventory, {_money}", required=False, nullable=True, min_value=0),
            Column("cash", "float", f"cash, {_money}", required=False, nullable=True, min_value=0),
            Column("retained_earnings", "float", f"retained earnings, {_money}", required=False, nullable=True),
            Column("equity", "float", f"book equity, {_money}", required=False, nullable=True),
        ),
        references=(Reference("customer_id", "customers", "customer_id"),),
        row_rules=(
            RowRule("cash_within_current_assets", ("cash", "current_assets"), "have cash above current_assets",
                    _cash_within_current_assets),
        ),
        required_table=False,
    ),
    "defaults": TableSchema(
        name="defaults",
        key=("customer_id", "default_date"),
        columns=(
            Column("customer_id", "str", "customer identifier"),
            Column("default_date", "date", "date of default (90+ days past due or write-off)"),
            Column("default_type", "str", "e.g. 90dpd, write_off", required=False, nullable=True,
                   default_when_absent="unspecified"),
        ),
        references=(Reference("customer_id", "customers", "customer_id"),),
        required_table=False,
    ),
    "industry_outlook": TableSchema(
        name="industry_outlook",
        key=("industry", "as_of_date"),
        columns=(
            Column("industry", "str", "industry / sector"),
            Column("as_of_date", "date", "date the outlook was published"),
            Column("outlook_score", "float", "industry outlook, higher = better", min_value=-1e6, max_value=1e6),
        ),
        required_table=False,
    ),
    # The limits as they stood over time: what the replay of past limits (credit_lab.limits.replay)
    # and the estimate of competitive intensity from cuts (credit_lab.limits.competition_evidence) read.
    "limit_history": TableSchema(
        name="limit_history",
        key=("customer_id", "valid_from"),
        columns=(
            Column("customer_id", "str", "customer identifier"),
            Column("valid_from", "date", "first day the limit applied (it holds until the customer's next row)"),
            Column("limit", "float", f"credit limit granted from valid_from on, {_money}", min_value=0),
        ),
        references=(Reference("customer_id", "customers", "customer_id"),),
        required_table=False,
    ),
}

# Validation order: referenced tables first, so rows of a quarantined customer
# are reported as orphans rather than silently kept.
_ORDER = ("customers", "industry_outlook", "invoices", "financials", "defaults", "limit_history")


def _key_labels(df: pd.DataFrame, key: tuple[str, ...], mask: np.ndarray) -> tuple[str, ...]:
    # The first few offending rows only: selecting every offending row of a large table first
    # would copy it.
    sub = df[list(key)].iloc[np.flatnonzero(mask)[:_N_EXAMPLES]]
    if len(key) == 1:
        return tuple(str(v) for v in sub[key[0]].tolist())
    return tuple("(" + ", ".join(str(v) for v in row) + ")" for row in sub.itertuples(index=False))


def _coerce_bool(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype(bool), np.zeros(len(raw), dtype=bool)
    text = raw.astype("string").str.strip().str.lower()
    is_true, is_false = text.isin(_TRUE).fillna(False), text.isin(_FALSE).fillna(False)
    bad = (~(is_true | is_false) & raw.notna()).to_numpy(dtype=bool)
    out = pd.Series(is_true.to_numpy(dtype=bool), index=raw.index)
    return out, bad


def _strip_text(raw: pd.Series) -> pd.Series:
    """``raw.astype("string").str.strip()`` with empty texts missing; Arrow-backed text that needs
    neither is returned as it is (sharing the input's memory instead of copying a large column)."""
    text = raw.astype("string")
    arr = _arrow_strings(text)
    if arr is not None and not _any_padded(arr) and not pc.any(pc.equal(arr, "")).as_py():
        return text
    values = text.str.strip()
    return values.mask(values == "")


def _any_padded(arr: pa.Array | pa.ChunkedArray, rows: int = 1 << 20) -> bool:
    """Whether any text of ``arr`` has whitespace to trim; checked ``rows`` at a time, so the trimmed copy
    is one slice's, not the column's (17 bytes per invoice id)."""
    for start in range(0, len(arr), rows):
        part = arr.slice(start, rows)
        if pc.any(pc.not_equal(pc.utf8_trim_whitespace(part), part)).as_py():
            return True
    return False


#: invisible characters that reorder or hide text (Unicode bidirectional controls and marks): a customer name
#: carrying U+202E displays reversed in a report or a letter, a classic way to make one name pass for another
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI_RE = "[" + _BIDI + "]"


def _visible_text(raw: pd.Series, values: pd.Series, table: str, column: str) -> tuple[pd.Series, list[str]]:
    """Text made safe to show, each change counted: bidirectional controls become a visible ``<U+202E>``
    marker (in every output a person reads, the text then shows what it holds), and the cells whose
    surrounding whitespace was trimmed (a tab before an id, a space after a name) are counted."""
    notes = []
    text = raw.astype("string")
    # ``values`` is ``text`` stripped (empty -> missing): a cell it changed and kept was trimmed
    arr, varr = _arrow_strings(text), _arrow_strings(values)
    if arr is not None and varr is not None:  # Arrow compute: no Python strings for millions of ids
        trimmed = int(pc.sum(pc.cast(pc.not_equal(varr, arr), "int64")).as_py() or 0)
    else:
        trimmed = int((values.notna() & (values != text)).fillna(False).sum())
    if trimmed:
        notes.append(f"{table}.{column}: {trimmed:,} value(s) had spaces or tabs before or after them, trimmed "
                     "(an id ' 42' and '42' are one customer)")
    # The controls are not ASCII: all-ASCII text (ids, most names) needs no regex (10x slower).
    if varr is not None and (pc.all(pc.string_is_ascii(varr)).as_py() is True
                             or not pc.any(pc.match_substring_regex(varr, _BIDI_RE)).as_py()):
        return values, notes
    hidden = values.str.contains(_BIDI_RE, regex=True).fillna(False)
    if hidden.any():
        values = values.str.replace(_BIDI_RE, lambda m: f"<U+{ord(m.group(0)):04X}>", regex=True)
        notes.append(f"{table}.{column}: {int(hidden.sum()):,} value(s) held invisible bidirectional control "
                     "characters (they reorder how text displays); each is shown as a visible <U+...> marker")
    return values, notes


def _parse_dates(raw: pd.Series, date_format: str | None) -> pd.Series:
    """``pd.to_datetime(raw.astype("string").str.strip(), format=..., errors="coerce")``, each distinct value once.

    A ledger has millions of dates but a few thousand distinct ones; parsing is elementwise, so
    parsing the distinct texts and spreading the result back gives the same values and dtype.
    """
    codes, uniques = pd.factorize(raw.astype("string"), use_na_sentinel=True)
    text = pd.Series(uniques, dtype="string").str.strip()
    parsed = pd.to_datetime(text, format=date_format or "ISO8601", errors="coerce")
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=raw.index)


# Plain decimals a CSV usually holds ("1234", "-17.5"): with at most 15 characters (so at most 15
# digits) pandas' parser and Arrow's both give the correctly rounded double, and an integer gives the
# same value whether pandas takes the integer or the float path ("-0" is the exception: excluded).
_PLAIN_NUMBER = r"^(?:\d+|-\d*[1-9]\d*|-?\d+\.\d+)$"
# Texts whose pandas value depends on the other cells of the column (int64 vs float path).
_CONTEXT_NUMBER = r"^[+-]?\d{16,}$|^-0+$"


def _parse_numbers(raw: pd.Series) -> pd.Series:
    """``pd.to_numeric(text.str.strip().str.replace(",", ""), errors="coerce").astype(float)``, vectorised.

    Plain decimals are converted by Arrow in one pass; the other cells (thousands separators,
    exponents, words, blanks) go through pandas exactly as before. Falls back to the whole column
    through pandas where a cell's value could depend on the rest of the column.
    """
    text = raw.astype("string")

    def slow(sub: pd.Series) -> pd.Series:
        sub = sub.str.strip().str.replace(",", "", regex=False)
        return pd.to_numeric(sub, errors="coerce").astype(float)

    arr = _arrow_strings(text)
    if arr is None:
        return slow(text)
    plain = pc.and_(pc.match_substring_regex(arr, _PLAIN_NUMBER), pc.less_equal(pc.binary_length(arr), 15))
    plain_np = np.asarray(pc.fill_null(plain, False).to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(pc.cast(pc.if_else(plain, arr, None), pa.float64()).to_numpy(zero_copy_only=False),
                        dtype=float).copy()
    rest = np.flatnonzero(~plain_np & text.notna().to_numpy(dtype=bool))
    if rest.size:
        sub = text.iloc[rest]
        cleaned = sub.str.strip().str.replace(",", "", regex=False)
        if cleaned.str.contains(_CONTEXT_NUMBER, regex=True).fillna(False).any():
            return slow(text)
        values[rest] = slow(sub).to_numpy(dtype=float)
    return pd.Series(values, index=raw.index)


def _duplicated(df: pd.DataFrame, key_cols: list[str]) -> np.ndarray:
    """``df.duplicated(subset=key_cols, keep=False)`` as a NumPy mask; a one-column Arrow text key
    is counted in Arrow (about twice as fast on millions of unique keys)."""
    arr = _arrow_strings(df[key_cols[0]]) if len(key_cols) == 1 else None
    if arr is None or arr.num_chunks != 1:
        return df.duplicated(subset=key_cols, keep=False).to_numpy(dtype=bool)
    sorted_dup = _sorted_duplicated(arr.chunk(0))
    if sorted_dup is not None:
        return sorted_dup
    encoded = pc.dictionary_encode(arr.chunk(0), null_encoding="mask")
    codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    valid = codes >= 0
    counts = np.bincount(codes[valid], minlength=len(encoded.dictionary))
    dup = np.zeros(len(codes), dtype=bool)
    dup[valid] = counts[codes[valid]] > 1
    if not valid.all():  # missing keys repeat each other, as in pandas
        dup[~valid] = (~valid).sum() > 1
    return dup


def _sorted_duplicated(keys: pa.Array) -> np.ndarray | None:
    """The duplicate mask of text keys already in ascending order (no missing key), else None.

    Ledgers usually come numbered in order (the generator's invoice ids always do): a copy then sits
    next to its original, so one comparison of neighbours (tens of milliseconds on millions of keys)
    replaces hashing every key (a second or more).
    """
    n = len(keys)
    if n < 2 or keys.null_count:
        return None
    head, tail = keys.slice(0, n - 1), keys.slice(1)
    if not pc.all(pc.less_equal(head, tail)).as_py():
        return None
    same_as_next = np.asarray(pc.equal(head, tail).to_numpy(zero_copy_only=False), dtype=bool)
    dup = np.zeros(n, dtype=bool)
    dup[:-1] |= same_as_next
    dup[1:] |= same_as_next
    return dup


def _isin(values: pd.Series, target: pd.Index) -> pd.Series:
    """``values.isin(target)``; for Arrow-backed text on both sides, in Arrow (pandas would build a
    Python list of the target first)."""
    arr = _arrow_strings(values)
    if arr is not None and isinstance(target.dtype, pd.StringDtype) and target.dtype.storage == "pyarrow":
        value_set = target.array.__arrow_array__()
        if isinstance(value_set, pa.ChunkedArray):
            value_set = value_set.combine_chunks()
        if len(value_set) and value_set.null_count == 0:
            hit = pc.fill_null(pc.is_in(arr, value_set=value_set.cast(arr.type)), False)
            return pd.Series(np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool), index=values.index)
    return values.isin(target)


def _arrow_strings(text: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow data behind a pyarrow-backed string Series (no copy), or None."""
    dtype = text.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    arr = text.array.__arrow_array__()
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


def _coerce(raw: pd.Series, col: Column, date_format: str | None) -> tuple[pd.Series, np.ndarray]:
    """Convert to the column's kind; return values and a mask of unconvertible non-null cells."""
    if col.kind == "str":
        return _strip_text(raw), np.zeros(len(raw), dtype=bool)
    if col.kind == "bool":
        return _coerce_bool(raw)
    if col.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            values = raw
            if getattr(raw.dt, "tz", None) is not None:
                values = raw.dt.tz_localize(None)
        else:
            values = _parse_dates(raw, date_format)
        # Dates outside 1900-2199 are typos (year 0, 20233) in a receivables ledger, and would
        # not fit the nanosecond timestamps used downstream.
        in_range = (values >= pd.Timestamp("1900-01-01")) & (values < pd.Timestamp("2200-01-01"))
        values = values.where(in_range.fillna(False).astype(bool), pd.NaT).astype("datetime64[ns]")
        return values, (values.isna() & raw.notna()).to_numpy(dtype=bool)
    # numeric kinds
    if pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.astype(float)
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.astype(float)
    else:
        values = _parse_numbers(raw)
    bad = (values.isna() & raw.notna()).to_numpy(dtype=bool).copy()
    bad |= np.isinf(values.to_numpy(dtype=float))
    if col.kind == "int":
        finite = values.notna() & ~np.isinf(values)
        # beyond 2**53 a float no longer holds every integer exactly: not a plausible count of days
        not_integral = finite & ((values != np.floor(values)) | (values.abs() >= 2.0**53))
        bad = bad | not_integral.to_numpy(dtype=bool)
    values = values.where(~bad)
    return values, bad


def validate_table(
    df: pd.DataFrame,
    schema: TableSchema,
    date_format: str | None = None,
    known_keys: dict[tuple[str, str], pd.Index] | None = None,
) -> tuple[pd.DataFrame, pd.Series, list[Violation], list[str]]:
    """Coerce one table to its schema and check every rule.

    Returns
    -------
    table : the coerced table with exactly the schema's columns (extra columns are kept after them).
    reasons : per row, ``""`` when valid, else ``"column:rule; ..."``.
    violations : one entry per broken (column, rule) with counts and example keys.
    assumptions : plain-language notes on absent optional columns that got their documented default.

    Raises
    ------
    SchemaError : a required column is absent (no row could be validated without it).
    """
    known_keys = known_keys or {}
    missing = [c.name for c in schema.columns if c.required and c.name not in df.columns]
    if missing:
        available = ", ".join(map(str, df.columns)) or "(none)"
        hint = closest_hint(missing[0], list(df.columns), label=f"closest to '{missing[0]}'")
        raise SchemaError(
            f"table '{schema.name}': required column(s) {missing} missing; available columns: {available}{hint}. "
            f"Add the column to the file or map your column name to it in params "
            f"(data.files.{schema.name}.columns: {{{missing[0]}: <your column>}})."
        )
    n = len(df)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    raw_df = df.reset_index(drop=True)
    # (label, mask) in the order the rules are checked; the reason texts are built at the end,
    # for the offending rows only.
    flagged: list[tuple[str, np.ndarray]] = []
    violations: list[Violation] = []
    assumptions: list[str] = []
    bad_any = np.zeros(n, dtype=bool)

    def record(column: str, rule: str, mask: np.ndarray, detail: str) -> None:
        nonlocal bad_any
        count = int(mask.sum())
        if count == 0:
            return
        key_view = out if all(k in out.columns for k in schema.key) else raw_df
        violations.append(Violation(schema.name, column, rule, count, _key_labels(key_view, schema.key, mask), detail))
        flagged.append((f"{column}:{rule}", mask))
        bad_any |= mask

    for col in schema.columns:
        if col.name not in raw_df.columns:
            out[col.name] = pd.Series([col.default_when_absent] * n, dtype=_dtype_of(col.kind))
            assumptions.append(
                f"{schema.name}.{col.name} not supplied: every row takes {col.default_when_absent!r} "
                f"({col.description})"
            )
            continue
        values, bad_type = _coerce(raw_df[col.name], col, date_format)
        if col.kind == "str":
            values, notes = _visible_text(raw_df[col.name], values, schema.name, col.name)
            assumptions.extend(notes)
        out[col.name] = values
        if bad_type.any():
            examples = raw_df.loc[bad_type, col.name].head(3).tolist()
            hint = f" with format {date_format!r}" if col.kind == "date" and date_format else ""
            record(col.name, "type", bad_type,
                   f"cannot be read as {col.kind}{hint} (values like {examples})")
        if not col.nullable:
            null = values.isna().to_numpy(dtype=bool) & ~bad_type
            record(col.name, "not_null", null, "are empty")
        if col.kind in ("int", "float"):
            arr = values.to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                if col.min_value is not None:
                    low = arr <= col.min_value if col.min_exclusive else arr < col.min_value
                    op = ">" if col.min_exclusive else ">="
                    record(col.name, "range", low & ~np.isnan(arr),
                           f"are not {op} {col.min_value:g} (values like {values[low].head(3).tolist()})")
                if col.max_value is not None:
                    high = arr > col.max_value
                    record(col.name, "range", high & ~np.isnan(arr),
                           f"are above {col.max_value:g} (values like {values[high].head(3).tolist()})")
            if col.kind == "int":
                out[col.name] = values.astype("Int64")

    key_cols = list(schema.key)
    dup = _duplicated(out, key_cols)
    dup = dup & out[key_cols].notna().all(axis=1).to_numpy(dtype=bool)
    record("+".join(key_cols), "unique", dup, "share a key with another row (all copies are flagged)")

    for ref in schema.references:
        target = known_keys.get((ref.table, ref.target_column))
        if target is None:
            continue
        orphan = (~_isin(out[ref.column], target) & out[ref.column].notna()).to_numpy(dtype=bool)
        record(ref.column, "reference", orphan,
               f"name a {ref.target_column} that is not in table '{ref.table}' (or was quarantined there)")

    for rule in schema.row_rules:
        ok = rule.check(out).to_numpy(dtype=bool)
        record("+".join(rule.columns), rule.name, ~ok, rule.description)

    extra = [c for c in raw_df.columns if c not in out.columns]
    for c in extra:
        out[c] = raw_df[c]
    reason_series = pd.Series(_reason_texts(n, bad_any, flagged), index=out.index, dtype="string")
    return out, reason_series, violations, assumptions


def _reason_texts(n: int, bad_any: np.ndarray, flagged: list[tuple[str, np.ndarray]]) -> pa.Array | np.ndarray:
    """Per row ``";".join(labels of the rules it breaks)``, ``""`` for valid rows.

    Only offending rows get a text of their own; each distinct text is stored once and the rows
    point to it, so a table of valid rows costs one Arrow array of empty strings.
    """
    rows = np.flatnonzero(bad_any)
    texts = np.full(rows.size, "", dtype=object)
    for label, mask in flagged:
        hit = mask[rows]
        if hit.any():
            texts[hit] = np.where(texts[hit] == "", label, texts[hit] + ";" + label)
    distinct, inverse = np.unique(texts.astype(str), return_inverse=True) if rows.size else (np.array([], str), [])
    codes = np.zeros(n, dtype=np.int32)
    codes[rows] = np.asarray(inverse, dtype=np.int32).reshape(-1) + 1
    dictionary = pa.array([""] + [str(t) for t in distinct], type=pa.string())
    arrow = dictionary.take(pa.array(codes))
    if pd.StringDtype().storage == "pyarrow":
        return arrow
    return np.asarray(arrow.to_pylist(), dtype=object)


def _dtype_of(kind: Kind) -> str:
    return {"str": "string", "int": "Int64", "float": "float64", "date": "datetime64[ns]", "bool": "bool"}[kind]


def validate_ledger(
    raw_tables: dict[str, pd.DataFrame],
    on_invalid: Literal["fail", "quarantine"] = "fail",
    date_formats: dict[str, str | None] | None = None,
) -> LedgerValidation:
    """Validate every input table of the ledger against :data:`SCHEMAS`.

    Parameters
    ----------
    raw_tables : table name -> DataFrame; ``customers`` and ``invoices`` are required.
    on_invalid : ``"fail"`` raises :class:`SchemaError` listing every violation;
        ``"quarantine"`` removes offending rows into ``quarantine`` with reasons.
    date_formats : table name -> strftime format of its text dates (None = ISO 8601).

    Examples
    --------
    >>> import pandas as pd
    >>> cust = pd.DataFrame({"customer_id": ["A", "A"], "industry": ["x", "x"], "region": ["r", "r"],
    ...     "onboarding_date": ["2020-01-01"] * 2, "payment_terms_days": [30, 30], "credit_limit": [1e3, 1e3]})
    >>> inv = pd.DataFrame(columns=["invoice_id", "customer_id", "invoice_date", "due_date", "amount", "paid_date"])
    >>> validate_ledger({"customers": cust, "invoices": inv})
    Traceback (most recent call last):
    ...
    credit_lab.core.exceptions.SchemaError: ...
    """
    date_formats = date_formats or {}
    unknown = sorted(set(raw_tables) - set(SCHEMAS))
    if unknown:
        raise SchemaError(f"unknown input table(s) {unknown}; expected some of {list(SCHEMAS)}")
    for name, schema in SCHEMAS.items():
        if schema.required_table and name not in raw_tables:
            raise SchemaError(f"input table '{name}' is required but was not supplied; name its file in params "
                              f"under data.files.{name}.path")
    tables: dict[str, pd.DataFrame] = {}
    quarantined: list[pd.DataFrame] = []
    violations: list[Violation] = []
    assumptions: list[str] = []
    known: dict[tuple[str, str], pd.Index] = {}
    counts_in: dict[str, int] = {}
    for name in _ORDER:
        if name not in raw_tables:
            continue
        schema = SCHEMAS[name]
        counts_in[name] = len(raw_tables[name])
        table, reasons, table_violations, table_assumptions = validate_table(
            raw_tables[name], schema, date_formats.get(name), known
        )
        violations += table_violations
        assumptions += table_assumptions
        bad = (reasons != "").to_numpy(dtype=bool)
        if bad.any():
            q = pd.DataFrame({
                "table": name,
                "row_number": np.flatnonzero(bad) + 1,  # 1-based data row in the source
                "key": table.loc[bad, list(schema.key)].astype("string").fillna("<empty>")
                .agg("|".join, axis=1).to_numpy(dtype=object) if bad.any() else [],
                "reasons": reasons[bad].to_numpy(),
            })
            quarantined.append(q)
        table = table.loc[~bad].reset_index(drop=True)
        tables[name] = table
        if name == "customers":
            known[("customers", "customer_id")] = pd.Index(table["customer_id"].dropna().unique())

    if violations and on_invalid == "fail":
        listing = "\n".join("  - " + v.message() for v in violations)
        raise SchemaError(
            f"input data breaks {len(violations)} rule(s):\n{listing}\n"
            "Fix the source rows, or set data.on_invalid: quarantine to set them aside and list them in the "
            "data-quality report."
        )
    quarantine = (
        pd.concat(quarantined, ignore_index=True)
        if quarantined
        else pd.DataFrame({"table": pd.Series(dtype="string"), "row_number": pd.Series(dtype="int64"),
                           "key": pd.Series(dtype="string"), "reasons": pd.Series(dtype="string")})
    )
    if len(quarantine):
        logger.warning("quarantined %d row(s) that break the data contract", len(quarantine))
    for name in tables:
        if len(tables[name]) == 0 and name in ("customers", "invoices"):
            raise SchemaError(f"table '{name}' has no valid rows; nothing can be scored")
    return LedgerValidation(tables, quarantine, violations, assumptions, counts_in)
