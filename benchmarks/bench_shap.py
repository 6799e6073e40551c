"""Benchmark: exact SHAP of a credit GBM, ``credit_lab.models.fast_shap.FastTreeExplainer`` vs ``shap.TreeExplainer``.

Usage::

    python benchmarks/bench_shap.py                   # 20,000 rows
    python benchmarks/bench_shap.py --rows 50000
    python benchmarks/bench_shap.py --book 1000000    # also time ours on a 1,000,000-row book
    python benchmarks/bench_shap.py --before ''       # without the previous kernel

Reference model: ``HistGradientBoostingClassifier(max_iter=200, max_leaf_nodes=31,
learning_rate=0.1, early_stopping=False, random_state=0)`` fitted on 50,000 rows of a seeded
synthetic credit-like data set with 30 features (correlated continuous ratios, skewed amounts,
counts, flags, three ratios with ~10 % NaN, noise) and a binary target with ~5 % events.
Pipeline model: the GBM of stage 03 with ``params/default.yaml``'s ``model`` section
(:class:`credit_lab.models.gbm.PDModel`: 200 rounds, 15 leaves, monotone constraints) fitted on the
same rows; its booster is what stage 04 explains.

All explainers run in this process on the same rows (fresh rows from the same generator):
``shap.TreeExplainer(model).shap_values`` (its C++ path-dependent TreeSHAP, single-threaded) and
``FastTreeExplainer(model).shap_values`` on both cores and on one core (``n_jobs=1``) to separate
the algorithmic gain from the second core. ``--before COMMIT`` also times ``fast_shap.py`` as it
was at that commit (default: the kernel before issue #13), loaded from a temporary file, on the
same rows and thread counts, interleaved with ours. Ours are warmed up on 100 rows first, so JIT
compilation is excluded from the timings; the time of that first construction + call is reported
(a load from numba's on-disk cache when one exists), and the cold compile time is measured in a
subprocess with an empty numba cache directory. The machine is shared, so times are the best of
``--repeats`` runs (medians reported too; shap: best of ``--shap-repeats``). Reported: rows/s,
speed ratios, max |ours - shap|, and the additivity error against ``decision_function``. With
``--book N`` ours (and the previous kernel) are timed on N rows, on both cores and on one, with the
peak memory added by the call; shap's time for them is extrapolated from its measured rate (not
run). Results go to ``results_shap.json`` next to this script.
"""

from __future__ import annotations

import argparse
import importlib.util
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
import pandas as pd
import shap
from sklearn.ensemble import HistGradientBoostingClassifier

from credit_lab.core.config import load_params
from credit_lab.models.fast_shap import FastTreeExplainer
from credit_lab.models.gbm import PDModel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results_shap.json"
N_FEATURES = 30
TRAIN_SEED = 0
EXPLAIN_SEED = 1
BOOK_SEED = 2
BEFORE_COMMIT = "3be88a1"  # the last commit of the H-table kernel, before issue #13
# risk directions of the pipeline model's features (+1 riskier when higher), as credit_data builds its target
MONOTONE = {0: 1, 1: -1, 10: -1, 11: 1, 16: 1, 18: 1, 20: 1, 22: -1}

sys.path.insert(0, str(HERE))
from proc_memory import measure, reset_peak, rss_mb  # noqa: E402 - benchmarks/ is the script's folder


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


def pipeline_model(n_train: int = 50_000) -> tuple[HistGradientBoostingClassifier, float]:
    """The booster of stage 03's GBM with ``params/default.yaml``'s model parameters, and its fit time."""
    X, y = credit_data(n_train, TRAIN_SEED)
    names = [f"x{j:02d}" for j in range(N_FEATURES)]
    params = load_params(ROOT / "params" / "default.yaml").model
    model = PDModel.from_params(names, params, random_state=0,
                                monotone={names[j]: sign for j, sign in MONOTONE.items()})
    start = time.perf_counter()
    model.fit(pd.DataFrame(X, columns=names), y)
    return model.gbm_, time.perf_counter() - start


def module_at(commit: str, path: str) -> object:
    """``path`` as it was at ``commit``, imported from a temporary file (numba caches need a file)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="bench_shap_before_"))
    file = folder / f"fast_shap_{commit[:7]}.py"
    file.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    return module


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Best and median wall time of ``repeats`` calls of ``fn`` (:func:`proc_memory.measure`), and the last result."""
    stats, result = measure(fn, repeats)
    return min(stats["times"]), stats["seconds"], result


