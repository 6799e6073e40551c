"""Reading user files and writing run artifacts (the only module besides
``pipeline`` that touches the disk).

User tables are read as they are: CSV cells arrive as text and are typed by
:mod:`credit_lab.data.contract`, so an unparseable value is reported with the row it
came from instead of being guessed by the CSV reader. Files are written atomically
with their SHA-256 (model files: :mod:`credit_lab.models.persist`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

from credit_lab.core.config import DataParams, TableSource
from credit_lab.core.exceptions import (
    InputFileError,
    InputTooLargeError,
    SchemaError,
    closest_hint,
)
from credit_lab.data.contract import SCHEMAS

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
]

_CHUNK = 1 << 20

logger = logging.getLogger(__name__)


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _file_mode() -> int:
    """The mode an ordinary new file gets under the process's umask (0644 under umask 022).

    ``tempfile.mkstemp`` creates its file 0600 whatever the umask, so a run folder written through
    it could be read by its owner only: a report published to a share or a web server would not
    reach the auditors it is for. Every atomic write sets this mode before the rename.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename, so readers never see half a file;
    the file gets the mode the umask gives any new file (:func:`_file_mode`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode())
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
    os.fchmod(fd, _file_mode())
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


ProgressCallback = Callable[[int, int, int], None]
"""``progress(rows_read, bytes_done, bytes_total)``, called while a table is read."""


def read_table(name: str, source: TableSource, progress: ProgressCallback | None = None) -> pd.DataFrame:
    """Read one input table from CSV or Parquet and rename mapped columns to ours.

    A CSV is read in blocks, column by column, with every cell kept as text (Arrow-backed
    strings, not Python objects): memory stays close to the size of the text itself. Progress is
    logged at INFO (rows, MB and share of the file, rows/s; about every 2 s) and passed to
    ``progress`` after each block.

    Parameters
    ----------
    name : the table's name in :data:`credit_lab.data.contract.SCHEMAS`.
    source : file path, column mapping ``{our_name: file_name}`` and CSV options.
    progress : optional ``progress(rows_read, bytes_done, bytes_total)``; the last call has
        ``bytes_done == bytes_total``. A CSV the columnar reader cannot take exactly as pandas
        would (cells starting with a space, rows with missing cells, duplicate or empty column
        names, ...) is re-read by pandas' reader, and the counts then start over.

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
            if progress is not None:
                size = path.stat().st_size
                progress(len(df), size, size)
        elif suffix in (".csv", ".txt", ".tsv"):
            # every cell as text: typing is the schema's job, so bad cells are reported, not guessed.
            df = _read_csv(name, path, source.separator, progress)
        else:
            raise InputFileError(f"table '{name}': file {str(path)!r} is neither .csv nor .parquet")
    except _ProgressError as err:
        raise err.args[0] from None
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
            f"{closest_hint(theirs, list(df.columns))}; available columns: {', '.join(df.columns)}"
        )
    rename = {theirs: ours_name for ours_name, theirs in source.columns.items()}
    clash = [ours_name for theirs, ours_name in rename.items() if ours_name in df.columns and ours_name != theirs]
    if clash:
        raise SchemaError(
            f"table '{name}': file already has column(s) {clash} and params map another column onto them; "
            "remove one of the two from the mapping"
        )
    return df.rename(columns=rename)


# The cells pandas' reader turns into missing values by default (``keep_default_na=True``); the
# columnar reader uses the same list, so both give the same missing cells.
_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
    "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)
# A block of the file parsed at once (also the progress step). Arrow reads up to a few dozen
# blocks ahead of the parser, so this also bounds the raw text held in memory besides the table.
_CSV_BLOCK_BYTES = 1 << 20
_GROUP_BYTES = 64 << 20
_PANDAS_CHUNK_ROWS = 500_000  # rows per chunk when pandas' reader is used
_PROGRESS_SECONDS = 2.0


class _ProgressError(Exception):
    """An exception raised by the caller's progress callback (re-raised unchanged by read_table)."""


class _NotColumnar(Exception):
    """The columnar reader would not give exactly what pandas' reader gives for this file."""


