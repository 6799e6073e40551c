"""Where a stage reads and writes: the :class:`StageContext` over a run folder, and params loading.

Every read and write of a stage goes through its context, which records the artifact's path in
the run folder (:class:`ArtifactLog`), so what a stage touches can be checked against what it
declares in :mod:`credit_lab.run.stages.catalog`. The helpers at the bottom are the reads
several stages share (the scoring date, the scored book, the PD model).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from credit_lab.core.config import RunParams
from credit_lab.core.exceptions import StageError, StageSkipped
from credit_lab.data import io
from credit_lab.models import persist
from credit_lab.models.explain import Explanation
from credit_lab.run.params import load_run_params, run_params_from_dict
from credit_lab.run.stages.catalog import LEDGER_TABLES

__all__ = ["BEHAVIOUR_ONLY", "ArtifactLog", "StageContext", "load_any_params", "load_explanation", "load_pd_model",
           "params_snapshot", "read_as_of", "require", "scored_book"]

logger = logging.getLogger(__name__)

TABLES = LEDGER_TABLES

#: Invoice columns the payment features, the early-warning signals, the review cycle and the purchase
#: statistics never read: the invoice ids (~18 bytes per invoice as Arrow text) and the amounts paid.
#: Stages 02 and 05 leave them out (``ctx.tables(exclude=BEHAVIOUR_ONLY)``); a third of the invoice table.
BEHAVIOUR_ONLY = {"invoices": ("invoice_id", "paid_amount")}


#: a file of at least this many rows is read a column at a time (:func:`_read_parquet`)
COLUMNWISE_ROWS = 1 << 20


def _read_parquet(path: Path, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """``pd.read_parquet`` of the file's columns but ``exclude``: the same frame, and a large one read a column
    at a time.

    Read whole, the decoded Arrow table and the frame converted from it exist together, and the decoding
    buffers on top: the peak is 2.3x the frame (540 MB for an invoice table of 225 MB). A column at a time,
    each column goes through pandas' own conversion (the same dtypes and values) and only one column's Arrow
    copy exists beside the frame: 1.4x. Files with fewer than ``COLUMNWISE_ROWS`` rows, or with an index
    stored as a column, are read whole.
    """
    meta = pq.ParquetFile(path).metadata
    schema = meta.schema.to_arrow_schema()
    names = [c for c in schema.names if c not in exclude]
    columns = names if exclude else None
    if meta.num_rows < COLUMNWISE_ROWS or len(names) < 2 or _stored_index(schema):
        frame = pd.read_parquet(path, columns=columns)
    else:
        parts = {}
        for name in names:
            parts[name] = pd.read_parquet(path, columns=[name])[name]
            pa.default_memory_pool().release_unused()
        frame = pd.DataFrame(parts, copy=False)
    # Arrow's allocator keeps the pages the Parquet decoding freed, and numpy's allocations (most of
    # what a stage computes next) cannot reuse them: give them back (~0.5x the table, 40 bytes per invoice).
    pa.default_memory_pool().release_unused()
    return frame


def _stored_index(schema: pa.Schema) -> bool:
    """Whether pandas stored the frame's index as a column of the file (a range index is only metadata)."""
    pandas_meta = (schema.metadata or {}).get(b"pandas")
    if pandas_meta is None:
        return False
    return any(isinstance(c, str) for c in json.loads(pandas_meta).get("index_columns", []))


