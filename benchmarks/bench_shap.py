"""Benchmark: exact SHAP of a credit GBM, ``credit_lab.models.fast_shap.FastTreeExplainer`` vs ``shap.TreeExplainer``.

Usage::

    python benchmarks/bench_shap.py                   # 20,000 rows
    python benchmarks/bench_shap.py --rows 50000
    python benchmarks/bench_shap.py --book 1000000    # also time ours on a 1,000,000-row book

Reference model: ``HistGradientBoostingClassifier(max_iter=200, max_leaf_nodes=31,
learning_rate=0.1, early_stopping=False, random_state=0)`` fitted on 50,000 rows of a seeded
synthetic credit-like data set with 30 features (correlated continuous ratios, skewed amounts,
counts, flags, three ratios with ~10 % NaN, noise) and a binary target with ~5 % events.

Both explainers run in this process on the same rows (fresh rows from the same generator):
``shap.TreeExplainer(model).shap_values`` (its C++ path-dependent TreeSHAP, single-threaded) and
``FastTreeExplainer(model).shap_values`` on both cores, and on one core (``n_jobs=1``) to
separate the algorithmic gain from the second core. Ours is warmed up on 100 rows first, so JIT
compilation is excluded from its timing; the time of that first construction + call is reported
(it is a load from numba's on-disk cache when one exists), and the cold compile time is measured
in a subprocess with an empty numba cache directory. Reported: rows/s (median of ``--repeats``
runs for ours, ``--shap-repeats`` for shap), speed ratio, max |ours - shap|, and the additivity
error against ``decision_function``. Results go to ``results_shap.json`` next to this script.
With ``--book N`` ours is timed on N rows and shap's time for them is extrapolated from its
measured rate (not run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shap
from sklearn.ensemble import HistGradientBoostingClassifier

from credit_lab.models.fast_shap import FastTreeExplainer

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_shap.json"
N_FEATURES = 30
TRAIN_SEED = 0
EXPLAIN_SEED = 1
BOOK_SEED = 2


def credit_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded synthetic credit-like features (30 columns) and default flags (~5 % events)."""
    rng = np.random.default_rng(seed)
    cols = []
    latent = rng.normal(size=(n, 3))
    for j in range(10):  # correlated continuous ratios (leverage, margins, ...)
        cols.append(0.6 * latent[:, j % 3] + 0.8 * rng.normal(size=n))
    for _ in range(6):  # skewed amounts (exposure, turnover, ...)
        cols.append(rng.lognormal(10.0, 1.5, n))
    for lam in (0.3, 1.0, 2.0, 5.0):  # counts (late payments, inquiries, ...)
        cols.append(rng.poisson(lam, n).astype(float))
    for p in (0.1, 0.3, 0.5, 0.7):  # flags
        cols.append((rng.random(n) < p).astype(float))
    for _ in range(3):  # ratios with ~10 % missing
        col = rng.gamma(2.0, 0.5, n)
        col[rng.random(n) < 0.10] = np.nan
        cols.append(col)
    for _ in range(3):  # noise
        cols.append(rng.uniform(size=n))
    X = np.column_stack(cols)
    score = (0.9 * X[:, 0] - 0.6 * X[:, 1] + 0.4 * X[:, 2] * X[:, 3] - 0.35 * np.log(X[:, 10])
             + 0.25 * np.log(X[:, 11]) + 0.5 * X[:, 16] + 0.15 * X[:, 18] + 0.6 * X[:, 20]
             - 0.4 * X[:, 22] + 0.5 * np.nan_to_num(X[:, 24], nan=2.0) + 0.4 * np.abs(X[:, 5])
             + 0.6 * np.isnan(X[:, 25]))
    offset = np.quantile(score, 0.95) + 0.5  # ~5 % events after the logistic noise
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(score - offset) * 2.0))).astype(int)
    return X, y


def reference_model(n_train: int = 50_000) -> tuple[HistGradientBoostingClassifier, float]:
    """The reference GBM and its fit time."""
    X, y = credit_data(n_train, TRAIN_SEED)
    model = HistGradientBoostingClassifier(max_iter=200, max_leaf_nodes=31, learning_rate=0.1,
                                           early_stopping=False, random_state=0)
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls of ``fn`` and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


COLD_SNIPPET = """
import sys, time
sys.path.insert(0, {here!r})
from bench_shap import reference_model, credit_data
model, _ = reference_model({n_train})
X, _ = credit_data(100, 1)
from credit_lab.models.fast_shap import FastTreeExplainer
start = time.perf_counter()
FastTreeExplainer(model).shap_values(X)
print(time.perf_counter() - start)
"""


