"""Stage 02, features: point-in-time features of the training snapshots (with labels) and of today."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from credit_lab.core.exceptions import CreditLabError
from credit_lab.data.table_mode import read_feature_dictionary, split_table
from credit_lab.features.point_in_time import (
    build_features,
    build_training_set,
    feature_dictionary_frame,
    feature_names,
)
from credit_lab.run.stages.context import StageContext, read_as_of

__all__ = ["FeaturesResult", "stage_features"]

logger = logging.getLogger(__name__)


@dataclass
class FeaturesResult:
    """Stage 02's training set (None without outcomes), today's features and their dictionary."""

    train: pd.DataFrame | None
    current: pd.DataFrame
    as_of: pd.Timestamp
    dictionary: pd.DataFrame | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)


def stage_features(ctx: StageContext) -> FeaturesResult:
    """Point-in-time features of the training snapshots (with labels) and of today."""
    if ctx.table_mode:
        return _table_features(ctx)
    tables = ctx.tables()
    as_of = read_as_of(ctx)
    lag = ctx.params.data.financials_publication_lag_days
    current = build_features(tables, as_of, ctx.params.features, lag)
    ctx.write("features_current.parquet", current.reset_index())
    train = None
    if "03_model" not in ctx.skipped():
        train = build_training_set(tables, as_of, ctx.params.features, lag)
        ctx.write("features_train.parquet", train.reset_index())
        labels = train["default_in_horizon"]
        if labels.nunique() < 2:
            why = (f"the training snapshots hold only one outcome ({int(labels.sum())} defaults in {len(labels)} "
                   "rows): the ledger's defaults fall outside the training windows. Use more history or "
                   "features.training_snapshots / label_horizon_months that cover the defaults")
            ctx.skip("03_model", why)
            ctx.skip("04_scoring_explain", "no PD model (stage 03 was skipped)")
    return FeaturesResult(train, current, as_of, feature_dictionary_frame(), ctx.skipped(), feature_names())


def _table_features(ctx: StageContext) -> FeaturesResult:
    """Table mode: the table's own columns are the features; its dictionary file says how to word them."""
    tp = ctx.params.data.table
    meta = ctx.read_json("table_features.json")
    table = ctx.read("customer_table.parquet").set_index("customer_id")
    names = meta["features"]
    for reserved in ("default_in_horizon", "sample", "snapshot_date", "is_new_customer"):
        if reserved in names:
            raise CreditLabError(f"data.table: feature column '{reserved}' has a name the workbench uses itself; "
                                 "rename it in the file or add it to data.table.exclude")
    segment = ctx.read("book.parquet").set_index("customer_id")["is_new_customer"].reindex(table.index)
    current = table[names].assign(is_new_customer=segment.fillna(False).astype(bool))
    dictionary = read_feature_dictionary(tp.feature_dictionary, names)
    for col, direction in tp.risk_direction.items():
        if col in dictionary.index:
            dictionary.loc[col, "risk_direction"] = direction
    dictionary["kind"] = ["categorical" if f in meta["categorical"] else "numeric" for f in dictionary.index]
    ctx.write("features_current.parquet", current.reset_index())
    ctx.write("feature_dictionary.parquet", dictionary.reset_index())
    train = None
    if "03_model" not in ctx.skipped():
        labelled = table["default_in_horizon"].dropna()
        date = table["observation_date"] if meta["has_date"] else None
        sample = split_table(labelled, date, tp.holdout_share, tp.calibration_share, ctx.params.seed)
        train = current.loc[labelled.index].assign(
            default_in_horizon=labelled.astype(int), sample=sample,
            snapshot_date=date.reindex(labelled.index) if date is not None else pd.NaT)
        ctx.write("features_train.parquet", train.reset_index())
    return FeaturesResult(train, current, read_as_of(ctx), dictionary.reset_index(), ctx.skipped(), names)
