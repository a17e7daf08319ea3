"""Injection into a lab's own frames (atompump.inject, atompump.camera, atompump.recovery): the camera's noise
measured by photon transfer, the absorbed frames' transmission and noise, the truth, exact recovery without noise,
the workflow with data.source: injected, and the error paths. Real frames: tests/data/real (see their READMEs)."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import yaml

from atompump.camera import CameraNoise, estimate_camera_noise, read_noise_from_darks
from atompump.config import check_config, load_schema
from atompump.errors import ConfigError, InputDataError, ParameterError
from atompump.inject import (
    GaussianCloud,
    ThomasFermiCloud,
    absorb,
    first_moments_um,
    inject_run,
    load_od_image_cloud,
)
from atompump.io import read_frame, write_manifest
from atompump.io.formats import open_image
from atompump.simulate.imaging import camera_counts, dark_frame, transmitted_intensity

BANIK = "tests/data/real/banik-ring-dev"
OQTANT = "tests/data/real/oqtant-insitu"
PIXEL = 0.401  # um, banik-ring-dev
ISAT = 2410.0  # counts, banik-ring-dev
# the 3x3 high-pass's output is correlated between neighbours: the variance of a sample variance of N of its values
# is 2 sigma^4 / N times sum(rho^2) over lags = 1 + 4/36 + 4 (14/72)^2 + 4/24^2 + 8/36^2 + 4/72^2 (exact)
HIGHPASS_CORRELATION = 1 + 4 / 36 + 4 * (14 / 72) ** 2 + 4 / 24**2 + 8 / 36**2 + 4 / 72**2


def banik_ids(repo_root):
    return sorted(p.name[-9:-5] for p in (repo_root / BANIK).glob("Probe_*.tiff"))


def banik_frame(repo_root, kind, shot):
    return read_frame(repo_root / BANIK / f"{kind}_2020_11_24_{shot}.tiff").astype(float)


@pytest.fixture(scope="module")
def banik_manifest(repo_root, tmp_path_factory):
    """The 10 committed banik-ring-dev shots as a lab's run (cycle labels are irrelevant for a source run)."""
    path = tmp_path_factory.mktemp("source") / "manifest.csv"
    write_manifest(path, [{"shot": i, "atoms": str(repo_root / BANIK / f"Image_2020_11_24_{i}.tiff"),
                           "probe": str(repo_root / BANIK / f"Probe_2020_11_24_{i}.tiff"),
                           "dark": str(repo_root / BANIK / f"Background_2020_11_24_{i}.tiff"), "cycle": 0}
                          for i in banik_ids(repo_root)])
    return path


def synthetic_light(shape, rng, *, phase):
    """A probe beam (Gaussian envelope 600-6000 counts) with slow fringes of the given phase, counts above dark."""
    yy, xx = np.indices(shape, dtype=float)
    envelope = 6000.0 * np.exp(-((xx - shape[1] / 2) ** 2 + (yy - shape[0] / 2) ** 2) / (2 * 90.0**2)) + 600.0
    return envelope * (1.0 + 0.03 * np.sin(2 * np.pi * xx / 40.0 + phase) + 0.02 * np.cos(2 * np.pi * yy / 55.0))


