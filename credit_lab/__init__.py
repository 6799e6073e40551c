"""credit_lab: a workbench for trade-credit evaluation, limits and risk reserves."""

from __future__ import annotations

__version__ = "0.1.0"
