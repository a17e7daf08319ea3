"""labscript as it is (issue 14): shot files written with runmanager's, BLACS's and the camera workers' own h5py
calls; acquisition order and repeats from the files' attributes, every global carried with its units, locked files
waited for, 3D ``frame`` datasets by page index."""

import datetime
import os
import subprocess
import sys

import numpy as np
import pytest
from labscript_files import (
    DEFAULT_FRAMETYPE,
    NAMED_FRAMETYPES,
    blacs_repeat,
    blacs_run,
    camera_save,
    runmanager_shot,
    sequence_attrs,
)

from atompump.errors import InputDataError
from atompump.io import read_dataset
from atompump.io.runtable import global_variable, write_shots_table
from atompump.io.shots import check_shots, read_shot, run_shots

SEQUENCE_GLOBALS = {  # runmanager's globals file: (expression, units, expansion) per global, by group
    "pump": {"cycle": ("[0, 1, 2, 3]", "", "outer"), "direction": ("1", "", ""), "T_cycle": ("2.5", "ms", "")},
    "imaging": {"probe_detuning": ("-1.5", "MHz", ""), "tof": ("None", "", ""), "note": ("'pump run'", "", "")},
}


def triplet(seed, shape=(10, 12)):
    rng = np.random.default_rng(seed)
    dark = rng.integers(90, 110, shape)
    probe = dark + rng.integers(900, 1100, shape)
    return [probe - rng.integers(0, 400, shape), probe, dark]


def labscript_run(folder, *, exposures=DEFAULT_FRAMETYPE, repeats=(0, 1)):
    """Four shots compiled by runmanager and run by BLACS in order, then BLACS's repeats of shots 0 and 1 (run
    after all the originals; their files sort right after their originals)."""
    folder.mkdir(exist_ok=True)
    start = datetime.datetime(2026, 12, 3, 10, 15, 0)
    names = []
    for i in range(4):
        name = folder / f"20261203T101500_pump_{i}.h5"
        run_globals = {"cycle": float(i), "direction": 1, "T_cycle": 2.5, "probe_detuning": -1.5 + 0.1 * i,
                       "tof": None, "note": "pump run"}
        runmanager_shot(name, SEQUENCE_GLOBALS, run_globals, sequence_attrs(), i, 4)
        blacs_run(name, start + datetime.timedelta(seconds=20 * i))
        camera_save(name, triplet(i), exposures)
        names.append(name)
    for k, i in enumerate(repeats):
        rep = folder / f"20261203T101500_pump_{i}_rep00001.h5"
        blacs_repeat(names[i], rep, 1)
        blacs_run(rep, start + datetime.timedelta(seconds=100 + 20 * k))
        camera_save(rep, triplet(10 + i), exposures)
    return folder


def test_order_repeats_globals_and_units_as_labscript_writes_them(tmp_path):
    folder = labscript_run(tmp_path / "run")
    data = {"shots": str(folder / "*.h5"), "frames": {"orientation": "side", "label": "absorption"}}
    records = run_shots(data)
    # sorted names put each repeat right after its original; the files' run times give the true order
    assert [r.shot.removeprefix("20261203T101500_pump_") for r in records] == ["0", "0_rep00001", "1",
                                                                                "1_rep00001", "2", "3"]
    assert [r.order for r in records] == [0, 4, 1, 5, 2, 3]
    assert [r.repeat for r in records] == [0, 1, 0, 1, 0, 0]
    assert records[1].run_time == "2026-12-03T10:16:40"
    assert records[2].metadata == {"T_cycle": 2.5, "probe_detuning": pytest.approx(-1.4), "tof": None,
                                   "note": "pump run"}
    assert records[2].units == {"T_cycle": "ms", "probe_detuning": "MHz"}
    # the run table carries every global (null: missing), with runmanager's units, and the run time
    checked, shape = check_shots(records)
    assert shape == (10, 12) and not any(r.problem for r in checked)
    write_shots_table(records, tmp_path / "shots.nc", batch_size=4)
    table = read_dataset(tmp_path / "shots.nc")
    assert table["global_T_cycle"].attrs["units"] == "ms" and table["global_probe_detuning"].attrs["units"] == "MHz"
    np.testing.assert_allclose(table["global_probe_detuning"].values, [-1.5, -1.5, -1.4, -1.4, -1.3, -1.2])
    assert np.all(np.isnan(table["global_tof"].values))  # a null global, not "<HDF5 object reference (null)>"
    assert list(table["global_note"].values) == ["pump run"] * 6
    assert table["run_time"].values[0] == "2026-12-03T10:15:00" and table.order.values.tolist() == [0, 4, 1, 5, 2, 3]
    assert {"global_T_cycle", "global_tof", "run_time"} <= set(table.coords)  # per-shot coordinates
    assert global_variable("probe detuning (MHz)") == "global_probe_detuning__MHz_"


