"""Exact optimal monotone binning of one feature into WoE bins (the scorecard's first step).

Numeric features are cut into up to ``max_prebins`` quantile pre-bins which an **exact**
dynamic programme merges to maximise the information value (IV) under a monotone bad rate,
a minimum bin share and a maximum number of bins; missing values and each declared special
code get bins of their own. Categorical features pool rare categories into ``OTHER`` and are
ordered by bad rate before the same merge. The WoE / IV conventions are those of
:mod:`credit_lab.models.scorecard`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import CreditLabError
from credit_lab.core.formatting import plain_number

__all__ = ["Binning", "ScorecardInputError", "optimal_binning", "woe_iv"]

_DIRECTIONS = ("auto", "ascending", "descending")
_MAX_EXAMPLES = 5


class ScorecardInputError(CreditLabError, ValueError):
    """The data or options given to the scorecard cannot be used (the message names the fix)."""



# --------------------------------------------------------------------------------------------
# WoE / IV
# --------------------------------------------------------------------------------------------

def woe_iv(goods: np.ndarray | float, bads: np.ndarray | float, total_goods: float, total_bads: float,
           smoothing: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed WoE and IV term of bins.

    Parameters
    ----------
    goods, bads : counts of goods (``y = 0``) and bads (``y = 1``) per bin.
    total_goods, total_bads : totals over all rows of the fit data (all bins).
    smoothing : ``s`` added to each cell: ``%good = (goods + s) / total_goods``.

    Returns
    -------
    woe : ``ln(%good / %bad)`` per bin.
    iv : ``(%good - %bad) * woe`` per bin (never negative).
    """
    pg = (np.asarray(goods, dtype=float) + smoothing) / float(total_goods)
    pb = (np.asarray(bads, dtype=float) + smoothing) / float(total_bads)
    woe = np.log(pg / pb)
    return woe, (pg - pb) * woe


# --------------------------------------------------------------------------------------------
# Exact optimal merge of adjacent pre-bins
# --------------------------------------------------------------------------------------------

def _optimal_partition(goods: np.ndarray, bads: np.ndarray, *, total_goods: int, total_bads: int,
                       min_count: float, max_bins: int, direction: str,
                       smoothing: float) -> tuple[list[tuple[int, int]], float]:
    """Best partition of ordered pre-bins into contiguous groups (exact, by dynamic programming).

    Maximises the summed IV of the groups subject to: at most ``max_bins`` groups,
    each holding at least ``min_count`` rows (a single group covering everything
    is always allowed), and bad rates strictly increasing (``'ascending'``) or
    strictly decreasing (``'descending'``) from group to group, with WoE moving
    the opposite way (not strictly, since smoothing can tie it).

    The state is the last group ``[i, j)`` and the number of groups so far; the
    monotone constraint only involves consecutive groups, so remembering the last
    group is enough and the recursion is exact. Cost ``O(max_bins * P^3)`` for
    ``P`` pre-bins.

    Returns
    -------
    groups : list of ``(start, stop)`` pre-bin index ranges.
    iv : their summed IV.
    """
    g = np.asarray(goods, dtype=np.int64)
    b = np.asarray(bads, dtype=np.int64)
    P = len(g)
    cg = np.concatenate([[0], np.cumsum(g)])
    cb = np.concatenate([[0], np.cumsum(b)])
    seg_g = cg[None, :] - cg[:, None]  # seg_g[i, j] = goods of pre-bins i..j-1
    seg_b = cb[None, :] - cb[:, None]
    seg_n = seg_g + seg_b
    with np.errstate(invalid="ignore", divide="ignore"):  # the unused lower triangle has negative counts
        woe, iv = woe_iv(seg_g, seg_b, total_goods, total_bads, smoothing)
    ascending = direction == "ascending"

    def valid(i: int, j: int) -> bool:
        return seg_n[i, j] >= min_count or (i == 0 and j == P)

    def monotone(h: int, i: int, j: int) -> bool:
        # previous group [h, i), current group [i, j); compare bad rates exactly in integers
        prev_b, prev_n, cur_b, cur_n = int(seg_b[h, i]), int(seg_n[h, i]), int(seg_b[i, j]), int(seg_n[i, j])
        if ascending:
            return cur_b * prev_n > prev_b * cur_n and woe[i, j] <= woe[h, i]
        return cur_b * prev_n < prev_b * cur_n and woe[i, j] >= woe[h, i]

    # best[k][(i, j)] = (best IV of pre-bins [0, j) in k groups whose last is [i, j), previous start)
    best: list[dict[tuple[int, int], tuple[float, int]]] = [{} for _ in range(max_bins + 1)]
    for j in range(1, P + 1):
        for i in range(j):
            if not valid(i, j):
                continue
            if i == 0:
                best[1][(0, j)] = (float(iv[0, j]), -1)
                continue
            for k in range(2, max_bins + 1):
                top, arg = -math.inf, -1
                for h in range(i):
                    entry = best[k - 1].get((h, i))
                    if entry is not None and entry[0] > top and monotone(h, i, j):
                        top, arg = entry[0], h
                if arg >= 0:
                    best[k][(i, j)] = (top + float(iv[i, j]), arg)
    top, end = -math.inf, None
    for k in range(1, max_bins + 1):
        for i in range(P):
            entry = best[k].get((i, P))
            if entry is not None and entry[0] > top:
                top, end = entry[0], (k, i)
    if end is None:  # cannot happen: the single group is always valid
        return [(0, P)], float(iv[0, P])
    groups: list[tuple[int, int]] = []
    k, i, j = end[0], end[1], P
    while k >= 1:
        prev = best[k][(i, j)][1]
        groups.append((i, j))
        i, j, k = prev, i, k - 1
    groups.reverse()
    return groups, top


