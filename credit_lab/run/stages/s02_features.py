"""Stage 02, features: point-in-time features of the training snapshots (with labels) and of today."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from credit_lab.core.exceptions import CreditLabError
from credit_lab.data.table_mode import read_feature_dictionary, split_table
from credit_lab.features.point_in_time import (
    build_current_and_training_set,
    feature_dictionary_frame,
    feature_names,
)
from credit_lab.run.compute import in_local_order, map_partitions, partition_tables
from credit_lab.run.stages.context import BEHAVIOUR_ONLY, StageContext, read_as_of

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
    tables = ctx.tables(exclude=BEHAVIOUR_ONLY)  # the features read neither invoice ids nor amounts paid
    as_of = read_as_of(ctx)
    lag = ctx.params.data.financials_publication_lag_days
    # Without outcomes there is nothing to label. Today and the training snapshots come from one
    # pass over the invoices (one grouping by customer), each frame as its own builder returns it.
    labelled = ctx.read_json("data_quality.json")["outcomes"]["available"]
    current, train = _current_and_training_set(ctx, tables, as_of, lag, labelled)
    current = _with_external_score(ctx, current)
    ctx.write("features_current.parquet", current.reset_index())
    if train is not None:
        train = _with_external_score(ctx, train)
        ctx.write("features_train.parquet", train.reset_index())
    return FeaturesResult(train, current, as_of, feature_dictionary_frame(), ctx.skipped(), feature_names())


def _features_of(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, params, lag: int, training: bool):
    """Today's features and the training set of ``tables`` (the whole ledger, or one partition of its customers)."""
    return build_current_and_training_set(tables, as_of, params, lag, training=training)


def _current_and_training_set(ctx: StageContext, tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, lag: int,
                              training: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The features on the run's compute engine (``compute``): whole here, or per partition of customers on Dask
    and put back in the local order (the same frames: a customer's features depend only on its own records)."""
    results = map_partitions(ctx.params.compute, _features_of, lambda n: partition_tables(tables, n), tables, as_of,
                             ctx.params.features, lag, training)
    if len(results) == 1:
        return results[0]
    order = pd.Index(tables["customers"]["customer_id"])
    current = in_local_order(pd.concat([r[0] for r in results]), order)
    train = in_local_order(pd.concat([r[1] for r in results]), order, "snapshot_date") if training else None
    return current, train


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
    criteria = ctx.params.model.expert.criterion_columns()
    if not ctx.read_json("data_quality.json")["outcomes"]["available"] and not criteria & set(names):
        why = ("no outcome column (data.table.outcome) and none of the expert scorecard's criteria is a column of "
               "the table: name your criteria in model.expert.criteria (each with its column, bands and weight) so "
               "every customer can be scored without outcomes")
        for stage in ("03_model", "04_scoring_explain", "05_limits", "06_risk_reserve"):
            ctx.skip(stage, why)
    elif ctx.read_json("data_quality.json")["outcomes"]["available"]:
        labelled = table["default_in_horizon"].dropna()
        date = table["observation_date"] if meta["has_date"] else None
        sample = split_table(labelled, date, tp.holdout_share, tp.calibration_share, ctx.params.seed)
        train = current.loc[labelled.index].assign(
            default_in_horizon=labelled.astype(int), sample=sample,
            snapshot_date=date.reindex(labelled.index) if date is not None else pd.NaT)
        ctx.write("features_train.parquet", train.reset_index())
    return FeaturesResult(train, current, read_as_of(ctx), dictionary.reset_index(), ctx.skipped(), names)


def _with_external_score(ctx: StageContext, features: pd.DataFrame) -> pd.DataFrame:
    """Ledger mode: the customers file's external rating / bureau score column (``model.expert.
    external_score_column``) beside the features, for the expert scorecard; nothing when none is mapped."""
    column = ctx.params.model.expert.external_score_column
    if column is None:
        return features
    customers = ctx.read("customers.parquet").set_index("customer_id")
    if column not in customers:
        raise CreditLabError(f"model.expert.external_score_column: the customers table has no column {column!r}; "
                             f"its columns are {', '.join(map(str, customers.columns))}. Name one of them or set null")
    values = pd.to_numeric(customers[column], errors="coerce")
    bad = customers[column].notna() & values.isna()
    if bad.any():
        raise CreditLabError(f"customers.{column} (model.expert.external_score_column): {int(bad.sum())} value(s) "
                             f"are not numbers, e.g. {customers.loc[bad, column].iloc[0]!r} for customer "
                             f"{customers.index[bad][0]!r}; give a numeric score or leave the cell empty")
    return features.assign(**{column: values.reindex(features.index).to_numpy()})
