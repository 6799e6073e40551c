"""The project's error types.

Every error a user can cause derives from :class:`CreditLabError` and also from
the matching builtin, so ``except ValueError`` keeps working for callers who do
not know this package.
"""

from __future__ import annotations

import difflib

__all__ = [
    "closest_hint",
    "StageSkipped",
    "CreditLabError",
    "ArtifactVersionError",
    "ParamsError",
    "RunDiffError",
    "SchemaError",
    "InputFileError",
    "StageError",
    "ArtifactIntegrityError",
    "ExplanationError",
    "OutputFolderError",
    "RunInProgressError",
    "InputTooLargeError",
]


class CreditLabError(Exception):
    """Base class of every error raised on purpose by credit_lab."""


class ParamsError(CreditLabError, ValueError):
    """A params file is malformed: unknown key, wrong type or out-of-range value."""


class RunDiffError(ParamsError):
    """Two folders given to ``credit-lab diff`` cannot be compared: not a run folder, runs of different books,
    or a table the comparison needs is missing. A usage error (exit 2), hence a :class:`ParamsError`."""


class SchemaError(CreditLabError, ValueError):
    """An input table breaks its declared data contract."""


class InputFileError(CreditLabError, FileNotFoundError):
    """An input file named in params is missing or unreadable."""


class StageError(CreditLabError, RuntimeError):
    """A pipeline stage failed; the message names the stage and the cell.

    ``cause`` is the name of the error raised inside the stage (e.g. ``"SchemaError"``), so a caller
    can tell bad input data from a failure of the stage itself.
    """

    def __init__(self, *args: object, cause: str | None = None) -> None:
        super().__init__(*args)
        self.cause = cause


class ArtifactIntegrityError(CreditLabError, RuntimeError):
    """A model artifact does not match the hash it was recorded with."""


class ArtifactVersionError(CreditLabError, RuntimeError):
    """A model artifact saved by another version of credit_lab, whose classes this version does not have."""


class ExplanationError(CreditLabError, ArithmeticError):
    """SHAP values do not add up to the model output."""


class OutputFolderError(CreditLabError, OSError):
    """The output folder cannot be created or written (permissions, read-only, disk full)."""


class RunInProgressError(CreditLabError, RuntimeError):
    """Another run with the same run id is in progress."""


class InputTooLargeError(CreditLabError, MemoryError):
    """An input would not fit in the memory available."""


class StageSkipped(StageError):
    """The data does not allow this stage (e.g. no outcomes for a PD model); the message says why."""


def closest_hint(name: str, options: list[str], label: str = "closest") -> str:
    """`` (closest: 'x')`` naming the option most like ``name``, or "" when none is close: for error messages."""
    match = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.5)
    return f" ({label}: '{match[0]}')" if match else ""
