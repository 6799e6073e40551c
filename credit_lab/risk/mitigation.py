"""From gross to net exposure and expected loss: collateral, credit insurance and guarantees.

Order of application, per customer
----------------------------------
1. **Collateral**, net of its haircut: ``collateralised = min(EAD, value * (1 - haircut))``.
   It is the seller's own security and is realised first; an insurer also pays only the
   loss left after the insured has realised its security.
2. **Credit insurance** on what collateral leaves, ``U = EAD - collateralised``: the insured
   exposure is capped by the insured limit, the insured keeps the first ``deductible`` of
   each claim (absolute, per claim) and the insurer pays its cover share of the rest:
   ``claim = cover * max(0, min(U, insured_limit) - deductible)``. The insurer's annual
   aggregate limit (maximum liability) then scales every claim by the same factor
   ``phi = min(1, max_liability / sum_i w_i * claim_i)`` (pro rata), with ``w_i = PD_i``
   (``aggregate_cap_basis="expected_claims"``: the cap is compared with the expected
   claims of the year) or ``w_i = 1`` (``"exposure"``: with every insured customer
   defaulting at once, the conservative reading). The expected-claims basis is a
   first-order approximation: it ignores the bad years in which actual claims exceed
   the cap although expected claims do not.
3. **Guarantee** on what is left: ``guaranteed = min(U - insured, guarantee_amount)``.
4. ``net EAD = EAD - collateralised - insured - guaranteed`` >= 0: the parts never exceed
   the exposure.

Protection amounts are exposure amounts: the provider pays the covered part of the
unpaid receivable and takes over the matching share of recoveries, so a covered part
loses ``LGD`` only if the provider does not pay. The collateralised part is taken to
lose nothing (the haircut absorbs price risk and realisation costs).

Provider default (``treatment``)
--------------------------------
``"substitution"``
    A covered part defaults with the provider's PD, but never with more than the
    obligor's own: ``PD_cov = min(PD_obligor, PD_provider)`` (a riskier provider brings
    no relief, as under the Basel substitution approach).
``"double_default"``
    A covered part is lost only if obligor *and* provider default within the year. Both
    follow a one-factor Gaussian (Merton) model whose asset values have correlation
    ``provider_correlation``, so ``PD_cov = Phi2(Phi^-1(PD_o), Phi^-1(PD_p); rho)`` (the
    bivariate normal joint default probability). The Basel II double-default formula
    ``K_o * (0.15 + 160 * PD_g)`` was not used: it scales a *capital requirement*, not a
    probability, and read as a joint PD it would give 95 % of the obligor's PD for a 0.5 %
    guarantor.

Expected loss (12 months)
-------------------------
``EL_gross = PD * LGD * EAD`` and
``EL_net = LGD * (PD * net_EAD + PD_ins * insured + PD_guar * guaranteed)``; the effective
LGD is ``EL_net / (PD * EAD)`` (NaN where ``PD * EAD = 0``: there is no loss to express).

Errors are :class:`MitigationInputError` (a :class:`ValueError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri, owens_t

from credit_lab.core.exceptions import CreditLabError
from credit_lab.core.formatting import plain_number

__all__ = [
    "MITIGATION_COLUMNS",
    "MitigationInputError",
    "MitigationResult",
    "MitigationSettings",
    "joint_default_probability",
    "mitigate",
]

#: Per-customer columns :func:`mitigate` needs (set unused mechanisms to 0 explicitly).
MITIGATION_COLUMNS: tuple[str, ...] = (
    "ead", "pd", "lgd", "collateral_value", "collateral_haircut", "insurance_cover_pct", "insured_limit",
    "deductible", "guarantee_amount", "guarantor_pd",
)


class MitigationInputError(CreditLabError, ValueError):
    """Invalid input to the mitigation computation; the message names the column, value and fix."""


@dataclass(frozen=True)
class MitigationSettings:
    """Portfolio-level settings of :func:`mitigate`.

    Attributes
    ----------
    insurer_pd : float
        12-month default probability of the credit insurer, in [0, 1].
    treatment : {"double_default", "substitution"}
        How a provider's own default enters (see the module docstring); applies to the
        insurer and the guarantors.
    provider_correlation : float
        Asset correlation between obligor and provider in [0, 1) (double default only).
        0.5 by default: an assumption of this package, to be calibrated.
    insurer_max_liability : float or None
        The insurer's annual aggregate limit, currency; ``None`` = unlimited.
    aggregate_cap_basis : {"expected_claims", "exposure"}
        What the aggregate limit is compared with: ``sum PD_i * claim_i`` or ``sum claim_i``.

    Examples
    --------
    >>> MitigationSettings(insurer_pd=0.002).treatment
    'double_default'
    """

    insurer_pd: float
    treatment: Literal["double_default", "substitution"] = "double_default"
    provider_correlation: float = 0.5
    insurer_max_liability: float | None = None
    aggregate_cap_basis: Literal["expected_claims", "exposure"] = "expected_claims"

    def __post_init__(self) -> None:
        q = self.insurer_pd
        if not (isinstance(q, (int, float)) and math.isfinite(q) and 0.0 <= q <= 1.0):
            raise MitigationInputError(f"insurer_pd = {q!r} must be a probability in [0, 1] (e.g. 0.002)")
        if self.treatment not in ("double_default", "substitution"):
            raise MitigationInputError(f"treatment = {self.treatment!r} must be 'double_default' or 'substitution'")
        r = self.provider_correlation
        if not (isinstance(r, (int, float)) and math.isfinite(r) and 0.0 <= r < 1.0):
            raise MitigationInputError(f"provider_correlation = {r!r} must be in [0, 1)")
        m = self.insurer_max_liability
        if m is not None and not (isinstance(m, (int, float)) and math.isfinite(m) and m >= 0.0):
            raise MitigationInputError(f"insurer_max_liability = {m!r} must be >= 0 currency units, or None "
                                       "for no aggregate limit")
        if self.aggregate_cap_basis not in ("expected_claims", "exposure"):
            raise MitigationInputError(f"aggregate_cap_basis = {self.aggregate_cap_basis!r} must be "
                                       "'expected_claims' or 'exposure'")


def joint_default_probability(pd_a: Any, pd_b: Any, correlation: float) -> np.ndarray:
    """Probability that two obligors both default: the bivariate normal copula.

    ``Phi2(Phi^-1(pd_a), Phi^-1(pd_b); rho)``, evaluated exactly with Owen's T function.

    Parameters
    ----------
    pd_a, pd_b : array_like
        Default probabilities in [0, 1] (broadcast together).
    correlation : float
        Asset correlation ``rho`` in [0, 1).

    Returns
    -------
    ndarray
        Joint default probability, between ``pd_a * pd_b`` (rho = 0) and ``min(pd_a, pd_b)``.

    Examples
    --------
    >>> round(float(joint_default_probability(0.1, 0.2, 0.0)), 12)  # independent: 0.1 * 0.2
    0.02
    >>> round(float(joint_default_probability(0.5, 0.5, 0.5)), 12)  # 1/4 + asin(0.5) / (2 pi)
    0.333333333333
    """
    a, b = np.broadcast_arrays(np.asarray(pd_a, dtype=float), np.asarray(pd_b, dtype=float))
    for name, v in (("pd_a", a), ("pd_b", b)):
        if np.any(~np.isfinite(v) | (v < 0) | (v > 1)):
            raise MitigationInputError(f"{name} = {plain_number(v[(~np.isfinite(v)) | (v < 0) | (v > 1)].flat[0])} "
                                       "must be a "
                                       "probability in [0, 1]")
    rho = float(correlation)
    if not (math.isfinite(rho) and 0.0 <= rho < 1.0):
        raise MitigationInputError(f"correlation = {correlation!r} must be in [0, 1)")
    out = np.zeros(a.shape)
    inner = (a > 0) & (a < 1) & (b > 0) & (b < 1)
    out = np.where(a >= 1, b, out)
    out = np.where(b >= 1, np.where(a >= 1, 1.0, a), out)
    if inner.any():
        h, k = ndtri(a[inner]), ndtri(b[inner])
        out[inner] = _bvn(h, k, rho)
    return out if out.ndim else out[()]


def _bvn(h: np.ndarray, k: np.ndarray, rho: float) -> np.ndarray:
    """P(X <= h, Y <= k) for a standard bivariate normal (Owen 1956, via T(h, a))."""
    s = math.sqrt(1.0 - rho * rho)

    def t_term(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # T(x, (y - rho x) / (x s)); at x = 0 the slope is +-inf and T(0, +-inf) = +-1/4.
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (y - rho * x) / (x * s)
        zero = x == 0
        t = np.where(zero, np.sign(y - rho * x) * 0.25, 0.0)
        nz = ~zero
        t[nz] = owens_t(x[nz], slope[nz])
        return t

    both_zero = (h == 0) & (k == 0)
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    p = 0.5 * ndtr(h) + 0.5 * ndtr(k) - t_term(h, k) - t_term(k, h) - beta
    p = np.where(both_zero, 0.25 + math.asin(rho) / (2.0 * math.pi), p)
    return np.clip(p, 0.0, np.minimum(ndtr(h), ndtr(k)))


@dataclass(frozen=True, eq=False)
class MitigationResult:
    """Output of :func:`mitigate`.

    Attributes
    ----------
    table : DataFrame
        Per customer (input index): ``ead``, ``collateralised``, ``insured_before_cap``,
        ``insured``, ``guaranteed``, ``net_ead`` (currency; ``collateralised + insured +
        guaranteed + net_ead = ead``), ``pd``, ``pd_insured``, ``pd_guaranteed`` (the
        default probability of each covered part), ``lgd`` (gross), ``lgd_net``
        (effective), ``el_gross``, ``el_net`` (12-month, currency).
    cap_factor : float
        The pro-rata factor ``phi`` applied to every claim (1 = aggregate limit not binding).
    capped_total_before : float
        ``sum w_i * claim_i`` before the cap (expected claims or claims, per the basis).
    capped_total_after : float
        The same after the cap; equals the aggregate limit when the cap binds.
    settings : MitigationSettings
    """

    table: pd.DataFrame
    cap_factor: float
    capped_total_before: float
    capped_total_after: float
    settings: MitigationSettings


def _column(frame: pd.DataFrame, name: str, lo: float, hi: float, nan_ok: np.ndarray | None = None) -> np.ndarray:
    arr = frame[name].to_numpy(dtype=float)
    bad = ~np.isfinite(arr) | (arr < lo) | (arr > hi)
    if nan_ok is not None:
        bad &= ~(np.isnan(arr) & nan_ok)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        hint = " (it may be NaN only where guarantee_amount is 0)" if name == "guarantor_pd" else ""
        raise MitigationInputError(f"{name} = {plain_number(arr[i])} for customer {frame.index[i]!r} is outside "
                                   f"[{lo}, {hi}]{hint}")
    return arr


def mitigate(frame: pd.DataFrame, settings: MitigationSettings) -> MitigationResult:
    """Net exposure, effective LGD and expected loss after collateral, insurance and guarantees.

    Parameters
    ----------
    frame : DataFrame
        One row per customer with :data:`MITIGATION_COLUMNS`: ``ead`` (currency, >= 0),
        ``pd`` (obligor 12-month PD), ``lgd`` (gross, fraction), ``collateral_value``
        (currency), ``collateral_haircut`` (fraction), ``insurance_cover_pct`` (fraction),
        ``insured_limit`` (currency), ``deductible`` (currency per claim),
        ``guarantee_amount`` (currency), ``guarantor_pd`` (fraction; may be NaN where the
        guarantee is 0).
    settings : MitigationSettings
        Insurer PD, treatment of provider default, correlation and aggregate limit.

    Returns
    -------
    MitigationResult

    Examples
    --------
    EAD 1,000 with 200 of collateral after haircut, 90 % cover of up to 500 insured with a
    deductible of 100, and a guarantee of 100; insurer and guarantor never default:

    >>> f = pd.DataFrame({"ead": [1000.0], "pd": [0.1], "lgd": [0.5], "collateral_value": [250.0],
    ...     "collateral_haircut": [0.2], "insurance_cover_pct": [0.9], "insured_limit": [500.0],
    ...     "deductible": [100.0], "guarantee_amount": [100.0], "guarantor_pd": [0.0]})
    >>> t = mitigate(f, MitigationSettings(insurer_pd=0.0)).table
    >>> t[["collateralised", "insured", "guaranteed", "net_ead", "el_gross", "el_net"]].iloc[0].tolist()
    [200.0, 360.0, 100.0, 340.0, 50.0, 17.0]
    """
    if not isinstance(frame, pd.DataFrame):
        raise MitigationInputError(f"frame must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in MITIGATION_COLUMNS if c not in frame.columns]
    if missing:
        raise MitigationInputError(f"frame lacks column(s) {missing}; mitigate needs {list(MITIGATION_COLUMNS)} "
                                   "(set a mechanism a customer does not have to 0)")
    inf = np.inf
    ead = _column(frame, "ead", 0.0, inf)
    p = _column(frame, "pd", 0.0, 1.0)
    lgd = _column(frame, "lgd", 0.0, 1.0)
    value = _column(frame, "collateral_value", 0.0, inf)
    haircut = _column(frame, "collateral_haircut", 0.0, 1.0)
    cover = _column(frame, "insurance_cover_pct", 0.0, 1.0)
    ins_limit = _column(frame, "insured_limit", 0.0, inf)
    deductible = _column(frame, "deductible", 0.0, inf)
    guarantee = _column(frame, "guarantee_amount", 0.0, inf)
    g_pd = _column(frame, "guarantor_pd", 0.0, 1.0, nan_ok=guarantee == 0)

    collateralised = np.minimum(ead, value * (1.0 - haircut))
    uncollateralised = ead - collateralised
    claim = cover * np.maximum(0.0, np.minimum(uncollateralised, ins_limit) - deductible)

    weight = p if settings.aggregate_cap_basis == "expected_claims" else np.ones_like(p)
    before = float(np.sum(weight * claim))
    cap = settings.insurer_max_liability
    phi = 1.0 if cap is None or before <= cap else cap / before
    insured = phi * claim
    after = float(np.sum(weight * insured))

    guaranteed = np.minimum(uncollateralised - insured, guarantee)
    net = np.maximum(uncollateralised - insured - guaranteed, 0.0)

    q = np.full_like(p, settings.insurer_pd)
    g = np.where(np.isnan(g_pd), 0.0, g_pd)  # only where the guarantee is 0, so it never matters
    if settings.treatment == "substitution":
        p_ins, p_gua = np.minimum(p, q), np.minimum(p, g)
    else:
        rho = settings.provider_correlation
        p_ins = joint_default_probability(p, q, rho)
        p_gua = joint_default_probability(p, g, rho)

    el_gross = p * lgd * ead
    el_net = lgd * (p * net + p_ins * insured + p_gua * guaranteed)
    base = p * ead
    with np.errstate(invalid="ignore", divide="ignore"):
        lgd_net = np.where(base > 0, el_net / np.where(base > 0, base, 1.0), np.nan)
    table = pd.DataFrame({
        "ead": ead, "collateralised": collateralised, "insured_before_cap": claim, "insured": insured,
        "guaranteed": guaranteed, "net_ead": net, "pd": p, "pd_insured": p_ins, "pd_guaranteed": p_gua,
        "lgd": lgd, "lgd_net": lgd_net, "el_gross": el_gross, "el_net": el_net,
    }, index=frame.index)
    return MitigationResult(table=table, cap_factor=float(phi), capped_total_before=before,
                            capped_total_after=after, settings=settings)
