"""Shared fixtures: small ledgers built in code, one shared smoke run, and the test kinds.

Every test carries one of three markers, set here at collection (``make test-unit`` runs ``-m unit``):

* ``notebook``: a cell of a notebook in ``notebooks/`` (nbval);
* ``e2e``: runs the CLI, the pipeline or the report stages over a run folder;
* ``unit``: everything else (functions on small frames built in code, property tests).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session):
    # The notebooks' default run folder (used by nbval) must not carry results of older code.
    # Only a session that runs the notebooks clears it: another pytest run on unit tests at the
    # same time must not pull it from under a notebook that is executing. Under pytest-xdist only
    # the controller clears it, before any worker runs a cell.
    if hasattr(session.config, "workerinput"):
        return
    targets = [Path(a.split("::")[0]).resolve() for a in session.config.args]
    notebooks = (ROOT / "notebooks").resolve()
    if any(t == notebooks or t == ROOT or notebooks in t.parents for t in targets):
        shutil.rmtree(ROOT / "outputs" / "notebook-smoke", ignore_errors=True)


# Modules owned by other suites whose every test runs report stages end to end. Modules that are
# e2e throughout say so themselves with ``pytestmark = pytest.mark.e2e``; single tests with
# ``@pytest.mark.e2e``; a test that asks for the shared smoke run is e2e wherever it is.
E2E_MODULES = {"test_stages.py"}
KINDS = ("unit", "notebook", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
        elif item.path.name in E2E_MODULES or "smoke_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
        if not any(item.get_closest_marker(k) for k in KINDS):
            item.add_marker(pytest.mark.unit)


def cli(*args, cwd=ROOT, timeout=900):
    """Run the credit-lab command in a new process, as a user would."""
    return subprocess.run([sys.executable, "-m", "credit_lab.run.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One CLI run of params/smoke.yaml, shared by the end-to-end tests (read-only: copy before changing)."""
    out = tmp_path_factory.mktemp("outputs")
    proc = cli("run", ROOT / "params" / "smoke.yaml", "--output-dir", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "smoke", proc


HOSTILE_NAMES = ['<script>alert("name")</script>', "O'Brien & \"Sons\" {{7*7}}", "=HYPERLINK(\"http://evil\")",
                 "<img src=x onerror=alert(1)>"]
HOSTILE_ID = '"><script>alert("id")</script>'


def _write_ledger_files(folder: Path) -> dict:
    """A small ledger in the shape of an export (other column names, US dates) with hostile names and an id."""
    from credit_lab.data.synthetic import generate_ledger

    ledger = generate_ledger(n_customers=400, n_months=24, seed=3)
    folder.mkdir(parents=True, exist_ok=True)
    cust, inv, defaults = ledger.customers.copy(), ledger.invoices.copy(), ledger.defaults.copy()
    cust.loc[:3, "customer_name"] = HOSTILE_NAMES
    old_id = cust.loc[4, "customer_id"]
    for table in (cust, inv, defaults):
        table.loc[table["customer_id"] == old_id, "customer_id"] = HOSTILE_ID
    financials = ledger.financials.replace({"customer_id": {old_id: HOSTILE_ID}})
    cust = cust.rename(columns={"customer_id": "Account", "credit_limit": "Credit Limit"})
    inv = inv.rename(columns={"customer_id": "Account", "invoice_id": "Doc No"})
    for col in ("invoice_date", "due_date", "paid_date"):
        inv[col] = inv[col].dt.strftime("%m/%d/%Y")
    cust.to_csv(folder / "customers.csv", index=False)
    inv.to_csv(folder / "invoices.csv", index=False)
    financials.to_parquet(folder / "financials.parquet")
    defaults.to_csv(folder / "defaults.csv", index=False)
    # relative paths: resolved from the folder the command runs in
    return {
        "run_id": "mine", "seed": 5, "output_dir": "out",
        "data": {"source": "files", "files": {
            "customers": {"path": f"{folder.name}/customers.csv",
                          "columns": {"customer_id": "Account", "credit_limit": "Credit Limit"}},
            "invoices": {"path": f"{folder.name}/invoices.csv", "date_format": "%m/%d/%Y",
                         "columns": {"customer_id": "Account", "invoice_id": "Doc No"}},
            "financials": {"path": f"{folder.name}/financials.parquet"},
            "defaults": {"path": f"{folder.name}/defaults.csv"},
        }},
        "features": {"training_snapshots": 3}, "model": {"max_iter": 40},
        "explain": {"explain_customers": [HOSTILE_ID, "<b>no such customer</b>"]},
    }


@pytest.fixture(scope="session")
def own_files_run(tmp_path_factory):
    """One CLI run on your own files: an export-shaped ledger with hostile names and ids (read-only: copy first).

    Returns the folder the command ran in (``in/`` the files, ``good.yaml`` the params, ``out/mine`` the
    run) and the finished process.
    """
    import yaml

    base = tmp_path_factory.mktemp("own_files")
    params = _write_ledger_files(base / "in")
    (base / "good.yaml").write_text(yaml.safe_dump(params))
    proc = cli("run", "good.yaml", "--json", cwd=base)  # as a scheduler would call it
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return base, proc


@pytest.fixture(scope="session")
def small_ledger():
    from credit_lab.data.synthetic import generate_ledger

    return generate_ledger(n_customers=300, n_months=24, seed=11)


@pytest.fixture()
def small_tables(small_ledger):
    from credit_lab.data.contract import validate_ledger

    raw = {t: getattr(small_ledger, t).copy() for t in
           ("customers", "invoices", "financials", "defaults", "industry_outlook")}
    return validate_ledger(raw).tables


def tiny_customers(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": ["C1", "C2", "C3"],
        "customer_name": ["Alpha Ltd", "Beta GmbH", "Gamma S.A."],
        "industry": ["Retail", "Retail", "Energy"],
        "region": ["North", "South", "North"],
        "onboarding_date": ["2020-01-01", "2021-06-15", "2022-03-01"],
        "payment_terms_days": ["30", "60", "45"],
        "credit_limit": ["10000", "20000", "5000"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def tiny_invoices(**overrides) -> pd.DataFrame:
    base = {
        "invoice_id": ["I1", "I2", "I3", "I4"],
        "customer_id": ["C1", "C1", "C2", "C3"],
        "invoice_date": ["2023-01-10", "2023-02-10", "2023-01-05", "2023-03-01"],
        "due_date": ["2023-02-09", "2023-03-12", "2023-03-06", "2023-04-15"],
        "amount": ["1000", "2000", "500", "750"],
        "paid_date": ["2023-02-19", None, "2023-03-01", "2023-05-01"],
        "paid_amount": ["1000", None, "500", "750"],
        "disputed": ["no", "yes", "false", "0"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def invoice_rows(rows) -> pd.DataFrame:
    """A validated-shape invoice table from tuples (id, customer, issued, due, paid or None, amount,
    paid_amount or None[, disputed]); without the eighth field no invoice is disputed."""
    cols = ["invoice_id", "customer_id", "invoice_date", "due_date", "paid_date", "amount", "paid_amount",
            "disputed"]
    f = pd.DataFrame([tuple(r) + (False,) * (len(cols) - len(r)) for r in rows], columns=cols)
    for c in ("invoice_date", "due_date", "paid_date"):
        f[c] = pd.to_datetime(f[c])
    f["amount"] = f["amount"].astype(float)
    f["paid_amount"] = f["paid_amount"].astype(float)
    f["disputed"] = f["disputed"].astype(bool)
    return f


def local_and_dask_upstream(tmp_path: Path, scheduler_address: str, n_customers: int,
                            compute: dict | None = None) -> tuple[Path, Path, Path]:
    """Stages 01-05 of params/smoke.yaml (``n_customers``) in ``tmp_path/local``, and the params of the same run
    on the local engine and on the Dask cluster at ``scheduler_address`` (with ``compute``'s extra keys): the
    upstream a test of one stage under both engines starts from."""
    import yaml

    from credit_lab.run import stages

    raw = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text())
    raw["data"]["synthetic"]["n_customers"] = n_customers
    local_params = tmp_path / "local.yaml"
    local_params.write_text(yaml.safe_dump(raw))
    raw["compute"] = {"engine": "dask", "scheduler_address": scheduler_address, **(compute or {})}
    dask_params = tmp_path / "dask.yaml"
    dask_params.write_text(yaml.safe_dump(raw))
    local = tmp_path / "local"
    for stage in ("01_data_quality", "02_features", "03_model", "04_scoring_explain", "05_limits"):
        stages.STAGES[stage][1](stages.open_stage(stage, local, local_params))
    return local, local_params, dask_params
