"""The shots of a run: found from a manifest or a folder of labscript HDF5 shot files, checked, read one by one.

Sources
-------
``data.manifest``
    A CSV manifest (:mod:`atompump.io.manifest`): three single-frame files per shot, or one multi-frame file per
    shot in a ``file`` column.
``data.shots``
    A glob (``**`` allowed) of labscript-style HDF5 shot files, no manifest. Each file is one shot; its id is the
    file name without extension; the run table lists the shots in sorted path order, and their acquisition order
    (``order``) comes from the files' attributes as labscript writes them (:func:`acquisition_key`: BLACS's
    ``run time``, else runmanager's ``sequence_id``, ``sequence_index``, ``run number`` and BLACS's ``run repeat``;
    a global ``order`` wins), repeats from ``run repeat`` (BLACS's ``<name>_rep00001.h5`` copies). The layout read::

        /images/<orientation>/<label>/<name>   2D datasets, one per frame (camera counts, any integer/float dtype)
        /images/<orientation>/<label>          or one 3D dataset (frame, row, column), frames selected by index
        /images/<orientation>/<label>/frame    or one 3D dataset with every exposure (labscript's camera with the
                                               default frametype), pages in the order of exposure
        /globals                               group whose *attributes* are the sequence globals (labscript's
                                               convention), e.g. cycle = 2.0, direction = -1, reference = False;
                                               units in /globals/<group>/units (runmanager)

    ``data.frames.orientation`` and ``data.frames.label`` name the image group (without them, the one group
    below ``/images`` that holds frames, or the root of a file without ``/images``); ``data.frames.atoms/probe/dark`` name the three frames (or give page indices); ``data.globals`` names
    the globals holding ``cycle`` (required), ``direction`` (+1/-1, default +1 when the global is absent),
    ``reference`` (bool, default false) and ``repeat`` (int, optional).

Frame keys: a name selects the frame of that name; in a file whose frames have no names (multi-page TIFF, FITS
cube, NPY stack, a 3D HDF5 dataset) the names ``atoms``, ``probe``, ``dark`` select pages 0, 1, 2.

Every other global (and every extra column of a manifest) is carried through as a per-shot variable
``global_<name>`` of the run table, the reduced batches and ``com.nc`` (:func:`carried_columns`; a null global is a
missing value: NaN, or an empty string), with its runmanager units; a labscript run adds ``run_time``.

Files being written
-------------------
A file that another program holds open for writing (HDF5 file locking: BLACS saving the shot, a lyse routine
saving results) or that changed within the last second and cannot be read yet is waited for, up to
``data.file_wait_s`` seconds, and read again before it counts as bad (:func:`open_when_ready`).

Checks
------
:func:`check_shots` opens every file once and checks, from headers only, that it is readable and not truncated,
that each frame exists, is 2D, of a supported dtype, and that the three frames share one shape, equal to the run's
(the most common shape). Every problem is recorded on its shot (``ShotRecord.problem``), so that all bad shots of a
run can be listed together. Pixel-level problems (NaN, no probe light) are found by :func:`read_shot`.

Streaming
---------
:func:`read_shot` reads the three frames of one shot and nothing else; the run table (:func:`shots_table`) holds
only per-shot metadata, so a run of any length is reduced in batches with memory bounded by the batch.
"""

from __future__ import annotations

import datetime
import glob
import json
import logging
import math
import os
import re
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.errors import ConfigError, InputDataError
from atompump.io.formats import FileLockedError, FrameKey, ImageFile, hdf5_value, is_lock_error, open_image
from atompump.io.frames import check_frame, check_od_image
from atompump.io.manifest import (
    FRAME_NAMES,
    INPUT_NAMES,
    OD_NAME,
    ShotRecord,
    count_manifest_rows,
    iter_manifest,
    parse_bool,
    scan_manifest,
)

__all__ = [
    "ODImage",
    "ShotFrames",
    "acquisition_key",
    "carried_columns",
    "carried_coordinates",
    "global_variable",
    "open_when_ready",
    "check_shots",
    "count_run_shots",
    "find_labscript_shots",
    "hdf5_group",
    "iter_labscript_shots",
    "iter_run_shots",
    "protocol_variables",
    "read_od",
    "read_shot",
    "run_input_files",
    "run_shots",
    "scan_labscript_shots",
    "shots_from_table",
    "shots_table",
    "write_shots_table",
]

log = logging.getLogger(__name__)

DEFAULT_GLOBALS = {"cycle": "cycle", "direction": "direction", "reference": "reference", "repeat": "repeat",
                   "order": "order", "sequence_cycles": "sequence_cycles"}


@dataclass(frozen=True)
class ShotFrames:
    """The three frames of one shot as float64 camera counts, with where they came from.

    Attributes
    ----------
    atoms, probe, dark : ndarray, shape (ny, nx), float64
    sources : dict[str, str]
        ``file`` or ``file [key]`` of each frame.
    """

    atoms: np.ndarray
    probe: np.ndarray
    dark: np.ndarray
    sources: dict[str, str]


