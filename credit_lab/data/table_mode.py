"""Table mode: one row per customer, with an outcome, a limit, a balance and feature columns.

A customer-level table from a loan book or card portfolio is taken as given: its
columns are features (chosen by list or by exclusion), typed from their content
(numbers, or categories as numbers or text), with codes that mean "missing" or
"special" declared in params. The outcome column may use any two-valued coding
declared in params. Rows that cannot be used are quarantined with a reason (or
stop the run, with ``data.on_invalid: fail``); every count is reported. A negative
balance is a credit balance (the customer overpaid), valid data: with
``data.table.credit_balances: zero_exposure`` (the default) its drawn exposure is 0, the
amount is kept in ``credit_balance`` and the rows and total are counted in ``rules``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from credit_lab.core.config import CustomerTableParams
from credit_lab.core.exceptions import InputFileError, SchemaError, closest_hint
from credit_lab.data.exports import RuleEffect

__all__ = ["CustomerTable", "load_customer_table", "read_feature_dictionary", "infer_risk_directions",
           "CategoryEncoder", "split_table", "BOOK_COLUMNS"]

# Columns of the book every later stage reads beside the features.
BOOK_COLUMNS = ("industry", "region", "credit_limit", "receivables_open")
_RULE_COLUMNS = ["rule", "table", "rows", "detail", "removed"]


def _norm(value: object) -> str:
    """Canonical text of a cell or code: numbers as numbers ("1", "1.0" -> "1"), text lower-cased."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text.lower()
    if np.isfinite(number) and number == int(number) and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


@dataclass
class CustomerTable:
    """The validated customer table, ready for the feature and model stages.

    Attributes
    ----------
    features : feature values indexed by customer id (numeric columns as float, categorical as text).
    outcome : 1 default, 0 no default, <NA> unknown (scored, not trained on).
    book : ``industry``, ``region``, ``credit_limit``, ``receivables_open`` (drawn exposure, >= 0) and
        ``credit_balance`` (the amount a customer in credit has overpaid, >= 0) per customer.
    date : observation date per customer, or None.
    numeric, categorical : the feature names by kind.
    special : feature -> the special codes found in it (numeric features only).
    quarantine : rows set aside, with their 1-based row number and reasons.
    notes : plain-language notes for the data-quality report (codes replaced, assumptions).
    rules : what each declared table rule did, in the shape of the ledger's rule report
        (rule, table, rows, detail, removed): credit balances taken as zero exposure.
    """

    features: pd.DataFrame
    outcome: pd.Series
    book: pd.DataFrame
    date: pd.Series | None
    numeric: list[str]
    categorical: list[str]
    special: dict[str, list[float]]
    quarantine: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    rows_in: int = 0
    rules: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_RULE_COLUMNS))

    @property
    def feature_names(self) -> list[str]:
        return list(self.features.columns)


def _read(params: CustomerTableParams) -> pd.DataFrame:
    path = Path(params.path)
    if not path.is_file():
        raise InputFileError(f"data.table.path: file {str(path)!r} not found (working directory {Path.cwd()})")
    names = list(params.column_names) or None
    header = None if names else params.header_row
    skip = params.header_row if names else None
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".xlsx", ".xlsm", ".xls"):
            df = pd.read_excel(path, sheet_name=params.sheet, header=header, names=names, skiprows=skip, dtype=str)
        elif params.separator == " ":
            df = pd.read_csv(path, dtype=str, sep=r"\s+", header=header, names=names, skiprows=skip,
                             keep_default_na=True)
        else:
            df = pd.read_csv(path, dtype=str, sep=params.separator, header=header, names=names, skiprows=skip,
                             keep_default_na=True, skipinitialspace=True)
    except ImportError as err:
        raise InputFileError(f"data.table.path: reading {str(path)!r} needs an Excel reader ({err}); install the "
                             "package's dependencies again (make setup) or save the sheet as CSV") from None
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputFileError(f"data.table.path: cannot read {str(path)!r}: {err}") from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.columns.duplicated().any():
        raise SchemaError(f"data.table: column name(s) {sorted(set(df.columns[df.columns.duplicated()]))} appear "
                          f"twice in {str(path)!r}; rename them in the file")
    return df.reset_index(drop=True)