def timed_pair(ours, before, repeats: int) -> dict:
    """Best and median times of ``ours`` and ``before`` (None: not run), run alternately, and ours' last result."""
    times = {"ours": [], "before": []}
    result = None
    for _ in range(repeats):
        result = None  # not held during the next calls: the peak memory is one call's
        for name, fn in (("before", before), ("ours", ours)):
            if fn is None:
                continue
            start = time.perf_counter()
            value = fn()
            times[name].append(time.perf_counter() - start)
            if name == "ours":
                result = value
            del value
    out = {"result": result}
    for name, ts in times.items():
        out[name] = (min(ts), statistics.median(ts)) if ts else (None, None)
    return out


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


def explainers(model, before) -> dict:
    """Ours and the previous kernel's, on all threads and on one, warmed up (JIT compile or cache load)."""
    warm = credit_data(100, EXPLAIN_SEED)[0]
    made = {}
    for name, module in (("ours", sys.modules[FastTreeExplainer.__module__]), ("before", before)):
        if module is None:
            continue
        for threads in (None, 1):
            made[name, threads] = module.FastTreeExplainer(model, n_jobs=threads)
            made[name, threads].shap_values(warm)
    return made


def time_book(made: dict, Xb: np.ndarray, repeats: int) -> dict:
    """Ours (and the previous kernel) on the book, all threads and one; peak memory added by our call."""
    book = {"rows": len(Xb)}
    for threads, suffix in ((None, ""), (1, "_1thread")):
        before = made.get(("before", threads))
        base = rss_mb("VmRSS")
        reset = reset_peak()
        pair = timed_pair(lambda e=made["ours", threads]: e.shap_values(Xb),
                          None if before is None else (lambda e=before: e.shap_values(Xb)), repeats)
        del pair["result"]
        book[f"fast_s{suffix}"], book[f"fast_s_median{suffix}"] = pair["ours"]
        book[f"fast_rows_per_s{suffix}"] = len(Xb) / pair["ours"][0]
        if before is not None:
            book[f"before_s{suffix}"], book[f"before_s_median{suffix}"] = pair["before"]
            book[f"speedup_vs_before{suffix}"] = pair["before"][0] / pair["ours"][0]
        if threads is None:  # the peak includes the previous kernel's call when it ran too: the same output size
            book["peak_extra_mb"] = (rss_mb("VmHWM") - base) if reset else None
    return book


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows explained by all (default 20,000)")
    parser.add_argument("--book", type=int, default=0, help="also time ours on a book of this many rows")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of ours (best and median)")
    parser.add_argument("--book-repeats", type=int, default=1, help="timed runs on the book")
    parser.add_argument("--shap-repeats", type=int, default=1, help="timed runs of shap (best)")
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--before", default=BEFORE_COMMIT,
                        help=f"also time fast_shap.py at this commit (default {BEFORE_COMMIT}; '' = not)")
    parser.add_argument("--skip-pipeline-model", action="store_true", help="only the reference model")
    parser.add_argument("--skip-cold-compile", action="store_true",
                        help="do not measure the cold JIT compile in a subprocess")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    before = module_at(args.before, "credit_lab/models/fast_shap.py") if args.before else None
    model, fit_s = reference_model(args.train_rows)
    X, _ = credit_data(args.rows, EXPLAIN_SEED)

    start = time.perf_counter()
    fast = FastTreeExplainer(model)
    fast.shap_values(X[:100])  # warm-up: JIT compile or cache load
    first_call_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = FastTreeExplainer(model)
    init_s = time.perf_counter() - start
    made = explainers(model, before)

    ref_explainer = shap.TreeExplainer(model)
    shap_s, _, ref = timed(lambda: ref_explainer.shap_values(X), args.shap_repeats)
    two = timed_pair(lambda: made["ours", None].shap_values(X),
                     None if before is None else lambda: made["before", None].shap_values(X), args.repeats)
    one = timed_pair(lambda: made["ours", 1].shap_values(X),
                     None if before is None else lambda: made["before", 1].shap_values(X), args.repeats)
    ours, ours_1 = two["result"], one["result"]
    (fast_s, fast_med), (fast1_s, fast1_med) = two["ours"], one["ours"]
    max_diff = float(np.max(np.abs(ours - ref)))
    max_diff_1 = float(np.max(np.abs(ours_1 - ref)))
    additivity = float(np.max(np.abs(fast.expected_value + ours.sum(axis=1) - model.decision_function(X))))
    ev_equal = bool(fast.expected_value == float(np.ravel(ref_explainer.expected_value)[-1]))

    n = args.rows
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_before": load_before, "numba_threads": int(__import__("numba").get_num_threads())},
        "timing": "best of the repeats (wall time); *_median: their median",
        "model": {"trees": len(model._predictors), "max_leaf_nodes": 31, "features": N_FEATURES,
                  "leaves": fast.n_leaves, "tabled_leaves": fast.n_tabled_leaves,
                  "lined_leaves": fast.n_lined_leaves, "table_mb": fast.table_bytes / 1e6,
                  "max_distinct_path_features": int(fast._max_d), "fit_s": fit_s},
        "rows": n,
        "shap_s": shap_s, "shap_rows_per_s": n / shap_s,
        "fast_s": fast_s, "fast_s_median": fast_med, "fast_rows_per_s": n / fast_s, "ratio": shap_s / fast_s,
        "fast_1thread_s": fast1_s, "fast_1thread_s_median": fast1_med, "fast_1thread_rows_per_s": n / fast1_s,
        "ratio_1thread": shap_s / fast1_s,
        "max_abs_diff": max_diff, "max_abs_diff_1thread": max_diff_1,
        "additivity_max_abs_err": additivity, "expected_value_equal": ev_equal,
        "fast_init_s": init_s, "fast_first_construct_and_call_s": first_call_s,
    }
    if before is not None:
        previous = made["before", None].shap_values(X)
        result["before"] = {
            "commit": args.before, "fast_s": two["before"][0], "fast_s_median": two["before"][1],
            "fast_1thread_s": one["before"][0], "fast_1thread_s_median": one["before"][1],
            "speedup": two["before"][0] / fast_s, "speedup_1thread": one["before"][0] / fast1_s,
            "ratio_vs_shap": shap_s / two["before"][0], "ratio_vs_shap_1thread": shap_s / one["before"][0],
            "max_abs_diff_vs_shap": float(np.max(np.abs(previous - ref))),
            "max_abs_diff_vs_ours": float(np.max(np.abs(previous - ours))),
        }
    del ours, ours_1, ref, two, one
    Xb = credit_data(args.book, BOOK_SEED)[0] if args.book else None
    if Xb is not None:
        result["book"] = time_book(made, Xb, args.book_repeats)
        result["book"]["shap_s_extrapolated"] = args.book / (n / shap_s)
    del made

    if not args.skip_pipeline_model:
        gbm, gbm_fit_s = pipeline_model(args.train_rows)
        made = explainers(gbm, before)
        gbm_shap_s, _, gbm_ref = timed(lambda: shap.TreeExplainer(gbm).shap_values(X), args.shap_repeats)
        two = timed_pair(lambda: made["ours", None].shap_values(X),
                         None if before is None else lambda: made["before", None].shap_values(X), args.repeats)
        one = timed_pair(lambda: made["ours", 1].shap_values(X),
                         None if before is None else lambda: made["before", 1].shap_values(X), args.repeats)
        pipe = {"trees": len(gbm._predictors), "max_leaf_nodes": gbm.max_leaf_nodes,
                "leaves": made["ours", None].n_leaves, "lined_leaves": made["ours", None].n_lined_leaves,
                "max_distinct_path_features": int(made["ours", None]._max_d), "fit_s": gbm_fit_s,
                "rows": n, "shap_s": gbm_shap_s,
                "fast_s": two["ours"][0], "fast_s_median": two["ours"][1],
                "fast_1thread_s": one["ours"][0], "fast_1thread_s_median": one["ours"][1],
                "ratio": gbm_shap_s / two["ours"][0], "ratio_1thread": gbm_shap_s / one["ours"][0],
                "max_abs_diff": float(np.max(np.abs(two["result"] - gbm_ref)))}
        if before is not None:
            pipe["before_fast_s"], pipe["before_fast_1thread_s"] = two["before"][0], one["before"][0]
            pipe["speedup"] = two["before"][0] / two["ours"][0]
            pipe["speedup_1thread"] = one["before"][0] / one["ours"][0]
        del two, one, gbm_ref
        if Xb is not None:
            pipe["book"] = time_book(made, Xb, args.book_repeats)
        result["pipeline_model"] = pipe
        del made
    del Xb
    if not args.skip_cold_compile:
        result["cold_compile_s"] = cold_compile_time(args.train_rows)
    result["machine"]["load_avg_after"] = os.getloadavg()
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    report(result, before is not None)
    return result