def hdf5_group(frames: Mapping[str, Any] | None) -> str | None:
    """The HDF5 group of the frames from ``data.frames``: ``/images/<orientation>/<label>`` (or a prefix)."""
    frames = frames or {}
    parts = [str(frames[k]) for k in ("orientation", "label") if frames.get(k) not in (None, "")]
    return "/images/" + "/".join(parts) if parts else None


def _frame_keys(frames: Mapping[str, Any] | None) -> dict[str, FrameKey]:
    frames = frames or {}
    keys = {name: frames.get(name) if frames.get(name) is not None else name for name in FRAME_NAMES}
    return {**keys, OD_NAME: frames.get(OD_NAME)}  # None: the od file's only frame (or Oqtant's it_plot)


def find_labscript_shots(pattern: str) -> list[Path]:
    """The files matching ``pattern`` (a glob, ``**`` recursive), sorted; cheap (no file is opened)."""
    return [Path(p) for p in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(p)]


def count_run_shots(data: Mapping[str, Any]) -> int:
    """Number of shots of a measured run from the ``data`` config section, without opening any image."""
    if data.get("shots"):
        n = len(find_labscript_shots(str(data["shots"])))
        if n == 0:
            raise InputDataError(f"data.shots: no file matches {data['shots']!r} (relative patterns are taken from "
                                 f"the working directory {os.getcwd()})")
        return n
    if data.get("manifest"):
        return count_manifest_rows(str(data["manifest"]))
    raise ConfigError("config key 'data.manifest' or 'data.shots': one is required when data.source is 'measured'")


def run_input_files(data: Mapping[str, Any]) -> list[str]:
    """The image files of a measured run that exist now (the workflow's inputs, so a fixed or added file reruns
    the check of the run). Cheap: the manifest is parsed and files are stat-ed, none is opened."""
    if data.get("shots"):
        return [str(p) for p in find_labscript_shots(str(data["shots"]))]
    manifest = Path(str(data["manifest"]))
    try:
        records = scan_manifest(manifest)
    except InputDataError:
        return []  # the 'shots' rule reports it
    files = dict.fromkeys(str(p) for r in records for p in r.frames.values() if p.is_file())
    return list(files)


SETTLE_S = 1.0
"""A file that cannot be read and changed less than this long ago is taken to be still being written."""
_POLL_S = 0.2


def _busy(path: Path, exc: InputDataError) -> bool:
    """Whether a file that failed to open is worth waiting for: locked by a writer, or changed just now."""
    if isinstance(exc, FileLockedError):
        return True
    try:
        return time.time() - os.stat(path).st_mtime < SETTLE_S
    except OSError:
        return False


def open_when_ready(path: str | os.PathLike, group: str | None = None, *, wait_s: float = 0.0) -> ImageFile:
    """:func:`atompump.io.formats.open_image`, waiting up to ``wait_s`` seconds for a file that is locked by a
    writer or still being written (changed less than :data:`SETTLE_S` ago), trying again every 0.2 s.

    Raises
    ------
    InputDataError
        The file cannot be read (after the wait, which the message then states).
    """
    path = Path(path)
    start = time.monotonic()
    slept = False
    while True:
        try:
            return open_image(path, hdf5_group=group)
        except InputDataError as exc:
            waited = time.monotonic() - start
            if wait_s <= 0 or waited >= wait_s or not _busy(path, exc):
                if slept:
                    raise type(exc)(f"{exc} (after waiting {waited:.1f} s for it; data.file_wait_s = "
                                    f"{wait_s:g})") from exc
                raise
            time.sleep(min(_POLL_S, wait_s - waited))
            slept = True


def _open(path: Path, group: str | None, wait_s: float = 0.0) -> ImageFile:
    return open_when_ready(path, group, wait_s=wait_s)


def _resolve(image: ImageFile, key: FrameKey, name: str) -> FrameKey:
    """A default frame name selects a page in a file without frame names (see the module docstring); an OD file
    without a frame key gives its only frame, or the in-situ OD ``it_plot`` of an Oqtant job result, or the frame
    named ``od``."""
    if name == OD_NAME and key is None and len(image.frames) > 1:
        for default in ("it_plot", OD_NAME):
            if default in image.names:
                return default
        raise InputDataError(f"{image.path}: holds {image._describe()}; name the frame that holds the optical "
                             "density with data.frames.od")
    if isinstance(key, str) and not image.names and key in FRAME_NAMES and len(image.frames) > 1:
        return FRAME_NAMES.index(key)
    return key


def _global_value(globals_: Mapping[str, Any], name: str | None):
    if not name or name not in globals_:
        return None
    return globals_[name]


def scan_labscript_shots(pattern: str, *, frames: Mapping[str, Any] | None = None,
                         globals_names: Mapping[str, Any] | None = None, wait_s: float = 0.0) -> list[ShotRecord]:
    """The shots of a folder of labscript HDF5 files (see the module docstring), bad ones with their problem.

    Reads the globals of every file (attributes of ``/globals``) and its root attributes; images are not read.
    """
    return list(iter_labscript_shots(pattern, frames=frames, globals_names=globals_names, wait_s=wait_s))


