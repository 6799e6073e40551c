"""Numbers as text for messages and reports: one formatter instead of a copy per module.

Error messages and logs should show a value as a person would write it, not as numpy's
``np.float64(0.1)`` repr or with float noise such as ``0.30000000000000004``. Every module
that puts a number into a message calls :func:`plain_number`; report tables and pages that
show currency amounts call :func:`money`, rates and shares :func:`percent`, and any other
measure :func:`readable_number` (never in scientific notation: a reader sees ``0.0012`` or
``3.2 × 10⁻¹⁵``, not ``1.2e-03``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["money", "percent", "plain_number", "readable_number"]


def plain_number(x: Any, *, exact: bool = False, digits: int = 10) -> str:
    """A number (or array of numbers) as plain text, without numpy's type wrappers.

    Parameters
    ----------
    x : Any
        A number, a numpy scalar, a 0-d array or an array of numbers (anything
        ``numpy.asarray(x, dtype=float)`` accepts), or ``None``.
    exact : bool, default False
        ``False`` rounds to 10 significant digits (``f"{x:.10g}"``): short, and free of float
        noise, as the concentration, mitigation and provision messages show their inputs.
        ``True`` keeps every digit (Python's shortest round-trip ``repr``), as the loss
        model's input checks show the offending value, so a value just outside a bound
        (``1.0000000000000002``) is not printed as the bound itself.
    digits : int, default 10
        Significant digits when ``exact`` is False (``f"{x:.<digits>g}"``); e.g. 6 for the
        short bin edges of a scorecard.

    Returns
    -------
    str
        ``"None"`` for ``None``; one number for a scalar or 0-d array (``nan`` and ``inf``
        as Python writes them); a Python-style list (``[0.1, 0.2]``) for an array, flattened
        row by row.

    Raises
    ------
    TypeError, ValueError
        If ``x`` is not numeric (for example a non-numeric string).

    Examples
    --------
    >>> plain_number(0.1 + 0.2)
    '0.3'
    >>> plain_number(0.1 + 0.2, exact=True)
    '0.30000000000000004'
    >>> plain_number(np.float64(1e-7))
    '1e-07'
    >>> plain_number([1, 2.5], exact=True)
    '[1.0, 2.5]'
    """
    if x is None:  # a message about a missing value must not fail while being built
        return "None"
    arr = np.asarray(x, dtype=float)
    if exact:
        return repr(float(arr)) if arr.ndim == 0 else repr(arr.tolist())
    if arr.ndim == 0:
        return f"{float(arr):.{digits}g}"
    return "[" + ", ".join(f"{v:.{digits}g}" for v in arr.ravel().tolist()) + "]"


def money(value: Any, *, missing: str = "n/a") -> str:
    """A currency amount rounded to whole units with thousands separators (``1,234,567``).

    Parameters
    ----------
    value : Any
        A number or numpy scalar, or ``None``.
    missing : str, default "n/a"
        Text for ``None`` and NaN (a missing amount in a report is shown, not a crash).

    Returns
    -------
    str
        ``f"{value:,.0f}"``, or ``missing``.

    Examples
    --------
    >>> money(1234567.5)
    '1,234,568'
    >>> money(float("nan"))
    'n/a'
    """
    if value is None or value != value:  # NaN is the only value unequal to itself
        return missing
    return f"{value:,.0f}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _is_missing(value: Any) -> bool:
    return value is None or value != value  # NaN is the only value unequal to itself


def percent(value: Any, *, digits: int = 2, missing: str = "n/a") -> str:
    """A rate or share (a fraction: 0.0123) as a percentage (``1.23%``).

    Parameters
    ----------
    value : Any
        A fraction (1 is 100%), a numpy scalar, or ``None``.
    digits : int, default 2
        Decimals of the percentage.
    missing : str, default "n/a"
        Text for ``None`` and NaN.

    Returns
    -------
    str
        ``f"{value:.<digits>%}"``; a non-zero value that would show as zero is written as
        ``<0.01%`` (a PD of 0.00003 is small, not nil).

    Examples
    --------
    >>> percent(0.012345)
    '1.23%'
    >>> percent(0.995, digits=1)
    '99.5%'
    >>> percent(3e-7)
    '<0.01%'
    """
    if _is_missing(value):
        return missing
    value = float(value)
    text = f"{value:,.{digits}%}"
    floor = 10.0 ** -digits
    if value != 0 and abs(value) * 100 < floor / 2:
        return f"{'>-' if value < 0 else '<'}{floor:.{digits}f}%"
    return text


def readable_number(value: Any, *, missing: str = "n/a") -> str:
    """Any other measure (a statistic, a score, a ratio) for reading, never in scientific notation.

    Whole numbers get thousands separators (``12,345``); amounts from 1,000 on are rounded to
    whole units; from 1 on two decimals (``26.43``), below one four (``0.0459``); a non-zero value
    too small for four decimals is written with a power of ten (``3.2 × 10⁻¹⁵``), as people write it.

    Examples
    --------
    >>> readable_number(736.0)
    '736'
    >>> readable_number(0.94592)
    '0.9459'
    >>> readable_number(5.33e-15)
    '5.33 × 10⁻¹⁵'
    >>> readable_number(2.5e9)
    '2,500,000,000'
    """
    if _is_missing(value):
        return missing
    value = float(value)
    if value in (float("inf"), float("-inf")):
        return "∞" if value > 0 else "-∞"
    size = abs(value)
    if value.is_integer() or size >= 1000:
        return f"{value:,.0f}"
    if size >= 1:
        return f"{value:,.2f}"
    if size >= 0.00005:
        return f"{value:.4f}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
