"""Load and validate a large invoice CSV: the streaming reader against the old whole-file read.

Usage::

    .venv/bin/python benchmarks/bench_load.py                  # 10,000,000 invoices (~1 GB CSV, ~5 min)
    .venv/bin/python benchmarks/bench_load.py --rows 1000000   # a quicker run
    .venv/bin/python benchmarks/bench_load.py --skip-old       # only the new path

Generates (seeded, written in chunks so the generator stays small) an invoice CSV like an ERP
export (``invoice_id, customer_id, invoice_date, due_date, amount, paid_date, paid_amount,
disputed``; dates as ``%d.%m.%Y``; a few broken rows) and a customers CSV, then, each in a fresh
subprocess:

* ``new``: ``credit_lab.data.io.read_table`` (columnar, streaming, progress logged) and
  ``credit_lab.data.contract.validate_ledger`` on the result;
* ``old``: the previous reader, ``pd.read_csv(path, dtype=str, skipinitialspace=True)`` on the whole
  file, then the same (new) ``validate_ledger``;
* ``old-full``: the previous reader and the previous ``validate_ledger`` (``credit_lab/data/contract.py`` as
  of commit ``6831fec``, taken from git; skipped when git does not have it).

The three must agree (row counts, quarantine, dtypes, sum of amounts), or the script stops.

Reports wall time per step, rows/s, peak RSS (``VmHWM``) after reading and at the end, and peak
RSS / CSV size; writes ``benchmarks/results_load.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATE_FORMAT = "%d.%m.%Y"
OLD_COMMIT = "6831fec"  # the last commit with the whole-file reader and row-by-row reasons
N_CUSTOMERS = 200_000


def generate(out_dir: Path, n_rows: int, seed: int = 7, chunk: int = 500_000) -> tuple[Path, Path]:
    """Write ``customers.csv`` and ``invoices.csv`` to ``out_dir`` (memory bounded by ``chunk``)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cust_path, inv_path = out_dir / "customers.csv", out_dir / "invoices.csv"
    wopts = pacsv.WriteOptions(include_header=True, quoting_style="needed")  # quotes every text cell
    wopts_plain = pacsv.WriteOptions(include_header=True, quoting_style="none")

    ids = np.char.add("C", np.char.zfill(np.arange(1, N_CUSTOMERS + 1).astype(str), 7))
    onboard = np.datetime64("2012-01-01") + rng.integers(0, 3000, N_CUSTOMERS).astype("timedelta64[D]")
    customers = pa.table({
        "customer_id": pa.array(ids),
        "customer_name": pa.array([f"Customer {i}, Ltd" for i in range(N_CUSTOMERS)]),
        "industry": pa.array(rng.choice(["Retail", "Energy", "Construction", "Food", "Transport"], N_CUSTOMERS)),
        "region": pa.array(rng.choice(["North", "South", "East", "West"], N_CUSTOMERS)),
        "onboarding_date": pc.strftime(pa.array(onboard.astype("datetime64[s]")), format=DATE_FORMAT),
        "payment_terms_days": pa.array(rng.choice([14, 30, 45, 60, 90], N_CUSTOMERS).astype(str)),
        "credit_limit": pc.cast(pa.array(np.round(rng.lognormal(10, 1, N_CUSTOMERS), -2)), pa.string()),
    })
    pacsv.write_csv(customers, cust_path, write_options=wopts)

    start = np.datetime64("2018-01-01")
    schema = pa.schema([(c, pa.string()) for c in (
        "invoice_id", "customer_id", "invoice_date", "due_date", "amount", "paid_date", "paid_amount", "disputed")])
    with pacsv.CSVWriter(inv_path, schema, write_options=wopts_plain) as writer:
        for lo in range(0, n_rows, chunk):
            m = min(chunk, n_rows - lo)
            inv_ids = np.char.add("INV", np.char.zfill(np.arange(lo + 1, lo + m + 1).astype(str), 10))
            cust = ids[rng.integers(0, N_CUSTOMERS, m)]
            issued = start + rng.integers(0, 2500, m).astype("timedelta64[D]")
            due = issued + rng.choice([14, 30, 45, 60, 90], m).astype("timedelta64[D]")
            paid = due + rng.integers(-20, 60, m).astype("timedelta64[D]")
            paid = np.maximum(paid, issued)
            is_open = rng.random(m) < 0.15
            cents = np.round(rng.lognormal(7, 1.2, m) * 100).astype(np.int64) + 1
            amount_s = pc.binary_join_element_wise(
                pc.cast(pa.array(cents // 100), pa.string()),
                pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0"), ".")
            paid_s = pc.strftime(pa.array(paid.astype("datetime64[s]")), format=DATE_FORMAT)
            mask_open = pa.array(is_open)
            paid_s = pc.if_else(mask_open, pa.scalar(None, pa.string()), paid_s)
            paid_amt = pc.if_else(mask_open, pa.scalar(None, pa.string()), amount_s)
            # A few broken rows, as real exports have: an amount that is not a number, a due date
            # before the invoice date (both go to the quarantine).
            bad = rng.random(m)
            amount_s = pc.if_else(pa.array(bad < 1e-4), pa.scalar("12.5O"), amount_s)
            due = np.where(bad > 1 - 1e-4, issued - np.timedelta64(3, "D"), due)
            batch = pa.record_batch([
                pa.array(inv_ids), pa.array(cust),
                pc.strftime(pa.array(issued.astype("datetime64[s]")), format=DATE_FORMAT),
                pc.strftime(pa.array(due.astype("datetime64[s]")), format=DATE_FORMAT),
                amount_s, paid_s, paid_amt,
                pa.array(np.where(rng.random(m) < 0.03, "yes", "no")),
            ], schema=schema)
            writer.write_batch(batch)
    return cust_path, inv_path


# ---------------------------------------------------------------------------------------------
# measured in a child process


def _peak_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    try:  # Linux: resets VmHWM to the current RSS
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass


def child(mode: str, cust_path: str, inv_path: str) -> dict:
    import logging

    import pandas as pd

    from credit_lab.core.config import TableSource
    from credit_lab.data.contract import validate_ledger
    from credit_lab.data.io import read_table

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="    %(message)s")
    if mode == "old-full":  # the validation as it was before the columnar reader, from git
        import importlib.util
        import tempfile

        src = subprocess.run(["git", "show", f"{OLD_COMMIT}:credit_lab/data/contract.py"], capture_output=True,
                             text=True, cwd=ROOT, check=True).stdout
        src = src.replace("from .exceptions", "from credit_lab.core.exceptions")
        tmp = Path(tempfile.mkdtemp()) / "old_schema.py"
        tmp.write_text(src, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("old_schema", tmp)
        old_schema = importlib.util.module_from_spec(spec)
        sys.modules["old_schema"] = old_schema
        spec.loader.exec_module(old_schema)
        validate_ledger = old_schema.validate_ledger
    base = _peak_rss()
    cust_src = TableSource(path=cust_path, date_format=DATE_FORMAT)
    inv_src = TableSource(path=inv_path, date_format=DATE_FORMAT)
    t0 = time.perf_counter()
    if mode == "new":
        customers = read_table("customers", cust_src)
        invoices = read_table("invoices", inv_src)
    else:
        customers = pd.read_csv(cust_path, dtype=str, sep=",", keep_default_na=True, skipinitialspace=True)
        invoices = pd.read_csv(inv_path, dtype=str, sep=",", keep_default_na=True, skipinitialspace=True)
    t_read = time.perf_counter() - t0
    peak_read = _peak_rss()
    t1 = time.perf_counter()
    result = validate_ledger({"customers": customers, "invoices": invoices}, on_invalid="quarantine",
                             date_formats={"customers": DATE_FORMAT, "invoices": DATE_FORMAT})
    t_validate = time.perf_counter() - t1
    peak_total = _peak_rss()
    inv = result.tables["invoices"]
    return {
        "mode": mode, "rows": len(invoices), "valid_rows": len(inv), "quarantined": len(result.quarantine),
        "read_s": t_read, "validate_s": t_validate, "total_s": t_read + t_validate,
        "baseline_rss": base, "peak_rss_read": peak_read, "peak_rss_total": peak_total,
        "amount_sum": float(inv["amount"].sum()),
        "paid_open": int(inv["paid_date"].isna().sum()),
        "dtypes": {c: str(t) for c, t in inv.dtypes.items()},
    }


def run_child(mode: str, cust: Path, inv: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(cust), str(inv)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{proc.stdout}\n{proc.stderr}")
    log = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    for ln in log[-6:]:
        print(ln)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data-dir", default=os.environ.get("TMPDIR", "/tmp") + "/credit_lab_bench_load")
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the generated CSVs")
    ap.add_argument("--out", default=str(HERE / "results_load.json"))
    ap.add_argument("--child", nargs=3, metavar=("MODE", "CUSTOMERS", "INVOICES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    data_dir = Path(args.data_dir) / f"rows_{args.rows}_seed_{args.seed}"
    cust, inv = data_dir / "customers.csv", data_dir / "invoices.csv"
    t0 = time.perf_counter()
    if not (cust.is_file() and inv.is_file()):
        print(f"generating {args.rows:,} invoices in {data_dir} ...", flush=True)
        generate(data_dir, args.rows, args.seed)
    t_gen = time.perf_counter() - t0
    size = inv.stat().st_size + cust.stat().st_size
    print(f"files: invoices {inv.stat().st_size / 1e6:,.0f} MB, customers {cust.stat().st_size / 1e6:,.1f} MB "
          f"(generated in {t_gen:.1f} s)", flush=True)
    load = os.getloadavg()
    results = {}
    modes = ["new"] if args.skip_old else ["new", "old"]
    if not args.skip_old and subprocess.run(["git", "cat-file", "-e", f"{OLD_COMMIT}:credit_lab/data/contract.py"],
                                            cwd=ROOT, capture_output=True, check=False).returncode == 0:
        modes.append("old-full")
    for mode in modes:
        print(f"running {mode} ...", flush=True)
        results[mode] = run_child(mode, cust, inv)
    load_after = os.getloadavg()

    for other in ("old", "old-full"):
        if other in results:
            new, old = results["new"], results[other]
            for key in ("rows", "valid_rows", "quarantined", "paid_open", "dtypes"):
                assert new[key] == old[key], (other, key, new[key], old[key])
            assert abs(new["amount_sum"] - old["amount_sum"]) <= 1e-9 * abs(old["amount_sum"])

    rows_md = [
        ("| path | rows | read [s] | validate [s] | total [s] | rows/s (total) | peak RSS after read [MB] "
         "| peak RSS total [MB] | peak RSS / CSV size |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, r in results.items():
        r["rows_per_s"] = r["rows"] / r["total_s"]
        r["peak_over_file"] = r["peak_rss_total"] / size
        r["read_peak_over_file"] = r["peak_rss_read"] / size
        rows_md.append(
            f"| {mode} | {r['rows']:,} | {r['read_s']:.1f} | {r['validate_s']:.1f} | {r['total_s']:.1f} "
            f"| {r['rows_per_s']:,.0f} | {r['peak_rss_read'] / 1e6:,.0f} | {r['peak_rss_total'] / 1e6:,.0f} "
            f"| {r['peak_over_file']:.2f} |"
        )
    summary = {}
    for other in ("old", "old-full"):
        if other not in results:
            continue
        new, old = results["new"], results[other]
        summary[other] = {
            "time_old_over_new": old["total_s"] / new["total_s"],
            "read_time_old_over_new": old["read_s"] / new["read_s"],
            "validate_time_old_over_new": old["validate_s"] / new["validate_s"],
            "peak_rss_old_over_new": old["peak_rss_total"] / new["peak_rss_total"],
            "read_peak_rss_old_over_new": old["peak_rss_read"] / new["peak_rss_read"],
        }
        r = summary[other]
        rows_md.append("")
        rows_md.append(
            f"{other} / new: total time {r['time_old_over_new']:.2f}x (read {r['read_time_old_over_new']:.2f}x, "
            f"validate {r['validate_time_old_over_new']:.2f}x), peak RSS {r['peak_rss_old_over_new']:.2f}x "
            f"(after reading {r['read_peak_rss_old_over_new']:.2f}x)"
        )
    print("\n".join(rows_md))
    out = {
        "rows": args.rows, "seed": args.seed, "csv_bytes": size, "invoices_bytes": inv.stat().st_size,
        "customers_bytes": cust.stat().st_size, "date_format": DATE_FORMAT, "customers": N_CUSTOMERS,
        "generate_s": t_gen, "loadavg_before": load, "loadavg_after": load_after,
        "cpus": os.cpu_count(), "python": platform.python_version(), "results": results, "summary": summary,
    }
    Path(args.out).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if not args.keep:
        for p in (cust, inv):
            p.unlink(missing_ok=True)
        try:
            data_dir.rmdir()
        except OSError:
            pass


if __name__ == "__main__":
    main()
