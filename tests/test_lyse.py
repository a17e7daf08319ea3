"""lyse (issue 14): the single-shot and multi-shot routines on shot files written as labscript writes them, and the
export of a finished run's results into the shot files, which must never put the raw data at risk (killed
mid-way, every file stays readable with its images and globals; a rerun completes it)."""

import datetime
import hashlib
import json
import os
import runpy
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from labscript_files import NAMED_FRAMETYPES, blacs_run, camera_save, runmanager_shot, sequence_attrs

from atompump.cli import main
from atompump.config import cross_section_um2, species
from atompump.errors import InputDataError
from atompump.io.checksums import hdf5_content_sha256, input_sha256
from atompump.io.netcdf import write_dataset
from atompump.io.runtable import write_shots_table
from atompump.io.shots import run_shots
from atompump.lyse import GROUP, analyse_shot, load_config, multi_shot_routine, nu_so_far, single_shot_routine
from atompump.lyse.export import LEFTOVER_SUFFIX, export_results

REPO = Path(__file__).resolve().parents[1]
PIXEL_UM, SIGMA_PX, PEAK_OD, NU = 1.0, 4.0, 1.0, 1.0
CONFIG = {"imaging": {"pixel_size_um": PIXEL_UM, "isat_counts": None}, "lattice": {"lambda_l_nm": 1534}}
DL_UM = 0.767


def cloud_frames(x0_px, rng, shape=(48, 80), probe_counts=3000.0):
    """atoms, probe, dark of a Gaussian cloud (peak OD 1, sigma 4 px) at column x0_px, with photon noise."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    od = PEAK_OD * np.exp(-((x - x0_px) ** 2 + (y - shape[0] / 2) ** 2) / (2 * SIGMA_PX**2))
    dark = np.full(shape, 100.0)
    probe = rng.poisson(probe_counts, shape) + dark
    atoms = rng.poisson(probe_counts * np.exp(-od)) + dark
    return [atoms, probe, dark]


def pump_run(folder, n=10, seed=0, shape=(48, 80)):
    """A pump run as runmanager + BLACS + the camera write it: cycles 0..4 in both directions, the cloud moving by
    NU * dl per cycle; returns the true centres (um) by file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = {}
    start = datetime.datetime(2026, 12, 3, 12, 0, 0)
    sequence_globals = {"pump": {"cycle": ("0", "", "outer"), "direction": ("1", "", "outer"),
                                 "T_cycle": ("2.5", "ms", "")}}
    for i in range(n):
        cycle, direction = float(i % 5), 1 if i < n // 2 else -1
        x_um = 40.0 * PIXEL_UM + direction * NU * DL_UM * cycle
        path = folder / f"20261203T120000_pump_{i:02d}.h5"
        runmanager_shot(path, sequence_globals, {"cycle": cycle, "direction": direction, "T_cycle": 2.5},
                        sequence_attrs("20261203T120000"), i, n)
        blacs_run(path, start + datetime.timedelta(seconds=10 * i))
        camera_save(path, cloud_frames(x_um / PIXEL_UM, rng, shape), NAMED_FRAMETYPES)
        truth[path.name] = x_um
    return truth


def fake_lyse(path=None, frame=None):
    """A stand-in for the ``lyse`` module: ``path``, ``Run.save_result`` writing /results/<group> attributes with
    h5py as lyse does, ``data()`` giving lyse's DataFrame layout (MultiIndex columns, results under their group)."""
    import pandas as pd

    module = types.ModuleType("lyse")
    module.path = path

    class Run:
        def __init__(self, h5_path):
            self.h5_path = h5_path
            with h5py.File(h5_path, "a") as f:
                f.require_group("results")

        def set_group(self, name):
            self.group = name
            with h5py.File(self.h5_path, "a") as f:
                f["results"].require_group(name)

        def save_result(self, name, value):
            with h5py.File(self.h5_path, "r+") as f:
                f[f"results/{self.group}"].attrs[name] = value

    def data():
        rows = []
        for p in sorted(frame):
            with h5py.File(p, "r") as f:
                row = {(k, ""): v for k, v in f["globals"].attrs.items()}
                row.update({(GROUP, k): v for k, v in f[f"results/{GROUP}"].attrs.items()})
                row[("run time", "")] = f.attrs["run time"]
            rows.append(row)
        columns = pd.MultiIndex.from_tuples(sorted({k for r in rows for k in r}))
        return pd.DataFrame(rows, columns=columns).sort_values(("run time", ""))

    module.Run, module.data = Run, data
    return module


