"""Benchmark: the point-in-time training set at 5,000, 20,000 and 50,000 customers, old vs new vs a group-by.

Usage::

    .venv/bin/python benchmarks/bench_features.py                     # 5k, 20k, 50k customers (~4 min)
    .venv/bin/python benchmarks/bench_features.py --sizes 5000 20000  # fewer sizes
    .venv/bin/python benchmarks/bench_features.py --skip-old          # only the new path and the baseline

Each size runs in its own subprocess on the embedded generator's ledger
(``generate_ledger(n_customers, n_months=36, seed)``, validated; about 100 invoices per customer)
with the default ``FeatureParams`` (5 training snapshots 3 months apart, 12-month lookback):

* ``new``: ``credit_lab.features.point_in_time.build_training_set`` (one compiled pass over the
  invoices for all snapshots), median of 3 after a warm-up on a small ledger (numba compilation or
  cache load);
* ``old``: the same function as it was before the one-pass rewrite (commit ``0f4e331``, taken from
  git): per snapshot a pandas group-by per feature and one per month-end; one run (it is slow).
  The child checks that old and new agree to 1e-12 (NaN where NaN) and stops if not;
* ``baseline``: a plain pandas group-by of the same invoices, ``invoices.groupby("customer_id")
  ["amount"].sum()`` (sum of amounts per customer), median of 3, measured in the same process; and
  the same in DuckDB when it is installed (``pip install -e ".[bench]"``);
* ``baseline_duckdb_same_aggregates``: one snapshot's payment-history aggregates (invoice count, days
  beyond terms mean/max/trend, shares 30/60/90 days late, oldest overdue open invoice, overdue share,
  DSO, dispute rate, ordering trend) in one DuckDB GROUP BY, against ``new_one_snapshot``
  (``build_features`` for today). The same kind of aggregates, not the same values (no population
  filter, no month-end balances, no statements): a lower bound of the features' work.

Peak memory: VmHWM over the step, reset just before it through ``/proc/self/clear_refs`` (``peak_mb``),
and the same minus the resident size before it (``peak_extra_mb``; the ledger and whatever the
allocator kept from earlier steps are in the resident size, so a step that reuses freed memory shows
little extra). Writes ``benchmarks/results_features.json`` and prints a
markdown table.
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

OLD_COMMIT = "0f4e331a873e11b6a10c6483c27c78a81ea6768c"


from history import module_at, validated_ledger  # noqa: E402 - benchmarks/ is the script's folder
from proc_memory import measure  # noqa: E402


def _same_aggregates_sql(as_of) -> str:
    """One snapshot's payment-history aggregates in one SQL GROUP BY: invoice count, days beyond terms (mean,
    max, trend), shares 30/60/90 days late, oldest overdue open invoice, overdue share of open receivables,
    DSO, dispute rate, ordering trend. It leaves out what needs month-end balances (limit breaches) and the
    statements, so it is a lower bound of what the features compute."""
    import pandas as pd

    s = pd.Timestamp(as_of)
    w, r = s - pd.DateOffset(months=12), s - pd.DateOffset(months=3)
    S, W, R = (f"TIMESTAMP '{t:%Y-%m-%d}'" for t in (s, w, r))
    late = f"date_diff('day', due_date, least(coalesce(paid_date, {S}), {S}))"
    dbt = "date_diff('day', due_date, paid_date)"
    issued, due = (f"invoice_date >= {W} AND invoice_date < {S}", f"due_date >= {W} AND due_date < {S}")
    open_ = f"invoice_date < {S} AND (paid_date IS NULL OR paid_date >= {S})"
    return f"""
    SELECT customer_id,
      count(*) FILTER (WHERE {issued}) AS invoice_count,
      avg({dbt}) FILTER (WHERE paid_date >= {W} AND paid_date < {S}) AS days_beyond_terms_mean,
      max({late}) FILTER (WHERE {due}) AS days_beyond_terms_max,
      avg(({late} > 30)::INT) FILTER (WHERE {due}) AS share_late_30,
      avg(({late} > 60)::INT) FILTER (WHERE {due}) AS share_late_60,
      avg(({late} > 90)::INT) FILTER (WHERE {due}) AS share_late_90,
      max(date_diff('day', due_date, {S})) FILTER (WHERE {open_} AND due_date < {S}) AS max_days_past_due_open,
      sum(amount) FILTER (WHERE {open_} AND due_date < {S}) / nullif(sum(amount) FILTER (WHERE {open_}), 0)
        AS overdue_share_of_open,
      365.0 * sum(amount) FILTER (WHERE {open_}) / nullif(sum(amount) FILTER (WHERE {issued}), 0) AS dso_days,
      avg({dbt}) FILTER (WHERE paid_date >= {R} AND paid_date < {S})
        - avg({dbt}) FILTER (WHERE paid_date >= {W} AND paid_date < {R}) AS lateness_trend,
      avg(disputed::INT) FILTER (WHERE {issued}) AS dispute_rate,
      (count(*) FILTER (WHERE invoice_date >= {R} AND invoice_date < {S}) / 3.0)
        / nullif(count(*) FILTER (WHERE invoice_date >= {W} AND invoice_date < {R}) / 9.0, 0) AS ordering_trend
    FROM inv GROUP BY customer_id"""




def _assert_same(new, old) -> float:
    """Largest relative difference of any float feature; raises when rows, columns or NaNs differ."""
    assert new.index.equals(old.index) and list(new.columns) == list(old.columns)
    worst = 0.0
    for col in old.columns:
        if old[col].dtype.kind == "f":
            a, b = new[col].to_numpy(), old[col].to_numpy()
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=col)
            both = ~np.isnan(b)
            if both.any():
                worst = max(worst, float(np.max(np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1.0))))
        else:
            assert new[col].equals(old[col]), col
    return worst


def child(n_customers: int, seed: int, repeats: int, skip_old: bool) -> dict:
    from credit_lab.core.config import FeatureParams
    from credit_lab.features.point_in_time import build_features, build_training_set, data_cut_date

    params = FeatureParams()
    small = validated_ledger(200, seed + 1)
    build_training_set(small, data_cut_date(small), params)  # compile or load the numba cache
    t = time.perf_counter()
    tables = validated_ledger(n_customers, seed)
    out = {"customers": n_customers, "invoices": len(tables["invoices"]), "ledger_s": time.perf_counter() - t}
    invoices = tables["invoices"]
    as_of = data_cut_date(tables)

    # the new path first, so its peak is not hidden in memory the allocator kept from other steps
    out["new"], new = measure(lambda: build_training_set(tables, as_of, params), repeats)
    out["new_one_snapshot"], _ = measure(lambda: build_features(tables, as_of, params), repeats)
    out["baseline"], _ = measure(lambda: invoices.groupby("customer_id", sort=False)["amount"].sum(), repeats)
    try:
        import duckdb  # optional: only to compare with the DuckDB figure
    except ImportError:
        out["baseline_duckdb"] = None
    else:
        frame = invoices[["customer_id", "amount"]]
        out["baseline_duckdb"], _ = measure(
            lambda: duckdb.query_df(frame, "inv", "SELECT customer_id, sum(amount) FROM inv GROUP BY 1").df(), repeats)
        cols = invoices[["customer_id", "invoice_date", "due_date", "paid_date", "amount", "disputed"]]
        sql = _same_aggregates_sql(as_of)
        out["baseline_duckdb_same_aggregates"], _ = measure(lambda: duckdb.query_df(cols, "inv", sql).df(), repeats)
    out["rows"] = len(new)
    if not skip_old:
        old_module = module_at(OLD_COMMIT, "credit_lab/features/point_in_time.py", "point_in_time_before_one_pass")
        out["old"], old = measure(lambda: old_module.build_training_set(tables, as_of, params), 1)
        out["max_rel_diff_old_new"] = _assert_same(new, old)
    return out


def _run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-3:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5_000, 20_000, 50_000], help="customers")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results_features.json")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.sizes[0], args.seed, args.repeats, args.skip_old)))
        return 0

    load_before = os.getloadavg()
    runs = [_run(["--child", "--sizes", str(n), "--seed", str(args.seed), "--repeats", str(args.repeats)]
                 + (["--skip-old"] if args.skip_old else [])) for n in args.sizes]
    results = {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_before": load_before,
               "loadavg_after": os.getloadavg(), "old_commit": OLD_COMMIT, "runs": runs}
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")

    print("| customers | invoices | old [s] | new [s] | group-by [s] | new / group-by | old / new "
          "| new s per M invoices | new peak extra [MB] | old peak extra [MB] | max rel. diff "
          "| today's features [s] | DuckDB, same aggregates [s] | today's / DuckDB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        if "error" in r:
            print(f"| error | {r['error']} |")
            continue
        new_s, base_s = r["new"]["seconds"], r["baseline"]["seconds"]
        old = r.get("old")
        one = r["new_one_snapshot"]["seconds"]
        duck = (r.get("baseline_duckdb_same_aggregates") or {}).get("seconds", float("nan"))
        print(f"| {r['customers']:,} | {r['invoices']:,} | {old['seconds'] if old else float('nan'):.1f} "
              f"| {new_s:.2f} | {base_s:.2f} | {new_s / base_s:.1f} "
              f"| {old['seconds'] / new_s if old else float('nan'):.0f} | {new_s / r['invoices'] * 1e6:.2f} "
              f"| {r['new']['peak_extra_mb']:.0f} | {old['peak_extra_mb'] if old else float('nan'):.0f} "
              f"| {r.get('max_rel_diff_old_new', float('nan')):.1e} | {one:.2f} | {duck:.2f} | {one / duck:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
