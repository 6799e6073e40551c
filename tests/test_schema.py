import numpy as np
import pandas as pd
import pytest

from credit_lab.core.exceptions import SchemaError
from credit_lab.data.contract import SCHEMAS, validate_ledger, validate_table
from tests.conftest import tiny_customers, tiny_invoices


def test_clean_tiny_ledger_is_typed():
    v = validate_ledger({"customers": tiny_customers(), "invoices": tiny_invoices()})
    inv = v.tables["invoices"]
    assert inv["amount"].dtype == float and str(inv["invoice_date"].dtype) == "datetime64[ns]"
    assert inv["disputed"].tolist() == [False, True, False, False]
    assert inv["paid_date"].isna().sum() == 1  # the open invoice stays open
    assert v.tables["customers"]["payment_terms_days"].tolist() == [30, 60, 45]
    assert len(v.quarantine) == 0 and v.violations == []


def test_missing_required_column_names_table_column_and_available():
    cust = tiny_customers().drop(columns=["credit_limit"])
    with pytest.raises(SchemaError) as err:
        validate_ledger({"customers": cust, "invoices": tiny_invoices()})
    msg = str(err.value)
    assert "'customers'" in msg and "credit_limit" in msg and "available columns" in msg and "payment_terms_days" in msg


def test_duplicate_customer_id_fails_with_count_and_example():
    cust = tiny_customers(customer_id=["C1", "C1", "C3"])
    with pytest.raises(SchemaError) as err:
        validate_ledger({"customers": cust, "invoices": tiny_invoices(customer_id=["C1", "C1", "C3", "C3"])})
    msg = str(err.value)
    assert "table 'customers', column 'customer_id', rule 'unique': 2 row(s)" in msg
    assert "e.g. C1" in msg


def test_quarantine_keeps_every_bad_row_with_reasons_and_cascades_references():
    cust = tiny_customers(customer_id=["C1", "C2", "C2"])  # C2 duplicated -> both copies out
    inv = tiny_invoices(amount=["1000", "-5", "500", "abc"])
    v = validate_ledger({"customers": cust, "invoices": inv}, on_invalid="quarantine")
    assert v.tables["customers"]["customer_id"].tolist() == ["C1"]
    q = v.quarantine.set_index(["table", "row_number"])["reasons"]
    assert "customer_id:unique" in q[("customers", 2)] and "customer_id:unique" in q[("customers", 3)]
    assert "amount:range" in q[("invoices", 2)]
    assert "customer_id:reference" in q[("invoices", 3)]  # C2 was quarantined
    assert "amount:type" in q[("invoices", 4)]
    # nothing silently dropped: every input row is either valid or quarantined
    assert len(v.tables["invoices"]) + (v.quarantine["table"] == "invoices").sum() == len(inv)


def test_type_range_and_row_rules():
    inv = tiny_invoices(due_date=["2023-01-01", "2023-03-12", "not a date", "2023-04-15"],
                        paid_date=["2023-02-19", None, "2023-03-01", "2023-02-01"])
    with pytest.raises(SchemaError) as err:
        validate_ledger({"customers": tiny_customers(), "invoices": inv})
    msg = str(err.value)
    assert "rule 'type'" in msg and "not a date" in msg
    assert "due_not_before_invoice" in msg and "paid_not_before_invoice" in msg


def test_declared_date_format_and_its_error():
    inv = tiny_invoices(invoice_date=["01/10/2023", "02/10/2023", "01/05/2023", "03/01/2023"],
                        due_date=["02/09/2023", "03/12/2023", "03/06/2023", "04/15/2023"],
                        paid_date=["02/19/2023", None, "03/01/2023", "05/01/2023"])
    v = validate_ledger({"customers": tiny_customers(), "invoices": inv}, date_formats={"invoices": "%m/%d/%Y"})
    assert v.tables["invoices"]["invoice_date"].iloc[0] == pd.Timestamp("2023-01-10")
    with pytest.raises(SchemaError, match="%d/%m/%Y"):
        validate_ledger({"customers": tiny_customers(), "invoices": inv}, date_formats={"invoices": "%d/%m/%Y"})


def test_absent_optional_columns_are_reported_assumptions():
    v = validate_ledger({"customers": tiny_customers(), "invoices": tiny_invoices().drop(columns=["disputed"])})
    assert (v.tables["invoices"]["disputed"] == False).all()  # noqa: E712
    assert any("invoices.disputed not supplied" in a for a in v.assumptions)
    assert any("customers.insurance_cover_pct not supplied" in a for a in v.assumptions)


def test_bad_boolean_and_infinite_and_fractional_int():
    cust = tiny_customers(payment_terms_days=["30", "60.5", "45"], credit_limit=["1e3", "inf", "5"])
    inv = tiny_invoices(disputed=["no", "maybe", "false", "0"])
    with pytest.raises(SchemaError) as err:
        validate_ledger({"customers": cust, "invoices": inv})
    msg = str(err.value)
    assert "payment_terms_days', rule 'type'" in msg and "credit_limit', rule 'type'" in msg
    assert "disputed', rule 'type'" in msg and "maybe" in msg


def test_required_tables_and_unknown_tables():
    with pytest.raises(SchemaError, match="'invoices' is required"):
        validate_ledger({"customers": tiny_customers()})
    with pytest.raises(SchemaError, match="unknown input table"):
        validate_ledger({"customers": tiny_customers(), "invoices": tiny_invoices(), "payments": pd.DataFrame()})


def test_every_rule_of_every_schema_is_declared_with_existing_columns():
    for schema in SCHEMAS.values():
        names = set(schema.column_names)
        assert set(schema.key) <= names
        for rule in schema.row_rules:
            assert set(rule.columns) <= names
        for ref in schema.references:
            assert ref.table in SCHEMAS and ref.target_column in SCHEMAS[ref.table].column_names


def test_native_types_pass_through(small_ledger):
    v = validate_ledger({t: getattr(small_ledger, t) for t in
                         ("customers", "invoices", "financials", "defaults", "industry_outlook")})
    assert v.violations == []
    assert len(v.tables["invoices"]) == len(small_ledger.invoices)
    table, reasons, violations, _ = validate_table(small_ledger.customers, SCHEMAS["customers"])
    assert (reasons == "").all() and np.isfinite(table["credit_limit"]).all()


def test_bidi_controls_become_visible_and_trimmed_ids_are_counted():
    raw = pd.DataFrame({"customer_id": ["\tA1", "B2 ", "C3"], "customer_name": ["Acme\u202eLtd", "Bolt", None],
                        "industry": ["X"] * 3, "region": ["N"] * 3, "onboarding_date": ["2024-01-01"] * 3,
                        "payment_terms_days": ["30"] * 3, "credit_limit": ["0"] * 3})
    for frame in (raw, raw.astype("string[pyarrow]")):  # the reader's Arrow-backed text and plain text alike
        table, reasons, violations, notes = validate_table(frame, SCHEMAS["customers"])
        assert table["customer_name"].tolist()[:2] == ["Acme<U+202E>Ltd", "Bolt"]
        assert not table["customer_name"].str.contains("\u202e").fillna(False).any()
        assert table["customer_id"].tolist() == ["A1", "B2", "C3"]
        assert any(n.startswith("customers.customer_id: 2 value(s) had spaces or tabs") for n in notes)
        assert any(n.startswith("customers.customer_name: 1 value(s) held invisible bidirectional") for n in notes)
        assert violations == []