def test_single_and_multi_shot_routines_give_centres_and_nu_so_far(tmp_path, monkeypatch, capsys):
    truth = pump_run(tmp_path / "shots", n=6)
    config = load_config(CONFIG)
    files = sorted((tmp_path / "shots").glob("*.h5"))
    (tmp_path / "my.yaml").write_text(json.dumps(CONFIG))  # YAML
    monkeypatch.setenv("ATOMPUMP_CONFIG", str(tmp_path / "my.yaml"))
    monkeypatch.setitem(sys.modules, "lyse", fake_lyse(path=str(files[0])))
    runpy.run_path(str(REPO / "atompump/lyse/single_shot.py"), run_name="__main__")  # the file lyse runs
    assert capsys.readouterr().out.startswith("atompump: x = ")
    pulls = []
    for path in files:
        monkeypatch.setitem(sys.modules, "lyse", fake_lyse(path=str(path)))
        result = single_shot_routine(config=config)  # lyse.path, lyse.Run(path).save_result
        assert result["used"] and result["reject_reason"] == ""
        pulls.append((result["x_com_um"] - truth[path.name]) / result["x_com_err_um"])
        # the atom number and width of the Gaussian: N = 2 pi sigma^2 OD0 px^2 / cross-section
        n_true = 2 * np.pi * SIGMA_PX**2 * PEAK_OD * PIXEL_UM**2 / cross_section_um2(config["imaging"],
                                                                                     species(config))
        assert result["atom_number"] == pytest.approx(n_true, rel=0.1)
        assert result["width_um"] == pytest.approx(SIGMA_PX * PIXEL_UM, rel=0.15)
        with h5py.File(path, "r") as f:  # where lyse reads it: its DataFrame's ('atompump', name) columns
            saved = dict(f[f"results/{GROUP}"].attrs)
        assert saved["x_com_um"] == pytest.approx(result["x_com_um"]) and bool(saved["used"])
    assert np.max(np.abs(pulls)) < 4
    lyse = fake_lyse(frame=files)
    monkeypatch.setitem(sys.modules, "lyse", lyse)
    import matplotlib

    matplotlib.use("Agg")
    so_far = multi_shot_routine(config=config)  # lyse.data()
    runpy.run_path(str(REPO / "atompump/lyse/multi_shot.py"), run_name="__main__")
    assert f"atompump: nu so far = {so_far['nu']:.4f} +- {so_far['nu_err']:.4f} (6 of 6" in capsys.readouterr().out
    assert so_far["n_used"] == 6 and abs(so_far["nu"] - NU) < 3 * so_far["nu_err"] and so_far["nu_err"] < 0.05
    few = nu_so_far(lyse.data().iloc[:1], config)  # one shot so far: no fit yet, and why
    assert few["nu"] is None and "need at least 3 used pumped shots" in few["message"]
    # an unreadable shot is a reason, not an error
    (tmp_path / "bad.h5").write_bytes(files[0].read_bytes()[:2000])
    os.utime(tmp_path / "bad.h5", (time.time() - 10, time.time() - 10))
    assert "cannot read as HDF5" in analyse_shot(tmp_path / "bad.h5", config)["reject_reason"]


def test_a_partial_config_gives_the_numbers_of_the_full_default_config(tmp_path):
    """A config holding every section a lyse routine reads, but not every key, is filled with the schema's
    defaults (the one place they live), not with defaults of the routine's own."""
    from atompump.config import fill_defaults

    pump_run(tmp_path / "shots", n=2)
    path = sorted((tmp_path / "shots").glob("*.h5"))[1]
    partial = {"atom": "Rb87", "data": {}, "com": {}, "lattice": CONFIG["lattice"],
               "imaging": {"pixel_size_um": PIXEL_UM}}  # every section; imaging.isat_counts etc. left out
    full = fill_defaults(partial)
    assert full["imaging"]["isat_counts"] == 10000  # the schema's default, not None
    assert analyse_shot(path, partial) == analyse_shot(path, full)
    assert analyse_shot(path, partial)["used"]


