"""Benchmark: scoring a book of 1,000,000 customers with either PD model family.

Usage::

    python benchmarks/bench_scoring.py                   # 1,000,000 rows
    python benchmarks/bench_scoring.py --rows 200000     # a smaller book

Fits the run's two families on a seeded synthetic credit-like table (30 features, some
missing, ~5% defaults, 50,000 fit rows): the gradient-boosted PDModel (200 trees of 31
leaves, calibrated) and the calibrated WoE scorecard. Then times ``predict_pd`` on the book
(a pandas DataFrame, as the scoring stage passes it; median of 3 runs after a warm-up).
The reference, measured in the same run on the same rows, is the bare library call each
model ends in: ``HistGradientBoostingClassifier.predict_proba`` on the float matrix, and
``LogisticRegression.predict_proba`` on a ready WoE matrix; the ratio is the cost of what
credit_lab adds (column checks, binning, calibration). The issue's target: under 10 s per
family for 1,000,000 customers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 30))
    X[:, 10:15] = np.exp(X[:, 10:15])  # skewed
    logit = -3.3 + X[:, :8] @ np.linspace(0.6, 0.1, 8) + 0.3 * np.log1p(X[:, 10])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    for j in (3, 12, 20):
        X[rng.random(n) < 0.1, j] = np.nan
    return pd.DataFrame(X, columns=[f"f{j:02d}" for j in range(30)]), y


def timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="customers in the scored book")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from credit_lab.core.config import ModelParams
    from credit_lab.models.calibration import fit_calibrated
    from credit_lab.models.gbm import PDModel
    from credit_lab.models.scorecard import ScorecardModel

    X, y = synthetic(60_000, args.seed)
    fit, cal = slice(0, 50_000), slice(50_000, 60_000)
    names = list(X.columns)
    params = ModelParams(max_iter=200, max_leaf_nodes=31, learning_rate=0.1, min_samples_leaf=20)
    t0 = time.perf_counter()
    gbm = fit_calibrated(PDModel.from_params(names, params, random_state=args.seed, monotone={}),
                         X.iloc[fit], y[fit], X.iloc[cal], y[cal], params=params)
    gbm_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    card = fit_calibrated(ScorecardModel.from_params(names, params, random_state=args.seed),
                          X.iloc[fit], y[fit], X.iloc[cal], y[cal], params=params)
    card_fit = time.perf_counter() - t0
    book, _ = synthetic(args.rows, args.seed + 1)
    book.index = pd.Index([f"C{i:07d}" for i in range(len(book))], name="customer_id")
    matrix = book[gbm.features_].to_numpy(dtype=float)
    woe = card.card_.transform(book[card.features_])
    woe = woe.to_numpy(dtype=float) if hasattr(woe, "to_numpy") else np.asarray(woe, dtype=float)

    rows = [
        {"model": "gbm", "what": "credit_lab PDModel.predict_pd (calibrated)",
         "seconds": timed(lambda: gbm.predict_pd(book))},
        {"model": "gbm", "what": "reference: HistGradientBoostingClassifier.predict_proba",
         "seconds": timed(lambda: gbm.gbm_.predict_proba(matrix))},
        {"model": "scorecard", "what": "credit_lab CalibratedScorecard.predict_pd (binning + calibration)",
         "seconds": timed(lambda: card.predict_pd(book))},
        {"model": "scorecard", "what": "reference: LogisticRegression.predict_proba on the WoE matrix",
         "seconds": timed(lambda: card.card_.lr_.predict_proba(woe))},
    ]
    for r in rows:
        r["rows_per_second"] = args.rows / r["seconds"]
    table = pd.DataFrame(rows)
    ratio = {m: float(table[(table.model == m) & ~table.what.str.startswith("reference")]["seconds"].iloc[0]
                      / table[(table.model == m) & table.what.str.startswith("reference")]["seconds"].iloc[0])
             for m in ("gbm", "scorecard")}
    print(f"fit: gbm {gbm_fit:.1f} s ({len(gbm.features_)} features), scorecard {card_fit:.1f} s "
          f"({len(card.features_)} features selected)")
    print(f"\n| model | call | seconds for {args.rows:,} rows | rows/s |\n|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['what']} | {r['seconds']:.2f} | {r['rows_per_second']:,.0f} |")
    print(f"\ncredit_lab / reference: gbm {ratio['gbm']:.2f}x, scorecard {ratio['scorecard']:.2f}x; "
          f"target: under 10 s per family")
    out = {"rows": args.rows, "fit_seconds": {"gbm": gbm_fit, "scorecard": card_fit}, "timings": rows,
           "ratio_to_reference": ratio, "under_10_s": bool(table[~table.what.str.startswith("reference")]
                                                            ["seconds"].max() < 10.0)}
    (Path(__file__).resolve().parent / "results_scoring.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