# ----------------------------------------------------------------------------------------------- camera noise
@pytest.mark.parametrize("gain, excess, read", [(4.0, 1.0, 6.0), (3.0, 2.0, 10.0)])
def test_photon_transfer_recovers_gain_and_read_noise(gain, excess, read):
    rng = np.random.default_rng(7)
    shape = (160, 200)
    cam = dict(gain=gain, offset_counts=500.0, read_noise_counts=read, excess_noise_factor=excess, rng=rng)
    pairs = [(camera_counts(synthetic_light(shape, rng, phase=0.3 * k), **cam),
              camera_counts(1.01 * synthetic_light(shape, rng, phase=0.3 * k + 0.4), **cam)) for k in range(6)]
    darks = [dark_frame(shape, **cam) for _ in range(4)]
    noise = estimate_camera_noise(pairs, darks)
    # the effective gain includes the EMCCD's excess-noise factor; counts are rounded (+1/12 to the read variance)
    read_eff = math.sqrt(read**2 + 1 / 12)
    n_dark = 3 * shape[0] * shape[1]
    assert noise.read_noise_counts == pytest.approx(read_eff, abs=5 * read_eff / math.sqrt(2 * n_dark))
    # median of 16 bins of one pooled sample: relative error 1.2533 sqrt(2 sum(rho^2) / N)
    n = len(pairs) * (shape[0] - 4) * (shape[1] - 4)
    tolerance = 5 * 1.2533 * math.sqrt(2 * HIGHPASS_CORRELATION / n)
    assert noise.gain == pytest.approx(excess * gain, rel=tolerance)
    assert noise.gain_err < tolerance * excess * gain
    # a line with a free intercept through the bins has the same slope (the photon-transfer curve is straight)
    assert noise.free_slope == pytest.approx(excess * gain, rel=3 * tolerance)
    # single frames: the same here (no static pixel-scale structure in these synthetic frames)
    single = estimate_camera_noise([a for a, _ in pairs], darks, method="highpass")
    assert single.gain == pytest.approx(excess * gain, rel=2 * tolerance)


def test_camera_noise_of_the_real_banik_frames(repo_root):
    # pairs of probe frames of consecutive shots (the split mode's measurement): Andor EMCCD, ~20 counts per
    # photoelectron effective (the full 23-shot set gives 20.3 from atoms/probe pairs over the atom-free rows,
    # 20.7 from probe pairs; a variance over the mean that includes the dark offset of ~492 counts gives ~18)
    ids = banik_ids(repo_root)
    probes = [banik_frame(repo_root, "Probe", i) for i in ids]
    darks = [banik_frame(repo_root, "Background", i) for i in ids]
    noise = estimate_camera_noise(list(zip(probes[0::2], probes[1::2])), darks)
    assert 19.0 < noise.gain < 22.5
    assert noise.gain_err < 0.3
    assert 10.0 < noise.read_noise_counts < 12.0 and 480 < noise.offset_counts < 505
    # single frames keep the static fine structure (speckle, pixel response): an upper bound, far above
    single = estimate_camera_noise(probes[:4], darks, method="highpass")
    assert single.gain > 1.15 * noise.gain


def test_read_noise_keeps_the_real_heavy_tail(repo_root):
    # EMCCD dark frames have a long tail (clock-induced charge); it is real noise and counts in the read noise
    darks = [banik_frame(repo_root, "Background", i) for i in banik_ids(repo_root)[:4]]
    offset, read = read_noise_from_darks(darks)
    diff = (darks[1] - darks[0]).ravel()
    assert read == pytest.approx(np.std(diff) / math.sqrt(2), rel=0.03)
    with pytest.raises(ValueError, match="at least one dark frame"):
        read_noise_from_darks([])
    with pytest.raises(ValueError, match="only .* usable pixels"):
        estimate_camera_noise([(darks[0][:20, :20], darks[1][:20, :20])], [d[:20, :20] for d in darks])


# ----------------------------------------------------------------------------------------------- absorption
def test_absorbed_frame_has_the_saturated_transmission_and_the_photon_noise_of_a_dimmer_exposure():
    rng = np.random.default_rng(11)
    gain, read, level, intensity, od = 5.0, 8.0, 400.0, 5000.0, 0.8
    shape = (300, 300)
    camera = CameraNoise(gain=gain, read_noise_counts=read)
    light = camera_counts(np.full(shape, intensity), rng=rng, gain=gain, offset_counts=level, read_noise_counts=read)
    atoms, n_excess = absorb(light, np.full(shape, od), dark_level=level, camera=camera, alpha=1.3,
                             isat_counts=ISAT, rng=rng)
    assert n_excess == 0
    t = transmitted_intensity(np.array([intensity]), np.array([od]), alpha=1.3, isat_counts=ISAT)[0] / intensity
    inner = atoms[2:-2, 2:-2] - level
    n = inner.size
    # mean: the saturated Beer-Lambert transmission of the mean light
    expected_var = gain * t * intensity + read**2 + (1 + t * t) / 12  # both roundings
    assert inner.mean() == pytest.approx(t * intensity, abs=5 * math.sqrt(expected_var / n))
    # variance: that of a real exposure of T * I (photon and read noise), within 5 sigma of a sample variance
    assert inner.var(ddof=1) == pytest.approx(expected_var, rel=5 * math.sqrt(2 / n))
    # no atoms: the frame is untouched
    same, _ = absorb(light, np.zeros(shape), dark_level=level, camera=camera, rng=rng)
    np.testing.assert_array_equal(same, light)


