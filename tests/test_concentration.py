"""Concentration: HHI, top-n share, cap utilisation and the Gordy-Lütkebohmert granularity adjustment,
the latter against an independent evaluation of the general granularity-adjustment formula."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from credit_lab.core.exceptions import CreditLabError
from credit_lab.risk import concentration
from credit_lab.risk.concentration import (
    ConcentrationInputError,
    ConcentrationSettings,
    cap_utilization,
    concentration_summary,
    gl_delta,
    granularity_adjustment,
    hhi,
)


def test_docstring_examples_run():
    assert doctest.testmod(concentration, raise_on_error=False).failed == 0


# ---------------------------------------------------------------------------
# HHI, effective numbers, top-n share
# ---------------------------------------------------------------------------

def test_hhi_hand_worked_and_equal_names():
    assert hhi([50.0, 30.0, 20.0]) == pytest.approx(0.38)
    assert hhi([7.0] * 25) == pytest.approx(1 / 25)
    assert hhi([0.0, 3.0]) == 1.0


def test_summary_by_name_industry_region_and_top_n():
    # names N1..N12 with exposures 1..12; N12 has a second row of 12 (24 in all)
    names = [f"N{i}" for i in range(1, 13)] + ["N12"]
    ead = [float(i) for i in range(1, 13)] + [12.0]
    ind = ["A"] * 6 + ["B"] * 6 + ["B"]
    reg = ["R1", "R2"] * 6 + ["R2"]
    f = pd.DataFrame({"customer_id": names, "ead": ead, "industry": ind, "region": reg})
    s = concentration_summary(f)
    total = 90.0
    x = np.array(list(range(1, 12)) + [24], dtype=float)
    assert s.total_exposure == total and s.names == 12
    assert s.hhi_name == pytest.approx(np.sum((x / total) ** 2))
    assert s.effective_names == pytest.approx(1 / s.hhi_name)
    # top 10: everything but N1 and N2
    assert s.top_n_share == pytest.approx((total - 3) / total)
    a, b = 21.0, 69.0  # industry A = 1..6, B = 7..12 + 12
    assert s.hhi_industry == pytest.approx((a / total) ** 2 + (b / total) ** 2)
    assert s.by_industry.index.tolist() == ["B", "A"] and s.by_industry.loc["B", "names"] == 6
    r1 = 1 + 3 + 5 + 7 + 9 + 11
    assert s.hhi_region == pytest.approx((r1 / total) ** 2 + ((total - r1) / total) ** 2)
    assert s.by_name.index[0] == "N12" and s.by_name["exposure"].iloc[0] == 24
    s3 = concentration_summary(f, ConcentrationSettings(top_n=3))
    assert s3.top_n_share == pytest.approx((24 + 11 + 10) / total)


def test_cap_utilization_hand_worked():
    f = pd.DataFrame({"customer_id": ["A", "B", "C"], "ead": [60.0, 30.0, 10.0], "industry": ["X", "Y", "X"],
                      "region": ["N", "S", "S"]})
    st = ConcentrationSettings(single_name_cap=50.0, industry_caps={"X": 80.0, "Z": 10.0}, region_caps={"S": 20.0})
    u = cap_utilization(f, st).set_index(["dimension", "key"])
    assert u.loc[("industry", "X"), ["used", "cap", "utilization", "headroom"]].tolist() == [70.0, 80.0, 0.875, 10.0]
    assert u.loc[("industry", "Z"), "used"] == 0 and u.loc[("industry", "Z"), "utilization"] == 0
    assert np.isnan(u.loc[("industry", "Y"), "cap"]) and not u.loc[("industry", "Y"), "breached"]
    assert u.loc[("region", "S"), "utilization"] == pytest.approx(2.0) and u.loc[("region", "S"), "breached"]
    assert u.loc[("name", "A"), "utilization"] == pytest.approx(1.2) and u.loc[("name", "A"), "breached"]
    assert u.loc[("name", "C"), "utilization"] == pytest.approx(0.2)
    assert u.loc["name"].index.tolist() == ["A", "B", "C"]  # most used first
    assert "name" not in cap_utilization(f, ConcentrationSettings())["dimension"].tolist()


def test_concentration_inputs_are_validated():
    with pytest.raises(ConcentrationInputError, match=r"ead = -1 at position 1") as err:
        concentration_summary(pd.DataFrame({"customer_id": ["A", "B"], "ead": [1.0, -1.0], "industry": ["X"] * 2,
                                            "region": ["N"] * 2}))
    assert isinstance(err.value, CreditLabError) and isinstance(err.value, ValueError)
    with pytest.raises(ConcentrationInputError, match="adds up to 0"):
        hhi([0.0, 0.0])
    with pytest.raises(ConcentrationInputError, match=r"lacks column\(s\) \['industry'\]"):
        concentration_summary(pd.DataFrame({"customer_id": ["A"], "ead": [1.0], "region": ["N"]}))
    with pytest.raises(ConcentrationInputError, match=r"industry_caps\['X'\] = 0"):
        ConcentrationSettings(industry_caps={"X": 0})


# ---------------------------------------------------------------------------
# granularity adjustment
# ---------------------------------------------------------------------------

def irb_k(p, lgd):
    """Basel II corporate IRB capital per unit of EAD at one year maturity (maturity adjustment = 1)."""
    p = np.asarray(p, dtype=float)
    w = (1 - np.exp(-50 * p)) / (1 - math.exp(-50))
    r = 0.12 * w + 0.24 * (1 - w)
    q = stats.norm.cdf((stats.norm.ppf(p) + np.sqrt(r) * stats.norm.ppf(0.999)) / np.sqrt(1 - r))
    return lgd * q - lgd * p


def general_ga(ead, p, elgd, q=0.999, xi=0.25, gamma=0.25):
    """GA = -1/(2 h(a)) d/dx [h(x) sigma^2(x) / mu'(x)] at the quantile a of the factor (Gordy 2003), for
    CreditRisk+ with Poisson defaults, gamma factor X (mean 1, variance 1/xi) and random LGD, the loadings
    set so that E[L | X = a] = sum s (K + R); evaluated by numerical differentiation."""
    s = np.asarray(ead, float) / np.sum(ead)
    k = irb_k(p, elgd)
    a = stats.gamma.ppf(q, xi, scale=1 / xi)
    w = k / (elgd * p * (a - 1))
    v2 = gamma * elgd * (1 - elgd)

    def mu_i(x):  # conditional default intensity
        return p * (1 + w * (x - 1))

    def mu(x):  # conditional expected loss
        return np.sum(s * elgd * mu_i(x))

    def var(x):
        return np.sum(s ** 2 * ((elgd ** 2 + v2) * mu_i(x) + v2 * mu_i(x) ** 2))

    def h(x):
        return stats.gamma.pdf(x, xi, scale=1 / xi)

    d = 1e-4 * a
    mu_prime = (mu(a + d) - mu(a - d)) / (2 * d)

    def g(x):
        return h(x) * var(x) / mu_prime

    assert mu(a) == pytest.approx(np.sum(s * (k + elgd * p)), rel=1e-12)
    return -(g(a + d) - g(a - d)) / (2 * d) / (2 * h(a))


PORTFOLIO = {"ead": [5e6, 2e6, 1e6, 8e5, 3e5, 2.5e6], "p": [0.004, 0.01, 0.03, 0.08, 0.002, 0.015],
             "elgd": [0.45, 0.3, 0.6, 0.45, 0.2, 0.75]}


def test_delta_is_the_published_4_83():
    assert gl_delta(0.999, 0.25) == pytest.approx(4.83, abs=0.005)
    a = stats.gamma.ppf(0.999, 0.25, scale=4.0)
    assert gl_delta(0.999, 0.25) == pytest.approx((a - 1) * (0.25 + 0.75 / a), rel=1e-12)


def test_full_form_matches_the_general_granularity_adjustment():
    pf = PORTFOLIO
    got = granularity_adjustment(pf["ead"], pf["p"], pf["elgd"], ConcentrationSettings(ga_form="full"))
    assert got.ga == pytest.approx(general_ga(pf["ead"], np.array(pf["p"]), np.array(pf["elgd"])), rel=1e-6)
    np.testing.assert_allclose(got.contributions["capital_rate"], irb_k(pf["p"], np.array(pf["elgd"])), rtol=1e-10)
    assert got.ga_amount == pytest.approx(got.ga * sum(pf["ead"]))


def test_capital_rate_takes_the_basel_maturity_bounds():
    # Basel II para. 320 bounds the effective maturity to [1, 5] years: 7 years costs what 5 do.
    pf = PORTFOLIO
    p, e = np.array(pf["p"]), np.array(pf["elgd"])
    b = (0.11852 - 0.05478 * np.log(p)) ** 2
    at5 = irb_k(p, e) * (1 + 2.5 * b) / (1 - 1.5 * b)
    for m in (5.0, 7.0):
        got = granularity_adjustment(pf["ead"], p, e, ConcentrationSettings(maturity_years=m))
        np.testing.assert_allclose(got.contributions["capital_rate"], at5, rtol=1e-10)


def test_simplified_form_by_hand_with_the_published_delta():
    ead, p, e = [6.0, 3.0, 1.0], np.array([0.01, 0.02, 0.05]), np.array([0.45, 0.45, 0.25])
    got = granularity_adjustment(ead, p, e, ConcentrationSettings(delta=4.83))
    s = np.array(ead) / 10
    k = irb_k(p, e)
    c = 0.25 + 0.75 * e                      # (ELGD^2 + VLGD^2) / ELGD with VLGD^2 = 0.25 ELGD (1 - ELGD)
    kstar = np.sum(s * k)
    expected = np.sum(s ** 2 * c * (4.83 * (k + e * p) - k)) / (2 * kstar)
    assert got.ga == pytest.approx(expected, rel=1e-10)
    assert got.k_star == pytest.approx(kstar, rel=1e-10) and got.delta == 4.83
    assert got.contributions["ga"].sum() == pytest.approx(got.ga, rel=1e-12)
    # the full form adds the terms quadratic in K + R
    full = granularity_adjustment(ead, p, e, ConcentrationSettings(delta=4.83, ga_form="full"))
    v = 0.25 * (1 - e) / e                   # VLGD^2 / ELGD^2
    extra = np.sum(s ** 2 * (k + e * p) * v * (4.83 * (k + e * p) - 2 * k)) / (2 * kstar)
    assert full.ga - got.ga == pytest.approx(extra, rel=1e-8)


@pytest.mark.parametrize("form", ["simplified", "full"])
def test_ga_is_inverse_in_the_number_of_equal_names(form):
    st = ConcentrationSettings(ga_form=form)
    ga = {n: granularity_adjustment([1.0] * n, [0.02] * n, 0.45, st).ga for n in (1, 10, 100, 1000)}
    for n in (10, 100, 1000):
        assert ga[n] * n == pytest.approx(ga[1], rel=1e-10)
    assert ga[1] > ga[10] > ga[100] > ga[1000] > 0  # and so -> 0 as the book becomes granular


def test_ga_grows_with_name_concentration():
    st = ConcentrationSettings()
    flat = granularity_adjustment([1.0] * 20, [0.02] * 20, 0.45, st).ga
    lumpy = granularity_adjustment([20.0] + [1.0] * 19, [0.02] * 20, 0.45, st).ga
    assert lumpy > flat


def test_ga_inputs_are_validated():
    with pytest.raises(ConcentrationInputError, match=r"lgd = 0 must be in \(0, 1\]"):
        granularity_adjustment([1.0, 2.0], [0.01, 0.02], [0.0, 0.4], ConcentrationSettings(ga_form="full"))
    with pytest.raises(ConcentrationInputError, match="K\\* is 0"):
        granularity_adjustment([1.0], [0.01], [0.4], capital_rate=[0.0])
    with pytest.raises(ConcentrationInputError, match=r"pd = 1\.5"):
        granularity_adjustment([1.0], [1.5], [0.4])
