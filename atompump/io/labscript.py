"""labscript shot files: one HDF5 file per shot, found by a glob (``data.shots``), its protocol read from globals.

The layout read::

    /images/<orientation>/<label>/<name>   2D datasets, one per frame (camera counts, any integer/float dtype)
    /images/<orientation>/<label>          or one 3D dataset (frame, row, column), frames selected by index
    /images/<orientation>/<label>/frame    or one 3D dataset with every exposure (labscript's camera with the
                                           default frametype), pages in the order of exposure
    /globals                               group whose *attributes* are the sequence globals (labscript's
                                           convention), e.g. cycle = 2.0, direction = -1, reference = False;
                                           units in /globals/<group>/units (runmanager)

Each file is one shot; its id is the file name without extension; the shots are listed in sorted path order, and
their acquisition order (``order``) comes from the files' attributes as labscript writes them
(:func:`acquisition_key`: BLACS's ``run time``, else runmanager's ``sequence_id``, ``sequence_index``, ``run number``
and BLACS's ``run repeat``; a global ``order`` wins), repeats from ``run repeat`` (BLACS's ``<name>_rep00001.h5``
copies).

``data.frames.orientation`` and ``data.frames.label`` name the image group (without them, the one group below
``/images`` that holds frames, or the root of a file without ``/images``); ``data.frames.atoms/probe/dark`` name the
three frames (or give page indices); ``data.globals`` names the globals holding the shot's protocol
(:mod:`atompump.io.protocol`: ``cycle`` required, the others optional). Every other global is kept as the shot's
metadata (carried to ``com.nc`` as ``global_<name>``: :mod:`atompump.io.runtable`), with its runmanager units.
"""

from __future__ import annotations

import datetime
import glob
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from atompump.errors import InputDataError, ParameterError, literal
from atompump.io.formats import POLL_S, FrameKey, hdf5_value, is_busy, is_lock_error, open_when_ready
from atompump.io.manifest import FRAME_NAMES, OD_NAME, ShotRecord
from atompump.io.protocol import FIELDS, parse_protocol
from atompump.reasons import Reason, RejectCause, reason_of

__all__ = ["RUN_TIME_FORMAT", "acquisition_key", "find_labscript_shots", "frame_keys", "hdf5_group",
           "iter_labscript_shots", "no_match"]


def hdf5_group(frames: Mapping[str, Any] | None) -> str | None:
    """The HDF5 group of the frames from ``data.frames``: ``/images/<orientation>/<label>`` (or a prefix)."""
    frames = frames or {}
    parts = [str(frames[k]) for k in ("orientation", "label") if frames.get(k) not in (None, "")]
    return "/images/" + "/".join(parts) if parts else None


def frame_keys(frames: Mapping[str, Any] | None) -> dict[str, FrameKey]:
    """The frame key of each input from ``data.frames`` (default: the names ``atoms``, ``probe``, ``dark``)."""
    frames = frames or {}
    keys = {name: frames.get(name) if frames.get(name) is not None else name for name in FRAME_NAMES}
    return {**keys, OD_NAME: frames.get(OD_NAME)}  # None: the od file's only frame (or Oqtant's it_plot)


def find_labscript_shots(pattern: str) -> list[Path]:
    """The files matching ``pattern`` (a glob, ``**`` recursive), sorted; cheap (no file is opened)."""
    return [Path(p) for p in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(p)]


def no_match(pattern: str, *, parameter: str) -> ParameterError:
    """The error for a glob ``pattern`` (the caller's ``parameter``) that matches no file."""
    where = f"{pattern!r} (relative patterns are taken from the working directory {os.getcwd()})"
    return ParameterError(f"{{{parameter}}}: no file matches " + literal(where), parameters=(parameter,))


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
            busy = is_lock_error(exc) or is_busy(path, InputDataError(str(exc)))
            if not busy or time.monotonic() - start >= wait_s:
                return {}
            time.sleep(POLL_S)


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
    """The shots of a folder of labscript HDF5 files (see the module docstring), one at a time, bad ones with their
    problem: in sorted path order, with their acquisition ``order`` from the files' attributes
    (:func:`acquisition_key`) unless a global gives it.

    Reads the globals of every file (attributes of ``/globals``) and its root attributes; images are not read.
    """
    paths = find_labscript_shots(pattern)
    if not paths:
        raise no_match(pattern, parameter="pattern")
    names = {**{f: f for f in FIELDS}, **{k: v for k, v in (globals_names or {}).items() if v is not None}}
    group = hdf5_group(frames)
    keys = frame_keys(frames)
    seen: dict[str, Path] = {}
    acquired, file_info = _acquisition_order(paths, wait_s)
    for index, path in enumerate(paths):
        shot = path.stem
        errors: list[Reason] = []
        if shot in seen:
            errors.append(Reason(f"{path}: duplicate shot id (file name also used by {seen[shot]})",
                                 RejectCause.SHOT_ID))
            shot = f"{shot}@{path}"
        else:
            seen[shot] = path
        globals_: dict[str, Any] = {}
        units: dict[str, str] = {}
        try:
            with open_when_ready(path, group, wait_s=wait_s) as image:
                globals_ = image.attributes()
                units = image.global_units() if hasattr(image, "global_units") else {}
        except InputDataError as exc:
            errors.append(reason_of(exc))
        protocol: dict[str, Any] = {"cycle": math.nan}
        if not errors:
            given = {field: globals_.get(names[field]) if names[field] else None for field in FIELDS}

            def name_of(field: str, value: object) -> str:
                return (f"global {names[field]!r} (data.globals.{field})"
                        + ("" if value is None else f" = {value!r}"))

            protocol, bad = parse_protocol(given, name_of=name_of)
            if bad and given["cycle"] is None:
                bad[0] += f". Globals found: {', '.join(sorted(globals_)) or 'none'}"
            errors += [Reason(text, RejectCause.PROTOCOL) for text in bad]
        if protocol.get("repeat") is None:
            protocol["repeat"] = file_info[index]["repeat"]
        if protocol.get("order") is None:
            protocol["order"] = acquired[index]
        problem = Reason("; ".join(e if e.startswith(str(path)) else f"{path}: {e}" for e in errors),
                         errors[0].cause if errors else None)
        meta = {k: v for k, v in globals_.items() if k not in names.values()}
        yield ShotRecord(shot, frames={n: path for n in FRAME_NAMES}, metadata=meta, frame_keys=dict(keys),
                         hdf5_group=group, problem=problem, run_time=file_info[index]["run_time"],
                         units={k: v for k, v in units.items() if k in meta}, wait_s=float(wait_s),
                         **{"direction": 1, "reference": False, "sequence_cycles": None, **protocol})


