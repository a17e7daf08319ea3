"""Acceptance (issue 11): a synthetic cloud injected into the committed real banik-ring-dev frames (10 shots, 300x300,
0.401 um pixels, I_sat 2410 counts; their probe and dark frames, strong real fringes) is located shot by shot with
honest errors.

The cloud is the issue's: Gaussian, 8 um x 4 um RMS (along x across the pump axis), peak OD 1, moving by 0.96 dl per
cycle with 0.25 um shot-to-shot jitter; the run is injected with ``atompump.inject.inject_run`` (split mode: 5 shots
per run without reusing a frame) and analysed with the workflow's stage functions
(``atompump.stages.run_analysis``). The frames are few, so each seed places the cloud elsewhere in them: the residual
fringes under the cloud differ from seed to seed, and the pooled shots are independent samples of the error. Each
run's estimator may sit at a constant offset from the truth (the template's reference point is its own mean cloud's
first moment): offsets are removed run by run, as they cancel in the displacement per cycle.

Targets, for the default estimator (``x_com_um``): at least 95 % of the shots measured; a standard deviation of the
pulls between 0.8 and 1.25 (the quoted errors are the errors). The issue's "per-shot RMS error of at most 0.05 um"
is below the Cramér–Rao bound of these frames for that cloud: no unbiased estimator reaches it, which the last test
shows from the frames' own light and the camera's measured noise; the RMS error measured here is that of the
frames' residual fringes.
(``benchmarks/real_data.py`` runs the same on the full 23-shot set with 20 seeds.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from atompump.inject import GaussianCloud, InjectionParams, inject_run, measure_camera_noise
from atompump.stages.inject import injection_params_from_config
from atompump.io import read_dataset, write_manifest

BANIK = "tests/data/real/banik-ring-dev"
SEEDS = range(20)
PIXEL, ISAT = 0.401, 2410.0
CLOUD = GaussianCloud(sigma_um=(8.0, 4.0), peak_od=1.0)


def _params(seed: int) -> InjectionParams:
    # the cloud's place in the 120 um frames: anywhere its +-4 sigma and its 3 um of pumping stay inside
    rng = np.random.default_rng(1000 + seed)
    centre = (float(rng.uniform(36.0, 80.0)), float(rng.uniform(20.0, 100.0)))
    return injection_params_from_config(
        {"imaging": {"pixel_size_um": PIXEL, "isat_counts": ISAT},
         "injection": {"nu": 0.96, "cycles": [0, 1, 2, 3, 4], "directions": [1], "position_jitter_um": 0.25,
                       "seed": seed, "centre_um": list(centre)}}, cloud=CLOUD)


@pytest.fixture(scope="module")
def source(repo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("acceptance")
    ids = sorted(p.name[-9:-5] for p in (repo_root / BANIK).glob("Probe_*.tiff"))
    manifest = tmp / "source.csv"
    write_manifest(manifest, [{"shot": i, "atoms": str(repo_root / BANIK / f"Image_2020_11_24_{i}.tiff"),
                               "probe": str(repo_root / BANIK / f"Probe_2020_11_24_{i}.tiff"),
                               "dark": str(repo_root / BANIK / f"Background_2020_11_24_{i}.tiff"), "cycle": 0}
                              for i in ids])
    return tmp, manifest


@pytest.fixture(scope="module")
def pooled(repo_root, source):
    tmp, manifest = source
    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    config["imaging"].update(pixel_size_um=PIXEL, isat_counts=ISAT)
    config["data"].update(on_bad_shot="reject", batch_size=16)
    config["fit"]["n_bootstrap"] = 0
    theory = tmp / "theory.json"
    theory.write_text(json.dumps({"dl_um": 0.767, "chern_numbers": [1, -1, 1], "nu_theory": 1.0}))
    from atompump.stages import run_analysis

    residuals, errors, n_shots = [], [], 0
    for seed in SEEDS:
        truth = inject_run(tmp / f"run{seed}", data={"manifest": str(manifest)}, params=_params(seed))
        run_analysis(config, tmp / f"ana{seed}", manifest=tmp / f"run{seed}/manifest.csv", theory_json=theory)
        com = read_dataset(tmp / f"ana{seed}/com.nc")
        x_true = {s["shot"]: s["x_true_um"] for s in truth["shots"]}
        n_shots += len(x_true)
        run = [(x - x_true[str(shot)], err) for shot, x, err, used in
               zip(com.shot.values, com.x_com_um.values, com.x_com_err_um.values, com.used.values)
               if used and np.isfinite(x) and np.isfinite(err)]
        if run:
            d, e = np.array(run).T
            residuals += list(d - d.mean())  # the run's own constant offset removed
            errors += list(e * np.sqrt(1 - 1 / d.size))  # ... which takes one degree of freedom from its shots
    residuals, errors = np.array(residuals), np.array(errors)
    return {"fraction": residuals.size / n_shots, "n": residuals.size, "n_shots": n_shots,
            "rms": float(np.sqrt(np.mean(residuals**2))), "rms_quoted": float(np.sqrt(np.mean(errors**2))),
            "pull_std": float(np.sqrt(np.mean((residuals / errors) ** 2)))}


def test_at_least_95_percent_of_the_shots_are_measured(pooled):
    assert pooled["fraction"] >= 0.95, f"{pooled['n']} of {pooled['n_shots']} shots measured"


def test_per_shot_pulls_of_the_default_estimator_have_unit_width(pooled):
    assert 0.8 <= pooled["pull_std"] <= 1.25, f"pull std {pooled['pull_std']:.3f} over {pooled['n']} shots"


def test_per_shot_rms_error_against_the_truth(pooled):
    # the residual fringes of these frames, not the estimator, set the error: well above the bound of the next test
    # (~0.1 um), and what the quoted errors say (the pulls above)
    assert 0.2 < pooled["rms"] < 2.0, pooled


def test_the_issue_target_of_0_05_um_per_shot_is_below_the_cramer_rao_bound_of_these_frames(repo_root, source):
    """The bound of the cloud's centre from every pixel of one shot, under the photon and read noise alone (no
    fringes) of these frames: their probe light (the median of the frames above the dark level), the camera's gain
    and read noise measured by photon transfer on the same frames, the saturation term of the OD, and the same
    camera noise in the reference. With residual fringes the achievable error is larger still."""
    from atompump.com import cramer_rao_bound, numerical_jacobian
    from atompump.io.shots import read_shot, run_shots

    _, manifest = source
    noise = measure_camera_noise({"manifest": str(manifest)}, _params(0))
    assert 18.0 < noise.gain < 23.0  # counts per photoelectron (EMCCD): photon transfer on these frames
    frames = read_shot(run_shots({"manifest": str(manifest)})[0])
    light = float(np.median(frames.probe - frames.dark))
    yy, xx = np.mgrid[-40:41, -60:61] * PIXEL

    def od(p):
        x0, y0, amplitude, offset = p
        return amplitude * np.exp(-0.5 * ((xx - x0) / 8.0) ** 2 - 0.5 * ((yy - y0) / 4.0) ** 2) + offset

    def variance(od_values):
        # OD = ln(I_in/I_out) + (I_in - I_out)/I_sat: both intensities with photon and read noise
        i_out = light * np.exp(-od_values)  # (the saturation term lowers the absorption: this favours the bound)
        r2 = noise.read_noise_counts**2
        return ((noise.gain * i_out + r2) * (1 / i_out + 1 / ISAT) ** 2
                + (noise.gain * light + r2) * (1 / light + 1 / ISAT) ** 2)

    params = [0.0, 0.0, 1.0, 0.0]
    bound = cramer_rao_bound(numerical_jacobian(od, params), variance(od(params)).ravel(), index=0)
    assert bound > 0.05, f"the bound {bound:.3f} um is below the issue's target"
    assert 0.08 < bound < 0.15  # about 0.1 um: twice the target, before any residual fringe
