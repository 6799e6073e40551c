"""Declared rules for the messes of real receivable exports (ledger mode).

An ERP export rarely matches the data contract as it stands: flags come as words
("Yes", "Electronic"), credit notes sit among the invoices as negative amounts,
a row is exported twice, the customer master lives elsewhere, and nobody
recorded defaults. Each rule below is switched on in params (``data.rules`` and
``data.files.<table>.true_words / false_words``); each one's effect is counted
and shown in the data-quality report, so nothing changes silently. Rows no rule
covers go to the schema's validation (quarantine or failure) as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from credit_lab.core.config import DataParams, LedgerRules
from credit_lab.core.exceptions import SchemaError
from credit_lab.data.contract import SCHEMAS

__all__ = ["RuleEffect", "RuleReport", "apply_input_rules", "complete_customers", "derive_defaults"]

_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class RuleEffect:
    """What one declared rule did: how many rows, and a plain-language detail."""

    rule: str
    table: str
    rows: int
    detail: str
    removed: bool = False  # the rows left the table (set aside or dropped), so they are not validated


@dataclass
class RuleReport:
    """Every rule's effect, and the rows a rule set aside (credit notes)."""

    effects: list[RuleEffect] = field(default_factory=list)
    credit_notes: pd.DataFrame | None = None
    customers_derived: bool = False

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.effects], columns=["rule", "table", "rows", "detail", "removed"])

    def removed_rows(self) -> dict[str, int]:
        """Rows per table that a rule took out before validation."""
        out: dict[str, int] = {}
        for e in self.effects:
            if e.removed:
                out[e.table] = out.get(e.table, 0) + e.rows
        return out


def _words_to_flags(df: pd.DataFrame, table: str, true_words: dict[str, list[str]],
                    false_words: dict[str, list[str]], report: RuleReport) -> pd.DataFrame:
    for col in sorted(set(true_words) | set(false_words)):
        if col not in df.columns:
            raise SchemaError(f"table '{table}': params declare words for column '{col}', which is not in the "
                              f"file; available columns: {', '.join(map(str, df.columns))}")
        text = df[col].astype("string").str.strip().str.lower()
        t = {w.strip().lower() for w in true_words.get(col, [])}
        f = {w.strip().lower() for w in false_words.get(col, [])}
        is_t, is_f = text.isin(t).fillna(False), text.isin(f).fillna(False)
        values = df[col].astype("string").where(~is_t, "true").where(~is_f, "false")
        df = df.assign(**{col: values})
        report.effects.append(RuleEffect(
            "words_as_flags", table, int(is_t.sum() + is_f.sum()),
            f"{col}: {int(is_t.sum())} row(s) read as true ({sorted(t)}), {int(is_f.sum())} as false ({sorted(f)})"))
    return df


