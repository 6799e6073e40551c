"""Reading user files and writing run artifacts (the only module besides
``pipeline`` that touches the disk).

User tables are read as they are: CSV cells arrive as text and are typed by
:mod:`credit_lab.schema`, so an unparseable value is reported with the row it
came from instead of being guessed by the CSV reader. Model artifacts are
written with their SHA-256 and are only ever unpickled after that hash has
been checked against the one recorded when they were written.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from .config import DataParams, TableSource
from .exceptions import ArtifactIntegrityError, InputFileError, InputTooLargeError, SchemaError
from .schema import SCHEMAS

__all__ = [
    "read_table",
    "read_input_tables",
    "check_fits_in_memory",
    "available_memory_bytes",
    "sha256_file",
    "atomic_write_bytes",
    "write_json",
    "read_json",
    "write_parquet",
    "write_csv",
    "neutralise_formulas",
    "save_model",
    "load_model",
]

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically, sorted keys, so identical content gives identical bytes.

    NaN and infinity are not JSON: they are written as ``null`` (an undefined
    metric, e.g. an AUC on a sample without defaults, stays visibly undefined).
    """
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "ndim", 1) == 0:
        return _finite(obj.item())
    return obj


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_parquet(path: str | Path, df: pd.DataFrame) -> None:
    """Write a DataFrame to Parquet atomically (without the pandas index)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe.

    Excel and LibreOffice evaluate a cell starting with ``= + - @`` (or a tab or
    carriage return before one); a customer name like ``=HYPERLINK(...)`` would
    otherwise become a live formula in the credit manager's sheet. Numbers are
    left as numbers.
    """
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_object_dtype(out[col].dtype) or pd.api.types.is_string_dtype(out[col].dtype):
            text = out[col].astype("string")
            risky = text.str.startswith(_FORMULA_START).fillna(False)
            if risky.any():
                out[col] = text.where(~risky, "'" + text)
    return out


def write_csv(path: str | Path, df: pd.DataFrame) -> None:
    """Write a table for spreadsheet users: UTF-8 with BOM, formulas neutralised, atomically."""
    data = neutralise_formulas(df).to_csv(index=False).encode("utf-8-sig")
    atomic_write_bytes(path, data)


def _closest(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f" (closest: '{match[0]}')" if match else ""


def read_table(name: str, source: TableSource) -> pd.DataFrame:
    """Read one input table from CSV or Parquet and rename mapped columns to ours.

    Parameters
    ----------
    name : the table's name in :data:`credit_lab.schema.SCHEMAS`.
    source : file path, column mapping ``{our_name: file_name}`` and CSV options.

    Raises
    ------
    InputFileError : the file is missing or cannot be parsed.
    SchemaError : a mapped column is not in the file (the message lists the file's columns).
    """
    path = Path(source.path)
    if not path.is_file():
        raise InputFileError(f"table '{name}': file {str(path)!r} not found (working directory {os.getcwd()})")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ".tsv"):
            # dtype=str: typing is the schema's job, so bad cells are reported, not guessed.
            df = pd.read_csv(path, dtype=str, sep=source.separator, keep_default_na=True, skipinitialspace=True)
        else:
            raise InputFileError(f"table '{name}': file {str(path)!r} is neither .csv nor .parquet")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputFileError(f"table '{name}': cannot read {str(path)!r}: {err}") from None
    df.columns = [str(c).strip() for c in df.columns]
    ours = set(SCHEMAS[name].column_names)
    unknown_targets = sorted(set(source.columns) - ours)
    if unknown_targets:
        raise SchemaError(
            f"table '{name}': params map unknown column(s) {unknown_targets}; our columns are {sorted(ours)}"
        )
    absent = [(ours_name, theirs) for ours_name, theirs in source.columns.items() if theirs not in df.columns]
    if absent:
        ours_name, theirs = absent[0]
        raise SchemaError(
            f"table '{name}': column '{theirs}' (mapped to '{ours_name}') is not in {str(path)!r}"
            f"{_closest(theirs, list(df.columns))}; available columns: {', '.join(df.columns)}"
        )
    rename = {theirs: ours_name for ours_name, theirs in source.columns.items()}
    clash = [ours_name for theirs, ours_name in rename.items() if ours_name in df.columns and ours_name != theirs]
    if clash:
        raise SchemaError(
            f"table '{name}': file already has column(s) {clash} and params map another column onto them; "
            "remove one of the two from the mapping"
        )
    return df.rename(columns=rename)


# Bytes in memory per byte on disk, measured roughly: CSV read as text with pandas' string dtype
# takes 2-3x its size and the typed copy made by validation about as much again; Parquet is
# compressed, so more.
_MEMORY_FACTOR = {"csv": 6.0, "parquet": 10.0}


def available_memory_bytes() -> int | None:
    """Memory the kernel says can be allocated without swapping (Linux ``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits_in_memory(sources: dict[str, TableSource]) -> None:
    """Refuse, before reading anything, inputs whose in-memory size would exceed free memory.

    Swapping (or the kernel's out-of-memory killer) would otherwise take the run, and
    sometimes the machine, down long after it started.
    """
    available = available_memory_bytes()
    if available is None:
        return
    need, sizes = 0.0, []
    for name, src in sources.items():
        path = Path(src.path)
        if not path.is_file():
            continue
        kind = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
        size = path.stat().st_size
        need += size * _MEMORY_FACTOR[kind]
        sizes.append(f"{name} {size / 2**30:.2f} GiB")
    if need > available:
        raise InputTooLargeError(
            f"the input files ({', '.join(sizes)}) need about {need / 2**30:.1f} GiB of memory to load and "
            f"validate, but {available / 2**30:.1f} GiB are available. Keep only the needed columns, convert "
            "CSV to Parquet, split the book into partitions, or run on a machine with more memory."
        )


def read_input_tables(data: DataParams) -> dict[str, pd.DataFrame]:
    """Read every table named in ``data.files``, after checking they fit in memory."""
    check_fits_in_memory(dict(data.files))
    return {name: read_table(name, source) for name, source in data.files.items()}


def save_model(model: Any, path: str | Path) -> str:
    """Pickle ``model`` atomically and return the file's SHA-256 (record it; loading requires it)."""
    atomic_write_bytes(path, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    return sha256_file(path)


def load_model(path: str | Path, expected_sha256: str) -> Any:
    """Load a pickled model only if its bytes match ``expected_sha256``.

    Unpickling can run code, so an artifact is trusted only when it is byte for
    byte the one whose hash the run recorded when it wrote it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"model artifact {str(path)!r} not found")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if not expected_sha256 or actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model artifact {str(path)!r} has SHA-256 {actual}, expected {expected_sha256!r}; "
            "it was changed after it was written and will not be loaded. Re-run the model stage."
        )
    return pickle.loads(data)  # noqa: S301 - hash verified above