def test_added_noise_on_a_real_frame(repo_root):
    # on a real probe frame: what is added on top of T (L - B) is zero-mean with variance g (T - T^2) I + r^2 (1 - T^2)
    rng = np.random.default_rng(3)
    light = banik_frame(repo_root, "Probe", "0149")
    level = banik_frame(repo_root, "Background", "0149").mean()
    camera = CameraNoise(gain=20.3, read_noise_counts=10.9)
    od = np.zeros_like(light)
    od[100:200, 100:200] = 0.6
    noisy, _ = absorb(light, od, dark_level=level, camera=camera, isat_counts=ISAT, rng=rng)
    clean, _ = absorb(light, od, dark_level=level, camera=camera, isat_counts=ISAT, rng=None)
    from scipy.ndimage import convolve

    ring = np.ones((3, 3)) / 8
    ring[1, 1] = 0
    mean_in = convolve(light - level, ring, mode="reflect")[100:200, 100:200]  # the pixel's 8 neighbours

    def out(i):
        return transmitted_intensity(i, np.full_like(i, 0.6), isat_counts=ISAT)

    t = out(mean_in) / mean_in
    slope = (out(mean_in + 0.5) - out(mean_in - 0.5))  # dI_out / dI_in, numerically
    np.testing.assert_allclose(clean[100:200, 100:200], np.rint(level + t * (light[100:200, 100:200] - level)))
    added = (noisy - clean)[100:200, 100:200]
    photon = camera.gain * mean_in + camera.read_noise_counts**2
    expected = (camera.gain * (t - t * t) * mean_in + camera.read_noise_counts**2 * (1 - t * t)
                - (slope - t) ** 2 * photon / 8 + 1 / 6)
    z = added / np.sqrt(expected)
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert z.var() == pytest.approx(1.0, rel=5 * math.sqrt(2 / z.size))
    # the transmission of the mean light follows the saturation model: T > exp(-OD) when I ~ 2 I_sat
    assert np.all(t > math.exp(-0.6)) and np.all(t < 1)


def test_noise_free_injection_is_recovered_exactly_by_the_moment_estimator(repo_root):
    from atompump.com import centre_of_mass
    from atompump.reduce import optical_density

    light = banik_frame(repo_root, "Probe", "0151")
    level = np.mean([banik_frame(repo_root, "Background", i) for i in banik_ids(repo_root)], axis=0)
    cloud = GaussianCloud(sigma_um=(8.0, 4.0), peak_od=1.0)
    for x_c in (55.3, 61.17):
        od = cloud.render(light.shape, centre_um=(x_c, 58.0), pixel_size_um=PIXEL)
        x_true, y_true = first_moments_um(od, pixel_size_um=PIXEL)
        assert (x_true, y_true) == pytest.approx((x_c, 58.0), abs=1e-9)  # exact pixel integrals
        atoms, _ = absorb(light, od, dark_level=level, camera=CameraNoise(gain=20.0, read_noise_counts=11.0), rng=None)
        result = optical_density(atoms, light, level)  # the probe is the very light that was absorbed
        assert np.nanmax(np.abs(result.od - od)) < 2e-3  # rounding to counts only
        com = centre_of_mass(result.od, pixel_size_um=PIXEL, valid=result.valid)
        assert com.reject_reason == ""
        assert com.x_um == pytest.approx(x_true, abs=2e-3)


