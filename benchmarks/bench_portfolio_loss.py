"""Benchmark: portfolio loss distribution (credit_lab.risk.loss_distribution) on 100,000 obligors.

Usage::

    python benchmarks/bench_portfolio_loss.py                        # uses the stored reference
    python benchmarks/bench_portfolio_loss.py --recompute-reference  # ~10 min: rebuild the reference first
    python benchmarks/bench_portfolio_loss.py --fast-seeds 5         # error spread of the fast method
    python benchmarks/bench_portfolio_loss.py --n-obligors 1000000 --mc-scenarios 0  # the same book at 1M names

Instance (seeded, ``build_portfolio``): 100,000 obligors (``--n-obligors``) in 10 sectors; lognormal
net exposures (median 40,000, sigma 2, so the largest names are ~5 % of the 99.9 % VaR); PDs lognormal
around 1.2 % clipped to 0.1 %-20 % (continuous, so no two obligors share a PD); LGD uniform 30-60 %;
sector correlations from a global and two regional factors; asset correlation 10-25 % per sector.

Reference (``reference_portfolio_loss.json`` next to this script, computed once): the fast method
with 16,384 expensive factor scenarios in 16 independent randomisations, 2^17 control draws per
randomisation and a 2^17-point lattice; repeated on a 2^16-point lattice with the same random
numbers (another ``--n-obligors``: ``reference_portfolio_loss_<n>.json``, the same settings). Error
bound = 95 % sampling half-width + |fine - coarse| (the lattice error of the finer run is at most
the difference for a first-order or better scheme).

Timed in one run: (a) ``fast_loss`` with default settings (without and with Euler contributions),
(b) plain Monte Carlo at 10,000 scenarios, (c) plain Monte Carlo at the scenario count that would
give the fast method's 95 % half-width for VaR 99.9 % - from the theoretical standard error of a
quantile, ``sqrt(q (1-q) / n) / f(VaR)`` with the density ``f`` of the reference, and time
*extrapolated linearly* from the timed 10,000-scenario run; (d) the large-portfolio shortcut.
``--mc-scenarios 0`` leaves out (b) to (d).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from credit_lab.risk.loss_distribution import LossPortfolio, fast_loss, large_portfolio_loss, monte_carlo_loss

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "reference_portfolio_loss.json"
PORTFOLIO_SEED = 2024
REFERENCE_SEED = 777
LEVELS = (0.99, 0.995, 0.999)
REF_SETTINGS = {"n_scenarios": 16_384, "n_replicates": 16, "n_control": 1 << 17, "grid_points": 1 << 17}


def build_portfolio(seed: int = PORTFOLIO_SEED, n: int = 100_000, n_sectors: int = 10) -> LossPortfolio:
    """The benchmark instance (see module docstring)."""
    rng = np.random.default_rng(seed)
    sector = rng.integers(0, n_sectors, n)
    pd_ = np.clip(np.exp(rng.normal(math.log(0.012), 1.0, n)), 0.001, 0.20)
    exposure = rng.lognormal(math.log(40_000), 2.0, n)
    lgd = rng.uniform(0.3, 0.6, n)
    loadings = np.column_stack([
        rng.uniform(0.45, 0.75, n_sectors),
        rng.uniform(0.0, 0.35, n_sectors) * (np.arange(n_sectors) % 2 == 0),
        rng.uniform(0.0, 0.35, n_sectors) * (np.arange(n_sectors) % 2 == 1),
    ])
    corr = loadings @ loadings.T
    np.fill_diagonal(corr, 1.0)
    rho = rng.uniform(0.10, 0.25, n_sectors)
    return LossPortfolio.from_arrays(pd_, exposure, lgd, sector, corr, sector_rho=rho,
                                     sector_names=[f"S{i}" for i in range(n_sectors)])


def fingerprint(pf: LossPortfolio) -> str:
    h = hashlib.sha256()
    for arr in (pf.pd, pf.exposure, pf.lgd, pf.rho, pf.corr, pf.sector):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def reference_path(n: int) -> Path:
    return REFERENCE if n == 100_000 else HERE / f"reference_portfolio_loss_{n}.json"


def compute_reference(pf: LossPortfolio, path: Path = REFERENCE) -> dict:
    print("computing the reference (two runs of the fast method with 16,384 scenarios) ...", flush=True)
    t0 = time.perf_counter()
    fine = fast_loss(pf, seed=REFERENCE_SEED, contributions=False, **REF_SETTINGS)
    t_fine = time.perf_counter() - t0
    coarse = fast_loss(pf, seed=REFERENCE_SEED, contributions=False,
                       **{**REF_SETTINGS, "grid_points": REF_SETTINGS["grid_points"] // 2})
    t_all = time.perf_counter() - t0
    levels = {}
    for q in LEVELS:
        entry = {}
        for m, val, ci, val_c in (("var", fine.var[q], fine.error.loc[q, "var_ci95"], coarse.var[q]),
                                  ("es", fine.es[q], fine.error.loc[q, "es_ci95"], coarse.es[q])):
            bound = float(ci) + abs(val - val_c)
            entry[m] = float(val)
            entry[f"{m}_ci95"] = float(ci)
            entry[f"{m}_lattice_diff"] = float(abs(val - val_c))
            entry[f"{m}_error_bound"] = bound
            entry[f"{m}_rel_error_bound"] = bound / val
        entry["density_at_var"] = float(fine.diagnostics["density_at_var"][q])
        levels[str(q)] = entry
    ref = {
        "method": "credit_lab.risk.loss_distribution.fast_loss (conditional FFT + IS-RQMC + control variate)",
        "settings": REF_SETTINGS, "coarse_grid_points": REF_SETTINGS["grid_points"] // 2,
        "seed": REFERENCE_SEED, "portfolio_seed": PORTFOLIO_SEED, "portfolio_fingerprint": fingerprint(pf),
        "error_bound": "95% sampling half-width (Student t, 15 df, 16 randomisations) + |2^17 - 2^16 lattice|",
        "expected_loss": pf.expected_loss, "levels": levels,
        "lattice_step": fine.diagnostics["lattice_step"], "seconds": t_all, "seconds_fine_run": t_fine,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path.write_text(json.dumps(ref, indent=2) + "\n")
    print(f"reference written to {path} ({t_all:.0f} s)")
    return ref


def rel(x: float, ref: float) -> float:
    return (x - ref) / ref


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recompute-reference", action="store_true", help="rebuild reference_portfolio_loss.json")
    ap.add_argument("--fast-seeds", type=int, default=3, help="seeds of the fast method for its error spread")
    ap.add_argument("--mc-scenarios", type=int, default=10_000, help="plain MC scenarios; 0 = no plain MC and "
                    "no large-portfolio shortcut")
    ap.add_argument("--n-obligors", type=int, default=100_000, help="size of the book (its own reference file)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    pf = build_portfolio(n=args.n_obligors)
    ref_path = reference_path(args.n_obligors)
    print(f"instance: {pf.n_obligors:,} obligors, {pf.n_sectors} sectors, EL {pf.expected_loss:,.0f}, "
          f"largest loss given default {pf.loss_given_default.max():,.0f} (built in {time.perf_counter() - t0:.1f} s)")
    if args.recompute_reference or not ref_path.exists():
        ref = compute_reference(pf, ref_path)
    else:
        ref = json.loads(ref_path.read_text())
        if ref.get("portfolio_fingerprint") != fingerprint(pf):
            print("the stored reference belongs to another instance; run with --recompute-reference")
            return 2
    R = {float(k): v for k, v in ref["levels"].items()}
    q = 0.999
    print(f"reference VaR99.9 {R[q]['var']:,.0f} (bound {100 * R[q]['var_rel_error_bound']:.3f} %), "
          f"ES99.9 {R[q]['es']:,.0f} (bound {100 * R[q]['es_rel_error_bound']:.3f} %)")

    # Warm-up: numba compiles (or loads its cache) outside the timings.
    fast_loss(pf, seed=0, n_scenarios=16, n_replicates=2, n_control=256, grid_points=1024)

    rows = []
    fast_runs = []
    for s in range(1, args.fast_seeds + 1):
        t = time.perf_counter()
        res = fast_loss(pf, seed=s, contributions=False)
        fast_runs.append((res, time.perf_counter() - t))
    fres, t_fast = fast_runs[0]
    t = time.perf_counter()
    fres_c = fast_loss(pf, seed=1, contributions=True)
    t_fast_c = time.perf_counter() - t

    with_mc = args.mc_scenarios > 0
    if with_mc:
        t = time.perf_counter()
        mc = monte_carlo_loss(pf, args.mc_scenarios, seed=1, contributions=False)
        t_mc = time.perf_counter() - t

        t = time.perf_counter()
        lp = large_portfolio_loss(pf, 100_000, seed=1)
        t_lp = time.perf_counter() - t

        # (c) plain MC scenarios for the fast method's 95 % half-width on VaR 99.9 %
        f_ref = R[q]["density_at_var"]
        h_fast = float(fres.error.loc[q, "var_ci95"])
        n_equal = (1.96 * math.sqrt(q * (1 - q)) / (f_ref * h_fast)) ** 2
        t_equal = t_mc * n_equal / args.mc_scenarios
        # ES: asymptotic variance with the tail spread measured in the 10,000-scenario sample
        srt = np.sort(mc.samples)
        tail = srt[srt >= mc.var[q]]
        es_var = (np.var(tail) + q * (mc.es[q] - mc.var[q]) ** 2) / (1 - q)
        n_equal_es = es_var * (1.96 / float(fres.error.loc[q, "es_ci95"])) ** 2

    def add(name, res, secs, note=""):
        err = {lv: (rel(res.var[lv], R[lv]["var"]), rel(res.es[lv], R[lv]["es"])) for lv in LEVELS}
        ci = {lv: (res.error.loc[lv, "var_rel_ci95"], res.error.loc[lv, "es_rel_ci95"]) for lv in LEVELS}
        rows.append((name, secs, err, ci, note))

    add("fast (VaR/ES)", fres, t_fast, f"{fres.n_scenarios} scenarios, lattice {fres.diagnostics['grid_points']}")
    add("fast + contributions", fres_c, t_fast_c, "obligor and sector Euler contributions")
    if with_mc:
        add(f"plain MC {args.mc_scenarios:,}", mc, t_mc, "timed")
        add("large-portfolio shortcut", lp, t_lp, "100,000 factor draws, no name concentration")

    print()
    print(f"{'method':26s} {'time [s]':>9s}  {'VaR99 err':>9s} {'VaR99.9 err':>11s} {'ES99.9 err':>10s}"
          f"  {'VaR99.9 ±95%':>12s} {'ES99.9 ±95%':>11s}  note")
    for name, secs, err, ci, note in rows:
        print(f"{name:26s} {secs:9.2f}  {100 * err[0.99][0]:+8.3f}% {100 * err[q][0]:+10.3f}% {100 * err[q][1]:+9.3f}%"
              f"  {100 * ci[q][0]:11.3f}% {100 * ci[q][1]:10.3f}%  {note}")
    if with_mc:
        print(f"{'plain MC, equal accuracy':26s} {t_equal:9.1f}  (extrapolated: {n_equal:,.0f} scenarios for the fast "
              f"method's VaR99.9 half-width {100 * h_fast / fres.var[q]:.3f} %; ES needs {n_equal_es:,.0f})")
    print()
    errs = np.array([[abs(rel(r_.var[lv], R[lv]["var"])) for lv in LEVELS] + [abs(rel(r_.es[lv], R[lv]["es"]))
                     for lv in LEVELS] for r_, _ in fast_runs])
    print(f"fast method over {len(fast_runs)} seeds: max |rel. error| VaR {100 * errs[:, :3].max():.3f} %, "
          f"ES {100 * errs[:, 3:].max():.3f} %; times {', '.join(f'{t_:.2f}' for _, t_ in fast_runs)} s")
    if with_mc:
        gain = abs(rel(mc.var[q], R[q]["var"])) / max(errs[:, 2].max(), 1e-12)
        print(f"speed-up at equal VaR99.9 accuracy: {t_equal / t_fast:,.0f}x; vs plain MC 10,000: "
              f"{t_mc / t_fast:.1f}x faster with {gain:.0f}x smaller VaR99.9 error")
    d = fres_c.diagnostics
    print(f"diagnostics: lattice step {d['lattice_step']:,.0f}, series truncation bound "
          f"{d['series_truncation_bound']:.1e}, additivity residual {max(d['additivity_residual'].values()):.1e}, "
          f"first-order lattice effect on ES99.9 {100 * d['discretization_first_order'][q]:+.4f} %")
    top = fres_c.sector_contributions[["el", "var_99.9", "es_99.9"]]
    print("sector contributions (fast, 99.9 %):")
    print((top / 1e6).round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
