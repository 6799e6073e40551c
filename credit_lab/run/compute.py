"""The compute engine of the per-customer stages: this process (``local``) or a Dask cluster (``dask``).

A customer's point-in-time features depend only on its own records and its industry's outlook
(:mod:`credit_lab.features.point_in_time`), and its PD and exact explanation only on its own
features. So the same functions run on any partition of the customers, and the partitions'
results put back in the local order are the local result, value for value:

* :func:`partition_tables` splits the ledger by customer (round robin in the customers table's
  order), each partition with its own invoices, statements, defaults and limit history, and the
  whole industry outlook;
* :func:`map_partitions` runs a function on every partition, on the cluster (``engine: dask``) or,
  locally, once on the whole input; with ``compute.partition_folder`` (shared storage) the partitions of
  the ledger are written there as Parquet, a folder per partition (:func:`write_partitions`), and each
  worker reads its own (:func:`read_partition`) instead of receiving it through the scheduler;
* :func:`in_local_order` puts the stacked rows back in the order the local engine returns them.

``compute.scheduler_address`` (or ``$CREDIT_LAB_DASK_SCHEDULER``, which a pipeline run sets for its
stages) points at a running cluster; without one :func:`dask_client` starts a ``LocalCluster`` of
``compute.n_workers`` processes and stops it when done. The Dask dependency is imported only here,
and only when the engine is ``dask``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.compute_params import ComputeParams
from credit_lab.core.exceptions import CreditLabError

__all__ = ["ENV_SCHEDULER", "dask_client", "engine_client", "in_local_order", "map_partitions", "partition_tables",
           "read_partition", "split_rows", "write_partitions"]

logger = logging.getLogger(__name__)

#: environment variable a pipeline run sets to its cluster's scheduler address for the stage kernels
ENV_SCHEDULER = "CREDIT_LAB_DASK_SCHEDULER"


def _n_partitions(compute: ComputeParams, workers: int | None = None) -> int:
    return compute.partitions or 2 * (workers or compute.n_workers)


def partition_tables(tables: Mapping[str, pd.DataFrame], n: int) -> list[dict[str, pd.DataFrame]]:
    """The ledger split into ``n`` partitions of customers (round robin in the customers table's order).

    Every table with a ``customer_id`` column keeps, in each partition, its rows of that partition's
    customers in their order; a table without one (the industry outlook) goes whole to every partition.
    """
    if n < 1:
        raise CreditLabError(f"compute.partitions = {n!r} must be >= 1")
    customers = tables["customers"]
    ids = pd.Index(customers["customer_id"])
    part_of_customer = np.arange(len(customers)) % n
    codes: dict[str, np.ndarray] = {}
    for name, frame in tables.items():
        if frame is not None and "customer_id" in frame.columns:
            pos = ids.get_indexer(frame["customer_id"])
            codes[name] = np.where(pos >= 0, part_of_customer[pos], -1)
    return [{name: (frame.loc[codes[name] == k] if name in codes else frame) for name, frame in tables.items()
             if frame is not None} for k in range(n)]


def write_partitions(parts: Sequence[Mapping[str, pd.DataFrame]], folder: Path) -> list[Path]:
    """Each partition's tables as Parquet files (index kept) in ``folder/part-00000/`` ...; the folders, in order."""
    out = []
    for k, part in enumerate(parts):
        here = Path(folder) / f"part-{k:05d}"
        here.mkdir(parents=True)
        for name, frame in part.items():
            frame.to_parquet(here / f"{name}.parquet")
        out.append(here)
    return out


def read_partition(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The tables :func:`write_partitions` wrote in one partition's folder, by name."""
    return {p.stem: pd.read_parquet(p) for p in sorted(Path(folder).glob("*.parquet"))}


def _on_partition_files(func: Callable[..., Any], folder: str, *args: Any) -> Any:
    """On a worker: ``func`` on the partition it reads from ``folder`` (shared storage)."""
    return func(read_partition(folder), *args)


def split_rows(frame: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """``frame`` in ``n`` contiguous blocks of rows (the last ones may be empty when rows are few)."""
    bounds = np.linspace(0, len(frame), n + 1).round().astype(int)
    return [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def in_local_order(frame: pd.DataFrame, customer_order: pd.Index, snapshot_column: str | None = None) -> pd.DataFrame:
    """Rows stacked from partitions, back in the local engine's order: by snapshot (when given), then by
    each customer's position in ``customer_order`` (the customers table's ids)."""
    pos = customer_order.get_indexer(frame.index)
    if (pos < 0).any():
        raise CreditLabError(f"{int((pos < 0).sum())} row(s) of a partition's result name a customer not in the "
                             "customers table")
    keys = [pos] if snapshot_column is None else [pos, frame[snapshot_column].to_numpy()]
    return frame.iloc[np.lexsort(keys)]


def _scheduler(compute: ComputeParams) -> str | None:
    return compute.scheduler_address or os.environ.get(ENV_SCHEDULER) or None


@contextlib.contextmanager
def dask_client(compute: ComputeParams) -> Iterator[Any]:
    """A Dask client on ``compute``'s cluster, or on a ``LocalCluster`` started here and stopped on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise CreditLabError("compute.engine = dask needs the 'distributed' package: pip install distributed"
                             ) from err
    address = _scheduler(compute)
    if address:
        try:
            client = Client(address, timeout="30s")
        except OSError as err:
            raise CreditLabError(f"compute.scheduler_address = {address!r}: no Dask scheduler answers there ({err}). "
                                 "Start one (dask scheduler; dask worker ADDRESS) or leave the address empty for a "
                                 "LocalCluster") from err
        try:
            yield client
        finally:
            client.close()
        return
    # Starting worker processes sets OMP_NUM_THREADS=1 and friends (distributed.nanny.pre-spawn-environ) in
    # this process too; the stage kernels a run starts later would inherit it and run single-threaded (and
    # record one thread in the fitted models). The workers keep theirs; this process gets its own back.
    saved = dict(os.environ)
    cluster = LocalCluster(n_workers=compute.n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.WARNING)
    os.environ.clear()
    os.environ.update(saved)
    with cluster, Client(cluster) as client:
        logger.info("started a LocalCluster of %d workers at %s", compute.n_workers, cluster.scheduler_address)
        yield client


def engine_client(compute: ComputeParams) -> contextlib.AbstractContextManager:
    """A client of the run's Dask cluster (:func:`dask_client`) on the ``dask`` engine; ``None`` on ``local``.

    For the stage code that hands a client down (the optimizer's and the loss model's passes over the book):
    ``with engine_client(compute) as client: ...(client=client)``.
    """
    return dask_client(compute) if compute.engine == "dask" else contextlib.nullcontext()


def map_partitions(compute: ComputeParams, func: Callable[..., Any], parts: Callable[[int], Sequence[Any]],
                   whole: Any, *args: Any) -> list[Any]:
    """``func(part, *args)`` for every part: locally once on ``whole``; on Dask, on ``parts(n)`` in parallel.

    ``parts(n)`` splits the input into ``n`` parts (e.g. ``lambda n: partition_tables(tables, n)``);
    it is called only on the Dask engine, with n = ``compute.partitions`` (default two per worker).
    Results come back in the parts' order. Parts that are tables by name (a partition of the ledger) go
    through ``compute.partition_folder`` as Parquet when it is set; the folder of this call is removed
    when it ends, whatever happened.
    """
    if compute.engine == "local":
        return [func(whole, *args)]
    with dask_client(compute) as client:
        workers = len(client.scheduler_info().get("workers", {})) or None
        pieces = parts(_n_partitions(compute, workers))
        name = getattr(func, "__name__", "task")
        if compute.partition_folder is None or not all(isinstance(p, Mapping) for p in pieces):
            futures = [client.submit(func, piece, *args, pure=False) for piece in pieces]
            logger.info("%s on %d partitions", name, len(pieces))
            return client.gather(futures)
        # Shared storage: the workers read their partitions, nothing large goes through the scheduler.
        folder = Path(compute.partition_folder) / f"credit-lab-{name}-{uuid.uuid4().hex[:12]}"
        try:
            folders = write_partitions(pieces, folder)
            del pieces
            futures = [client.submit(_on_partition_files, func, str(f), *args, pure=False) for f in folders]
            logger.info("%s on %d partitions read from %s", name, len(folders), folder)
            return client.gather(futures)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
