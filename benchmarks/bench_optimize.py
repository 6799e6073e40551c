"""Benchmark: exact limit optimization (credit_lab.limits.optimizer) against HiGHS on the same LP.

Usage::

    python benchmarks/bench_optimize.py                       # 100,000 and 1,000,000 customers
    python benchmarks/bench_optimize.py --sizes 100000        # one size
    python benchmarks/bench_optimize.py --with-highs-1m       # also HiGHS IPM at 1,000,000 (~45 s, ~11 GB)
    python benchmarks/bench_optimize.py --with-simplex        # also linprog(method="highs") (slow)

Every solver runs in its own subprocess on the same seeded instance (10 industries,
5 regions, 5 pieces, all constraints, budgets that bind), so peak memory is per solver.
"solve peak RSS" is the process's high-water mark during the solve, including the problem
data already in memory (reset before the solve through /proc/self/clear_refs where Linux
allows it, else the whole process's peak); "process peak" also covers generating the
synthetic customers and building the problem. The parent checks that the objectives agree
and reports each solution's largest constraint violation (relative to max(1, |bound|)).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time

from proc_memory import reset_peak, rss_mb  # noqa: E402 - benchmarks/ is the script's folder


def child(solver: str, size: int, seed: int, repeats: int) -> dict:
    """Build the instance, run one solver, report time, memory, objective and violations."""
    import resource

    import numpy as np

    from credit_lab.limits.optimizer import (
        build_problem,
        constraint_violations,
        optimize_limits,
        solve_with_highs,
        synthetic_limit_inputs,
    )

    t0 = time.perf_counter()
    customers, policy = synthetic_limit_inputs(size, seed=seed, tightness=0.6)
    problem = build_problem(customers, policy)
    build_s = time.perf_counter() - t0
    del customers
    gc.collect()
    if solver == "fast":
        optimize_limits(build_problem(*synthetic_limit_inputs(2000, seed=seed)))  # imports and first-call costs
    rss_before = rss_mb("VmRSS")
    # ru_maxrss shares the kernel's high-water mark with VmHWM: read it before resetting.
    build_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    reset = reset_peak()
    times = []
    runs = repeats if solver == "fast" else 1
    for _ in range(runs):
        t = time.perf_counter()
        if solver == "fast":
            res = optimize_limits(problem, seed=seed)
        else:
            res = solve_with_highs(problem, method=solver)
        times.append(time.perf_counter() - t)
    peak = rss_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    process_peak = max(build_peak, peak)
    viol = constraint_violations(problem, res.limits)
    return {
        "solver": solver, "size": size, "build_s": build_s, "times": times, "seconds": float(np.median(times)),
        "rss_before_mb": rss_before, "peak_rss_mb": peak, "peak_is_solve_only": reset, "process_peak_mb": process_peak,
        "objective": res.objective, "dual_bound": res.dual_bound, "max_violation": max(viol.values()),
        "binding": int(res.binding.shape[0]), "n_pieces": int(problem.widths.size),
        "rounds": len(res.stats),
    }


def run_child(solver: str, size: int, seed: int, repeats: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", solver, "--sizes", str(size), "--seed", str(seed),
           "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"solver": solver, "size": size, "error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of the fast solver (median reported)")
    ap.add_argument("--with-highs-1m", action="store_true", help="run HiGHS also at sizes >= 1,000,000")
    ap.add_argument("--with-simplex", action="store_true", help="also time linprog(method='highs') (dual simplex)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.sizes[0], args.seed, args.repeats)))
        return 0

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    rows = []
    for size in args.sizes:
        solvers = ["fast"]
        if size < 1_000_000 or args.with_highs_1m:
            solvers.append("highs-ipm")
            if args.with_simplex:
                solvers.append("highs")
        results = [run_child(s, size, args.seed, args.repeats) for s in solvers]
        fast = results[0]
        for r in results:
            if "error" in r:
                rows.append((size, r["solver"], "failed: " + " ".join(r["error"]), "", "", "", "", "", ""))
                continue
            rel = (abs(r["objective"] - fast["objective"]) / max(1.0, abs(r["objective"]))
                   if "objective" in fast else None)
            ratio = r["seconds"] / fast["seconds"] if "seconds" in fast else None
            rows.append((size, r["solver"], f"{r['seconds']:.3f}", f"{r['peak_rss_mb']:.0f}",
                         f"{r['process_peak_mb']:.0f}", f"{r['objective']:.9e}",
                         "-" if r is fast else f"{rel:.1e}", f"{r['max_violation']:.1e}",
                         "1.0" if r is fast else f"{ratio:.1f}x"))
        if "error" not in fast:
            print(f"n={size:,}: {fast['n_pieces']:,} pieces, {fast['binding']} binding coupling rows, "
                  f"build {fast['build_s']:.2f} s, fast-solver runs {[round(t, 3) for t in fast['times']]}, "
                  f"RSS before solve {fast['rss_before_mb']:.0f} MB, gap {fast['dual_bound'] - fast['objective']:.2e}")
    head = ("customers", "solver", "time [s]", "solve peak RSS [MB]", "process peak [MB]", "objective", "rel. diff",
            "max viol.", "time / fast")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for line in [head] + rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
