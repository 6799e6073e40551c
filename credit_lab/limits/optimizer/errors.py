"""Errors of the limit optimization; all derive from :class:`credit_lab.core.exceptions.CreditLabError`."""

from __future__ import annotations

from credit_lab.core.exceptions import CreditLabError

__all__ = [
    "InfeasibleLimitsError",
    "OptimizationInputError",
    "SolverError",
]


class OptimizationInputError(CreditLabError, ValueError):
    """Inputs of the limit optimization are missing, malformed or out of range."""


class InfeasibleLimitsError(CreditLabError, ValueError):
    """The limits' floors alone already break a portfolio budget or cap."""


class SolverError(CreditLabError, RuntimeError):
    """An LP solve failed or did not converge."""


def _fail(msg: str) -> None:
    raise OptimizationInputError(msg)
