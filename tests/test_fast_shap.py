"""FastTreeExplainer against shap.TreeExplainer: element-wise equality, API contract, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression

from credit_lab.models import fast_shap
from credit_lab.models.fast_shap import FastTreeExplainer

TOL = 1e-9


def _data(n: int = 1500, n_feat: int = 8, nan_frac: float = 0.0, seed: int = 0):
    """Credit-like toy data: a few informative features, a skewed one, optional NaNs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_feat))
    X[:, 1] = rng.lognormal(0.0, 1.2, n)
    logit = -2.0 + 1.2 * X[:, 0] - 0.5 * np.log(X[:, 1]) + 0.8 * X[:, 2] * X[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    if nan_frac:
        for j in (0, 2, 4):
            X[rng.random(n) < nan_frac, j] = np.nan
    return X, y


def _assert_matches_shap(model, X, **kwargs) -> FastTreeExplainer:
    ref_explainer = shap.TreeExplainer(model)
    ref = ref_explainer.shap_values(X)
    fast = FastTreeExplainer(model, **kwargs)
    ours = fast.shap_values(X)
    assert ours.shape == ref.shape
    assert ours.dtype == np.float64
    assert np.max(np.abs(ours - ref)) <= TOL
    ref_ev = np.asarray(ref_explainer.expected_value, dtype=np.float64).ravel()
    if ours.ndim == 2:
        assert isinstance(fast.expected_value, float)
        assert fast.expected_value == ref_ev[-1]
    else:
        np.testing.assert_array_equal(fast.expected_value, ref_ev)
    return fast


def _hgb(**params) -> HistGradientBoostingClassifier:
    base = {"max_iter": 30, "max_leaf_nodes": 15, "learning_rate": 0.2, "early_stopping": False,
            "random_state": 0}
    return HistGradientBoostingClassifier(**(base | params))


def _check_hgb(model, X) -> None:
    fast = _assert_matches_shap(model, X)
    total = fast.expected_value + fast.shap_values(X).sum(axis=1)
    np.testing.assert_allclose(total, model.decision_function(X), rtol=0, atol=TOL)


def test_nans_routed_both_ways():
    X, y = _data(nan_frac=0.15)
    model = _hgb(max_iter=40).fit(X, y)
    ens = shap.TreeExplainer(model).model
    internal = ens.children_right >= 0
    default_left = ens.children_default == ens.children_left
    assert default_left[internal].any() and (~default_left[internal]).any()  # both routings occur
    X_new, _ = _data(n=600, nan_frac=0.3, seed=1)
    assert np.isnan(X_new).any()
    _check_hgb(model, X_new)


def test_nans_only_in_explained_rows():
    X, y = _data()
    model = _hgb().fit(X, y)
    X_new, _ = _data(n=400, nan_frac=0.3, seed=2)
    _check_hgb(model, X_new)


def test_monotonic_constraints():
    X, y = _data()
    model = _hgb(monotonic_cst=[1, -1, 0, 0, 0, 0, 0, 1]).fit(X, y)
    _check_hgb(model, _data(n=400, seed=3)[0])


def test_deep_trees():
    X, y = _data(n=3000, nan_frac=0.05)
    model = _hgb(max_leaf_nodes=63, max_depth=None, min_samples_leaf=5, max_iter=15).fit(X, y)
    _check_hgb(model, _data(n=400, nan_frac=0.05, seed=4)[0])


def test_shallow_trees():
    X, y = _data()
    model = _hgb(max_depth=2).fit(X, y)
    _check_hgb(model, _data(n=400, seed=5)[0])


def test_single_tree():
    X, y = _data()
    model = _hgb(max_iter=1).fit(X, y)
    _check_hgb(model, _data(n=400, seed=6)[0])


def test_constant_features():
    X, y = _data()
    X[:, 5] = 3.0
    X[:, 6] = 0.0
    model = _hgb().fit(X, y)
    X_new = _data(n=400, seed=7)[0]
    X_new[:, 5] = 3.0
    values = _assert_matches_shap(model, X_new).shap_values(X_new)
    assert np.all(values[:, 5] == 0.0)
    _check_hgb(model, X_new)


def test_regressor():
    X, y = _data(nan_frac=0.1)
    target = X[:, 3] + y
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, target)
    _assert_matches_shap(model, _data(n=300, nan_frac=0.1, seed=8)[0])


@pytest.mark.parametrize("max_table_features", [0, 3, 16])
def test_table_and_direct_paths_agree(max_table_features):
    """0: every leaf evaluated directly; 3: a mix; 16: every leaf from its table."""
    X, y = _data(n=3000)
    model = _hgb(max_leaf_nodes=40, max_depth=None, min_samples_leaf=5, max_iter=10).fit(X, y)
    fast = _assert_matches_shap(model, _data(n=300, seed=9)[0], max_table_features=max_table_features)
    assert 0 < fast.n_leaves
    if max_table_features == 0:
        assert fast.n_tabled_leaves == np.sum(fast._uf_len == 0)
    if max_table_features == 16:
        assert fast.n_tabled_leaves == fast.n_leaves