# ----------------------------------------------------------------------------------------------- clouds
def test_thomas_fermi_and_od_image_clouds_keep_their_centre_size_and_atom_number(repo_root):
    tf = ThomasFermiCloud(radius_um=(12.0, 5.0), peak_od=1.2, blur_um=0.8)
    od = tf.render((120, 200), centre_um=(40.13, 24.0), pixel_size_um=PIXEL)
    assert first_moments_um(od, pixel_size_um=PIXEL) == pytest.approx((40.13, 24.0), abs=2e-3)
    # integral of the 3D Thomas-Fermi column density: (2 pi / 5) peak R_a R_c; blurring keeps it
    assert od.sum() * PIXEL**2 == pytest.approx(2 * math.pi / 5 * 1.2 * 12.0 * 5.0, rel=2e-3)

    with open_image(repo_root / OQTANT / "NoPatternExpt_rep_0.txt") as image:
        raw = image.read("it_plot").astype(float)
    cloud = load_od_image_cloud(raw, pixel_size_um=0.344, threshold=0.1, taper_um=2.0, source="NoPattern")
    t = cloud.template
    assert t.shape[1] > 3 * t.shape[0]  # elongated along the pump axis
    assert np.all(t[0] == 0) and np.all(t[-1] == 0) and np.all(t[:, 0] == 0) and np.all(t[:, -1] == 0)
    assert abs(cloud.info["background_od"]) < 0.06 and 1.0 < cloud.info["image_peak_od"] < 1.5
    frame = cloud.render((200, 400), centre_um=(80.0, 40.0), pixel_size_um=PIXEL)
    # resampled from 0.344 um to 0.401 um pixels: atom number (integrated OD x area) and the RMS length kept
    assert frame.sum() * PIXEL**2 == pytest.approx(t.sum() * 0.344**2, rel=0.01)
    x, y = first_moments_um(frame, pixel_size_um=PIXEL)
    assert (x, y) == pytest.approx((80.0, 40.0), abs=0.02)
    along = frame.sum(axis=0)
    rms = math.sqrt((along * (np.arange(along.size) * PIXEL - x) ** 2).sum() / along.sum())
    source = t.sum(axis=0)
    u = np.arange(source.size) * 0.344
    rms_source = math.sqrt((source * (u - (source * u).sum() / source.sum()) ** 2).sum() / source.sum())
    assert rms == pytest.approx(rms_source, rel=0.02)
    scaled = load_od_image_cloud(raw, pixel_size_um=0.344, peak_od=1.0)
    assert scaled.template.max() / t.max() == pytest.approx(1.0 / cloud.info["image_peak_od"], rel=1e-9)
    with pytest.raises(InputDataError, match="no cloud found"):
        load_od_image_cloud(np.zeros((50, 80)), pixel_size_um=0.344, source="blank.npy")


# ----------------------------------------------------------------------------------------------- the run
def params(**kwargs):
    """Through the configuration boundary: the schema's defaults, the banik camera, a 3 um Gaussian pumped one way."""
    from atompump.stages.inject import injection_params_from_config

    return injection_params_from_config(
        {"imaging": {"pixel_size_um": PIXEL, "isat_counts": ISAT},
         "injection": {"cycles": [0, 1, 2, 3, 4], "directions": [1], "seed": 2,
                       "cloud": {"shape": "gaussian", "sigma_um": [3.0, 3.0], "peak_od": 1.0}}}, **kwargs)


