"""The one AUC and KS of the package, and PSI bins that keep a lump of identical values apart.

KS with tied scores must not split a tie group (``y = [1, 0, 1, 0]``, ``score = [.5, .5, .2, .2]``
has KS 0), must not depend on the order of the rows and must equal scipy's two-sample KS; AUC
must equal scikit-learn's. PSI must see a shift in the share of a lump (65 % zeros becoming 45 %).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from credit_lab.models import metrics, stability, validation

pytestmark = pytest.mark.unit


def rounded_sample(n=3000, decimals=2, seed=0):
    """Outcomes and PDs rounded to ``decimals`` places: many ties, as in a report."""
    rng = np.random.default_rng(seed)
    pd_ = np.round(rng.beta(1.2, 15, n), decimals)
    y = (rng.random(n) < pd_).astype(int)
    return y, pd_


# ---------------------------------------------------------------------------- KS

def test_ks_of_a_tie_that_separates_nothing_is_zero():
    assert metrics.kolmogorov_smirnov([1, 0, 1, 0], [0.5, 0.5, 0.2, 0.2]) == 0.0
    assert metrics.validation_metrics("x", [1, 0, 1, 0], [0.5, 0.5, 0.2, 0.2]).ks == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("decimals", [1, 2, 3])
def test_ks_matches_scipy_on_rounded_scores_with_many_ties(seed, decimals):
    y, p = rounded_sample(decimals=decimals, seed=seed)
    assert len(np.unique(p)) < len(p) / 10
    expected = stats.ks_2samp(p[y == 1], p[y == 0]).statistic
    assert metrics.kolmogorov_smirnov(y, p) == pytest.approx(expected, abs=1e-14)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(4, 60), levels=st.integers(1, 6))
def test_ks_and_auc_do_not_depend_on_row_order(data, n, levels):
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    score = np.array(data.draw(st.lists(st.integers(0, levels), min_size=n, max_size=n)), dtype=float) / 4
    if y.min() == y.max():
        y[0] = 1 - y[0]
    perm = np.array(data.draw(st.permutations(range(n))))
    assert metrics.kolmogorov_smirnov(y[perm], score[perm]) == metrics.kolmogorov_smirnov(y, score)
    assert metrics.auc(y[perm], score[perm]) == pytest.approx(metrics.auc(y, score), abs=1e-15)
    assert metrics.kolmogorov_smirnov(y, score) == pytest.approx(
        stats.ks_2samp(score[y == 1], score[y == 0]).statistic, abs=1e-14)


# ---------------------------------------------------------------------------- AUC

@pytest.mark.parametrize("decimals", [1, 3, None])
def test_auc_matches_sklearn(decimals):
    rng = np.random.default_rng(5)
    p = rng.beta(1.2, 15, 2000)
    p = np.round(p, decimals) if decimals is not None else p
    y = (rng.random(2000) < p).astype(int)
    assert metrics.auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-13)
    m = metrics.validation_metrics("x", y, p)
    assert m.auc == metrics.auc(y, p) and m.gini == 2 * m.auc - 1
    assert m.ks == metrics.kolmogorov_smirnov(y, p)


def test_one_definition_of_each_statistic():
    # the facade and the stages' imports reach the same function objects
    assert validation.auc is metrics.auc and validation.kolmogorov_smirnov is metrics.kolmogorov_smirnov
    assert validation.validation_metrics is metrics.validation_metrics
    assert stability.auc is metrics.auc


def test_validation_metrics_of_one_outcome_has_no_discrimination():
    m = metrics.validation_metrics("x", [0, 0, 0], [0.1, 0.2, 0.3])
    assert math.isnan(m.auc) and math.isnan(m.gini) and math.isnan(m.ks)
    assert m.brier == pytest.approx((0.01 + 0.04 + 0.09) / 3)


# ---------------------------------------------------------------------------- PSI with a lump

def lumpy_pair():
    """65 % zeros and 350 spread values; then 45 % zeros, the other 20 % just above zero."""
    positive = np.linspace(1.0, 100.0, 350)
    expected = np.r_[np.zeros(650), positive]
    actual = np.r_[np.zeros(450), np.full(200, 0.5), positive]
    return expected, actual


def test_psi_sees_the_share_of_a_lump_at_the_minimum_shift():
    expected, actual = lumpy_pair()
    value, table = stability.psi(expected, actual, bins=10)
    # The zeros have a bin of their own; the next bin runs to the 70 % quantile, which lies
    # between the 50th and 51st positive value (699.3 of 999 ranks), so it holds 50 expected
    # values and the 200 new ones. Every other bin is identical in both samples.
    assert table["bin"].iloc[0] == "(-inf, 0]"
    assert table["expected_count"].tolist()[:2] == [650, 50]
    assert table["actual_count"].tolist()[:2] == [450, 250]
    np.testing.assert_array_equal(table["expected_count"].iloc[2:], table["actual_count"].iloc[2:])
    hand = (0.45 - 0.65) * math.log(0.45 / 0.65) + (0.25 - 0.05) * math.log(0.25 / 0.05)
    assert value == pytest.approx(hand, abs=1e-12)
    assert value > 0.3 and stability.psi_flag(value) == "significant shift"


def test_psi_without_a_shift_is_zero_with_lumps():
    expected, _ = lumpy_pair()
    rng = np.random.default_rng(3)
    same, _ = stability.psi(expected, rng.permutation(expected), bins=10)
    assert same == 0.0
    # a fresh sample from the same lumpy distribution reads as stable
    draw = lambda n: np.where(rng.random(n) < 0.65, 0.0, rng.uniform(1, 100, n))  # noqa: E731
    value, _ = stability.psi(draw(20000), draw(20000), bins=10)
    assert value == pytest.approx(0.0, abs=0.01)


def test_psi_of_a_binary_feature_sees_its_share_move():
    expected = np.r_[np.zeros(700), np.ones(300)]
    actual = np.r_[np.zeros(500), np.ones(500)]
    value, table = stability.psi(expected, actual, bins=10)
    assert table["expected_count"].tolist() == [700, 300]
    hand = (0.5 - 0.7) * math.log(0.5 / 0.7) + (0.5 - 0.3) * math.log(0.5 / 0.3)
    assert value == pytest.approx(hand, abs=1e-12)


def test_psi_lump_in_the_middle_gets_its_own_bin_and_no_bin_is_empty():
    rng = np.random.default_rng(4)
    expected = np.r_[rng.uniform(0, 1, 500), np.full(300, 2.0), rng.uniform(3, 4, 500)]
    value, table = stability.psi(expected, expected, bins=10)
    assert value == 0.0
    assert (table["expected_count"] > 0).all()
    assert 300 in table["expected_count"].tolist()
    lump = table.loc[table["expected_count"] == 300, "bin"].item()
    assert lump.endswith(", 2]")


def test_psi_without_lumps_keeps_the_plain_quantile_bins():
    rng = np.random.default_rng(6)
    expected = rng.normal(size=4000)
    _, table = stability.psi(expected, rng.normal(size=1000), bins=10)
    assert table["expected_count"].tolist() == [400] * 10