def test_default_frametype_is_one_3d_dataset_read_by_page(tmp_path):
    folder = labscript_run(tmp_path / "run", repeats=())
    # the README's orientation/label settings: the exposures are the pages of /images/side/absorption/frame
    record = run_shots({"shots": str(folder / "*_2.h5"), "frames": {"orientation": "side", "label": "absorption"}})[0]
    frames = read_shot(record)  # default names atoms, probe, dark = pages 0, 1, 2
    for got, want in zip((frames.atoms, frames.probe, frames.dark), triplet(2)):
        np.testing.assert_array_equal(got, want)
    swapped = run_shots({"shots": str(folder / "*_2.h5"), "frames": {"atoms": 0, "probe": 2, "dark": 1}})[0]
    np.testing.assert_array_equal(read_shot(swapped).probe, triplet(2)[2])  # no orientation: the one camera
    named = run_shots({"shots": str(folder / "*_2.h5"), "frames": {"atoms": "with_atoms"}})[0]
    with pytest.raises(InputDataError, match=r"frame 'with_atoms' does not exist; the file holds 3 unnamed frame\(s\): "
                                             r"the pages 0..2 of the 3D dataset /images/side/absorption/frame.*"
                                             r"name the pages by index, e.g. frames: \{atoms: 0, probe: 1, "
                                             r"dark: 2\}.*frametype='atoms'"):
        read_shot(named)  # the library names its own parameter (frames) ...
    from atompump.config import DATA_KEYS, config_keys

    with pytest.raises(InputDataError, match=r"e.g. data.frames: \{atoms: 0, probe: 1, dark: 2\}"):
        with config_keys(DATA_KEYS):  # ... the stages that read the shots name the config key
            read_shot(named)
    # a camera with one frametype per exposure: three 2D datasets, read by name
    other = labscript_run(tmp_path / "named", exposures=NAMED_FRAMETYPES, repeats=())
    record = run_shots({"shots": str(other / "*_1.h5")})[0]
    np.testing.assert_array_equal(read_shot(record).dark, triplet(1)[2])


HOLD = """
import sys, time, h5py
f = h5py.File(sys.argv[1], "r+")   # open for writing, as BLACS or a lyse routine does: HDF5 takes the file's lock
f.attrs["busy"] = 1
print("open", flush=True)
time.sleep(float(sys.argv[2]))
f.close()
"""


def test_a_locked_shot_file_is_waited_for_then_read(tmp_path, monkeypatch):
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)  # HDF5's file locking on (its default)
    folder = labscript_run(tmp_path / "run", repeats=())
    locked = folder / "20261203T101500_pump_1.h5"
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(locked), "1.5"], stdout=subprocess.PIPE, text=True,
                              env=env)
    try:
        assert holder.stdout.readline().strip() == "open"
        data = {"shots": str(folder / "*.h5"), "file_wait_s": 0}
        impatient = {r.shot: r.problem for r in run_shots(data)}
        assert "is locked by another program that has it open for writing" in impatient[locked.stem]
        assert "data.file_wait_s" in impatient[locked.stem]
        records, _ = check_shots(run_shots({**data, "file_wait_s": 20}))  # waits for the writer to close it
    finally:
        holder.wait(timeout=30)
    assert not any(r.problem for r in records)
    assert [r.order for r in records] == [0, 1, 2, 3] and records[1].cycle == 1.0


def test_a_file_still_being_written_is_waited_for_and_an_old_broken_one_is_not(tmp_path):
    import threading

    from atompump.io.formats import open_when_ready

    folder = labscript_run(tmp_path / "run", repeats=())
    whole = (folder / "20261203T101500_pump_0.h5").read_bytes()
    copying = tmp_path / "copying.h5"
    copying.write_bytes(whole[: len(whole) // 3])  # a copy in progress: the rest arrives in 0.3 s
    finish = threading.Timer(0.3, copying.write_bytes, args=(whole,))
    finish.start()
    try:
        with open_when_ready(copying, "/images/side/absorption", wait_s=10) as image:
            np.testing.assert_array_equal(image.read(1), triplet(0)[1])
    finally:
        finish.join()
    broken = tmp_path / "broken.h5"
    broken.write_bytes(whole[: len(whole) // 3])
    os.utime(broken, (1.7e9, 1.7e9))  # truncated long ago: bad at once, no wait
    with pytest.raises(InputDataError, match=r"(?s)broken.h5: cannot read as HDF5 .*still being written$"):
        open_when_ready(broken, wait_s=10)
