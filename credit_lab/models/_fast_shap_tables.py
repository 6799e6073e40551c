"""Flattening shap's trees for :mod:`credit_lab.models.fast_shap`, and its precomputed tables.

Kept apart from the evaluation kernel so each module stays one concern: here everything that
depends only on the trees (paths, the pre-order steps, ``H`` tables and lines), computed once per
explainer; the algorithm and the symbols (``d``, ``z_k``, ``F``, ``O``, ``P``, ``H``) are described
in the docstring of :mod:`credit_lab.models.fast_shap`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["LINE_FEATURES", "MASK_BITS", "build_tables", "count_leaves", "extract_paths", "lined_leaves",
           "plan_slots", "shapley_weights", "sibling_pairs", "table_threshold", "tree_steps"]

LINE_FEATURES = 8  # entries per line (leaves with at most this many distinct features): the lanes of
                   # fast_shap._add_scaled_8; numba compiles it in as a constant (clear its cache on a change)
MASK_BITS = 32     # failure masks are uint32; tabled leaves need at most 16 bits


@njit(cache=True)
def count_leaves(children_left: np.ndarray, children_right: np.ndarray, n_leaves: np.ndarray,
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
def extract_paths(children_left: np.ndarray, children_right: np.ndarray, features: np.ndarray,
                   node_sample_weight: np.ndarray, values: np.ndarray, leaf_start: np.ndarray,
                   tree_path_start: np.ndarray, path_start: np.ndarray, path_node: np.ndarray,
                   path_left: np.ndarray, path_pos: np.ndarray, uf_len: np.ndarray,
                   uf_feat: np.ndarray, uf_z: np.ndarray, leaf_values: np.ndarray) -> None:
    """Fill the per-leaf path arrays, leaves numbered in pre-order (left subtree first).

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
def tree_steps(children_left: np.ndarray, children_right: np.ndarray, features: np.ndarray,
                leaf_start: np.ndarray, max_bits: int, n_slots: int, step_start: np.ndarray,
                step_node: np.ndarray, step_depth: np.ndarray, step_left: np.ndarray,
                step_bit: np.ndarray, step_target: np.ndarray) -> None:
    """Each tree as a sequence of steps in the pre-order of ``_extract_paths``.

    A step ``s`` with ``step_node[s] >= 0`` is the edge from internal node ``step_node[s]`` to a
    child at depth ``step_depth[s]`` (the left child when ``step_left[s]``); ``step_target[s]`` is
    the child's leaf number, or -1. ``step_bit[s]`` is the number of the parent's feature among the
    distinct features of the path to it, in order of first use (``path_pos`` of
    ``_extract_paths``, the same for every leaf below), or -1 when it is ``max_bits`` or more: a
    row's failure mask at the child is the mask at the parent with that bit set when the row goes
    the other way.

    A step with ``step_node[s] < 0`` flushes slot ``step_bit[s]`` to feature ``step_target[s]``:
    it follows the last leaf below each node that introduces a feature numbered below
    ``n_slots`` (the slot's owner while its subtree is visited).
    """
    n_trees, max_nodes = children_left.shape
    stack = np.empty(max_nodes + 1, np.int64)
    depth = np.empty(max_nodes + 1, np.int64)
    from_node = np.empty(max_nodes + 1, np.int64)
    is_left = np.empty(max_nodes + 1, np.uint8)
    path_feat = np.empty(max_nodes + 1, np.int64)
    path_bit = np.empty(max_nodes + 1, np.int64)
    owner = np.zeros(max_nodes + 1, np.bool_)  # the path's node at this depth owns a slot
    n_distinct = np.empty(max_nodes + 2, np.int64)
    s = 0
    for t in range(n_trees):
        step_start[t] = s
        leaf = leaf_start[t]
        top = 0
        stack[0] = 0
        depth[0] = 0
        n_distinct[0] = 0
        path_len = 0
        while top >= 0:
            node = stack[top]
            dep = depth[top]
            for j in range(path_len - 1, dep - 1, -1):  # the subtrees left behind are done
                if owner[j]:
                    step_node[s] = -1
                    step_bit[s] = path_bit[j]
                    step_target[s] = path_feat[j]
                    s += 1
            path_len = dep + 1
            owner[dep] = False
            if dep > 0:
                bit = path_bit[dep - 1]
                step_node[s] = from_node[top]
                step_depth[s] = dep
                step_left[s] = is_left[top]
                step_bit[s] = bit if bit < max_bits else -1
                step_target[s] = leaf if children_right[t, node] < 0 else -1
                s += 1
            top -= 1
            if children_right[t, node] < 0:
                leaf += 1
                continue
            f = features[t, node]
            path_feat[dep] = f
            j = 0
            while j < dep and path_feat[j] != f:
                j += 1
            if j < dep:
                path_bit[dep] = path_bit[j]
                n_distinct[dep + 1] = n_distinct[dep]
            else:
                path_bit[dep] = n_distinct[dep]
                n_distinct[dep + 1] = n_distinct[dep] + 1
                owner[dep] = n_distinct[dep] < n_slots
            for child, left in ((children_right[t, node], 0), (children_left[t, node], 1)):
                top += 1
                stack[top] = child
                depth[top] = dep + 1
                from_node[top] = node
                is_left[top] = left
        for j in range(path_len - 1, -1, -1):
            if owner[j]:
                step_node[s] = -1
                step_bit[s] = path_bit[j]
                step_target[s] = path_feat[j]
                s += 1
    step_start[n_trees] = s


