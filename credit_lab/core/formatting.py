"""Numbers as text for messages and reports: one formatter instead of a copy per module.

Error messages and logs should show a value as a person would write it, not as numpy's
``np.float64(0.1)`` repr or with float noise such as ``0.30000000000000004``. Every module
that puts a number into a message calls :func:`plain_number`; report tables and pages that
show currency amounts call :func:`money`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["money", "plain_number"]


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
