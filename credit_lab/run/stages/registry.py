"""The stages in run order, and :func:`open_stage`, which notebooks call first.

Outside a pipeline run (JupyterLab, nbval) :func:`open_stage` builds missing upstream outputs
in-process so any notebook runs on its own. It lives apart from
:mod:`~credit_lab.run.stages.context` because it needs every stage, and every stage needs the
context.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from credit_lab.core.exceptions import StageError
from credit_lab.run.stages.catalog import CATALOG, producers
from credit_lab.run.stages.context import StageContext, load_any_params, require
from credit_lab.run.stages.s01_data_quality import stage_data_quality
from credit_lab.run.stages.s02_features import stage_features
from credit_lab.run.stages.s03_model import stage_model
from credit_lab.run.stages.s04_scoring import stage_scoring
from credit_lab.run.stages.s05_limits import stage_limits
from credit_lab.run.stages.s06_risk_reserve import stage_reserve
from credit_lab.run.stages.s07_replay import stage_replay

__all__ = ["STAGES", "open_stage", "upstream_stages"]

logger = logging.getLogger(__name__)

_FUNCTIONS: dict[str, Callable[[StageContext], Any]] = {
    "01_data_quality": stage_data_quality,
    "02_features": stage_features,
    "03_model": stage_model,
    "04_scoring_explain": stage_scoring,
    "05_limits": stage_limits,
    "06_risk_reserve": stage_reserve,
    "07_replay": stage_replay,
}


def _marker(stage: str) -> str | tuple[str, ...]:
    """The stage's completion marker(s) as data-folder names (one name, or a tuple of alternatives)."""
    names = tuple(m.removeprefix("data/") for m in CATALOG[stage].marker)
    return names[0] if len(names) == 1 else names


#: stage -> (title, function, completion marker in data/), in run order (titles and markers from the catalog).
STAGES: dict[str, tuple[str, Callable[[StageContext], Any], str | tuple[str, ...]]] = {
    stage: (CATALOG[stage].title, func, _marker(stage)) for stage, func in _FUNCTIONS.items()
}


def upstream_stages(stage: str) -> set[str]:
    """The earlier stages ``stage`` needs: the producers of its inputs in the catalog, and theirs."""
    needed: set[str] = set()
    todo = [stage]
    while todo:
        for artifact in CATALOG[todo.pop()].inputs:
            for producer in producers(artifact):
                if producer not in needed and list(STAGES).index(producer) < list(STAGES).index(stage):
                    needed.add(producer)
                    todo.append(producer)
    return needed


def open_stage(stage: str, run_dir: str | Path, params_file: str | Path,
               build_missing_upstream: bool = True) -> StageContext:
    """Context of ``stage`` in ``run_dir``; checks (or, outside a run, builds) upstream outputs.

    Parameters
    ----------
    stage : one of :data:`STAGES`.
    run_dir : the run folder the stage reads from and writes to.
    params_file : YAML params (or the JSON copy a pipeline run writes).
    build_missing_upstream : when an earlier stage's output is missing, compute it here
        (for a notebook opened on its own) instead of failing (pipeline runs pass False).
    """
    if stage not in STAGES:
        raise StageError(f"unknown stage {stage!r}; expected one of {list(STAGES)}")
    ctx = StageContext(Path(run_dir).resolve(), load_any_params(params_file))
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    needed = upstream_stages(stage)
    for name, (_, func, marker) in STAGES.items():
        if name == stage:
            require(ctx, stage)
            break
        if name not in needed:
            continue
        markers = (marker,) if isinstance(marker, str) else marker
        if any(ctx.path(m).is_file() for m in markers) or name in ctx.skipped():
            continue
        if not build_missing_upstream:
            raise StageError(f"stage {stage} needs {marker} from stage {name}, which is missing in {ctx.run_dir}")
        logger.info("building missing upstream stage %s in %s", name, ctx.run_dir)
        func(ctx)
    ctx.log.clear()  # what the stage itself reads and writes starts here
    return ctx
