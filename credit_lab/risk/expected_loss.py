"""Exposure at default and expected-loss summaries.

``EAD = outstanding + CCF x max(limit - outstanding, 0)``. Mitigation (collateral,
insurance, guarantees) is :mod:`credit_lab.risk.mitigation`; provisions are
:mod:`credit_lab.risk.provisions`.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["exposure_at_default", "el_summary"]


def exposure_at_default(outstanding: pd.Series, limit: pd.Series, ccf: float) -> pd.Series:
    """Outstanding plus the expected drawing of the undrawn limit by the time of default."""
    undrawn = (limit - outstanding).clip(lower=0.0)
    return outstanding + ccf * undrawn


def el_summary(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Totals of exposure and EL by a column (``grade``, ``industry`` ...), with a total row."""
    cols = ["ead", "net_exposure", "el_gross", "el"]
    g = frame.groupby(by, observed=True)[cols].sum()
    g.insert(0, "customers", frame.groupby(by, observed=True).size())
    g.loc["Total"] = [len(frame)] + [frame[c].sum() for c in cols]
    g["el_rate_of_ead"] = (g["el"] / g["ead"]).where(g["ead"] > 0)
    return g