def test_injected_run_is_written_like_a_simulated_one(banik_manifest, tmp_path):
    truth = inject_run(tmp_path / "run", data={"manifest": str(banik_manifest)}, params=params())
    assert json.loads((tmp_path / "run/truth.json").read_text()) == json.loads(json.dumps(truth))
    header = (tmp_path / "run/manifest.csv").read_text().splitlines()[0]
    assert header == "shot,atoms,probe,dark,cycle,direction,reference,repeat,order,sequence_cycles"
    assert truth["nu_true"] == 0.96 and truth["dl_um"] == 0.767
    assert truth["displacement_per_cycle_um"] == pytest.approx(0.96 * 0.767)
    assert len(truth["shots"]) == 5
    shot_keys = {"shot", "order", "x_true_um", "y_true_um", "cycle", "direction", "reference", "repeat",
                 "sequence_cycles", "displacement_um", "jitter_um", "drift_um", "atom_number"}
    inj = truth["injection"]
    # split mode: even source shots are atoms-sources, odd ones probe-sources; none is both
    assert inj["atoms_sources"] == ["0145", "0149", "0153", "0157", "0161"]
    assert not set(inj["atoms_sources"]) & set(inj["probe_sources"])
    assert inj["max_uses_of_an_atoms_source"] == 1
    assert 19 < inj["camera"]["gain"] < 22.5 and inj["camera"]["method"] == "pairs"
    assert inj["cloud"] == {"shape": "gaussian", "sigma_um": [3.0, 3.0], "peak_od": 1.0, "blur_um": 0.0}
    x0 = 0.5 * 299 * PIXEL  # the frame's centre
    for s in truth["shots"]:
        assert shot_keys <= set(s)
        assert s["displacement_um"] == pytest.approx(s["direction"] * 0.96 * 0.767 * s["cycle"])
        assert s["x_true_um"] == pytest.approx(x0 + s["displacement_um"] + s["jitter_um"], abs=1e-9)
        assert "Probe_2020_11_24_" in s["atoms_from"] and s["atoms_from"].split("_")[-1][:4] in inj["atoms_sources"]
        assert s["probe_from"].split("_")[-1][:4] in inj["probe_sources"]
        for kind in ("atoms", "probe", "dark"):
            with open_image(tmp_path / "run/frames" / f"{s['shot']}_{kind}.tif") as image:
                frame = image.read(None)
            assert frame.dtype == np.uint16 and frame.shape == (300, 300)
        # the truth is the first moment of the noise-free injected OD
        od = GaussianCloud(sigma_um=(3.0, 3.0)).render((300, 300), centre_um=(s["x_commanded_um"], x0),
                                                       pixel_size_um=PIXEL)
        assert s["x_true_um"] == pytest.approx(float((od * np.arange(300) * PIXEL).sum() / od.sum()), abs=1e-9)
    jitter = np.array([s["jitter_um"] for s in truth["shots"]])
    assert 0 < np.std(jitter) < 0.6
    # the same seed gives the same bytes; another seed other positions and source frames
    again = inject_run(tmp_path / "again", data={"manifest": str(banik_manifest)}, params=params())
    assert again == truth
    for name in ("manifest.csv", "truth.json", "frames/s00003_atoms.tif"):
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    other = inject_run(tmp_path / "other", data={"manifest": str(banik_manifest)}, params=params(seed=3))
    assert [s["jitter_um"] for s in other["shots"]] != list(jitter)


def test_blank_mode_uses_each_shots_own_frames_inside_an_atom_free_region(banik_manifest, tmp_path):
    # the inside of the ring (rows and columns 100:200 of the committed crop) holds no atoms
    p = params(frames="blank", region=(100, 200, 100, 200), directions=(1, -1),
               cloud=GaussianCloud(sigma_um=(3.0, 2.0), peak_od=1.0))
    truth = inject_run(tmp_path / "run", data={"manifest": str(banik_manifest)}, params=p)
    assert len(truth["shots"]) == 10 and truth["injection"]["max_uses_of_an_atoms_source"] == 1
    for s in truth["shots"]:
        shot = s["atoms_from"].split("_")[-1][:4]
        assert "Image_2020_11_24_" in s["atoms_from"] and s["probe_from"].endswith(f"Probe_2020_11_24_{shot}.tiff")
        assert read_frame(tmp_path / "run/frames" / f"{s['shot']}_atoms.tif").shape == (100, 100)
    assert truth["injection"]["source"]["region"] == [100, 200, 100, 200]