def test_lines_tables_and_direct_leaves_mixed_in_one_tree(monkeypatch):
    """Small budgets: lined, H-tabled and directly evaluated leaves side by side in the same trees."""
    X, y = _data(n=3000, nan_frac=0.05)
    model = _hgb(max_leaf_nodes=40, max_depth=None, min_samples_leaf=5, max_iter=10).fit(X, y)
    monkeypatch.setattr(fast_shap, "_LINE_BUDGET", 8 * 2 ** 6 * 25)
    monkeypatch.setattr(fast_shap, "_TABLE_BUDGET", 2 ** 7 * 30)
    fast = _assert_matches_shap(model, _data(n=300, nan_frac=0.05, seed=16)[0])
    lined = fast._line_start >= 0
    lined[fast._line_partner[fast._line_partner >= 0]] = True  # a right sibling's line is in its partner's
    tabled = fast._tab_start >= 0
    direct = ~lined & ~tabled & (fast._uf_len > 0)
    assert lined.any() and tabled.any() and direct.any()
    tree_of_leaf = np.searchsorted(fast._leaf_start, np.arange(fast.n_leaves), side="right") - 1
    assert (set(tree_of_leaf[lined]) & set(tree_of_leaf[tabled]) & set(tree_of_leaf[direct]))
    assert fast.n_lined_leaves == lined.sum()
    assert fast.n_tabled_leaves == (lined | tabled | (fast._uf_len == 0)).sum()


def test_features_repeated_along_paths_share_slots():
    """Deep trees on 3 features: features recur on a path and consecutive slot owners share them."""
    X, y = _data(n=4000, nan_frac=0.1)
    model = _hgb(max_leaf_nodes=60, max_depth=None, min_samples_leaf=3, max_iter=8).fit(X[:, :3], y)
    fast = _assert_matches_shap(model, _data(n=400, nan_frac=0.1, seed=17)[0][:, :3])
    assert np.max(np.diff(fast._path_start)) > 3  # paths longer than their distinct features
    flushes = fast._step_node < 0
    assert (flushes & ~fast._step_runs).any()  # runs of the same feature merged
    _check_hgb(model, _data(n=400, nan_frac=0.1, seed=18)[0][:, :3])


def test_sibling_leaves_share_a_line():
    """Sibling leaves split on a feature new to their path share one line; on a repeated feature they do not."""
    X, y = _data(n=4000, nan_frac=0.1)
    model = _hgb(max_leaf_nodes=60, max_depth=None, min_samples_leaf=3, max_iter=8).fit(X[:, :4], y)
    fast = _assert_matches_shap(model, _data(n=400, nan_frac=0.1, seed=19)[0][:, :4])
    left = np.nonzero(fast._line_partner >= 0)[0]
    assert left.size
    for leaf in left:
        right = fast._line_partner[leaf]
        a, b = fast._path_start[leaf], fast._path_start[right]
        depth = fast._path_start[leaf + 1] - a
        assert fast._path_start[right + 1] - b == depth
        np.testing.assert_array_equal(fast._path_node[a:a + depth], fast._path_node[b:b + depth])
        assert fast._path_left[a + depth - 1] and not fast._path_left[b + depth - 1]
        assert np.sum(fast._path_pos[a:a + depth] == fast._path_pos[a + depth - 1]) == 1  # a new feature
        assert fast._line_start[right] < 0  # its line is its partner's
    # sibling leaves under a split on a feature already on the path stay apart
    repeated = [leaf for leaf in range(fast.n_leaves - 1)
                if fast._path_start[leaf + 1] - fast._path_start[leaf] > 1
                and np.sum(fast._path_pos[fast._path_start[leaf]:fast._path_start[leaf + 1]]
                           == fast._path_pos[fast._path_start[leaf + 1] - 1]) > 1]
    assert repeated and np.all(fast._line_partner[repeated] < 0)