class _Progress:
    """Calls the progress callback after each block and logs at INFO at most every ~2 s."""

    def __init__(self, name: str, total: int, callback: ProgressCallback | None) -> None:
        self.name, self.total, self.callback = name, total, callback
        self.start = self.last_log = time.perf_counter()
        self.rows = self.done = 0
        self.reported: tuple[int, int] | None = None

    def update(self, rows: int, done: int) -> None:
        self.rows, self.done = rows, max(self.done, min(done, self.total))
        if self.callback is not None and (self.rows, self.done) != self.reported:
            self.reported = (self.rows, self.done)
            try:
                self.callback(self.rows, self.done, self.total)
            except Exception as err:  # the caller's error, not a reading error: passed on as it is
                raise _ProgressError(err) from err
        now = time.perf_counter()
        if now - self.last_log >= _PROGRESS_SECONDS:
            self.last_log = now
            logger.info("table '%s': %s rows read, %.0f of %.0f MB (%.0f%%), %s rows/s", self.name,
                        f"{self.rows:,}", self.done / 1e6, self.total / 1e6, 100 * self.done / max(self.total, 1),
                        f"{self.rows / max(now - self.start, 1e-9):,.0f}")

    def finish(self, how: str) -> None:
        self.update(self.rows, self.total)
        seconds = time.perf_counter() - self.start
        logger.info("table '%s': read %s rows, %.0f MB in %.1f s (%s rows/s, %s)", self.name, f"{self.rows:,}",
                    self.total / 1e6, seconds, f"{self.rows / max(seconds, 1e-9):,.0f}", how)


def _read_csv(name: str, path: Path, sep: str, progress: ProgressCallback | None) -> pd.DataFrame:
    """Every cell as text, empty and NA-like cells missing, spaces after a separator skipped."""
    try:
        return _read_csv_columnar(name, path, sep, progress)
    except _NotColumnar as why:
        logger.info("table '%s': %s; reading it with pandas' reader instead (slower, same result)", name, why)
    return _read_csv_pandas(name, path, sep, progress)


def _read_csv_columnar(name: str, path: Path, sep: str, progress: ProgressCallback | None) -> pd.DataFrame:
    """Arrow's streaming CSV reader, block by block, every column as Arrow strings.

    Raises :class:`_NotColumnar` whenever the result could differ from pandas' reader with
    ``dtype=str, skipinitialspace=True`` (the reader this replaces), which then reads the file.
    """
    if sep == " ":
        raise _NotColumnar("the separator is a space")
    parse = pa_csv.ParseOptions(delimiter=sep, quote_char='"', double_quote=True, escape_char=False,
                                newlines_in_values=True, ignore_empty_lines=True)
    total = path.stat().st_size
    try:
        with pa.OSFile(str(path), "r") as fh:  # the header only
            names = pa_csv.open_csv(fh, read_options=pa_csv.ReadOptions(block_size=1 << 16, use_threads=False),
                                    parse_options=parse).schema.names
    except (pa.ArrowException, ValueError) as err:
        raise _NotColumnar(f"the columnar reader cannot read it ({_first_line(err)})") from None
    stripped = [n.strip() for n in names]
    if any(not n or '"' in n for n in stripped) or len(set(stripped)) != len(stripped):
        raise _NotColumnar("its header has empty, quoted or repeated column names")
    convert = pa_csv.ConvertOptions(
        column_types={n: pa.string() for n in names}, null_values=list(_NA_VALUES), strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    tracker = _Progress(name, total, progress)
    # Blocks are gathered into one array per column every _GROUP_BYTES, then into one array per
    # column at the end (column by column): a parsed block's memory is shared by its columns and
    # is only freed once every column has been copied out of it, so copying all blocks at the end
    # would need the table's size twice.
    pending: list[pa.RecordBatch] = []
    groups: list[list[pa.Array]] = [[] for _ in names]
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending_bytes
        if pending:
            for i, group in enumerate(groups):
                # large_string (64-bit offsets): what pandas' str dtype holds, and no 2 GiB limit
                group.append(pa.concat_arrays([b.column(i) for b in pending]).cast(pa.large_string()))
            pending.clear()
            pending_bytes = 0

    try:
        with open(path, "rb") as raw:
            counted = _QuoteCountingFile(raw)
            reader = pa_csv.open_csv(pa.PythonFile(counted, mode="r"),
                                     read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                                     parse_options=parse, convert_options=convert)
            rows = 0
            for batch in reader:
                _check_columnar_batch(batch, quotes_seen=counted.quotes > 0)
                pending.append(batch)
                pending_bytes += batch.nbytes
                rows += batch.num_rows
                if pending_bytes >= _GROUP_BYTES:
                    flush()
                tracker.update(rows, counted.position)
            flush()
    except (pa.ArrowException, ValueError) as err:
        raise _NotColumnar(f"the columnar reader cannot read it ({_first_line(err)})") from None
    if counted.bare_cr:
        # lines ended by a lone carriage return: pandas' reader has quirks there (it drops a row
        # of empty cells after a blank line); it reads such files itself
        raise _NotColumnar("its lines end with a lone carriage return")
    if counted.quotes % 2:
        # No cell holds a quote character (checked per block), so every quote in the file opens
        # or closes a quoted cell: an odd count means the last one runs to the end of the file,
        # where pandas' reader stops with "EOF inside string".
        raise _NotColumnar("its quote characters are unbalanced")
    tracker.finish("columnar")
    # One contiguous array per column: hashing a column of many chunks (unique keys, distinct
    # dates) is much slower in pandas.
    columns = []
    for i in range(len(names)):
        chunks, groups[i] = groups[i], []
        columns.append(pa.chunked_array([pa.concat_arrays(chunks)] if len(chunks) > 1 else chunks,
                                        type=pa.large_string()))
        del chunks
        pa.default_memory_pool().release_unused()  # hand this column's groups back before the next
    table = pa.Table.from_arrays(columns, names=names)
    del columns
    text = pd.StringDtype("pyarrow", na_value=float("nan"))
    df = table.to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)
    df.columns = names
    return df


