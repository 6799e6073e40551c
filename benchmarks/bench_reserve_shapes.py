"""Benchmark: the reserve stage's loss work on a small high-PD book against a large one (issue 16).

Usage::

    python benchmarks/bench_reserve_shapes.py                 # 1,000 and 30,000 obligors
    python benchmarks/bench_reserve_shapes.py --sizes 1000 5000 30000 --repeat 3

Instance (seeded, ``card_book``): a card-table-like book in one segment ('all'): 20 % of the
obligors with a PD uniform in 30-95 %, the rest lognormal around 3 % (clipped to 0.01 %-30 %);
EADs lognormal (median 5,000, sigma 1); LGD 45 %; Basel correlation, default ``reserve`` params.

Timed in one run, per book size and lattice rule (``adaptive_grid`` False = the fixed 32,768-point
lattice of before, True = the lattice sized by the book): the reserve stage's loss work, i.e. the
loss distribution with Euler contributions plus one distribution per default stress scenario
(``reserve_run.loss_distribution`` on the ``stressed_book`` PDs and LGDs). Reported: seconds, the
ratio of the small book's time to the large one's (the cost should grow with the book, so this
should be below 1), lattice points and largest FFT window, and the VaR 99.9 % of both rules with
the fixed rule's 95 % half-width (the adaptive lattice must agree within it).
Results go to ``results_reserve_shapes.json`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from credit_lab.core.config import ReserveParams
from credit_lab.risk.loss_distribution import fast_loss
from credit_lab.risk.reserve_run import loss_portfolio
from credit_lab.risk.stress import StressScenario, stressed_book

HERE = Path(__file__).resolve().parent
LEVELS = (0.99, 0.995, 0.999)


def card_book(n: int, seed: int = 16) -> pd.DataFrame:
    """The benchmark book (see module docstring), as the reserve stage's exposure frame."""
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.2
    pd_ = np.where(high, rng.uniform(0.3, 0.95, n),
                   np.clip(np.exp(rng.normal(math.log(0.03), 1.2, n)), 1e-4, 0.3))
    ead = rng.lognormal(math.log(5000), 1.0, n)
    return pd.DataFrame({"industry": "all", "pd": pd_, "ead": ead, "lgd": 0.45, "lgd_net": 0.45,
                         "insured_limit": 0.0}, index=pd.Index(np.arange(n), name="customer_id"))


def reserve_work(book: pd.DataFrame, r: ReserveParams, adaptive: bool, seed: int = 7) -> dict:
    """The loss distribution with contributions and one per stress scenario, timed."""
    t0 = time.perf_counter()
    base = fast_loss(loss_portfolio(book, r), seed=seed, levels=LEVELS, adaptive_grid=adaptive)
    t_base = time.perf_counter() - t0
    windows = [base.diagnostics["max_window"]]
    for raw in r.stress_scenarios:
        stressed, _ = stressed_book(book, StressScenario(**raw))
        frame = book[["industry", "ead"]].assign(pd=stressed["pd"], lgd_net=stressed["lgd"])
        res = fast_loss(loss_portfolio(frame, r), seed=seed, levels=LEVELS, contributions=False,
                        adaptive_grid=adaptive)
        windows.append(res.diagnostics["max_window"])
    return {"seconds": time.perf_counter() - t0, "seconds_base": t_base,
            "grid_points": base.diagnostics["grid_points"], "max_window": max(windows),
            "var999": base.var[0.999], "var999_ci95": float(base.error.loc[0.999, "var_ci95"]),
            "es999": base.es[0.999]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 30000])
    ap.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts (shared cores)")
    args = ap.parse_args()
    r = ReserveParams()
    fast_loss(loss_portfolio(card_book(200), r), seed=0, contributions=True)   # numba compilation, once
    rows = []
    for n in args.sizes:
        book = card_book(n)
        for adaptive in (False, True):
            runs = [reserve_work(book, r, adaptive) for _ in range(max(1, args.repeat))]
            out = min(runs, key=lambda row: row["seconds"])
            out.update(n=n, lattice="adaptive" if adaptive else "fixed 32768")
            rows.append(out)
            print(f"n={n:6d} {out['lattice']:12s} {out['seconds']:7.2f} s (base {out['seconds_base']:5.2f} s) "
                  f"grid {out['grid_points']:6d}  max window {out['max_window']:6d}  VaR99.9 {out['var999']:,.0f} "
                  f"+- {out['var999_ci95']:,.0f}", flush=True)
    table = pd.DataFrame(rows).set_index(["n", "lattice"])
    small, large = min(args.sizes), max(args.sizes)
    summary = {}
    for rule in ("fixed 32768", "adaptive"):
        summary[f"time ratio n={small} / n={large}, {rule}"] = (table.loc[(small, rule), "seconds"]
                                                                / table.loc[(large, rule), "seconds"])
    for n in args.sizes:
        fixed, adap = table.loc[(n, "fixed 32768")], table.loc[(n, "adaptive")]
        summary[f"n={n}: speed-up adaptive vs fixed"] = fixed["seconds"] / adap["seconds"]
        summary[f"n={n}: |VaR99.9 adaptive - fixed| / fixed half-width"] = (
            abs(adap["var999"] - fixed["var999"]) / fixed["var999_ci95"])
    for k, v in summary.items():
        print(f"{k}: {v:.3f}")
    result = {"rows": table.reset_index().to_dict(orient="records"), "summary": summary,
              "machine": f"{platform.machine()} {__import__('os').cpu_count()} cpu, python {platform.python_version()}",
              "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    (HERE / "results_reserve_shapes.json").write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
