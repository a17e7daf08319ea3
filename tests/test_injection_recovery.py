"""Acceptance (issue 11): a synthetic cloud injected into the committed real banik-ring-dev frames (10 shots, 300x300,
0.401 um pixels, I_sat 2410 counts; their probe and dark frames, strong real fringes) is located shot by shot with
honest errors.

The cloud is the issue's: Gaussian, 8 um x 4 um RMS (along x across the pump axis), peak OD 1, moving by 0.96 dl per
cycle with 0.25 um shot-to-shot jitter; the run is injected with ``atompump.inject.inject_run`` (split mode: 5 shots
per run without reusing a frame) and analysed with the workflow's stage functions
(``atompump.stages.run_analysis``), several seeds pooled. Targets, for the default estimator (``x_com_um``):
at least 95 % of the pumped shots measured, a per-shot RMS error against the truth of at most 0.05 um, and a
standard deviation of the pulls (x - truth - bias) / x_err between 0.8 and 1.25. (``benchmarks/real_data.py`` runs
the same on the full 23-shot set with 20 seeds.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from atompump.inject import GaussianCloud, InjectionParams, inject_run
from atompump.io import read_dataset, write_manifest

BANIK = "tests/data/real/banik-ring-dev"
SEEDS = range(6)


@pytest.fixture(scope="module")
def pooled(repo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("acceptance")
    ids = sorted(p.name[-9:-5] for p in (repo_root / BANIK).glob("Probe_*.tiff"))
    manifest = tmp / "source.csv"
    write_manifest(manifest, [{"shot": i, "atoms": str(repo_root / BANIK / f"Image_2020_11_24_{i}.tiff"),
                               "probe": str(repo_root / BANIK / f"Probe_2020_11_24_{i}.tiff"),
                               "dark": str(repo_root / BANIK / f"Background_2020_11_24_{i}.tiff"), "cycle": 0}
                              for i in ids])
    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    config["imaging"].update(pixel_size_um=0.401, isat_counts=2410.0)
    config["data"].update(on_bad_shot="reject", batch_size=16)
    config["fit"]["n_bootstrap"] = 0
    theory = tmp / "theory.json"
    theory.write_text(json.dumps({"dl_um": 0.767, "chern_numbers": [1, -1, 1], "nu_theory": 1.0}))
    from atompump.stages import run_analysis

    residuals, errors, n_pumped = [], [], 0
    for seed in SEEDS:
        params = InjectionParams(cloud=GaussianCloud(sigma_um=(8.0, 4.0), peak_od=1.0), pixel_size_um=0.401,
                                 isat_counts=2410.0, nu=0.96, cycles=(0.0, 1.0, 2.0, 3.0, 4.0), directions=(1,),
                                 position_jitter_um=0.25, seed=seed)
        truth = inject_run(tmp / f"run{seed}", data={"manifest": str(manifest)}, params=params)
        try:
            run_analysis(config, tmp / f"ana{seed}", manifest=tmp / f"run{seed}/manifest.csv", theory_json=theory)
        except ValueError:  # the fit (not assessed here) may fail when few shots are measured; com.nc is written
            pass
        com = read_dataset(tmp / f"ana{seed}/com.nc")
        x_true = {s["shot"]: s["x_true_um"] for s in truth["shots"]}
        n_pumped += len(x_true)
        for shot, x, err, used in zip(com.shot.values, com.x_com_um.values, com.x_com_err_um.values,
                                      com.used.values):
            if used and np.isfinite(x) and np.isfinite(err):
                residuals.append(x - x_true[str(shot)])
                errors.append(err)
    residuals, errors = np.array(residuals), np.array(errors)
    bias = residuals.mean() if residuals.size else np.nan
    return {"fraction": residuals.size / n_pumped, "n": residuals.size, "n_pumped": n_pumped,
            "rms": residuals.std(ddof=1) if residuals.size > 1 else np.inf,
            "pull_std": ((residuals - bias) / errors).std(ddof=1) if residuals.size > 1 else np.inf}


def test_at_least_95_percent_of_the_shots_are_measured(pooled):
    assert pooled["fraction"] >= 0.95, f"{pooled['n']} of {pooled['n_pumped']} pumped shots measured"


def test_per_shot_rms_error_against_the_truth_is_at_most_0_05_um(pooled):
    assert pooled["rms"] <= 0.05, f"per-shot RMS error {pooled['rms']:.4f} um over {pooled['n']} shots"


def test_per_shot_pulls_of_the_default_estimator_have_unit_width(pooled):
    assert 0.8 <= pooled["pull_std"] <= 1.25, f"pull std {pooled['pull_std']:.3f} over {pooled['n']} shots"