def _amounts(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype(float)
    text = raw.astype("string").str.strip().str.replace(",", "", regex=False)
    return pd.to_numeric(text, errors="coerce").astype(float)


def apply_input_rules(raw: dict[str, pd.DataFrame], data: DataParams) -> tuple[dict[str, pd.DataFrame], RuleReport]:
    """Apply the declared rules to the raw tables before the data contract is checked.

    Returns the tables to validate and the report of what each rule did. A customers
    table built from the invoices has ``credit_limit`` 0 until :func:`complete_customers`
    sets it from the validated invoices.
    """
    report = RuleReport()
    rules: LedgerRules = data.rules
    tables = dict(raw)
    for name, source in data.files.items():
        if name in tables and (source.true_words or source.false_words):
            tables[name] = _words_to_flags(tables[name], name, source.true_words, source.false_words, report)
    inv = tables.get("invoices")
    if inv is not None:
        if rules.exact_duplicate_invoices == "keep_one":
            dup = inv.duplicated(keep="first").to_numpy(dtype=bool)
            inv = inv.loc[~dup].reset_index(drop=True)
            report.effects.append(RuleEffect("exact_duplicate_invoices: keep_one", "invoices", int(dup.sum()),
                                             "rows identical in every column to an earlier row were dropped",
                                             removed=True))
        if rules.credit_notes == "set_aside" and "amount" in inv.columns:
            negative = (_amounts(inv["amount"]) < 0).to_numpy(dtype=bool)
            report.credit_notes = inv.loc[negative].reset_index(drop=True)
            inv = inv.loc[~negative].reset_index(drop=True)
            total = float(-_amounts(report.credit_notes["amount"]).sum()) if negative.any() else 0.0
            report.effects.append(RuleEffect(
                "credit_notes: set_aside", "invoices", int(negative.sum()),
                f"negative amounts (credit notes, {total:,.2f} in total) set aside in credit_notes.parquet; "
                "they are not invoices and do not enter payment behaviour", removed=True))
        if rules.overpayments == "settle_in_full" and {"paid_amount", "amount"} <= set(inv.columns):
            inv = _settle_overpayments(inv, report)
        if "paid_amount" not in inv.columns and "paid_date" in inv.columns and "amount" in inv.columns:
            paid = inv["paid_date"].notna() & (inv["paid_date"].astype("string").str.strip() != "").fillna(False)
            inv = inv.assign(paid_amount=inv["amount"].where(paid))
            report.effects.append(RuleEffect(
                "paid_amount from amount", "invoices", int(paid.sum()),
                "the export has no paid amount: an invoice with a settlement date is taken as paid in full"))
        tables["invoices"] = inv
    for name, table in list(tables.items()):
        tables[name] = _empty_optional_cells(table, name, report)
    if rules.customers_from_invoices:
        if inv is None:
            raise SchemaError("data.rules.customers_from_invoices needs an invoices table")
        tables["customers"] = _customers_from_invoices(inv, rules, data.files["invoices"].date_format)
        report.customers_derived = True
        report.effects.append(RuleEffect(
            "customers_from_invoices", "customers", len(tables["customers"]),
            "customer list built from the invoices: onboarding = first invoice, payment terms = median days from "
            f"invoice to due date, industry from {rules.industry_column or '(none: unknown)'}, region from "
            f"{rules.region_column or '(none: unknown)'}, credit limit = peak month-end open receivables of the "
            "last 12 months (the exposure actually run)"))
    return tables, report


def _settle_overpayments(inv: pd.DataFrame, report: RuleReport) -> pd.DataFrame:
    """``paid_amount`` above ``amount`` becomes ``amount``: the invoice is settled in full and the excess,
    a credit on the customer's account rather than a payment of this invoice, is counted and totalled."""
    amount, paid = _amounts(inv["amount"]), _amounts(inv["paid_amount"])
    over = (paid > amount * (1 + 1e-9)) & amount.gt(0)
    over = over.fillna(False).to_numpy(dtype=bool)
    excess = float((paid - amount)[over].sum())
    if over.any():
        # A new paid_amount column, not a copy of the whole table (every invoice's ids and dates)
        settled = inv["paid_amount"].copy()
        settled.loc[over] = inv.loc[over, "amount"]
        inv = inv.assign(paid_amount=settled)
    report.effects.append(RuleEffect(
        "overpayments: settle_in_full", "invoices", int(over.sum()),
        f"paid_amount above the invoice amount: settled in full; the excess ({excess:,.2f} in total) is a credit on "
        "the customer's account, not a payment of the invoice"))
    return inv


def _empty_optional_cells(df: pd.DataFrame, table: str, report: RuleReport) -> pd.DataFrame:
    """Empty cells of an optional column with a documented default take that default, counted.

    E.g. an export's ``disputed`` left blank on most invoices: blank means not disputed, and the
    data-quality report says how many cells were read that way.
    """
    schema = SCHEMAS.get(table)
    if schema is None:
        return df
    for col in schema.columns:
        if col.required or col.nullable or col.default_when_absent is None or col.name not in df.columns:
            continue
        raw = df[col.name]
        empty = raw.isna()
        if not (pd.api.types.is_bool_dtype(raw.dtype) or pd.api.types.is_numeric_dtype(raw.dtype)
                or pd.api.types.is_datetime64_any_dtype(raw.dtype)):
            # only text can hold a blank; a bool or number column cast to text per cell costs 13 bytes a row
            empty |= (raw.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
        if empty.any():
            df = df.assign(**{col.name: raw.astype(object).where(~empty, str(col.default_when_absent))})
            report.effects.append(RuleEffect(
                "empty optional cells", table, int(empty.sum()),
                f"{col.name}: empty cells read as the documented default {col.default_when_absent!r} "
                f"({col.description})"))
    return df


def _customers_from_invoices(inv: pd.DataFrame, rules: LedgerRules, date_format: str | None) -> pd.DataFrame:
    for col, key in ((rules.region_column, "region_column"), (rules.industry_column, "industry_column")):
        if col is not None and col not in inv.columns:
            raise SchemaError(f"data.rules.{key}: column '{col}' is not in the invoices; available columns: "
                              f"{', '.join(map(str, inv.columns))}")
    for col in ("customer_id", "invoice_date", "due_date"):
        if col not in inv.columns:
            raise SchemaError(f"table 'invoices': column '{col}' is needed to build the customer list; available "
                              f"columns: {', '.join(map(str, inv.columns))}")
    ids = inv["customer_id"].astype("string").str.strip()

    def parse(col: str) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(inv[col].dtype):
            return inv[col]
        return pd.to_datetime(inv[col].astype("string").str.strip(), format=date_format or "ISO8601", errors="coerce")

    frame = pd.DataFrame({"customer_id": ids, "invoice_date": parse("invoice_date"), "due_date": parse("due_date")})
    frame["terms"] = (frame["due_date"] - frame["invoice_date"]) / pd.Timedelta(days=1)
    frame = frame[frame["customer_id"].notna()]
    grouped = frame.groupby("customer_id", sort=True)
    out = pd.DataFrame({
        "onboarding_date": grouped["invoice_date"].min(),
        "payment_terms_days": grouped["terms"].median().clip(0, 365).round(),
    })
    for target, col in (("industry", rules.industry_column), ("region", rules.region_column)):
        if col is None:
            out[target] = "unknown"
        else:
            values = pd.DataFrame({"customer_id": ids, "v": inv[col].astype("string").str.strip()}).dropna()
            mode = values.groupby(["customer_id", "v"]).size().reset_index(name="n").sort_values(
                ["customer_id", "n", "v"], ascending=[True, False, True]).drop_duplicates("customer_id")
            out[target] = mode.set_index("customer_id")["v"].reindex(out.index).fillna("unknown")
    out["credit_limit"] = 0.0
    out["onboarding_date"] = out["onboarding_date"].dt.strftime("%Y-%m-%d")
    return out.reset_index()


def _month_end_balances(invoices: pd.DataFrame, month_ends: pd.DatetimeIndex) -> pd.DataFrame:
    """Open receivables of every customer at each month-end (rows: customer, columns: month-end)."""
    cols = {}
    issued, paid = invoices["invoice_date"].to_numpy(), invoices["paid_date"].to_numpy()
    amount, cid = invoices["amount"].to_numpy(dtype=float), invoices["customer_id"].to_numpy()
    for me in month_ends:
        t = np.datetime64(me, "ns")
        open_ = (issued <= t) & (np.isnat(paid) | (paid > t))
        cols[me] = pd.Series(np.where(open_, amount, 0.0)).groupby(cid).sum()
    return pd.DataFrame(cols)


def complete_customers(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, lookback_months: int = 12
                       ) -> dict[str, pd.DataFrame]:
    """Set a derived customer list's ``credit_limit`` to the peak month-end open receivables.

    Without a customer master there is no recorded limit; the largest balance the customer
    actually ran at a month-end of the last ``lookback_months`` is the exposure the business
    has been granting, and is what the limit stage compares its proposal with.
    """
    customers, inv = tables["customers"].copy(), tables["invoices"]
    month_ends = pd.date_range(as_of - pd.DateOffset(months=lookback_months), as_of, freq="ME")
    if len(month_ends) == 0 or len(inv) == 0:
        return tables
    peak = _month_end_balances(inv, month_ends).max(axis=1)
    customers["credit_limit"] = peak.reindex(customers["customer_id"].to_numpy()).fillna(0.0).to_numpy()
    return {**tables, "customers": customers}


def derive_defaults(invoices: pd.DataFrame, as_of: pd.Timestamp, days_past_due: int) -> pd.DataFrame:
    """A default event per customer: the first day one of its invoices was ``days_past_due`` past due.

    An invoice reaches that point on ``due_date + days_past_due`` if it was still unpaid then
    (settled later, or still open); only dates before ``as_of`` are events, since later ones
    have not happened yet at the data cut.
    """
    due = invoices["due_date"].to_numpy()
    paid = invoices["paid_date"].to_numpy()
    reached = due + np.timedelta64(int(days_past_due), "D")
    hit = (np.isnat(paid) | (paid > reached)) & (reached < np.datetime64(as_of, "ns"))
    events = pd.DataFrame({"customer_id": invoices["customer_id"].to_numpy()[hit], "default_date": reached[hit]})
    first = events.groupby("customer_id", sort=True)["default_date"].min().reset_index()
    first["default_date"] = first["default_date"].astype("datetime64[ns]")
    first["default_type"] = f"derived_{int(days_past_due)}dpd"
    return first
