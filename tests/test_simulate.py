"""Simulated imaging chain and runs: closed forms of each step, and the run written in the lab's format."""

import json

import numpy as np
import pytest
import xarray as xr

from atompump.config import config_keys, fill_defaults
from atompump.errors import ConfigError, ParameterError
from atompump.io import read_frame, read_manifest
from atompump.simulate import camera_counts, design_run, gaussian_column_density, simulate_run
from atompump.stages.simulate import DYNAMICS_KEYS, dynamics_params, planned_shot_count, simulation_params

#: a quiet run: a rigid cloud, no drift, no fringes, perfect resolution, 1 um pixels, no saturation (the closed
#: forms below hold exactly)
QUIET = {"simulation": {"dynamics": "rigid", "references": False, "order": "interleaved", "transverse_jitter_um": 0.0,
                        "drift": {"um_per_shot": 0.0, "amplitude_um": 0.0},
                        "optics": {"psf": "none"},
                        "probe": {"waist_um": None, "power_jitter": 0.0, "fringe_amplitude": 0.0}},
         "imaging": {"pixel_size_um": 1.0, "isat_counts": None}}


def _merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def sim_params(simulation=None, *, base=QUIET, **sections):
    """SimulationParams through the configuration boundary: a partial config (``base`` changed by ``simulation``
    and the other ``sections``), the rest the schema's defaults."""
    return simulation_params(fill_defaults(_merged(base, {"simulation": simulation or {}, **sections})))


def dyn_params(model="tight_binding", *, pump=None, numerics=None, **simulation):
    """DynamicsParams through the configuration boundary: the sections ``pump``, ``simulation.pump`` (``numerics``)
    and ``simulation``'s other keys."""
    simulation = {"dynamics": model, "pump": numerics or {}, **simulation}
    return dynamics_params(fill_defaults({"simulation": simulation, "pump": pump or {}}))


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
    params = sim_params({"cycles": [0, 1, 2], "directions": [1, -1], "repeats": 3})
    design = design_run(params)
    assert len(design) == 18 == planned_shot_count({"cycles": [0, 1, 2], "directions": [1, -1], "repeats": 3,
                                                           "references": False})
    assert [(d["cycle"], d["direction"]) for d in design[:6]] == [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]
    assert len({d["shot"] for d in design}) == 18


def test_simulated_run_is_readable_and_truthful(tmp_path):
    params = sim_params({"cycles": [0, 2], "directions": [1, -1], "repeats": 2, "image_shape": [32, 64],
                         "position_jitter_um": 0.0, "nu_true": 0.9})
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
    with pytest.raises(ConfigError, match=r"^config key 'simulation.directions': simulation.directions must be a "
                                          r"non-empty list of \+1/-1, got \[2\]$"):
        sim_params({"directions": [2]})
    with pytest.raises(ConfigError, match="^config key 'simulation.repeats': simulation.repeats must be >= 1"):
        sim_params({"repeats": 0})


# ----------------------------------------------------------------------------------------------- run design
from atompump.simulate.design import design_shots, shot_count  # noqa: E402


@pytest.mark.parametrize("order", ["interleaved", "random"])
def test_design_with_references_pairs_every_pumped_shot(order):
    design = design_shots(cycles=(0, 1, 2.5), directions=(1, -1), repeats=3, references=True, order=order, seed=7)
    assert len(design) == shot_count(cycles=(0, 1, 2.5), directions=(1, -1), repeats=3, references=True) == 30
    assert [d["order"] for d in design] == list(range(30))
    assert [d["shot"] for d in design] == [f"s{i:05d}" for i in range(30)]
    pumped = [d for d in design if not d["reference"]]
    refs = [d for d in design if d["reference"]]
    assert len(pumped) == 18 and len(refs) == 12
    assert all(r["cycle"] == 0.0 and r["sequence_cycles"] > 0 for r in refs)
    keys = lambda d: (d["repeat"], d["direction"], d["sequence_cycles"])  # noqa: E731
    assert sorted(map(keys, refs)) == sorted(keys(p) for p in pumped if p["cycle"] > 0)
    if order == "interleaved":  # each reference right after its pumped partner
        for i, d in enumerate(design):
            if d["reference"]:
                assert keys(design[i - 1]) == keys(d) and not design[i - 1]["reference"]