def _check_named(df: pd.DataFrame, params: CustomerTableParams) -> None:
    named = {"id_column": [params.id_column], "limit_column": [params.limit_column],
             "balance_column": [params.balance_column], "industry_column": [params.industry_column],
             "region_column": [params.region_column], "date_column": [params.date_column],
             "tenure_column": [params.tenure_column], "history_features": params.history_features,
             "outcome.column": [params.outcome.column if params.outcome else None],
             "features": params.features, "exclude": params.exclude, "categorical": params.categorical,
             "missing_codes": list(params.missing_codes), "special_codes": list(params.special_codes),
             "risk_direction": list(params.risk_direction)}
    cols = list(df.columns)
    for key, names in named.items():
        for name in names:
            if name is not None and name not in df.columns:
                raise SchemaError(f"data.table.{key}: column '{name}' is not in "
                                  f"{params.path}{closest_hint(name, cols)}; "
                                  f"available columns: {', '.join(cols)}")


def _outcome(raw: pd.Series, params: CustomerTableParams) -> tuple[pd.Series, np.ndarray, list[str]]:
    """Outcome as 1/0/<NA>, a mask of rows with a value outside the declared coding, and notes."""
    coding = params.outcome
    text = raw.astype("string").str.strip()
    present = text.notna() & (text != "")
    norm = _normalized(text.where(present)).fillna("")
    counts = norm[present.to_numpy()].value_counts()
    bad = {_norm(v) for v in coding.bad_values}
    good = {_norm(v) for v in coding.good_values}
    if not bad and not good:
        if set(counts.index) <= {"0", "1"}:
            bad, good = {"1"}, {"0"}
        else:
            raise SchemaError(
                f"data.table.outcome: column '{coding.column}' has {len(counts)} distinct values "
                f"{ {k: int(v) for k, v in counts.head(10).items()} }; declare which mean default, e.g. "
                "data.table.outcome.bad_values: "
                f"[{counts.index[0]}] and good_values: [{counts.index[-1]}]")
    elif not bad or not good:
        raise SchemaError("data.table.outcome: declare both bad_values and good_values (or neither for a 0/1 column)")
    overlap = bad & good
    if overlap:
        raise SchemaError(f"data.table.outcome: value(s) {sorted(overlap)} are declared both bad and good")
    known = bad | good
    unexpected = present.to_numpy() & ~norm.isin(known).to_numpy()
    notes = []
    if unexpected.any():
        found = {k: int(v) for k, v in counts.items()}
        notes.append(f"outcome column '{coding.column}' has values {found}; declared bad {sorted(bad)}, "
                     f"good {sorted(good)}")
    y = pd.Series(pd.NA, index=raw.index, dtype="Int8")
    y[norm.isin(bad).to_numpy() & present.to_numpy()] = 1
    y[norm.isin(good).to_numpy() & present.to_numpy()] = 0
    n_missing = int((~present).sum())
    if n_missing:
        notes.append(f"{n_missing} row(s) have no outcome: they are scored but not trained on")
    return y, unexpected, notes


