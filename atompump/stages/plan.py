"""``atompump plan`` (issue 14, item 6): the run's plan from a pilot run's files, or from the config's simulator.

The arithmetic is :mod:`atompump.plan`; this module reads the pilot (a results folder or a ``com.nc``) and the
config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from atompump.errors import InputDataError

__all__ = ["plan_stage"]

Config = Mapping[str, Any]


def _pilot_files(pilot: str | os.PathLike) -> tuple[Path, Path | None]:
    """``com.nc`` of a pilot given as a results folder, a run folder (with results/) or the file itself, and the
    ``summary.json`` beside it (None when absent)."""
    path = Path(pilot)
    for com in (path, path / "com" / "com.nc", path / "results" / "com" / "com.nc"):
        if com.is_file():
            summary = com.parent.parent / "fit" / "summary.json"
            return com, summary if summary.is_file() else None
    raise InputDataError(f"pilot run {path}: no com.nc there (give a results folder, its run folder or a com.nc)")


def plan_stage(*, target_nu_err: float, config: Config, pilot: str | os.PathLike | None = None,
               cycle_sets: Sequence[Sequence[float]] | None = None, directions: Sequence[int] | None = None,
               designs: Sequence[str] | None = None) -> dict:
    """Shots and cycles for an error ``target_nu_err`` on nu (:func:`atompump.plan.plan_runs`).

    Parameters
    ----------
    target_nu_err : float
        The error on nu wanted (units of dl).
    config : mapping
        The validated config with defaults: ``lattice`` gives dl (unless the pilot's summary does); without a
        pilot, ``simulation``, ``imaging``, ``atom`` describe the experiment (:func:`atompump.plan.simulated_scatter`).
    pilot : path, optional
        A pilot run's results folder or ``com.nc``: the per-shot scatter is measured there.
    cycle_sets : list of lists, optional
        The cycles of one repeat to compare (default: the pilot's cycles, else ``simulation.cycles``).
    directions : sequence of int, optional
        Default: the pilot's, else ``simulation.directions``.
    designs : sequence of str, optional
        Of :data:`atompump.plan.DESIGNS` (default all).

    Returns
    -------
    dict
        ``target_nu_err``, ``dl_um``, ``scatter`` (:class:`atompump.plan.Scatter` as a dict) and ``plan`` (rows).
    """
    from atompump.io.netcdf import read_dataset
    from atompump.plan import DESIGNS, pilot_scatter, plan_runs, simulated_scatter
    from atompump.stages.simulate import simulation_params

    dl_um = float(config["lattice"]["lambda_l_nm"]) / 2.0 * 1e-3
    if pilot is not None:
        com_path, summary_path = _pilot_files(pilot)
        if summary_path is not None:
            dl_um = float(json.loads(summary_path.read_text())["dl_um"])
        com = read_dataset(com_path)
        scatter = pilot_scatter(com, dl_um=dl_um, source=f"pilot {com_path}")
        pumped = com.used.values.astype(bool)
        if "reference" in com.variables:
            pumped &= ~com["reference"].values.astype(bool)
        default_cycles = sorted({float(c) for c in com.cycle.values[pumped]})
        default_directions = sorted({int(d) for d in com.direction.values[pumped]}, reverse=True)
    else:
        params = simulation_params(config)
        scatter = simulated_scatter(params)
        default_cycles = [float(c) for c in params.design.cycles]
        default_directions = [int(d) for d in params.design.directions]
    cycle_sets = [list(map(float, c)) for c in cycle_sets] if cycle_sets else [default_cycles]
    directions = [int(d) for d in directions] if directions else default_directions
    rows = plan_runs(target_nu_err=target_nu_err, scatter=scatter, cycle_sets=cycle_sets, directions=directions,
                     dl_um=dl_um, designs=tuple(designs or DESIGNS))
    return {"target_nu_err": float(target_nu_err), "dl_um": dl_um,
            "scatter": asdict(scatter), "plan": rows,
            "pilot": None if pilot is None else str(pilot)}
