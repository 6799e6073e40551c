"""Concentration of the book: HHI, top-name share, cap utilisation and the granularity adjustment.

Measures (exposures in currency, shares ``s_i = x_i / sum x``)
---------------------------------------------------------------
``HHI = sum s_i^2`` of names (exposures of the same name added up), of industries and of
regions; ``1 / HHI`` is the effective number of names (or industries): the number of equal
exposures with the same HHI. The top-``n`` share is the exposure of the ``n`` largest
names over the total. Cap utilisation is ``used / cap`` per industry, region and (with a
single-name cap) name.

Granularity adjustment (name concentration)
-------------------------------------------
The IRB capital formula assumes an infinitely granular book. Gordy and Lütkebohmert
("Granularity adjustment for regulatory capital assessment", International Journal of
Central Banking, 2013; Deutsche Bundesbank discussion paper 2007) add the capital a finite
book needs on top, from the one-factor CreditRisk+ model: Poisson default counts with
mean ``PD_i * (1 + w_i (X - 1))``, ``X`` gamma distributed with mean 1 and variance
``1 / xi``, factor loadings ``w_i`` set so that the conditional expected loss at the
quantile ``alpha_q(X)`` equals the IRB ``K_i + R_i``, and random LGDs with mean ``ELGD_i``
and variance ``VLGD_i^2 = gamma * ELGD_i * (1 - ELGD_i)``. With ``K_i`` the IRB capital per
unit of EAD, ``R_i = ELGD_i * PD_i``, ``K* = sum s_i K_i``,
``C_i = (ELGD_i^2 + VLGD_i^2) / ELGD_i`` and
``delta = (alpha_q(X) - 1) * (xi + (1 - xi) / alpha_q(X))`` (4.83 for ``xi = 0.25``,
``q = 0.999``):

``form="full"``::

    GA = 1 / (2 K*) * sum s_i^2 [ delta C_i (K_i + R_i) + delta (K_i + R_i)^2 VLGD_i^2 / ELGD_i^2
                                  - K_i (C_i + 2 (K_i + R_i) VLGD_i^2 / ELGD_i^2) ]

``form="simplified"`` drops the terms quadratic in ``K_i + R_i`` (small next to the linear
ones)::

    GA = 1 / (2 K*) * sum s_i^2 C_i [ delta (K_i + R_i) - K_i ]

with ``xi = gamma = 0.25`` as the authors propose. GA is a share of total EAD (multiply by
it for currency) and, for ``n`` equal names, is proportional to ``1 / n``.

Errors are :class:`ConcentrationInputError` (a :class:`ValueError`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from credit_lab.core.exceptions import CreditLabError
from credit_lab.core.formatting import plain_number
from credit_lab.risk.basel import irb_capital_rate

__all__ = [
    "ConcentrationInputError",
    "ConcentrationSettings",
    "ConcentrationSummary",
    "GranularityAdjustment",
    "cap_utilization",
    "concentration_summary",
    "gl_delta",
    "granularity_adjustment",
    "hhi",
]


class ConcentrationInputError(CreditLabError, ValueError):
    """Invalid input to a concentration measure; the message names the input and the fix."""


def _caps(name: str, caps: Any) -> Mapping[str, float]:
    if not isinstance(caps, Mapping):
        raise ConcentrationInputError(f"{name} = {caps!r} must be a mapping {{key: cap in currency}}")
    out = {}
    for key, cap in caps.items():
        c = float(cap)
        if not (math.isfinite(c) and c > 0):
            raise ConcentrationInputError(f"{name}[{key!r}] = {cap!r} must be a positive amount; leave a key out "
                                          "to have no cap")
        out[str(key)] = c
    return MappingProxyType(out)


@dataclass(frozen=True)
class ConcentrationSettings:
    """Settings of the concentration measures.

    Attributes
    ----------
    top_n : int
        Number of largest names in the top-``n`` share.
    single_name_cap : float or None
        Cap per name, currency; ``None`` = no single-name cap.
    industry_caps, region_caps : mapping
        ``{key: cap}`` in currency; keys without a cap are reported as uncapped.
    confidence : float
        Quantile ``q`` of the granularity adjustment (0.999 as in the IRB formula).
    factor_precision : float
        ``xi``: the CreditRisk+ factor is gamma with mean 1 and variance ``1 / xi``.
    lgd_variance_param : float
        ``gamma`` in ``VLGD^2 = gamma * ELGD * (1 - ELGD)``.
    delta : float or None
        Override of ``delta`` (e.g. the published 4.83); ``None`` computes it from
        ``xi`` and ``q``.
    maturity_years : float
        Maturity passed to the IRB capital formula (trade credit: 1, no adjustment), which
        takes it within Basel's bounds [1, 5] years (7 costs what 5 does).
    ga_form : {"simplified", "full"}
        Which granularity-adjustment formula (see the module docstring).

    Examples
    --------
    >>> ConcentrationSettings(industry_caps={"Retail": 1e6}).industry_caps["Retail"]
    1000000.0
    """

    top_n: int = 10
    single_name_cap: float | None = None
    industry_caps: Mapping[str, float] = field(default_factory=dict)
    region_caps: Mapping[str, float] = field(default_factory=dict)
    confidence: float = 0.999
    factor_precision: float = 0.25
    lgd_variance_param: float = 0.25
    delta: float | None = None
    maturity_years: float = 1.0
    ga_form: Literal["simplified", "full"] = "simplified"

    def __post_init__(self) -> None:
        if not isinstance(self.top_n, (int, np.integer)) or isinstance(self.top_n, bool) or self.top_n < 1:
            raise ConcentrationInputError(f"top_n = {self.top_n!r} must be a whole number >= 1")
        c = self.single_name_cap
        if c is not None and not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0):
            raise ConcentrationInputError(f"single_name_cap = {c!r} must be a positive amount or None")
        object.__setattr__(self, "industry_caps", _caps("industry_caps", self.industry_caps))
        object.__setattr__(self, "region_caps", _caps("region_caps", self.region_caps))
        checks = (("confidence", self.confidence, 0.0, 1.0), ("factor_precision", self.factor_precision, 0.0, 1.0),
                  ("lgd_variance_param", self.lgd_variance_param, 0.0, 1.0))
        for name, v, lo, hi in checks:
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo < v < hi):
                raise ConcentrationInputError(f"{name} = {v!r} must be in ({lo}, {hi})")
        if self.delta is not None and not (math.isfinite(self.delta) and self.delta > 0):
            raise ConcentrationInputError(f"delta = {self.delta!r} must be positive (or None to compute it)")
        if not (math.isfinite(self.maturity_years) and self.maturity_years > 0):
            raise ConcentrationInputError(f"maturity_years = {self.maturity_years!r} must be positive")
        if self.ga_form not in ("simplified", "full"):
            raise ConcentrationInputError(f"ga_form = {self.ga_form!r} must be 'simplified' or 'full'")


def _exposures(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ConcentrationInputError(f"{name} must be a non-empty 1-d list of exposures")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise ConcentrationInputError(f"{name} = {plain_number(arr[bad][0])} at position "
                                      f"{int(np.flatnonzero(bad)[0])} must be "
                                      "finite and >= 0")
    if arr.sum() <= 0:
        raise ConcentrationInputError(f"{name} adds up to 0; concentration needs a positive total exposure")
    return arr


def hhi(exposures: Any) -> float:
    """Herfindahl-Hirschman index of a set of exposures, ``sum (x_i / sum x)^2``.

    Parameters
    ----------
    exposures : array_like
        Exposures (currency, >= 0, positive total), one per name or group.

    Returns
    -------
    float
        In ``(0, 1]``; ``1 / n`` for ``n`` equal exposures.

    Examples
    --------
    >>> hhi([50.0, 30.0, 20.0])  # 0.25 + 0.09 + 0.04
    0.38
    """
    x = _exposures(exposures, "exposures")
    s = x / x.sum()
    return float(np.sum(s * s))


@dataclass(frozen=True, eq=False)
class ConcentrationSummary:
    """Concentration figures of a book.

    Attributes
    ----------
    total_exposure : float
        Currency.
    names : int
        Distinct names with exposure rows.
    hhi_name, hhi_industry, hhi_region : float
        HHI of names, industries and regions.
    effective_names, effective_industries, effective_regions : float
        ``1 / HHI``.
    top_n : int
    top_n_share : float
        Exposure share of the ``top_n`` largest names.
    by_name : DataFrame
        Index name; ``exposure`` and ``share``, largest first.
    by_industry, by_region : DataFrame
        Index industry / region; ``exposure``, ``share``, ``names``, largest first.
    """

    total_exposure: float
    names: int
    hhi_name: float
    hhi_industry: float
    hhi_region: float
    effective_names: float
    effective_industries: float
    effective_regions: float
    top_n: int
    top_n_share: float
    by_name: pd.DataFrame
    by_industry: pd.DataFrame
    by_region: pd.DataFrame


def _check_frame(frame: pd.DataFrame, cols: list[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ConcentrationInputError(f"frame must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ConcentrationInputError(f"frame lacks column(s) {missing}; name the columns with the exposure=, "
                                      "name=, industry= and region= arguments")
    for c in cols[1:]:
        if frame[c].isna().any():
            raise ConcentrationInputError(f"frame.{c} is missing for {int(frame[c].isna().sum())} row(s); every "
                                          "exposure needs a name, industry and region")
    _exposures(frame[cols[0]].to_numpy(dtype=float), f"frame.{cols[0]}")


def _group(frame: pd.DataFrame, key: str, exposure: str, name: str) -> pd.DataFrame:
    g = frame.groupby(key, observed=True)
    out = pd.DataFrame({"exposure": g[exposure].sum(), "names": g[name].nunique()})
    out["share"] = out["exposure"] / out["exposure"].sum()
    return out.sort_values("exposure", ascending=False, kind="stable")[["exposure", "share", "names"]]


def concentration_summary(frame: pd.DataFrame, settings: ConcentrationSettings | None = None, *,
                          exposure: str = "ead", name: str = "customer_id", industry: str = "industry",
                          region: str = "region") -> ConcentrationSummary:
    """HHI by name, industry and region, effective numbers and the top-``n`` share.

    Rows of the same name are added up (one name may have several rows).

    Parameters
    ----------
    frame : DataFrame
        Exposure rows with the named columns.
    settings : ConcentrationSettings, optional
        ``top_n``.
    exposure, name, industry, region : str
        Column names.

    Returns
    -------
    ConcentrationSummary

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": ["A", "B", "C", "D"], "ead": [40.0, 30.0, 20.0, 10.0],
    ...                   "industry": ["X", "X", "Y", "Y"], "region": ["N", "S", "N", "S"]})
    >>> s = concentration_summary(f, ConcentrationSettings(top_n=2))
    >>> round(s.hhi_name, 4), round(s.hhi_industry, 4), s.top_n_share
    (0.3, 0.58, 0.7)
    """
    settings = settings or ConcentrationSettings()
    _check_frame(frame, [exposure, name, industry, region])
    by_name = frame.groupby(name, observed=True)[exposure].sum().sort_values(ascending=False, kind="stable")
    total = float(by_name.sum())
    by_name_df = pd.DataFrame({"exposure": by_name, "share": by_name / total})
    by_ind = _group(frame, industry, exposure, name)
    by_reg = _group(frame, region, exposure, name)
    h_name, h_ind, h_reg = (float(np.sum(d["share"].to_numpy() ** 2)) for d in (by_name_df, by_ind, by_reg))
    return ConcentrationSummary(
        total_exposure=total, names=len(by_name), hhi_name=h_name, hhi_industry=h_ind, hhi_region=h_reg,
        effective_names=1.0 / h_name, effective_industries=1.0 / h_ind, effective_regions=1.0 / h_reg,
        top_n=settings.top_n, top_n_share=float(by_name.iloc[: settings.top_n].sum() / total),
        by_name=by_name_df, by_industry=by_ind, by_region=by_reg)


def cap_utilization(frame: pd.DataFrame, settings: ConcentrationSettings, *, exposure: str = "ead",
                    name: str = "customer_id", industry: str = "industry", region: str = "region") -> pd.DataFrame:
    """Use of each concentration cap: exposure used / cap.

    Every industry and region in the book is listed (uncapped ones with a NaN cap and
    utilisation), as is every capped key without exposure (used 0). Names are listed only
    when a single-name cap is set.

    Parameters
    ----------
    frame : DataFrame
        Exposure rows.
    settings : ConcentrationSettings
        ``single_name_cap``, ``industry_caps``, ``region_caps``.
    exposure, name, industry, region : str
        Column names.

    Returns
    -------
    DataFrame
        Columns ``dimension`` (``"industry"``, ``"region"``, ``"name"``), ``key``, ``used``,
        ``cap``, ``headroom`` (currency), ``utilization`` (fraction) and ``breached``
        (``used > cap``); within a dimension, most used first.

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": ["A", "B"], "ead": [60.0, 40.0], "industry": ["X", "Y"],
    ...                   "region": ["N", "N"]})
    >>> u = cap_utilization(f, ConcentrationSettings(industry_caps={"X": 50.0}))
    >>> u[["dimension", "key", "used", "cap", "utilization", "breached"]]
      dimension key   used   cap  utilization  breached
    0  industry   X   60.0  50.0          1.2      True
    1  industry   Y   40.0   NaN          NaN     False
    2    region   N  100.0   NaN          NaN     False
    """
    _check_frame(frame, [exposure, name, industry, region])
    parts = []
    dims = [("industry", industry, settings.industry_caps), ("region", region, settings.region_caps)]
    if settings.single_name_cap is not None:
        caps = dict.fromkeys(frame[name].astype(str).unique(), settings.single_name_cap)
        dims.append(("name", name, caps))
    for dim, col, caps in dims:
        used = frame.groupby(frame[col].astype(str), observed=True)[exposure].sum()
        keys = list(used.index) + [k for k in caps if k not in used.index]
        used = used.reindex(keys, fill_value=0.0)
        cap = pd.Series([caps.get(k, np.nan) for k in keys], index=keys, dtype=float)
        part = pd.DataFrame({"dimension": dim, "key": keys, "used": used.to_numpy(dtype=float),
                             "cap": cap.to_numpy()})
        part["headroom"] = part["cap"] - part["used"]
        part["utilization"] = part["used"] / part["cap"]
        part["breached"] = (part["used"] > part["cap"]).to_numpy()
        parts.append(part.sort_values(["utilization", "used"], ascending=False, na_position="last", kind="stable"))
    return pd.concat(parts, ignore_index=True)


def gl_delta(confidence: float = 0.999, factor_precision: float = 0.25) -> float:
    """``delta = (alpha_q(X) - 1) * (xi + (1 - xi) / alpha_q(X))``, ``X ~ Gamma(xi, 1 / xi)``.

    Parameters
    ----------
    confidence : float, default 0.999
        ``q``.
    factor_precision : float, default 0.25
        ``xi`` (mean 1, variance ``1 / xi``).

    Returns
    -------
    float

    Examples
    --------
    >>> round(gl_delta(), 2)  # the 4.83 of Gordy and Lütkebohmert
    4.83
    """
    xi = float(factor_precision)
    a = float(stats.gamma.ppf(confidence, xi, scale=1.0 / xi))
    return (a - 1.0) * (xi + (1.0 - xi) / a)


@dataclass(frozen=True, eq=False)
class GranularityAdjustment:
    """Result of :func:`granularity_adjustment`.

    Attributes
    ----------
    ga : float
        Add-on to the capital rate, as a share of total EAD.
    ga_amount : float
        ``ga * total EAD``, currency.
    k_star : float
        Exposure-weighted IRB capital rate ``K*``.
    delta : float
    form : str
    contributions : DataFrame
        Per name (input order/index): ``share``, ``capital_rate`` (``K_i``), ``el_rate``
        (``R_i``), ``c`` (``C_i``) and ``ga`` (the name's term; they add up to ``ga``).
    """

    ga: float
    ga_amount: float
    k_star: float
    delta: float
    form: str
    contributions: pd.DataFrame


def granularity_adjustment(ead: Any, pd_: Any, lgd: Any, settings: ConcentrationSettings | None = None, *,
                           capital_rate: Any = None) -> GranularityAdjustment:
    """Gordy-Lütkebohmert granularity adjustment for name concentration.

    Parameters
    ----------
    ead : array_like or Series
        Exposure per name (currency, >= 0, positive total).
    pd_ : array_like
        12-month PD per name.
    lgd : array_like or float
        Expected LGD per name, in (0, 1] (``[0, 1]`` for the simplified form).
    settings : ConcentrationSettings, optional
        ``confidence``, ``factor_precision``, ``lgd_variance_param``, ``delta``,
        ``maturity_years``, ``ga_form``.
    capital_rate : array_like, optional
        ``K_i`` per unit of EAD; by default the Basel IRB corporate formula
        (:func:`credit_lab.limits.optimizer.irb_capital_rate`) at ``maturity_years``.

    Returns
    -------
    GranularityAdjustment

    Examples
    --------
    Ten equal names have ten times the adjustment of a hundred:

    >>> ga10 = granularity_adjustment([1.0] * 10, [0.02] * 10, 0.45).ga
    >>> ga100 = granularity_adjustment([1.0] * 100, [0.02] * 100, 0.45).ga
    >>> round(ga10 / ga100, 9)
    10.0
    """
    settings = settings or ConcentrationSettings()
    index = ead.index if isinstance(ead, pd.Series) else None
    x = _exposures(np.asarray(ead, dtype=float), "ead")
    n = x.size
    p = np.broadcast_to(np.asarray(pd_, dtype=float), (n,))
    e = np.broadcast_to(np.asarray(lgd, dtype=float), (n,))
    if np.any(~np.isfinite(p) | (p < 0) | (p > 1)):
        raise ConcentrationInputError(f"pd = {plain_number(p[~np.isfinite(p) | (p < 0) | (p > 1)][0])} must be in [0, "
                                      "1]")
    lo_ok = (e > 0) if settings.ga_form == "full" else (e >= 0)
    if np.any(~np.isfinite(e) | ~lo_ok | (e > 1)):
        interval = "(0, 1]" if settings.ga_form == "full" else "[0, 1]"
        raise ConcentrationInputError(f"lgd = {plain_number(e[~np.isfinite(e) | ~lo_ok | (e > 1)][0])} must be in "
                                      f"{interval} "
                                      "(the full form divides by the expected LGD)")
    if capital_rate is None:
        k = irb_capital_rate(p, e, maturity_years=settings.maturity_years)
    else:
        k = np.broadcast_to(np.asarray(capital_rate, dtype=float), (n,))
        if np.any(~np.isfinite(k) | (k < 0)):
            raise ConcentrationInputError("capital_rate must be finite and >= 0 for every name")
    s = x / x.sum()
    r = e * p
    k_star = float(np.sum(s * k))
    if not k_star > 0:
        raise ConcentrationInputError("the exposure-weighted capital rate K* is 0 (all PDs or LGDs are 0), so the "
                                      "granularity adjustment is undefined")
    delta = gl_delta(settings.confidence, settings.factor_precision) if settings.delta is None else settings.delta
    gamma = settings.lgd_variance_param
    vlgd2 = gamma * e * (1.0 - e)
    c = gamma + (1.0 - gamma) * e  # = (ELGD^2 + VLGD^2) / ELGD, also defined at ELGD = 0
    kr = k + r
    if settings.ga_form == "simplified":
        term = c * (delta * kr - k)
    else:
        v_over_e2 = vlgd2 / (e * e)
        term = delta * c * kr + delta * kr**2 * v_over_e2 - k * (c + 2.0 * kr * v_over_e2)
    contrib = s * s * term / (2.0 * k_star)
    ga = float(contrib.sum())
    table = pd.DataFrame({"share": s, "capital_rate": k, "el_rate": r, "c": c, "ga": contrib}, index=index)
    return GranularityAdjustment(ga=ga, ga_amount=ga * float(x.sum()), k_star=k_star, delta=float(delta),
                                 form=settings.ga_form, contributions=table)
