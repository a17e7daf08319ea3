"""Injection-recovery calibration of the whole analysis chain.

Many simulated runs with a known displacement per cycle ``nu_true`` go through the same reduction,
centre-of-mass and fit functions as lab data; the distribution of the pulls ``(nu - nu_true) / nu_err`` shows
whether the quoted errors are honest: a calibrated analysis gives pulls with mean 0 and standard deviation 1.
Everything runs in memory (no files), seeded run by run, so a study is reproducible and its runs independent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from atompump.com import locate_cloud
from atompump.config import fill_defaults
from atompump.fit import PumpData, analyse_pump, pull_statistics
from atompump.reduce import optical_density
from atompump.simulate.imaging import camera_counts, gaussian_column_density, transmitted_intensity

__all__ = ["CalibrationRun", "simulate_shot_frames", "recover_run", "calibration_study", "recover_workflow_run",
           "workflow_calibration_study"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrationRun:
    """One simulated run of the study (lengths in um, intensities in counts per pixel per exposure)."""

    nu_true: float = 0.96
    dl_um: float = 0.767
    cycles: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0)
    directions: tuple[int, ...] = (1, -1)
    repeats: int = 4
    atom_number: float = 3000.0
    atom_number_jitter: float = 0.05
    cloud_sigma_um: tuple[float, float] = (6.0, 6.0)
    position_jitter_um: float = 0.3
    image_shape: tuple[int, int] = (48, 96)
    pixel_size_um: float = 1.0
    probe_counts: float = 3000.0
    cross_section_um2: float = 0.2907
    read_noise_counts: float = 4.0
    extra: dict = field(default_factory=dict)


def simulate_shot_frames(run: CalibrationRun, *, x_true_um: float, n_atoms: float,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Atoms, probe and dark frames (counts) of one shot with its cloud centred at ``x_true_um``."""
    ny, nx = run.image_shape
    y_c = 0.5 * (ny - 1) * run.pixel_size_um
    density = gaussian_column_density(run.image_shape, atom_number=n_atoms, centre_um=(x_true_um, y_c),
                                      sigma_um=run.cloud_sigma_um, pixel_size_um=run.pixel_size_um)
    i_in = np.full(run.image_shape, run.probe_counts)
    camera = dict(rng=rng, gain=1.0, offset_counts=100.0, read_noise_counts=run.read_noise_counts)
    i_out = transmitted_intensity(i_in, run.cross_section_um2 * density)
    return camera_counts(i_out, **camera), camera_counts(i_in, **camera), camera_counts(np.zeros_like(i_in), **camera)


ShotSimulator = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


def recover_run(run: CalibrationRun, *, seed: int, model: str = "linear", estimator: str = "fit",
                shot_simulator: ShotSimulator = simulate_shot_frames) -> dict:
    """Simulate one run, analyse it like lab data, and return ``nu``, ``nu_err`` and the pull.

    Each shot goes through :func:`~atompump.reduce.optical_density` and :func:`~atompump.com.locate_cloud` with
    the workflow's default estimator (``estimator``), then the run through :func:`~atompump.fit.analyse_pump`.
    """
    rng = np.random.default_rng(seed)
    x_centre = 0.5 * (run.image_shape[1] - 1) * run.pixel_size_um
    cycle, direction, x, err = [], [], [], []
    for _ in range(run.repeats):
        for c in run.cycles:
            for d in run.directions:
                x_true = x_centre + d * run.nu_true * run.dl_um * c + rng.normal(0.0, run.position_jitter_um)
                n_atoms = run.atom_number * (1.0 + run.atom_number_jitter * rng.normal())
                atoms, probe, dark = shot_simulator(run, x_true_um=x_true, n_atoms=n_atoms, rng=rng)
                od = optical_density(atoms, probe, dark)
                com = locate_cloud(od.od, pixel_size_um=run.pixel_size_um, valid=od.valid,
                                   variance_factor=od.variance_factor, estimator=estimator)
                if com.reject_reason:
                    continue
                cycle.append(c)
                direction.append(d)
                x.append(com.x_um)
                err.append(com.x_err_um)
    data = PumpData.from_arrays(cycle, direction, x, err)
    analysis = analyse_pump(data, dl_um=run.dl_um, chern_numbers=[1, -1], model=model, n_bootstrap=0)
    head = analysis.headline
    return {"seed": seed, "nu": head.nu, "nu_err": head.nu_err, "pull": (head.nu - run.nu_true) / head.nu_err,
            "reduced_chi2": head.reduced_chi2, "n_used": len(x)}


