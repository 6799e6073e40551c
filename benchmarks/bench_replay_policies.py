"""Benchmark: the PD-based replay policies on the demo ledger, frozen and refit PD model.

Usage::

    .venv/bin/python benchmarks/bench_replay_policies.py              # frozen and refit
    .venv/bin/python benchmarks/bench_replay_policies.py --model frozen

``generate_ledger(5000, 36, seed=0)`` with its financials and industry outlook; 24 monthly reviews;
the policies: the limits as they were and the optimizer at EL budgets 0.5, 0.75, 1.0, 1.25 x the EL
of the limits as they were (``params.replay`` otherwise at its defaults, 1,000 bootstrap draws).
Times the whole :func:`credit_lab.limits.replay_policies.replay_from_params` (model fits, features
at every review, 96 optimizations, the walks, the bootstrap) once per model choice, then prints the
summary, the frontier and the model's expected loss against the walked loss per policy, and writes
``benchmarks/results_replay_policies.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

from credit_lab.core.config import params_from_dict
from credit_lab.data.synthetic import generate_ledger
from credit_lab.limits.replay_frontier import expected_vs_walked, frontier_table
from credit_lab.limits.replay_policies import replay_from_params

_POLICIES = [{"kind": "as_they_were", "name": "as they were"},
             {"kind": "optimizer", "name": "optimizer", "budgets": [0.5, 0.75, 1.0, 1.25]}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["frozen", "refit", "both"], default="both")
    parser.add_argument("--customers", type=int, default=5000)
    args = parser.parse_args()
    ledger = generate_ledger(n_customers=args.customers, n_months=36, seed=0)
    tables = {"customers": ledger.customers, "invoices": ledger.invoices, "defaults": ledger.defaults,
              "financials": ledger.financials, "industry_outlook": ledger.industry_outlook}
    results = {"customers": args.customers, "invoices": len(ledger.invoices), "cpus": os.cpu_count()}
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    for model in (["frozen", "refit"] if args.model == "both" else [args.model]):
        params = params_from_dict({"replay": {"model": model, "n_reviews": 24, "policies": _POLICIES}})
        started = time.perf_counter()
        result = replay_from_params(tables, params, end_date=ledger.end_date)
        seconds = time.perf_counter() - started
        frontier = frontier_table(result)
        calibration = expected_vs_walked(result, params.reserve.lgd, params.features.label_horizon_months)
        by_policy = calibration.groupby("policy")[["expected_loss", "walked_loss"]].sum()
        print(f"\n## model {model}: {seconds:.1f} s ({result.models['seconds'].sum():.1f} s fitting "
              f"{len(result.models)} model(s))")
        print(result.models.drop(columns="reason").to_string())
        print(frontier.round(2).to_string())
        print(by_policy.assign(ratio=by_policy["walked_loss"] / by_policy["expected_loss"]).round(2).to_string())
        results[model] = {"seconds": seconds, "fit_seconds": float(result.models["seconds"].sum()),
                          "frontier": frontier.to_dict(orient="records"),
                          "expected_vs_walked": by_policy.reset_index().to_dict(orient="records")}
    out = Path(__file__).with_name("results_replay_policies.json")
    out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