def finished_run(workdir, n=8, shape=(128, 128)):
    """A finished workflow run over labscript shot files: results/reduce/shots.nc, com/com.nc, fit/summary.json
    (the files export-lyse reads), made directly."""
    truth = pump_run(workdir / "shots", n=n, shape=shape)
    records = run_shots({"shots": "shots/*.h5"})
    write_shots_table(records, workdir / "results/reduce/shots.nc", batch_size=100)
    shots = np.array([r.shot for r in records], dtype=object)
    x = np.array([truth[f"{s}.h5"] for s in shots]) + 0.01
    used = np.arange(n) != 3
    com = xr.Dataset(
        {"x_com_um": ("shot", x, {"units": "um"}), "x_com_err_um": ("shot", np.full(n, 0.05), {"units": "um"}),
         "atom_number": ("shot", np.full(n, 1234.0)), "used": ("shot", used),
         "reject_reason": ("shot", np.array(["" if u else "no cloud signal" for u in used], dtype=object)),
         "reject_cause": ("shot", np.array(["" if u else "no_cloud" for u in used], dtype=object))},
        coords={"shot": ("shot", shots), "cycle": ("shot", np.array([r.cycle for r in records])),
                "direction": ("shot", np.array([r.direction for r in records], dtype=np.int8))},
        attrs={"estimator": "fit"})
    write_dataset(com, workdir / "results/com/com.nc")
    (workdir / "results/fit").mkdir(parents=True)
    (workdir / "results/fit/summary.json").write_text(json.dumps({"nu": 0.98, "nu_err": 0.02}))
    return sorted((workdir / "shots").glob("*.h5"))


def raw_content(path):
    """The images and globals of a shot file, for comparison."""
    with h5py.File(path, "r") as f:
        images = {name: f[f"images/side/absorption/{name}"][()] for name in ("atoms", "probe", "dark")}
        return images, {k: f["globals"].attrs[k] for k in f["globals"].attrs}


def test_export_writes_results_beside_untouched_raw_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    files = finished_run(tmp_path, n=6, shape=(48, 80))
    before = {p: (raw_content(p), os.stat(p).st_mtime_ns, input_sha256(p), hashlib.sha256(p.read_bytes()).digest())
              for p in files}
    (tmp_path / ".snakemake/locks").mkdir(parents=True)
    (tmp_path / ".snakemake/locks/0.input.lock").write_text("shots/x.h5")
    with pytest.raises(InputDataError, match="a Snakemake run is in progress in .*inputs of a running analysis"):
        export_results("results")
    assert all(hashlib.sha256(p.read_bytes()).digest() == before[p][3] for p in files)  # nothing written
    (tmp_path / ".snakemake/locks/0.input.lock").unlink()
    assert export_results("results") == {"written": 6, "up_to_date": 0, "failed": {}, "files": 6}
    for p in files:
        (images, globals_), mtime, checksum, raw = before[p]
        again_images, again_globals = raw_content(p)
        assert all(np.array_equal(images[k], again_images[k]) for k in images) and again_globals.keys() == \
            globals_.keys()
        # its bytes changed, not its raw data: the provenance checksum and the date Snakemake compares are kept
        assert hashlib.sha256(p.read_bytes()).digest() != raw and input_sha256(p) == checksum
        assert os.stat(p).st_mtime_ns == mtime
        with h5py.File(p, "r") as f:
            saved = dict(f[f"results/{GROUP}"].attrs)
        assert saved["nu"] == 0.98 and saved["estimator"] == "fit" and saved["atom_number"] == 1234.0
    with h5py.File(files[3], "r") as f:
        assert not f[f"results/{GROUP}"].attrs["used"] and f[f"results/{GROUP}"].attrs["reject_reason"] == \
            "no cloud signal"
    assert main(["export-lyse", "results"]) == 0  # the command line; a second export has nothing to write
    assert "shot files: 6 (0 written, 6 already up to date)" in capsys.readouterr().out


KILLED = "import sys; from atompump.lyse.export import export_results; export_results(sys.argv[1])"


def test_export_killed_mid_way_leaves_every_shot_file_intact_and_a_rerun_completes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = finished_run(tmp_path)
    raw = {p: hdf5_content_sha256(p) for p in files}
    contents = {p: raw_content(p) for p in files}
    leftover = files[5].with_name(f".{files[5].name}{LEFTOVER_SUFFIX}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED, "results"], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not leftover.exists() and proc.poll() is None and time.monotonic() < deadline:
        pass  # the export is in the middle of the sixth file
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    exported = []
    for p in files:  # every shot file opens, with its images and globals as they were
        assert hdf5_content_sha256(p) == raw[p]
        images, globals_ = raw_content(p)
        assert all(np.array_equal(images[k], contents[p][0][k]) for k in images)
        with h5py.File(p, "r") as f:
            exported.append(f"results/{GROUP}" in f)
    assert exported[:5] == [True] * 5 and not any(exported[6:])  # killed in the middle of the sixth
    assert leftover.exists() or exported[5]  # its half-made copy is left beside it (or it had just finished)
    result = export_results("results")  # the rerun completes it
    assert result["failed"] == {} and result["up_to_date"] == sum(exported) and result["written"] == 8 - sum(exported)
    assert not list(tmp_path.glob("shots/.*")) and all(hdf5_content_sha256(p) == raw[p] for p in files)
