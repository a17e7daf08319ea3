"""End-to-end runs of the Snakemake workflow on a tiny config (a few small shots)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from atompump.io import read_dataset
from atompump.report.catalog import FIGURES

pytestmark = pytest.mark.slow

TINY = {
    "data": {"batch_size": 8},
    # the rigid atom model (no dynamics) keeps these runs fast; tests/test_simulate_pipeline.py covers the dynamics
    "simulation": {"cycles": [0, 1, 2, 3], "repeats": 3, "image_shape": [32, 64], "position_jitter_um": 0.1,
                   "cloud_sigma_um": [4.0, 4.0], "dynamics": "rigid", "references": False, "order": "interleaved"},
    "imaging": {"pixel_size_um": 1.0},
    "theory": {"n_k": 12, "n_phi": 24},
}
OUTPUTS = ["results/fit/summary.json", "results/com/com.nc", "results/fit/fit.nc", "results/theory/theory.json",
           "results/theory/bands.nc", "results/report/report.html", "results/report/report.pdf",
           "results/report/provenance.json", "results/report/checksums.tsv", "results/theory/wannier.nc",
           *[f"results/figures/{spec.name}.{ext}" for spec in FIGURES for ext in ("png", "pdf")]]


def run_snakemake(repo: Path, workdir: Path, config: dict | None = None, *extra: str) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir), "--cores", "2"]
    if config is not None:
        cfg = workdir.parent / f"{workdir.name}.yaml"
        cfg.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(cfg)]
    return subprocess.run(cmd + list(extra), capture_output=True, text=True, cwd=workdir.parent, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(repo_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e") / "run"
    proc = run_snakemake(repo_root, workdir, TINY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def test_summary_recovers_truth_and_chern_number(tiny_run):
    summary = json.loads((tiny_run / "results/fit/summary.json").read_text())
    truth = json.loads((tiny_run / "results/simulated/truth.json").read_text())
    for key in ("nu", "nu_err", "displacement_per_cycle_um", "displacement_per_cycle_err_um", "dl_um",
                "chern_number", "nu_theory", "deviation_sigma", "n_shots", "n_used", "reduced_chi2"):
        assert key in summary, key
    assert summary["chern_number"] == 1 and isinstance(summary["chern_number"], int)
    assert summary["dl_um"] == pytest.approx(0.767)
    assert summary["n_shots"] == 24 == summary["n_used"]
    assert abs(summary["nu"] - truth["nu_true"]) < 3 * summary["nu_err"]
    assert summary["nu_err"] < 0.05
    assert summary["displacement_per_cycle_um"] == pytest.approx(summary["nu"] * 0.767)
    assert summary["deviation_sigma"] == pytest.approx((summary["nu"] - 1.0) / summary["nu_err"])


def test_com_contract_and_truth(tiny_run):
    com = read_dataset(tiny_run / "results/com/com.nc")
    for name in ("x_com_um", "x_com_err_um", "cycle", "direction", "atom_number", "used", "reject_reason"):
        assert name in com.variables, name
        assert com[name].dims == ("shot",)
    assert com.x_com_um.attrs["units"] == "um" and com.x_com_um.attrs["long_name"]
    assert com.used.dtype == bool
    truth = json.loads((tiny_run / "results/simulated/truth.json").read_text())
    x_true = np.array([s["x_true_um"] for s in truth["shots"]])
    pulls = (com.x_com_um.values - x_true) / com.x_com_err_um.values
    assert np.all(np.abs(pulls) < 5)
    np.testing.assert_allclose(com.atom_number.values, [s["atom_number"] for s in truth["shots"]], rtol=0.05)


def test_report_is_self_contained_and_complete(tiny_run):
    html = (tiny_run / "results/report/report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "Chern number is +1" in html
    for item in ("expected RMS position spread (Wannier, theory)", "Models fitted to the same shots", "delta BIC", "Differential analyses", "differential_direction",
                 "bootstrap std of nu", "Rejected shots (0)", "Provenance", "git_revision", "inputs_sha256",
                 "lmfit", "nu_true (simulation input)", *[spec.title for spec in FIGURES]):
        assert item in html, item
    pdf = (tiny_run / "results/report/report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= len(FIGURES) + 2
    assert b"CreationDate" not in pdf
    for spec in FIGURES:
        assert (tiny_run / f"results/figures/{spec.name}.pdf").read_bytes().startswith(b"%PDF")
    # every input file once, with its SHA-256: the manifest first, then the frames in run order
    import hashlib

    rows = [line.split("\t") for line in (tiny_run / "results/report/checksums.tsv").read_text().splitlines()[1:]]
    assert rows[0][0] == "results/simulated/manifest.csv" and len(rows) == 1 + 3 * 24
    name, digest, size = rows[5]
    assert hashlib.sha256((tiny_run / name).read_bytes()).hexdigest() == digest
    assert int(size) == (tiny_run / name).stat().st_size


def test_same_inputs_same_bytes(repo_root, tiny_run, tmp_path):
    other = tmp_path / "again"
    proc = run_snakemake(repo_root, other, TINY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in OUTPUTS:
        assert (tiny_run / name).read_bytes() == (other / name).read_bytes(), name


def test_measured_data_path_with_relative_manifest(repo_root, tiny_run, tmp_path):
    # The simulated run, moved elsewhere, analysed as lab data: same numbers.
    shutil.copytree(tiny_run / "results/simulated", tmp_path / "lab" / "run1")
    config = {**TINY, "data": {"source": "measured", "manifest": "run1/manifest.csv", "batch_size": 8}}
    proc = run_snakemake(repo_root, tmp_path / "lab", config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    measured = json.loads((tmp_path / "lab/results/fit/summary.json").read_text())
    simulated = json.loads((tiny_run / "results/fit/summary.json").read_text())
    assert measured["nu"] == simulated["nu"] and measured["nu_err"] == simulated["nu_err"]
    assert not (tmp_path / "lab/results/simulated").exists()


def test_bad_shots_stop_the_run_or_are_rejected(repo_root, tiny_run, tmp_path):
    run = tmp_path / "lab" / "run1"
    shutil.copytree(tiny_run / "results/simulated", run)
    (run / "frames/s00003_atoms.tif").write_bytes((run / "frames/s00003_atoms.tif").read_bytes()[:200])
    (run / "frames/s00005_probe.tif").write_bytes((run / "frames/s00000_dark.tif").read_bytes())  # no probe light
    config = {**TINY, "data": {"source": "measured", "manifest": "run1/manifest.csv", "batch_size": 8}}
    proc = run_snakemake(repo_root, tmp_path / "lab", config)
    assert proc.returncode != 0
    assert "2 bad shot(s)" in proc.stderr
    assert "shot s00003" in proc.stderr and "s00003_atoms.tif: cannot read as TIFF" in proc.stderr
    assert "shot s00005" in proc.stderr and "probe light" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "lab/results/fit/summary.json").exists()

    config["data"]["on_bad_shot"] = "reject"
    proc = run_snakemake(repo_root, tmp_path / "lab", config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    com = read_dataset(tmp_path / "lab/results/com/com.nc")
    rejected = {str(s): str(r) for s, r in zip(com.shot.values, com.reject_reason.values) if r}
    assert set(rejected) == {"s00003", "s00005"}
    summary = json.loads((tmp_path / "lab/results/fit/summary.json").read_text())
    assert summary["n_used"] == 22 and summary["n_shots"] == 24
    html = (tmp_path / "lab/results/report/report.html").read_text()
    assert "s00003" in html and "s00005" in html


def test_config_error_stops_before_any_job(repo_root, tmp_path):
    proc = run_snakemake(repo_root, tmp_path / "bad", {"imaging": {"pump_axis": "z"}, "data": {"batchsize": 2}})
    assert proc.returncode != 0
    assert "config key 'imaging.pump_axis': 'z' is not allowed; allowed values: ['x', 'y']" in proc.stderr
    assert "'batchsize' was unexpected" in proc.stderr
    assert not (tmp_path / "bad" / "results").exists()


def test_lint_is_clean(repo_root, tmp_path):
    proc = run_snakemake(repo_root, tmp_path / "lint", None, "--lint")
    assert proc.returncode == 0
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakemake_report_has_the_figures(repo_root, tiny_run):
    cfg = tiny_run.parent / "run.yaml"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d", str(tiny_run),
                           "--configfile", str(cfg), "--report", str(tiny_run / "smk-report.html")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tiny_run / "smk-report.html").read_text()
    for spec in FIGURES:
        assert f"{spec.name}.png" in html, spec.name


def to_labscript(run: Path, shots: Path) -> None:
    """Rewrite a simulated run as labscript shot files: /images/side/absorption/<frame>, globals on /globals."""
    import csv

    import h5py
    import tifffile

    shots.mkdir(parents=True)
    with (run / "manifest.csv").open() as fh:
        for row in csv.DictReader(fh):
            with h5py.File(shots / f"{row['shot']}.h5", "w") as h5:
                group = h5.create_group("/images/side/absorption")
                for name in ("atoms", "probe", "dark"):
                    group.create_dataset(name, data=tifffile.imread(run / row[name]))
                h5.create_group("globals").attrs.update(
                    {"pump_cycles": float(row["cycle"]), "pump_direction": int(row["direction"]),
                     "rep": int(row["repeat"])})


def test_labscript_folder_end_to_end_with_bad_shots_in_every_batch(repo_root, tiny_run, tmp_path):
    import h5py

    lab = tmp_path / "lab"
    to_labscript(tiny_run / "results/simulated", lab / "shots")
    files = lab / "shots"
    data = (files / "s00002.h5").read_bytes()
    (files / "s00002.h5").write_bytes(data[: len(data) // 3])  # batch 0: truncated
    with h5py.File(files / "s00010.h5", "a") as h5:  # batch 1: a NaN in a float frame
        frame = h5["/images/side/absorption/atoms"][()].astype(np.float32)
        frame[3, 3] = np.nan
        del h5["/images/side/absorption/atoms"]
        h5["/images/side/absorption/atoms"] = frame
    with h5py.File(files / "s00017.h5", "a") as h5:  # batch 2: a missing frame
        del h5["/images/side/absorption/dark"]
    with h5py.File(files / "s00021.h5", "a") as h5:  # batch 2: an unexpected dtype
        frame = h5["/images/side/absorption/probe"][()].astype(np.complex64)
        del h5["/images/side/absorption/probe"]
        h5["/images/side/absorption/probe"] = frame
    (files / "extra").mkdir()
    shutil.copy(files / "s00005.h5", files / "extra" / "s00005.h5")  # a second shot file with the same id
    config = {**TINY, "data": {"source": "measured", "shots": "shots/**/*.h5", "batch_size": 8,
                               "frames": {"orientation": "side", "label": "absorption"},
                               "globals": {"cycle": "pump_cycles", "direction": "pump_direction", "repeat": "rep"}}}
    proc = run_snakemake(repo_root, lab, config)
    assert proc.returncode != 0
    assert "5 bad shot(s)" in proc.stderr and "Traceback" not in proc.stderr
    assert "shot s00002: shots/s00002.h5: cannot read as HDF5" in proc.stderr
    assert "shot s00010: atoms frame shots/s00010.h5 [atoms]: 1 pixel(s) are NaN" in proc.stderr
    assert "frame 'dark' does not exist; the file holds 2 frame(s), named atoms, probe" in proc.stderr
    assert "shots/s00021.h5 frame 'probe': unexpected dtype complex64" in proc.stderr
    assert "shot s00005@shots/s00005.h5: shots/s00005.h5: duplicate shot id (file name also used by " \
           "shots/extra/s00005.h5)" in proc.stderr
    assert not (lab / "results/com/com.nc").exists() and not (lab / "results/fit/summary.json").exists()

    config["data"]["on_bad_shot"] = "reject"
    proc = run_snakemake(repo_root, lab, config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    com = read_dataset(lab / "results/com/com.nc")
    rejected = {str(s): str(r) for s, r in zip(com.shot.values, com.reject_reason.values) if r}
    assert set(rejected) == {"s00002", "s00010", "s00017", "s00021", "s00005@shots/s00005.h5"}
    summary = json.loads((lab / "results/fit/summary.json").read_text())
    assert summary["n_shots"] == 25 and summary["n_used"] == 20
    truth = json.loads((tiny_run / "results/simulated/truth.json").read_text())
    assert abs(summary["nu"] - truth["nu_true"]) < 3 * summary["nu_err"]
    # the labscript globals became the pump protocol; both estimators and the bound are in com.nc
    used = com.used.values
    assert sorted(set(com.cycle.values[used].tolist())) == [0.0, 1.0, 2.0, 3.0]
    assert np.isnan(com.cycle.sel(shot="s00002"))  # its globals could not be read either
    assert np.all(com.crb_um.values[used] > 0) and np.all(com.x_moment_err_um.values[used] > com.crb_um.values[used])
    html = (lab / "results/report/report.html").read_text()
    assert "rejected: NaN" in html and "Cramer-Rao" in html