class _QuoteCountingFile:
    """A binary file for Arrow's reader that counts the bytes and the quote characters read."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.position = 0
        self.quotes = 0
        self.bare_cr = False  # a carriage return not followed by a line feed (old Mac line ends)
        self._pending_cr = False
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.position += len(data)
        self.quotes += data.count(b'"')
        if data and (self._pending_cr or b"\r" in data):
            if self._pending_cr and not data.startswith(b"\n"):
                self.bare_cr = True
            body = data[:-1] if data.endswith(b"\r") else data
            self.bare_cr = self.bare_cr or body.count(b"\r") != body.count(b"\r\n")
            self._pending_cr = data.endswith(b"\r")
        elif not data and self._pending_cr:
            self.bare_cr = True
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self.closed = True


def _check_columnar_batch(batch: pa.RecordBatch, quotes_seen: bool) -> None:
    for column in batch.columns:
        # pandas' skipinitialspace drops the spaces before a cell, but not inside quotes; after
        # parsing the two can no longer be told apart, so such files go to pandas' reader.
        if pa_compute.any(pa_compute.starts_with(column, " ")).as_py():
            raise _NotColumnar("some cells start with a space")
        # A quote inside a cell (written "" in a quoted cell, or standing in an unquoted one):
        # the readers differ on some of these, and the quote count below relies on there being none.
        if quotes_seen and pa_compute.any(pa_compute.match_substring(column, '"')).as_py():
            raise _NotColumnar("some cells contain quote characters")
    # pandas skips lines made of blanks and tabs only; a one-column file would keep them
    if batch.num_columns == 1 and pa_compute.any(
            pa_compute.match_substring_regex(batch.column(0), r"^[ \t]+$")).as_py():
        raise _NotColumnar("some lines are blank")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def _read_csv_pandas(name: str, path: Path, sep: str, progress: ProgressCallback | None) -> pd.DataFrame:
    """pandas' reader, in chunks of rows converted to Arrow-backed text as they arrive."""
    tracker = _Progress(name, path.stat().st_size, progress)
    chunks: list[pd.DataFrame] = []
    rows = 0
    with open(path, "rb") as fh:
        reader = pd.read_csv(fh, dtype=str, sep=sep, keep_default_na=True, skipinitialspace=True,
                             chunksize=_PANDAS_CHUNK_ROWS)
        with reader:
            for chunk in reader:
                chunks.append(chunk)
                rows += len(chunk)
                tracker.update(rows, fh.tell())
    tracker.finish("pandas")
    if len(chunks) == 1:
        return chunks[0]
    plain = all(isinstance(c.index, pd.RangeIndex) for c in chunks)
    return pd.concat(chunks, ignore_index=plain)


# Peak bytes in memory per byte on disk to read and validate a table. CSV, measured by
# benchmarks/bench_load.py (10 million invoices, 731 MB of CSV): 2.5x after reading (Arrow text
# with 64-bit offsets is ~1.8x the file, plus read-ahead and allocator slack) and 4.7-5.3x at the end
# of validation (typed copy and the valid-row copy); 5.5 leaves some margin. Parquet is compressed,
# so more (not re-measured).
_MEMORY_FACTOR = {"csv": 5.5, "parquet": 10.0}


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