# --------------------------------------------------------------------------------------------
# Binning of one feature
# --------------------------------------------------------------------------------------------

def _label_value(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _py(v: Any) -> Any:
    """Plain Python scalar (keys of pickled dicts; equality 1 == 1.0 still holds)."""
    return v.item() if hasattr(v, "item") else v


def _as_float(x: pd.Series, feature: str) -> np.ndarray:
    """Numeric values of a column as a fresh float array (NaN = missing); text raises with the fix."""
    s = x if isinstance(x, pd.Series) else pd.Series(x)
    if not (pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
        try:
            s = pd.to_numeric(s, errors="raise")
        except (ValueError, TypeError):
            bad = pd.to_numeric(s, errors="coerce").isna() & s.notna()
            example = s[bad].iloc[0] if bad.any() else None
            raise ScorecardInputError(
                f"feature '{feature}' is not numeric (value {example!r}); declare it in categorical=[...] "
                "or convert the column to numbers"
            ) from None
    return np.array(s.to_numpy(dtype=float, na_value=np.nan), dtype=float, copy=True)


@dataclass
class Binning:
    """Fitted bins of one feature: how to map values to bins and each bin's WoE.

    Bins are ordered: the value bins (numeric ranges from low to high, or
    category groups from low to high bad rate), then the missing bin (if any
    missing value was in the fit data), then one bin per special code seen in
    the fit data.

    Attributes
    ----------
    feature : the feature's name.
    categorical : whether values are categories (else numbers).
    labels : human label of each bin (``"[0.5, 1.2)"``, ``"missing"``, ``"special -999"``, ``"A, OTHER"``).
    kinds : ``'range'``, ``'category'``, ``'missing'`` or ``'special'`` per bin.
    goods, bads : fit counts per bin.
    woe, iv_bins : smoothed WoE and IV term per bin.
    total_goods, total_bads : fit totals (all rows).
    smoothing : the additive smoothing used for WoE.
    direction : bad rate across value bins: ``'ascending'``, ``'descending'`` or ``'none'`` (one bin).
    edges : interior cut points of numeric value bins; bin ``k`` is ``[edges[k-1], edges[k])``.
    prebin_edges : the quantile cut points the merge started from (numeric).
    category_bins : category value -> bin index (categorical).
    other_bin : bin holding the pooled rare categories (``OTHER``), if any; unseen categories go there.
    missing_bin : index of the missing bin, or None when no value was missing at fit time.
    special_bins : special code -> bin index, for codes seen at fit time.
    special_codes : all declared special codes.
    """

    feature: str
    categorical: bool
    labels: list[str]
    kinds: list[str]
    goods: np.ndarray
    bads: np.ndarray
    woe: np.ndarray
    iv_bins: np.ndarray
    total_goods: int
    total_bads: int
    smoothing: float
    direction: str
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))
    prebin_edges: np.ndarray = field(default_factory=lambda: np.empty(0))
    category_bins: dict = field(default_factory=dict)
    other_bin: int | None = None
    missing_bin: int | None = None
    special_bins: dict = field(default_factory=dict)
    special_codes: tuple = ()

    @property
    def iv(self) -> float:
        """Information value of the feature (sum over all bins)."""
        return float(self.iv_bins.sum())

    @property
    def n_bins(self) -> int:
        return len(self.labels)

    @property
    def counts(self) -> np.ndarray:
        return self.goods + self.bads

    def table(self) -> pd.DataFrame:
        """One row per bin: label, kind, count, share, goods, bads, bad_rate, woe, iv."""
        n = self.counts
        total = self.total_goods + self.total_bads
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n > 0, self.bads / np.maximum(n, 1), np.nan)
        return pd.DataFrame({
            "feature": self.feature, "bin": self.labels, "kind": self.kinds, "count": n,
            "share": n / total, "goods": self.goods, "bads": self.bads, "bad_rate": rate,
            "woe": self.woe, "iv": self.iv_bins,
        })

    def assign(self, x: pd.Series | Sequence) -> tuple[np.ndarray, dict]:
        """Bin index of every value; ``-1`` means no bin (neutral, WoE 0).

        Returns
        -------
        index : int array, one bin index per value (``-1`` = neutral).
        unseen : ``{'count', 'to_other', 'to_neutral', 'examples'}`` for values without a fit-time bin:
            unseen categories, and missing values / special codes that did not occur in the fit data.
        """
        s = x if isinstance(x, pd.Series) else pd.Series(x)
        examples: list[Any] = []
        to_other = to_neutral = 0
        if self.categorical:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            lookup = np.empty(len(uniques) + 1, dtype=np.int64)
            n_per = np.bincount(codes + 1, minlength=len(uniques) + 1)
            for u, val in enumerate(uniques):
                val = _py(val)
                if val in self.special_bins:
                    lookup[u] = self.special_bins[val]
                elif val in self.category_bins:
                    lookup[u] = self.category_bins[val]
                else:
                    is_special = any(_eq(val, c) for c in self.special_codes)
                    target = -1 if (is_special or self.other_bin is None) else self.other_bin
                    lookup[u] = target
                    if target == -1:
                        to_neutral += int(n_per[u + 1])
                    else:
                        to_other += int(n_per[u + 1])
                    if len(examples) < _MAX_EXAMPLES:
                        examples.append(val)
            lookup[-1] = -1 if self.missing_bin is None else self.missing_bin
            idx = lookup[codes]  # codes == -1 (missing) picks lookup[-1]
            if self.missing_bin is None and n_per[0] > 0:
                to_neutral += int(n_per[0])
                examples.append("missing")
            return idx, _unseen(to_other, to_neutral, examples)
        vals = _as_float(s, self.feature)
        idx = np.searchsorted(self.edges, vals, side="right").astype(np.int64)
        missing = np.isnan(vals)
        if missing.any():
            idx[missing] = -1 if self.missing_bin is None else self.missing_bin
            if self.missing_bin is None:
                to_neutral += int(missing.sum())
                examples.append("missing")
        for code in self.special_codes:
            hit = vals == code
            if hit.any():
                k = self.special_bins.get(code)
                idx[hit] = -1 if k is None else k
                if k is None:
                    to_neutral += int(hit.sum())
                    examples.append(f"special {_label_value(code)}")
        return idx, _unseen(to_other, to_neutral, examples)

    def transform(self, x: pd.Series | Sequence) -> tuple[np.ndarray, dict]:
        """WoE of every value (0 for values without a bin) and the unseen-value report of :meth:`assign`."""
        idx, unseen = self.assign(x)
        woe = np.where(idx >= 0, self.woe[np.maximum(idx, 0)], 0.0) if self.n_bins else np.zeros(len(idx))
        return woe, unseen

    def bin_labels(self, x: pd.Series | Sequence) -> np.ndarray:
        """Label of every value's bin (``'neutral'`` for values without a bin)."""
        idx, _ = self.assign(x)
        labels = np.array(self.labels + ["neutral"], dtype=object)
        return labels[idx]