def cold_compile_time(n_train: int) -> float:
    """Construction + first call of ours in a fresh process with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        code = COLD_SNIPPET.format(here=str(HERE), n_train=n_train)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows explained by both (default 20,000)")
    parser.add_argument("--book", type=int, default=0, help="also time ours on a book of this many rows")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours (median)")
    parser.add_argument("--shap-repeats", type=int, default=1, help="timed runs of shap (median)")
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--skip-cold-compile", action="store_true",
                        help="do not measure the cold JIT compile in a subprocess")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    model, fit_s = reference_model(args.train_rows)
    X, _ = credit_data(args.rows, EXPLAIN_SEED)

    start = time.perf_counter()
    fast = FastTreeExplainer(model)
    fast.shap_values(X[:100])  # warm-up: JIT compile or cache load
    first_call_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = FastTreeExplainer(model)
    init_s = time.perf_counter() - start
    fast_1 = FastTreeExplainer(model, n_jobs=1)

    ref_explainer = shap.TreeExplainer(model)
    shap_s, ref = timed(lambda: ref_explainer.shap_values(X), args.shap_repeats)
    fast_s, ours = timed(lambda: fast.shap_values(X), args.repeats)
    fast1_s, ours_1 = timed(lambda: fast_1.shap_values(X), args.repeats)
    max_diff = float(np.max(np.abs(ours - ref)))
    max_diff_1 = float(np.max(np.abs(ours_1 - ref)))
    additivity = float(np.max(np.abs(fast.expected_value + ours.sum(axis=1) - model.decision_function(X))))
    ev_equal = bool(fast.expected_value == float(np.ravel(ref_explainer.expected_value)[-1]))

    n = args.rows
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_before": load_before, "numba_threads": int(__import__("numba").get_num_threads())},
        "model": {"trees": len(model._predictors), "max_leaf_nodes": 31, "features": N_FEATURES,
                  "leaves": fast.n_leaves, "tabled_leaves": fast.n_tabled_leaves,
                  "max_distinct_path_features": int(fast._max_d), "fit_s": fit_s},
        "rows": n,
        "shap_s": shap_s, "shap_rows_per_s": n / shap_s,
        "fast_s": fast_s, "fast_rows_per_s": n / fast_s, "ratio": shap_s / fast_s,
        "fast_1thread_s": fast1_s, "fast_1thread_rows_per_s": n / fast1_s, "ratio_1thread": shap_s / fast1_s,
        "max_abs_diff": max_diff, "max_abs_diff_1thread": max_diff_1,
        "additivity_max_abs_err": additivity, "expected_value_equal": ev_equal,
        "fast_init_s": init_s, "fast_first_construct_and_call_s": first_call_s,
    }
    if args.book:
        Xb, _ = credit_data(args.book, BOOK_SEED)
        start = time.perf_counter()
        fast.shap_values(Xb)
        book_s = time.perf_counter() - start
        result["book"] = {"rows": args.book, "fast_s": book_s, "fast_rows_per_s": args.book / book_s,
                          "shap_s_extrapolated": args.book / (n / shap_s)}
        del Xb
    if not args.skip_cold_compile:
        result["cold_compile_s"] = cold_compile_time(args.train_rows)
    result["machine"]["load_avg_after"] = os.getloadavg()
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

    print(f"load average before {load_before[0]:.2f}, after {result['machine']['load_avg_after'][0]:.2f}; "
          f"{fast.n_leaves} leaves, {fast.n_tabled_leaves} tabled")
    print()
    print("| explainer | rows | time [s] | rows/s | speed-up vs shap | max abs diff vs shap |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| shap.TreeExplainer | {n:,} | {shap_s:.2f} | {n / shap_s:,.0f} | 1.0 | – |")
    print(f"| FastTreeExplainer (2 threads) | {n:,} | {fast_s:.3f} | {n / fast_s:,.0f} | "
          f"{shap_s / fast_s:.1f}× | {max_diff:.1e} |")
    print(f"| FastTreeExplainer (n_jobs=1) | {n:,} | {fast1_s:.3f} | {n / fast1_s:,.0f} | "
          f"{shap_s / fast1_s:.1f}× | {max_diff_1:.1e} |")
    if args.book:
        b = result["book"]
        print(f"| FastTreeExplainer, book (2 threads) | {b['rows']:,} | {b['fast_s']:.2f} | "
              f"{b['fast_rows_per_s']:,.0f} | – | – |")
        print(f"| shap.TreeExplainer, book (extrapolated) | {b['rows']:,} | {b['shap_s_extrapolated']:.0f} | "
              f"{n / shap_s:,.0f} | – | – |")
    print()
    print(f"expected_value equal: {ev_equal}; additivity max error: {additivity:.1e}")
    print(f"ours: construct {init_s:.2f} s; first construct + 100-row call in this process "
          f"{first_call_s:.2f} s" + (f"; cold JIT compile (empty cache, subprocess) "
                                     f"{result['cold_compile_s']:.2f} s" if "cold_compile_s" in result else ""))
    print(f"wrote {RESULTS}")
    return result


if __name__ == "__main__":
    main()
