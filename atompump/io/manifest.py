"""Run manifests: one CSV row per shot, pointing to the camera frames of that shot.

Columns (header names, any order; extra columns are kept as metadata and otherwise ignored):

``shot``       unique shot id (string)
``atoms``      frame with atoms (path relative to the manifest's folder, or absolute) ...
``probe``      ... frame with probe light and no atoms ...
``dark``       ... frame with neither: three single-frame files (any format of :mod:`atompump.io.formats`);
``file``       ... or, instead of the three columns above, one multi-frame file per shot (multi-page TIFF, FITS
               cube, NPZ, NPY stack, labscript HDF5) whose frames are selected by ``data.frames``
``od``         ... or, instead of camera frames, the shot's optical-density image (any format, e.g. a float TIFF,
               FITS, NPZ/NPY, HDF5, or an Oqtant job result: frame ``it_plot``); ``data.frames.od`` selects the frame
               of a file that holds several. The reduction is skipped for such a run (see
               :mod:`atompump.stages.reduce`). A run is OD images or camera frames, never both: a row that gives
               both, or whose kind differs from the run's first row, is a bad row naming its line
``cycle``, ``direction``, ``reference``, ``repeat``, ``order``, ``sequence_cycles``
               the shot's protocol (:mod:`atompump.io.protocol`; only ``cycle`` is required)

:func:`scan_manifest` checks every row and returns all shots, the bad ones with their ``problem`` (so that a run
with ``data.on_bad_shot: reject`` can record them); :func:`read_manifest` raises
:class:`~atompump.errors.BadShotsError` listing every bad row instead.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from atompump.errors import BadShotsError, InputDataError
from atompump.io.formats import FrameKey
from atompump.io.protocol import FIELDS, OPTIONAL, parse_protocol
from atompump.reasons import Reason, RejectCause

__all__ = ["ShotRecord", "iter_manifest", "read_manifest", "scan_manifest", "write_manifest",
           "FRAME_NAMES", "INPUT_NAMES", "OD_NAME"]

FRAME_NAMES = ("atoms", "probe", "dark")
OD_NAME = "od"
"""The input of a shot given as an optical-density image instead of camera frames."""
INPUT_NAMES = (*FRAME_NAMES, OD_NAME)


@dataclass(frozen=True)
class ShotRecord:
    """One shot of a run: its id, the pump protocol and where its frames are.

    Attributes
    ----------
    shot : str
        Unique shot id.
    cycle : float
        Pump cycles completed when the image was taken.
    direction : int
        Pump direction, +1 or -1.
    frames : dict[str, Path]
        The files holding the ``atoms``, ``probe`` and ``dark`` frames (the same file three times for a
        multi-frame file); or, for a shot given as an optical-density image, that file alone under ``od``.
    reference : bool
        True for a reference sequence held at constant phi.
    repeat : int or None
        Repeat index, if the manifest gives one.
    order : int or None
        Acquisition order, if given.
    sequence_cycles : float or None
        Length of the sequence in pump cycles, if given (a reference shot: that of its pumped partners).
    metadata : dict[str, object]
        Any further manifest columns (text, verbatim) or labscript globals (their values: numbers, bools, text,
        lists; None for a null global).
    frame_keys : dict[str, int or str or None]
        Frame of each file to read (page index or name); empty for single-frame files.
    hdf5_group : str or None
        Group of an HDF5 file holding the frames (labscript: ``/images/<orientation>/<label>``).
    problem : str
        Why the shot cannot be analysed (empty for a good shot): a :class:`~atompump.reasons.Reason`, whose
        ``cause`` is the code of the run table's ``problem_cause``.
    run_time : str or None
        When the shot was run (labscript: BLACS's ``run time`` attribute, local time, ISO 8601), if known.
    units : dict[str, str]
        Units of the globals in ``metadata`` (labscript: runmanager's ``/globals/<group>/units``), where given.
    wait_s : float
        How long to wait for a file of the shot that is locked or still being written before it counts as bad
        (``data.file_wait_s``).
    """

    shot: str
    cycle: float
    direction: int
    frames: dict[str, Path]
    reference: bool = False
    repeat: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    frame_keys: dict[str, FrameKey] = field(default_factory=dict)
    hdf5_group: str | None = None
    problem: str = ""
    order: int | None = None
    sequence_cycles: float | None = None
    run_time: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    wait_s: float = 0.0

    def key(self, name: str) -> FrameKey:
        """The frame key of frame ``name`` (None: a single-frame file)."""
        return self.frame_keys.get(name)

    @property
    def is_od(self) -> bool:
        """True for a shot given as an optical-density image (manifest column ``od``)."""
        return OD_NAME in self.frames

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs of the shot: ``("od",)`` or ``("atoms", "probe", "dark")``."""
        return (OD_NAME,) if self.is_od else FRAME_NAMES


def _read_rows(path: Path) -> tuple[list[str], Iterator[dict[str, str]]]:
    """The manifest's columns and an iterator over its rows (a long manifest is never held whole)."""
    if not path.is_file():
        raise InputDataError(f"manifest {path} does not exist; give the path of the run's CSV manifest")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        fieldnames = csv.DictReader(fh).fieldnames
    if fieldnames is None:
        raise InputDataError(f"manifest {path} is empty; it needs a header row with shot, cycle and atoms, "
                             "probe, dark (or file, or od)")

    def rows() -> Iterator[dict[str, str]]:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                yield {(k or "").strip(): (v or "").strip() for k, v in row.items()}

    return [c.strip() for c in fieldnames], rows()


def scan_manifest(path: str | os.PathLike, *, frames: Mapping[str, FrameKey] | None = None,
                  hdf5_group: str | None = None) -> list[ShotRecord]:
    """Read a run manifest and check every row, returning every shot (bad ones with their ``problem``).

    The list of :func:`iter_manifest`; see there.
    """
    records = list(iter_manifest(path, frames=frames, hdf5_group=hdf5_group))
    if not records:
        raise InputDataError(f"manifest {path} has a header but no shots")
    return records


def iter_manifest(path: str | os.PathLike, *, frames: Mapping[str, FrameKey] | None = None,
                  hdf5_group: str | None = None) -> Iterator[ShotRecord]:
    """The shots of a run manifest, one at a time, each row checked (bad ones with their ``problem``).

    Parameters
    ----------
    path
        The manifest CSV.
    frames : mapping, optional, keyword-only
        Frame keys ``atoms``, ``probe``, ``dark`` for a manifest with a ``file`` column (default: the names
        ``atoms``, ``probe``, ``dark``), and ``od``: the frame of each ``od`` file (default None: the file's only
        frame, or ``it_plot`` of an Oqtant job result).
    hdf5_group : str, optional, keyword-only
        HDF5 group holding the frames of ``file`` (and ``od``) entries that are HDF5 files.

    Yields
    ------
    ShotRecord
        In manifest order. A bad row's shot id is made unique (``s1@line5`` for the second ``s1``) so that every
        row can be recorded.

    Raises
    ------
    InputDataError
        The file is missing, empty, lacks a required column, or has no rows.
    """
    path = Path(path)
    columns, rows = _read_rows(path)
    has_frames = all(c in columns for c in FRAME_NAMES)
    has_file = "file" in columns
    has_od = OD_NAME in columns
    missing = [c for c in ("shot", "cycle") if c not in columns]
    if not has_frames and not has_file and not has_od:
        missing += [c for c in FRAME_NAMES if c not in columns]
    if missing:
        raise InputDataError(
            f"manifest {path} lacks column(s) {', '.join(sorted(missing))}; found {', '.join(columns)}. "
            f"Required: shot, cycle, and atoms, probe, dark (one file per frame) or file (one multi-frame file per "
            f"shot) or od (an optical-density image per shot); optional: {', '.join(OPTIONAL)}"
        )
    if has_frames and has_file:
        raise InputDataError(f"manifest {path} has both a 'file' column and atoms/probe/dark columns; give either "
                             "one multi-frame file per shot or one file per frame")
    keys = {name: (frames or {}).get(name, name) for name in FRAME_NAMES}
    od_key = (frames or {}).get(OD_NAME)
    camera = ("file",) if has_file else (FRAME_NAMES if has_frames else ())
    run_kind: tuple[str, int] | None = None  # the kind of the first row that names one, and its line

    base = path.parent
    seen: dict[str, int] = {}
    for line_no, row in enumerate(rows, start=2):
        shot = row.get("shot", "")
        errors: list[Reason] = []
        kind, kind_error = _row_kind(row, has_od=has_od, camera=camera, run_kind=run_kind)
        if kind_error:
            errors.append(Reason(kind_error, RejectCause.MIXED_INPUT))
        elif run_kind is None and (row.get(OD_NAME) or any(row.get(c) for c in camera)):
            run_kind = (kind, line_no)
        if not shot:
            errors.append(Reason("empty shot id", RejectCause.SHOT_ID))
            shot = f"(line {line_no})"
        elif shot in seen:
            errors.append(Reason(f"duplicate shot id (first on line {seen[shot]})", RejectCause.SHOT_ID))
            shot = f"{shot}@line{line_no}"
        else:
            seen[shot] = line_no
        protocol, bad = parse_protocol({f: row.get(f) for f in FIELDS},
                                       name_of=lambda f, v: f if v is None else f"{f} {v!r}")
        errors += [Reason(text, RejectCause.PROTOCOL) for text in bad]
        if kind == OD_NAME:
            paths = {OD_NAME: _row_path(row, OD_NAME, base, errors)}
            frame_keys, group = ({} if od_key is None else {OD_NAME: od_key}), hdf5_group
        else:
            paths = {name: _row_path(row, name, base, errors) for name in (("file",) if has_file else FRAME_NAMES)}
            if has_file:
                paths = {name: paths["file"] for name in FRAME_NAMES}
            frame_keys, group = (keys, hdf5_group) if has_file else ({}, None)
        problem = Reason(f"manifest {path} line {line_no}: " + "; ".join(errors), errors[0].cause) if errors else ""
        extra = {k: v for k, v in row.items() if k not in {"shot", "cycle", "file", OD_NAME, *FRAME_NAMES,
                                                             *OPTIONAL}}
        yield ShotRecord(shot, frames=paths, metadata=extra, frame_keys=frame_keys, hdf5_group=group, problem=problem,
                         **protocol)


def _row_kind(row: Mapping[str, str], *, has_od: bool, camera: tuple[str, ...],
              run_kind: tuple[str, int] | None) -> tuple[str, str]:
    """Whether a manifest row gives an OD image (``"od"``) or camera frames (``"frames"``), and why the row is bad
    (empty when it is not): a row gives one or the other, never both, and every row of a run gives the kind of its
    first row."""
    od_given = has_od and bool(row.get(OD_NAME))
    camera_given = any(row.get(c) for c in camera)
    columns = " or ".join(camera) if camera == ("file",) else ", ".join(camera)
    if od_given and camera_given:
        return (run_kind[0] if run_kind else OD_NAME,
                f"both od and {columns} are given; a manifest gives each shot either as an optical-density image "
                f"(column od) or as camera frames ({columns}), never both: empty one of them")
    kind = OD_NAME if od_given else "frames" if camera_given else (run_kind[0] if run_kind else
                                                                   "frames" if camera else OD_NAME)
    if run_kind is not None and (od_given or camera_given) and kind != run_kind[0]:
        described = {OD_NAME: "an optical-density image (column od)", "frames": f"camera frames ({columns})"}
        return kind, (f"gives {described[kind]} while line {run_kind[1]} gives {described[run_kind[0]]}; a run is "
                      "either OD images or camera frames, never a mix: split it into two runs")
    return kind, ""


def _row_path(row: Mapping[str, str], name: str, base: Path, errors: list[Reason]) -> Path:
    """The file named in column ``name`` of a row (relative to ``base`` unless absolute); a missing entry or file is
    added to ``errors``."""
    text = row.get(name, "")
    if not text:
        errors.append(Reason(f"no {name} given", RejectCause.MISSING_FILE))
        return base
    file_path = Path(text) if os.path.isabs(text) else base / text
    if not file_path.is_file():
        errors.append(Reason(f"{name} {file_path} does not exist", RejectCause.MISSING_FILE))
    return file_path


def read_manifest(path: str | os.PathLike, *, frames: Mapping[str, FrameKey] | None = None,
                  hdf5_group: str | None = None) -> list[ShotRecord]:
    """Read and check a run manifest (see :func:`scan_manifest`).

    Raises
    ------
    InputDataError
        The file is missing, empty or lacks a required column.
    BadShotsError
        One or more rows are invalid (duplicate shot id, unparsable cycle or direction, missing file); the
        message lists every bad row with its line number.
    """
    records = scan_manifest(path, frames=frames, hdf5_group=hdf5_group)
    problems = [(r.shot.split("@line")[0], r.problem) for r in records if r.problem]
    if problems:
        raise BadShotsError(problems, hint="Fix these rows of the manifest (or remove them) and rerun.")
    return records


def write_manifest(path: str | os.PathLike, rows: list[dict[str, object]]) -> None:
    """Write a manifest CSV atomically; ``rows`` are dicts with the manifest's columns."""
    import io

    from atompump.io.atomic import write_text

    if not rows:
        raise ValueError("a manifest needs at least one shot")
    columns = list(rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    write_text(path, buf.getvalue())
