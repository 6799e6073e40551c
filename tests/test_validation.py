"""Validation statistics: each number checked against a hand-worked case, a closed form or another library."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import betaln, expit
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.metrics import log_loss as sk_log_loss

from credit_lab.core.exceptions import CreditLabError
from credit_lab.models import validation as v
from credit_lab.models.metrics import validation_metrics
from credit_lab.report import validation_figures as vf

matplotlib.use("Agg")


def tied_sample(n=2000, levels=4, seed=0):
    """Outcomes and a heavily tied integer score (only ``levels`` distinct values)."""
    rng = np.random.default_rng(seed)
    score = rng.integers(0, levels, n).astype(float)
    y = (rng.random(n) < 0.05 + 0.1 * score).astype(int)
    return y, score


def beta_cdf_by_quadrature(x, a, b):
    """Beta CDF by numerical integration of the density (independent of scipy.stats.beta)."""
    log_norm = betaln(a, b)
    value, _ = integrate.quad(lambda t: math.exp((a - 1) * math.log(t) + (b - 1) * math.log1p(-t) - log_norm),
                              0.0, x, limit=200, epsabs=1e-13, epsrel=1e-11)
    return value


# ---------------------------------------------------------------------------- discrimination

# Five customers, hand-worked: sorted by score 0.9 (bad) | 0.8 (good), 0.8 (bad) | 0.3 (good) | 0.1 (good).
Y5 = np.array([1, 0, 1, 0, 0])
S5 = np.array([0.9, 0.8, 0.8, 0.3, 0.1])


def test_cap_curve_hand_worked_with_a_tie():
    cap = v.cap_curve(Y5, S5)
    np.testing.assert_allclose(cap["share_population"], [0, 0.2, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(cap["share_bads"], [0, 0.5, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(cap["threshold"], [np.inf, 0.9, 0.8, 0.3, 0.1])
    # area under CAP = 0.05 + 0.30 + 0.20 + 0.20 = 0.75; perfect area = 1 - 0.4/2 = 0.8
    assert v.accuracy_ratio(Y5, S5) == pytest.approx((0.75 - 0.5) / (0.8 - 0.5), abs=1e-14)
    # AUC by counting pairs: 3 + (0.5 + 2) = 5.5 of 6
    assert v.auc(Y5, S5) == pytest.approx(5.5 / 6, abs=1e-14)


def test_roc_and_ks_hand_worked():
    roc = v.roc_table(Y5, S5)
    np.testing.assert_allclose(roc["fpr"], [0, 0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(roc["tpr"], [0, 0.5, 1, 1, 1])
    assert v.kolmogorov_smirnov(Y5, S5) == pytest.approx(2 / 3, abs=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("levels", [2, 4, 25])
def test_accuracy_ratio_equals_gini_with_heavy_ties(seed, levels):
    y, score = tied_sample(levels=levels, seed=seed)
    sk_auc = roc_auc_score(y, score)
    assert v.auc(y, score) == pytest.approx(sk_auc, abs=1e-13)
    assert v.accuracy_ratio(y, score) == pytest.approx(2 * sk_auc - 1, abs=1e-12)


def test_roc_table_matches_sklearn_with_ties():
    y, score = tied_sample(levels=6, seed=3)
    fpr, tpr, thr = roc_curve(y, score, drop_intermediate=False)
    roc = v.roc_table(y, score)
    np.testing.assert_allclose(roc["fpr"], fpr, atol=1e-15)
    np.testing.assert_allclose(roc["tpr"], tpr, atol=1e-15)
    np.testing.assert_array_equal(roc["threshold"].to_numpy()[1:], thr[1:])
    assert np.isinf(roc["threshold"].iloc[0])


def test_cap_is_computed_by_sorting_and_reaches_the_corners():
    y, score = tied_sample(levels=5, seed=4)
    cap = v.cap_curve(y, score)
    # each step's share of bads equals the bads among customers at or above the threshold
    for _, row in cap.iloc[1:].iterrows():
        above = score >= row["threshold"]
        assert row["share_population"] == pytest.approx(above.mean())
        assert row["share_bads"] == pytest.approx(y[above].sum() / y.sum())
    assert cap.iloc[-1][["share_population", "share_bads"]].tolist() == [1.0, 1.0]


def test_accuracy_ratio_extremes():
    y = np.array([0, 0, 0, 1, 1, 0, 0, 1])
    assert v.accuracy_ratio(y, y * 10.0) == pytest.approx(1.0, abs=1e-14)
    assert v.accuracy_ratio(y, -y * 10.0) == pytest.approx(-1.0, abs=1e-14)
    assert v.accuracy_ratio(y, np.zeros(len(y))) == pytest.approx(0.0, abs=1e-14)


def test_ks_matches_scipy_with_ties_and_models_without():
    y, score = tied_sample(levels=7, seed=5)
    assert v.kolmogorov_smirnov(y, score) == pytest.approx(
        stats.ks_2samp(score[y == 1], score[y == 0]).statistic, abs=1e-14)
    rng = np.random.default_rng(6)
    s = rng.normal(size=500)
    yy = (rng.random(500) < expit(s - 1)).astype(int)
    assert v.kolmogorov_smirnov(yy, s) == pytest.approx(stats.ks_2samp(s[yy == 1], s[yy == 0]).statistic, abs=1e-14)


def test_brier_and_log_loss_match_sklearn():
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, 400)
    p[:3] = [0.0, 1.0, 0.5]
    y = (rng.random(400) < p).astype(int)
    assert v.brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    assert v.log_loss(y, p) == pytest.approx(sk_log_loss(y, np.clip(p, 1e-5, 1 - 1e-5)), abs=1e-12)


def test_validation_summary_agrees_with_models_metrics():
    rng = np.random.default_rng(8)
    p = rng.beta(1, 12, 3000)
    y = (rng.random(3000) < p).astype(int)
    ours = v.validation_summary(y, p)
    ref = validation_metrics("x", y, p)
    for key in ("n", "default_rate", "mean_pd", "auc", "ks", "brier"):
        assert ours[key] == pytest.approx(getattr(ref, key), abs=1e-12), key
    assert ours["defaults"] == ref.n_defaults
    assert ours["accuracy_ratio"] == pytest.approx(ref.gini, abs=1e-12)
    one_class = v.validation_summary(np.zeros(5), np.full(5, 0.1))
    assert np.isnan(one_class["auc"]) and one_class["brier"] == pytest.approx(0.01)


def test_auc_by_period_matches_sklearn_per_period_and_flags_one_class():
    rng = np.random.default_rng(9)
    n = 900
    period = pd.PeriodIndex(rng.choice(["2024-01", "2024-02", "2024-03"], n), freq="M")
    score = rng.normal(size=n)
    y = (rng.random(n) < expit(score - 2)).astype(int)
    y[period == pd.Period("2024-03", "M")] = 0
    table = v.auc_by_period(y, score, period)
    assert list(table.index.astype(str)) == ["2024-01", "2024-02", "2024-03"]
    for p in ("2024-01", "2024-02"):
        mask = period == pd.Period(p, "M")
        row = table.loc[pd.Period(p, "M")]
        assert row["n"] == mask.sum() and row["defaults"] == y[mask].sum()
        assert row["auc"] == pytest.approx(roc_auc_score(y[mask], score[mask]), abs=1e-13)
        assert row["note"] == ""
    last = table.loc[pd.Period("2024-03", "M")]
    assert np.isnan(last["auc"]) and "no defaults" in last["note"]


# ---------------------------------------------------------------------------- binomial / Jeffreys

def grade_sample():
    """Three grades of 100 customers at PD 1 %, with 1, 4 and 8 defaults."""
    grades, pds, ys = [], [], []
    for grade, d in (("A", 1), ("B", 4), ("C", 8)):
        grades += [grade] * 100
        pds += [0.01] * 100
        ys += [1] * d + [0] * (100 - d)
    return np.array(grades), np.array(pds), np.array(ys)


def test_binomial_test_hand_worked_small_case():
    # n = 10, p = 0.1, d = 3: P[X >= 3] = 1 - 0.9^10 - 10 * 0.1 * 0.9^9 - 45 * 0.01 * 0.9^8
    table = v.binomial_test_by_grade(["x"] * 10, [0.1] * 10, [1, 1, 1] + [0] * 7)
    expected = 1 - 0.9**10 - 10 * 0.1 * 0.9**9 - 45 * 0.01 * 0.9**8
    assert table.at["x", "p_value"] == pytest.approx(expected, rel=1e-12)
    assert table.at["x", "observed_rate"] == pytest.approx(0.3)
    # P[X >= 4] = 0.0128 < 0.05 <= P[X >= 3] = 0.0702: 4 defaults are the critical count at 95 %;
    # P[X >= 5] = 0.00163 >= 0.001 > P[X >= 6] = 1.47e-4: 6 at 99.9 %.
    tail = [sum(math.comb(10, j) * 0.1**j * 0.9 ** (10 - j) for j in range(k, 11)) for k in range(11)]
    assert tail[3] >= 0.05 > tail[4] and tail[5] >= 0.001 > tail[6]
    assert table.at["x", "critical_defaults_95"] == 4
    assert table.at["x", "critical_defaults_99.9"] == 6
    assert table.at["x", "traffic_light"] == "green"


def test_binomial_test_matches_scipy_binomtest_and_lights():
    grades, pds, ys = grade_sample()
    table = v.binomial_test_by_grade(grades, pds, ys)
    assert list(table.index) == ["A", "B", "C"]
    for grade, d in (("A", 1), ("B", 4), ("C", 8)):
        ref = stats.binomtest(d, 100, 0.01, alternative="greater").pvalue
        assert table.at[grade, "p_value"] == pytest.approx(ref, rel=1e-10)
        assert table.at[grade, "n"] == 100 and table.at[grade, "defaults"] == d
    assert table["traffic_light"].tolist() == ["green", "yellow", "red"]
    # the light agrees with the p-values by their definition
    assert table.at["A", "p_value"] >= 0.05
    assert 0.001 <= table.at["B", "p_value"] < 0.05
    assert table.at["C", "p_value"] < 0.001


@pytest.mark.parametrize("n,p", [(100, 0.01), (250, 0.035), (40, 0.2), (5, 0.0), (3, 0.9)])
def test_critical_default_counts_are_the_smallest_rejected(n, p):
    table = v.binomial_test_by_grade(["g"] * n, [p] * n, [0] * n)
    for level, col in ((0.95, "critical_defaults_95"), (0.999, "critical_defaults_99.9")):
        k = int(table.at["g", col])
        alpha = 1 - level
        if k <= n:
            assert stats.binomtest(k, n, p, alternative="greater").pvalue < alpha
        if k >= 1:
            assert stats.binomtest(k - 1, n, p, alternative="greater").pvalue >= alpha


def test_jeffreys_p_value_matches_quadrature():
    grades, pds, ys = grade_sample()
    pds = pds.copy()
    pds[grades == "B"] = 0.02
    table = v.binomial_test_by_grade(grades, pds, ys)
    for grade, d, p in (("A", 1, 0.01), ("B", 4, 0.02), ("C", 8, 0.01)):
        ref = beta_cdf_by_quadrature(p, d + 0.5, 100 - d + 0.5)
        assert table.at[grade, "jeffreys_p_value"] == pytest.approx(ref, rel=1e-8)


def test_binomial_grade_order_and_missing_grades():
    grades, pds, ys = grade_sample()
    table = v.binomial_test_by_grade(grades, pds, ys, grade_order=["C", "B", "A", "D"])
    assert list(table.index) == ["C", "B", "A", "D"]
    assert table.at["D", "n"] == 0 and table.at["D", "traffic_light"] == "no data"
    with pytest.raises(ValueError, match="grade_order lacks grade"):
        v.binomial_test_by_grade(grades, pds, ys, grade_order=["A", "B"])


def test_binomial_single_level_and_custom_levels():
    grades, pds, ys = grade_sample()
    table = v.binomial_test_by_grade(grades, pds, ys, levels=(0.99,))
    assert "critical_defaults_99" in table.columns
    # one level: green / red only; B (p = 0.018) is not rejected at 99 %
    assert table["traffic_light"].tolist() == ["green", "green", "red"]
    with pytest.raises(ValueError, match="levels"):
        v.binomial_test_by_grade(grades, pds, ys, levels=(0.95, 1.5))


# ---------------------------------------------------------------------------- Hosmer-Lemeshow

def test_hosmer_lemeshow_hand_worked_by_grade():
    # A: 4 x PD 0.25, 2 defaults: E = 1, (2-1)^2 / (1 * 0.75) = 4/3
    # B: PDs .1 .2 .3 .2 .2, no default: E = 1, (0-1)^2 / (1 * 0.8) = 5/4
    # C: 2 x PD 0.5, 1 default: E = 1, contribution 0
    pds = [0.25] * 4 + [0.1, 0.2, 0.3, 0.2, 0.2] + [0.5, 0.5]
    y = [1, 1, 0, 0] + [0] * 5 + [1, 0]
    by = ["A"] * 4 + ["B"] * 5 + ["C"] * 2
    res = v.hosmer_lemeshow(y, pds, by=by)
    stat = 4 / 3 + 5 / 4
    assert res.statistic == pytest.approx(stat, abs=1e-12)
    assert res.dof == 1
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(stat / 2)), rel=1e-10)  # chi2(1) survival
    np.testing.assert_allclose(res.table["contribution"], [4 / 3, 5 / 4, 0], atol=1e-12)
    np.testing.assert_allclose(res.table["expected"], [1, 1, 1], atol=1e-12)
    res2 = v.hosmer_lemeshow(y, pds, by=by, dof=2)
    assert res2.p_value == pytest.approx(math.exp(-stat / 2), rel=1e-10)  # chi2(2) survival


def test_hosmer_lemeshow_hand_worked_by_pd_quantiles():
    # three quantile groups of two: {.1,.2}, {.3,.4}, {.5,.6}
    pds = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    y = [0, 1, 0, 0, 1, 1]
    res = v.hosmer_lemeshow(y, pds, groups=3)
    terms = [0.7**2 / (0.3 * (1 - 0.15)), 0.7**2 / (0.7 * (1 - 0.35)), 0.9**2 / (1.1 * (1 - 0.55))]
    assert res.statistic == pytest.approx(sum(terms), abs=1e-12)
    assert res.table["n"].tolist() == [2, 2, 2]
    assert res.dof == 1


def test_hosmer_lemeshow_deciles_and_errors():
    rng = np.random.default_rng(10)
    p = rng.beta(2, 20, 5000)
    y = (rng.random(5000) < p).astype(int)
    res = v.hosmer_lemeshow(y, p)
    assert res.dof == 8 and res.table["n"].sum() == 5000
    assert res.table["n"].tolist() == [500] * 10
    # recompute the statistic from the group table by the textbook formula
    t = res.table
    manual = (((t["observed"] - t["expected"]) ** 2) / (t["n"] * t["mean_pd"] * (1 - t["mean_pd"]))).sum()
    assert res.statistic == pytest.approx(manual, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(manual, 8), rel=1e-10)
    with pytest.raises(ValueError, match="at least 3"):
        v.hosmer_lemeshow([0, 1, 0, 1], [0.1, 0.1, 0.2, 0.2], by=["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="dof"):
        v.hosmer_lemeshow(y, p, dof=0)


# ---------------------------------------------------------------------------- calibration table

@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_calibration_table_matches_sklearn(strategy):
    rng = np.random.default_rng(11)
    p = rng.beta(1, 6, 2000)
    y = (rng.random(2000) < p).astype(int)
    table = v.calibration_table(y, p, bins=8, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=8, strategy=strategy)
    np.testing.assert_allclose(table["observed_rate"], prob_true, atol=1e-12)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred, atol=1e-12)
    assert table["count"].sum() == 2000 and table["defaults"].sum() == y.sum()


def test_wilson_interval_solves_the_score_equation():
    y = [1, 1, 1] + [0] * 7
    table = v.calibration_table(y, [0.2] * 10, bins=1, ci="wilson", level=0.95)
    z = stats.norm.ppf(0.975)
    lo, hi = table.at[0, "ci_lower"], table.at[0, "ci_upper"]
    for bound in (lo, hi):  # (p_hat - p)^2 = z^2 p (1 - p) / n at both ends
        assert (0.3 - bound) ** 2 == pytest.approx(z**2 * bound * (1 - bound) / 10, abs=1e-14)
    assert lo < 0.3 < hi


def test_jeffreys_interval_by_quadrature_and_edges():
    y = [1, 1] + [0] * 18
    table = v.calibration_table(y, [0.1] * 20, bins=1, ci="jeffreys", level=0.9)
    lo, hi = table.at[0, "ci_lower"], table.at[0, "ci_upper"]
    assert beta_cdf_by_quadrature(lo, 2.5, 18.5) == pytest.approx(0.05, rel=1e-7)
    assert beta_cdf_by_quadrature(hi, 2.5, 18.5) == pytest.approx(0.95, rel=1e-7)
    none = v.calibration_table([0] * 20, [0.1] * 20, bins=1, ci="jeffreys")
    assert none.at[0, "ci_lower"] == 0.0 and 0 < none.at[0, "ci_upper"] < 1


def test_plot_calibration_draws_the_table():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(12)
    p = rng.beta(1, 6, 1000)
    y = (rng.random(1000) < p).astype(int)
    table = v.calibration_table(y, p, bins=5)
    ax = vf.plot_calibration(table)
    points = ax.containers[0].lines[0]
    np.testing.assert_allclose(points.get_xdata(), table["mean_predicted"])
    np.testing.assert_allclose(points.get_ydata(), table["observed_rate"])
    plt.close(ax.figure)


# ---------------------------------------------------------------------------- score distribution

def test_score_distribution_hand_worked():
    score = [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 0.2]
    y = [0, 0, 1, 0, 1, 1, 0]
    table = v.score_distribution(y, score, bins=[0.0, 1.0, 2.0])
    # [0, 1): 0.0, 0.5, 0.2 -> 3 goods; [1, 2]: 1.0 (bad), 1.5 (good), 2.0, 2.0 (bads)
    assert table["goods"].tolist() == [3, 1]
    assert table["bads"].tolist() == [0, 3]
    np.testing.assert_allclose(table["share_goods"], [0.75, 0.25])
    np.testing.assert_allclose(table["share_bads"], [0.0, 1.0])
    np.testing.assert_allclose(table["bad_rate"], [0.0, 0.75])
    with pytest.raises(ValueError, match="leave out"):
        v.score_distribution(y, score, bins=[0.0, 1.0])


def test_score_distribution_equal_width_matches_pandas_cut():
    rng = np.random.default_rng(13)
    score = rng.normal(size=700)
    y = (rng.random(700) < expit(score - 2)).astype(int)
    table = v.score_distribution(y, score, bins=12)
    edges = np.r_[table["bin_from"], table["bin_to"].iloc[-1]]
    assert edges[0] == score.min() and edges[-1] == score.max()
    for cls, col in ((0, "goods"), (1, "bads")):
        cut = pd.cut(score[y == cls], edges, right=False, include_lowest=True)
        counts = pd.Series(cut).value_counts(sort=False).to_numpy().copy()
        counts[-1] += np.sum(score[y == cls] == edges[-1])  # numpy's last bin is closed
        np.testing.assert_array_equal(table[col], counts)
    ax = vf.plot_score_distribution(table)
    assert len(ax.patches) == 2
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


# ---------------------------------------------------------------------------- PSI / CSI

def test_psi_numeric_hand_worked_with_missing_bin():
    expected = np.arange(1.0, 11.0)  # quantile edges 1, 5.5, 10 -> (-inf, 5.5], (5.5, inf]
    actual = np.array([1, 2, 3, 6, 7, 8, 9, 10, 11, np.nan])
    value, table = v.psi(expected, actual, bins=2)
    eps = 1e-4
    hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.6 - 0.5) * math.log(0.6 / 0.5) + (0.1 - eps) * math.log(0.1 / eps)
    assert value == pytest.approx(hand, abs=1e-12)
    assert table["bin"].tolist()[-1] == "<missing>"
    assert table["expected_count"].tolist() == [5, 5, 0]
    assert table["actual_count"].tolist() == [3, 6, 1]


def test_psi_categorical_hand_worked_with_unseen_category():
    value, table = v.psi(["a", "a", "b", "b"], ["a", "b", "b", "c"], categorical=True)
    eps = 1e-4
    hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + 0.0 + (0.25 - eps) * math.log(0.25 / eps)
    assert value == pytest.approx(hand, abs=1e-12)
    assert table["bin"].tolist() == ["a", "b", "<unseen>"]
    _, with_na = v.psi(["a", None, "b"], ["a", "b", "b"], categorical=True)
    assert with_na["bin"].tolist() == ["a", "b", "<missing>"]
    assert with_na["actual_count"].tolist() == [1, 2, 0]


def test_psi_equals_symmetric_kl_divergence():
    rng = np.random.default_rng(14)
    expected = rng.normal(size=5000)
    actual = rng.normal(0.2, 1.1, size=3000)
    value, table = v.psi(expected, actual, bins=10)
    e, a = table["expected_share"].to_numpy(), table["actual_share"].to_numpy()
    assert (e > 0).all() and (a > 0).all()
    assert value == pytest.approx(stats.entropy(a, e) + stats.entropy(e, a), rel=1e-12)
    assert table["expected_count"].tolist() == [500] * 10
    same, _ = v.psi(expected, expected)
    assert same == 0.0


def test_psi_with_tied_integer_feature_merges_duplicate_edges():
    expected = np.r_[np.zeros(80), np.arange(1, 21)]
    value, table = v.psi(expected, expected[::-1].copy(), bins=10)
    assert value == pytest.approx(0.0, abs=1e-15)
    assert table["expected_count"].iloc[0] == 80 and table["expected_count"].sum() == 100


@pytest.mark.parametrize("value,flag", [(0.0, "stable"), (0.0999, "stable"), (0.10, "moderate shift"),
                                        (0.25, "moderate shift"), (0.2501, "significant shift"),
                                        (3.0, "significant shift")])
def test_psi_flag_thresholds(value, flag):
    assert v.psi_flag(value) == flag


def test_csi_table_and_population_stability():
    rng = np.random.default_rng(15)
    dev = pd.DataFrame({"score": rng.normal(size=2000), "x": rng.uniform(size=2000),
                        "sector": rng.choice(["a", "b", "c"], 2000)})
    oot = pd.DataFrame({"score": rng.normal(0.05, size=1500), "x": rng.uniform(0.3, 1.3, size=1500),
                        "sector": rng.choice(["a", "b", "c", "d"], 1500, p=[0.4, 0.3, 0.2, 0.1])})
    current = dev.sample(frac=0.5, random_state=0)
    table = v.csi_table(dev, oot, ["x", "sector"])
    assert table.at["sector", "kind"] == "categorical" and table.at["x", "kind"] == "numeric"
    assert table.at["x", "csi"] == pytest.approx(v.psi(dev["x"], oot["x"]).value, abs=1e-15)
    assert table.at["sector", "csi"] == pytest.approx(
        v.psi(dev["sector"], oot["sector"], categorical=True).value, abs=1e-15)
    assert table.at["x", "flag"] == v.psi_flag(table.at["x", "csi"]) == "significant shift"
    report = v.population_stability({"development": dev, "out-of-time": oot, "current": current},
                                    score="score", features=["x", "sector"])
    assert report["sample"].tolist() == ["out-of-time"] * 3 + ["current"] * 3
    assert report["measure"].tolist() == ["PSI", "CSI", "CSI"] * 2
    oot_score = report.query("sample == 'out-of-time' and variable == 'score'")["value"].item()
    assert oot_score == pytest.approx(v.psi(dev["score"], oot["score"]).value, abs=1e-15)
    assert (report.query("sample == 'current'")["flag"] == "stable").all()
    with pytest.raises(ValueError, match="lacks feature"):
        v.csi_table(dev, oot, ["nope"])


# ---------------------------------------------------------------------------- calibration choice

def logistic_sample(n=4000, seed=16):
    rng = np.random.default_rng(seed)
    raw = rng.normal(0, 1.5, n)
    y = (rng.random(n) < expit(-2.5 + 0.8 * raw)).astype(int)
    return raw, y


def test_platt_wins_on_a_logistic_link():
    raw, y = logistic_sample()
    choice = v.choose_calibration(raw, y, folds=5, seed=0)
    assert choice.method == "platt"
    c = choice.comparison
    assert c.at["platt", "brier"] <= c.at["isotonic", "brier"] and c.at["platt", "chosen"]
    # the printed comparison recomputed with sklearn from the out-of-fold PDs
    for m in ("platt", "isotonic"):
        assert c.at[m, "brier"] == pytest.approx(brier_score_loss(y, choice.oof[m]), rel=1e-12)
        assert c.at[m, "log_loss"] == pytest.approx(sk_log_loss(y, choice.oof[m]), rel=1e-12)
    # refit on all data agrees with sklearn's unpenalised logistic regression
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(raw.reshape(-1, 1), y)
    np.testing.assert_allclose(choice.predict(raw), ref.predict_proba(raw.reshape(-1, 1))[:, 1], atol=1e-6)
    assert choice.platt_coef[1] == pytest.approx(0.8, abs=0.1)


def test_isotonic_wins_on_a_step_shaped_pd():
    rng = np.random.default_rng(17)
    raw = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < np.where(raw < 0.5, 0.02, 0.35)).astype(int)
    choice = v.choose_calibration(raw, y, folds=5, seed=0)
    assert choice.method == "isotonic" and choice.comparison.at["isotonic", "chosen"]
    ref = IsotonicRegression(out_of_bounds="clip").fit(raw, y)
    grid = np.linspace(-6, 6, 301)
    np.testing.assert_allclose(choice.predict(grid), np.clip(ref.predict(grid), 1e-5, 1 - 1e-5), atol=1e-12)


def test_out_of_fold_predictions_use_only_the_other_folds():
    raw, y = logistic_sample(n=1500, seed=18)
    raw = np.round(raw, 1)  # ties, for the isotonic pooling
    choice = v.choose_calibration(raw, y, folds=4, seed=3)
    fold = choice.oof["fold"].to_numpy()
    assert sorted(np.unique(fold)) == [0, 1, 2, 3]
    for k in (0, 2):
        test = fold == k
        # stratified: each fold holds a quarter of the defaults (up to one)
        assert abs(y[test].sum() - y.sum() / 4) <= 1
        lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(raw[~test].reshape(-1, 1), y[~test])
        np.testing.assert_allclose(choice.oof["platt"][test], lr.predict_proba(raw[test].reshape(-1, 1))[:, 1],
                                   atol=1e-6)
        iso = IsotonicRegression(out_of_bounds="clip").fit(raw[~test], y[~test])
        np.testing.assert_allclose(choice.oof["isotonic"][test], np.clip(iso.predict(raw[test]), 1e-5, 1 - 1e-5),
                                   atol=1e-12)


def test_choose_calibration_is_deterministic_for_a_seed():
    raw, y = logistic_sample(n=1200, seed=19)
    a = v.choose_calibration(raw, y, seed=5)
    b = v.choose_calibration(raw, y, seed=5)
    pd.testing.assert_frame_equal(a.comparison, b.comparison)
    pd.testing.assert_frame_equal(a.oof, b.oof)
    c = v.choose_calibration(raw, y, seed=6)
    assert not np.array_equal(a.oof["fold"], c.oof["fold"])


def test_choose_calibration_with_central_tendency_and_clipping():
    raw, y = logistic_sample(n=2000, seed=20)
    choice = v.choose_calibration(raw, y, target_mean=0.12)
    p = choice.predict(raw)
    assert p.mean() == pytest.approx(0.12, abs=1e-10)
    assert choice.shift > 0  # the sample's default rate is below 12 %
    extreme = choice.predict([-1e3, 1e3])
    assert 1e-5 <= extreme[0] < 1e-4 and extreme[1] == 1 - 1e-5
    unshifted = v.choose_calibration(raw, y)
    assert unshifted.shift == 0.0 and unshifted.predict([-1e3, 1e3]).tolist() == [1e-5, 1 - 1e-5]
    with pytest.raises(ValueError, match="folds=5 needs at least 5 defaults"):
        v.choose_calibration([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0, 0, 0, 1, 1, 0])


# ---------------------------------------------------------------------------- central tendency

def test_central_tendency_adjustment_hits_the_target_and_keeps_the_ranking():
    rng = np.random.default_rng(21)
    p = rng.beta(1, 30, 5000)
    for target in (0.01, 0.05, 0.2):
        adjusted, c = v.central_tendency_adjustment(p, target)
        assert adjusted.mean() == pytest.approx(target, abs=1e-12)
        np.testing.assert_array_equal(np.argsort(adjusted, kind="stable"), np.argsort(p, kind="stable"))
        # closed-form check of the shift on one value: logit(adjusted) - logit(p) == c
        assert np.log(adjusted[0] / (1 - adjusted[0])) - np.log(p[0] / (1 - p[0])) == pytest.approx(c, abs=1e-9)
        assert (c > 0) == (target > p.mean())


def test_central_tendency_adjustment_closed_form_and_errors():
    # all PDs equal: the shift is logit(target) - logit(pd)
    res = v.central_tendency_adjustment([0.02] * 4, 0.05)
    assert res.shift == pytest.approx(math.log(0.05 / 0.95) - math.log(0.02 / 0.98), abs=1e-11)
    np.testing.assert_allclose(res.pd, 0.05, atol=1e-13)
    # PDs of 0 stay 0; the others carry the whole mean
    res = v.central_tendency_adjustment([0.0, 0.1, 0.3], 0.3)
    assert res.pd[0] == 0.0 and res.pd.mean() == pytest.approx(0.3, abs=1e-12)
    for bad in (0.0, 1.0, -0.1, 1.2, float("nan")):
        with pytest.raises(ValueError, match="target_mean"):
            v.central_tendency_adjustment([0.1, 0.2], bad)
    with pytest.raises(ValueError, match="cannot be reached"):
        v.central_tendency_adjustment([0.0, 0.0, 0.5], 0.8)


# ---------------------------------------------------------------------------- input errors

def test_input_errors_name_the_argument_and_value():
    with pytest.raises(ValueError, match=r"length mismatch: y has 3, score has 2"):
        v.auc([0, 1, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"y must be binary.*2"):
        v.auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"y must be binary.*'bad'"):
        v.brier_score(["bad", "good"], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"y must be binary.*non-numeric value\(s\) '0', '1'"):
        v.brier_score(np.array(["0", "1"]), [0.1, 0.2])
    with pytest.raises(ValueError, match=r"expected must be numeric.*categorical=True"):
        v.psi(["a", "b"], ["a", "c"])
    with pytest.raises(ValueError, match=r"pd must lie in \[0, 1\]; 1 value\(s\) do not, e.g. 1\.5 "):
        v.brier_score([0, 1], [0.1, 1.5])
    with pytest.raises(ValueError, match=r"pd must lie in \[0, 1\].*-0\.2"):
        v.hosmer_lemeshow([0, 1, 0], [-0.2, 0.5, 0.5], by=["a", "b", "c"], dof=1)
    with pytest.raises(ValueError, match=r"score has 1 missing"):
        v.roc_table([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="only one outcome"):
        v.accuracy_ratio([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"length mismatch: grades has 2, pd has 3, y has 3"):
        v.binomial_test_by_grade(["a", "b"], [0.1, 0.2, 0.3], [0, 1, 0])
    with pytest.raises(ValueError, match="strategy must be"):
        v.calibration_table([0, 1], [0.1, 0.2], strategy="kmeans")
    with pytest.raises(CreditLabError):
        v.psi_flag(float("nan"))
