"""Large runs (issue 7): progress lines in long library calls, the streaming gather, the bounded fringe-basis sample,
and the clean-up of what a killed job leaves behind. The kill-and-resume run of the workflow is in
tests/test_workflow.py; memory and time growth are measured by benchmarks/scaling.py."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import yaml

from atompump._logging import Progress
from atompump.config import config_section
from atompump.errors import InputDataError
from atompump.io import read_dataset
from atompump.io.atomic import remove_partial_files
from atompump.io.netcdf import read_variables, write_dataset, write_dataset_blocks
from atompump.stages import gather_com_stage, run_analysis, simulate_stage
from atompump.stages.com import atom_number_outliers, choose_estimator

log = logging.getLogger("atompump.test_scale")


def _messages(caplog, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def test_progress_logs_every_tenth_and_the_end(caplog):
    caplog.set_level(logging.INFO)
    progress = Progress(log, "simulate", 20000, unit="shots")
    for _ in range(20000):
        progress.update()
    lines = _messages(caplog, "simulate:")
    assert lines == [f"simulate: {2000 * k}/20000 shots ({10 * k} %)" for k in range(1, 11)]

    caplog.clear()
    progress = Progress(log, "gather", 25, unit="batch files")  # marks every ceil(2.5) = 3, and the end
    for _ in range(25):
        progress.update()
    assert [int(m.split()[1].split("/")[0]) for m in _messages(caplog, "gather:")] == [3, 6, 9, 12, 15, 18, 21, 24, 25]

    caplog.clear()
    progress = Progress(log, "run table", None, unit="shots checked", every=1024)  # length unknown
    progress.update(1000)
    progress.update(1100)
    assert _messages(caplog, "run table:") == ["run table: 2100 shots checked"]
    with pytest.raises(ValueError, match="fraction must be in"):
        Progress(log, "x", 10, fraction=0)


@pytest.fixture(scope="module")
def default_config(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def test_long_library_calls_log_progress_and_the_basis_sample_is_bounded(default_config, tmp_path, caplog):
    """A 60-shot run through the stages: simulation, run table, fringe basis, gather and provenance log progress;
    the fringe basis is built from imaging.fringe_max_frames = 25 probe frames spread over the run."""
    caplog.set_level(logging.INFO)
    config = copy.deepcopy(default_config)
    config["simulation"].update({"cycles": [0, 1, 2], "repeats": 10, "references": False, "dynamics": "rigid",
                                 "image_shape": [32, 64], "cloud_sigma_um": [4.0, 4.0], "order": "interleaved"})
    config["simulation"]["camera"]["noise_model"] = "fast"
    config["imaging"].update({"pixel_size_um": 1.0, "fringe_max_frames": 25})
    config["data"]["batch_size"] = 16
    run = tmp_path / "run"
    simulate_stage(run, simulation=config["simulation"], imaging=config["imaging"], lattice=config["lattice"],
                   atom=config["atom"], pump=config["pump"])
    assert _messages(caplog, "simulate:") == [f"simulate: {6 * k}/60 shots imaged and written ({10 * k} %)"
                                              for k in range(1, 11)]
    (tmp_path / "theory.json").write_text(json.dumps({"dl_um": 0.767, "chern_numbers": [1, -1, 1],
                                                      "nu_theory": 1.0}))
    caplog.clear()
    summary = run_analysis(config, tmp_path / "out", manifest=run / "manifest.csv",
                           theory_json=tmp_path / "theory.json")
    assert summary["n_shots"] == summary["n_used"] == 60
    assert _messages(caplog, "run table:")[-1] == "run table: 60/60 shots checked (100 %)"
    assert len(_messages(caplog, "run table:")) == 10
    assert _messages(caplog, "fringe basis: 25/25 probe frames read (100 %)")
    assert _messages(caplog, "fringe basis: decomposing 25 probe frames of ")
    assert "(imaging.fringe_max_frames = 25)" in _messages(caplog, "fringe basis: decomposing")[0]
    assert _messages(caplog, "gather, pass 2 of 2 (write com.nc): 4/4 batch files (100 %)")
    assert _messages(caplog, "gathered 60 shots from 4 batch files: 60 used, 0 atom-number outliers rejected")
    # the basis holds the bounded sample, spread evenly over the 60 shots (first and last included)
    attrs = read_variables(tmp_path / "out" / "fringe_basis.nc", [])[1]
    assert attrs["n_frames"] == 25 and 1 <= attrs["n_components"] < 25


def _com_batch(shots: list[str], atom_number: np.ndarray, rng, *, reasons: list[str] | None = None) -> xr.Dataset:
    n = len(shots)
    reasons = reasons or [""] * n
    err = rng.uniform(0.01, 0.02, n)
    x = rng.normal(30, 1, n)
    nan = np.full(n, np.nan)
    return xr.Dataset(
        {
            "x_com_um": ("shot", x, {"units": "um", "long_name": "centre"}),
            "x_com_err_um": ("shot", err, {"units": "um"}),
            "x_moment_um": ("shot", x + rng.normal(0, 0.01, n), {"units": "um"}),
            "x_moment_err_um": ("shot", 1.5 * err, {"units": "um"}),
            "x_fit_um": ("shot", x, {"units": "um"}),
            "x_fit_err_um": ("shot", err, {"units": "um"}),
            "x_template_um": ("shot", nan, {"units": "um"}),
            "x_template_err_um": ("shot", nan, {"units": "um"}),
            "x_moment_white_err_um": ("shot", 0.5 * err, {"units": "um"}),
            "x_fit_white_err_um": ("shot", 0.4 * err, {"units": "um"}),
            "x_template_white_err_um": ("shot", nan, {"units": "um"}),
            "crb_um": ("shot", 0.9 * err, {"units": "um"}),
            "crb_template_um": ("shot", nan, {"units": "um"}),
            "fit_problem": ("shot", np.array([""] * n, dtype=object)),
            "template_problem": ("shot", np.array(["no template for this run"] * n, dtype=object)),
            "atom_number": ("shot", atom_number, {"units": "1"}),
            "used": ("shot", np.array([not r for r in reasons]), {"long_name": "used"}),
            "reject_reason": ("shot", np.array(reasons, dtype=object), {"long_name": "why"}),
            "reject_cause": ("shot", np.array(["fit_failed" if r else "" for r in reasons], dtype=object)),
        },
        coords={"shot": ("shot", np.array(shots, dtype=object)),
                "cycle": ("shot", np.arange(n, dtype=float) % 4, {"units": "1"}),
                "direction": ("shot", np.where(np.arange(n) % 2, 1, -1).astype(np.int8)),
                "reference": ("shot", np.zeros(n, bool)),
                "atoms_file": ("shot", np.array([f"frames/{s}_atoms.tif" for s in shots], dtype=object))},
        attrs={"pixel_size_um": 0.5, "pump_axis": "x", "estimator": "fit", "estimator_requested": "fit"},
    )


def test_gather_streams_batches_into_the_same_table_with_the_run_level_cut(tmp_path, caplog):
    rng = np.random.default_rng(21)
    atoms = rng.normal(3000, 100, 50)
    atoms[7], atoms[33] = 1200, 4900  # outliers: -18 and +19 robust sigmas
    reasons = [""] * 50
    reasons[20] = "profile fit failed"
    paths, parts = [], []
    for b, rows in enumerate((slice(0, 16), slice(16, 32), slice(32, 48), slice(48, 50))):
        shots = [f"s{i:03d}" for i in range(50)][rows]
        parts.append(_com_batch(shots, atoms[rows], rng, reasons=reasons[rows]))
        paths.append(tmp_path / f"batch-{b:04d}.nc")
        write_dataset(parts[-1], paths[-1])
    caplog.set_level(logging.INFO)
    summary = gather_com_stage(paths, tmp_path / "com.nc", com=config_section("com", {"atom_number_outlier_mads": 5.0}))
    assert summary["n_shots"] == 50 and summary["n_outliers"] == 2 and summary["n_used"] == 47
    # the same table as concatenating every batch in memory and applying the cut
    expected = xr.concat(parts, dim="shot")
    cut = list(expected.reject_reason.values)
    causes = list(expected.reject_cause.values)
    for i, reason in atom_number_outliers(expected.atom_number.values, expected.used.values, max_mads=5.0).items():
        cut[i], causes[i] = reason, reason.code
    assert [causes[7], causes[33]] == ["atom_number_outlier"] * 2
    expected["reject_reason"] = ("shot", np.array([str(r) for r in cut], dtype=object), expected.reject_reason.attrs)
    expected["reject_cause"] = ("shot", np.array(causes, dtype=object))
    expected["used"] = ("shot", np.array([not r for r in cut]), expected.used.attrs)
    used = expected.used.values
    crb, fit_err = expected.crb_um.values[used], expected.x_fit_err_um.values[used]
    columns = {name: expected[name].values for name in expected.variables}
    _, why, consistency = choose_estimator("fit", columns, used)
    expected.attrs.update(median_crb_um=float(np.median(crb)), crb_of="fit",
                          median_fit_err_um=float(np.median(fit_err)),
                          median_fit_white_err_um=float(np.median(0.4 * fit_err)),
                          efficiency_fit=float(np.median((crb / fit_err) ** 2)),
                          median_moment_err_um=float(np.median(expected.x_moment_err_um.values[used])),
                          median_moment_white_err_um=float(np.median(expected.x_moment_white_err_um.values[used])),
                          efficiency_moment=float(np.median((crb / expected.x_moment_err_um.values[used]) ** 2)),
                          estimator_reason=why, estimator_consistency=json.dumps(consistency, sort_keys=True))
    expected["x_com_um"].attrs["long_name"] = "centre of mass along the pump axis (fit)"
    com = read_dataset(tmp_path / "com.nc")
    # the same encoding and CF attributes as the one-piece writer gives the whole table
    write_dataset(expected, tmp_path / "expected.nc", title="atompump centre of mass of every shot of the run")
    xr.testing.assert_identical(com, read_dataset(tmp_path / "expected.nc"))
    assert com.efficiency_fit == pytest.approx(0.81) and com.efficiency_moment == pytest.approx(0.36)
    assert com.estimator == "fit" and "set in the config" in com.estimator_reason
    assert "atom number 1200 is an outlier" in str(com.reject_reason.values[7])
    assert com.reject_reason.values[20] == "profile fit failed" and not com.used.values[33]
    assert _messages(caplog, "gather, pass 1 of 2 (run-level cut):")[-1].endswith("4/4 batch files (100 %)")

    # a shot id in two batches, and an unreadable batch file, are named
    write_dataset(_com_batch(["s001", "s900"], np.full(2, 3000.0), rng), tmp_path / "dup.nc")
    with pytest.raises(InputDataError, match=r"shot ids repeat across batches: \['s001'\]"):
        gather_com_stage([*paths, tmp_path / "dup.nc"], tmp_path / "bad.nc", com=config_section("com"))
    (tmp_path / "broken.nc").write_bytes(paths[1].read_bytes()[:300])
    with pytest.raises(InputDataError, match="broken.nc: cannot read"):
        gather_com_stage([paths[0], tmp_path / "broken.nc"], tmp_path / "bad.nc", com=config_section("com"))
    assert not (tmp_path / "bad.nc").exists()


def test_block_writer_checks_the_rows(tmp_path):
    template = xr.Dataset({"a": ("shot", np.zeros(0))}, coords={"shot": ("shot", np.array([], dtype=object))})
    blocks = [{"a": np.arange(3.0), "shot": np.array(["x", "y", "z"], dtype=object)}]
    write_dataset_blocks(tmp_path / "ok.nc", template, blocks, size=3)
    assert read_dataset(tmp_path / "ok.nc").a.values.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="the blocks hold 3 rows, not size = 4"):
        write_dataset_blocks(tmp_path / "short.nc", template, blocks, size=4)
    with pytest.raises(ValueError, match="different lengths"):
        write_dataset_blocks(tmp_path / "ragged.nc", template, [{"a": np.arange(2.0), "shot": blocks[0]["shot"]}],
                             size=3)
    assert not (tmp_path / "short.nc").exists() and not list(tmp_path.glob(".*"))


def test_partial_files_of_a_killed_writer_are_removed(tmp_path):
    # a process dies inside atomic_path (os._exit: no clean-up, as after SIGKILL) and leaves its temporary file
    code = ("import os, sys; from atompump.io.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1], suffix='.nc') as tmp:\n"
            "    tmp.write_bytes(b'half')\n    os._exit(9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "batch-0001.nc")], check=False)
    assert proc.returncode == 9
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 1 and left[0].startswith(".batch-0001.nc.") and left[0].endswith(".nc")
    (tmp_path / ".batch-0002.nc.abcdefgh.nc").write_bytes(b"another job's")
    (tmp_path / ".batch-0001.nc.notes").write_bytes(b"not a temporary file")
    (tmp_path / "batch-0001.nc").write_bytes(b"done")
    removed = remove_partial_files([tmp_path / "batch-0001.nc", tmp_path / "missing" / "x.nc"])
    assert [p.name for p in removed] == left
    assert sorted(p.name for p in tmp_path.iterdir()) == [".batch-0001.nc.notes", ".batch-0002.nc.abcdefgh.nc",
                                                           "batch-0001.nc"]


def _pair_by_listing_every_candidate(first, second, key, order):
    """The definition of nearest-first pairing, in O(n^2): every candidate pair sorted, taken greedily."""
    candidates = sorted((abs(order[i] - order[j]), order[i], i, j) for i in first for j in second[key[second] == key[i]])
    used_first, used_second, pairs = set(), set(), []
    for _, _, i, j in candidates:
        if i not in used_first and j not in used_second:
            used_first.add(i)
            used_second.add(j)
            pairs.append((i, j))
    return np.array(sorted(pairs), dtype=int).reshape(-1, 2)


def test_nearest_first_pairing_of_long_runs_matches_its_definition():
    from atompump.fit.analyses import _pair_nearest

    for seed in range(200):  # random sides, keys and acquisition orders, repeated orders included
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 50))
        key = rng.integers(0, 3, n).astype(float)
        order = rng.integers(0, n // 2 + 2, n) if seed % 2 else rng.permutation(n)
        side = rng.random(n) < rng.uniform(0.2, 0.8)
        first, second = np.flatnonzero(side), np.flatnonzero(~side)
        np.testing.assert_array_equal(_pair_nearest(first, second, key, order),
                                      _pair_by_listing_every_candidate(first, second, key, order))
    # 20,000 interleaved shots (+, - alternating, 5 cycles): every + shot pairs with its - neighbour of the same cycle
    n = 20000
    order = np.arange(n)
    cycle = (order // 2 % 5).astype(float)
    pairs = _pair_nearest(order[order % 2 == 0], order[order % 2 == 1], cycle, order)
    assert pairs.shape == (10000, 2) and np.all(pairs[:, 1] - pairs[:, 0] == 1)
