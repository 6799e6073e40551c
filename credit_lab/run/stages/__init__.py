"""The seven report stages as plain functions over a run folder.

Each ``stage_*`` function reads what earlier stages wrote into the run folder (its inputs in
:mod:`~credit_lab.run.stages.catalog`), calls the domain modules, writes its own outputs and
returns a result object for the notebook to display. Stages hand data to each other only
through these files, never through notebook globals. Notebooks call :func:`open_stage` first;
outside a pipeline run (JupyterLab, nbval) it builds missing upstream outputs in-process so any
notebook runs on its own.

Modules: ``context`` (the run folder a stage sees), ``catalog`` (every artifact, and what each
stage reads and writes), ``registry`` (the stages in order, :func:`open_stage`) and one module
per stage, ``s01_data_quality`` to ``s07_replay``.
"""

from __future__ import annotations

from credit_lab.core.exceptions import StageSkipped
from credit_lab.run.stages.context import StageContext, load_explanation, load_pd_model, params_snapshot
from credit_lab.run.stages.registry import STAGES, open_stage
from credit_lab.run.stages.s01_data_quality import DataQualityResult, stage_data_quality
from credit_lab.run.stages.s02_features import FeaturesResult, stage_features
from credit_lab.run.stages.s03_model import ModelResult, stage_model
from credit_lab.run.stages.s04_scoring import ScoringResult, stage_scoring
from credit_lab.run.stages.s05_limits import LimitsResult, stage_limits
from credit_lab.run.stages.s06_risk_reserve import ReserveResult, stage_reserve
from credit_lab.run.stages.s07_replay import ReplayStageResult, stage_replay

__all__ = [
    "STAGES",
    "DataQualityResult",
    "FeaturesResult",
    "LimitsResult",
    "ModelResult",
    "ReplayStageResult",
    "ReserveResult",
    "ScoringResult",
    "StageContext",
    "StageSkipped",
    "load_explanation",
    "load_pd_model",
    "open_stage",
    "params_snapshot",
    "stage_data_quality",
    "stage_features",
    "stage_limits",
    "stage_model",
    "stage_replay",
    "stage_reserve",
    "stage_scoring",
]
