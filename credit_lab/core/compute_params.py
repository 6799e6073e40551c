"""Where a run computes: on this machine (``local``) or on a Dask cluster (``dask``): the ``compute`` block of params.

Kept apart from :mod:`credit_lab.core.config` (which is long); the engine itself is
:mod:`credit_lab.run.compute`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from credit_lab.core.params_base import StrictParams

__all__ = ["ComputeParams"]


class ComputeParams(StrictParams):
    """The compute engine of the per-customer stages (features, scoring and explanations) and of the
    limits optimizer's passes over the book.

    ``dask``: the customers are split into ``partitions`` (each with its own invoices, statements,
    defaults and limit history) and each partition runs the same stage function on a Dask worker;
    the results are put back in the local engine's order, so every table is the one ``local`` writes.
    The optimizer prices its coupling rows from blocks of customers on the workers
    (:mod:`credit_lab.limits.optimizer.distributed`), with the same limits as ``local``, and the loss
    model sums its conditional distributions over blocks of obligors
    (:mod:`credit_lab.risk.loss_distribution.distributed`), with the same VaR and ES.
    With no ``scheduler_address`` a ``LocalCluster`` of ``n_workers`` processes starts with the run and
    stops with it.
    """

    engine: Literal["local", "dask"] = Field("local", description="local (this process) or dask (a Dask cluster)")
    scheduler_address: str | None = Field(None, min_length=1, description="an existing cluster's scheduler, e.g. "
                                          "tcp://10.0.0.5:8786; null = a LocalCluster for the run")
    n_workers: int = Field(2, ge=1, le=1024, description="workers of the LocalCluster (without scheduler_address)")
    partitions: int | None = Field(None, ge=1, le=100_000, description="customer partitions; null = 2 per worker")
    partition_folder: str | None = Field(
        None, min_length=1, description="a folder every worker can read (shared storage): the features' customer "
        "partitions are written there as Parquet and each worker reads its own; null = they travel through the "
        "scheduler")