def test_random_order_is_seeded():
    a = design_shots(cycles=(0, 1), directions=(1, -1), repeats=4, order="random", seed=1)
    b = design_shots(cycles=(0, 1), directions=(1, -1), repeats=4, order="random", seed=1)
    c = design_shots(cycles=(0, 1), directions=(1, -1), repeats=4, order="random", seed=2)
    assert a == b and a != c
    assert sorted((d["cycle"], d["direction"]) for d in a) == sorted((d["cycle"], d["direction"]) for d in c)
    with pytest.raises(ParameterError, match="^order: 'shuffled' is not allowed"):  # the library's own parameter
        design_shots(cycles=(0, 1), directions=(1,), repeats=1, order="shuffled")


def test_planned_shot_count_counts_references():
    assert planned_shot_count({"cycles": [0, 1, 2], "directions": [1, -1], "repeats": 2, "references": True}) == 20


# ----------------------------------------------------------------------------------------------- runs and formats
@pytest.fixture(scope="module")
def tb_run(tmp_path_factory):
    """A small run with tight-binding dynamics, references, random order, drift and a miscalibrated magnification."""
    out = tmp_path_factory.mktemp("tb_run")
    params = sim_params(
        {"cycles": [0.0, 1.0, 2.0], "repeats": 2, "references": True, "order": "random", "seed": 5,
         "dynamics": "tight_binding", "image_shape": [48, 96], "position_jitter_um": 0.2,
         "optics": {"magnification": 25.0, "camera_pixel_um": 13.0, "psf": "airy"},
         "drift": {"um_per_shot": 0.01, "amplitude_um": 0.05, "period_shots": 50},
         "probe": {"waist_um": 60.0, "fringe_amplitude": 0.01}},
        pump={"period_ms": 60.0, "atoms_per_tube": 12, "trap_hz": 60.0},
        imaging={"pixel_size_um": 0.5, "isat_counts": 8000.0})
    return out, params, simulate_run(out, params)


def test_truth_defines_nu_true_as_the_noiseless_least_squares_slope(tb_run):
    out, params, truth = tb_run
    table = {(e["cycle"], e["direction"]): e["displacement_um"] for e in truth["dynamics"]["centre_of_mass_um"]}
    lever = np.array([s["direction"] * s["cycle"] * params.dl_um for s in truth["shots"]])
    x = np.array([table[s["cycle"], s["direction"]] for s in truth["shots"]])
    assert truth["nu_true"] == pytest.approx(np.polyfit(lever, x, 1)[0], rel=1e-12)
    assert 0.2 < truth["nu_true"] < 1.0  # 60 ms per cycle: far from adiabatic
    dyn = xr.load_dataset(out / "dynamics.nc")
    assert set(dyn.direction.values) == {1, -1} and list(dyn.cycle.values) == [0.0, 0.5, 1.0, 1.5, 2.0]
    for shot in truth["shots"]:
        if shot["reference"]:
            assert shot["displacement_um"] == 0.0 and shot["cycle"] == 0.0
        # x_true = frame centre + pumped displacement + drift + jitter, in true object-plane um
        centre = 0.5 * (96 - 1) * 13.0 / 25.0
        assert shot["x_true_um"] == pytest.approx(centre + shot["displacement_um"] + shot["drift_um"] + shot["jitter_um"])
        order = shot["order"]
        assert shot["drift_um"] == pytest.approx(0.01 * order + 0.05 * np.sin(2 * np.pi * order / 50.0))
    assert truth["true_pixel_size_um"] == pytest.approx(0.52)
    recorded = truth["params"]  # every parameter, grouped as the config
    assert recorded["design"]["seed"] == 5 and recorded["dynamics"]["pump"]["period_ms"] == 60.0
    assert recorded["camera"]["noise_model"] == "poisson" and recorded["camera"]["read_noise_counts"] == 4.0
    assert recorded["probe"]["fringe_amplitude"] == 0.01 and recorded["drift"]["um_per_shot"] == 0.01
    assert recorded["optics"]["psf"] == {"kind": "airy", "wavelength_um": pytest.approx(0.780241), "numerical_aperture": 0.3}