def _eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _unseen(to_other: int, to_neutral: int, examples: list) -> dict:
    return {"count": to_other + to_neutral, "to_other": to_other, "to_neutral": to_neutral,
            "examples": examples[:_MAX_EXAMPLES]}


def _check_target(y: Any, n: int | None = None) -> np.ndarray:
    """``y`` as an int 0/1 array; raises naming the problem when it is not two-valued 0/1."""
    arr = pd.Series(y).reset_index(drop=True) if not isinstance(y, pd.Series) else y.reset_index(drop=True)
    if n is not None and len(arr) != n:
        raise ScorecardInputError(f"y has {len(arr)} values but X has {n} rows; give one outcome per row")
    if arr.isna().any():
        raise ScorecardInputError(
            f"y has {int(arr.isna().sum())} missing outcome(s) "
            f"(first at position {int(np.flatnonzero(arr.isna())[0])}); "
            "drop those rows or label them 0 (good) / 1 (default)"
        )
    values = set(pd.unique(arr).tolist())
    if not values <= {0, 1}:  # True == 1 and False == 0
        others = sorted((v for v in values if v not in (0, 1)), key=str)[:5]
        raise ScorecardInputError(
            f"y must be 0 (good) / 1 (default); found value(s) {others}. Encode the outcome as 1 = default"
        )
    out = arr.to_numpy(dtype=np.int64)
    if len(set(out.tolist())) < 2:
        only = int(out[0]) if len(out) else "nothing"
        raise ScorecardInputError(
            f"y has only one outcome ({only}); a scorecard needs both defaults (1) and goods (0). "
            "Use a longer observation window or more customers"
        )
    return out


