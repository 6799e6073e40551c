"""What the before-and-after benchmarks share: a validated synthetic ledger, and a module as it was at a commit.

Imported by the benchmark scripts from their own folder (``benchmarks/`` is the script's folder).
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def validated_ledger(n_customers: int, seed: int, n_months: int = 36) -> dict:
    """``generate_ledger(n_customers, n_months, seed)`` through the data contract, as a run's stage 01 writes it."""
    from credit_lab.data.contract import validate_ledger
    from credit_lab.data.synthetic import generate_ledger

    ledger = generate_ledger(n_customers=n_customers, n_months=n_months, seed=seed)
    raw = {t: getattr(ledger, t) for t in ("customers", "invoices", "financials", "defaults", "industry_outlook")}
    return validate_ledger(raw).tables


def module_at(commit: str, path: str, name: str) -> types.ModuleType:
    """The module at ``path`` (e.g. ``credit_lab/limits/review/backtest.py``) as it was at ``commit``, as ``name``."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType(name)
    sys.modules[name] = module  # its dataclasses look themselves up there
    exec(compile(source, f"{path}@{commit[:7]}", "exec"), module.__dict__)  # noqa: S102 - our own code from git
    return module
