"""Exact path-dependent TreeSHAP for tree ensembles, several times faster than ``shap.TreeExplainer``.

``FastTreeExplainer(model).shap_values(X)`` returns the same numbers as
``shap.TreeExplainer(model).shap_values(X)`` (feature_perturbation="tree_path_dependent", raw
output) up to floating-point rounding (~1e-15 relative), for every model whose trees shap parses
into its own ``TreeEnsemble`` and explains with its C++ ``tree_shap`` (scikit-learn's
HistGradientBoosting*, GradientBoosting*, RandomForest*, ExtraTrees*, DecisionTree*, ...).

Where the trees come from
-------------------------
The trees are taken from shap's own parser (``shap.TreeExplainer(model).model``), so thresholds,
missing-value routing (``children_default``), node weights (``node_sample_weight``, the "cover"),
leaf values and the base offset are exactly the arrays shap's C++ code uses. Rows are cast to
the parser's ``input_dtype`` first, as shap does, and a row goes to the left child when
``x <= threshold``, to ``children_default`` when ``x`` is NaN, to the right child otherwise (the
rule in shap's ``tree_shap_recursive``).

The algorithm (Fast TreeSHAP v2, Yang 2021, arXiv:2109.09847, in a division-free form)
-------------------------------------------------------------------------------------
Path-dependent TreeSHAP is a sum over the leaves ``l`` of the Shapley values of one game per
leaf. Let ``D`` be the ``d`` distinct features on the path to ``l``, ``z_k`` the product of the
cover ratios ``w(child) / w(node)`` over the splits on feature ``k`` along the path (shap's "zero
fraction") and ``o_k`` in {0, 1} whether the row follows the path at *every* split on ``k``
(shap's "one fraction"). The leaf's game is ``v(S) = v_l prod_{k in S} o_k prod_{k in D\\S} z_k``
and its Shapley value for ``i`` in ``D`` is

    phi_i = v_l (o_i - z_i) sum_{S subset D\\{i}} w(|S|) prod_{k in S} o_k prod_{k in D\\S\\{i}} z_k,
    w(s) = s! (d - s - 1)! / d!,

which is what shap's extend/unwind recursion evaluates. Let ``O = {k : o_k = 1}`` and
``P = prod_{k in D\\O} z_k``. Terms with ``S`` not inside ``O`` vanish, and splitting the product
over ``D\\S\\{i}`` into the part outside ``O`` and the part inside gives, with the *row-free* table

    H(U) = sum_{S subset U} w(|S|) prod_{k in U\\S} z_k          (U subset D),

    phi_i = -v_l P H(O)                      for i not in O,
    phi_i =  v_l (1 - z_i) P H(O \\ {i})      for i in O.

``H`` depends only on the tree, so it is tabulated once per leaf over all ``2^d`` subsets:
``H(U) = sum_j w(j) e_j(U)`` where ``e_j(U)`` is the coefficient of ``t^j`` in
``prod_{k in U} (z_k + t)``, built subset by subset by multiplying one factor onto a smaller
subset's polynomial (``O(2^d d)`` per leaf). A row then costs, per leaf, one pass over the
path to find ``O`` and ``d`` table look-ups: ``O(L D)`` per tree instead of TreeSHAP's
``O(L D^2)``. The identity above is algebraically exact; the only differences to shap are the
order of floating-point operations (observed ~1e-15 on log-odds).

Leaves with more than ``max_table_features`` distinct features (or beyond the table memory
budget) are evaluated directly from the same formula: the polynomial ``prod_{k in O}(z_k + t)``
is built in ``O(d^2)`` and each ``H(O\\{i})`` comes from dividing out ``(z_i + t)`` by synthetic
division from the top coefficient (``q_{j-1} = p_j - z_i q_j``; no division, and errors are
damped because ``0 < z_i <= 1``).

Evaluation order: rows are split into blocks of ``_BLOCK`` rows that run in parallel (numba
``prange``) on ``n_jobs`` threads. Inside a block the loops go tree by tree and leaf by leaf with
the block's rows innermost, with the data laid out row-last (transposed features, the split
direction of every node for every row, the failure masks, an accumulator per feature); those
inner loops have no branches, so LLVM vectorizes them and a leaf's path and table are reused for
all rows of the block while they are in cache. Everything is float64 and compiled without
fastmath. The numba functions are cached on disk (``cache=True``): the first use in a fresh
environment compiles them (several seconds), later processes load them.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import pandas as pd
from numba import njit, prange

__all__ = ["FastTreeExplainer"]

_BLOCK = 512             # rows per parallel work item
_CHUNK = 65_536          # rows converted to float64 at a time (bounds the copy of X)
_TABLE_BUDGET = 1 << 23  # total H-table entries (float64) over all leaves: 64 MB


@njit(cache=True)
def _count_leaves(children_left: np.ndarray, children_right: np.ndarray, n_leaves: np.ndarray,
                  path_len: np.ndarray) -> None:
    """Count the leaves of each tree and the summed depth of its leaves (= path entries)."""
    n_trees, max_nodes = children_left.shape
    stack = np.empty(max_nodes + 1, np.int64)
    depth = np.empty(max_nodes + 1, np.int64)
    for t in range(n_trees):
        top = 0
        stack[0] = 0
        depth[0] = 0
        while top >= 0:
            node = stack[top]
            dep = depth[top]
            top -= 1
            if children_right[t, node] < 0:
                n_leaves[t] += 1
                path_len[t] += dep
            else:
                stack[top + 1] = children_right[t, node]
                depth[top + 1] = dep + 1
                stack[top + 2] = children_left[t, node]
                depth[top + 2] = dep + 1
                top += 2


@njit(cache=True)
def _extract_paths(children_left: np.ndarray, children_right: np.ndarray, features: np.ndarray,
                   node_sample_weight: np.ndarray, values: np.ndarray, leaf_start: np.ndarray,
                   tree_path_start: np.ndarray, path_start: np.ndarray, path_node: np.ndarray,
                   path_left: np.ndarray, path_pos: np.ndarray, uf_len: np.ndarray,
                   uf_feat: np.ndarray, uf_z: np.ndarray, leaf_values: np.ndarray) -> None:
    """Fill the per-leaf path arrays.

    For leaf ``l`` the path entries are ``path_start[l]:path_start[l + 1]``: the internal node,
    whether the path goes to its left child, and the position of the node's feature among the
    leaf's distinct features. The distinct features of leaf ``l`` and their zero fractions are
    ``uf_feat``/``uf_z[path_start[l]:path_start[l] + uf_len[l]]``. The zero fraction of a feature
    is accumulated in shap's order (new ratio times the previous product).
    """
    n_trees, max_nodes = children_left.shape
    for t in range(n_trees):
        stack = np.empty(max_nodes + 1, np.int64)
        parent = np.empty(max_nodes + 1, np.int64)
        depth = np.empty(max_nodes + 1, np.int64)
        cur_node = np.empty(max_nodes + 1, np.int64)
        cur_child = np.empty(max_nodes + 1, np.int64)
        leaf = leaf_start[t]
        pos = tree_path_start[t]
        top = 0
        stack[0] = 0
        parent[0] = -1
        depth[0] = 0
        while top >= 0:
            node = stack[top]
            dep = depth[top]
            if dep > 0:
                cur_node[dep - 1] = parent[top]
                cur_child[dep - 1] = node
            top -= 1
            if children_right[t, node] >= 0:
                for child in (children_right[t, node], children_left[t, node]):
                    top += 1
                    stack[top] = child
                    parent[top] = node
                    depth[top] = dep + 1
                continue
            path_start[leaf] = pos
            n_unique = 0
            for e in range(dep):
                nd = cur_node[e]
                ch = cur_child[e]
                f = features[t, nd]
                ratio = node_sample_weight[t, ch] / node_sample_weight[t, nd]
                k = 0
                while k < n_unique and uf_feat[pos + k] != f:
                    k += 1
                if k == n_unique:
                    uf_feat[pos + k] = f
                    uf_z[pos + k] = ratio
                    n_unique += 1
                else:
                    uf_z[pos + k] = ratio * uf_z[pos + k]
                path_node[pos + e] = nd
                path_left[pos + e] = ch == children_left[t, nd]
                path_pos[pos + e] = k
            uf_len[leaf] = n_unique
            for j in range(values.shape[2]):
                leaf_values[leaf, j] = values[t, node, j]
            pos += dep
            leaf += 1
        path_start[leaf] = pos


@njit(cache=True)
def _build_tables(path_start: np.ndarray, uf_len: np.ndarray, uf_z: np.ndarray,
                  tab_start: np.ndarray, weights: np.ndarray, tab: np.ndarray) -> None:
    """Tabulate ``H(U) = sum_j w(j) e_j(U)`` over all subsets ``U`` of each tabled leaf's features.

    Subset ``U`` is the bit mask over the leaf's distinct-feature positions; its polynomial
    ``prod_{k in U}(z_k + t)`` is the polynomial of ``U`` without its lowest bit times one factor.
    """
    for leaf in range(uf_len.shape[0]):
        base = tab_start[leaf]
        if base < 0:
            continue
        d = uf_len[leaf]
        zs = uf_z[path_start[leaf]:path_start[leaf] + d]
        n_sub = 1 << d
        coef = np.zeros((n_sub, d + 1))
        coef[0, 0] = 1.0
        tab[base] = weights[d, 0]
        for mask in range(1, n_sub):
            k = 0
            while not (mask >> k) & 1:
                k += 1
            prev = mask ^ (1 << k)
            z = zs[k]
            m = 0
            rest = prev
            while rest:
                rest &= rest - 1
                m += 1
            coef[mask, m + 1] = coef[prev, m]
            for j in range(m, 0, -1):
                coef[mask, j] = z * coef[prev, j] + coef[prev, j - 1]
            coef[mask, 0] = z * coef[prev, 0]
            h = 0.0
            for j in range(m + 2):
                h += weights[d, j] * coef[mask, j]
            tab[base + mask] = h


@njit(cache=True)
def _explain_block(X: np.ndarray, r0: int, nb: int, int_start: np.ndarray, int_node: np.ndarray,
                   int_feat: np.ndarray, int_thr: np.ndarray, int_default_left: np.ndarray,
                   leaf_start: np.ndarray, path_start: np.ndarray, path_node: np.ndarray,
                   path_left: np.ndarray, path_pos: np.ndarray, uf_len: np.ndarray,
                   uf_feat: np.ndarray, uf_z: np.ndarray, leaf_values: np.ndarray,
                   tab_start: np.ndarray, tab: np.ndarray, weights: np.ndarray, max_nodes: int,
                   max_d: int, block: int, out: np.ndarray) -> None:
    """SHAP values of rows ``r0:r0 + nb`` of ``X`` (``nb <= block``) into the same rows of ``out``.

    Every loop runs over the block's rows innermost (branch-free, so the compiler vectorizes it),
    with the data laid out row-last.
    """
    n_feat = X.shape[1]
    n_out = out.shape[2]
    n_trees = leaf_start.shape[0] - 1
    xt = np.empty((n_feat, block))
    for r in range(nb):
        for f in range(n_feat):
            xt[f, r] = X[r0 + r, f]
    go_left = np.empty((max_nodes, block), np.uint8)
    fail = np.empty(block, np.int64)
    p_out = np.empty(block)
    contrib = np.empty(block)
    idx = np.empty(block, np.uint64)
    acc = np.zeros((n_out, n_feat, block))
    sat = np.empty(max_d + 1, np.bool_)
    poly = np.empty(max_d + 2)
    for t in range(n_trees):
        # the direction each internal node sends each row (NaN: the default child)
        for a in range(int_start[t], int_start[t + 1]):
            xf = xt[int_feat[a]]
            gl = go_left[int_node[a]]
            thr = int_thr[a]
            dflt = int_default_left[a]
            for r in range(nb):
                x = xf[r]
                gl[r] = dflt if np.isnan(x) else np.uint8(x <= thr)
        for leaf in range(leaf_start[t], leaf_start[t + 1]):
            d = uf_len[leaf]
            if d == 0:
                continue
            p0 = path_start[leaf]
            p1 = path_start[leaf + 1]
            base = tab_start[leaf]
            if base >= 0:
                # bit k of fail[r]: row r leaves the path at a split on the leaf's k-th feature
                fail[:nb] = 0
                for p in range(p0, p1):
                    gl = go_left[path_node[p]]
                    want = path_left[p]
                    shift = path_pos[p]
                    for r in range(nb):
                        fail[r] |= np.int64(gl[r] != want) << shift
                p_out[:nb] = 1.0
                for k in range(d):
                    z = uf_z[p0 + k]
                    for r in range(nb):
                        p_out[r] *= z if (fail[r] >> k) & 1 else 1.0
                full = (1 << d) - 1
                for k in range(d):
                    # k in O: (1 - z_k) P H(O \ {k}); k not in O: -P H(O)
                    one_minus_z = 1.0 - uf_z[p0 + k]
                    clear = full ^ (1 << k)
                    for r in range(nb):
                        idx[r] = np.uint64(base + ((full ^ fail[r]) & clear))  # unsigned: no wrap-around code
                        contrib[r] = (-1.0 if (fail[r] >> k) & 1 else one_minus_z) * p_out[r]
                    for r in range(nb):  # a separate loop, so the look-ups vectorize (gather)
                        contrib[r] *= tab[idx[r]]
                    f = uf_feat[p0 + k]
                    for j in range(n_out):
                        v = leaf_values[leaf, j]
                        row = acc[j, f]
                        for r in range(nb):
                            row[r] += contrib[r] * v
            else:
                for r in range(nb):
                    sat[:d] = True
                    for p in range(p0, p1):
                        if go_left[path_node[p], r] != path_left[p]:
                            sat[path_pos[p]] = False
                    # polynomial prod_{k in O} (z_k + t), degree m = |O|
                    m = 0
                    p_o = 1.0
                    poly[0] = 1.0
                    for k in range(d):
                        z = uf_z[p0 + k]
                        if sat[k]:
                            poly[m + 1] = poly[m]
                            for j in range(m, 0, -1):
                                poly[j] = z * poly[j] + poly[j - 1]
                            poly[0] *= z
                            m += 1
                        else:
                            p_o *= z
                    h_o = 0.0
                    for j in range(m + 1):
                        h_o += weights[d, j] * poly[j]
                    for k in range(d):
                        if sat[k]:
                            # H(O \ {k}) by dividing (z_k + t) out of the polynomial
                            z = uf_z[p0 + k]
                            q = poly[m]
                            h = weights[d, m - 1] * q
                            for j in range(m - 1, 0, -1):
                                q = poly[j] - z * q
                                h += weights[d, j - 1] * q
                            c = (1.0 - z) * p_o * h
                        else:
                            c = -p_o * h_o
                        f = uf_feat[p0 + k]
                        for j in range(n_out):
                            acc[j, f, r] += c * leaf_values[leaf, j]
    for r in range(nb):
        for f in range(n_feat):
            for j in range(n_out):
                out[r0 + r, f, j] = acc[j, f, r]


@njit(parallel=True, cache=True)
def _shap_kernel(X: np.ndarray, int_start: np.ndarray, int_node: np.ndarray, int_feat: np.ndarray,
                 int_thr: np.ndarray, int_default_left: np.ndarray, leaf_start: np.ndarray,
                 path_start: np.ndarray, path_node: np.ndarray, path_left: np.ndarray,
                 path_pos: np.ndarray, uf_len: np.ndarray, uf_feat: np.ndarray, uf_z: np.ndarray,
                 leaf_values: np.ndarray, tab_start: np.ndarray, tab: np.ndarray,
                 weights: np.ndarray, max_nodes: int, max_d: int, block: int,
                 out: np.ndarray) -> None:
    """Write the SHAP values of the rows of ``X`` to ``out`` (n_rows, n_features, n_outputs), in parallel blocks."""
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        r0 = b * block
        _explain_block(X, r0, min(n, r0 + block) - r0, int_start, int_node, int_feat, int_thr,
                       int_default_left, leaf_start, path_start, path_node, path_left, path_pos,
                       uf_len, uf_feat, uf_z, leaf_values, tab_start, tab, weights, max_nodes, max_d,
                       block, out)


def _shapley_weights(max_d: int) -> np.ndarray:
    """``weights[d, s] = s! (d - s - 1)! / d! = 1 / (d * C(d - 1, s))`` for ``s < d``, 0 for ``s = d``."""
    weights = np.zeros((max_d + 1, max_d + 2))
    for d in range(1, max_d + 1):
        for s in range(d):
            weights[d, s] = 1.0 / (d * math.comb(d - 1, s))
    return weights


def _table_threshold(uf_len: np.ndarray, max_table_features: int) -> int:
    """Largest ``t <= max_table_features`` whose leaves (``d <= t``) fit ``_TABLE_BUDGET`` entries."""
    counts = np.bincount(uf_len, minlength=max_table_features + 1)[: max_table_features + 1]
    sizes = np.cumsum(counts * (2.0 ** np.arange(counts.size)))
    fitting = np.nonzero(sizes <= _TABLE_BUDGET)[0]
    return int(fitting[-1]) if fitting.size else -1


class FastTreeExplainer:
    """Exact path-dependent TreeSHAP, equal to ``shap.TreeExplainer(model).shap_values``.

    Parameters
    ----------
    model
        A tree model that ``shap.TreeExplainer`` parses itself (scikit-learn tree ensembles, e.g.
        ``HistGradientBoostingClassifier``/``Regressor``, ``GradientBoosting*``,
        ``RandomForest*``). Models for which shap delegates to the library's own SHAP code
        (XGBoost, LightGBM, CatBoost), categorical splits, and non-raw model outputs raise
        ``TypeError``.
    n_jobs
        Threads used by ``shap_values``; ``None`` or ``-1`` = all of numba's threads.
    max_table_features
        Leaves with at most this many distinct path features use a precomputed ``2^d`` table
        (O(d) per row); deeper leaves are evaluated directly in O(d^2). The tables together are
        capped at 64 MB; the threshold is lowered until they fit. 0 disables the tables.

    Attributes
    ----------
    expected_value : float or numpy.ndarray
        ``shap.TreeExplainer(model).expected_value``: a float for single-output models, an array
        of one value per output otherwise.
    n_features : int
        Number of columns ``X`` must have.
    n_leaves, n_tabled_leaves : int
        Leaves in the ensemble, and how many of them are evaluated from a precomputed table.
    """

    def __init__(self, model: Any, n_jobs: int | None = None, max_table_features: int = 16) -> None:
        import shap

        if n_jobs is not None and n_jobs != -1 and n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer, -1 or None, got {n_jobs}")
        if not 0 <= max_table_features <= 16:
            raise ValueError(f"max_table_features must be in 0..16, got {max_table_features}")
        if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
            raise TypeError("models with categorical splits are not supported (shap's parser ignores them)")
        try:
            explainer = shap.TreeExplainer(model)
        except Exception as exc:  # shap raises several exception types for models it cannot parse
            raise TypeError(f"unsupported model {type(model).__name__}: {exc}") from exc
        ens = explainer.model
        if ens.model_type != "internal" or getattr(ens, "children_left", None) is None:
            raise TypeError(
                f"unsupported model {type(model).__name__}: shap explains it with the "
                f"library's own SHAP code ({ens.model_type}), not with its tree parser")
        if np.any(ens.threshold_types != 0):
            raise TypeError("models with categorical splits are not supported")
        if ens.get_transform() != "identity":
            raise TypeError(f"only raw model output is supported, shap uses {ens.model_output!r}")
        if not ens.fully_defined_weighting:
            raise ValueError("the trees have nodes with zero sample weight; path-dependent SHAP is undefined")

        self.n_jobs = n_jobs
        self.max_table_features = max_table_features
        self._input_dtype = ens.input_dtype
        n_outputs = int(ens.num_outputs)
        self._n_outputs = n_outputs
        ev = np.asarray(explainer.expected_value, dtype=np.float64).ravel()
        self.expected_value: float | np.ndarray = float(ev[-1]) if n_outputs == 1 else ev
        n_trees = ens.values.shape[0] if ens.tree_limit is None else min(ens.tree_limit, ens.values.shape[0])
        n_in = getattr(model, "n_features_in_", None)
        self.n_features = int(n_in) if n_in is not None else int(ens.features[:n_trees].max()) + 1
        self._build(ens, n_trees)

    def _build(self, ens: Any, n_trees: int) -> None:
        """Flatten shap's tree arrays into per-internal-node and per-leaf arrays, build the tables."""
        cl = np.ascontiguousarray(ens.children_left[:n_trees], dtype=np.int64)
        cr = np.ascontiguousarray(ens.children_right[:n_trees], dtype=np.int64)
        cd = np.ascontiguousarray(ens.children_default[:n_trees], dtype=np.int64)
        feat = np.ascontiguousarray(ens.features[:n_trees], dtype=np.int64)
        thr = np.ascontiguousarray(ens.thresholds[:n_trees], dtype=np.float64)
        weight = np.ascontiguousarray(ens.node_sample_weight[:n_trees], dtype=np.float64)
        values = np.ascontiguousarray(ens.values[:n_trees], dtype=np.float64)
        max_nodes = cl.shape[1]

        tree_idx, node_idx = np.nonzero(cr >= 0)  # internal nodes, tree by tree
        self._int_start = np.searchsorted(tree_idx, np.arange(n_trees + 1)).astype(np.int64)
        self._int_node = node_idx.astype(np.int32)
        self._int_feat = feat[tree_idx, node_idx]
        self._int_thr = thr[tree_idx, node_idx]
        self._int_default_left = (cd[tree_idx, node_idx] == cl[tree_idx, node_idx]).astype(np.uint8)

        n_leaves = np.zeros(n_trees, np.int64)
        path_len = np.zeros(n_trees, np.int64)
        _count_leaves(cl, cr, n_leaves, path_len)
        leaf_start = np.concatenate([[0], np.cumsum(n_leaves)]).astype(np.int64)
        tree_path_start = np.concatenate([[0], np.cumsum(path_len)]).astype(np.int64)
        n_leaf, n_path = int(leaf_start[-1]), int(tree_path_start[-1])
        self._leaf_start = leaf_start
        self._path_start = np.zeros(n_leaf + 1, np.int64)
        self._path_node = np.empty(n_path, np.int32)
        self._path_left = np.empty(n_path, np.uint8)
        self._path_pos = np.empty(n_path, np.int64)
        self._uf_len = np.zeros(n_leaf, np.int64)
        self._uf_feat = np.empty(n_path, np.int64)
        self._uf_z = np.empty(n_path, np.float64)
        self._leaf_values = np.empty((n_leaf, values.shape[2]), np.float64)
        _extract_paths(cl, cr, feat, weight, values, leaf_start, tree_path_start, self._path_start,
                       self._path_node, self._path_left, self._path_pos, self._uf_len,
                       self._uf_feat, self._uf_z, self._leaf_values)

        self._max_nodes = max_nodes
        self._max_d = int(self._uf_len.max()) if n_leaf else 0
        self._weights = _shapley_weights(self._max_d)
        threshold = _table_threshold(self._uf_len, self.max_table_features)
        tabled = self._uf_len <= threshold
        sizes = np.where(tabled, 1 << np.minimum(self._uf_len, 62), 0)
        self._tab_start = np.where(tabled, np.cumsum(sizes) - sizes, -1).astype(np.int64)
        self._tab = np.empty(int(sizes.sum()), np.float64)
        _build_tables(self._path_start, self._uf_len, self._uf_z, self._tab_start, self._weights,
                      self._tab)
        self.n_tabled_leaves = int(tabled.sum())
        self.n_leaves = n_leaf

    def shap_values(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """SHAP values of the rows of ``X`` (path-dependent, raw model output).

        Parameters
        ----------
        X
            (n_rows, n_features) array or DataFrame; NaN marks a missing value.

        Returns
        -------
        numpy.ndarray
            float64 of shape (n_rows, n_features) for single-output models, (n_rows, n_features,
            n_outputs) otherwise, as ``shap.TreeExplainer(model).shap_values(X)``.
        """
        data = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
        if data.ndim != 2:
            raise ValueError(f"X must be 2-dimensional (n_rows, n_features), got shape {data.shape}")
        if data.shape[1] != self.n_features:
            raise ValueError(f"X has {data.shape[1]} columns but the model was fitted on "
                             f"{self.n_features} features")
        n = data.shape[0]
        out = np.empty((n, self.n_features, self._n_outputs), np.float64)
        n_threads = numba.config.NUMBA_NUM_THREADS
        if self.n_jobs not in (None, -1):
            n_threads = min(self.n_jobs, n_threads)
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            for start in range(0, n, _CHUNK):
                chunk = data[start:start + _CHUNK].astype(self._input_dtype).astype(np.float64, copy=False)
                _shap_kernel(np.ascontiguousarray(chunk), self._int_start, self._int_node,
                             self._int_feat, self._int_thr, self._int_default_left,
                             self._leaf_start, self._path_start, self._path_node, self._path_left,
                             self._path_pos, self._uf_len, self._uf_feat, self._uf_z,
                             self._leaf_values, self._tab_start, self._tab, self._weights,
                             self._max_nodes, self._max_d, _BLOCK, out[start:start + _CHUNK])
        finally:
            numba.set_num_threads(previous)
        return out[:, :, 0] if self._n_outputs == 1 else out
