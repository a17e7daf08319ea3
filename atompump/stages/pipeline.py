"""The analysis chain of the workflow, run in one process: for tests, notebooks and quick looks.

It calls the same stage functions, in the same order and with the same config sections, as the Snakemake rules
(``workflow/rules/reduce.smk``, ``com.smk``, ``fit.smk``); Snakemake adds parallel batches, restarts and the
report. The theory can be given as an existing ``theory.json`` or computed from the config's lattice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atompump.config import planned_cycles
from atompump.stages.com import com_batch_stage, gather_com_stage, template_stage
from atompump.stages.fit import fit_stage
from atompump.stages.reduce import check_reduce_stage, fringe_basis_stage, reduce_batch_stage, shots_stage
from atompump.stages.theory import prediction_stage, theory_stage

__all__ = ["run_analysis"]


def run_analysis(config: Mapping[str, Any], out_dir: str | os.PathLike, *, manifest: str | os.PathLike | None = None,
                 theory_json: str | os.PathLike | None = None,
                 prediction_json: str | os.PathLike | None = None) -> dict:
    """Reduce, locate and fit a run; returns the fit summary (also written to ``out_dir/summary.json``).

    Parameters
    ----------
    config : mapping
        A complete config (defaults filled in), as the workflow sees it.
    out_dir : path
        Folder for the intermediate files (``shots.nc``, ``fringe_basis.nc``, ``batch-*.nc``, ``com.nc``, ...).
    manifest : path, optional
        The run's manifest (default: ``config['data']``'s manifest or shots glob).
    theory_json : path, optional
        An existing theory.json; default: computed from ``config['lattice']`` and ``config['theory']``.
    prediction_json : path, optional
        An existing prediction.json (the full prediction, from which ``nu_theory`` is formed); default: computed
        with the theory (as the workflow's ``prediction`` rule), or none when ``theory_json`` is given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    batch_size = int(config["data"]["batch_size"])
    info = shots_stage(out / "shots.nc", data=config["data"], batch_size=batch_size, manifest=manifest)
    n_batches = math.ceil(int(info["n_shots"]) / batch_size)
    fringe_basis_stage(out / "shots.nc", out / "fringe_basis.nc", imaging=config["imaging"])
    reduced = [out / f"batch-{b:04d}.nc" for b in range(n_batches)]
    for b, path in enumerate(reduced):
        reduce_batch_stage(out / "shots.nc", out / "fringe_basis.nc", path, batch=b, imaging=config["imaging"])
    check_reduce_stage(reduced, out / "input_check.json", on_bad_shot=config["data"]["on_bad_shot"])
    template_stage(reduced, out / "fringe_basis.nc", out / "template.nc", com=config["com"])
    located = [out / f"com-{b:04d}.nc" for b in range(n_batches)]
    for path_in, path_out in zip(reduced, located):
        com_batch_stage(path_in, path_out, imaging=config["imaging"], com=config["com"], atom=config["atom"],
                        basis_path=out / "fringe_basis.nc", template_path=out / "template.nc")
    gather_com_stage(located, out / "com.nc", com=config["com"])
    if theory_json is None:
        theory_json = out / "theory.json"
        theory_stage(theory_json, out / "bands.nc", out / "wannier.nc", lattice=config["lattice"],
                     theory=config["theory"], atom=config["atom"], pump=config["pump"])
        prediction_json = out / "prediction.json"
        prediction_stage(prediction_json, theory=config["theory"], pump=config["pump"],
                         numerics=config["simulation"]["pump"], tight_binding=config["simulation"]["tight_binding"],
                         lattice=config["lattice"], atom=config["atom"], cycles=planned_cycles(config))
    return fit_stage(out / "com.nc", theory_json, out / "summary.json", out / "fit.nc", fit=config.get("fit"),
                     on_bad_shot=config["data"]["on_bad_shot"], prediction_json=prediction_json)
