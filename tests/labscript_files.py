"""Shot files written with the h5py calls of the labscript suite itself (test helper, not a test module).

Each function repeats the calls of the labscript code named in its docstring (labscript-suite/runmanager,
labscript-suite/blacs, labscript-suite/labscript-devices), so that the readers are tested on files as the lab has
them, not on a layout of our own.
"""

from __future__ import annotations

import datetime

import h5py
import numpy as np


def runmanager_shot(filename, sequence_globals, run_globals, sequence_attrs, run_no, n_runs) -> None:
    """``runmanager.make_single_run_file``: sequence attributes and ``run number`` on the root, every global's
    expression, units and expansion in ``/globals/<group>`` (+ ``units``, ``expansion``), the evaluated globals as
    attributes of ``/globals`` (None as a null object reference)."""
    with h5py.File(filename, "w") as f:
        f.attrs.update(sequence_attrs)
        f.attrs["run number"] = run_no
        f.attrs["n_runs"] = n_runs
        f.create_group("globals")
        if sequence_globals is not None:
            for groupname, groupvars in sequence_globals.items():
                group = f["globals"].create_group(groupname)
                unitsgroup = group.create_group("units")
                expansiongroup = group.create_group("expansion")
                for name, (value, units, expansion) in groupvars.items():
                    group.attrs[name] = value
                    unitsgroup.attrs[name] = units
                    expansiongroup.attrs[name] = expansion
        for name, value in run_globals.items():
            if value is None:
                value = h5py.Reference()  # stored as a null object reference
            f["globals"].attrs[name] = value


def sequence_attrs(timestamp: str = "20261203T101500", script: str = "pump", index: int = 7) -> dict:
    """``runmanager.new_sequence_details``: the sequence's root attributes."""
    return {"script_basename": script, "sequence_date": "2026-12-03", "sequence_index": index,
            "sequence_id": f"{timestamp}_{script}"}


def blacs_run(filename, run_time: datetime.datetime) -> None:
    """BLACS's ``experiment_queue`` after a shot has run: a ``data`` group and the ``run time`` stamp."""
    with h5py.File(filename, "r+") as hdf5_file:
        hdf5_file["/"].create_group("data")
        hdf5_file.attrs["run time"] = run_time.strftime("%Y%m%dT%H%M%S.%f")


def blacs_repeat(h5file, new_h5_file, repeat_number) -> None:
    """BLACS's ``clean_h5_file``: a fresh copy of a shot that has run, to run it again (``<name>_rep00001.h5``)."""
    with h5py.File(h5file, "r") as old_file:
        with h5py.File(new_h5_file, "w") as new_file:
            for group in ("devices", "calibrations", "script", "globals", "connection table", "labscriptlib",
                          "waits", "time_markers", "shot_properties"):
                if group in old_file:
                    new_file.copy(old_file[group], group)
            for name in old_file.attrs:
                new_file.attrs[name] = old_file.attrs[name]
            new_file.attrs["run repeat"] = repeat_number


def camera_save(filename, images, exposures, *, orientation="side", device_name="camera") -> None:
    """``IMAQdxCameraWorker.transition_to_manual`` (the labscript-devices camera base): exposures grouped by
    (name, frametype) into ``/images/<orientation>/<name>/<frametype>``, several exposures of one key as one 3D
    dataset, uint16, gzip."""
    with h5py.File(filename, "r+") as f:
        image_group = f.require_group("images/" + orientation)
        image_group.attrs["camera"] = device_name
        image_group.attrs["failed_shot"] = len(images) != len(exposures)
        grouped = {(name, frametype): [] for name, frametype in exposures}
        for image, exposure in zip(images, exposures):
            grouped[exposure].append(image)
        for (name, frametype), imagelist in grouped.items():
            data = imagelist[0] if len(imagelist) == 1 else np.array(imagelist)
            group = image_group.require_group(name)
            dset = group.create_dataset(frametype, data=data, dtype="uint16", compression="gzip")
            dset.attrs["CLASS"] = np.bytes_("IMAGE")
            dset.attrs["IMAGE_VERSION"] = np.bytes_("1.2")
            dset.attrs["IMAGE_SUBCLASS"] = np.bytes_("IMAGE_GRAYSCALE")
            dset.attrs["IMAGE_WHITE_IS_ZERO"] = np.uint8(0)


DEFAULT_FRAMETYPE = [("absorption", "frame")] * 3
"""Three exposures ``camera.expose(t, 'absorption')`` with the default frametype: one 3D dataset ``frame``."""
NAMED_FRAMETYPES = [("absorption", "atoms"), ("absorption", "probe"), ("absorption", "dark")]
"""``camera.expose(t, 'absorption', frametype='atoms')``, ``'probe'``, ``'dark'``: three 2D datasets."""
