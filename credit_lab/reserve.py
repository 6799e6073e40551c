"""Expected loss, first version: EL = PD x LGD x EAD, net of insurance and guarantees.

``EAD = outstanding + CCF x max(limit - outstanding, 0)``. The insurer pays its
cover share of the exposure up to the insured limit; a guarantee absorbs what
is left up to its amount. The LGD applies to the remaining (net) exposure, so
``LGD_net = LGD x net exposure / EAD`` and ``EL = PD x LGD_net x EAD``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import ReserveParams

__all__ = ["exposure_at_default", "expected_loss", "el_summary"]


def exposure_at_default(outstanding: pd.Series, limit: pd.Series, ccf: float) -> pd.Series:
    """Outstanding plus the expected drawing of the undrawn limit by the time of default."""
    undrawn = (limit - outstanding).clip(lower=0.0)
    return outstanding + ccf * undrawn


def expected_loss(frame: pd.DataFrame, params: ReserveParams, limit_column: str = "proposed_limit") -> pd.DataFrame:
    """Per-customer EAD, mitigation, net LGD and 12-month expected loss.

    ``frame`` needs ``pd``, ``receivables_open``, the limit column, ``insurance_cover_pct``,
    ``insured_limit`` and ``guarantee_amount``.
    """
    ead = exposure_at_default(frame["receivables_open"].astype(float), frame[limit_column].astype(float), params.ccf)
    insured = frame["insurance_cover_pct"].astype(float) * np.minimum(ead, frame["insured_limit"].astype(float))
    guaranteed = np.minimum(frame["guarantee_amount"].astype(float), ead - insured)
    net = (ead - insured - guaranteed).clip(lower=0.0)
    lgd_net = (params.lgd * net / ead).where(ead > 0, params.lgd)
    out = pd.DataFrame({
        "ead": ead, "insured_exposure": insured, "guaranteed_exposure": guaranteed, "net_exposure": net,
        "lgd": params.lgd, "lgd_net": lgd_net,
        "el_gross": frame["pd"] * params.lgd * ead,
        "el": frame["pd"] * lgd_net * ead,
    }, index=frame.index)
    return out


def el_summary(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Totals of exposure and EL by a column (``grade``, ``industry`` ...), with a total row."""
    cols = ["ead", "net_exposure", "el_gross", "el"]
    g = frame.groupby(by, observed=True)[cols].sum()
    g.insert(0, "customers", frame.groupby(by, observed=True).size())
    g.loc["Total"] = [len(frame)] + [frame[c].sum() for c in cols]
    g["el_rate_of_ead"] = (g["el"] / g["ead"]).where(g["ead"] > 0)
    return g