def test_od_image_cloud_from_the_config_and_a_labscript_source_with_the_pump_along_rows(repo_root, tmp_path):
    from atompump.config import fill_defaults
    from atompump.simulate.run import simulate_run
    from atompump.stages.inject import inject_stage
    from atompump.stages.simulate import simulation_params

    # a labscript-style source run (one HDF5 file per shot), read through data.shots like a lab's
    lab = {"cycles": [0.0, 1.0], "repeats": 2, "references": False, "image_shape": [160, 120], "format": "hdf5",
           "probe_counts": 4000.0, "seed": 1, "dynamics": "rigid", "nu_true": 1.0, "order": "interleaved",
           "transverse_jitter_um": 0.0, "drift": {"um_per_shot": 0.0, "amplitude_um": 0.0}, "optics": {"psf": "none"},
           "probe": {"waist_um": None, "power_jitter": 0.0, "fringe_amplitude": 0.0}}
    simulate_run(tmp_path / "lab", simulation_params(fill_defaults({"simulation": lab, "imaging": {
        "pixel_size_um": 1.0, "isat_counts": None}})))
    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    injection = copy.deepcopy(config["injection"])
    injection.update(cycles=[0, 1, 2, 3], directions=[1], cloud={
        **injection["cloud"], "shape": "od_image", "image": str(repo_root / OQTANT / "ShortOnlyExpt_rep_0.txt"),
        "image_key": "it_plot", "image_pixel_size_um": 0.344, "peak_od": None, "transpose": False})
    imaging = {**config["imaging"], "pixel_size_um": 0.8, "pump_axis": "y"}
    truth = inject_stage(tmp_path / "run", data={"shots": str(tmp_path / "lab/frames/*.h5")}, injection=injection,
                         imaging=imaging, lattice=config["lattice"], atom="Rb87")
    cloud = truth["injection"]["cloud"]
    assert cloud["shape"] == "od_image" and cloud["source"].endswith("ShortOnlyExpt_rep_0.txt [it_plot]")
    assert 1.1 < cloud["image_peak_od"] < 1.4 and truth["injection"]["camera"]["method"] == "pairs"
    assert truth["injection"]["source"]["usable"] == 8 and len(truth["shots"]) == 4
    assert truth["injection"]["camera"]["gain"] == pytest.approx(1.0, rel=0.05)  # the simulator's camera
    # pump axis y: positions along the frame's 160 rows (centre 63.6 um), across its 120 columns (centre 47.6 um)
    for s in truth["shots"]:
        assert s["x_commanded_um"] == pytest.approx(79.5 * 0.8 + s["displacement_um"] + s["jitter_um"], abs=1e-9)
        assert s["x_true_um"] == pytest.approx(s["x_commanded_um"], abs=0.02)  # the template's first moment
        assert s["y_true_um"] == pytest.approx(59.5 * 0.8, abs=0.02)
        for kind in ("atoms", "probe", "dark"):
            with open_image(tmp_path / "run/frames" / f"{s['shot']}_{kind}.tif") as image:
                assert image.read(None).shape == (160, 120)


def test_injection_errors(banik_manifest, tmp_path, repo_root):
    """The library names its own parameters (InjectionParams' fields); the stage names the config keys."""
    data = {"manifest": str(banik_manifest)}
    with pytest.raises(ParameterError, match=r"the injected run has 10 shots but the source's 10 usable shots give "
                                             r"5 without reuse .*; use fewer cycles/directions/repeats, a longer "
                                             r"source run, or set allow_reuse: true$"):
        inject_run(tmp_path / "a", data=data, params=params(directions=(1, -1)))
    short = tmp_path / "short.csv"
    rows = (banik_manifest.read_text().splitlines())
    short.write_text("\n".join(rows[:4]) + "\n")
    with pytest.raises(ParameterError, match=r"short.csv: 3 usable shot\(s\) of 3; frames: split needs at least 4"):
        inject_run(tmp_path / "b", data={"manifest": str(short)}, params=params())
    with pytest.raises(ParameterError, match=r"^shot s0000\d: the injected cloud at .* reaches the edge of the frames"
                                             r".*smaller cloud \(cloud\), move it \(centre_um\)"):
        inject_run(tmp_path / "c", data=data, params=params(centre_um=(2.0, 60.0)))
    with pytest.raises(ParameterError, match=r"^region = \[0, 400, 0, 100\] is not inside the source frames "
                                             r"of 300 rows x 300 columns"):
        inject_run(tmp_path / "d", data=data, params=params(region=(0, 400, 0, 100)))
    with pytest.raises(ParameterError, match="^region is required with frames: blank"):
        params(frames="blank")
    # through the stage (the configuration boundary) the same errors name the config keys
    from atompump.stages.inject import inject_stage, injection_params

    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    sections = {"imaging": {**config["imaging"], "pixel_size_um": PIXEL, "isat_counts": ISAT},
                "lattice": config["lattice"], "atom": "Rb87"}
    with pytest.raises(ConfigError, match=r"^config key 'injection.region': injection.region = \[0, 400, 0, 100\] "
                                          r"is not inside the source frames of 300 rows x 300 columns"):
        inject_stage(tmp_path / "f", data=data, injection={**config["injection"], "region": [0, 400, 0, 100]},
                     **sections)
    with pytest.raises(ConfigError, match=r"^config key 'injection.allow_reuse': .* the injected run has .* use fewer "
                                          r"injection.cycles/injection.directions/injection.repeats, .*set "
                                          r"injection.allow_reuse: true$"):
        inject_stage(tmp_path / "g", data=data, injection={**config["injection"], "directions": [1, -1]}, **sections)
    with pytest.raises(ConfigError, match=r"^config key 'injection.order': injection.order = 'sorted' is not allowed"):
        injection_params(injection={**config["injection"], "order": "sorted"}, **sections)
    # with reuse allowed, the pools are cycled through
    truth = inject_run(tmp_path / "e", data=data, params=params(directions=(1, -1), allow_reuse=True))
    assert truth["injection"]["max_uses_of_an_atoms_source"] == 2


