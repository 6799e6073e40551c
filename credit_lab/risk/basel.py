"""Basel II IRB closed forms for corporate exposures: the one implementation in the package.

``vasicek_quantile``
    The large-homogeneous-portfolio (one-factor Vasicek) loss quantile.
``basel_correlation``, ``basel_maturity_adjustment``
    The asset correlation ``R(PD)`` (with the SME firm-size adjustment) and the maturity
    adjustment ``MA(PD, M)``.
``irb_capital``, ``irb_capital_rate``, ``irb_risk_weight``
    The capital requirement ``K`` per unit of EAD (``irb_capital_rate`` is the floored,
    one-year trade-credit form the limit optimiser and concentration use), and the risk
    weight ``12.5 K``. All three go through :func:`irb_capital`, which takes the effective
    maturity within Basel's bounds ``[1, 5]`` years (:func:`effective_maturity`, Basel II
    para. 320): a 7-year exposure gets the capital of a 5-year one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from credit_lab.risk.loss_inputs import LossModelError, check_open_unit, check_unit, scalar_or_array


def vasicek_quantile(pd: float | np.ndarray, rho: float | np.ndarray, confidence: float,
                     lgd: float | np.ndarray = 1.0) -> float | np.ndarray:
    """Loss quantile of an infinitely granular homogeneous one-factor portfolio (Vasicek).

    ``LGD * Phi((Phi^-1(PD) + sqrt(rho) * Phi^-1(q)) / sqrt(1 - rho))``.

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    rho : float or array
        Asset correlation with the single factor, in [0, 1).
    confidence : float
        Quantile level ``q`` in (0, 1), e.g. 0.999.
    lgd : float or array, default 1.0
        Loss given default, in [0, 1].

    Returns
    -------
    float or ndarray
        The ``q``-quantile of the portfolio loss rate, as a fraction of exposure (multiply by
        the total exposure for currency).
    """
    p = check_open_unit("pd", pd)
    r = check_open_unit("rho", rho, allow_zero=True)
    q = check_open_unit("confidence", confidence)
    g = check_unit("lgd", lgd)
    out = g * ndtr((ndtri(p) + np.sqrt(r) * ndtri(q)) / np.sqrt(1.0 - r))
    return scalar_or_array(out)


def basel_correlation(pd: float | np.ndarray, sme_turnover: float | np.ndarray | None = None) -> float | np.ndarray:
    """Basel II asset correlation ``R(PD)`` for corporate exposures, with the SME adjustment.

    ``R = 0.12 w + 0.24 (1 - w)`` with ``w = (1 - exp(-50 PD)) / (1 - exp(-50))``; for an SME
    the firm-size adjustment subtracts ``0.04 (1 - (S - 5) / 45)``, S the annual turnover in
    EUR million clipped to [5, 50] (Basel II, para. 273).

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    sme_turnover : float or array, optional
        Annual sales in EUR million. ``None`` (default) or values >= 50: no adjustment.

    Returns
    -------
    float or ndarray
        Asset correlation, dimensionless, between 0.08 and 0.24.
    """
    p = check_open_unit("pd", pd)
    w = -np.expm1(-50.0 * p) / -np.expm1(-50.0)
    r = 0.12 * w + 0.24 * (1.0 - w)
    if sme_turnover is not None:
        s = np.asarray(sme_turnover, dtype=float)
        if np.any(~np.isfinite(s)) or np.any(s <= 0):
            raise LossModelError(f"sme_turnover = {sme_turnover!r} must be positive annual sales in EUR million; "
                                 f"pass None for non-SME corporates")
        s = np.clip(s, 5.0, 50.0)
        r = r - 0.04 * (1.0 - (s - 5.0) / 45.0)
    return scalar_or_array(r)


#: Basel II para. 320: the effective maturity M enters the capital formula floored at one year and capped at five.
MATURITY_FLOOR_YEARS = 1.0
MATURITY_CAP_YEARS = 5.0


def effective_maturity(maturity: float | np.ndarray) -> float | np.ndarray:
    """The maturity the IRB capital formula uses: ``max(1, min(M, 5))`` years (Basel II para. 320).

    A longer or shorter maturity is valid input, not an error: Basel bounds it this way. The
    short-term exemptions of para. 321 (M below one year for some repo-style exposures) are not
    modelled. Raises :class:`LossModelError` when ``maturity`` is not a positive number of years.

    >>> effective_maturity(7.0), effective_maturity(0.25), effective_maturity(2.5)
    (5.0, 1.0, 2.5)
    """
    m = np.asarray(maturity, dtype=float)
    if np.any(~np.isfinite(m)) or np.any(m <= 0):
        raise LossModelError(f"maturity = {maturity!r} must be a positive number of years (Basel bounds it to 1-5)")
    return scalar_or_array(np.clip(m, MATURITY_FLOOR_YEARS, MATURITY_CAP_YEARS))


def basel_maturity_adjustment(pd: float | np.ndarray, maturity: float | np.ndarray = 2.5) -> float | np.ndarray:
    """Basel II maturity adjustment ``(1 + (M - 2.5) b) / (1 - 1.5 b)``, ``b = (0.11852 - 0.05478 ln PD)^2``.

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    maturity : float or array, default 2.5
        Effective maturity M in years. The bare formula: Basel's bounds [1, 5] are applied by
        :func:`irb_capital` (through :func:`effective_maturity`), not here; ``M = 1`` strips
        the adjustment.

    Returns
    -------
    float or ndarray
        Multiplicative factor, dimensionless; exactly 1 at ``M = 1``.
    """
    p = check_open_unit("pd", pd)
    m = np.asarray(maturity, dtype=float)
    if np.any(~np.isfinite(m)) or np.any(m <= 0):
        raise LossModelError(f"maturity = {maturity!r} must be a positive number of years (Basel uses 1 to 5)")
    b = (0.11852 - 0.05478 * np.log(p)) ** 2
    return scalar_or_array((1.0 + (m - 2.5) * b) / (1.0 - 1.5 * b))


def irb_capital(pd: float | np.ndarray, lgd: float | np.ndarray, maturity: float | np.ndarray = 2.5,
                sme_turnover: float | np.ndarray | None = None, confidence: float = 0.999,
                correlation: float | np.ndarray | None = None) -> float | np.ndarray:
    """Basel II IRB capital requirement K for corporate exposures, per unit of EAD.

    ``K = LGD [Phi((Phi^-1(PD) + sqrt(R) Phi^-1(0.999)) / sqrt(1 - R)) - PD] * MA(PD, M)``:
    the unexpected loss (Vasicek quantile minus expected loss) at 99.9 % times the maturity
    adjustment. The 1.06 scaling factor of Basel II is *not* applied (as in its Annex 5).

    Parameters
    ----------
    pd : float or array
        12-month default probability, in (0, 1).
    lgd : float or array
        Loss given default, in [0, 1].
    maturity : float or array, default 2.5
        Effective maturity in years, taken within Basel's bounds ``[1, 5]``
        (:func:`effective_maturity`): 7 gives the capital of 5, 0.5 that of 1; ``1`` removes
        the maturity adjustment.
    sme_turnover : float or array, optional
        Annual sales in EUR million for the SME firm-size adjustment of ``R``.
    confidence : float, default 0.999
        Regulatory confidence level.
    correlation : float or array, optional
        Override ``R`` (default: :func:`basel_correlation`).

    Returns
    -------
    float or ndarray
        Capital per unit of exposure (fraction); multiply by EAD for currency and by 12.5 for
        the risk weight.
    """
    p = check_open_unit("pd", pd)
    g = check_unit("lgd", lgd)
    r = np.asarray(basel_correlation(p, sme_turnover) if correlation is None
                   else check_open_unit("correlation", correlation, allow_zero=True))
    q = check_open_unit("confidence", confidence)
    cond = ndtr((ndtri(p) + np.sqrt(r) * ndtri(q)) / np.sqrt(1.0 - r))
    k = g * (cond - p) * np.asarray(basel_maturity_adjustment(p, effective_maturity(maturity)))
    return scalar_or_array(k)


def irb_capital_rate(pd_: Any, lgd: Any, maturity_years: float = 1.0, pd_floor: float = 0.0003) -> np.ndarray:
    """Basel IRB corporate capital requirement ``K`` per unit of EAD (unexpected loss rate).

    ``K = [LGD * Phi((Phi^-1(PD) + sqrt(R) Phi^-1(0.999)) / sqrt(1 - R)) - PD * LGD] * MA``
    with the corporate asset correlation ``R(PD)`` and maturity adjustment ``MA``.

    Parameters
    ----------
    pd_ : array_like
        One-year PD, floored at ``pd_floor``.
    lgd : array_like
        Loss given default, share of EAD.
    maturity_years : float, optional
        Effective maturity, years (trade credit: ~1 or less), taken within Basel's bounds
        ``[1, 5]`` as in :func:`irb_capital`: below 1 is used as 1, above 5 as 5.
    pd_floor : float, optional
        Regulatory PD floor (0.03 %).

    Returns
    -------
    ndarray
        Capital per unit of EAD, >= 0. Multiply by ``ccf`` for ``ul_rate`` per unit of limit.
    """
    p = np.clip(np.asarray(pd_, dtype=float), pd_floor, 1.0 - 1e-12)
    k = irb_capital(p, np.asarray(lgd, dtype=float), maturity=float(maturity_years))
    return np.maximum(np.asarray(k, dtype=float), 0.0)


def irb_risk_weight(pd: float | np.ndarray, lgd: float | np.ndarray, maturity: float | np.ndarray = 2.5,
                    sme_turnover: float | np.ndarray | None = None) -> float | np.ndarray:
    """Basel II IRB risk weight ``12.5 * K`` (fraction; 0.9232 means 92.32 %), without the 1.06 factor.

    Parameters are those of :func:`irb_capital`.
    """
    return scalar_or_array(12.5 * np.asarray(irb_capital(pd, lgd, maturity, sme_turnover)))
