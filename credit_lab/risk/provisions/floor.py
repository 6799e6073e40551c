"""The forward-looking floor of a bucket whose history holds no loss (IFRS 9 B5.5.35).

A ledger without defaults or write-offs gives every bucket a historical loss rate of 0, i.e. no
provision. IFRS 9 asks for the historical rates to be adjusted for current and forward-looking
information, and "no loss seen" is not "no loss expected": such a bucket takes a floor instead.

When the floor applies
    A bucket's historical rate is exactly 0 only when the pooled history holds no loss for it:
    by the cohort method, every balance in the bucket at the pooled month-ends was collected in
    full within ``outcome_months``; by roll rates, no balance leaving the bucket was settled
    short and every later bucket it rolled into has a zero rate too (down to the last bucket,
    whose balances were all collected within ``outcome_months``). A bucket with any observed
    loss, however small, keeps its historical rate (the floor is not a minimum). A bucket with
    no open balance today is not floored (there is nothing to provide for).
The floor
    The balance-weighted 12-month PD x LGD of the customers whose receivables sit in the bucket
    today, ``sum_i balance_i * PD_i * LGD / sum_i balance_i`` over the bucket's open invoices
    (basis :data:`FLOOR_PD_LGD`); without PDs, the fixed rate of each invoice's own days past due
    (``no_loss_floor_rates`` on ``no_loss_floor_edges``), balance-weighted the same way, so a
    bucket merged from several keeps the rates of its parts (basis :data:`FLOOR_PARAMS`). The
    floor is then adjusted by the macro scenarios exactly like a historical rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_lab.core.formatting import plain_number
from credit_lab.risk.provisions.ledger import _bucket_of
from credit_lab.risk.provisions.settings import ProvisionInputError, ProvisionSettings

#: ``rate_basis`` of a bucket priced at its historical loss rate.
HISTORY = "history"
#: ``rate_basis`` of a bucket floored at the balance-weighted PD x LGD of its customers.
FLOOR_PD_LGD = "floor (PD×LGD)"
#: ``rate_basis`` of a bucket floored at the fixed rates of the settings (no PD at hand).
FLOOR_PARAMS = "floor (params)"


def no_loss_floor(items: pd.DataFrame, settings: ProvisionSettings | None = None,
                  pd_12m: pd.Series | None = None, lgd: float | None = None) -> pd.DataFrame:
    """Floor loss rate per bucket from today's open receivables; see the module docstring.

    Parameters
    ----------
    items : DataFrame
        Open invoices (:func:`open_items`): ``customer_id``, ``days_past_due``, ``bucket``,
        ``outstanding`` (currency).
    settings : ProvisionSettings, optional
        The buckets, and the fixed ``no_loss_floor_rates`` used when ``pd_12m`` is None.
    pd_12m : Series, optional
        12-month PD (fraction) per customer id; it must cover every customer in ``items``.
    lgd : float, optional
        Loss given default (fraction); required with ``pd_12m``.

    Returns
    -------
    DataFrame
        Index ``bucket`` (``settings.buckets``); ``floor_loss_rate`` (fraction; NaN for a bucket
        with no open balance) and ``rate_basis`` (:data:`FLOOR_PD_LGD` or :data:`FLOOR_PARAMS`).

    Examples
    --------
    >>> items = pd.DataFrame({"customer_id": ["A", "B", "B"], "days_past_due": [-10, -3, 45],
    ...                       "bucket": ["current", "current", "31-60"], "outstanding": [300.0, 100.0, 50.0]})
    >>> f = no_loss_floor(items, pd_12m=pd.Series({"A": 0.01, "B": 0.05}), lgd=0.5)
    >>> f["floor_loss_rate"].round(4).tolist()[:3], f["rate_basis"].iloc[0]
    ([0.01, nan, 0.025], 'floor (PD×LGD)')
    >>> no_loss_floor(items)["floor_loss_rate"].tolist()[:3]
    [0.005, nan, 0.05]
    """
    settings = settings or ProvisionSettings()
    labels = list(settings.buckets)
    need = ["customer_id", "days_past_due", "bucket", "outstanding"]
    missing = [c for c in need if c not in items.columns]
    if missing:
        raise ProvisionInputError(f"items lacks column(s) {missing}; pass the open_items table")
    balance = items["outstanding"].to_numpy(dtype=float)
    if pd_12m is not None:
        if lgd is None or not (np.isfinite(lgd) and 0.0 <= lgd <= 1.0):
            raise ProvisionInputError(f"lgd = {plain_number(lgd)} must be a fraction in [0, 1] when pd_12m is given, "
                                      "e.g. 0.45")
        pd_of_item = items["customer_id"].astype(object).map(pd_12m).to_numpy(dtype=float)
        bad = ~np.isfinite(pd_of_item) | (pd_of_item < 0) | (pd_of_item > 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ProvisionInputError(
                f"pd_12m of customer {items['customer_id'].iloc[i]!r} (open invoices in bucket "
                f"{items['bucket'].iloc[i]!r}) is {plain_number(pd_of_item[i])}; give every customer with open "
                "receivables a PD in [0, 1] (1 for a customer already in default)")
        rate, basis = pd_of_item * float(lgd), FLOOR_PD_LGD
    else:
        fixed = np.asarray(settings.no_loss_floor_rates, dtype=float)
        dpd = items["days_past_due"].to_numpy(dtype=np.int64)
        rate, basis = fixed[_bucket_of(dpd, settings.no_loss_floor_edges)], FLOOR_PARAMS
    bucket = items["bucket"].astype(str).to_numpy()
    weighted = pd.Series(balance * rate).groupby(bucket).sum().reindex(labels, fill_value=0.0)
    gross = pd.Series(balance).groupby(bucket).sum().reindex(labels, fill_value=0.0)
    floor = (weighted / gross.where(gross > 0)).to_numpy(dtype=float)
    return pd.DataFrame({"floor_loss_rate": floor, "rate_basis": basis},
                        index=pd.Index(labels, name="bucket"))