def test_bad_injection_config_is_named(repo_root, banik_manifest, tmp_path, monkeypatch):
    schema = load_schema(repo_root / "workflow/schemas/config.schema.yaml")
    config = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    config["data"].update(source="injected", manifest=None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="'data.manifest': required when data.source is 'injected'"):
        check_config(config, schema)
    config["data"]["manifest"] = str(banik_manifest)
    check_config(config, schema)
    bad = copy.deepcopy(config)
    bad["injection"]["cloud"].update(shape="od_image")
    bad["injection"]["frames"] = "blank"
    with pytest.raises(ConfigError) as info:
        check_config(bad, schema)
    text = str(info.value)
    assert "config key 'injection.cloud.image': required when injection.cloud.shape is od_image" in text
    assert "config key 'injection.cloud.image_pixel_size_um': required" in text
    assert "config key 'injection.region': required when injection.frames is blank" in text
    bad = copy.deepcopy(config)
    bad["injection"]["cloud"]["shape"] = "ring"
    with pytest.raises(ConfigError, match=r"'injection.cloud.shape': 'ring' is not allowed; allowed values: "
                                          r"\['gaussian', 'thomas_fermi', 'od_image'\]"):
        check_config(bad, schema)
    bad = copy.deepcopy(config)
    bad["injection"]["cloud"]["peak_od"] = None
    with pytest.raises(ConfigError, match="'injection.cloud.peak_od': required for a gaussian cloud"):
        check_config(bad, schema)