def _numbers(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype(float)
    text = raw.astype("string").str.strip()
    return pd.to_numeric(text, errors="coerce").astype(float)


def load_customer_table(params: CustomerTableParams, on_invalid: str = "fail") -> CustomerTable:
    """Read, type and check the customer table.

    Raises
    ------
    SchemaError : a named column is absent, the outcome coding does not fit the column (the
        message lists its values), a feature column mixes numbers with undeclared codes, or
        (with ``on_invalid="fail"``) a row breaks a rule.
    """
    df = _read(params)
    if len(df) == 0:
        raise SchemaError(f"data.table: {params.path} has a header ({', '.join(map(str, df.columns[:8]))}"
                          f"{'...' if len(df.columns) > 8 else ''}) but no rows; export the customer rows too")
    _check_named(df, params)
    n = len(df)
    reasons: list[list[str]] = [[] for _ in range(n)]
    notes: list[str] = []

    def flag(mask: np.ndarray, reason: str) -> None:
        for i in np.flatnonzero(mask):
            reasons[i].append(reason)

    if params.id_column:
        ids = df[params.id_column].astype("string").str.strip()
        flag(ids.isna().to_numpy() | (ids == "").fillna(False).to_numpy(), f"{params.id_column}:not_null")
        dup = ids.duplicated(keep=False).to_numpy(dtype=bool) & ids.notna().to_numpy()
        flag(dup, f"{params.id_column}:unique")
    else:
        ids = pd.Series([str(i + 1) for i in range(n)], dtype="string")
        notes.append("no id column: customers are identified by their row number in the file (1 = first row)")

    if params.outcome is not None:
        y, unexpected, out_notes = _outcome(df[params.outcome.column], params)
        notes += out_notes
        if unexpected.any():
            values = sorted(df.loc[unexpected, params.outcome.column].astype(str).unique().tolist())[:10]
            if on_invalid == "fail":
                raise SchemaError(
                    f"data.table.outcome: column '{params.outcome.column}' has {int(unexpected.sum())} row(s) with "
                    f"value(s) {values} outside the declared coding ({out_notes[0]}). Add them to bad_values or "
                    "good_values, or set data.on_invalid: quarantine to set those rows aside.")
            flag(unexpected, f"{params.outcome.column}:outcome_coding")
    else:
        y = pd.Series(pd.NA, index=df.index, dtype="Int8")
        notes.append("no outcome column: every customer is scored by the expert scorecard (model.expert), "
                     "with the policy's PD per risk class")

    book = pd.DataFrame(index=df.index)
    for target, col in (("credit_limit", params.limit_column), ("receivables_open", params.balance_column)):
        if col is None:
            book[target] = 0.0 if target == "receivables_open" else np.nan
            continue
        values = _numbers(df[col])
        flag((values.isna() & df[col].notna()).to_numpy(), f"{col}:type")
        in_credit = target == "receivables_open" and params.credit_balances == "zero_exposure"
        if not in_credit:  # a negative limit (or, declared so, a negative balance) breaks the range rule
            flag((values < 0).fillna(False).to_numpy(), f"{col}:range")
        flag(df[col].isna().to_numpy(), f"{col}:not_null")
        book[target] = values.clip(lower=0.0) if in_credit else values
    balance = _numbers(df[params.balance_column]) if params.balance_column is not None else None
    book["credit_balance"] = ((-balance).clip(lower=0.0).fillna(0.0) if balance is not None and
                              params.credit_balances == "zero_exposure" else 0.0)
    if params.balance_column is None:
        notes.append("no balance column: every customer's drawn balance is taken as 0")
    if params.tenure_column is not None:
        tenure = _numbers(df[params.tenure_column])
        flag((tenure.isna() & df[params.tenure_column].notna()).to_numpy(), f"{params.tenure_column}:type")
        flag((tenure < 0).fillna(False).to_numpy(), f"{params.tenure_column}:range")
        book["tenure_months"] = tenure
    for target, col in (("industry", params.industry_column), ("region", params.region_column)):
        book[target] = (df[col].astype("string").str.strip().fillna("unknown") if col is not None else "all")

    date = None
    if params.date_column:
        raw = df[params.date_column].astype("string").str.strip()
        date = pd.to_datetime(raw, format=params.date_format or "ISO8601", errors="coerce")
        bad_date = (date.isna() & raw.notna()).to_numpy()
        if raw.notna().any() and bad_date.sum() == raw.notna().sum():
            raise SchemaError(f"data.table.date_column: no value of '{params.date_column}' matches the format "
                              f"{params.date_format or 'ISO 8601 (YYYY-MM-DD)'}; e.g. {raw.dropna().iloc[0]!r}. Set "
                              "data.table.date_format to the file's format, e.g. '%d/%m/%Y' or '%m/%d/%Y'")
        if bad_date.any():
            example = raw[bad_date].iloc[0]
            notes.append(f"{params.date_column}: {int(bad_date.sum())} value(s) like {example!r} do not match the "
                         f"format {params.date_format or 'ISO 8601 (YYYY-MM-DD)'}")
        flag(bad_date | raw.isna().to_numpy(), f"{params.date_column}:date")

    reserved = {params.id_column, params.date_column, params.outcome.column if params.outcome else None}
    names = params.features or [c for c in df.columns if c not in reserved and c not in params.exclude]
    names = [c for c in names if c not in reserved and c not in params.exclude]
    if not names:
        raise SchemaError("data.table: no feature columns left; list them in data.table.features or shorten exclude")

    features, numeric, categorical, special = _type_features(df, names, params, notes)

    bad = np.array([bool(r) for r in reasons])
    if bad.any() and on_invalid == "fail":
        examples = [f"row {i + 1}: {';'.join(reasons[i])}" for i in np.flatnonzero(bad)[:5]]
        raise SchemaError(f"data.table: {int(bad.sum())} row(s) break the table's rules, e.g. {examples}. Fix them, "
                          "or set data.on_invalid: quarantine to set them aside and list them in the report.")
    quarantine = pd.DataFrame({
        "table": "customer_table", "row_number": np.flatnonzero(bad) + 1,
        "key": ids[bad].fillna("<empty>").astype(str).to_numpy(dtype=object),
        "reasons": [";".join(reasons[i]) for i in np.flatnonzero(bad)],
    })
    keep = ~bad
    index = pd.Index(ids[keep].astype(str).to_numpy(dtype=object), name="customer_id")
    features = features.loc[keep].set_axis(index)
    book = book.loc[keep].set_axis(index)
    outcome = y[keep].set_axis(index).rename("default_in_horizon")
    date = date[keep].set_axis(index) if date is not None else None
    if len(features) == 0:
        raise SchemaError("data.table: no valid rows left; see the quarantine reasons")
    rules = _credit_balance_rule(book["credit_balance"], params, notes)
    return CustomerTable(features, outcome, book, date, numeric, categorical, special, quarantine, notes, n, rules)


def _credit_balance_rule(credit: pd.Series, params: CustomerTableParams, notes: list[str]) -> pd.DataFrame:
    """The credit-balance rule's effect over the valid rows (none unless a valid row is in credit)."""
    in_credit = credit > 0
    if not in_credit.any():
        return pd.DataFrame(columns=_RULE_COLUMNS)
    count, total = int(in_credit.sum()), float(credit.sum())
    notes.append(f"{count} customer(s) have a negative balance in '{params.balance_column}' (in credit: they overpaid, "
                 f"{total:,.2f} in total): valid rows with drawn exposure 0, the amount kept in credit_balance "
                 "(data.table.credit_balances: zero_exposure; quarantine sets them aside instead)")
    effect = RuleEffect("credit_balances: zero_exposure", "customer_table", count,
                        f"negative balances in '{params.balance_column}' (credit balances, {total:,.2f} in total): "
                        "valid rows, drawn exposure 0, the amount kept in credit_balance")
    return pd.DataFrame([effect.__dict__], columns=_RULE_COLUMNS)


def _type_features(df: pd.DataFrame, names: list[str], params: CustomerTableParams, notes: list[str]):
    global_missing = {_norm(v) for v in params.missing_values}
    out, numeric, categorical, special = {}, [], [], {}
    for col in names:
        raw = df[col]
        text = raw.astype("string").str.strip()
        norm = _normalized(text)
        codes = global_missing | {_norm(v) for v in params.missing_codes.get(col, [])}
        is_code = norm.isin(codes).fillna(False).to_numpy()
        if is_code.any():
            notes.append(f"{col}: {int(is_code.sum())} value(s) declared as missing codes set to missing")
        text = text.mask(is_code | (text == "").fillna(False).to_numpy())
        specials = {_norm(v) for v in params.special_codes.get(col, [])}
        if col in params.categorical:
            out[col] = _normalized(text).astype(object)
            categorical.append(col)
            continue
        values = _numbers(text)
        unparsed = (values.isna() & text.notna()).to_numpy()
        n_present = int(text.notna().sum())
        if not unparsed.any() and n_present:
            out[col] = values
            numeric.append(col)
            found = sorted({float(s) for s in specials if _is_number(s)} & set(values.dropna().unique()))
            if found:
                special[col] = found
            continue
        share_numeric = 1.0 - unparsed.sum() / max(n_present, 1)
        if n_present and share_numeric >= 0.9:
            odd = text[unparsed].value_counts().head(5)
            raise SchemaError(
                f"data.table: feature column '{col}' holds numbers except {int(unparsed.sum())} value(s) "
                f"{dict(odd)}; declare them in data.table.missing_values (or missing_codes.{col}, special_codes."
                f"{col}), or list '{col}' under data.table.categorical")
        if n_present == 0:
            raise SchemaError(f"data.table: feature column '{col}' is empty in every row; add it to data.table.exclude")
        out[col] = _normalized(text).astype(object)
        categorical.append(col)
    frame = pd.DataFrame(out, index=df.index)
    return frame, numeric, categorical, special


def _normalized(text: pd.Series) -> pd.Series:
    """:func:`_norm` of every cell, computed once per distinct value (missing stays missing)."""
    values = text.dropna().unique()
    mapping = {v: _norm(v) for v in values}
    return text.astype(object).map(mapping)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_feature_dictionary(path: str | None, features: list[str]) -> pd.DataFrame:
    """The feature dictionary: a file with feature, description[, risk_direction, reason, group], else names.

    Returns one row per feature with ``description``, ``risk_direction`` (declared, or NaN)
    and ``reason`` (the reason-code phrase used when the feature raises a PD).
    """
    table = pd.DataFrame({"feature": features, "description": features, "risk_direction": np.nan,
                          "reason": [f"unfavourable {f}" for f in features]}).set_index("feature")
    if path is None:
        return table
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"data.table.feature_dictionary: file {str(p)!r} not found")
    given = pd.read_csv(p, dtype=str)
    given.columns = [c.strip().lower() for c in given.columns]
    if "feature" not in given.columns:
        raise SchemaError(f"feature dictionary {str(p)!r} needs a 'feature' column; it has {list(given.columns)}")
    given = given.dropna(subset=["feature"]).set_index("feature")
    known = given.index.intersection(table.index)
    if "description" in given:
        table.loc[known, "description"] = given.loc[known, "description"].fillna(pd.Series(known, index=known))
    if "reason" in given:
        reason = given.loc[known, "reason"]
        table.loc[known, "reason"] = reason.where(reason.notna(), table.loc[known, "reason"])
    if "group" in given:  # reason group: features that say the same thing are one reason
        table["group"] = given["group"].reindex(table.index)
    if "risk_direction" in given:
        direction = pd.to_numeric(given.loc[known, "risk_direction"], errors="coerce")
        wrong = direction.dropna()[~direction.dropna().isin([-1, 0, 1])]
        if len(wrong):
            raise SchemaError(f"feature dictionary {str(p)!r}: risk_direction must be -1, 0 or 1; got "
                              f"{dict(wrong.head(3))}")
        table.loc[known, "risk_direction"] = direction
    return table