def report(result: dict, with_before: bool) -> None:
    """Print the results as markdown tables."""
    n = result["rows"]
    print(f"load average before {result['machine']['load_avg_before'][0]:.2f}, after "
          f"{result['machine']['load_avg_after'][0]:.2f}; reference model: {result['model']['leaves']} leaves, "
          f"{result['model']['lined_leaves']} lined, {result['model']['tabled_leaves']} tabled "
          f"({result['model']['table_mb']:.0f} MB of tables); times: best of the repeats")
    print()
    print("| model | explainer | rows | time [s] | rows/s | speed-up vs shap | max abs diff vs shap |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print(f"| reference | shap.TreeExplainer | {n:,} | {result['shap_s']:.2f} | {result['shap_rows_per_s']:,.0f} "
          f"| 1.0 | – |")
    rows = [("FastTreeExplainer (2 threads)", result["fast_s"], result["max_abs_diff"]),
            ("FastTreeExplainer (n_jobs=1)", result["fast_1thread_s"], result["max_abs_diff_1thread"])]
    if with_before:
        b = result["before"]
        rows += [(f"previous kernel @{b['commit']} (2 threads)", b["fast_s"], b["max_abs_diff_vs_shap"]),
                 (f"previous kernel @{b['commit']} (n_jobs=1)", b["fast_1thread_s"], b["max_abs_diff_vs_shap"])]
    for name, seconds, diff in rows:
        print(f"| reference | {name} | {n:,} | {seconds:.3f} | {n / seconds:,.0f} | "
              f"{result['shap_s'] / seconds:.1f}× | {diff:.1e} |")
    for label, section in (("reference", result.get("book")),
                           ("pipeline", result.get("pipeline_model", {}).get("book"))):
        if section is None:
            continue
        m = section["rows"]
        for suffix, threads in (("", "2 threads"), ("_1thread", "n_jobs=1")):
            print(f"| {label} | FastTreeExplainer, book ({threads}) | {m:,} | {section['fast_s' + suffix]:.2f} | "
                  f"{section['fast_rows_per_s' + suffix]:,.0f} | – | – |")
            if with_before:
                print(f"| {label} | previous kernel, book ({threads}) | {m:,} | {section['before_s' + suffix]:.2f} | "
                      f"{m / section['before_s' + suffix]:,.0f} | – | – |")
    if "book" in result:
        print(f"| reference | shap.TreeExplainer, book (extrapolated) | {result['book']['rows']:,} | "
              f"{result['book']['shap_s_extrapolated']:.0f} | {result['shap_rows_per_s']:,.0f} | – | – |")
    if "pipeline_model" in result:
        p = result["pipeline_model"]
        print(f"| pipeline | shap.TreeExplainer | {n:,} | {p['shap_s']:.2f} | {n / p['shap_s']:,.0f} | 1.0 | – |")
        print(f"| pipeline | FastTreeExplainer (2 threads) | {n:,} | {p['fast_s']:.3f} | {n / p['fast_s']:,.0f} | "
              f"{p['ratio']:.1f}× | {p['max_abs_diff']:.1e} |")
        print(f"| pipeline | FastTreeExplainer (n_jobs=1) | {n:,} | {p['fast_1thread_s']:.3f} | "
              f"{n / p['fast_1thread_s']:,.0f} | {p['ratio_1thread']:.1f}× | – |")
    print()
    if with_before:
        b = result["before"]
        line = (f"speed-up vs the previous kernel @{b['commit']}: {b['speedup']:.2f}× (2 threads), "
                f"{b['speedup_1thread']:.2f}× (1 thread) on {n:,} rows")
        for label, section in (("reference book", result.get("book")),
                               ("pipeline book", result.get("pipeline_model", {}).get("book"))):
            if section is not None:
                line += (f"; {label}: {section['speedup_vs_before']:.2f}× / "
                         f"{section['speedup_vs_before_1thread']:.2f}×")
        print(line + f"; max |previous - ours| {b['max_abs_diff_vs_ours']:.1e}")
    if "book" in result and result["book"]["peak_extra_mb"] is not None:
        print(f"book: peak memory added by the call {result['book']['peak_extra_mb']:,.0f} MB "
              f"(the result alone: {result['book']['rows'] * N_FEATURES * 8 / 1e6:,.0f} MB)")
    print(f"expected_value equal: {result['expected_value_equal']}; "
          f"additivity max error: {result['additivity_max_abs_err']:.1e}")
    print(f"ours: construct {result['fast_init_s']:.2f} s; first construct + 100-row call in this process "
          f"{result['fast_first_construct_and_call_s']:.2f} s" +
          (f"; cold JIT compile (empty cache, subprocess) {result['cold_compile_s']:.2f} s"
           if "cold_compile_s" in result else ""))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
