"""Day arithmetic and column helpers: dates are handled as day numbers since the epoch until the tables are built."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

_DAY = np.timedelta64(1, "D")
#: ASCII digits of 0000..9999, one row per number
_FOUR_DIGITS = (np.arange(10_000)[:, None] // np.array([1000, 100, 10, 1]) % 10 + ord("0")).astype(np.uint8)


def _month_bounds(start: pd.Timestamp, n: int) -> np.ndarray:
    """Day numbers (days since epoch) of ``start + k months`` for k = 0..n."""
    stamps = [start + pd.DateOffset(months=k) for k in range(n + 1)]
    return np.array([np.datetime64(s.date(), "D").astype(np.int64) for s in stamps])


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Convert day numbers (``NaT``-aware int array) to ``datetime64[ns]``."""
    return days.astype("datetime64[D]").astype("datetime64[ns]")


def _text(values: np.ndarray) -> np.ndarray:
    """Object array of Python strings; pandas infers its default string dtype."""
    return np.asarray(values, dtype=object)


def _arrow_text_dtype() -> pd.StringDtype | None:
    """The string dtype pandas infers for an object array of Python strings, when Arrow backs it; else None."""
    dtype = pd.Series(_text(np.array(["x"], dtype=object))).dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return dtype
    return None


def _numbered_ids(prefix: str, numbers: np.ndarray, width: int) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """``prefix + str(number).zfill(width)`` per number: the column :func:`_text` gives for those strings.

    Millions of invoice ids as Python strings cost seconds (formatting, then pandas copying them into
    Arrow); the ids have one length, so their bytes are written straight into an Arrow buffer, four
    digits at a time. Falls back to the strings where that shortcut does not apply (no Arrow-backed strings,
    a negative number or one wider than ``width``, a non-ASCII prefix).
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size == 0:  # np.char.zfill fails on an empty array (a ledger without invoices)
        return _text(np.array([], dtype=object))
    dtype = _arrow_text_dtype()
    head = np.frombuffer(prefix.encode("utf-8"), dtype=np.uint8)
    if (dtype is None or not prefix.isascii() or width > 18
            or numbers.min() < 0 or numbers.max() >= 10**width):
        return _text(np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).astype(object))
    n, size = numbers.size, head.size + width
    chars = np.empty((n, size), dtype=np.uint8)
    chars[:, : head.size] = head
    rest = numbers.astype(np.uint32 if numbers.max() < 2**32 else np.uint64)
    end = size
    while end > head.size:  # four digits at a time, from the right; the leading group's zeros pad
        k = min(4, end - head.size)
        rest, group = np.divmod(rest, 10_000)
        chars[:, end - k : end] = _FOUR_DIGITS[group, 4 - k :]
        end -= k
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int64)
    arrow = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))
    return pd.array(arrow, dtype=dtype)


def _take_text(values: pd.Series, rows: np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """``_text(values.to_numpy()[rows])``; Arrow-backed text is taken in Arrow, without a Python string per row."""
    dtype = values.dtype
    if (len(rows) == 0 or not isinstance(dtype, pd.StringDtype) or dtype.storage != "pyarrow"
            or dtype != _arrow_text_dtype() or values.hasnans):
        return _text(values.to_numpy()[rows])
    arrow = values.array.__arrow_array__()
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    return pd.array(arrow.take(pa.array(np.asarray(rows, dtype=np.int64))), dtype=dtype)


def _stable_order(days: np.ndarray) -> np.ndarray:
    """``np.argsort(days, kind="stable")``; day numbers spanning fewer than 65,536 days are sorted as 16-bit
    offsets, which NumPy's stable sort orders by radix sort in linear time (the same permutation)."""
    if days.size and int(days.max()) - int(days.min()) < 2**16:
        return np.argsort((days - days.min()).astype(np.uint16), kind="stable")
    return np.argsort(days, kind="stable")