RUN_TIME_FORMAT = "%Y%m%dT%H%M%S.%f"
"""BLACS's ``run time`` attribute (local time; written when the shot has run)."""


def _run_time(value: object) -> datetime.datetime | None:
    """BLACS's ``run time`` text as a datetime (None when absent or unreadable)."""
    if not isinstance(value, str):
        return None
    for fmt in (RUN_TIME_FORMAT, "%Y%m%dT%H%M%S"):
        try:
            return datetime.datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def _int_attr(attrs: Mapping[str, Any], name: str) -> int | None:
    value = attrs.get(name)
    try:
        return int(value) if value is not None and float(value) == int(value) else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def acquisition_key(attrs: Mapping[str, Any]) -> tuple | None:
    """Where a labscript shot file falls in the order of acquisition, from its root attributes; None when it has
    none of them.

    Shots that have run sort by BLACS's ``run time`` (as lyse does); shots without one by runmanager's
    ``sequence_id`` (which starts with the sequence's time stamp), ``sequence_index``, ``run number`` and BLACS's
    ``run repeat`` (0 for the original).
    """
    run_time = _run_time(attrs.get("run time"))
    if run_time is not None:
        return (0, run_time.isoformat(), "", 0, 0, 0)
    parts = (_int_attr(attrs, "sequence_index"), _int_attr(attrs, "run number"))
    if "sequence_id" not in attrs and parts == (None, None):
        return None
    return (1, "", str(attrs.get("sequence_id") or ""), parts[0] if parts[0] is not None else -1,
            parts[1] if parts[1] is not None else -1, _int_attr(attrs, "run repeat") or 0)


def _root_attributes(path: Path, wait_s: float) -> dict[str, Any]:
    """The root attributes of a labscript shot file ({} when it cannot be read: it is then a bad shot anyway)."""
    import h5py

    start = time.monotonic()
    while True:
        try:
            with h5py.File(path, "r") as f:
                return {str(k): hdf5_value(v) for k, v in f.attrs.items()}
        except OSError as exc:
            busy = is_lock_error(exc) or _busy(path, InputDataError(str(exc)))
            if not busy or time.monotonic() - start >= wait_s:
                return {}
            time.sleep(_POLL_S)


def _acquisition_order(paths: Sequence[Path], wait_s: float) -> tuple[list[int | None], list[dict[str, Any]]]:
    """The acquisition index of each file (None for all when no file has labscript's run attributes; files
    without them, e.g. unreadable ones, after the others) and what each file's attributes say
    (``run_time`` ISO 8601, ``repeat``)."""
    keys, info = [], []
    for path in paths:
        attrs = _root_attributes(path, wait_s)
        keys.append(acquisition_key(attrs))
        run_time = _run_time(attrs.get("run time"))
        repeat = _int_attr(attrs, "run repeat")
        if repeat is None and ("run number" in attrs or run_time is not None):
            repeat = 0  # a file BLACS has not repeated (as lyse reads it)
        info.append({"run_time": run_time.isoformat() if run_time else None, "repeat": repeat})
    if all(k is None for k in keys):
        return [None] * len(paths), info
    ranked = sorted(range(len(paths)), key=lambda i: (keys[i] or (2, "", "", 0, 0, 0), str(paths[i])))
    order: list[int | None] = [None] * len(paths)
    for rank, i in enumerate(ranked):
        order[i] = rank
    return order, info


