"""Fits of the centre-of-mass displacement per pump cycle, with calibrated errors.

Modules
-------
models     lmfit models (linear, linear drift, per direction, per-half-cycle efficiency, differential)
analyses   weighted fits with error scaling, differential pairing, bootstrap, model comparison, pulls
pump       the complete analysis of a run and the choice of the headline fit
"""

from atompump.fit.analyses import (
    FitReport,
    PumpData,
    bootstrap_nu,
    compare_models,
    direction_consistency,
    direction_differences,
    fit_differential,
    fit_model,
    model_curve,
    pull_statistics,
    reference_differences,
)
from atompump.fit.models import MODEL_NAMES, efficiency_displacement, make_model
from atompump.fit.pump import HEADLINE_CHOICES, PumpAnalysis, analyse_pump, headline_problem

__all__ = [
    "HEADLINE_CHOICES",
    "MODEL_NAMES",
    "FitReport",
    "PumpAnalysis",
    "PumpData",
    "analyse_pump",
    "bootstrap_nu",
    "compare_models",
    "direction_consistency",
    "direction_differences",
    "efficiency_displacement",
    "fit_differential",
    "fit_model",
    "headline_problem",
    "make_model",
    "model_curve",
    "pull_statistics",
    "reference_differences",
]
