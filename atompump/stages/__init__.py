"""Stage entry points: read inputs through :mod:`atompump.io`, call the pure functions, write outputs atomically.

One module per stage. The workflow's scripts are thin adapters around these functions; tests and notebooks can
call them directly. Config sections are passed as plain mappings, already validated and filled with defaults by
the workflow.
"""

from atompump.stages.com import com_batch_stage, gather_com_stage, template_stage
from atompump.stages.fit import fit_stage
from atompump.stages.pipeline import run_analysis
from atompump.stages.reduce import check_reduce_stage, fringe_basis_stage, reduce_batch_stage, shots_stage
from atompump.stages.report import figures_stage, provenance_stage, report_stage
from atompump.stages.simulate import simulate_stage
from atompump.stages.theory import prediction_stage, theory_stage

__all__ = [
    "check_reduce_stage",
    "com_batch_stage",
    "figures_stage",
    "fit_stage",
    "fringe_basis_stage",
    "gather_com_stage",
    "provenance_stage",
    "reduce_batch_stage",
    "report_stage",
    "run_analysis",
    "shots_stage",
    "simulate_stage",
    "template_stage",
    "prediction_stage",
    "theory_stage",
]