def infer_risk_directions(X: pd.DataFrame, y: np.ndarray, numeric: list[str], declared: dict[str, int],
                          z_threshold: float = 3.0) -> pd.DataFrame:
    """Risk direction of each feature: declared, else the sign of a clear rank correlation with default.

    For a numeric feature the Spearman correlation with the outcome is computed on the rows
    where it is present; ``|rho| * sqrt(n - 1) > z_threshold`` (about p < 0.003 under
    independence) sets the direction to its sign, otherwise 0 (no constraint). Categorical
    features are encoded in order of their default rate, so their direction is +1.
    """
    rows = []
    y = np.asarray(y, dtype=float)
    for col in X.columns:
        if col in declared:
            rows.append((col, int(declared[col]), np.nan, "declared"))
            continue
        if col not in numeric:
            rows.append((col, 1, np.nan, "categorical, coded by default rate"))
            continue
        x = X[col].to_numpy(dtype=float)
        ok = ~np.isnan(x)
        if ok.sum() < 10 or np.nanstd(x) == 0 or y[ok].std() == 0:
            rows.append((col, 0, np.nan, "too little variation to infer"))
            continue
        rx = pd.Series(x[ok]).rank().to_numpy()
        ry = pd.Series(y[ok]).rank().to_numpy()
        rho = float(np.corrcoef(rx, ry)[0, 1])
        z = abs(rho) * np.sqrt(ok.sum() - 1)
        direction = int(np.sign(rho)) if z > z_threshold else 0
        rows.append((col, direction, rho, f"inferred (Spearman rho {rho:+.3f}, z {z:.1f})"))
    return pd.DataFrame(rows, columns=["feature", "risk_direction", "spearman_rho", "basis"]).set_index("feature")