def test_tiff_run_manifest_records_order_references_and_repeats(tb_run):
    out, params, truth = tb_run
    records = read_manifest(out / "manifest.csv")
    assert [r.shot for r in records] == [s["shot"] for s in truth["shots"]]
    assert [r.order for r in records] == list(range(len(records)))
    assert [r.sequence_cycles for r in records] == [s["sequence_cycles"] for s in truth["shots"]]
    assert [r.reference for r in records] == [s["reference"] for s in truth["shots"]]
    assert [r.repeat for r in records] == [s["repeat"] for s in truth["shots"]]
    frames = {name: read_frame(records[0].frames[name]) for name in ("atoms", "probe", "dark")}
    assert all(f.shape == (48, 96) for f in frames.values())
    assert frames["dark"].mean() == pytest.approx(100.0, abs=1.0)
    assert frames["probe"].max() > frames["atoms"].max() - 500  # the cloud absorbs


def test_hdf5_run_follows_the_labscript_layout(tmp_path):
    import h5py

    from atompump.io.shots import read_shot, run_shots

    params = sim_params({"cycles": [0.0, 1.0], "repeats": 1, "references": True, "image_shape": [24, 40],
                         "format": "hdf5", "cloud_sigma_um": [3.0, 3.0]})
    truth = simulate_run(tmp_path, params)
    manifest = (tmp_path / "manifest.csv").read_text().splitlines()
    assert manifest[0] == "shot,file,cycle,direction,reference,repeat,order,sequence_cycles"
    assert len(manifest) == 1 + len(truth["shots"]) == 7
    for shot in truth["shots"]:
        path = tmp_path / "frames" / f"{shot['shot']}.h5"
        with h5py.File(path, "r") as f:
            assert sorted(f["images/side/absorption"]) == ["atoms", "dark", "probe"]
            assert f["images/side/absorption/atoms"].dtype == np.uint16
            assert f.attrs["run number"] == shot["order"]
    # read as the workflow reads a folder of labscript shot files: the globals become each shot's protocol
    records = run_shots({"shots": str(tmp_path / "frames" / "*.h5"),
                         "frames": {"orientation": "side", "label": "absorption"}})
    assert [r.shot for r in records] == [s["shot"] for s in truth["shots"]]
    for record, shot in zip(records, truth["shots"]):
        assert record.problem == "" and read_shot(record).atoms.shape == (24, 40)
        assert (record.cycle, record.direction, record.reference, record.order, record.repeat,
                record.sequence_cycles) == (shot["cycle"], shot["direction"], shot["reference"], shot["order"],
                                            shot["repeat"], shot["sequence_cycles"])
    again = tmp_path / "again"
    simulate_run(again, params)
    assert (tmp_path / "frames/s00001.h5").read_bytes() == (again / "frames/s00001.h5").read_bytes()


def test_bad_run_parameters():
    with pytest.raises(ConfigError, match="^config key 'simulation.order': simulation.order must be one of"):
        sim_params({"order": "sorted"})
    with pytest.raises(ConfigError, match="^config key 'simulation.format': simulation.format must be one of"):
        sim_params({"format": "fits"})
    with pytest.raises(ConfigError, match="^config key 'simulation.dynamics': simulation.dynamics must be one of"):
        dyn_params("semiclassical")
    from atompump.simulate.run import pump_dynamics

    small_box = dyn_params(pump={"atoms_per_tube": 6, "period_ms": 100.0, "trap_hz": 20.0}, numerics={"cells": 12})
    with pytest.raises(ParameterError, match="reaches the edge of the simulation grid.*raise cells$"):
        pump_dynamics(small_box, cycles=(0.0, 4.0), directions=(1,))
    with pytest.raises(ConfigError, match="simulation.pump.cells"), config_keys(DYNAMICS_KEYS):  # the boundary
        pump_dynamics(dyn_params(pump={"atoms_per_tube": 10}, numerics={"cells": 8}), cycles=(0.0, 1.0),
                      directions=(1,))


