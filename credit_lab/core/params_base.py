"""The base of every params model: unknown keys are errors, values are frozen once validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictParams"]


class StrictParams(BaseModel):
    """A params section: ``extra="forbid"`` turns a typo in a key into an error instead of a silently
    ignored setting, and ``frozen`` keeps a validated run's settings from changing under it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
