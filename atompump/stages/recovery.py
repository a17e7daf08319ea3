"""Stage recovery: a run with a known truth (simulated or injected) compared with its analysis.

Rule (``workflow/rules/recovery.smk``, only when ``truth.json`` exists)::

    recovery   com.nc, summary.json, truth.json  ->  results/fit/recovery.json, results/figures/recovery_pulls.{png,pdf}

``recovery.json`` holds, per estimator of ``com.nc``, the fraction of pumped shots measured, the bias, the RMS
error, the pull mean and standard deviation and the efficiency, and the run's nu pull
(:func:`atompump.recovery.recovery_statistics`). The report reads it (:func:`recovery_table`); it does not
recompute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atompump.io.atomic import write_json
from atompump.io.netcdf import read_dataset

__all__ = ["recovery_stage", "recovery_table"]


def recovery_stage(com_path: str | os.PathLike, summary_path: str | os.PathLike, truth_path: str | os.PathLike,
                   out_path: str | os.PathLike, *, figure_paths: tuple[str | os.PathLike, ...] = ()) -> dict:
    """Write ``recovery.json`` (and the per-shot pull histogram to each of ``figure_paths``, PNG/PDF)."""
    from atompump.recovery import recovery_statistics, shot_pulls

    com = read_dataset(com_path)
    truth = json.loads(Path(truth_path).read_text())
    summary = json.loads(Path(summary_path).read_text()) if Path(summary_path).is_file() else None
    recovery = recovery_statistics(com, truth, summary)
    write_json(out_path, recovery)
    if figure_paths:
        from atompump.report.figures import save_figure, shot_pulls_figure

        pulls = shot_pulls(com, truth, recovery)
        default = recovery["default_estimator"]
        if default in pulls:  # 'com' is the headline estimator's copy: drawn once, under its own name
            pulls.pop("com", None)
        fig = shot_pulls_figure(pulls, default=default if default in pulls else "com")
        for path in figure_paths:
            save_figure(fig, path)
    return recovery


def _number(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def recovery_table(recovery: Mapping[str, Any]) -> tuple[str, list[str], list[tuple]]:
    """The report's table of ``recovery.json``: one row per estimator, and the nu pull in the heading."""
    nu_pull = recovery.get("nu_pull")
    heading = (f"Recovery against the truth: {recovery['n_used_pumped']} of {recovery['n_pumped']} pumped shots used; "
               f"nu pull (nu - nu_true)/nu_err = {_number(nu_pull, 3)}")
    header = ["estimator", "measured", "bias (um)", "RMS error (um)", "median quoted error (um)", "pull mean",
              "pull std", "efficiency (bound^2 / RMS^2)"]
    rows = []
    for name, e in recovery["estimators"].items():
        label = f"{name} (headline: {recovery['default_estimator']})" if name == "com" else name
        measured = "n/a" if e["fraction_measured"] is None else f"{e['n']} ({100 * e['fraction_measured']:.0f} %)"
        rows.append((label, measured, _number(e["bias_um"]), _number(e["rms_um"]), _number(e["median_error_um"]),
                     _number(e["pull_mean"], 3), _number(e["pull_std"], 3), _number(e["efficiency"], 3)))
    return heading, header, rows
