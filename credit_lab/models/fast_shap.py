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

which is what shap's extend/unwind recursion evaluates. Let ``O = {k : o_k = 1}``, ``F = D\\O``
(the features at which the row leaves the path: its *failure mask*) and
``P = prod_{k in F} z_k``. Terms with ``S`` not inside ``O`` vanish, and splitting the product
over ``D\\S\\{i}`` into the part outside ``O`` and the part inside gives, with the *row-free* table

    H(U) = sum_{S subset U} w(|S|) prod_{k in U\\S} z_k          (U subset D),

    phi_i = -v_l P H(O)                      for i in F,
    phi_i =  v_l (1 - z_i) P H(O \\ {i})      for i in O.

For a given leaf, ``phi`` depends on the row only through its failure mask ``F``: one of ``2^d``
values. ``H(U) = sum_j w(j) e_j(U)``, where ``e_j(U)`` is the coefficient of ``t^j`` in
``prod_{k in U} (z_k + t)``, is tabulated over all subsets, each polynomial built from a smaller
subset's by one multiplication (``O(2^d d)`` per leaf). The identity is algebraically exact; the
only differences to shap are the order of floating-point operations (observed ~1e-14 on
log-odds). Per leaf, by its number of distinct features ``d``:

* ``d <= 8`` (within ``_LINE_BUDGET``): a *line* of 8 numbers per failure mask: entry ``k`` is the
  ``phi`` of the leaf's ``k``-th feature per unit leaf value (0 beyond ``d``), each formed by the
  same products, in the same order, as the ``H`` evaluation below (bit for bit the same number).
  A row costs one look-up of its line and one 8-lane vector multiply-add. Two sibling leaves
  whose parent splits on a feature new to the path share one line, ``v_l line_l[F] +
  v_r line_r[F ^ 2^b]`` (single-output models): a row fails the right leaf's last split exactly
  when it passes the left leaf's, so the left leaf's mask ``F`` indexes both.
* ``d <= max_table_features`` otherwise (within ``_TABLE_BUDGET``): the ``H`` table; a row costs
  ``P`` and ``d`` gathered look-ups.
* beyond: evaluated directly from the formula: the polynomial ``prod_{k in O}(z_k + t)`` in
  ``O(d^2)``, each ``H(O\\{i})`` by dividing out ``(z_i + t)`` from the top coefficient
  (``q_{j-1} = p_j - z_i q_j``; no division, errors damped as ``0 < z_i <= 1``).

How a block of rows runs through a tree
---------------------------------------
Distinct features of a leaf are numbered in order of first use along its path, so the number of
a node's feature is the same for every leaf below it. The failure mask is therefore built node by
node: walking the tree in pre-order, a child's mask is its parent's with the parent's feature bit
set when the row goes the other way (one integer operation per edge and row, not one per path
entry and leaf).

A leaf's line goes to 8 *slots* per row, one per feature number; slot ``k`` belongs to the node
that introduced the leaf's ``k``-th feature, and all leaves below that node add to it. When the
node's subtree is done (and the next owner of the slot has another feature), the slot is
*flushed*: added to its feature's total. The first line of each such run sets the slot instead
of adding to it (``0 + x == x``), so nothing is ever zeroed. Regrouping the sum per feature this
way changes only its rounding.

Rows are split into blocks of up to ``_BLOCK`` rows (at least four per thread) that run in
parallel (numba ``prange``) on ``n_jobs`` threads. A block goes tree by tree, and through a tree
in sub-blocks of ``_SUB`` rows: the tree's tables stay in cache for the whole block, the
sub-block's slots and masks in the fastest cache. Loops run over rows innermost, with the data
laid out row-last; numba does not vectorize the short fixed 8-lane slot update, so
``_add_scaled_8`` writes it as one vector operation in LLVM IR. Everything is float64 without
fastmath or fused multiply-add. The numba functions are cached on disk (``cache=True``): the
first use in a fresh environment compiles them (several seconds), later processes load them.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pandas as pd
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from credit_lab.models._fast_shap_tables import (
    LINE_FEATURES,
    MASK_BITS,
    build_tables,
    count_leaves,
    extract_paths,
    lined_leaves,
    plan_slots,
    shapley_weights,
    sibling_pairs,
    table_threshold,
    tree_steps,
)

__all__ = ["FastTreeExplainer"]

_BLOCK = 8192            # rows per parallel work item (the tables are read once per block)
_SUB = 512               # rows per pass over a tree within a block (slots and masks in L1)
_CHUNK = 65_536          # rows converted to float64 at a time (bounds the copy of X)
_TABLE_BUDGET = 1 << 23  # total H-table entries (float64) over all leaves: 64 MB
_LINE_BUDGET = 1 << 22   # total line entries (float64) over all leaves: 32 MB


