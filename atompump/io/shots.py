"""The shots of a run: found from a manifest or a folder of labscript HDF5 shot files, checked, read one by one.

Sources
-------
``data.manifest``
    A CSV manifest (:mod:`atompump.io.manifest`): three single-frame files per shot, one multi-frame file per shot
    in a ``file`` column, or an optical-density image per shot in an ``od`` column.
``data.shots``
    A glob (``**`` allowed) of labscript-style HDF5 shot files, no manifest (:mod:`atompump.io.labscript`).

Either way a shot's protocol (cycle, direction, ...) is parsed by :mod:`atompump.io.protocol`, and the run table
that every batch reads is :mod:`atompump.io.runtable`.

Frame keys: a name selects the frame of that name; in a file whose frames have no names (multi-page TIFF, FITS
cube, NPY stack, a 3D HDF5 dataset) the names ``atoms``, ``probe``, ``dark`` select pages 0, 1, 2.

Files being written
-------------------
A file that another program holds open for writing (HDF5 file locking: BLACS saving the shot, a lyse routine
saving results) or that changed within the last second and cannot be read yet is waited for, up to
``data.file_wait_s`` seconds, and read again before it counts as bad
(:func:`atompump.io.formats.open_when_ready`).

Checks
------
:func:`check_shot` opens a shot's files once and checks, from headers only, that each is readable and not truncated,
that each frame exists, is 2D, of a supported dtype, and that the frames share one shape; the run's shape is the
most common one (:func:`run_shape`) and a good shot of another shape is bad (:func:`shape_problem`). Every problem
is recorded on its shot (``ShotRecord.problem``), so that all bad shots of a run can be listed together.
Pixel-level problems (NaN, no probe light) are found by :func:`read_shot`.

Streaming
---------
:func:`read_shot` reads the three frames of one shot and nothing else; the run table holds only per-shot metadata,
so a run of any length is reduced in batches with memory bounded by the batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from atompump.config import DATA_KEYS, naming_config_keys
from atompump.errors import InputDataError, ParameterError, literal
from atompump.io.formats import FrameKey, ImageFile, open_when_ready
from atompump.io.frames import check_frame, check_od_image
from atompump.io.labscript import find_labscript_shots, frame_keys, hdf5_group, iter_labscript_shots, no_match
from atompump.io.manifest import FRAME_NAMES, OD_NAME, ShotRecord, iter_manifest, scan_manifest
from atompump.io.protocol import check_manifest_protocol
from atompump.reasons import Reason, RejectCause, reason_of

__all__ = ["ODImage", "ShotFrames", "check_shot", "check_shots", "count_run_shots", "iter_run_shots", "read_od",
           "read_shot", "run_input_files", "run_shape", "run_shots", "shape_problem"]


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


@naming_config_keys(DATA_KEYS)  # it reads the data config section: a boundary
def count_run_shots(data: Mapping[str, Any]) -> int:
    """Number of shots of a measured run from the ``data`` config section, without opening any image.

    A manifest's protocol is checked on the way (:func:`atompump.io.protocol.check_manifest_protocol`: a negative
    cycle, or pumped shots all at one cycle, is refused naming the line), so that the workflow refuses such a run
    while it plans the jobs, before any job runs.
    """
    if data.get("shots"):
        n = len(find_labscript_shots(str(data["shots"])))
        if n == 0:
            raise no_match(str(data["shots"]), parameter="shots")
        return n
    if data.get("manifest"):
        return check_manifest_protocol(str(data["manifest"]))
    raise _no_source()


def _no_source() -> ParameterError:
    return ParameterError("one of {manifest} (a CSV manifest) or {shots} (a glob of labscript shot files) is required "
                          "for a measured run", parameters=("manifest", "shots"))


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


def _resolve(image: ImageFile, key: FrameKey, name: str) -> FrameKey:
    """A default frame name selects a page in a file without frame names (see the module docstring); an OD file
    without a frame key gives its only frame, or the in-situ OD ``it_plot`` of an Oqtant job result, or the frame
    named ``od``."""
    if name == OD_NAME and key is None and len(image.frames) > 1:
        for default in ("it_plot", OD_NAME):
            if default in image.names:
                return default
        raise InputDataError(f"{literal(image.path)}: holds {image._describe()}; name the frame that holds the "
                             "optical density with {od}", parameters=("frames", "od"))
    if isinstance(key, str) and not image.names and key in FRAME_NAMES and len(image.frames) > 1:
        return FRAME_NAMES.index(key)
    return key


@naming_config_keys(DATA_KEYS)  # it reads the data config section: a boundary
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
        records = iter_manifest(str(data["manifest"]), frames=frame_keys(data.get("frames")),
                                hdf5_group=hdf5_group(data.get("frames")))
        return (replace(r, wait_s=wait_s) for r in records) if wait_s else records
    raise _no_source()


def _check_one(record: ShotRecord) -> dict[str, tuple[int, int]]:
    """Header-level check of one shot's three frames (or its OD image); returns their shapes. Raises
    InputDataError."""
    shapes: dict[str, tuple[int, int]] = {}
    errors: list[str] = []
    cause = None  # the first problem's
    for name in record.input_names:
        path = record.frames[name]
        try:
            with open_when_ready(path, record.hdf5_group, wait_s=record.wait_s) as image:
                key = _resolve(image, record.key(name), name)
                shapes[name] = image.check(key)
        except InputDataError as exc:
            message = str(exc)
            cause = cause or exc.cause
            if message not in errors:
                errors.append(message if record.frame_keys or record.is_od else f"{name} frame: {message}")
    if errors:
        raise InputDataError("; ".join(errors), cause=cause)
    if len(set(shapes.values())) > 1:
        raise InputDataError(_shape_mismatch(record, shapes), cause=RejectCause.FRAME_SHAPES)
    return shapes


def _shape_mismatch(record: ShotRecord, shapes: Mapping[str, tuple[int, ...]]) -> str:
    files = ", ".join(dict.fromkeys(str(record.frames[n]) for n in FRAME_NAMES))
    return (f"{files}: frames have different shapes " + ", ".join(f"{n} {s}" for n, s in shapes.items())
            + "; all frames of a shot must come from the same camera region")


def check_shot(record: ShotRecord) -> tuple[ShotRecord, tuple[int, int]]:
    """Header-level check of one shot (see the module docstring): the shot (with ``problem`` set when bad; an
    earlier problem kept) and the shape of its frames ((0, 0) when bad)."""
    if record.problem:
        return record, (0, 0)
    try:
        shapes = _check_one(record)
    except InputDataError as exc:
        return replace(record, problem=reason_of(exc)), (0, 0)
    return record, next(iter(shapes.values()))  # all frames of a good shot share it


def run_shape(shapes: Iterable[tuple[int, int]]) -> tuple[int, int] | None:
    """The run's frame shape: the most common among its good shots' (None when no shot is good)."""
    counts = Counter(tuple(s) for s in shapes)
    return counts.most_common(1)[0][0] if counts else None


def shape_problem(shape: tuple[int, int], run: tuple[int, int] | None, source: object) -> Reason:
    """Why a good shot of frame ``shape`` is bad in a run of frame shape ``run`` (empty when they agree)."""
    if run is None or tuple(shape) == tuple(run):
        return Reason()
    return Reason(f"frame shape {tuple(shape)} differs from the run's {tuple(run)} ({source})", RejectCause.RUN_SHAPE)


def check_shots(records: Iterable[ShotRecord]) -> tuple[list[ShotRecord], tuple[int, int] | None]:
    """Header-level checks of every shot of a run (:func:`check_shot`), then of each good shot's frame shape
    against the run's (:func:`run_shape`), all in memory (the injection's source run). The workflow's run table
    does the same streaming: :func:`atompump.io.runtable.write_shots_table`.

    Returns
    -------
    records : list of ShotRecord
        The same shots, with ``problem`` set for every bad one (earlier problems kept).
    shape : (ny, nx) or None
        The run's frame shape (None when no shot is good).
    """
    checked = [check_shot(record) for record in records]
    shape = run_shape(s for r, s in checked if not r.problem)
    out = []
    for record, own in checked:
        problem = "" if record.problem else shape_problem(own, shape, record.frames[record.input_names[0]])
        out.append(replace(record, problem=problem) if problem else record)
    return out, shape


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
        with open_when_ready(path, record.hdf5_group, wait_s=record.wait_s) as image:
            for name in names:
                key = _resolve(image, record.key(name), name)
                sources[name] = f"{name} frame {path}" if key is None else f"{name} frame {path} [{key}]"
                image.check(key)
                raw[name] = image.read(key)
    shapes = {name: raw[name].shape for name in FRAME_NAMES}
    if len(set(shapes.values())) > 1:
        raise InputDataError(_shape_mismatch(record, shapes), cause=RejectCause.FRAME_SHAPES)
    if not (raw["probe"].flat[::97].any() or raw["probe"].any()):  # a sparse look first: np.any reads every pixel
        raise InputDataError(f"the {sources['probe']} is all zero: no probe light was recorded; check the camera "
                             "trigger or remove the shot", cause=RejectCause.ALL_ZERO)
    if not (raw["atoms"].flat[::97].any() or raw["atoms"].any()):
        raise InputDataError(f"the {sources['atoms']} is all zero: the camera recorded nothing, not even its offset, "
                             "during the atoms exposure; check the camera trigger or remove the shot",
                             cause=RejectCause.ALL_ZERO)
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
    with open_when_ready(path, record.hdf5_group, wait_s=record.wait_s) as image:
        key = _resolve(image, record.key(OD_NAME), OD_NAME)
        source = f"od image {path}" if key is None else f"od image {path} [{key}]"
        image.check(key)
        od = check_od_image(image.read(key), source=source)
    if region is not None:
        r0, r1, c0, c1 = region
        od = od[r0:r1, c0:c1]
    return ODImage(od, source)


