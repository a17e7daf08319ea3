"""Run manifests: one CSV row per shot, pointing to the camera frames of that shot.

Columns (header names, any order; extra columns are kept as metadata and otherwise ignored):

``shot``       unique shot id (string)
``atoms``      frame with atoms (path relative to the manifest's folder, or absolute)
``probe``      frame with probe light and no atoms
``dark``       frame with neither
``cycle``      pump cycles completed at imaging time (float)
``direction``  +1 or -1 (pump direction; optional, default +1)
``reference``  true/false: a constant-phi reference sequence (optional, default false)
``repeat``     integer repeat index (optional)
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from atompump.errors import BadShotsError, InputDataError

__all__ = ["ShotRecord", "read_manifest", "write_manifest", "count_manifest_rows", "FRAME_NAMES"]

FRAME_NAMES = ("atoms", "probe", "dark")
_REQUIRED = ("shot", "cycle", *FRAME_NAMES)
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


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
        Absolute paths of the ``atoms``, ``probe`` and ``dark`` frames.
    reference : bool
        True for a reference sequence held at constant phi.
    repeat : int or None
        Repeat index, if the manifest gives one.
    metadata : dict[str, str]
        Any further manifest columns, verbatim.
    """

    shot: str
    cycle: float
    direction: int
    frames: dict[str, Path]
    reference: bool = False
    repeat: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"'{text}' is not a boolean (use true/false)")


def read_manifest(path: str | os.PathLike) -> list[ShotRecord]:
    """Read and check a run manifest.

    Every row is checked before anything is returned; all problems are reported together.

    Raises
    ------
    InputDataError
        The file is missing, empty or lacks a required column.
    BadShotsError
        One or more rows are invalid (duplicate shot id, unparsable cycle or direction, missing path); the
        message lists every bad row with its line number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"manifest {path} does not exist; set data.manifest to the CSV file of your run")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise InputDataError(f"manifest {path} is empty; it needs a header row with {', '.join(_REQUIRED)}")
        columns = [c.strip() for c in reader.fieldnames]
        missing = [c for c in _REQUIRED if c not in columns]
        if missing:
            raise InputDataError(
                f"manifest {path} lacks column(s) {', '.join(missing)}; found {', '.join(columns)}. "
                f"Required: {', '.join(_REQUIRED)}; optional: direction, reference, repeat"
            )
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    if not rows:
        raise InputDataError(f"manifest {path} has a header but no shots")

    base = path.parent
    records: list[ShotRecord] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for line_no, row in enumerate(rows, start=2):
        shot = row.get("shot", "")
        label = shot or f"(line {line_no})"
        errors = []
        if not shot:
            errors.append("empty shot id")
        elif shot in seen:
            errors.append(f"duplicate shot id (first on line {seen[shot]})")
        else:
            seen[shot] = line_no
        try:
            cycle = float(row["cycle"])
            if not math.isfinite(cycle):
                raise ValueError
        except ValueError:
            errors.append(f"cycle '{row['cycle']}' is not a finite number")
            cycle = math.nan
        direction_text = row.get("direction", "") or "1"
        try:
            direction = int(float(direction_text))
            if direction not in (1, -1) or float(direction_text) != direction:
                raise ValueError
        except ValueError:
            errors.append(f"direction '{direction_text}' is not +1 or -1")
            direction = 1
        try:
            reference = _parse_bool(row.get("reference", ""))
        except ValueError as exc:
            errors.append(f"reference: {exc}")
            reference = False
        repeat_text = row.get("repeat", "")
        try:
            repeat = int(repeat_text) if repeat_text else None
        except ValueError:
            errors.append(f"repeat '{repeat_text}' is not an integer")
            repeat = None
        frames: dict[str, Path] = {}
        for name in FRAME_NAMES:
            text = row.get(name, "")
            if not text:
                errors.append(f"no {name} frame given")
                continue
            frame_path = Path(text) if os.path.isabs(text) else base / text
            if not frame_path.is_file():
                errors.append(f"{name} frame {frame_path} does not exist")
            frames[name] = frame_path
        if errors:
            problems.append((label, f"manifest {path} line {line_no}: " + "; ".join(errors)))
            continue
        extra = {k: v for k, v in row.items() if k not in {*_REQUIRED, "direction", "reference", "repeat"}}
        records.append(ShotRecord(shot, cycle, direction, frames, reference, repeat, extra))
    if problems:
        raise BadShotsError(problems, hint="Fix these rows of the manifest (or remove them) and rerun.")
    return records


def count_manifest_rows(path: str | os.PathLike) -> int:
    """Number of data rows of a manifest (cheap; used to plan batches before the run)."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"manifest {path} does not exist; set data.manifest to the CSV file of your run")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def write_manifest(path: str | os.PathLike, rows: list[dict[str, object]]) -> None:
    """Write a manifest CSV atomically; ``rows`` are dicts with the manifest's columns."""
    from atompump.io.atomic import write_text
    import io

    if not rows:
        raise ValueError("a manifest needs at least one shot")
    columns = list(rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    write_text(path, buf.getvalue())