class CategoryEncoder:
    """Codes each category by the rank of its (smoothed) default rate in the fit data.

    Higher code = riskier category, so a GBM can be constrained monotone (+1) on it.
    Missing and categories unseen at fit time get NaN (the model's missing-value branch);
    :attr:`last_unseen_` counts unseen values at the last transform, for the report.
    """

    def __init__(self, columns: list[str], smoothing: float = 20.0):
        self.columns = list(columns)
        self.smoothing = smoothing

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "CategoryEncoder":
        y = np.asarray(y, dtype=float)
        prior = float(y.mean())
        self.codes_: dict[str, dict[str, float]] = {}
        for col in self.columns:
            frame = pd.DataFrame({"v": X[col].to_numpy(dtype=object), "y": y}).dropna(subset=["v"])
            stats = frame.groupby("v")["y"].agg(["sum", "size"])
            rate = (stats["sum"] + self.smoothing * prior) / (stats["size"] + self.smoothing)
            order = rate.sort_values(kind="mergesort").index
            self.codes_[col] = {str(v): float(i) for i, v in enumerate(order)}
        self.last_unseen_: dict[str, dict] = {}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        self.last_unseen_ = {}
        for col in self.columns:
            raw = X[col].astype(object)
            coded = raw.map(self.codes_[col], na_action="ignore").astype(float)
            unseen = raw.notna() & coded.isna()
            if unseen.any():
                self.last_unseen_[col] = {"count": int(unseen.sum()),
                                          "examples": sorted(map(str, raw[unseen].unique()))[:5]}
            out[col] = coded.astype(float)
        return out


