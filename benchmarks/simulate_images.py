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

from atompump.config import fill_defaults
from atompump.simulate.imaging import CloudImager, LineProfile
from atompump.simulate.run import SimulationParams, _shot_frames
from atompump.stages.simulate import simulation_params

SHAPE = (512, 512)


def rate(params: SimulationParams, shots: int) -> float:
    rng = np.random.default_rng(1)
    x = np.arange(-20.0, 20.0, 0.767 / 16)
    profile = LineProfile.from_density(x, np.clip(1 - (x / 13.4) ** 2, 0, None) * (1.2 + np.cos(2 * np.pi * x / 0.3835)))
    pix = params.true_pixel_um
    imager = CloudImager(profile, transverse_sigma_um=6.0, psf=params.optics.psf, pixel_size_um=pix)
    probe = params.probe.beam(SHAPE, pixel_size_um=pix, rng=rng)
    phases = np.zeros(len(probe.amplitudes))
    centre = 0.5 * (SHAPE[1] - 1) * pix
    start = time.perf_counter()
    for _ in range(shots):
        phases = phases + rng.normal(0, 1.0, phases.size)
        _shot_frames(imager, probe, params, centre + rng.normal(0, 0.3), centre, 3000.0, phases,
                     phases + rng.normal(0, 0.3, phases.size), 1.0, 1.0, rng)
    return shots / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=200)
    args = parser.parse_args()
    simulation = {"image_shape": list(SHAPE), "optics": {"psf": "airy", "numerical_aperture": 0.3},
                  "probe_counts": 3000.0, "probe": {"waist_um": 60.0, "fringe_amplitude": 0.003}}
    imaging = {"pixel_size_um": 0.5, "isat_counts": 10000.0}
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
            config = fill_defaults({"simulation": {**simulation, "camera": {"noise_model": model}}, "imaging": imaging})
            r = rate(simulation_params(config), shots)
            flag = "meets" if r >= 200 else "below"
            print(f"noise model {model:8s}: {r:7.1f} shots/s of 512x512 triplets ({r / baseline:5.2f} x baseline; "
                  f"{flag} the 200/s target)")


if __name__ == "__main__":
    main()