def test_continuum_run_uses_the_superlattice_dynamics(tmp_path):
    params = sim_params({"cycles": [0.0, 1.0], "repeats": 1, "image_shape": [40, 80], "optics": {"psf": "gaussian"},
                         "camera": {"noise_model": "none"}, "dynamics": "continuum"},
                        imaging={"pixel_size_um": 0.5},
                        pump={"period_ms": 100.0, "atoms_per_tube": 6, "cloud": "tube", "trap_hz": 50.0})
    truth = simulate_run(tmp_path, params)
    dyn = xr.load_dataset(tmp_path / "dynamics.nc")
    assert dyn.attrs["model"] == "continuum" and dyn.sizes["x"] == 34 * 16  # automatic box: 34 cells
    # 100 ms per cycle is far from adiabatic for the 0.11 Er,s gap; both directions alike
    per_dir = truth["dynamics"]["displacement_per_cycle_dl"]
    assert 0.0 < per_dir["1"] < 0.8 and per_dir["-1"] == pytest.approx(-per_dir["1"], abs=0.05)
    assert truth["nu_true"] == pytest.approx((per_dir["1"] - per_dir["-1"]) / 2, abs=0.02)


def test_tight_binding_couplings_are_checked_against_the_lattice(caplog):
    from atompump.simulate.run import _check_couplings, _model

    given = {"couplings": "given"}
    lohse = dyn_params(tight_binding=given)
    assert _check_couplings(_model(lohse, 1.0), lohse.lattice) < 0.01  # defaults match Vs 10, Vl 20
    deep = dynamics_params(fill_defaults({"simulation": {"dynamics": "tight_binding", "tight_binding": given},
                                          "lattice": {"Vs_Er": 16.0}}))
    with caplog.at_level("WARNING"):
        assert _check_couplings(_model(deep, 1.0), deep.lattice) > 0.1
    assert "set simulation.tight_binding" in caplog.text


def test_jitter_drift_and_atom_number_fluctuations_have_the_configured_statistics(tmp_path):
    """500 shots: the position jitter is N(0, 0.3 um), the atom number N(3000, 5 %), the drift follows
    per_shot * order + amplitude * sin(2 pi order / period), and the true centre is their sum on the pumped motion."""
    from atompump.simulate.run import cloud_drift_um

    params = sim_params({"cycles": [0, 1], "directions": [1, -1], "repeats": 125, "image_shape": [16, 32],
                         "position_jitter_um": 0.3, "atom_number_jitter": 0.05,
                         "drift": {"um_per_shot": 0.001, "amplitude_um": 0.2, "period_shots": 40},
                         "camera": {"noise_model": "fast"}, "nu_true": 0.9, "cloud_sigma_um": [3.0, 3.0], "seed": 11})
    truth = simulate_run(tmp_path, params)
    shots = truth["shots"]
    assert len(shots) == 500
    jitter = np.array([s["jitter_um"] for s in shots])
    atoms = np.array([s["atom_number"] for s in shots])
    # sample standard deviations within 4 standard errors (sigma / sqrt(2 n))
    assert abs(jitter.std(ddof=1) - 0.3) < 4 * 0.3 / np.sqrt(1000) and abs(jitter.mean()) < 4 * 0.3 / np.sqrt(500)
    assert abs(atoms.std(ddof=1) / 3000 - 0.05) < 4 * 0.05 / np.sqrt(1000)
    assert abs(atoms.mean() - 3000) < 4 * 150 / np.sqrt(500)
    order = np.array([s["order"] for s in shots])
    np.testing.assert_allclose([s["drift_um"] for s in shots],
                               0.001 * order + 0.2 * np.sin(2 * np.pi * order / 40), atol=1e-12)
    np.testing.assert_allclose([s["drift_um"] for s in shots],
                               cloud_drift_um(order, per_shot_um=0.001, amplitude_um=0.2, period_shots=40))
    centre = 15.5 * params.true_pixel_um
    expected = [centre + s["direction"] * 0.9 * params.dl_um * s["cycle"] + s["drift_um"] + s["jitter_um"]
                for s in shots]
    np.testing.assert_allclose([s["x_true_um"] for s in shots], expected, atol=1e-9)


def test_the_simulators_errors_name_no_config_key():
    """Issue 15, item 1: simulate/* raise errors naming their own parameters; only the configuration boundary
    (atompump/stages/simulate.py, config_keys) names config keys."""
    import ast
    import re
    from pathlib import Path

    import atompump.simulate as package

    key = re.compile(r"config|\b(simulation|imaging|pump|lattice|theory)\.\w")
    for name in ("run.py", "design.py", "formats.py", "imaging.py"):
        tree = ast.parse((Path(package.__file__).parent / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise):
                texts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                assert not any(key.search(t) for t in texts), f"simulate/{name} line {node.lineno}: {texts}"
