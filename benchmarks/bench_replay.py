"""Benchmark: the limit policy replay's walk over 1, 3 and 10 million invoices, and a demo replay.

Usage::

    .venv/bin/python benchmarks/bench_replay.py                          # 1M, 3M, 10M invoices + demo (~2 min)
    .venv/bin/python benchmarks/bench_replay.py --sizes 1000000 --skip-demo

Each size runs in its own subprocess on seeded synthetic arrays (50 invoices per customer on
average, so the customers grow with the invoices: 20,000 to 200,000; 36 months of invoices, 24
monthly reviews over the last 24, limits around two months of purchases, 3 % of customers default
in the window, 15 % of invoices never paid). Timed, median of 3 after a warm-up on a small instance
(numba compilation or cache load):

* ``walk``: ``credit_lab.limits.replay_walk.walk_arrays`` (group by customer, sort by date, the
  compiled walk, scatter back to input order);
* ``reference``: a plain numpy pass over the same invoices, measured in the same process: sort by
  (customer, date) with ``np.lexsort`` and a cumulative sum of the amounts restarted at every
  customer (what "walking the invoices in order" costs without any limit logic).

Peak memory: VmHWM over the step, reset just before it through ``/proc/self/clear_refs``, minus
the resident size before it (the input arrays). The demo replay (``generate_ledger(5000, 36)``,
24 monthly reviews, the ledger's limits and 2 x six months' purchases, 1,000 bootstrap draws) runs
in a subprocess too. Writes ``benchmarks/results_replay.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INVOICES_PER_CUSTOMER = 50
N_DAYS = 1096  # 36 months
N_REVIEWS = 24


from proc_memory import reset_peak, rss_mb  # noqa: E402 - benchmarks/ is the script's folder


def make_arrays(n_invoices: int, seed: int = 5) -> dict[str, np.ndarray]:
    """Seeded synthetic invoices (days as integers) and the per-customer inputs of the walk."""
    rng = np.random.default_rng(seed)
    n_customers = max(1, n_invoices // INVOICES_PER_CUSTOMER)
    code = rng.integers(0, n_customers, n_invoices)
    day = rng.integers(0, N_DAYS, n_invoices)
    terms = rng.choice(np.array([14, 30, 45, 60, 90]), n_invoices)
    paid = day + terms + rng.integers(-10, 40, n_invoices)
    paid = np.maximum(paid, day)
    paid[rng.random(n_invoices) < 0.15] = np.iinfo(np.int64).max // 4
    amount = np.round(rng.lognormal(7.0, 1.2, n_invoices), 2)
    monthly = np.bincount(code, weights=amount, minlength=n_customers) / 36.0
    limit = (2.0 * monthly)[:, None] * rng.lognormal(0.0, 0.3, (n_customers, N_REVIEWS))
    first = N_DAYS - 730
    bounds = np.append(first + np.round(np.arange(N_REVIEWS) * 730 / N_REVIEWS).astype(np.int64), N_DAYS)
    default_day = np.full(n_customers, np.iinfo(np.int64).max // 4)
    hit = rng.random(n_customers) < 0.03
    default_day[hit] = rng.integers(first, N_DAYS, int(hit.sum()))
    return {"code": code, "day": day, "paid": paid, "amount": amount, "loss_share": np.full(n_invoices, 0.6),
            "limit": limit, "bounds": bounds, "default_day": default_day}


def _walk(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from credit_lab.limits.replay_walk import walk_arrays

    return walk_arrays(a["code"], a["day"], a["paid"], a["amount"], a["loss_share"], a["limit"], a["bounds"],
                       a["default_day"], partial=False)


def _reference(a: dict[str, np.ndarray]) -> np.ndarray:
    order = np.lexsort((a["day"], a["code"]))
    code = a["code"][order]
    running = np.cumsum(a["amount"][order])
    first_of_customer = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    offset = np.repeat(np.r_[0.0, running[first_of_customer[1:] - 1]], np.diff(np.r_[first_of_customer, len(code)]))
    return running - offset


def child_walk(size: int, repeats: int) -> dict:
    _walk(make_arrays(20_000, seed=1))  # compile or load the numba cache
    t = time.perf_counter()
    arrays = make_arrays(size)
    build_s = time.perf_counter() - t
    out = {"size": size, "customers": int(arrays["limit"].shape[0]), "build_s": build_s}
    for name, fn in (("reference", _reference), ("walk", _walk)):
        base = rss_mb("VmRSS")
        reset = reset_peak()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            result = fn(arrays)
            times.append(time.perf_counter() - t)
            del result
        out[name] = {"seconds": statistics.median(times), "times": times,
                     "peak_extra_mb": (rss_mb("VmHWM") - base) if reset else None}
    res = _walk(arrays)
    out["blocked_share"] = float(res["blocked_amount"].sum() / arrays["amount"][arrays["day"] >= arrays["bounds"][0]]
                                 .sum())
    out["loss"] = float(res["loss"].sum())
    return out


def child_demo(seed: int) -> dict:
    from credit_lab.core.replay_params import ReplayParams
    from credit_lab.data.synthetic import generate_ledger
    from credit_lab.limits.replay import limits_as_they_were, purchases_multiple_policy, replay

    t = time.perf_counter()
    ledger = generate_ledger(n_customers=5000, n_months=36, seed=seed)
    generate_s = time.perf_counter() - t
    tables = {"customers": ledger.customers, "invoices": ledger.invoices, "defaults": ledger.defaults}
    settings = ReplayParams()
    policies = {"as they were": limits_as_they_were,
                "2 x purchases (6m)": purchases_multiple_policy(2.0, 6, settings.new_customer_limit)}
    t = time.perf_counter()
    result = replay(tables, policies, settings, end_date=ledger.end_date)
    seconds = time.perf_counter() - t
    cols = ["bad_debt", "bad_debt_low", "bad_debt_high", "blocked_sales", "orders_blocked", "lost_margin",
            "served_sales", "average_exposure", "limit_changes", "profit"]
    return {"generate_s": generate_s, "replay_s": seconds, "invoices": len(ledger.invoices),
            "defaults": len(ledger.defaults), "reviews": len(result.reviews),
            "summary": {name: {c: float(v) for c, v in row.items()}
                        for name, row in result.summary[cols].iterrows()}}


def _run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--child", choices=["walk", "demo"])
    ap.add_argument("--out", type=Path, default=HERE / "results_replay.json")
    args = ap.parse_args(argv)
    if args.child == "walk":
        print(json.dumps(child_walk(args.sizes[0], args.repeats)))
        return 0
    if args.child == "demo":
        print(json.dumps(child_demo(args.seed)))
        return 0

    load_before = os.getloadavg()
    walks = [_run(["--child", "walk", "--sizes", str(n), "--repeats", str(args.repeats)]) for n in args.sizes]
    demo = None if args.skip_demo else _run(["--child", "demo", "--seed", str(args.seed)])
    results = {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_before": load_before,
               "loadavg_after": os.getloadavg(), "walk": walks, "demo": demo}
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")

    print("| invoices | customers | walk [s] | reference [s] | walk / reference | walk s per M invoices "
          "| walk peak extra [MB] | reference peak extra [MB] |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in walks:
        if "error" in w:
            print(f"| error | {w['error']} |")
            continue
        walk_s, ref_s = w["walk"]["seconds"], w["reference"]["seconds"]
        print(f"| {w['size']:,} | {w['customers']:,} | {walk_s:.2f} | {ref_s:.2f} | {walk_s / ref_s:.2f} "
              f"| {walk_s / w['size'] * 1e6:.3f} | {w['walk']['peak_extra_mb']:.0f} "
              f"| {w['reference']['peak_extra_mb']:.0f} |")
    if demo and "error" not in demo:
        print(f"\ndemo ledger ({demo['invoices']:,} invoices, {demo['defaults']} defaults): "
              f"{demo['reviews']} reviews, 2 policies in {demo['replay_s']:.1f} s")
        for name, row in demo["summary"].items():
            print(f"  {name}: bad debt {row['bad_debt']:,.0f} "
                  f"[{row['bad_debt_low']:,.0f}, {row['bad_debt_high']:,.0f}], "
                  f"blocked sales {row['blocked_sales']:,.0f} ({row['orders_blocked']:,.0f} orders), "
                  f"profit {row['profit']:,.0f}")
    elif demo:
        print(f"demo: {demo['error']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