@njit(cache=True)
def plan_slots(step_start: np.ndarray, step_node: np.ndarray, step_bit: np.ndarray,
                step_target: np.ndarray, uf_len: np.ndarray, lined: np.ndarray, n_slots: int,
                step_runs: np.ndarray, leaf_keep: np.ndarray) -> None:
    """Which steps run (``step_runs``), and which slots each lined leaf adds to (``leaf_keep``).

    Consecutive owners of a slot (in pre-order) with the same feature share one run: the slot is
    flushed once, at the end of the run, and the run's first lined leaf sets the slot instead of
    adding to it (its bit clear in ``leaf_keep``), so a flush never has to zero the slot. A run
    without a lined leaf has nothing to flush. Edge steps always run.
    """
    next_feat = np.empty(n_slots, np.int64)
    fresh = np.empty(n_slots, np.bool_)  # the slot holds nothing of the current run yet
    for t in range(step_start.shape[0] - 1):
        next_feat[:] = -1
        for s in range(step_start[t + 1] - 1, step_start[t] - 1, -1):
            if step_node[s] < 0:
                slot = step_bit[s]
                step_runs[s] = next_feat[slot] != step_target[s]
                next_feat[slot] = step_target[s]
        fresh[:] = True
        for s in range(step_start[t], step_start[t + 1]):
            if step_node[s] < 0:
                slot = step_bit[s]
                if step_runs[s]:
                    step_runs[s] = not fresh[slot]
                    fresh[slot] = True
                continue
            step_runs[s] = True
            leaf = step_target[s]
            if leaf < 0 or not lined[leaf]:
                continue
            keep = (1 << n_slots) - 1
            for slot in range(uf_len[leaf]):
                if fresh[slot]:
                    keep ^= 1 << slot
                    fresh[slot] = False
            leaf_keep[leaf] = keep


@njit(cache=True)
def _leaf_table(zs: np.ndarray, weights_d: np.ndarray, coef: np.ndarray, h: np.ndarray) -> None:
    """``h[U] = H(U) = sum_j w(j) e_j(U)`` over all subsets ``U`` (bit masks) of a leaf's features.

    The polynomial ``prod_{k in U}(z_k + t)`` of ``U`` is that of ``U`` without its lowest bit
    times one factor. ``coef`` is scratch of at least ``(2^d, d + 2)``.
    """
    coef[0, 0] = 1.0
    h[0] = weights_d[0]
    for mask in range(1, 1 << zs.shape[0]):
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
        total = 0.0
        for j in range(m + 2):
            total += weights_d[j] * coef[mask, j]
        h[mask] = total


@njit(cache=True)
def _leaf_lines(zs: np.ndarray, weights_d: np.ndarray, coef: np.ndarray, h: np.ndarray,
                p_fail: np.ndarray, lines: np.ndarray) -> None:
    """A leaf's lines, ``lines[F, k]`` for its ``2^d`` failure masks ``F`` (see ``build_tables``)."""
    d = zs.shape[0]
    n_sub = 1 << d
    _leaf_table(zs, weights_d, coef, h)
    p_fail[0] = 1.0
    for fail in range(1, n_sub):
        k = _highest_bit(fail)  # P of the mask without its highest bit, times that z
        p_fail[fail] = p_fail[fail ^ (1 << k)] * zs[k]
    full = n_sub - 1
    for fail in range(n_sub):
        lines[fail, :] = 0.0
        for k in range(d):
            sign = -1.0 if (fail >> k) & 1 else 1.0 - zs[k]
            lines[fail, k] = (sign * p_fail[fail]) * h[(full ^ fail) & (full ^ (1 << k))]


