"""The shot protocol (cycle, direction, reference, repeat, order, sequence_cycles) is parsed once for manifests and
labscript globals (atompump.io.protocol), and a run that cannot give a measurement is refused before any job:
a negative cycle, or pumped shots all at one value of direction * cycle (issue 15, items 3 and 7)."""

from __future__ import annotations

import math
import subprocess
import sys

import h5py
import numpy as np
import pytest
import yaml

from atompump.config import planned_shot_count
from atompump.errors import InputDataError
from atompump.io import write_manifest
from atompump.io.manifest import scan_manifest
from atompump.io.protocol import FIELDS, check_manifest_protocol, lever_arm_problem, parse_protocol
from atompump.io.shots import run_shots
from atompump.stages import shots_stage


def _manifest(folder, cycles, directions=None, references=None, *, name="m.csv"):
    """A manifest of NPZ shots (one small triplet each) at the given cycles."""
    rng = np.random.default_rng(0)
    rows = []
    for i, cycle in enumerate(cycles):
        frames = {k: rng.integers(100, 2000, (8, 8)).astype(np.uint16) for k in ("atoms", "probe", "dark")}
        np.savez(folder / f"s{i}.npz", **frames)
        rows.append({"shot": f"s{i}", "file": f"s{i}.npz", "cycle": cycle,
                     "direction": (directions or [1] * len(cycles))[i],
                     "reference": "true" if references and references[i] else "false"})
    write_manifest(folder / name, rows)
    return folder / name


def test_one_parser_for_manifest_cells_and_labscript_globals(tmp_path):
    """The same values parse to the same protocol whether written as CSV text or stored as HDF5 globals, and the
    same bad value gets the same complaint (named as the cell or as the global)."""
    cells = {"cycle": "2.5", "direction": "-1", "reference": "yes", "repeat": "3", "order": "7",
             "sequence_cycles": "2.5"}
    protocol, problems = parse_protocol(cells, name_of=lambda f, v: f)
    assert problems == []
    assert protocol == {"cycle": 2.5, "direction": -1, "reference": True, "repeat": 3, "order": 7,
                        "sequence_cycles": 2.5}
    # absent optional fields take their defaults; a missing cycle is named
    protocol, problems = parse_protocol({}, name_of=lambda f, v: f)
    assert math.isnan(protocol["cycle"]) and protocol["direction"] == 1 and protocol["reference"] is False
    assert problems == ["cycle is missing; expected a finite number >= 0"]

    with h5py.File(tmp_path / "shot.h5", "w") as f:
        g = f.create_group("images/side/absorption")
        for name in ("atoms", "probe", "dark"):
            g.create_dataset(name, data=np.full((4, 4), 100, np.uint16))
        f.create_group("globals").attrs.update({"n_cycles": -2.0, "direction": 2, "reference": False,
                                                "repeat": 1.5, "T_cycle": 2.5})
    record = run_shots({"shots": str(tmp_path / "shot.h5"), "globals": {"cycle": "n_cycles"}})[0]
    assert "global 'n_cycles' (data.globals.cycle) = -2.0 is not a finite number >= 0" in record.problem
    assert "global 'direction' (data.globals.direction) = 2 is not +1 or -1" in record.problem
    assert "global 'repeat' (data.globals.repeat) = 1.5 is not an integer" in record.problem
    assert record.metadata == {"T_cycle": 2.5}  # the protocol's globals are not carried as metadata

    path = _manifest(tmp_path, ["-2", "1"])
    rows = {r.shot: r for r in scan_manifest(path)}
    assert "line 2: cycle '-2' is not a finite number >= 0" in rows["s0"].problem
    assert rows["s1"].problem == "" and rows["s1"].cycle == 1.0
    assert FIELDS == ("cycle", "direction", "reference", "repeat", "order", "sequence_cycles")


def test_negative_cycle_refused_naming_the_manifest_line(tmp_path):
    path = _manifest(tmp_path, [0, 1, 2, -1, 3, -4])
    with pytest.raises(InputDataError, match=r"^manifest .*m\.csv line 5 \(and 1 more rows\): cycle '-1' is "
                                             r"negative; .*fix the row and rerun$"):
        check_manifest_protocol(path)
    # the workflow plans its jobs through planned_shot_count: refused there, before any job
    with pytest.raises(InputDataError, match=r"line 5 .*cycle '-1' is negative"):
        planned_shot_count({"data": {"source": "measured", "manifest": str(path)}})
    (tmp_path / "empty.csv").write_text("shot,file,cycle\n")
    assert check_manifest_protocol(tmp_path / "empty.csv") == 0  # refused by the workflow: test_refused_up_front


def test_shots_all_at_one_cycle_refused(tmp_path):
    path = _manifest(tmp_path, [2, 2, 2, 2])
    with pytest.raises(InputDataError, match=r"^manifest .*m\.csv lines 2-5: every pumped shot \(4\) was taken "
                                             r"after 2 cycles in direction \+1; the displacement per cycle needs "
                                             r"pumped shots at two or more cycles \(or both directions\): add them"):
        check_manifest_protocol(path)
    # reference shots do not give a lever arm; both directions at one non-zero cycle do
    refs = _manifest(tmp_path, [2, 0, 2, 0], references=[False, True, False, True], name="refs.csv")
    with pytest.raises(InputDataError, match=r"every pumped shot \(2\) was taken after 2 cycles"):
        check_manifest_protocol(refs)
    assert check_manifest_protocol(_manifest(tmp_path, [2, 2], directions=[1, -1], name="both.csv")) == 2
    assert lever_arm_problem([0, 0], [1, -1], [False, False]).startswith("every pumped shot (2) was taken after 0")
    assert lever_arm_problem([], [], []) == ""

    # the run table (also for labscript runs, whose globals are read only there) refuses it before any batch
    with pytest.raises(InputDataError, match=r"m\.csv: every pumped shot \(4\) was taken after 2 cycles in "
                                             r"direction \+1 \(good shots only\)"):
        shots_stage(tmp_path / "shots.nc", data={"manifest": str(path)}, batch_size=10)


def test_workflow_refuses_before_any_job(repo_root, tmp_path):
    _manifest(tmp_path, [1, 1, 1])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "measured", "manifest": "m.csv"}}))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d",
                           str(tmp_path), "--configfile", str(config), "--cores", "1"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode != 0
    assert ("manifest m.csv lines 2-4: every pumped shot (3) was taken after 1 cycles in direction +1"
            in proc.stderr), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()