def optimal_binning(x: pd.Series | Sequence, y: Any, *, categorical: bool = False,
                    special_codes: Iterable = (), max_prebins: int = 20, max_bins: int = 8,
                    min_bin_share: float = 0.05, monotonic: str = "auto", smoothing: float = 0.5,
                    name: str | None = None) -> Binning:
    """Bin one feature to maximise IV under a monotone bad rate (exact).

    Parameters
    ----------
    x : the feature's values; NaN / None are missing.
    y : outcomes, 1 = default, 0 = good.
    categorical : treat values as categories (text or numeric codes).
    special_codes : values that get a bin each and stay out of the monotone ordering (e.g. ``-999``).
    max_prebins : numeric: number of quantile pre-bins, cut at the ``k / max_prebins`` quantiles of the
        non-missing, non-special values (taken as data values, numpy method ``'higher'``, duplicates
        removed, so no pre-bin is empty). Categorical: at most this many category pre-bins; the least
        frequent categories beyond it are pooled into ``OTHER``.
    max_bins : maximum number of value bins (missing and special bins not counted).
    min_bin_share : minimum share of all rows in each value bin; rarer categories are pooled into ``OTHER``.
        Missing and special bins are kept whatever their size.
    monotonic : ``'ascending'`` (bad rate rises with the value), ``'descending'`` or ``'auto'`` (both
        are solved, the one with the higher IV is kept; ties go to ascending). Categorical features are
        ordered by bad rate, so this option does not apply to them.
    smoothing : additive smoothing of WoE cells (must be > 0).
    name : the feature's name for messages (defaults to ``x.name``).

    Returns
    -------
    Binning
        The fitted bins. The value bins are the IV-maximising contiguous merge of the pre-bins over all
        merges satisfying the constraints (proved by the dynamic programme of :func:`_optimal_partition`).

    Raises
    ------
    ScorecardInputError
        No observed value, ``y`` not 0/1 with both outcomes, or invalid options.
    """
    s = (x if isinstance(x, pd.Series) else pd.Series(x)).reset_index(drop=True)
    feature = str(name if name is not None else (s.name if s.name is not None else "x"))
    yy = _check_target(y, len(s))
    if monotonic not in _DIRECTIONS:
        raise ScorecardInputError(f"feature '{feature}': monotonic={monotonic!r}; use one of {_DIRECTIONS}")
    if not smoothing > 0:
        raise ScorecardInputError(f"smoothing={smoothing!r}; it must be > 0 so that empty cells have a finite WoE")
    if max_bins < 1 or max_prebins < 1:
        raise ScorecardInputError(f"max_bins={max_bins}, max_prebins={max_prebins}; both must be at least 1")
    if not 0 <= min_bin_share < 1:
        raise ScorecardInputError(f"min_bin_share={min_bin_share!r}; it must be in [0, 1)")
    n = len(s)
    missing = s.isna().to_numpy()
    if missing.all():
        raise ScorecardInputError(
            f"feature '{feature}' has no observed value in the {n} fit rows (all missing); "
            "remove it from the features or supply data for it"
        )
    G, B = int((yy == 0).sum()), int((yy == 1).sum())
    min_count = min_bin_share * n
    codes = tuple(special_codes)
    if categorical:
        return _bin_categorical(s, yy, feature, missing, codes, G, B, max_prebins, max_bins, min_count,
                                smoothing)
    vals = _as_float(s, feature)
    num_codes: list[float] = []
    for c in codes:
        try:
            num_codes.append(float(c))
        except (TypeError, ValueError):
            raise ScorecardInputError(
                f"special code {c!r} of numeric feature '{feature}' is not a number; "
                "give numeric codes, or per-feature codes as a dict {feature: [codes]}"
            ) from None
    special = np.isin(vals, num_codes) if num_codes else np.zeros(n, dtype=bool)
    regular = ~missing & ~special
    v, yv = vals[regular], yy[regular]
    labels: list[str] = []
    kinds: list[str] = []
    goods: list[int] = []
    bads: list[int] = []
    edges = prebin_edges = np.empty(0)
    direction = "none"
    if v.size:
        levels = np.arange(1, max_prebins) / max_prebins
        q = np.quantile(v, levels, method="higher") if levels.size else np.empty(0)
        prebin_edges = np.unique(q)
        prebin_edges = prebin_edges[prebin_edges > v.min()]  # every pre-bin holds at least one value
        pidx = np.searchsorted(prebin_edges, v, side="right")
        P = len(prebin_edges) + 1
        pb = np.bincount(pidx, weights=yv, minlength=P).astype(np.int64)
        pg = np.bincount(pidx, minlength=P).astype(np.int64) - pb
        directions = ("ascending", "descending") if monotonic == "auto" else (monotonic,)
        best_groups, best_iv = None, -math.inf
        for d in directions:
            groups, iv = _optimal_partition(pg, pb, total_goods=G, total_bads=B, min_count=min_count,
                                            max_bins=max_bins, direction=d, smoothing=smoothing)
            if iv > best_iv:
                best_groups, best_iv, direction = groups, iv, d
        assert best_groups is not None
        if len(best_groups) == 1:
            direction = "none"
        edges = np.array([prebin_edges[j - 1] for _, j in best_groups[:-1]], dtype=float)
        bounds = [-math.inf, *edges.tolist(), math.inf]
        for k, (i, j) in enumerate(best_groups):
            lo, hi = bounds[k], bounds[k + 1]
            span = f"{plain_number(lo, digits=6)}, {plain_number(hi, digits=6)}"
            labels.append(f"{'(' if lo == -math.inf else '['}{span})")
            kinds.append("range")
            goods.append(int(pg[i:j].sum()))
            bads.append(int(pb[i:j].sum()))
    missing_bin = _append_bin("missing", "missing", yy[missing], labels, kinds, goods, bads) \
        if missing.any() else None
    special_bins: dict = {}
    for c in dict.fromkeys(num_codes):
        hit = vals == c
        if hit.any():
            special_bins[c] = len(labels)
            labels.append(f"special {_label_value(c)}")
            kinds.append("special")
            goods.append(int((yy[hit] == 0).sum()))
            bads.append(int((yy[hit] == 1).sum()))
    g_arr, b_arr = np.array(goods, dtype=np.int64), np.array(bads, dtype=np.int64)
    woe, iv_bins = woe_iv(g_arr, b_arr, G, B, smoothing)
    return Binning(feature=feature, categorical=False, labels=labels, kinds=kinds, goods=g_arr, bads=b_arr,
                   woe=woe, iv_bins=iv_bins, total_goods=G, total_bads=B, smoothing=smoothing,
                   direction=direction, edges=edges, prebin_edges=prebin_edges, missing_bin=missing_bin,
                   special_bins=special_bins, special_codes=tuple(dict.fromkeys(num_codes)))


