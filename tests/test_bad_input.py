"""Bad input: every case is named with its shot and file, all bad shots of a run are listed together (across
batches), or recorded as rejected with data.on_bad_shot: reject."""

import json

import numpy as np
import pytest

from atompump.errors import BadShotsError, InputDataError
from atompump.io import read_dataset, write_manifest
from atompump.io.shots import check_shots, read_shot, run_shots
from atompump.stages import check_reduce_stage, fringe_basis_stage, reduce_batch_stage, shots_stage

IMAGING = {"pixel_size_um": 1.0, "pump_axis": "x", "alpha": 1.0, "isat_counts": None, "min_probe_counts": 50,
           "saturation_counts": 65535, "cross_section_um2": None, "roi": None, "roi_sample_shots": 20,
           "fringe_removal": True, "fringe_max_frames": 100, "fringe_basis_size": None}


def good_frames(rng, shape=(32, 48)):
    """A cloud at the centre of a uniform probe, with photon noise."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    od = 1.0 * np.exp(-((x - shape[1] / 2) ** 2 + (y - shape[0] / 2) ** 2) / (2 * 3.0**2))
    probe = rng.poisson(2000.0, shape) + 100
    atoms = rng.poisson(2000.0 * np.exp(-od)) + 100
    dark = rng.poisson(100.0, shape)
    return {"atoms": atoms.astype(np.uint16), "probe": probe.astype(np.uint16), "dark": dark.astype(np.uint16)}


# shot index -> (how it is broken, text expected in its reason)
BROKEN = {
    1: ("truncated", "cannot read as NPZ"),
    3: ("missing frame", "frame 'dark' does not exist; the file holds 2 frame(s), named atoms, probe"),
    4: ("shapes differ", "frames have different shapes atoms (32, 48), probe (32, 48), dark (10, 10)"),
    6: ("run shape", "frame shape (30, 48) differs from the run's (32, 48)"),
    7: ("all-zero probe", "probe frame"),
    9: ("NaN", "1 pixel(s) are NaN or infinite"),
    10: ("missing path", "does not exist"),
    12: ("duplicate", "duplicate shot id (first on line 2)"),
    13: ("dtype", "unexpected dtype complex64"),
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    """A run of 16 NPZ shots (one file per shot) with the cases of BROKEN."""
    folder = tmp_path_factory.mktemp("badrun")
    rng = np.random.default_rng(7)
    rows = []
    for i in range(16):
        frames = good_frames(rng)
        kind = BROKEN.get(i, ("",))[0]
        name = f"s{i:02d}.npz"
        if kind == "missing frame":
            del frames["dark"]
        elif kind == "shapes differ":
            frames["dark"] = frames["dark"][:10, :10]
        elif kind == "run shape":
            frames = {k: v[:30] for k, v in frames.items()}
        elif kind == "all-zero probe":
            frames["probe"] = np.zeros_like(frames["probe"])
        elif kind == "NaN":
            frames = {k: v.astype(np.float32) for k, v in frames.items()}
            frames["atoms"][5, 5] = np.nan
        elif kind == "dtype":
            frames["atoms"] = frames["atoms"].astype(np.complex64)
        if kind != "missing path":
            np.savez(folder / name, **frames)
        if kind == "truncated":
            data = (folder / name).read_bytes()
            (folder / name).write_bytes(data[: len(data) // 2])
        shot = "s00" if kind == "duplicate" else f"s{i:02d}"
        rows.append({"shot": shot, "file": name, "cycle": float(i % 4), "direction": 1 if i % 2 else -1})
    write_manifest(folder / "manifest.csv", rows)
    return folder


def expected_label(i):
    return "s00@line14" if i == 12 else f"s{i:02d}"


def test_every_case_is_named_with_shot_and_file(bad_run):
    records, shape = check_shots(run_shots({"manifest": str(bad_run / "manifest.csv")}))
    assert shape == (32, 48)
    problems = {r.shot: r.problem for r in records if r.problem}
    for i, (kind, text) in BROKEN.items():
        if kind in ("all-zero probe", "NaN"):  # found only when the pixels are read
            assert expected_label(i) not in problems
            with pytest.raises(Exception, match=f"s{i:02d}.npz.*") as info:
                read_shot(records[i])
            assert text in str(info.value), kind
        else:
            assert text in problems[expected_label(i)], kind
            if kind not in ("duplicate",):
                assert f"s{i:02d}.npz" in problems[expected_label(i)], kind
    assert len(problems) == 7


def run_stages(folder, on_bad_shot, batch_size=5):
    out = folder / f"results-{on_bad_shot}"
    shots_stage(out / "shots.nc", data={"manifest": str(folder / "manifest.csv")}, batch_size=batch_size)
    table = read_dataset(out / "shots.nc")
    assert table.sizes["shot"] == 16 and table.attrs["frame_shape"].tolist() == [32, 48]
    fringe_basis_stage(out / "shots.nc", out / "basis.nc", imaging=IMAGING)
    n_batches = int(table.batch.values.max()) + 1
    paths = []
    for b in range(n_batches):
        reduce_batch_stage(out / "shots.nc", out / "basis.nc", out / f"batch-{b}.nc", batch=b, imaging=IMAGING)
        paths.append(out / f"batch-{b}.nc")
    return out, paths, check_reduce_stage(paths, out / "check.json", on_bad_shot=on_bad_shot)


def test_all_bad_shots_of_the_run_are_listed_across_batches(bad_run):
    with pytest.raises(BadShotsError, match=r"^9 bad shot\(s\):") as info:
        run_stages(bad_run, "error")
    listed = [shot for shot, _ in info.value.problems]
    assert listed == [expected_label(i) for i in sorted(BROKEN)]  # from all four batches, in run order
    text = str(info.value)
    assert "set data.on_bad_shot: reject" in text
    for i, (_, reason) in BROKEN.items():
        assert reason in text


def test_reject_records_every_bad_shot_and_goes_on(bad_run):
    out, paths, summary = run_stages(bad_run, "reject")
    assert summary["n_shots"] == 16 and summary["n_bad"] == 9
    assert set(summary["bad_shots"]) == {expected_label(i) for i in BROKEN}
    assert json.loads((out / "check.json").read_text()) == summary
    batch = read_dataset(paths[0])
    assert batch.bad_input.values.tolist() == [False, True, False, True, True]
    assert np.isnan(batch.od.values[1]).all() and np.isfinite(batch.od.values[0][batch.valid.values[0]]).all()


def test_roi_from_config_overrides_the_search_and_is_checked(tmp_path):
    """imaging.roi replaces the automatic search (the reduced OD is cut to it); a box outside the frames is refused
    naming the key and the frame size."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(6):
        np.savez(tmp_path / f"s{i}.npz", **good_frames(rng))
        rows.append({"shot": f"s{i}", "file": f"s{i}.npz", "cycle": float(i % 3), "direction": 1})
    write_manifest(tmp_path / "manifest.csv", rows)
    shots_stage(tmp_path / "shots.nc", data={"manifest": str(tmp_path / "manifest.csv")}, batch_size=6)
    found = fringe_basis_stage(tmp_path / "shots.nc", tmp_path / "found.nc", imaging=IMAGING)
    override = [2, 30, 5, 45]
    assert list(found.attrs["roi"]) != override
    basis = fringe_basis_stage(tmp_path / "shots.nc", tmp_path / "basis.nc", imaging={**IMAGING, "roi": override})
    assert list(basis.attrs["roi"]) == override
    batch = reduce_batch_stage(tmp_path / "shots.nc", tmp_path / "basis.nc", tmp_path / "batch-0.nc", batch=0,
                               imaging={**IMAGING, "roi": override})
    assert batch.od.shape == (6, 28, 40)
    # the cloud (peak OD 1 at the frame centre, row 16 and column 24) sits in the cut at row 14, column 19
    mean_od = np.nanmean(batch.od.values, axis=0)
    assert np.unravel_index(np.nanargmax(mean_od), mean_od.shape) in {(r, c) for r in (13, 14, 15) for c in (18, 19, 20)}
    with pytest.raises(InputDataError, match=r"config key 'imaging.roi': \[0, 40, 0, 48\] is not inside the frames of "
                                        r"32 rows x 48 columns"):
        fringe_basis_stage(tmp_path / "shots.nc", tmp_path / "bad.nc", imaging={**IMAGING, "roi": [0, 40, 0, 48]})
    # the library names its own parameter (n_components), the stage the config key (imaging.fringe_basis_size)
    from atompump.errors import ConfigError, ParameterError
    from atompump.reduce import build_fringe_basis

    with pytest.raises(ParameterError, match=r"^n_components = 9 must lie in 1..6 \(the number of probe frames\)$"):
        build_fringe_basis(rng.normal(100.0, 1.0, (6, 32, 48)), roi=(10, 20, 10, 20), box=(0, 32, 0, 48),
                           valid=np.ones((32, 48), bool), n_components=9)
    with pytest.raises(ConfigError, match=r"^config key 'imaging.fringe_basis_size': imaging.fringe_basis_size = 9 "
                                          r"must lie in 1..6"):
        fringe_basis_stage(tmp_path / "shots.nc", tmp_path / "bad.nc", imaging={**IMAGING, "fringe_basis_size": 9})
