"""The shared number formatter (credit_lab.core.formatting.plain_number)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from credit_lab.core.formatting import money, plain_number


@pytest.mark.parametrize(("value", "short", "exact"), [
    (3, "3", "3.0"),
    (np.int64(42), "42", "42.0"),
    (0.25, "0.25", "0.25"),
    (np.float64(0.1), "0.1", "0.1"),
    (0.1 + 0.2, "0.3", "0.30000000000000004"),          # float noise: rounded unless exact
    (1.0000000000000002, "1", "1.0000000000000002"),    # just above a bound: exact keeps it
    (-1.5, "-1.5", "-1.5"),
    (1_234_567_890_123.0, "1.23456789e+12", "1234567890123.0"),
    (12_345.678, "12345.678", "12345.678"),
    (1e-7, "1e-07", "1e-07"),
    (0.0, "0", "0.0"),
    (float("inf"), "inf", "inf"),
    (-math.inf, "-inf", "-inf"),
    (float("nan"), "nan", "nan"),
    (np.nan, "nan", "nan"),
    (np.array(0.5), "0.5", "0.5"),
])
def test_scalars(value, short, exact):
    assert plain_number(value) == short
    assert plain_number(value, exact=True) == exact


def test_short_form_is_what_the_old_copies_wrote():
    # concentration, mitigation and provisions used f"{float(x):.10g}"
    for v in (0, 1, 0.05, 1 / 3, 2.5e9, 7e-12, -0.0, 123456789012):
        assert plain_number(v) == f"{float(v):.10g}"


def test_exact_form_is_what_the_loss_model_wrote():
    # loss_distribution used repr(float) for scalars and repr(list) for arrays
    for v in (0.1, 1 / 3, np.array([1.0, 0.5]), np.eye(2), np.array([np.nan, 2.0])):
        arr = np.asarray(v, dtype=float)
        old = repr(float(arr)) if arr.ndim == 0 else repr(arr.tolist())
        assert plain_number(v, exact=True) == old


def test_arrays():
    assert plain_number([1, 2.5]) == "[1, 2.5]"
    assert plain_number(np.array([0.1 + 0.2, np.nan])) == "[0.3, nan]"
    assert plain_number(np.array([1.0, 0.5]), exact=True) == "[1.0, 0.5]"
    assert plain_number(np.eye(2), exact=True) == "[[1.0, 0.0], [0.0, 1.0]]"
    assert plain_number([]) == "[]"


def test_none_and_text():
    assert plain_number(None) == "None"
    assert plain_number(None, exact=True) == "None"
    assert plain_number("0.5") == "0.5"
    with pytest.raises(ValueError):
        plain_number("abc")


def test_digits_keyword():
    # the scorecard's bin labels use 6 significant digits
    for v in (0.123456789, 1234567.0, 1e-9, 2.0):
        assert plain_number(v, digits=6) == f"{v:.6g}"
    assert plain_number([0.123456789, 1.0], digits=3) == "[0.123, 1]"


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"),
    (7, "7"),
    (1234567.5, "1,234,568"),
    (-9876.4, "-9,876"),
    (np.float64(2.5e9), "2,500,000,000"),
    (np.int64(1000), "1,000"),
    (0.4, "0"),
    (float("inf"), "inf"),
    (float("nan"), "n/a"),
    (np.nan, "n/a"),
    (None, "n/a"),
])
def test_money(value, text):
    # what run/index_page.py's _money wrote
    assert money(value) == text


def test_money_missing_text():
    assert money(None, missing="-") == "-"
