"""Collateral, credit insurance and guarantees: hand-worked single customers, the aggregate cap,
joint default probabilities against independent computations, and monotonicity properties."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import multivariate_normal, norm

from credit_lab.core.exceptions import CreditLabError
from credit_lab.risk import mitigation
from credit_lab.risk.mitigation import (
    MITIGATION_COLUMNS,
    MitigationInputError,
    MitigationSettings,
    joint_default_probability,
    mitigate,
)

NONE = {"collateral_value": 0.0, "collateral_haircut": 0.0, "insurance_cover_pct": 0.0, "insured_limit": 0.0,
        "deductible": 0.0, "guarantee_amount": 0.0, "guarantor_pd": np.nan}


def book(**cols):
    base = {"ead": 1000.0, "pd": 0.1, "lgd": 0.5, **NONE}
    base.update(cols)
    n = max(len(v) if isinstance(v, list) else 1 for v in base.values())
    return pd.DataFrame({k: v if isinstance(v, list) else [v] * n for k, v in base.items()})


def one(frame, **kw):
    kw.setdefault("insurer_pd", 0.0)
    return mitigate(frame, MitigationSettings(**kw)).table.iloc[0]


def test_docstring_examples_run():
    assert doctest.testmod(mitigation, raise_on_error=False).failed == 0


# ---------------------------------------------------------------------------
# one mechanism at a time, by hand
# ---------------------------------------------------------------------------

def test_no_mitigation_leaves_gross():
    t = one(book())
    assert t["net_ead"] == 1000 and t["el_gross"] == t["el_net"] == pytest.approx(0.1 * 0.5 * 1000)
    assert t["lgd_net"] == pytest.approx(0.5)


def test_collateral_after_haircut_and_capped_at_the_exposure():
    t = one(book(collateral_value=500.0, collateral_haircut=0.3))
    assert t["collateralised"] == pytest.approx(350.0) and t["net_ead"] == pytest.approx(650.0)
    assert t["el_net"] == pytest.approx(0.1 * 0.5 * 650)
    assert t["lgd_net"] == pytest.approx(0.5 * 650 / 1000)
    t = one(book(collateral_value=5000.0, collateral_haircut=0.5))
    assert t["collateralised"] == 1000 and t["net_ead"] == 0 and t["el_net"] == 0


def test_insurance_limit_deductible_and_cover():
    # insured part: 80 % x (min(1000, 600) - 50) = 440
    t = one(book(insurance_cover_pct=0.8, insured_limit=600.0, deductible=50.0))
    assert t["insured"] == pytest.approx(440.0) and t["net_ead"] == pytest.approx(560.0)
    assert t["el_net"] == pytest.approx(0.1 * 0.5 * 560)
    # the deductible larger than the insured exposure: nothing is insured
    t = one(book(insurance_cover_pct=0.8, insured_limit=600.0, deductible=700.0))
    assert t["insured"] == 0 and t["net_ead"] == 1000
    # collateral is realised first, so the insurer only sees what is left (300 of 1000)
    t = one(book(collateral_value=700.0, insurance_cover_pct=0.9, insured_limit=600.0))
    assert t["collateralised"] == 700 and t["insured"] == pytest.approx(0.9 * 300)


def test_insurer_default_substitution_and_double_default():
    f = book(insurance_cover_pct=1.0, insured_limit=1000.0)
    sub = one(f, insurer_pd=0.004, treatment="substitution")
    assert sub["el_net"] == pytest.approx(0.004 * 0.5 * 1000)
    dd = one(f, insurer_pd=0.004, treatment="double_default", provider_correlation=0.3)
    joint = multivariate_normal(mean=[0, 0], cov=[[1, 0.3], [0.3, 1]]).cdf([norm.ppf(0.1), norm.ppf(0.004)])
    assert dd["pd_insured"] == pytest.approx(joint, rel=1e-6)
    assert dd["el_net"] == pytest.approx(joint * 0.5 * 1000, rel=1e-6)
    assert dd["el_net"] < sub["el_net"]  # both must default: less likely than the insurer alone


def test_guarantee_substitution_never_takes_a_riskier_pd():
    good = one(book(guarantee_amount=400.0, guarantor_pd=0.02), treatment="substitution")
    assert good["guaranteed"] == 400 and good["pd_guaranteed"] == 0.02
    assert good["el_net"] == pytest.approx(0.5 * (0.1 * 600 + 0.02 * 400))
    bad = one(book(guarantee_amount=400.0, guarantor_pd=0.3), treatment="substitution")
    assert bad["pd_guaranteed"] == 0.1 and bad["el_net"] == pytest.approx(bad["el_gross"])


def test_guarantee_covers_only_what_insurance_left():
    t = one(book(insurance_cover_pct=0.9, insured_limit=500.0, guarantee_amount=10_000.0, guarantor_pd=0.0))
    assert t["insured"] == pytest.approx(450) and t["guaranteed"] == pytest.approx(550) and t["net_ead"] == 0


def test_zero_exposure_gives_zero_everything():
    t = one(book(ead=0.0, collateral_value=10.0, insurance_cover_pct=1.0, insured_limit=100.0,
                 guarantee_amount=50.0, guarantor_pd=0.01), insurer_pd=0.01)
    assert (t[["collateralised", "insured", "guaranteed", "net_ead", "el_gross", "el_net"]] == 0).all()
    assert np.isnan(t["lgd_net"])


# ---------------------------------------------------------------------------
# aggregate limit of the insurer
# ---------------------------------------------------------------------------

def test_aggregate_cap_on_expected_claims_is_pro_rata_and_adds_up():
    f = book(ead=[1000.0, 2000.0, 500.0], pd=[0.1, 0.05, 0.2], insurance_cover_pct=1.0,
             insured_limit=[1000.0, 2000.0, 0.0], guarantee_amount=[0.0, 1000.0, 0.0],
             guarantor_pd=[np.nan, 0.0, np.nan])
    # expected claims 0.1 x 1000 + 0.05 x 2000 = 200 against a limit of 150
    res = mitigate(f, MitigationSettings(insurer_pd=0.0, insurer_max_liability=150.0))
    t = res.table
    assert res.cap_factor == pytest.approx(0.75) and res.capped_total_before == pytest.approx(200)
    assert t["insured"].tolist() == pytest.approx([750.0, 1500.0, 0.0])
    assert (t["pd"] * t["insured"]).sum() == pytest.approx(150.0) == res.capped_total_after
    # what the cap took back from customer 2 the guarantee picks up (500 of its 1000)
    assert t["guaranteed"].tolist() == pytest.approx([0.0, 500.0, 0.0])
    assert t["net_ead"].tolist() == pytest.approx([250.0, 0.0, 500.0])
    # not binding: untouched
    res = mitigate(f, MitigationSettings(insurer_pd=0.0, insurer_max_liability=200.0))
    assert res.cap_factor == 1.0 and res.table["insured"].tolist() == [1000.0, 2000.0, 0.0]


def test_aggregate_cap_on_exposure_basis():
    f = book(ead=[1000.0, 2000.0], pd=[0.1, 0.05], insurance_cover_pct=1.0, insured_limit=[1000.0, 2000.0])
    res = mitigate(f, MitigationSettings(insurer_pd=0.0, insurer_max_liability=1500.0,
                                         aggregate_cap_basis="exposure"))
    assert res.cap_factor == pytest.approx(0.5) and res.table["insured"].sum() == pytest.approx(1500.0)


# ---------------------------------------------------------------------------
# joint default probability against independent computations
# ---------------------------------------------------------------------------

def _one_factor_joint(p_a, p_b, rho):
    # both default iff sqrt(rho) Z + sqrt(1 - rho) e_i <= Phi^-1(p_i): integrate over the factor Z
    a, b, s = norm.ppf(p_a), norm.ppf(p_b), math.sqrt(1 - rho)

    def f(z):
        return norm.pdf(z) * norm.cdf((a - math.sqrt(rho) * z) / s) * norm.cdf((b - math.sqrt(rho) * z) / s)

    return integrate.quad(f, -12, 12, epsabs=1e-14, epsrel=1e-12, limit=200)[0]


@pytest.mark.parametrize("p_a, p_b, rho", [(0.1, 0.004, 0.5), (0.02, 0.3, 0.24), (0.5, 0.5, 0.7),
                                           (0.5, 0.01, 0.5), (0.001, 0.002, 0.0), (0.9, 0.05, 0.95)])
def test_joint_default_matches_one_factor_integral_and_genz(p_a, p_b, rho):
    got = float(joint_default_probability(p_a, p_b, rho))
    assert got == pytest.approx(_one_factor_joint(p_a, p_b, rho), rel=1e-8, abs=1e-15)
    genz = multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([norm.ppf(p_a), norm.ppf(p_b)])
    assert got == pytest.approx(genz, rel=1e-6, abs=1e-12)


def test_joint_default_limits():
    p = np.array([0.0, 0.3, 1.0, 0.2])
    q = np.array([0.4, 0.0, 0.25, 1.0])
    assert joint_default_probability(p, q, 0.5).tolist() == [0.0, 0.0, 0.25, 0.2]
    assert float(joint_default_probability(0.3, 0.2, 0.0)) == pytest.approx(0.06)
    assert float(joint_default_probability(0.3, 0.2, 0.999999)) == pytest.approx(0.2, abs=1e-3)


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------

amount = st.floats(0.0, 1e6, allow_nan=False)
prob = st.floats(0.0, 1.0)


@settings(max_examples=120, deadline=None)
@given(ead=amount, p=prob, lgd=prob, coll=amount, hc=prob, cover=prob, ilimit=amount, ded=amount,
       guar=amount, gpd=prob, qpd=prob, rho=st.floats(0.0, 0.95),
       treatment=st.sampled_from(["substitution", "double_default"]), bump=st.floats(0.0, 0.5))
def test_parts_add_up_and_net_never_exceeds_gross(ead, p, lgd, coll, hc, cover, ilimit, ded, guar, gpd, qpd, rho,
                                                   treatment, bump):
    f = book(ead=ead, pd=p, lgd=lgd, collateral_value=coll, collateral_haircut=hc, insurance_cover_pct=cover,
             insured_limit=ilimit, deductible=ded, guarantee_amount=guar, guarantor_pd=gpd)
    s = {"treatment": treatment, "provider_correlation": rho}
    t = mitigate(f, MitigationSettings(insurer_pd=qpd, **s)).table.iloc[0]
    parts = t[["collateralised", "insured", "guaranteed", "net_ead"]]
    assert (parts >= 0).all() and parts.sum() == pytest.approx(ead, rel=1e-12, abs=1e-9)
    assert t["el_net"] <= t["el_gross"] * (1 + 1e-12) + 1e-12
    # a riskier insurer or guarantor never lowers the net EL
    q2, g2 = min(qpd + bump, 1.0), min(gpd + bump, 1.0)
    worse_ins = mitigate(f, MitigationSettings(insurer_pd=q2, **s)).table.iloc[0]
    worse_gua = mitigate(f.assign(guarantor_pd=g2), MitigationSettings(insurer_pd=qpd, **s)).table.iloc[0]
    assert worse_ins["el_net"] >= t["el_net"] - 1e-9 * max(1.0, t["el_net"])
    assert worse_gua["el_net"] >= t["el_net"] - 1e-9 * max(1.0, t["el_net"])


def test_el_rises_strictly_with_insurer_pd_under_double_default():
    f = book(insurance_cover_pct=1.0, insured_limit=1000.0)
    el = [one(f, insurer_pd=q, provider_correlation=0.5)["el_net"] for q in (0.001, 0.01, 0.05, 0.2)]
    assert all(b > a for a, b in itertools.pairwise(el))


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

def test_inputs_are_validated():
    with pytest.raises(MitigationInputError, match=r"lacks column\(s\) \['deductible'\]") as err:
        mitigate(book().drop(columns="deductible"), MitigationSettings(insurer_pd=0.0))
    assert isinstance(err.value, CreditLabError) and isinstance(err.value, ValueError)
    with pytest.raises(MitigationInputError, match=r"guarantor_pd = nan for customer 0 .* only where"):
        mitigate(book(guarantee_amount=10.0), MitigationSettings(insurer_pd=0.0))
    with pytest.raises(MitigationInputError, match=r"insurance_cover_pct = 1\.2 for customer 0"):
        mitigate(book(insurance_cover_pct=1.2), MitigationSettings(insurer_pd=0.0))
    with pytest.raises(MitigationInputError, match="insurer_pd"):
        MitigationSettings(insurer_pd=1.5)
    with pytest.raises(MitigationInputError, match="treatment"):
        MitigationSettings(insurer_pd=0.0, treatment="basel")
    with pytest.raises(MitigationInputError, match="insurer_max_liability"):
        MitigationSettings(insurer_pd=0.0, insurer_max_liability=-1.0)
    assert set(MITIGATION_COLUMNS) == set(book().columns)