def test_line_entries_are_the_h_table_products_bit_for_bit(monkeypatch):
    """Each line entry is (sign * P) * H with P multiplied up over ascending features, as the H path computes it."""
    X, y = _data(n=2000)
    model = _hgb(max_leaf_nodes=20, max_iter=5).fit(X, y)
    lined = FastTreeExplainer(model)
    monkeypatch.setattr(fast_shap, "_LINE_BUDGET", 0)
    tabled = FastTreeExplainer(model)
    assert lined.n_lined_leaves == lined.n_leaves and tabled.n_lined_leaves == 0
    for leaf in np.nonzero((lined._line_start >= 0) & (lined._line_partner < 0))[0]:
        d = int(lined._uf_len[leaf])
        zs = lined._uf_z[lined._path_start[leaf]:lined._path_start[leaf] + d]
        h = tabled._tab[tabled._tab_start[leaf]:tabled._tab_start[leaf] + 2 ** d]
        lines = lined._lines[lined._line_start[leaf]:lined._line_start[leaf] + 8 * 2 ** d].reshape(-1, 8)
        full = 2 ** d - 1
        for fail in range(2 ** d):
            p = 1.0
            for k in range(d):
                p *= zs[k] if (fail >> k) & 1 else 1.0
            expected = [((-1.0 if (fail >> k) & 1 else 1.0 - zs[k]) * p) * h[(full ^ fail) & (full ^ (1 << k))]
                        for k in range(d)]
            np.testing.assert_array_equal(lines[fail], expected + [0.0] * (8 - d))


def test_chunks_blocks_and_threads(monkeypatch):
    X, y = _data(nan_frac=0.05)
    model = _hgb().fit(X, y)
    X_new = _data(n=1000, nan_frac=0.05, seed=10)[0]
    ref = shap.TreeExplainer(model).shap_values(X_new)
    monkeypatch.setattr(fast_shap, "_CHUNK", 300)
    monkeypatch.setattr(fast_shap, "_BLOCK", 7)
    monkeypatch.setattr(fast_shap, "_SUB", 3)  # blocks of 7 rows in passes of 3, 3 and 1
    chunked = FastTreeExplainer(model).shap_values(X_new)
    assert np.max(np.abs(chunked - ref)) <= TOL
    monkeypatch.undo()
    one = FastTreeExplainer(model, n_jobs=1).shap_values(X_new)
    two = FastTreeExplainer(model, n_jobs=2).shap_values(X_new)
    np.testing.assert_array_equal(one, two)


def test_empty_dataframe_and_ndarray():
    X, y = _data()
    model = _hgb().fit(X, y)
    fast = FastTreeExplainer(model)
    assert fast.shap_values(np.empty((0, 8))).shape == (0, 8)
    X_new = _data(n=200, nan_frac=0.1, seed=11)[0]
    frame = pd.DataFrame(X_new, columns=[f"f{i}" for i in range(8)])
    np.testing.assert_array_equal(fast.shap_values(frame), fast.shap_values(X_new))
    np.testing.assert_array_equal(fast.shap_values(X_new.astype(np.float32)),
                                  fast.shap_values(X_new.astype(np.float32).astype(np.float64)))


def test_wrong_number_of_columns():
    X, y = _data()
    fast = FastTreeExplainer(_hgb(max_iter=3).fit(X, y))
    with pytest.raises(ValueError, match="7 columns .* 8 features"):
        fast.shap_values(X[:, :7])
    with pytest.raises(ValueError, match="2-dimensional"):
        fast.shap_values(X[0])


def test_gradient_boosting_classifier():
    X, y = _data()
    model = GradientBoostingClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
    _assert_matches_shap(model, _data(n=300, seed=12)[0])


def test_random_forests_multi_output_and_deep_leaves():
    X, y = _data(n=800)
    clf = RandomForestClassifier(n_estimators=5, max_depth=None, random_state=0).fit(X, y)
    values = _assert_matches_shap(clf, _data(n=200, seed=13)[0]).shap_values(_data(n=200, seed=13)[0])
    assert values.shape == (200, 8, 2)
    reg = RandomForestRegressor(n_estimators=3, max_depth=None, random_state=0).fit(X, X[:, 0] + y)
    fast = _assert_matches_shap(reg, _data(n=200, seed=14)[0], max_table_features=6)
    assert fast.n_tabled_leaves < fast.n_leaves  # the direct evaluation is exercised


def test_multiclass_hist_gradient_boosting():
    X, y = _data(n=900)
    y3 = y + (X[:, 5] > 0.5)
    model = _hgb(max_iter=5).fit(X, y3)
    values = _assert_matches_shap(model, _data(n=200, nan_frac=0.1, seed=15)[0]).shap_values(X[:200])
    assert values.shape == (200, 8, 3)


def test_unsupported_models_raise_type_error():
    X, y = _data(n=300)
    with pytest.raises(TypeError, match="unsupported model LogisticRegression"):
        FastTreeExplainer(LogisticRegression().fit(X, y))
    X_cat = X.copy()
    X_cat[:, 7] = np.random.default_rng(0).integers(0, 4, len(X))
    cat = HistGradientBoostingClassifier(max_iter=3, categorical_features=[7]).fit(X_cat, y)
    with pytest.raises(TypeError, match="categorical"):
        FastTreeExplainer(cat)
    with pytest.raises(ValueError, match="n_jobs"):
        FastTreeExplainer(_hgb(max_iter=2).fit(X, y), n_jobs=0)
