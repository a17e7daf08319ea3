"""Benchmark: simulated absorption-image triplets (atoms, probe, dark) per second, 512 x 512, one core, disk
excluded.

Each shot runs the whole per-shot imaging chain of :func:`atompump.simulate.run.simulate_run` -- Airy-blurred,
pixel-averaged column density of a dynamics-like cloud, saturated absorption, probe envelope with fringes whose
phases change, camera noise on three frames -- for each camera noise model. The baseline, measured in the same
run, is the rate of drawing numpy's exact Poisson photon noise alone for the three frames.

    python benchmarks/simulate_images.py [--shots 200]

Target: at least 200 shots per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from atompump.simulate.imaging import CloudImager, LineProfile, PointSpreadFunction, ProbeBeam
from atompump.simulate.run import SimulationParams, _shot_frames

SHAPE = (512, 512)


def rate(params: SimulationParams, shots: int) -> float:
    rng = np.random.default_rng(1)
    x = np.arange(-20.0, 20.0, 0.767 / 16)
    profile = LineProfile.from_density(x, np.clip(1 - (x / 13.4) ** 2, 0, None) * (1.2 + np.cos(2 * np.pi * x / 0.3835)))
    psf = PointSpreadFunction(params.psf, params.imaging_wavelength_um, params.numerical_aperture)
    imager = CloudImager(profile, transverse_sigma_um=6.0, psf=psf, pixel_size_um=params.pixel_size_um)
    probe = ProbeBeam.with_random_fringes(SHAPE, peak_counts=params.probe_counts, waist_px=120.0,
                                          amplitude=params.fringe_amplitude, count=params.fringe_count,
                                          period_px=params.fringe_period_px, rng=rng)
    cam = dict(rng=rng, gain=params.camera_gain, offset_counts=params.dark_offset_counts,
               read_noise_counts=params.read_noise_counts, excess_noise_factor=params.excess_noise_factor,
               noise_model=params.noise_model, full_well_counts=params.full_well_counts)
    phases = np.zeros(len(probe.amplitudes))
    centre = 0.5 * (SHAPE[1] - 1) * params.pixel_size_um
    start = time.perf_counter()
    for _ in range(shots):
        phases = phases + rng.normal(0, 1.0, phases.size)
        _shot_frames(imager, probe, params, centre + rng.normal(0, 0.3), centre, 3000.0, phases,
                     phases + rng.normal(0, 0.3, phases.size), 1.0, 1.0, cam)
    return shots / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=200)
    args = parser.parse_args()
    base = dict(image_shape=SHAPE, pixel_size_um=0.5, psf="airy", numerical_aperture=0.3, probe_counts=3000.0,
                fringe_amplitude=0.003, isat_counts=10000.0)
    with threadpool_limits(limits=1):
        rng = np.random.default_rng(2)
        mean = np.full(SHAPE, 3000.0)
        start = time.perf_counter()
        for _ in range(20):
            for _frame in range(3):
                rng.poisson(mean)
        baseline = 20 / (time.perf_counter() - start)
        print(f"baseline: numpy Poisson noise alone for three 512x512 frames: {baseline:7.1f} triplets/s")
        for model in ("fast", "gaussian", "poisson"):
            shots = args.shots if model != "poisson" else max(args.shots // 4, 10)
            r = rate(SimulationParams(noise_model=model, **base), shots)
            flag = "meets" if r >= 200 else "below"
            print(f"noise model {model:8s}: {r:7.1f} shots/s of 512x512 triplets ({r / baseline:5.2f} x baseline; "
                  f"{flag} the 200/s target)")


if __name__ == "__main__":
    main()
