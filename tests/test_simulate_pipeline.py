"""Injection--recovery through the whole pipeline: simulate (dynamics + imaging chain) -> reduce -> com -> fit,
the stages called directly as the workflow calls them; and the strong-fringe configuration."""

import copy
import json

import numpy as np
import pytest
import yaml

from atompump.io import read_dataset, read_frame, read_manifest
from atompump.stages import run_analysis, simulate_stage


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture(scope="module")
def default_config(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def _analyse(run, config, tmp):
    (tmp / "theory.json").write_text(json.dumps({"dl_um": 0.767, "chern_numbers": [1, -1, 1], "nu_theory": 1.0}))
    config = _merge(config, {"data": {"batch_size": 16}})
    summary = run_analysis(config, tmp / "analysis", manifest=run / "manifest.csv", theory_json=tmp / "theory.json")
    return summary, read_dataset(tmp / "analysis" / "com.nc")


@pytest.mark.parametrize("seed", [11, 12])
def test_injected_dynamics_are_recovered_by_the_analysis(default_config, tmp_path, seed):
    # the default (Lohse-like) chain with a shorter pump period and fewer shots, tight-binding dynamics
    config = _merge(default_config, {"simulation": {
        "seed": seed, "cycles": [0, 1, 2, 3], "repeats": 4}, "pump": {"period_ms": 150.0}})
    run = tmp_path / "run"
    truth = simulate_stage(run, simulation=config["simulation"], imaging=config["imaging"],
                           lattice=config["lattice"], atom=config["atom"], pump=config["pump"])
    assert 0.5 < truth["nu_true"] < 0.95  # 150 ms per cycle: clearly non-adiabatic
    summary, com = _analyse(run, config, tmp_path)
    assert summary["n_used"] == summary["n_shots"] == len(truth["shots"]) == 4 * (4 * 2 + 3 * 2)
    assert abs(summary["nu"] - truth["nu_true"]) < 3 * summary["nu_err"]
    assert summary["nu_err"] < 0.06  # 56 shots; scatter from the 0.3 um jitter and the drift
    x_true = np.array([s["x_true_um"] for s in truth["shots"]])
    residual = com.x_com_um.values - x_true
    # each shot's centre matches the injected one within the estimator's errors, up to one common offset
    pulls = (residual - np.median(residual)) / com.x_com_err_um.values
    assert np.all(np.abs(pulls) < 5)
    np.testing.assert_allclose(com.atom_number.values, [s["atom_number"] for s in truth["shots"]], rtol=0.05)


def test_strong_fringes_dominate_the_optical_density_noise(default_config, repo_root, tmp_path):
    strong = yaml.safe_load((repo_root / "config" / "strong_fringes.yaml").read_text())
    # the test's own seed (the fringes' random draw), not the default run's
    base = {"simulation": {"seed": 2016, "dynamics": "rigid", "cycles": [0, 1], "repeats": 3, "references": False,
                           "position_jitter_um": 0.0}}
    stds = {}
    for name, overlay in (("default", {}), ("strong", strong)):
        config = _merge(_merge(default_config, base), overlay)
        config["simulation"] = _merge(config["simulation"], base["simulation"])
        run = tmp_path / name
        simulate_stage(run, simulation=config["simulation"], imaging=config["imaging"], lattice=config["lattice"],
                       atom=config["atom"], pump=config["pump"])
        ods = []
        for rec in read_manifest(run / "manifest.csv"):
            atoms, probe, dark = (read_frame(rec.frames[k]) for k in ("atoms", "probe", "dark"))
            od = np.log((probe - dark) / np.maximum(atoms - dark, 1.0))
            ods.append(od[:, :30])  # columns far from the cloud
        stds[name] = float(np.std(np.concatenate(ods)))
    sim = strong["simulation"]["probe"]
    fringe_var = 2 * sim["fringe_amplitude"] ** 2 * (1 - np.exp(-sim["fringe_phase_jitter_rad"] ** 2 / 2))
    photon_var = stds["default"] ** 2
    assert stds["strong"] ** 2 == pytest.approx(photon_var + fringe_var, rel=0.35)
    assert stds["strong"] > 1.5 * stds["default"]


def test_fringe_removal_cleans_the_simulators_own_fringes(default_config, repo_root, tmp_path):
    """Runs without and with strong fringes (config/strong_fringes.yaml), reduced without and with fringe removal.
    Away from the cloud, the fringes double the OD noise without removal; with removal the strong-fringe run is as
    clean as the fringe-free one, and both are below the plain OD's noise (the optimal reference also averages the
    probe frame's photon noise away: ideally by 1/sqrt(2))."""
    from atompump.stages import fringe_basis_stage, reduce_batch_stage, shots_stage

    strong = yaml.safe_load((repo_root / "config" / "strong_fringes.yaml").read_text())
    base = {"simulation": {"seed": 2016, "dynamics": "rigid", "cycles": [0, 1], "repeats": 15, "references": False,
                           "position_jitter_um": 0.0, "camera": {"noise_model": "fast"}}}  # the test's own seed
    std = {}
    for fringes, overlay in (("none", {"simulation": {"probe": {"fringe_amplitude": 0.0}}}), ("strong", strong)):
        config = _merge(_merge(default_config, overlay), base)
        run = tmp_path / f"run-{fringes}"
        simulate_stage(run, simulation=config["simulation"], imaging=config["imaging"], lattice=config["lattice"],
                       atom=config["atom"], pump=config["pump"])
        for removal in (False, True):
            imaging = {**config["imaging"], "roi": [20, 60, 20, 140], "fringe_removal": removal}
            out = tmp_path / f"out-{fringes}-{removal}"
            shots_stage(out / "shots.nc", data={"manifest": str(run / "manifest.csv")}, batch_size=30)
            fringe_basis_stage(out / "shots.nc", out / "basis.nc", imaging=imaging)
            batch = reduce_batch_stage(out / "shots.nc", out / "basis.nc", out / "batch.nc", batch=0, imaging=imaging)
            away = batch.od.values[:, :, :25]  # frame columns 20-44: the cloud sits at column 80 (~12 px RMS)
            std[fringes, removal] = float(np.nanstd(away))
    assert std["strong", False] > 1.6 * std["none", False]  # the fringes dominate without removal ...
    assert std["strong", True] < 1.15 * std["none", True]  # ... and are gone with it
    assert 0.65 < std["none", True] / std["none", False] < 0.85  # probe photon noise averaged out
