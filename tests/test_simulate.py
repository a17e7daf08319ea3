"""Simulated imaging chain and runs: closed forms of each step, and the run written in the lab's format."""

import json

import numpy as np
import pytest

from atompump.io import read_frame, read_manifest
from atompump.simulate import SimulationParams, camera_counts, design_run, gaussian_column_density, simulate_run
from atompump.simulate.run import planned_shot_count


def test_column_density_integrates_to_atom_number_and_centre():
    density = gaussian_column_density((80, 120), atom_number=2500.0, centre_um=(30.3, 20.7), sigma_um=(4.0, 3.0),
                                      pixel_size_um=0.5)
    assert density.sum() * 0.25 == pytest.approx(2500.0, rel=1e-9)
    x = np.arange(120) * 0.5
    y = np.arange(80) * 0.5
    assert (density.sum(0) * x).sum() / density.sum() == pytest.approx(30.3, abs=1e-6)
    assert (density.sum(1) * y).sum() / density.sum() == pytest.approx(20.7, abs=1e-6)  # frame truncates 7-sigma tails


@pytest.mark.parametrize("gain, read_noise", [(1.0, 0.0), (2.5, 6.0)])
def test_camera_noise_variance_is_gain_times_mean_plus_read_noise(gain, read_noise):
    rng = np.random.default_rng(7)
    mean = 1500.0
    counts = camera_counts(np.full((400, 400), mean), rng=rng, gain=gain, offset_counts=200.0,
                           read_noise_counts=read_noise).astype(float)
    assert counts.mean() == pytest.approx(mean + 200.0, rel=2e-3)
    expected_var = gain * mean + read_noise**2 + 1.0 / 12.0
    assert counts.var() == pytest.approx(expected_var, rel=0.02)


def test_design_interleaves_every_cycle_and_direction():
    params = SimulationParams(cycles=(0, 1, 2), directions=(1, -1), repeats=3)
    design = design_run(params)
    assert len(design) == 18 == planned_shot_count({"cycles": [0, 1, 2], "directions": [1, -1], "repeats": 3})
    assert [(d["cycle"], d["direction"]) for d in design[:6]] == [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]
    assert len({d["shot"] for d in design}) == 18


def test_simulated_run_is_readable_and_truthful(tmp_path):
    params = SimulationParams(cycles=(0, 2), directions=(1, -1), repeats=2, image_shape=(32, 64),
                              position_jitter_um=0.0, nu_true=0.9)
    truth = simulate_run(tmp_path, params)
    records = read_manifest(tmp_path / "manifest.csv")
    assert [r.shot for r in records] == [s["shot"] for s in truth["shots"]]
    on_disk = json.loads((tmp_path / "truth.json").read_text())
    assert on_disk["nu_true"] == 0.9
    for rec, shot in zip(records, on_disk["shots"]):
        expected = 31.5 + rec.direction * 0.9 * params.dl_um * rec.cycle
        assert shot["x_true_um"] == pytest.approx(expected)
        frame = read_frame(rec.frames["atoms"])
        assert frame.shape == (32, 64)
    # same seed, same bytes
    other = tmp_path / "again"
    simulate_run(other, params)
    for name in ("manifest.csv", "truth.json", "frames/s00003_atoms.tif"):
        assert (tmp_path / name).read_bytes() == (other / name).read_bytes()


def test_bad_simulation_parameters():
    with pytest.raises(ValueError, match="directions must be"):
        SimulationParams(directions=(2,))
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        SimulationParams(repeats=0)