@intrinsic
def _add_scaled_8(typingctx, dst, dst_at, src, src_at, scale, keep):
    """``dst[dst_at + i] = (dst[dst_at + i] if bit i of keep else 0) + src[src_at + i] * scale``.

    For ``i < 8``, as one 8-lane vector operation. Each lane is the scalar expression: a multiply,
    then an add, each rounded (no fused multiply-add); a lane whose bit in the 8-bit ``keep`` is
    clear starts from 0 (``0 + x == x`` exactly). Both arrays are 1-D float64 and C-contiguous;
    the offsets are not bounds-checked.
    """
    for arr in (dst, src):
        if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.float64
                and arr.layout == "C"):
            return None
    sig = types.void(dst, types.uint64, src, types.uint64, types.float64, types.uint8)

    def codegen(context, builder, signature, args):
        dst_arr = context.make_array(signature.args[0])(context, builder, args[0])
        src_arr = context.make_array(signature.args[2])(context, builder, args[2])
        vec = ir.VectorType(ir.DoubleType(), 8)
        dst_ptr = builder.bitcast(builder.gep(dst_arr.data, [args[1]]), vec.as_pointer())
        src_ptr = builder.bitcast(builder.gep(src_arr.data, [args[3]]), vec.as_pointer())
        lane0 = builder.insert_element(ir.Constant(vec, ir.Undefined), args[4],
                                       ir.Constant(ir.IntType(32), 0))
        scale_vec = builder.shuffle_vector(lane0, ir.Constant(vec, ir.Undefined),
                                           ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8))
        keep_mask = builder.bitcast(args[5], ir.VectorType(ir.IntType(1), 8))
        kept = builder.select(keep_mask, builder.load(dst_ptr, align=8), ir.Constant(vec, [0.0] * 8))
        product = builder.fmul(builder.load(src_ptr, align=8), scale_vec)
        builder.store(builder.fadd(kept, product), dst_ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def _explain_block(X: np.ndarray, r0: int, nb: int, tables: tuple, block: int, sub: int, out: np.ndarray) -> None:
    """SHAP values of rows ``r0:r0 + nb`` of ``X`` (``nb <= block``) into the same rows of ``out``.

    Tree by tree, and per tree in sub-blocks of ``sub`` rows; every loop over rows is innermost
    (branch-free, so the compiler vectorizes it) with the data laid out row-last, except the
    slot updates, one 8-lane vector per row.
    """
    # the tree tables, in :meth:`FastTreeExplainer._kernel_tables`' order
    (int_start, int_node, int_feat, int_thr, int_default_left, step_start, step_node, step_depth, step_left,
     step_bit, step_target, step_runs, leaf_keep, path_start, path_node, path_left, path_pos, uf_len, uf_feat,
     uf_z, leaf_values, tab_start, tab, line_start, lines, line_value, weights, max_nodes, max_depth, max_d) = tables
    n_feat = X.shape[1]
    n_out = out.shape[2]
    n_trees = step_start.shape[0] - 1
    xt = np.empty((n_feat, block))
    for r in range(nb):
        for f in range(n_feat):
            xt[f, r] = X[r0 + r, f]
    acc = np.zeros((n_out, n_feat, block))
    go_left = np.empty((max_nodes, sub), np.uint8)
    fail_at = np.zeros((max_depth + 1, sub), np.uint32)  # failure mask of the path's node per depth
    slots = np.zeros((n_out, sub * LINE_FEATURES))
    p_out = np.empty(sub)
    contrib = np.empty(sub)
    idx = np.empty(sub, np.uint64)
    sat = np.empty(max_d + 1, np.bool_)
    poly = np.empty(max_d + 2)
    for t in range(n_trees):
        for s0 in range(0, nb, sub):
            ns = min(sub, nb - s0)
            # the direction each internal node sends each row (NaN: the default child)
            for a in range(int_start[t], int_start[t + 1]):
                xf = xt[int_feat[a], s0:s0 + ns]
                gl = go_left[int_node[a]]
                thr = int_thr[a]
                dflt = int_default_left[a]
                for r in range(ns):
                    x = xf[r]
                    gl[r] = dflt if np.isnan(x) else np.uint8(x <= thr)
            for s in range(step_start[t], step_start[t + 1]):
                if not step_runs[s]:
                    continue
                parent = step_node[s]
                if parent < 0:  # the slot's run is done: add it to its feature
                    slot = step_bit[s]
                    for j in range(n_out):
                        total = acc[j, step_target[s], s0:s0 + ns]
                        sl = slots[j]
                        for r in range(ns):
                            total[r] += sl[r * LINE_FEATURES + slot]
                    continue
                dep = step_depth[s]
                fail = fail_at[dep]
                parent_fail = fail_at[dep - 1]
                gl = go_left[parent]
                bit = step_bit[s]
                if bit >= 0:
                    flip = np.uint8(step_left[s])  # the row fails the edge when it goes the other way
                    for r in range(ns):
                        fail[r] = parent_fail[r] | (np.uint32(gl[r] ^ flip) << np.uint32(bit))
                else:
                    for r in range(ns):
                        fail[r] = parent_fail[r]
                leaf = step_target[s]
                if leaf < 0:
                    continue
                d = uf_len[leaf]
                p0 = path_start[leaf]
                if line_start[leaf] >= 0:
                    base = np.uint64(line_start[leaf])
                    keep = np.uint8(leaf_keep[leaf])
                    for j in range(n_out):
                        v = line_value[leaf, j]
                        sl = slots[j]
                        for r in range(ns):
                            at = base + np.uint64(fail[r]) * np.uint64(LINE_FEATURES)
                            _add_scaled_8(sl, np.uint64(r * LINE_FEATURES), lines, at, v, keep)
                elif tab_start[leaf] >= 0:
                    base = tab_start[leaf]
                    p_out[:ns] = 1.0
                    for k in range(d):
                        z = uf_z[p0 + k]
                        for r in range(ns):
                            p_out[r] *= z if (fail[r] >> k) & 1 else 1.0
                    full = (1 << d) - 1
                    for k in range(d):
                        # k in O: (1 - z_k) P H(O \ {k}); k in F: -P H(O)
                        one_minus_z = 1.0 - uf_z[p0 + k]
                        clear = full ^ (1 << k)
                        for r in range(ns):
                            idx[r] = np.uint64(base + ((full ^ fail[r]) & clear))  # unsigned: no wrap-around code
                            contrib[r] = (-1.0 if (fail[r] >> k) & 1 else one_minus_z) * p_out[r]
                        for r in range(ns):  # a separate loop, so the look-ups vectorize (gather)
                            contrib[r] *= tab[idx[r]]
                        f = uf_feat[p0 + k]
                        for j in range(n_out):
                            v = leaf_values[leaf, j]
                            total = acc[j, f, s0:s0 + ns]
                            for r in range(ns):
                                total[r] += contrib[r] * v
                else:
                    p1 = path_start[leaf + 1]
                    for r in range(ns):
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
                                acc[j, f, s0 + r] += c * leaf_values[leaf, j]
    for r in range(nb):
        for f in range(n_feat):
            for j in range(n_out):
                out[r0 + r, f, j] = acc[j, f, r]


@njit(parallel=True, cache=True)
def _shap_kernel(X: np.ndarray, tables: tuple, block: int, sub: int, out: np.ndarray) -> None:
    """Write the SHAP values of the rows of ``X`` to ``out`` (n_rows, n_features, n_outputs), in parallel blocks."""
    n = X.shape[0]
    for b in prange((n + block - 1) // block):
        r0 = b * block
        _explain_block(X, r0, min(n, r0 + block) - r0, tables, block, sub, out)


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
        Leaves with at most this many distinct path features use a precomputed table: one line
        of contributions per failure mask for ``d <= 8`` (32 MB in all at most), else a ``2^d``
        ``H`` table (64 MB in all at most; the threshold is lowered until they fit); deeper
        leaves are evaluated directly in O(d^2) per row. 0 disables the tables.

    Attributes
    ----------
    expected_value : float or numpy.ndarray
        ``shap.TreeExplainer(model).expected_value``: a float for single-output models, an array
        of one value per output otherwise.
    n_features : int
        Number of columns ``X`` must have.
    n_leaves, n_tabled_leaves, n_lined_leaves : int
        Leaves in the ensemble, how many of them are evaluated from a precomputed table, and how
        many of those from lines.
    table_bytes : int
        Memory held by the precomputed tables.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 4))
    >>> model = HistGradientBoostingClassifier(max_iter=20).fit(X, X[:, 0] + rng.normal(size=500) > 0)
    >>> explainer = FastTreeExplainer(model)
    >>> values = explainer.shap_values(X[:5])
    >>> bool(np.allclose(explainer.expected_value + values.sum(axis=1), model.decision_function(X[:5])))
    True
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
        """Flatten shap's tree arrays into per-node, per-leaf and per-step arrays, build the tables."""
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
        count_leaves(cl, cr, n_leaves, path_len)
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
        extract_paths(cl, cr, feat, weight, values, leaf_start, tree_path_start, self._path_start,
                       self._path_node, self._path_left, self._path_pos, self._uf_len,
                       self._uf_feat, self._uf_z, self._leaf_values)

        # per tree: 2 (leaves - 1) edges and at most leaves - 1 flushes
        n_steps = int(3 * n_leaf)
        self._step_start = np.empty(n_trees + 1, np.int64)
        self._step_node = np.empty(n_steps, np.int32)
        self._step_depth = np.empty(n_steps, np.int32)
        self._step_left = np.empty(n_steps, np.uint8)
        self._step_bit = np.empty(n_steps, np.int32)
        self._step_target = np.empty(n_steps, np.int64)
        tree_steps(cl, cr, feat, leaf_start, MASK_BITS, LINE_FEATURES, self._step_start,
                    self._step_node, self._step_depth, self._step_left, self._step_bit,
                    self._step_target)
        n_steps = int(self._step_start[-1])
        for name in ("_step_node", "_step_depth", "_step_left", "_step_bit", "_step_target"):
            setattr(self, name, getattr(self, name)[:n_steps].copy())
        edges = self._step_node >= 0
        self._max_depth = int(self._step_depth[edges].max()) if edges.any() else 0
        self._max_nodes = max_nodes
        self._max_d = int(self._uf_len.max()) if n_leaf else 0
        self._weights = shapley_weights(self._max_d)

        d = self._uf_len
        lined = lined_leaves(d, min(LINE_FEATURES, self.max_table_features), _LINE_BUDGET)
        # sibling leaves that share one line per failure mask (values folded in: one output only)
        self._line_partner = np.full(n_leaf, -1, np.int64)
        line_pair_bit = np.zeros(n_leaf, np.int64)
        pair_steps = (np.zeros(0, np.int64),) * 2
        if self._n_outputs == 1:
            pair_steps = sibling_pairs(self._step_start, self._step_node, self._step_left, self._step_bit,
                                       self._step_target, self._path_start, self._path_pos, lined)
            left, right = self._step_target[pair_steps[0]], self._step_target[pair_steps[1]]
            self._line_partner[left] = right
            line_pair_bit[left] = self._step_bit[pair_steps[0]]
        stored = lined.copy()
        stored[self._step_target[pair_steps[1]]] = False  # a right sibling's line is in its partner's
        line_sizes = np.where(stored, LINE_FEATURES << np.minimum(d, 62), 0)
        self._line_start = np.where(stored, np.cumsum(line_sizes) - line_sizes, -1).astype(np.int64)
        self._lines = np.empty(int(line_sizes.sum()), np.float64)
        self._line_value = self._leaf_values.copy()  # the scale of a leaf's line
        self._line_value[self._line_partner >= 0] = 1.0
        threshold = table_threshold(np.where(lined, 0, d), self.max_table_features, _TABLE_BUDGET)
        tabled = (d <= threshold) & ~lined
        sizes = np.where(tabled, 1 << np.minimum(d, 62), 0)
        self._tab_start = np.where(tabled, np.cumsum(sizes) - sizes, -1).astype(np.int64)
        self._tab = np.empty(int(sizes.sum()), np.float64)
        build_tables(self._path_start, self._uf_len, self._uf_z, self._weights, self._leaf_values,
                     self._tab_start, self._tab, self._line_start, self._line_partner, line_pair_bit,
                     self._lines)
        self._step_runs = np.zeros(n_steps, np.bool_)
        self._leaf_keep = np.zeros(n_leaf, np.int64)
        plan_slots(self._step_start, self._step_node, self._step_bit, self._step_target, self._uf_len,
                   lined, LINE_FEATURES, self._step_runs, self._leaf_keep)
        self._step_runs[pair_steps[1]] = False  # done with its left sibling
        self.n_tabled_leaves = int((lined | tabled | (d == 0)).sum())
        self.n_lined_leaves = int(lined.sum())
        self.n_leaves = n_leaf
        self.table_bytes = int(self._lines.nbytes + self._tab.nbytes)

    def _kernel_tables(self) -> tuple:
        """The tree tables the kernels read, in the order :func:`_explain_block` unpacks them."""
        return (self._int_start, self._int_node, self._int_feat, self._int_thr, self._int_default_left,
                self._step_start, self._step_node, self._step_depth, self._step_left, self._step_bit,
                self._step_target, self._step_runs, self._leaf_keep, self._path_start, self._path_node,
                self._path_left, self._path_pos, self._uf_len, self._uf_feat, self._uf_z, self._leaf_values,
                self._tab_start, self._tab, self._line_start, self._lines, self._line_value, self._weights,
                self._max_nodes, self._max_depth, self._max_d)

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
        # at least 4 blocks per thread, so a small book still keeps every thread busy
        block = min(_BLOCK, max(_SUB, -(-min(n, _CHUNK) // (4 * n_threads))))
        tables = self._kernel_tables()
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            for start in range(0, n, _CHUNK):
                chunk = data[start:start + _CHUNK].astype(self._input_dtype).astype(np.float64, copy=False)
                _shap_kernel(np.ascontiguousarray(chunk), tables, block, min(_SUB, block),
                             out[start:start + _CHUNK])
        finally:
            numba.set_num_threads(previous)
        return out[:, :, 0] if self._n_outputs == 1 else out
