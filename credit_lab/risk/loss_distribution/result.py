"""The loss model's output (:class:`LossResult`) and the risk reserve ``EL + UL`` read from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from credit_lab.risk.loss_inputs import LossModelError


@dataclass(frozen=True, eq=False)
class LossResult:
    """The 12-month portfolio loss distribution and its risk measures (all amounts in currency).

    Attributes
    ----------
    method : str
        ``"fast"``, ``"monte_carlo"`` or ``"large_portfolio"``.
    seed : int
        Seed that reproduces the run.
    levels : tuple of float
        Confidence levels of ``var`` and ``es``.
    expected_loss : float
        Exact expected loss ``sum(PD * EAD * LGD)``.
    var, es : dict[float, float]
        Value-at-risk (loss quantile) and expected shortfall (mean loss in the worst
        ``1 - q`` of outcomes, Acerbi-Tasche definition) per level.
    error : pandas.DataFrame
        Per level: 95 % confidence half-widths of VaR and ES from sampling, absolute
        (``var_ci95``, ``es_ci95``) and relative to the estimate (``var_rel_ci95``,
        ``es_rel_ci95``).
    obligor_contributions : pandas.DataFrame or None
        Euler contributions per obligor: ``el`` and ``var_<q>``, ``es_<q>`` for each level;
        columns ``var_<q>`` / ``es_<q>`` add up to ``var[q]`` / ``es[q]``.
    sector_contributions : pandas.DataFrame or None
        The same summed by sector.
    quantiles : pandas.Series
        Loss quantiles indexed by probability, for plotting the distribution.
    samples : ndarray or None
        Simulated losses (Monte Carlo methods only), for histograms.
    n_scenarios : int
        Factor scenarios used (for ``fast``: the expensive conditional-FFT scenarios).
    runtime_seconds : float
        Wall time of the computation.
    diagnostics : dict
        Method specifics: lattice step, error bounds, IS shift, timings.
    """

    method: str
    seed: int
    levels: tuple[float, ...]
    expected_loss: float
    var: dict[float, float]
    es: dict[float, float]
    error: pd.DataFrame
    obligor_contributions: pd.DataFrame | None
    sector_contributions: pd.DataFrame | None
    quantiles: pd.Series
    samples: np.ndarray | None
    n_scenarios: int
    runtime_seconds: float
    diagnostics: dict = field(default_factory=dict)

    def unexpected_loss(self, confidence: float) -> float:
        """``VaR(confidence) - EL`` (currency)."""
        return _var_at(self, confidence) - self.expected_loss

    def summary(self) -> pd.DataFrame:
        """One row per level: EL, VaR, ES, UL and their 95 % half-widths (currency)."""
        rows = []
        for q in self.levels:
            rows.append({"level": q, "expected_loss": self.expected_loss, "var": self.var[q], "es": self.es[q],
                         "unexpected_loss": self.var[q] - self.expected_loss,
                         "var_ci95": self.error.loc[q, "var_ci95"], "es_ci95": self.error.loc[q, "es_ci95"]})
        return pd.DataFrame(rows).set_index("level")


def _var_at(result: LossResult, confidence: float) -> float:
    for q in result.levels:
        if abs(q - confidence) < 1e-12:
            return float(result.var[q])
    for q, v in result.quantiles.items():
        if abs(float(q) - confidence) < 1e-12 and np.isfinite(v):
            return float(v)
    raise LossModelError(f"confidence = {confidence!r} is not among the computed levels {result.levels} or "
                         f"quantile probabilities {tuple(result.quantiles.index)}; rerun with levels=(..., "
                         f"{confidence})")


def recommended_reserve(result: LossResult, confidence: float) -> float:
    """Risk reserve ``EL + UL`` at ``confidence``, with ``UL = VaR(confidence) - EL`` (currency).

    The expected loss is the part priced in / provisioned; the unexpected loss is what the
    reserve fund must absorb on top in a year that is as bad as the ``confidence`` quantile.
    Their sum equals the VaR: a fund of this size is exhausted in at most ``1 - confidence``
    of years (up to the estimate's error, ``result.error``).

    Parameters
    ----------
    result : LossResult
        Output of :func:`fast_loss`, :func:`monte_carlo_loss` or :func:`large_portfolio_loss`.
    confidence : float
        One of ``result.levels`` or of the probabilities of ``result.quantiles``.

    Returns
    -------
    float
        Reserve amount in the currency of the exposures.
    """
    var = _var_at(result, confidence)
    return float(result.expected_loss + (var - result.expected_loss))