def calibration_study(run: CalibrationRun, *, n_runs: int, seed: int = 0, model: str = "linear", estimator: str = "fit",
                      nu_true_values: np.ndarray | None = None,
                      shot_simulator: ShotSimulator = simulate_shot_frames) -> dict:
    """Run ``n_runs`` independent simulated runs and summarise the pulls.

    Parameters
    ----------
    run : CalibrationRun
        The run design and noise; ``nu_true`` is replaced run by run when ``nu_true_values`` is given (values
        drawn cyclically), so that the study covers a range of true displacements.
    n_runs : int
    seed : int
        Run r uses seed ``seed + r``.

    Returns
    -------
    dict
        ``runs`` (per-run results, including ``nu_true``) and ``pulls`` (from
        :func:`~atompump.fit.pull_statistics`).
    """
    if n_runs < 2:
        raise ValueError(f"a calibration study needs at least 2 runs, got {n_runs}")
    results = []
    for r in range(n_runs):
        this = run if nu_true_values is None else replace(run, nu_true=float(nu_true_values[r % len(nu_true_values)]))
        result = recover_run(this, seed=seed + r, model=model, estimator=estimator, shot_simulator=shot_simulator)
        result["nu_true"] = this.nu_true
        results.append(result)
        if (r + 1) % 50 == 0:
            log.info("calibration: %d / %d runs", r + 1, n_runs)
    pulls = np.array([r["pull"] for r in results])
    return {"runs": results, "pulls": pull_statistics(pulls), "model": model, "estimator": estimator,
            "n_runs": n_runs, "seed": seed}


def recover_workflow_run(config: dict, *, seed: int, nu_true: float, theory_json, workdir) -> dict:
    """One run through the whole chain as the workflow runs it: the simulator's imaging chain (point-spread
    function, probe fringes, camera noise, drift, jitter, reference shots, acquisition order) with a rigid cloud
    moved by ``nu_true * dl`` per cycle, written to disk, then :func:`~atompump.stages.pipeline.run_analysis`
    (run table, fringe basis, reduction, centre of mass with the configured estimator, fit)."""
    import copy
    import shutil
    from pathlib import Path

    from atompump.stages.pipeline import run_analysis
    from atompump.stages.simulate import simulate_stage

    cfg = copy.deepcopy(config)
    cfg["simulation"].update(seed=int(seed), dynamics="rigid", nu_true=float(nu_true))
    work = Path(workdir) / f"run-{seed}"
    try:
        truth = simulate_stage(work / "run", simulation=cfg["simulation"], imaging=cfg["imaging"],
                               lattice=cfg["lattice"], atom=cfg["atom"], pump=cfg["pump"])
        summary = run_analysis(cfg, work / "analysis", manifest=work / "run" / "manifest.csv", theory_json=theory_json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # the same fit on the simulator's true positions (nominal errors far below the jitter, so the error comes from
    # the scatter as in the real fit): its pull shows the run's own sampling fluctuation
    shots = [t for t in truth["shots"] if not t["reference"]]
    oracle = analyse_pump(PumpData.from_arrays([t["cycle"] for t in shots], [t["direction"] for t in shots],
                                               [t["x_true_um"] for t in shots], np.full(len(shots), 1e-6)),
                          dl_um=float(truth["dl_um"]), chern_numbers=[1, -1], model="linear", n_bootstrap=0).headline
    return {"seed": seed, "nu_true": truth["nu_true"], "nu": summary["nu"], "nu_err": summary["nu_err"],
            "pull": (summary["nu"] - truth["nu_true"]) / summary["nu_err"], "reduced_chi2": summary["reduced_chi2"],
            "n_used": summary["n_used"], "oracle_pull": (oracle.nu - truth["nu_true"]) / oracle.nu_err}


def workflow_calibration_study(config: dict, *, n_runs: int, workdir, seed: int = 0,
                               nu_true_values: np.ndarray | None = None) -> dict:
    """:func:`recover_workflow_run` for ``n_runs`` seeds; returns the runs and their pull statistics.

    ``oracle_pulls`` are those of the same fit applied to the simulator's true centres: they show how far the
    runs' own jitter samples scatter (their standard deviation is about sqrt(dof / (dof - 2)) > 1 for a
    scatter-scaled fit); a miscalibrated analysis shows as a difference between ``pulls`` and ``oracle_pulls``.
    """
    import json
    from pathlib import Path

    if n_runs < 2:
        raise ValueError(f"a calibration study needs at least 2 runs, got {n_runs}")
    config = fill_defaults(config)  # a partial config: the schema's defaults (the one place they live)
    values = np.array([config["simulation"]["nu_true"]]) if nu_true_values is None else nu_true_values
    theory_json = Path(workdir) / "theory.json"
    dl_um = float(config["lattice"]["lambda_l_nm"]) / 2e3
    theory_json.parent.mkdir(parents=True, exist_ok=True)
    theory_json.write_text(json.dumps({"dl_um": dl_um, "chern_numbers": [1, -1, 1], "nu_theory": 1.0}))
    results = []
    for r in range(n_runs):
        results.append(recover_workflow_run(config, seed=seed + r, nu_true=float(values[r % len(values)]),
                                            theory_json=theory_json, workdir=workdir))
        if (r + 1) % 20 == 0:
            log.info("workflow calibration: %d / %d runs", r + 1, n_runs)
    pulls = np.array([r["pull"] for r in results])
    oracle = np.array([r["oracle_pull"] for r in results])
    return {"runs": results, "pulls": pull_statistics(pulls), "oracle_pulls": pull_statistics(oracle),
            "chain": "workflow", "n_runs": n_runs, "seed": seed}