def iter_labscript_shots(pattern: str, *, frames: Mapping[str, Any] | None = None,
                         globals_names: Mapping[str, Any] | None = None,
                         wait_s: float = 0.0) -> Iterator[ShotRecord]:
    """The shots of :func:`scan_labscript_shots`, one at a time (in sorted path order, with their acquisition
    ``order`` from the files' attributes: :func:`acquisition_key`)."""
    paths = find_labscript_shots(pattern)
    if not paths:
        raise InputDataError(f"data.shots: no file matches {pattern!r} (relative patterns are taken from the "
                             f"working directory {os.getcwd()})")
    names = {**DEFAULT_GLOBALS, **{k: v for k, v in (globals_names or {}).items() if v is not None}}
    group = hdf5_group(frames)
    keys = _frame_keys(frames)
    seen: dict[str, Path] = {}
    acquired, file_info = _acquisition_order(paths, wait_s)
    for index, path in enumerate(paths):
        shot = path.stem
        errors: list[str] = []
        if shot in seen:
            errors.append(f"{path}: duplicate shot id (file name also used by {seen[shot]})")
            shot = f"{shot}@{path}"
        else:
            seen[shot] = path
        globals_: dict[str, Any] = {}
        units: dict[str, str] = {}
        try:
            with _open(path, group, wait_s) as image:
                globals_ = image.attributes()
                units = image.global_units() if hasattr(image, "global_units") else {}
        except InputDataError as exc:
            errors.append(str(exc))
        cycle, direction, reference, order, sequence_cycles = math.nan, 1, False, None, None
        repeat = file_info[index]["repeat"]
        if not errors:
            value = _global_value(globals_, names["cycle"])
            try:
                cycle = float(value)  # type: ignore[arg-type]
                if not math.isfinite(cycle):
                    raise ValueError
            except (TypeError, ValueError):
                errors.append(f"global '{names['cycle']}' (data.globals.cycle) is "
                              f"{'missing' if value is None else repr(value)}; expected a finite number of pump "
                              f"cycles. Globals found: {', '.join(sorted(globals_)) or 'none'}")
            value = _global_value(globals_, names["direction"])
            if value is not None:
                try:
                    direction = int(value)
                    if direction not in (1, -1) or float(value) != direction:
                        raise ValueError
                except (TypeError, ValueError):
                    errors.append(f"global '{names['direction']}' (data.globals.direction) is {value!r}; expected "
                                  "+1 or -1")
                    direction = 1
            value = _global_value(globals_, names["reference"])
            if value is not None:
                try:
                    reference = parse_bool(value)
                except ValueError as exc:
                    errors.append(f"global '{names['reference']}' (data.globals.reference): {exc}")
            value = _global_value(globals_, names["repeat"])
            if value is not None:
                try:
                    repeat = int(value)
                except (TypeError, ValueError):
                    errors.append(f"global '{names['repeat']}' (data.globals.repeat) is {value!r}; expected an "
                                  "integer")
            value = _global_value(globals_, names["order"])
            if value is not None:
                try:
                    order = int(value)
                    if order < 0 or float(value) != order:
                        raise ValueError
                except (TypeError, ValueError):
                    errors.append(f"global '{names['order']}' (data.globals.order) is {value!r}; expected an "
                                  "integer >= 0")
                    order = None
            value = _global_value(globals_, names["sequence_cycles"])
            if value is not None:
                try:
                    sequence_cycles = float(value)
                    if not (math.isfinite(sequence_cycles) and sequence_cycles >= 0):
                        raise ValueError
                except (TypeError, ValueError):
                    errors.append(f"global '{names['sequence_cycles']}' (data.globals.sequence_cycles) is "
                                  f"{value!r}; expected a finite number >= 0")
                    sequence_cycles = None
        errors = [e if e.startswith(str(path)) else f"{path}: {e}" for e in errors]
        meta = {k: v for k, v in globals_.items() if k not in names.values()}
        yield ShotRecord(shot, cycle, direction, {n: path for n in FRAME_NAMES}, reference, repeat, meta,
                         frame_keys=dict(keys), hdf5_group=group, problem="; ".join(errors),
                         order=acquired[index] if order is None else order, sequence_cycles=sequence_cycles,
                         run_time=file_info[index]["run_time"], units={k: v for k, v in units.items() if k in meta},
                         wait_s=float(wait_s))


def run_shots(data: Mapping[str, Any]) -> list[ShotRecord]:
    """Every shot of the measured run described by the ``data`` config section (bad ones with their problem)."""
    records = list(iter_run_shots(data))
    if not records:
        raise InputDataError(f"the run has no shots ({data.get('manifest') or data.get('shots')})")
    return records


def iter_run_shots(data: Mapping[str, Any]) -> Iterator[ShotRecord]:
    """The shots of :func:`run_shots`, one at a time (a long run is never held whole)."""
    wait_s = float(data.get("file_wait_s") or 0.0)
    if data.get("shots"):
        return iter_labscript_shots(str(data["shots"]), frames=data.get("frames"),
                                    globals_names=data.get("globals"), wait_s=wait_s)
    if data.get("manifest"):
        records = iter_manifest(str(data["manifest"]), frames=_frame_keys(data.get("frames")),
                                hdf5_group=hdf5_group(data.get("frames")))
        return (replace(r, wait_s=wait_s) for r in records) if wait_s else records
    raise ConfigError("config key 'data.manifest' or 'data.shots': one is required when data.source is 'measured'")


def _check_one(record: ShotRecord) -> dict[str, tuple[int, int]]:
    """Header-level check of one shot's three frames (or its OD image); returns their shapes. Raises
    InputDataError."""
    shapes: dict[str, tuple[int, int]] = {}
    errors: list[str] = []
    for name in record.input_names:
        path = record.frames[name]
        try:
            with _open(path, record.hdf5_group, record.wait_s) as image:
                key = _resolve(image, record.key(name), name)
                shapes[name] = image.check(key)
        except InputDataError as exc:
            message = str(exc)
            if message not in errors:
                errors.append(message if record.frame_keys or record.is_od else f"{name} frame: {message}")
    if errors:
        raise InputDataError("; ".join(errors))
    if len(set(shapes.values())) > 1:
        raise InputDataError(_shape_mismatch(record, shapes))
    return shapes


def _shape_mismatch(record: ShotRecord, shapes: Mapping[str, tuple[int, ...]]) -> str:
    files = ", ".join(dict.fromkeys(str(record.frames[n]) for n in FRAME_NAMES))
    return (f"{files}: frames have different shapes " + ", ".join(f"{n} {s}" for n, s in shapes.items())
            + "; all frames of a shot must come from the same camera region")


