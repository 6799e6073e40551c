"""Benchmark: the signal backtest and stage 02's features, per-snapshot passes vs one pass, at two book sizes.

Usage::

    .venv/bin/python benchmarks/bench_backtest.py                      # 5,000 and 50,000 customers (~2 min)
    .venv/bin/python benchmarks/bench_backtest.py --sizes 5000 20000

Each size runs in its own subprocess on ``generate_ledger(n_customers, n_months=36, seed=0)``,
validated, after a warm-up on a 200-customer ledger (numba's cache is loaded then):

* ``backtest new``: ``credit_lab.limits.review.backtest_signals`` with default settings (12 monthly
  snapshots, 13 distinct feature dates): the features of every date from one pass over the
  invoices, the signals of all customer-snapshots evaluated together; median of 3;
* ``backtest old``: the same function before the one-pass rewrite (commit ``1e3d730``, taken from
  git): ``build_features`` per date, the signals one snapshot at a time; one run. The child stops
  unless old and new panels and summaries are identical;
* ``stage 02 new``: ``build_current_and_training_set`` (today and the 5 training snapshots from one
  grouping of the invoices), median of 3; ``stage 02 old``: ``build_features`` then
  ``build_training_set``, as stage 02 did before, median of 3 (identical frames required).

Peak memory: VmHWM over the step minus the resident size before it (``/proc/self/clear_refs``).
Writes ``benchmarks/results_backtest.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OLD_COMMIT = "1e3d730"

from history import module_at, validated_ledger  # noqa: E402 - benchmarks/ is the script's folder
from proc_memory import measure  # noqa: E402


def child(n_customers: int, seed: int, repeats: int) -> dict:
    import pandas as pd

    from credit_lab.core.config import FeatureParams
    from credit_lab.features.point_in_time import (
        build_current_and_training_set,
        build_features,
        build_training_set,
        data_cut_date,
    )
    from credit_lab.limits.review import backtest_signals

    params = FeatureParams()
    small = validated_ledger(200, seed + 1)
    backtest_signals(small)
    build_current_and_training_set(small, data_cut_date(small), params)
    tables = validated_ledger(n_customers, seed)
    as_of = data_cut_date(tables)
    out = {"customers": n_customers, "invoices": len(tables["invoices"])}

    out["backtest_new"], new = measure(lambda: backtest_signals(tables), repeats, digits=3)
    out["panel_rows"] = len(new.panel)
    old_module = module_at(OLD_COMMIT, "credit_lab/limits/review/backtest.py", "backtest_before_one_pass")
    out["backtest_old"], old = measure(lambda: old_module.backtest_signals(tables), 1, digits=3)
    pd.testing.assert_frame_equal(new.panel, old.panel, check_exact=True)
    pd.testing.assert_frame_equal(new.summary, old.summary, check_exact=True)
    del new, old

    out["stage02_new"], (cur_new, train_new) = measure(
        lambda: build_current_and_training_set(tables, as_of, params), repeats, digits=3)
    out["stage02_old"], (cur_old, train_old) = measure(
        lambda: (build_features(tables, as_of, params), build_training_set(tables, as_of, params)), repeats, digits=3)
    pd.testing.assert_frame_equal(cur_new, cur_old, check_exact=True)
    pd.testing.assert_frame_equal(train_new, train_old, check_exact=True)
    return out


def _table(results: list[dict]) -> str:
    lines = ["| customers | invoices | backtest old [s] | backtest new [s] | old / new | backtest peak extra old / new "
             "[MB] | stage 02 features old [s] | new [s] | old / new |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        bo, bn = r["backtest_old"], r["backtest_new"]
        so, sn = r["stage02_old"], r["stage02_new"]
        lines.append(f"| {r['customers']:,} | {r['invoices']:,} | {bo['seconds']:.2f} | {bn['seconds']:.2f} | "
                     f"{bo['seconds'] / bn['seconds']:.1f}× | "
                     f"{bo['peak_extra_mb']:,.0f} / {bn['peak_extra_mb']:,.0f} | "
                     f"{so['seconds']:.2f} | {sn['seconds']:.2f} | {so['seconds'] / sn['seconds']:.2f}× |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.seed, args.repeats)))
        return
    results = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(n), "--seed", str(args.seed),
                               "--repeats", str(args.repeats)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"size {n} failed:\n{proc.stderr}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{n:,}: backtest old {results[-1]['backtest_old']['seconds']} s, new "
              f"{results[-1]['backtest_new']['seconds']} s", flush=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    table = _table(results)
    (HERE / "results_backtest.json").write_text(json.dumps({"load_average": load, "results": results,
                                                            "table": table}, indent=1), encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
