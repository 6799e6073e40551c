"""Writes the small test files of this folder (seeded; rerun after changing them).

* ``customer_table.csv`` — table mode: one row per customer in the shape of a public
  credit table (outcome as yes/no words, a limit and a balance, numeric features with a
  '?' missing code and a 9999 special code, categories as text and as numeric codes,
  dates as day/month/year), plus the messes: a duplicated id, a negative limit, an
  undeclared outcome value.
* ``customer_table_dictionary.csv`` — a feature dictionary for it.
* ``erp_invoices.csv`` — ledger mode: an invoice export in the shape of an ERP's
  accounts-receivable report (month/day/year dates, Yes/No disputes, Paper/Electronic
  flags, settled date empty = open), with exact duplicate rows, a reused invoice
  number, a settlement before the invoice date, credit notes (negative amounts) and
  blank dispute flags.

Run: ``.venv/bin/python tests/data/make_data.py``
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def customer_table(n: int = 1500, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(19, 75, n)
    income = np.round(rng.lognormal(10.3, 0.5, n), -2)
    utilisation = rng.beta(2, 3, n)
    late = rng.poisson(0.6, n)
    purpose = rng.choice(["car", "furniture", "education", "business", "radio/tv"], n, p=[.3, .2, .1, .15, .25])
    employment = rng.choice([1, 2, 3, 4, 5], n)
    since_delinquency = rng.integers(1, 60, n).astype(float)
    never = rng.random(n) < 0.4
    months_on_book = rng.integers(1, 120, n)
    new_customer = months_on_book < 12
    late = np.where(new_customer, 0, late)  # no payment history yet
    logit = (-3.8 + 0.5 * new_customer + 4.0 * utilisation + 0.9 * late - 0.02 * (age - 40)
             - 0.3 * (np.log(income) - 10.3)
             + np.select([purpose == "business", purpose == "education"], [0.6, 0.4], 0.0) - 0.15 * employment
             + np.where(never, -0.5, 0.0))
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    limit = np.round(income * rng.uniform(0.1, 0.4, n), -2)
    balance = np.round(limit * utilisation, 2)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    frame = pd.DataFrame({
        "client": [f"K{i:05d}" for i in range(n)],
        "opened": dates.strftime("%d/%m/%Y"),
        "defaulted": np.where(default, "yes", "no"),
        "credit_limit": limit, "balance": balance,
        "age": age.astype(str), "income": income.astype(str), "utilisation": np.round(utilisation, 4),
        "late_payments": late, "months_on_book": months_on_book, "purpose": purpose, "employment_code": employment,
        "months_since_delinquency": np.where(never, 9999, since_delinquency).astype(int),
        "branch": rng.choice(["north", "south", "east"], n),
    })
    frame.loc[rng.choice(n, 40, replace=False), "income"] = "?"
    frame.loc[rng.choice(n, 25, replace=False), "age"] = "?"
    frame.loc[5, "client"] = frame.loc[4, "client"]  # duplicated id
    frame.loc[9, "credit_limit"] = -500.0  # negative limit
    frame.loc[12, "defaulted"] = "unknown"  # outside the declared coding
    frame.loc[15, "defaulted"] = None  # no outcome: scored, not trained on
    return frame


def erp_invoices(n_customers: int = 60, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    number = 10_000
    for c in range(n_customers):
        country = rng.choice(["391", "406", "770", "818", "897"])
        paperless = rng.random() < 0.5
        slowness = rng.gamma(2.0, 6.0)
        for _ in range(rng.integers(20, 45)):
            number += 1
            inv = pd.Timestamp("2023-01-02") + pd.Timedelta(days=int(rng.integers(0, 700)))
            due = inv + pd.Timedelta(days=30)
            late = max(0, int(rng.normal(slowness, 8)))
            settled = due + pd.Timedelta(days=late - int(rng.integers(0, 10)))
            if settled < inv:
                settled = inv
            open_ = settled > pd.Timestamp("2024-12-31")
            rows.append({
                "countryCode": country, "customerID": f"{rng.integers(1000, 9999)}-{c:04d}"[-9:],
                "PaperlessDate": "1/1/2022", "invoiceNumber": str(number), "InvoiceDate": f"{inv:%m/%d/%Y}",
                "DueDate": f"{due:%m/%d/%Y}", "InvoiceAmount": f"{rng.lognormal(4, 0.6):.2f}",
                "Disputed": "Yes" if rng.random() < 0.2 else "No",
                "SettledDate": "" if open_ else f"{settled:%m/%d/%Y}",
                "PaperlessBill": "Electronic" if paperless else "Paper",
                "DaysToSettle": "" if open_ else str((settled - inv).days),
                "DaysLate": "" if open_ else str(max(0, (settled - due).days)),
            })
    frame = pd.DataFrame(rows)
    # one customer id per customer (the random prefix above varies per row otherwise)
    frame["customerID"] = frame.groupby(frame["customerID"].str[-4:])["customerID"].transform("first")
    frame = frame.sort_values("InvoiceDate", key=lambda s: pd.to_datetime(s, format="%m/%d/%Y"), kind="mergesort")
    exact_copies = frame.iloc[[3, 50]]
    reused = frame.iloc[[70]].assign(InvoiceAmount="99.99")  # same invoice number, other content
    credit_notes = frame.iloc[[100, 200]].assign(InvoiceAmount=lambda t: "-" + t["InvoiceAmount"],
                                                 invoiceNumber=lambda t: "CN" + t["invoiceNumber"])
    bad_settlement = frame.iloc[[150]].copy()
    bad_settlement["invoiceNumber"] = "999001"
    bad_settlement["SettledDate"] = "01/01/2020"
    frame = pd.concat([frame, exact_copies, reused, credit_notes, bad_settlement], ignore_index=True)
    frame.loc[[10, 20, 30], "Disputed"] = ""  # an optional flag left blank
    return frame


if __name__ == "__main__":
    customer_table().to_csv(HERE / "customer_table.csv", index=False)
    pd.DataFrame({
        "feature": ["utilisation", "late_payments", "income", "months_since_delinquency"],
        "description": ["balance / limit", "late payments in the last year", "yearly income",
                        "months since the last delinquency (9999 = never)"],
        "risk_direction": [1, 1, -1, ""],
        "reason": ["uses most of the limit", "paid late several times", "low income", "recent delinquency"],
    }).to_csv(HERE / "customer_table_dictionary.csv", index=False)
    erp_invoices().to_csv(HERE / "erp_invoices.csv", index=False)
    print("written")
