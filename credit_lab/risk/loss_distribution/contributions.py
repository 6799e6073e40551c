"""Euler contributions per obligor and sector (VaR and ES), and the fast method's contribution pass."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from credit_lab.risk.loss_distribution.portfolio import LossPortfolio


def _level_tag(q: float) -> str:
    return f"{100 * q:g}"


def _contribution_frames(pf: LossPortfolio, levels, var_contrib: dict, es_contrib: dict):
    data = {"el": pf.pd * pf.loss_given_default}
    for q in levels:
        data[f"var_{_level_tag(q)}"] = var_contrib[q]
        data[f"es_{_level_tag(q)}"] = es_contrib[q]
    ob = pd.DataFrame(data, index=pf.obligor_id)
    ob.insert(0, "sector", pf.sector_names[pf.sector])
    sec = ob.groupby("sector", sort=False, observed=True).sum(numeric_only=True)
    sec = sec.reindex([s_ for s_ in pf.sector_names if s_ in sec.index])
    return ob, sec


def _fast_contributions(pf, prep, eng, lv, xs, var, es, delta, G, R, n_per, seed, scen_z, scen_w, var_window):
    t0 = time.perf_counter()
    ys, slots = [], {}
    for q in lv:
        x = xs[q]
        h = max(1, round(var_window * x))
        slots[q] = []
        for y in (x - 1, x - h - 1, x + h):
            slots[q].append(len(ys))
            ys.append(y)
    ys_arr = np.asarray(ys, dtype=np.int64)
    acc, accp, acck, tail_lat = eng.contribution_sums(scen_z, scen_w, seed, ys_arr, {q: xs[q] for q in lv})
    n_tot = R * n_per
    g_of = eng.obl_group
    e = prep.e
    var_c, es_c = {}, {}
    resid, disc = {}, {}
    for q in lv:
        i_tail, i_lo, i_hi = slots[q]
        tail_g = (accp - acc[:, i_tail]) / n_tot      # E[(LGD factor) D 1{L >= x}] per obligor of group
        win_g = (acc[:, i_hi] - acc[:, i_lo]) / n_tot
        t_i = e * tail_g[g_of]
        w_i = e * win_g[g_of]
        es_c[q] = t_i * (es[q] / t_i.sum()) if t_i.sum() > 0 else np.zeros(e.size)
        var_c[q] = w_i * (var[q] / w_i.sum()) if w_i.sum() > 0 else np.zeros(e.size)
        lat_sum = (acck[-1] - acck[i_tail]) / n_tot
        ref = tail_lat[q] / n_tot
        resid[q] = abs(lat_sum - ref) / ref if ref > 0 else 0.0
        if not eng.random_lgd:
            disc[q] = float(np.sum((e - eng.k_mean * delta) * tail_g[g_of])) / (ref * delta) if ref > 0 else 0.0
    return var_c, es_c, {"additivity_residual": resid, "discretization_first_order": disc,
                         "time_contributions": time.perf_counter() - t0}