def _bin_categorical(s: pd.Series, yy: np.ndarray, feature: str, missing: np.ndarray, codes: tuple,
                     G: int, B: int, max_prebins: int, max_bins: int, min_count: float,
                     smoothing: float) -> Binning:
    """Categorical binning: rare categories -> OTHER, categories ordered by bad rate, optimal merge."""
    fcodes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = [_py(u) for u in uniques]
    n_u = np.bincount(fcodes[fcodes >= 0], minlength=len(values))
    b_u = np.bincount(fcodes[fcodes >= 0], weights=yy[fcodes >= 0], minlength=len(values)).astype(np.int64)
    g_u = n_u - b_u
    special_idx = [u for u, v in enumerate(values) if any(_eq(v, c) for c in codes)]
    regular_idx = [u for u in range(len(values)) if u not in set(special_idx)]
    frequent = [u for u in regular_idx if n_u[u] >= min_count and n_u[u] > 0]
    rare = [u for u in regular_idx if u not in set(frequent)]
    allowed = max_prebins - 1 if rare else max_prebins
    if len(frequent) > allowed:  # keep the most frequent categories as pre-bins, pool the rest into OTHER
        allowed = max(max_prebins - 1, 1)
        by_count = sorted(frequent, key=lambda u: (-n_u[u], str(values[u])))
        rare = rare + by_count[allowed:]
        frequent = by_count[:allowed]
    # pre-bins: (label, member category indices, goods, bads); OTHER is a pseudo-category
    pre = [(_label_value(values[u]), [u], int(g_u[u]), int(b_u[u])) for u in frequent]
    if rare:
        pre.append(("OTHER", rare, int(g_u[rare].sum()), int(b_u[rare].sum())))
    pre.sort(key=lambda p: (p[3] / max(p[2] + p[3], 1), p[0]))
    labels: list[str] = []
    kinds: list[str] = []
    goods: list[int] = []
    bads: list[int] = []
    category_bins: dict = {}
    other_bin = None
    direction = "none"
    if pre:
        pg = np.array([p[2] for p in pre], dtype=np.int64)
        pb = np.array([p[3] for p in pre], dtype=np.int64)
        groups, _ = _optimal_partition(pg, pb, total_goods=G, total_bads=B, min_count=min_count,
                                       max_bins=max_bins, direction="ascending", smoothing=smoothing)
        direction = "ascending" if len(groups) > 1 else "none"
        for k, (i, j) in enumerate(groups):
            members = pre[i:j]
            labels.append(", ".join(p[0] for p in members))
            kinds.append("category")
            goods.append(int(pg[i:j].sum()))
            bads.append(int(pb[i:j].sum()))
            for p in members:
                if p[0] == "OTHER" and p[1] is rare:
                    other_bin = k
                for u in p[1]:
                    category_bins[values[u]] = k
    missing_bin = _append_bin("missing", "missing", yy[missing], labels, kinds, goods, bads) \
        if missing.any() else None
    special_bins: dict = {}
    for u in special_idx:
        special_bins[values[u]] = len(labels)
        labels.append(f"special {_label_value(values[u])}")
        kinds.append("special")
        goods.append(int(g_u[u]))
        bads.append(int(b_u[u]))
    g_arr, b_arr = np.array(goods, dtype=np.int64), np.array(bads, dtype=np.int64)
    woe, iv_bins = woe_iv(g_arr, b_arr, G, B, smoothing)
    return Binning(feature=feature, categorical=True, labels=labels, kinds=kinds, goods=g_arr, bads=b_arr,
                   woe=woe, iv_bins=iv_bins, total_goods=G, total_bads=B, smoothing=smoothing,
                   direction=direction, category_bins=category_bins, other_bin=other_bin,
                   missing_bin=missing_bin, special_bins=special_bins, special_codes=codes)




def _append_bin(label: str, kind: str, y_in_bin: np.ndarray, labels: list, kinds: list, goods: list,
                bads: list) -> int:
    """Add one bin (e.g. the missing values') with its good and bad counts; return its index."""
    labels.append(label)
    kinds.append(kind)
    goods.append(int((y_in_bin == 0).sum()))
    bads.append(int((y_in_bin == 1).sum()))
    return len(labels) - 1