def test_cli_inject(repo_root, banik_manifest, tmp_path):
    config = tmp_path / "my.yaml"
    config.write_text(yaml.safe_dump({
        "imaging": {"pixel_size_um": PIXEL, "isat_counts": ISAT},
        "injection": {"cycles": [0, 2, 4], "directions": [1], "cloud": {"sigma_um": [3.0, 2.0]}}}))
    cmd = [sys.executable, "-m", "atompump.cli", "inject", str(tmp_path / "run"), "--config", str(config),
           "--manifest", str(banik_manifest), "--seed", "4", "--nu", "1.5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "shots: 3" in proc.stdout and "camera_gain: 2" in proc.stdout and "counts per photoelectron" in proc.stdout
    truth = json.loads((tmp_path / "run/truth.json").read_text())
    assert truth["nu_true"] == 1.5 and truth["params"]["seed"] == 4 and truth["params"]["cycles"] == [0, 2, 4]
    proc = subprocess.run(cmd[:5] + ["--manifest", str(tmp_path / "missing.csv")], capture_output=True, text=True,
                          cwd=repo_root, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "config key 'data.manifest'" in proc.stderr and "missing.csv' does not exist" in proc.stderr


# ----------------------------------------------------------------------------------------------- recovery
def test_recovery_statistics_discover_estimators_and_use_their_bounds():
    import xarray as xr

    from atompump.recovery import estimator_names, recovery_statistics

    rng = np.random.default_rng(5)
    n = 400
    x_true = rng.normal(50.0, 1.0, n)
    err = np.full(n, 0.1)
    reference = np.arange(n) % 10 == 0
    com = xr.Dataset({
        "x_com_um": ("shot", x_true + 0.3 + rng.normal(0, 0.1, n)), "x_com_err_um": ("shot", err),
        "x_template_um": ("shot", x_true - 1.0 + rng.normal(0, 0.2, n)), "x_template_err_um": ("shot", err),
        "crb_um": ("shot", np.full(n, 0.05)), "crb_template_um": ("shot", np.full(n, 0.2)),
        "x_centre_um": ("shot", x_true),  # no error: not an estimator
        "used": ("shot", np.arange(n) % 7 != 0)}, coords={"shot": [f"s{i:05d}" for i in range(n)]},
        attrs={"estimator": "template"})
    truth = {"nu_true": 1.0, "shots": [{"shot": f"s{i:05d}", "x_true_um": x_true[i], "reference": bool(reference[i])}
                                       for i in range(n)]}
    assert estimator_names(com) == ["com", "template"]
    rec = recovery_statistics(com, truth, {"nu": 1.02, "nu_err": 0.01})
    pumped_used = (~reference) & (np.arange(n) % 7 != 0)
    assert rec["n_pumped"] == int((~reference).sum()) and rec["n_used_pumped"] == int(pumped_used.sum())
    assert rec["default_estimator"] == "template" and rec["nu_pull"] == pytest.approx(2.0)
    c, t = rec["estimators"]["com"], rec["estimators"]["template"]
    assert c["fraction_measured"] == pytest.approx(pumped_used.sum() / (~reference).sum())
    m = pumped_used.sum()
    assert c["bias_um"] == pytest.approx(0.3, abs=5 * 0.1 / math.sqrt(m))
    assert t["bias_um"] == pytest.approx(-1.0, abs=5 * 0.2 / math.sqrt(m))
    assert c["rms_um"] == pytest.approx(0.1, rel=5 / math.sqrt(2 * m))
    assert c["pull_std"] == pytest.approx(1.0, rel=5 / math.sqrt(2 * m))
    assert t["pull_std"] == pytest.approx(2.0, rel=5 / math.sqrt(2 * m))
    assert c["bound"] == "crb_um" and t["bound"] == "crb_template_um"
    assert c["efficiency"] == pytest.approx(0.25, rel=0.2) and t["efficiency"] == pytest.approx(1.0, rel=0.2)


# ----------------------------------------------------------------------------------------------- the workflow
@pytest.mark.slow
def test_workflow_with_injected_source_writes_recovery(repo_root, banik_manifest, tmp_path):
    from test_workflow import run_snakemake

    config = {"data": {"source": "injected", "manifest": str(banik_manifest), "batch_size": 8,
                       "on_bad_shot": "reject"},
              "imaging": {"pixel_size_um": PIXEL, "isat_counts": ISAT},
              "injection": {"cycles": [0, 1, 2, 3, 4], "directions": [1],
                            "cloud": {"sigma_um": [3.0, 3.0], "peak_od": 3.0}},
              "theory": {"n_k": 12, "n_phi": 24}, "fit": {"n_bootstrap": 0}}
    proc = run_snakemake(repo_root, tmp_path / "run", config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = tmp_path / "run/results"
    truth = json.loads((out / "injected/truth.json").read_text())
    recovery = json.loads((out / "fit/recovery.json").read_text())
    summary = json.loads((out / "fit/summary.json").read_text())
    assert len(truth["shots"]) == recovery["n_pumped"] == summary["n_shots"] == 5
    assert set(recovery["estimators"]) >= {"com", "fit", "moment"}
    assert recovery["nu_true"] == 0.96 and recovery["nu"] == summary["nu"]
    assert recovery["nu_pull"] == pytest.approx((summary["nu"] - 0.96) / summary["nu_err"])
    head = recovery["estimators"]["com"]
    assert head["n"] == summary["n_used"] >= 3
    assert abs(head["bias_um"]) < 0.5 and 0 < head["rms_um"] < 0.5  # a 3 um cloud of peak OD 3 on real frames
    html = (out / "report/report.html").read_text()
    assert "Recovery against the truth" in html and "Per-shot pulls against the truth" in html
    assert (out / "figures/recovery_pulls.png").read_bytes().startswith(b"\x89PNG")