@dataclass
class ArtifactLog:
    """The run-folder paths a context has read and written (paths as in the catalog)."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)

    def clear(self) -> None:
        self.reads.clear()
        self.writes.clear()


@dataclass
class StageContext:
    """Where a stage reads and writes, and the validated params of the run."""

    run_dir: Path
    params: RunParams
    log: ArtifactLog = field(default_factory=ArtifactLog, repr=False, compare=False)

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def models_dir(self) -> Path:
        return self.run_dir / "models"

    def path(self, name: str) -> Path:
        """Path of a data artifact (not recorded: use the read and write methods in stages)."""
        return self.data_dir / name

    def _read(self, name: str) -> Path:
        self.log.reads.add(f"data/{name}")
        return self.path(name)

    def _write(self, name: str) -> Path:
        self.log.writes.add(f"data/{name}")
        return self.path(name)

    def exists(self, name: str) -> bool:
        """Whether a data artifact is there; one that is counts as read (the caller goes on to read it)."""
        if self.path(name).is_file():
            self.log.reads.add(f"data/{name}")
            return True
        return False

    def read(self, name: str) -> pd.DataFrame:
        p = self._read(name)
        if not p.is_file():
            raise StageError(f"{p} is missing: the stage that writes it has not run in {self.run_dir}")
        return _read_parquet(p)

    def write(self, name: str, df: pd.DataFrame) -> None:
        io.write_parquet(self._write(name), df)

    def write_csv(self, name: str, df: pd.DataFrame) -> None:
        io.write_csv(self._write(name), df)

    def read_json(self, name: str) -> Any:
        return io.read_json(self._read(name))

    def write_json(self, name: str, obj: Any) -> None:
        io.write_json(self._write(name), obj)

    def sha256(self, name: str) -> str:
        return io.sha256_file(self._read(name))

    def table(self, name: str, exclude: tuple[str, ...] = ()) -> pd.DataFrame | None:
        """A validated input table without the columns ``exclude`` names, or None where the ledger had
        none (optional tables)."""
        return _read_parquet(self.path(f"{name}.parquet"), exclude) if self.exists(f"{name}.parquet") else None

    def tables(self, exclude: dict[str, tuple[str, ...]] | None = None) -> dict[str, pd.DataFrame]:
        """The ledger's tables; ``exclude`` (e.g. :data:`BEHAVIOUR_ONLY`): columns to leave out, per table."""
        exclude = exclude or {}
        return {t: df for t in TABLES if (df := self.table(t, exclude.get(t, ()))) is not None}

    @property
    def table_mode(self) -> bool:
        return self.params.data.source == "table"

    def skipped(self) -> dict[str, str]:
        """Stages the data does not allow, each with the reason (decided by stages 01-02)."""
        return io.read_json(self.path("skipped.json")) if self.exists("skipped.json") else {}

    def skip(self, stage: str, reason: str) -> None:
        self.write_json("skipped.json", {**self.skipped(), stage: reason})

    # models/: the PD model, its artifact description and the model card

    def save_model(self, name: str, model: Any) -> str:
        """Save ``model`` as ``models/<name>`` (:mod:`credit_lab.models.persist`: no code runs on load); its SHA-256."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.log.writes.add(f"models/{name}")
        return persist.save_model(model, self.models_dir / name)

    def load_model(self, file: str, sha256: str) -> Any:
        """Load ``file`` (a run-folder path such as ``models/pd_model.fitted.json``) once its hash matches."""
        self.log.reads.add(file)
        return persist.load_model(self.run_dir / file, sha256)

    def write_model_json(self, name: str, obj: Any) -> None:
        self.log.writes.add(f"models/{name}")
        io.write_json(self.models_dir / name, obj)

    def model_meta(self) -> dict[str, Any]:
        """``models/pd_model.json``: the champion's file, hash, features and settings."""
        self.log.reads.add("models/pd_model.json")
        return io.read_json(self.models_dir / "pd_model.json")

    def write_letters(self, letters: dict[str, str]) -> None:
        """One file per letter under ``letters/``."""
        # Plain writes: the run folder is staged and published only whole, so one fsync per letter
        # (138,000 letters took 53 s that way for a 150,000-customer book) protects nothing more.
        self.log.writes.add("letters/")
        folder = self.run_dir / "letters"
        folder.mkdir(parents=True, exist_ok=True)
        for name, page in letters.items():
            (folder / name).write_bytes(page.encode("utf-8"))


def require(ctx: StageContext, stage: str) -> None:
    """:class:`StageSkipped` when the data does not allow ``stage``."""
    reason = ctx.skipped().get(stage)
    if reason:
        raise StageSkipped(f"stage {stage} is skipped for this data: {reason}")


def read_as_of(ctx: StageContext) -> pd.Timestamp:
    """The scoring date stage 01 decided."""
    return pd.Timestamp(ctx.read_json("data_quality.json")["as_of_date"])


def scored_book(ctx: StageContext) -> pd.DataFrame:
    """Today's scores joined with the book's exposure columns and the customers' terms, cover and declared needs."""
    current = (ctx.read("book.parquet") if ctx.table_mode else ctx.read("features_current.parquet")
               ).set_index("customer_id")
    scores = ctx.read("scores.parquet").set_index("customer_id")
    customers = ctx.read("customers.parquet").set_index("customer_id")
    cols = ["customer_name", "payment_terms_days", "insurance_cover_pct", "insured_limit", "guarantee_amount",
            "requested_limit", "expected_monthly_purchases"]
    history = ["has_payment_history"] if "has_payment_history" in current else []
    return (scores.join(current[["industry", "region", "credit_limit", "receivables_open", "sales_in_window",
                                 "tenure_months", "revenue_latest", "days_beyond_terms_mean", *history]])
            .join(customers[cols]))


def load_pd_model(ctx: StageContext) -> Any:
    """The champion PD model of the run, once its hash matches ``models/pd_model.json``."""
    meta = ctx.model_meta()
    return ctx.load_model(meta["file"], meta["sha256"])


def load_explanation(ctx: StageContext) -> Explanation:
    """The explanation stage 04 wrote, rebuilt with the feature matrix the model saw."""
    shap_frame = ctx.read("shap_values.parquet").set_index("customer_id")
    current = ctx.read("features_current.parquet").set_index("customer_id")
    scores = ctx.read("scores.parquet").set_index("customer_id")
    data = load_pd_model(ctx).matrix_frame(current).loc[shap_frame.index, shap_frame.columns]
    return Explanation(shap_frame.to_numpy(), scores.loc[shap_frame.index, "shap_base_value"].to_numpy(), data,
                       scores.loc[shap_frame.index, "raw_log_odds"].to_numpy())


def load_any_params(params_file: str | Path) -> RunParams:
    """Params from YAML, or from the JSON copy a pipeline run writes."""
    path = Path(params_file)
    if path.suffix == ".json":
        return run_params_from_dict(io.read_json(path), source=str(path))
    return load_run_params(path)


def params_snapshot(params: RunParams, exclude: tuple[str, ...] = ()) -> str:
    """The fully resolved params (defaults included) as YAML, for the run folder (``exclude``: keys left out)."""
    return yaml.safe_dump(params.model_dump(mode="json", exclude=set(exclude)), sort_keys=False)