def split_table(outcome: pd.Series, date: pd.Series | None, holdout_share: float, calibration_share: float,
                seed: int) -> pd.Series:
    """Assign each labelled customer to ``fit``, ``calibration`` or ``holdout``.

    With a date, the holdout is the latest ``holdout_share`` of rows (out-of-time); without
    one it is a seeded random sample stratified by outcome. Calibration rows are a seeded,
    stratified share of the rest.
    """
    labelled = outcome.dropna().astype(int)
    rng = np.random.default_rng(seed)
    sample = pd.Series("fit", index=labelled.index, dtype=object)

    def stratified(ids: pd.Index, share: float) -> pd.Index:
        chosen = []
        for value in (0, 1):
            group = ids[labelled.loc[ids].to_numpy() == value]
            k = int(round(share * len(group)))
            chosen.append(group[rng.permutation(len(group))[:k]])
        return chosen[0].append(chosen[1])

    if date is not None:
        d = date.reindex(labelled.index)
        order = np.argsort(d.to_numpy(), kind="mergesort")
        k = int(round(holdout_share * len(order)))
        holdout = labelled.index[order[len(order) - k:]]
    else:
        holdout = stratified(labelled.index, holdout_share)
    sample.loc[holdout] = "holdout"
    rest = sample.index[sample.to_numpy() == "fit"]
    sample.loc[stratified(rest, calibration_share)] = "calibration"
    return sample
