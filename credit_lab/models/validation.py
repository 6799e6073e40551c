"""Validation statistics for PD models: one import point for the modules that hold them.

The statistics live by concern in
:mod:`credit_lab.models.metrics` (ROC, CAP, AUC, accuracy ratio, KS, Brier score, log
loss, the per-sample metrics table), :mod:`credit_lab.models.calibration_tests`
(binomial and Jeffreys tests by grade, Hosmer-Lemeshow, calibration table),
:mod:`credit_lab.models.calibration_map` (Platt or isotonic calibration, central
tendency) and :mod:`credit_lab.models.stability` (PSI, CSI, AUC by period). This module
re-exports their public names so that ``from credit_lab.models.validation import
choose_calibration`` and the like keep working; it defines nothing itself. The plots
moved to :mod:`credit_lab.report.validation_figures` (the report layer).
"""

from __future__ import annotations

from credit_lab.models.calibration_map import (
    CalibrationChoice,
    CentralTendencyAdjustment,
    central_tendency_adjustment,
    choose_calibration,
)
from credit_lab.models.calibration_tests import (
    HosmerLemeshowResult,
    binomial_test_by_grade,
    calibration_table,
    hosmer_lemeshow,
)
from credit_lab.models.metrics import (
    PD_CLIP,
    ValidationMetrics,
    accuracy_ratio,
    auc,
    brier_score,
    cap_curve,
    kolmogorov_smirnov,
    log_loss,
    roc_table,
    score_distribution,
    validation_metrics,
    validation_summary,
)
from credit_lab.models.stability import (
    MISSING_BIN,
    PSI_SIGNIFICANT,
    PSI_STABLE,
    UNSEEN_BIN,
    PSIResult,
    auc_by_period,
    csi_table,
    population_stability,
    psi,
    psi_flag,
)
from credit_lab.models.validation_inputs import ValidationInputError

__all__ = [
    "MISSING_BIN",
    "PD_CLIP",
    "PSI_SIGNIFICANT",
    "PSI_STABLE",
    "UNSEEN_BIN",
    "CalibrationChoice",
    "CentralTendencyAdjustment",
    "HosmerLemeshowResult",
    "PSIResult",
    "ValidationInputError",
    "ValidationMetrics",
    "accuracy_ratio",
    "auc",
    "auc_by_period",
    "binomial_test_by_grade",
    "brier_score",
    "calibration_table",
    "cap_curve",
    "central_tendency_adjustment",
    "choose_calibration",
    "csi_table",
    "hosmer_lemeshow",
    "kolmogorov_smirnov",
    "log_loss",
    "population_stability",
    "psi",
    "psi_flag",
    "roc_table",
    "score_distribution",
    "validation_metrics",
    "validation_summary",
]
