"""Stage entry points: read inputs through :mod:`atompump.io`, call the pure functions, write outputs atomically.

One module per stage. The workflow's scripts are thin adapters around these functions; tests and notebooks can
call them directly. Config sections are passed as plain mappings, already validated and filled with defaults by
the workflow.

The names below are imported on first use (PEP 562), so that a job imports only its own stage's dependencies: a
reduction job does not pay for lmfit or matplotlib (issue 15, item 6: per-job start-up).
"""

from __future__ import annotations

from atompump._lazy import lazy_names

_WHERE = {
    "check_reduce_stage": "reduce",
    "com_batch_stage": "com",
    "figures_stage": "report",
    "fit_stage": "fit",
    "fringe_basis_stage": "reduce",
    "gather_com_stage": "com",
    "prediction_stage": "theory",
    "provenance_stage": "provenance",
    "reduce_batch_stage": "reduce",
    "report_stage": "report",
    "run_analysis": "pipeline",
    "shots_stage": "reduce",
    "simulate_stage": "simulate",
    "template_stage": "com",
    "theory_stage": "theory",
}

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
