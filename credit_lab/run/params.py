"""Params for a run: the typed params of :mod:`credit_lab.core.config` plus the domain settings they carry.

``core.config`` validates the shape of every key; the review's and the stress test's own settings
classes live in their domain packages (``limits.review``, ``risk.stress``), which sit above core.
This module, at the top layer, checks those settings too, so a run still refuses bad params with
the dotted key before any stage starts, and core imports nothing above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from credit_lab.core.config import RunParams, load_params, params_from_dict
from credit_lab.core.exceptions import ParamsError
from credit_lab.limits import review_cycle
from credit_lab.risk.stress import StressScenario

__all__ = ["book_label", "check_domain_settings", "load_run_params", "run_params_from_dict"]


def check_domain_settings(params: RunParams, source: str = "params") -> RunParams:
    """Build the review's and stress test's settings from ``params``; a :class:`ParamsError` names a failing key."""
    checks = (  # the very builders the review stage uses, so what passes here is what runs
        ("review.signals", lambda: review_cycle.signal_settings(params)),
        ("review.rules", lambda: review_cycle.adjustment_settings(params)),
        ("review.approval", lambda: review_cycle.approval_settings(params)),
        ("review.frequency_months_by_grade", lambda: review_cycle.calendar_settings(params)),
    )
    for key, build in checks:
        try:
            build()
        except TypeError as err:
            raise ParamsError(f"{source}: {key}: unknown setting: {err}") from None
        except ValueError as err:
            raise ParamsError(f"{source}: {key}: {err}") from None
    for k, scenario in enumerate(params.reserve.stress_scenarios, start=1):
        try:
            StressScenario(**scenario)
        except (TypeError, ValueError) as err:
            raise ParamsError(f"{source}: reserve.stress_scenarios[{k}]: {err}") from None
    return params


def book_label(params: RunParams) -> str:
    """Which book a run is of: the embedded generator's settings, or the input files' paths.

    Runs of the same book (the same files, month after month) are compared with each other: the
    reserve waterfall, the run history's trends and the run-to-run diff; runs of different books never.
    """
    d = params.data
    if d.source == "synthetic":
        s = d.synthetic
        return f"embedded synthetic ledger (seed {params.seed}, {s.n_customers} customers, {s.n_months} months)"
    if d.source == "table" and d.table is not None:
        return f"customer table: {d.table.path}"
    return "files: " + ", ".join(f"{k}={v.path}" for k, v in d.files.items())


def load_run_params(path: str | Path, overrides: dict[str, Any] | None = None) -> RunParams:
    """:func:`credit_lab.core.config.load_params`, then :func:`check_domain_settings`."""
    return check_domain_settings(load_params(path, overrides), source=str(path))


def run_params_from_dict(raw: dict[str, Any], source: str = "params") -> RunParams:
    """:func:`credit_lab.core.config.params_from_dict`, then :func:`check_domain_settings`."""
    return check_domain_settings(params_from_dict(raw, source), source=source)
