"""Optical-density input (issue 11, item 5): a manifest column ``od`` instead of camera frames. The reduction is
skipped (the OD is read as is; valid = finite pixels; variance factor 1; no fringe removal), the run is measured and
fitted, the outputs say ``input: od``, and every bad OD input is named with its shot and file."""

from __future__ import annotations

import copy
import json
import logging
import re

import numpy as np
import pytest
import tifffile
import yaml

from atompump.errors import BadShotsError, InputDataError
from atompump.io import read_dataset, read_manifest, write_manifest
from atompump.io.shots import check_shots, read_od, run_shots
from atompump.stages import check_reduce_stage, fringe_basis_stage, reduce_batch_stage, run_analysis, shots_stage
from atompump.reasons import RejectCause

DL = 0.767
NU = 0.96
PIXEL = 0.5
SHAPE = (40, 96)
X0_UM = 22.0
OQTANT = "tests/data/real/oqtant-insitu"


def cloud_od(x_um: float, rng: np.random.Generator, *, noise: float = 0.03) -> np.ndarray:
    """A Gaussian cloud (peak OD 1, RMS 3 x 2.5 pixels) centred at ``x_um`` along x, with white OD noise."""
    y, x = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    od = np.exp(-((x - x_um / PIXEL) ** 2 / (2 * 3.0**2) + (y - 20.0) ** 2 / (2 * 2.5**2)))
    return (od + rng.normal(0.0, noise, SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def default_config(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def od_config(default_config, **imaging):
    config = copy.deepcopy(default_config)
    config["data"].update({"source": "measured", "batch_size": 8})
    config["imaging"].update({"pixel_size_um": PIXEL, "fringe_removal": True, **imaging})
    config["fit"]["n_bootstrap"] = 0
    config["com"]["min_atom_number"] = 10  # the test cloud holds about 40 atoms
    return config


@pytest.fixture(scope="module")
def od_run(tmp_path_factory):
    """16 shots written as OD images (float32 TIFF and NPZ, alternating) of a cloud pumped by NU per cycle in both
    directions, with 0.05 um position jitter; shot s05 has a masked (NaN) patch away from the cloud."""
    folder = tmp_path_factory.mktemp("odrun")
    (folder / "od").mkdir()
    rng = np.random.default_rng(2024)
    rows, truth = [], {}
    for i in range(16):
        cycle, direction = float(i % 4), 1 if (i // 4) % 2 == 0 else -1
        x_um = X0_UM + direction * NU * DL * cycle + rng.normal(0.0, 0.05)
        od = cloud_od(x_um, rng)
        if i == 5:
            od[30:34, 60:70] = np.nan
        name = f"od/s{i:02d}.tif" if i % 2 else f"od/s{i:02d}.npz"
        if i % 2:
            tifffile.imwrite(folder / name, od)
        else:
            np.savez(folder / name, od=od)
        rows.append({"shot": f"s{i:02d}", "od": name, "cycle": cycle, "direction": direction})
        truth[f"s{i:02d}"] = x_um
    write_manifest(folder / "manifest.csv", rows)
    (folder / "truth.json").write_text(json.dumps(truth))
    (folder / "theory.json").write_text(json.dumps({"dl_um": DL, "chern_numbers": [1, -1, 1], "nu_theory": 1.0}))
    return folder


@pytest.fixture(scope="module")
def od_analysis(od_run, default_config):
    config = od_config(default_config)
    logging.getLogger("atompump").setLevel(logging.INFO)
    summary = run_analysis(config, od_run / "out", manifest=od_run / "manifest.csv",
                           theory_json=od_run / "theory.json")
    return summary, read_dataset(od_run / "out" / "com.nc")


def test_od_run_is_measured_and_recovers_the_injected_pump(od_run, od_analysis):
    summary, com = od_analysis
    truth = json.loads((od_run / "truth.json").read_text())
    assert summary["input"] == "od" and com.attrs["input"] == "od"
    assert summary["n_used"] == summary["n_shots"] == 16 and summary["fit_possible"]
    assert abs(summary["nu"] - NU) < 3 * summary["nu_err"] and summary["nu_err"] < 0.02
    x_true = np.array([truth[str(s)] for s in com.shot.values])
    pulls = (com.x_com_um.values - x_true) / com.x_com_err_um.values
    # the errors come from the noise measured in each shot's own atom-free pixels: pulls of unit width
    assert np.all(np.abs(pulls) < 4.5) and 0.5 < np.std(pulls) < 1.6
    # atom number: integrated OD (2 pi 3 x 2.5 pixels at peak 1) times the pixel area over the cross-section
    sigma = com.attrs["cross_section_um2"]
    np.testing.assert_allclose(com.atom_number.values, 2 * np.pi * 3.0 * 2.5 * PIXEL**2 / sigma, rtol=0.08)


def test_the_reduction_is_skipped(od_run, od_analysis, default_config, caplog):
    out = od_run / "out"
    table = read_dataset(out / "shots.nc")
    assert table.attrs["input"] == "od" and list(table.attrs["frame_shape"]) == list(SHAPE)
    assert table.od_file.values[0].endswith("od/s00.npz") and table.atoms_file.values[0] == ""
    basis = read_dataset(out / "fringe_basis.nc")
    assert basis.attrs["input"] == "od" and basis.attrs["n_components"] == 0 and basis.attrs["fringe_removal"] == 0
    batch = read_dataset(out / "batch-0000.nc")
    assert batch.attrs["input"] == "od" and batch.attrs["fringe_components"] == 0
    assert "od_file" in batch.coords and "atoms_file" not in batch.coords
    np.testing.assert_array_equal(batch.valid.values, np.isfinite(batch.od.values))
    assert np.all(batch.variance_factor.values == 1.0)
    # the OD inside the ROI is the file's, unchanged (float32 as written)
    r0, r1, c0, c1 = batch.attrs["roi"]
    written = tifffile.imread(od_run / "od" / "s05.tif")
    np.testing.assert_array_equal(batch.od.sel(shot="s05").values, written[r0:r1, c0:c1])
    assert not batch.valid.sel(shot="s05").values.all()  # the NaN patch lies inside the ROI: masked
    # imaging.fringe_removal: true is ignored with a note, not an error
    caplog.set_level(logging.INFO)
    fringe_basis_stage(out / "shots.nc", out / "again.nc", imaging=od_config(default_config)["imaging"])
    assert "imaging.fringe_removal is ignored" in caplog.text


def test_real_oqtant_json_results_are_all_measured(repo_root, default_config, tmp_path):
    """The three committed Oqtant job results (real in-situ OD, 0.344 um pixels), static, with made-up cycle labels:
    every shot measured, at the cloud's position (column ~240 of 503), with errors of a few pixels at most: the
    errors come from the noise measured in each image's atom-free pixels, spatially correlated in these images."""
    names = ["NoPatternExpt_rep_0.txt", "LongOnlyExpt_rep_0.txt", "ShortOnlyExpt_rep_0.txt"]
    write_manifest(tmp_path / "manifest.csv",
                   [{"shot": name.split("_")[0], "od": str(repo_root / OQTANT / name), "cycle": i, "direction": 1}
                    for i, name in enumerate(names)])
    (tmp_path / "theory.json").write_text(json.dumps({"dl_um": DL, "chern_numbers": [1, -1, 1], "nu_theory": 1.0}))
    config = od_config(default_config, pixel_size_um=0.344)  # the cigar's wings span most of the frame
    summary = run_analysis(config, tmp_path / "out", manifest=tmp_path / "manifest.csv",
                           theory_json=tmp_path / "theory.json")
    com = read_dataset(tmp_path / "out" / "com.nc")
    assert summary["input"] == "od" and summary["n_used"] == 3 and summary["fit_possible"]
    assert list(com.reject_reason.values) == ["", "", ""]
    assert np.all(np.abs(com.x_com_um.values / 0.344 - 241) < 10)
    assert np.all((com.x_com_err_um.values > 0) & (com.x_com_err_um.values < 3 * 0.344))
    chosen = com.attrs["estimator"]
    assert np.all(com[f"x_{chosen}_white_err_um"].values < com.x_com_err_um.values)  # correlated noise counted
    assert np.all((com.atom_number.values > 500) & (com.atom_number.values < 2000))
    image = read_od(run_shots({"manifest": str(tmp_path / "manifest.csv")})[0])
    assert image.od.shape == (148, 503) and image.source.endswith("NoPatternExpt_rep_0.txt")  # its only frame


# --- the frame of a multi-frame OD file --------------------------------------------------------------------------

def test_the_od_frame_of_a_multi_frame_file(tmp_path, rng):
    od = cloud_od(20.0, rng)
    np.savez(tmp_path / "named.npz", probe_counts=np.full(SHAPE, 3000.0), od=od)  # a frame named od: taken
    np.savez(tmp_path / "other.npz", a=od, b=2 * od)
    write_manifest(tmp_path / "m.csv", [{"shot": "s0", "od": "named.npz", "cycle": 0},
                                        {"shot": "s1", "od": "other.npz", "cycle": 1}])
    records, shape = check_shots(run_shots({"manifest": str(tmp_path / "m.csv")}))
    assert shape == SHAPE and records[0].problem == ""
    np.testing.assert_array_equal(read_od(records[0]).od, od)
    assert records[1].problem.endswith("holds 2 frame(s), named a, b; name the frame that holds the optical density "
                                       "with od")  # the library's own name; the shots stage names the config key:
    from atompump.config import DATA_KEYS, config_keys

    with config_keys(DATA_KEYS):
        records, _ = check_shots(run_shots({"manifest": str(tmp_path / "m.csv")}))
    assert records[1].problem.endswith("optical density with data.frames.od")
    records, _ = check_shots(run_shots({"manifest": str(tmp_path / "m.csv"), "frames": {"od": "b"}}))
    assert records[1].problem == "" and read_od(records[1]).source.endswith("other.npz [b]")
    np.testing.assert_array_equal(read_od(records[1]).od, 2 * od.astype(np.float64))


# --- bad OD input --------------------------------------------------------------------------------------------------

def test_manifest_rows_that_mix_od_and_frames_are_named_by_line(tmp_path):
    for name in ("a.tif", "p.tif", "d.tif", "o.tif"):
        tifffile.imwrite(tmp_path / name, np.ones(SHAPE, np.float32))
    (tmp_path / "m.csv").write_text("shot,cycle,od,atoms,probe,dark\n"
                                    "s0,0,o.tif,,,\n"
                                    "s1,1,o.tif,a.tif,p.tif,d.tif\n"
                                    "s2,2,,a.tif,p.tif,d.tif\n"
                                    "s3,3,o.tif,,,\n")
    records = {r.shot: r for r in run_shots({"manifest": str(tmp_path / "m.csv")})}
    assert records["s0"].is_od and records["s0"].problem == "" and records["s3"].problem == ""
    assert records["s1"].problem.startswith(f"manifest {tmp_path / 'm.csv'} line 3: both od and atoms, probe, dark "
                                            "are given; a manifest gives each shot either as an optical-density "
                                            "image (column od) or as camera frames")
    assert "line 4: gives camera frames (atoms, probe, dark) while line 2 gives an optical-density image (column " \
           "od); a run is either OD images or camera frames, never a mix" in records["s2"].problem
    assert records["s1"].problem.cause == records["s2"].problem.cause == RejectCause.MIXED_INPUT
    with pytest.raises(BadShotsError, match=r"(?s)2 bad shot\(s\):.*shot s1: manifest .* line 3: both od and"):
        read_manifest(tmp_path / "m.csv")


@pytest.fixture(scope="module")
def bad_od_run(tmp_path_factory):
    """8 OD shots (NPY), four of them bad: a missing file, an all-NaN image, the wrong shape, camera counts; plus
    one with infinite pixels and one stored with the wrong sign."""
    folder = tmp_path_factory.mktemp("badod")
    rng = np.random.default_rng(5)
    rows = []
    for i in range(8):
        od = cloud_od(20.0 + 0.5 * i, rng)
        if i == 2:
            od[:] = np.nan
        elif i == 3:
            od = od[:, :90]
        elif i == 4:
            od = 3000.0 * np.exp(-od)  # the atoms frame given instead of the OD
        elif i == 5:
            od[0, 0] = np.inf
        elif i == 6:
            od = -od  # written as ln(I_out / I_in)
        if i != 1:
            np.save(folder / f"s{i}.npy", od)
        rows.append({"shot": f"s{i}", "od": f"s{i}.npy", "cycle": float(i % 4), "direction": 1})
    write_manifest(folder / "manifest.csv", rows)
    return folder


# shot -> its reason (regex) and its cause in the report's count
BAD_OD = {
    "s1": r"od .*s1.npy does not exist",
    "s2": r"od image .*s2.npy: no finite pixel \(every pixel is NaN, i.e. masked\)",
    "s3": r"frame shape \(40, 90\) differs from the run's \(40, 96\) \(.*s3.npy\)",
    "s4": r"od image .*s4.npy: median value [\d.]+ is not an optical density .* looks like camera counts; give "
          r"the shot's atoms, probe and dark frames",
    "s5": r"od image .*s5.npy: 1 pixel\(s\) are infinite; an optical-density image holds finite values, and NaN",
    "s6": r"negative optical density \(a dip, not a cloud\): .*od image .*s6.npy\); check the sign convention",
}


BAD_OD_CAUSES = {"s1": "missing_file", "s2": "few_finite_od", "s3": "run_shape", "s4": "not_od", "s5": "non_finite",
                 "s6": "negative_od"}


def run_reduce(folder, on_bad_shot):
    out = folder / f"out-{on_bad_shot}"
    imaging = {"pixel_size_um": PIXEL, "pump_axis": "x", "alpha": 1.0, "isat_counts": None, "min_probe_counts": 50,
               "saturation_counts": 65535, "roi": None, "roi_sample_shots": 20, "fringe_removal": True,
               "fringe_max_frames": 100, "fringe_basis_size": None}
    shots_stage(out / "shots.nc", data={"manifest": str(folder / "manifest.csv")}, batch_size=8)
    fringe_basis_stage(out / "shots.nc", out / "basis.nc", imaging=imaging)
    reduce_batch_stage(out / "shots.nc", out / "basis.nc", out / "batch.nc", batch=0, imaging=imaging)
    return check_reduce_stage([out / "batch.nc"], out / "check.json", on_bad_shot=on_bad_shot)


def test_bad_od_input_is_named_with_its_shot_and_file(bad_od_run):
    with pytest.raises(BadShotsError, match=r"^6 bad shot\(s\):") as info:
        run_reduce(bad_od_run, "error")
    problems = dict(info.value.problems)
    assert set(problems) == set(BAD_OD)
    for shot, pattern in BAD_OD.items():
        assert re.search(pattern, problems[shot]), (shot, problems[shot])
    summary = run_reduce(bad_od_run, "reject")
    assert summary["n_bad"] == 6 and set(summary["bad_shots"]) == set(BAD_OD)
    batch = read_dataset(bad_od_run / "out-reject" / "batch.nc")
    causes = {str(s): str(c) for s, c in zip(batch.shot.values, batch.reject_cause.values) if c}
    assert causes == BAD_OD_CAUSES
    assert batch.bad_input.values.tolist() == [False, True, True, True, True, True, True, False]
    assert np.isnan(batch.od.values[2]).all() and np.isfinite(batch.od.values[0]).all()


def test_an_od_image_masked_over_most_of_the_roi_is_rejected(tmp_path, rng):
    from atompump.io.manifest import ShotRecord
    from atompump.stages.reduce import _reduce_od_shot

    od = cloud_od(20.0, rng)
    od[:, :70] = np.nan  # 26 of 96 columns left: 27.1 %
    np.save(tmp_path / "m.npy", od)
    record = ShotRecord("s0", 0.0, 1, {"od": tmp_path / "m.npy"})
    with pytest.raises(InputDataError, match=r"only 27.1% of the region of interest has a finite OD in the od image "
                                             r".*m.npy \(NaN pixels are masked\)"):
        _reduce_od_shot(record, (0, 40, 0, 96), min_valid_fraction=0.5)


# --- the workflow end to end (snakemake): OD input, then every shot rejected (issue 11, item 7) ---------------------

E2E = {"data": {"source": "measured", "manifest": "run1/manifest.csv", "batch_size": 8},
       "imaging": {"pixel_size_um": PIXEL}, "com": {"min_atom_number": 10}, "theory": {"n_k": 12, "n_phi": 24},
       "fit": {"n_bootstrap": 100}}


@pytest.fixture(scope="module")
def od_workflow(repo_root, od_run, tmp_path_factory):
    """snakemake on the OD run (tiny), in a lab folder of its own."""
    import shutil

    from test_workflow import run_snakemake

    lab = tmp_path_factory.mktemp("odlab") / "lab"
    shutil.copytree(od_run / "od", lab / "run1" / "od")
    shutil.copy(od_run / "manifest.csv", lab / "run1" / "manifest.csv")
    proc = run_snakemake(repo_root, lab, E2E)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    return lab


@pytest.mark.slow
def test_workflow_end_to_end_on_od_input(od_workflow):
    """The OD run is fitted, every figure and the report are written, and the report says that the reduction was
    skipped and where the errors come from."""
    from atompump.report.catalog import FIGURES

    lab = od_workflow
    summary = json.loads((lab / "results/fit/summary.json").read_text())
    assert summary["input"] == "od" and summary["n_used"] == 16 and abs(summary["nu"] - NU) < 3 * summary["nu_err"]
    html = (lab / "results/report/report.html").read_text()
    assert ("OD input: the reduction was skipped; per-shot errors come from the noise measured in each shot&#x27;s "
            "atom-free pixels alone (no camera noise model).") in html
    assert html.count("data:image/png;base64,") == len(FIGURES)
    for spec in FIGURES:
        for ext in ("png", "pdf"):
            assert (lab / f"results/figures/{spec.name}.{ext}").stat().st_size > 1000, (spec.name, ext)
    checksums = (lab / "results/report/checksums.tsv").read_text()
    assert "run1/od/s00.npz" in checksums and "run1/od/s15.tif" in checksums


@pytest.mark.slow
def test_workflow_where_every_shot_is_rejected_stops_before_the_fit_or_reports_without_one(repo_root, od_workflow):
    """Issue 11, item 7, through snakemake: the same run with com.min_atom_number far above every shot's atom number
    (the reduction is reused). With data.on_bad_shot: error the fit step stops with the message and no traceback;
    with reject the report is written, saying that no fit was possible and listing every shot with its reason, and
    every output of the figures rule exists."""
    from test_workflow import run_snakemake

    from atompump.report.catalog import FIGURES

    lab = od_workflow
    config = copy.deepcopy(E2E)
    config["com"]["min_atom_number"] = 1e9
    proc = run_snakemake(repo_root, lab, config, "--cores", "2", "results/fit/summary.json")
    assert proc.returncode != 0
    assert ("no fit possible (fit.model: linear): need at least 3 used pumped shots for the linear model, got 0."
            in proc.stderr)
    assert "0 of 16 shots passed the quality cuts (0 pumped, 0 constant-phi reference); 16 rejected, by cause:" \
        in proc.stderr
    assert re.search(r"16 x atom number below com.min_atom_number \(few_atoms\): s00, s01, s02, s03, s04 and 11 more \(shot s00: atom "
                     r"number \d+ below com.min_atom_number = 1e\+09\)", proc.stderr)
    assert "Where to look: results/com/com.nc (one row per shot" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (lab / "results/fit/summary.json").exists()

    config["data"]["on_bad_shot"] = "reject"
    fitted = {name: (lab / f"results/figures/{name}.png").read_bytes() for name in ("com_vs_cycle", "residuals")}
    proc = run_snakemake(repo_root, lab, config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    summary = json.loads((lab / "results/fit/summary.json").read_text())
    assert summary["fit_possible"] is False and summary["nu"] is None and summary["n_used"] == 0
    assert summary["rejected_by_cause"] == {"few_atoms": 16}
    html = (lab / "results/report/report.html").read_text()
    assert "No fit was possible: 0 of 16 shots passed the quality cuts" in html and "Rejected shots (16)" in html
    assert all(f"<td>s{i:02d}</td><td>few_atoms</td><td>atom number " in html for i in range(16))
    assert html.count("data:image/png;base64,") == len(FIGURES)
    outputs = [f"results/figures/{spec.name}.{ext}" for spec in FIGURES for ext in ("png", "pdf")]
    for name in ("results/report/report.pdf", "results/report/report.html", "results/fit/fit.nc", *outputs):
        assert (lab / name).stat().st_size > 1000, name
    for name, before in fitted.items():  # redrawn: the "no fit possible" panels
        assert (lab / f"results/figures/{name}.png").read_bytes() != before, name


def test_run_analysis_takes_a_partial_config_filled_from_the_schema(od_run, od_analysis, tmp_path):
    """run_analysis (notebooks, tests) takes only the keys that differ from the defaults (issue 15, item 1): the
    schema's defaults fill the rest, so the run gives the same summary.json, byte for byte, as with the whole
    config; a wrong key is refused before anything runs, naming it."""
    from atompump.errors import ConfigError

    partial = {"data": {"source": "measured", "batch_size": 8}, "imaging": {"pixel_size_um": PIXEL,
                                                                             "fringe_removal": True},
               "fit": {"n_bootstrap": 0}, "com": {"min_atom_number": 10}}
    run_analysis(partial, tmp_path / "out", manifest=od_run / "manifest.csv", theory_json=od_run / "theory.json")
    assert (tmp_path / "out/summary.json").read_bytes() == (od_run / "out/summary.json").read_bytes()
    with pytest.raises(ConfigError, match="config key 'fit.n_bootstrap'"):
        run_analysis({**partial, "fit": {"n_bootstrap": "many"}}, tmp_path / "bad", manifest=od_run / "manifest.csv",
                     theory_json=od_run / "theory.json")
    assert not (tmp_path / "bad").exists()