@njit(cache=True)
def build_tables(path_start: np.ndarray, uf_len: np.ndarray, uf_z: np.ndarray, weights: np.ndarray,
                 leaf_values: np.ndarray, tab_start: np.ndarray, tab: np.ndarray,
                 line_start: np.ndarray, line_partner: np.ndarray, line_pair_bit: np.ndarray,
                 lines: np.ndarray) -> None:
    """Fill the ``H`` tables (``tab``) and the lines (``lines``) of the leaves that have them.

    A leaf with ``tab_start >= 0`` gets ``tab[tab_start + U] = H(U)``. A leaf with
    ``line_start >= 0`` gets line ``F`` at ``lines[line_start + 8 F:][:8]`` for each failure mask
    ``F``: entry ``k < d`` is ``(-1 if k in F else 1 - z_k) * P`` times ``H(O)`` or
    ``H(O \\ {k})``, with ``P`` multiplied up over ascending ``k``: the products and their order
    of the ``H`` evaluation in ``fast_shap._explain_block``, so each entry is bit for bit its number.

    A leaf with a partner (``line_partner >= 0``: its sibling leaf, whose path is the same up to
    the last split, on a feature new to the path, numbered ``b = line_pair_bit``) gets the lines
    of both, times their leaf values and added: ``v_l line_l[F] + v_r line_r[F ^ 2^b]``, ``F``
    the left leaf's mask (a row fails the right leaf's last split exactly when it passes the left's).
    """
    max_d = 0
    for leaf in range(uf_len.shape[0]):
        if (tab_start[leaf] >= 0 or line_start[leaf] >= 0) and uf_len[leaf] > max_d:
            max_d = uf_len[leaf]
    coef = np.zeros((1 << max_d, max_d + 2))
    h = np.empty(1 << max_d)
    p_fail = np.empty(1 << max_d)
    partner_lines = np.empty((1 << max_d, LINE_FEATURES))
    for leaf in range(uf_len.shape[0]):
        if tab_start[leaf] < 0 and line_start[leaf] < 0:
            continue
        d = uf_len[leaf]
        zs = uf_z[path_start[leaf]:path_start[leaf] + d]
        n_sub = 1 << d
        if tab_start[leaf] >= 0:
            _leaf_table(zs, weights[d], coef, tab[tab_start[leaf]:tab_start[leaf] + n_sub])
            continue
        own = lines[line_start[leaf]:line_start[leaf] + n_sub * LINE_FEATURES].reshape(n_sub, LINE_FEATURES)
        _leaf_lines(zs, weights[d], coef, h, p_fail, own)
        partner = line_partner[leaf]
        if partner < 0:
            continue
        _leaf_lines(uf_z[path_start[partner]:path_start[partner] + d], weights[d], coef, h, p_fail,
                    partner_lines)
        flip = 1 << line_pair_bit[leaf]
        v_own = leaf_values[leaf, 0]
        v_partner = leaf_values[partner, 0]
        for fail in range(n_sub):
            for k in range(LINE_FEATURES):
                own[fail, k] = own[fail, k] * v_own + partner_lines[fail ^ flip, k] * v_partner


@njit(cache=True)
def _highest_bit(x: int) -> int:
    """Position of the highest set bit of ``x > 0``."""
    k = 0
    while x >> (k + 1):
        k += 1
    return k


def shapley_weights(max_d: int) -> np.ndarray:
    """``weights[d, s] = s! (d - s - 1)! / d! = 1 / (d * C(d - 1, s))`` for ``s < d``, 0 for ``s = d``."""
    weights = np.zeros((max_d + 1, max_d + 2))
    for d in range(1, max_d + 1):
        for s in range(d):
            weights[d, s] = 1.0 / (d * math.comb(d - 1, s))
    return weights


def table_threshold(uf_len: np.ndarray, max_table_features: int, budget: int) -> int:
    """Largest ``t <= max_table_features`` whose leaves (``d <= t``) fit ``budget`` table entries."""
    counts = np.bincount(uf_len, minlength=max_table_features + 1)[: max_table_features + 1]
    sizes = np.cumsum(counts * (2.0 ** np.arange(counts.size)))
    fitting = np.nonzero(sizes <= budget)[0]
    return int(fitting[-1]) if fitting.size else -1


def lined_leaves(uf_len: np.ndarray, max_features: int, budget: int) -> np.ndarray:
    """Leaves with ``1 <= d <= max_features`` that get lines, fewest features first, within ``budget`` entries."""
    d = uf_len
    candidate = (d >= 1) & (d <= max_features)
    cost = np.where(candidate, LINE_FEATURES * 2.0 ** np.minimum(d, 62), 0.0)
    order = np.argsort(np.where(candidate, d, np.iinfo(np.int64).max), kind="stable")
    lined = candidate.copy()
    lined[order[np.cumsum(cost[order]) > budget]] = False
    return lined


def sibling_pairs(step_start: np.ndarray, step_node: np.ndarray, step_left: np.ndarray,
                  step_bit: np.ndarray, step_target: np.ndarray, path_start: np.ndarray,
                  path_pos: np.ndarray, lined: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge steps to a lined left leaf followed by the step to its lined sibling, split on a new feature.

    Returns the two step indices of each pair. The split's feature must be new to the path (it
    is the leaves' last feature number, used once), so the sibling's failure mask is the left
    leaf's with that one bit flipped.
    """
    s = np.nonzero((step_node[:-1] >= 0) & (step_left[:-1] == 1) & (step_target[:-1] >= 0))[0]
    s = s[(step_node[s + 1] == step_node[s]) & (step_target[s + 1] >= 0)]
    tree = np.searchsorted(step_start, s, side="right")
    s = s[tree == np.searchsorted(step_start, s + 1, side="right")]
    left, right = step_target[s], step_target[s + 1]
    s = s[lined[left] & lined[right]]
    left = step_target[s]
    last = path_start[left + 1] - 1  # the entry of the split between the two leaves
    uses = np.array([np.count_nonzero(path_pos[path_start[leaf]:path_start[leaf + 1]] == path_pos[end])
                     for leaf, end in zip(left, last)], dtype=np.int64)
    s = s[(uses == 1) & (step_bit[s] == path_pos[last])]
    return s, s + 1