def check_shots(records: Sequence[ShotRecord]) -> tuple[list[ShotRecord], tuple[int, int] | None]:
    """Header-level checks of every shot of a run (see the module docstring).

    Returns
    -------
    records : list of ShotRecord
        The same shots, with ``problem`` set for every bad one (earlier problems kept).
    shape : (ny, nx) or None
        The run's frame shape (the most common among good shots; None when no shot is good).
    """
    out = list(records)
    shapes: dict[int, tuple[int, int]] = {}
    for i, record in enumerate(out):
        if record.problem:
            continue
        try:
            shapes[i] = _first_shape(_check_one(record))
        except InputDataError as exc:
            out[i] = replace(record, problem=str(exc))
    if not shapes:
        return out, None
    run_shape = Counter(shapes.values()).most_common(1)[0][0]
    for i, shape in shapes.items():
        if shape != run_shape:
            out[i] = replace(out[i], problem=f"frame shape {shape} differs from the run's {run_shape} "
                                             f"({out[i].frames[out[i].input_names[0]]})")
    return out, run_shape


def _first_shape(shapes: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    """The shape of a shot's first input (all its frames share it): the atoms frame, or the OD image."""
    return next(iter(shapes.values()))


def read_shot(record: ShotRecord, *, region: tuple[int, int, int, int] | None = None) -> ShotFrames:
    """The three frames of one shot as checked float64 arrays (each file opened once).

    Parameters
    ----------
    record
        The shot.
    region : (row_start, row_stop, col_start, col_stop), optional, keyword-only
        Return only this part of each frame (the reduction reads whole frames but converts only what it uses).

    Raises
    ------
    InputDataError
        Unreadable file, missing frame, NaN or infinite pixels, frames of different shapes, an all-zero probe
        frame; the message names the file and frame.
    """
    if record.is_od:
        raise InputDataError(f"shot {record.shot} is an optical-density image ({record.frames[OD_NAME]}), not camera "
                             "frames; read it with read_od")
    by_file: dict[Path, list[str]] = {}
    for name in FRAME_NAMES:
        by_file.setdefault(record.frames[name], []).append(name)
    raw: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for path, names in by_file.items():
        with _open(path, record.hdf5_group, record.wait_s) as image:
            for name in names:
                key = _resolve(image, record.key(name), name)
                sources[name] = f"{name} frame {path}" if key is None else f"{name} frame {path} [{key}]"
                image.check(key)
                raw[name] = image.read(key)
    shapes = {name: raw[name].shape for name in FRAME_NAMES}
    if len(set(shapes.values())) > 1:
        raise InputDataError(_shape_mismatch(record, shapes))
    if not (raw["probe"].flat[::97].any() or raw["probe"].any()):  # a sparse look first: np.any reads every pixel
        raise InputDataError(f"the {sources['probe']} is all zero: no probe light was recorded; check the camera "
                             "trigger or remove the shot")
    if not (raw["atoms"].flat[::97].any() or raw["atoms"].any()):
        raise InputDataError(f"the {sources['atoms']} is all zero: the camera recorded nothing, not even its offset, "
                             "during the atoms exposure; check the camera trigger or remove the shot")
    out = {}
    for name in FRAME_NAMES:
        frame = raw[name]
        if frame.dtype.kind == "f":  # integers cannot be NaN; check floats whole, before cropping
            check_frame(frame, source=sources[name])
        if region is not None:
            r0, r1, c0, c1 = region
            frame = frame[r0:r1, c0:c1]
        out[name] = np.asarray(frame, dtype=np.float64)
    return ShotFrames(out["atoms"], out["probe"], out["dark"], sources)


@dataclass(frozen=True)
class ODImage:
    """The optical-density image of one shot given as OD (manifest column ``od``), checked.

    Attributes
    ----------
    od : ndarray, shape (ny, nx), float64
        Optical density; NaN marks masked pixels.
    source : str
        ``od image <file>`` or ``od image <file> [<frame>]``.
    """

    od: np.ndarray
    source: str


def read_od(record: ShotRecord, *, region: tuple[int, int, int, int] | None = None) -> ODImage:
    """The optical-density image of a shot given as OD (``record.is_od``), checked by
    :func:`atompump.io.frames.check_od_image`.

    Parameters
    ----------
    record
        The shot.
    region : (row_start, row_stop, col_start, col_stop), optional, keyword-only
        Return only this part of the image (the whole image is checked).

    Raises
    ------
    InputDataError
        Unreadable file, missing frame, not 2D, infinite pixels, no finite pixel, values that are camera counts
        rather than an OD; the message names the file and frame.
    """
    if not record.is_od:
        raise InputDataError(f"shot {record.shot} is given as camera frames, not as an optical-density image; read "
                             "it with read_shot")
    path = record.frames[OD_NAME]
    with _open(path, record.hdf5_group, record.wait_s) as image:
        key = _resolve(image, record.key(OD_NAME), OD_NAME)
        source = f"od image {path}" if key is None else f"od image {path} [{key}]"
        image.check(key)
        od = check_od_image(image.read(key), source=source)
    if region is not None:
        r0, r1, c0, c1 = region
        od = od[r0:r1, c0:c1]
    return ODImage(od, source)


# --- the run table: one row per shot, written by the 'shots' rule and read by every batch ---------------------------

def _encode_key(key: FrameKey) -> str:
    return json.dumps(key)


def _decode_key(text: str) -> FrameKey:
    return json.loads(text)


def protocol_variables(records: Sequence[ShotRecord]) -> dict[str, tuple]:
    """``cycle``, ``direction``, ``reference``, ``repeat`` (-1: none), ``order`` (-1: none) and ``sequence_cycles``
    (default: ``cycle``) of the shots, as Dataset variables over ``shot``."""
    return {
        "cycle": ("shot", np.array([r.cycle for r in records], dtype=float), {"units": "1",
                                                                               "long_name": "pump cycles"}),
        "direction": ("shot", np.array([r.direction for r in records], dtype=np.int8),
                      {"long_name": "pump direction (+1: phi increasing)"}),
        "reference": ("shot", np.array([r.reference for r in records], dtype=bool),
                      {"long_name": "constant-phi reference sequence"}),
        "repeat": ("shot", np.array([-1 if r.repeat is None else r.repeat for r in records], dtype=np.int64),
                   {"long_name": "repeat index (-1: not given)"}),
        "order": ("shot", np.array([-1 if r.order is None else r.order for r in records], dtype=np.int64),
                  {"long_name": "acquisition order (-1: not given)"}),
        "sequence_cycles": ("shot", np.array([r.cycle if r.sequence_cycles is None else r.sequence_cycles
                                              for r in records], dtype=float),
                            {"units": "1", "long_name": "sequence length in pump cycles (reference shots: that of "
                                                        "their pumped partners)"}),
    }


def global_variable(name: str) -> str:
    """The per-shot variable of the run table and ``com.nc`` that carries global (or manifest column) ``name``:
    ``global_<name>``, characters other than letters, digits and ``_`` replaced by ``_``."""
    return "global_" + re.sub(r"[^0-9A-Za-z_]", "_", str(name))


RUN_TIME = "run_time"
_RUN_TIME_ATTRS = {"long_name": "when the shot was run (labscript 'run time', local time, ISO 8601; empty: not "
                                "known)"}


def _as_number(value: Any) -> float | None:
    """A number, bool or text that reads as a number, as a float; None otherwise."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _column_array(values: Sequence[Any]) -> np.ndarray:
    """One per-shot column of carried values as an array: bool when every value is a bool; float64 when every
    value is a number (or a bool, or text that reads as one), missing and null values NaN; else text (lists as
    JSON), missing values empty."""
    missing = [v is None or v == "" for v in values]
    if not any(missing) and all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    numbers = [math.nan if gap else _as_number(v) for v, gap in zip(values, missing)]
    if all(x is not None for x in numbers):
        return np.array(numbers, dtype=float)
    return np.array(["" if v is None else json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
                     for v in values], dtype=object)


class _CarriedColumns:
    """The globals (and manifest columns) and run times of a run's shots, gathered shot by shot into columns
    (one Python object per value)."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        self.n = 0

    def add(self, record: ShotRecord) -> None:
        values = {global_variable(k): v for k, v in record.metadata.items()}
        if record.run_time is not None:
            values[RUN_TIME] = record.run_time
        for name in values.keys() - self.values.keys():
            self.values[name] = [None] * self.n
        for name, column in self.values.items():
            column.append(values.get(name))
        for key in record.metadata:
            attrs = self.attrs.setdefault(global_variable(key), {
                "long_name": f"global {key} (labscript /globals, or a manifest column; missing: NaN or empty)",
                "global_name": str(key)})
            if "units" not in attrs and record.units.get(key):
                attrs["units"] = record.units[key]
        self.n += 1

    def columns(self) -> dict[str, tuple[np.ndarray, dict[str, str]]]:
        """Name -> (values over ``shot``, attributes), sorted by name."""
        return {name: (_column_array(self.values[name]), self.attrs.get(name, _RUN_TIME_ATTRS))
                for name in sorted(self.values)}


def carried_columns(records: Iterable[ShotRecord]) -> dict[str, tuple[np.ndarray, dict[str, str]]]:
    """Every global (``global_<name>``, :func:`global_variable`) and the run time (``run_time``) of the shots, as
    columns over ``shot`` with their attributes (``units`` from runmanager where given)."""
    builder = _CarriedColumns()
    for record in records:
        builder.add(record)
    return builder.columns()


def carried_coordinates(shots_path: str | os.PathLike, rows: slice | np.ndarray) -> dict[str, tuple]:
    """The carried columns (globals, run time) of some rows of a run table file, as coordinates over ``shot`` (the
    reduced batches carry them on to ``com.nc``)."""
    from atompump.io.netcdf import read_variables

    attrs = read_variables(shots_path, [])[1]
    carried = json.loads(str(attrs.get("carried") or "{}"))
    if not carried:
        return {}
    values = read_variables(shots_path, list(carried), rows=rows)[0]
    return {name: ("shot", values[name], dict(carried[name])) for name in carried}


def shots_table(records: Sequence[ShotRecord], *, shape: tuple[int, int] | None, batch_size: int) -> xr.Dataset:
    """The run table as a Dataset over ``shot`` (metadata only; no pixels).

    Variables: ``cycle``, ``direction``, ``reference``, ``repeat`` (-1: none), ``order`` (-1: none),
    ``sequence_cycles``, ``batch``, ``problem`` (str), and for
    each input (``atoms``, ``probe``, ``dark``, ``od``) ``<input>_file`` (empty when the shot has no such input:
    ``od`` of a shot of camera frames, the frames of a shot given as OD) and ``<input>_key`` (JSON: ``null``, a page
    index or a name), ``hdf5_group``; the carried columns (:func:`carried_columns`: ``global_<name>`` of every
    global, ``run_time``).
    Attributes: ``frame_shape`` (ny, nx; [0, 0] when no shot is readable), ``batch_size``, ``input``
    (:func:`run_input`), ``carried`` (JSON: the carried columns' attributes), ``file_wait_s``.
    """
    n = len(records)
    data = {
        **protocol_variables(records),
        "batch": ("shot", np.arange(n, dtype=np.int64) // batch_size, {"long_name": "batch of the shot"}),
        "problem": ("shot", np.array([r.problem for r in records], dtype=object),
                    {"long_name": "why the shot cannot be analysed (empty: good)"}),
        "hdf5_group": ("shot", np.array([r.hdf5_group or "" for r in records], dtype=object),
                       {"long_name": "HDF5 group of the frames"}),
    }
    for name in INPUT_NAMES:
        what = "optical-density image" if name == OD_NAME else f"{name} frame"
        data[f"{name}_file"] = ("shot", np.array([str(r.frames[name]) if name in r.frames else "" for r in records],
                                                 dtype=object),
                                {"long_name": f"file of the {what} (empty: none)"})
        data[f"{name}_key"] = ("shot", np.array([_encode_key(r.key(name)) for r in records], dtype=object),
                               {"long_name": f"{what} in its file (JSON: null, page index or name)"})
    carried = carried_columns(records)
    coords = {"shot": ("shot", np.array([r.shot for r in records], dtype=object)),
              **{name: ("shot", values, attrs) for name, (values, attrs) in carried.items()}}
    return xr.Dataset(data, coords=coords,
                      attrs={"frame_shape": list(shape or (0, 0)), "batch_size": int(batch_size),
                             "input": run_input(records), **_table_attrs(records, carried)})


def _table_attrs(records: Iterable[ShotRecord], carried: Mapping[str, tuple[np.ndarray, dict]]) -> dict:
    """``carried`` (JSON: the carried columns and their attributes) and ``file_wait_s`` of a run table."""
    wait = max((r.wait_s for r in records), default=0.0)
    return {"carried": json.dumps({name: attrs for name, (_, attrs) in carried.items()}, sort_keys=True),
            "file_wait_s": float(wait)}


def run_input(records: Iterable[ShotRecord]) -> str:
    """The kind of input of a run: ``od`` when its good shots are optical-density images, else ``frames``.

    A run is one or the other (the manifest marks rows of the other kind as bad); when no shot is good, the kind
    of any shot decides.
    """
    good, any_od = set(), False
    for record in records:
        any_od |= record.is_od
        if not record.problem:
            good.add(record.is_od)
    return _input_kind(good, any_od)


def _input_kind(good: set[bool], any_od: bool) -> str:
    """:func:`run_input` from the kinds of the good shots (``is_od`` values) and whether any shot is OD."""
    if good:
        return OD_NAME if True in good else "frames"
    return OD_NAME if any_od else "frames"


_TABLE_STRINGS = ("problem", "hdf5_group", *(f"{n}_{part}" for n in INPUT_NAMES for part in ("file", "key")))


def write_shots_table(records: Iterable[ShotRecord], path: str | os.PathLike, *, batch_size: int,
                      chunk: int = 1024, total: int | None = None) -> tuple[int, int, tuple[int, int] | None]:
    """Check the shots (:func:`check_shots`) and write the run table (:func:`shots_table`) to ``path``, streaming.

    The shots are checked and written ``chunk`` at a time into an HDF5/netCDF file with an unlimited ``shot``
    dimension, so memory stays bounded for a run of any length (the run's frame shape, the most common one, is found
    from a compact array of shapes; the few shots of another shape are marked afterwards). The carried columns
    (globals, run time: :func:`carried_columns`) are gathered as the shots go, one Python object per value, and
    written at the end. The file reads back with :func:`atompump.io.read_dataset` as the Dataset
    :func:`shots_table` would give.

    Returns
    -------
    n_shots, n_bad, frame_shape
    """
    import h5netcdf
    import h5py

    from atompump.io.atomic import atomic_path

    template = shots_table([ShotRecord("", 0.0, 1, {n: Path() for n in FRAME_NAMES})], shape=None,
                           batch_size=batch_size)
    shapes = array("l")  # rows, columns of every shot's frames, flat (0, 0 when unreadable): 16 bytes per shot
    bad = bytearray()
    good_kinds: set[bool] = set()  # is_od of the good shots (a run is one kind: run_input)
    any_od = False
    carried = _CarriedColumns()
    wait = 0.0
    with atomic_path(path, suffix=".nc") as tmp, h5netcdf.File(tmp, "w") as f:
        f.dimensions = {"shot": None}
        variables = {}
        for name in ("shot", *template.data_vars):
            var = template[name]
            is_str = var.dtype == object
            dtype = h5py.string_dtype() if is_str else (np.int8 if var.dtype == bool else var.dtype)
            variables[name] = f.create_variable(name, ("shot",), dtype=dtype)
            variables[name].attrs.update(var.attrs)
            if var.dtype == bool:
                variables[name].attrs["dtype"] = "bool"  # as xarray writes booleans
        n = 0
        progress = Progress(log, "run table", total, unit="shots checked", every=chunk)
        for block in _chunks(records, chunk):
            checked = []
            for record in block:
                if not record.problem:
                    try:
                        shape = _first_shape(_check_one(record))
                    except InputDataError as exc:
                        record, shape = replace(record, problem=str(exc)), (0, 0)
                else:
                    shape = (0, 0)
                any_od |= record.is_od
                if not record.problem:
                    good_kinds.add(record.is_od)
                carried.add(record)
                wait = max(wait, record.wait_s)
                checked.append(record)
                shapes.extend(shape)
                bad.append(bool(record.problem))
                progress.update()
            part = shots_table(checked, shape=None, batch_size=batch_size)
            f.resize_dimension("shot", n + len(checked))
            for name, var in variables.items():
                values = part[name].values
                if values.dtype == bool:
                    values = values.astype(np.int8)
                elif name == "batch":
                    values = (n + np.arange(len(checked))) // batch_size
                var[n:n + len(checked)] = values
            n += len(checked)
        if n == 0:
            raise InputDataError("the run has no shots")
        pairs = np.frombuffer(shapes, dtype=np.int_).reshape(-1, 2)
        good = np.frombuffer(bytes(bad), dtype=np.uint8) == 0
        counts = Counter(map(tuple, pairs[good].tolist()))
        run_shape = counts.most_common(1)[0][0] if counts else None
        for i in np.flatnonzero(good & np.any(pairs != np.array(run_shape or (0, 0)), axis=1)):
            shape = tuple(int(v) for v in pairs[i])
            files = [variables[f"{name}_file"][i] for name in ("atoms", OD_NAME)]
            first = next(str(v.decode() if isinstance(v, bytes) else v) for v in files if len(v))
            variables["problem"][i] = f"frame shape {shape} differs from the run's {run_shape} ({first})"
            bad[i] = 1
        columns = carried.columns()
        for name, (values, attrs) in columns.items():
            if values.dtype == object:
                var = f.create_variable(name, ("shot",), dtype=h5py.string_dtype())
            else:
                var = f.create_variable(name, ("shot",), dtype=np.int8 if values.dtype == bool else values.dtype)
            var[:] = values.astype(np.int8) if values.dtype == bool else values
            var.attrs.update(attrs)
            if values.dtype == bool:
                var.attrs["dtype"] = "bool"
        if columns:  # coordinates along shot, as xarray reads them (CF: listed by the data variables)
            for name in template.data_vars:
                variables[name].attrs["coordinates"] = " ".join(columns)
        f.attrs["frame_shape"] = list(run_shape or (0, 0))
        f.attrs["batch_size"] = int(batch_size)
        f.attrs["input"] = _input_kind(good_kinds, any_od)
        f.attrs.update(_table_attrs([ShotRecord("", 0.0, 1, {}, wait_s=wait)], columns))
    return n, sum(bad), run_shape


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    block = []
    for item in items:
        block.append(item)
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def shots_from_table(table: xr.Dataset, *, batch: int | None = None) -> list[ShotRecord]:
    """The shots of a run table (all, or those of one batch)."""
    index = np.arange(table.sizes["shot"])
    if batch is not None:
        index = index[table.batch.values == batch]
    columns = {name: table[name].values for name in ("cycle", "direction", "reference", "repeat", "problem",
                                                      "hdf5_group", "order", "sequence_cycles")}
    columns["shot"] = table.shot.values
    wait_s = float(table.attrs.get("file_wait_s", 0.0))
    for name in INPUT_NAMES:
        columns[f"{name}_file"] = table[f"{name}_file"].values
        columns[f"{name}_key"] = table[f"{name}_key"].values
    records = []
    for i in index:
        names = (OD_NAME,) if str(columns[f"{OD_NAME}_file"][i]) else FRAME_NAMES
        keys = {name: _decode_key(str(columns[f"{name}_key"][i])) for name in names}
        repeat = int(columns["repeat"][i])
        records.append(ShotRecord(
            shot=str(columns["shot"][i]), cycle=float(columns["cycle"][i]), direction=int(columns["direction"][i]),
            frames={name: Path(str(columns[f"{name}_file"][i])) for name in names},
            reference=bool(columns["reference"][i]), repeat=None if repeat < 0 else repeat,
            frame_keys={k: v for k, v in keys.items() if v is not None},
            hdf5_group=str(columns["hdf5_group"][i]) or None, problem=str(columns["problem"][i]),
            order=None if int(columns["order"][i]) < 0 else int(columns["order"][i]),
            sequence_cycles=float(columns["sequence_cycles"][i]), wait_s=wait_s))
    return records
