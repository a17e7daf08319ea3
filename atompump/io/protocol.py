"""The shot protocol: what the pump sequence of one shot was, defined once for every source of a run.

A shot's protocol is six values (:data:`FIELDS`), given by a manifest's columns (:mod:`atompump.io.manifest`) or
by labscript globals (:mod:`atompump.io.labscript`), and stored as variables over ``shot`` in the run table, the
reduced batches and ``com.nc``:

``cycle``            pump cycles completed when the image was taken: a finite number >= 0 (required)
``direction``        pump direction, +1 (phi increasing) or -1 (default +1)
``reference``        a constant-phi reference sequence (bool, default false)
``repeat``           repeat index, an integer (optional)
``order``            acquisition order, an integer >= 0 (optional)
``sequence_cycles``  length of the sequence in pump cycles, a finite number >= 0 (optional; default ``cycle``). A
                     reference shot has ``cycle = 0`` and the ``sequence_cycles`` of its pumped partners

:func:`parse_protocol` parses the raw values of one shot (text of a CSV cell, or a global's value) and names every
bad one; :func:`protocol_variables` and :func:`protocol_from_columns` write and read them as per-shot variables.
:func:`lever_arm_problem` is the run-level check: the displacement per cycle is measured only when the pumped shots
sit at two or more values of ``direction * cycle``; :func:`check_manifest_protocol` applies it (and refuses a
negative cycle) to a manifest before any job runs.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from atompump.errors import InputDataError

__all__ = ["FIELDS", "OPTIONAL", "check_manifest_protocol", "lever_arm_problem", "parse_bool", "parse_protocol",
           "protocol_from_columns", "protocol_variables"]

FIELDS = ("cycle", "direction", "reference", "repeat", "order", "sequence_cycles")
"""The protocol of a shot, in the order of the manifest's columns."""
OPTIONAL = FIELDS[1:]
"""The fields a manifest or a labscript run may leave out."""

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def parse_bool(text: object) -> bool:
    """``true/false``, ``yes/no``, ``1/0`` (any case), or a bool/number, as a bool.

    Raises
    ------
    ValueError
        Any other value.
    """
    if isinstance(text, (bool, int)) or (hasattr(text, "dtype") and getattr(text, "ndim", 1) == 0):
        if float(text) in (0.0, 1.0):  # type: ignore[arg-type]
            return bool(text)
        raise ValueError(f"'{text}' is not a boolean (use true/false)")
    low = str(text).strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"'{text}' is not a boolean (use true/false)")


def _number(value: object) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not (math.isfinite(number) and number >= 0):
        raise ValueError
    return number


def _integer(value: object) -> int:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or number != int(number):
        raise ValueError
    return int(number)


def _direction(value: object) -> int:
    direction = _integer(value)
    if direction not in (1, -1):
        raise ValueError
    return direction


def _order(value: object) -> int:
    order = _integer(value)
    if order < 0:
        raise ValueError
    return order


# field -> (parser, what a good value is, default when absent; cycle has none: it is required)
_PARSERS: dict[str, tuple[Callable[[object], Any], str, Any]] = {
    "cycle": (_number, "a finite number >= 0", None),
    "direction": (_direction, "+1 or -1", 1),
    "reference": (parse_bool, "a boolean (true/false)", False),
    "repeat": (_integer, "an integer", None),
    "order": (_order, "an integer >= 0", None),
    "sequence_cycles": (_number, "a finite number >= 0", None),
}


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_protocol(values: Mapping[str, object], *, name_of: Callable[[str, object], str]
                   ) -> tuple[dict[str, Any], list[str]]:
    """The protocol of one shot from its raw values, with every problem named.

    Parameters
    ----------
    values : mapping
        Field (:data:`FIELDS`) -> raw value: the text of a manifest cell, or the value of a labscript global (a
        number, bool, text, or a NumPy scalar). None or blank text: not given.
    name_of : callable, keyword-only
        ``name_of(field, raw)`` -> how a problem names the value (raw is None for a missing one), e.g. ``cycle
        '-1'`` for a manifest cell or ``global 'n_cycles' (data.globals.cycle) = -1`` for a global.

    Returns
    -------
    protocol : dict
        Every field of :data:`FIELDS`; a bad or missing value is replaced by its default (``cycle``: NaN).
    problems : list of str
        ``<name_of> is not <what a good value is>`` for each bad value, ``<name_of> is missing; expected ...`` for
        a missing ``cycle``. A negative ``cycle`` is bad (cycles completed cannot be negative).
    """
    protocol: dict[str, Any] = {}
    problems: list[str] = []
    for field in FIELDS:
        parse, expected, default = _PARSERS[field]
        raw = values.get(field)
        if _absent(raw):
            protocol[field] = math.nan if field == "cycle" else default
            if field == "cycle":
                problems.append(f"{name_of(field, None)} is missing; expected {expected}")
            continue
        try:
            protocol[field] = parse(raw)
        except (TypeError, ValueError, OverflowError):
            protocol[field] = math.nan if field == "cycle" else default
            problems.append(f"{name_of(field, raw)} is not {expected}")
    return protocol, problems


def protocol_variables(records: Sequence[Any]) -> dict[str, tuple]:
    """The protocol of the shots (objects with the attributes of :data:`FIELDS`, e.g.
    :class:`~atompump.io.manifest.ShotRecord`) as Dataset variables over ``shot``: ``repeat`` and ``order`` -1 when
    not given, ``sequence_cycles`` = ``cycle`` when not given."""
    return {
        "cycle": ("shot", np.array([r.cycle for r in records], dtype=float), {"units": "1",
                                                                               "long_name": "pump cycles"}),
        "direction": ("shot", np.array([r.direction for r in records], dtype=np.int8),
                      {"units": "1", "long_name": "pump direction (+1: phi increasing)"}),
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


def protocol_from_columns(columns: Mapping[str, np.ndarray], i: int) -> dict[str, Any]:
    """The protocol of row ``i`` of variables written by :func:`protocol_variables` (its inverse)."""
    repeat, order = int(columns["repeat"][i]), int(columns["order"][i])
    return {"cycle": float(columns["cycle"][i]), "direction": int(columns["direction"][i]),
            "reference": bool(columns["reference"][i]), "repeat": None if repeat < 0 else repeat,
            "order": None if order < 0 else order, "sequence_cycles": float(columns["sequence_cycles"][i])}


def lever_arm_problem(cycle: Iterable[float], direction: Iterable[int], reference: Iterable[bool]) -> str:
    """Why the pumped shots of a run cannot measure the displacement per cycle (empty when they can).

    The fit ``x = x0 + direction * nu * dl * cycle`` needs pumped (not reference) shots at two or more values of
    ``direction * cycle``; shots whose cycle is not a finite number are left out (they are bad shots anyway).
    Returns ``every pumped shot (N) was taken after C cycles in direction D`` otherwise; empty when there is no
    pumped shot with a valid cycle (the fit stage says so with the counts by cause).
    """
    seen: set[float] = set()
    n, first = 0, (math.nan, 1)
    for c, d, ref in zip(cycle, direction, reference):
        c = float(c)
        if ref or not math.isfinite(c):
            continue
        if not seen:
            first = (c, int(d))
        seen.add(c * int(d))
        n += 1
        if len(seen) > 1:
            return ""
    if not seen:
        return ""
    return f"every pumped shot ({n}) was taken after {first[0]:g} cycles in direction {first[1]:+d}"


def check_manifest_protocol(path: str | os.PathLike) -> int:
    """Refuse a manifest whose protocol cannot give a measurement, before any job runs; return its number of rows.

    Reads the CSV once (no image file is opened or looked up). Refused: a row whose ``cycle`` is negative (cycles
    completed cannot be; the first such line is named), and a run whose pumped shots all sit at one value of
    ``direction * cycle`` (:func:`lever_arm_problem`). A manifest without rows gives 0 (the workflow refuses it
    while it plans the jobs: ``workflow/rules/common.smk``). Other bad cells are left to the row checks of
    :func:`atompump.io.manifest.iter_manifest` (they make bad shots, listed with the run's other bad shots).

    Raises
    ------
    InputDataError
        One line naming the manifest, the line and what to do. Also a missing manifest.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"manifest {path} does not exist; give the path of the run's CSV manifest")
    cycles, directions, references = [], [], []
    negative: list[tuple[int, str]] = []  # line, cycle as written
    n = 0
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for line_no, row in enumerate(csv.DictReader(fh), start=2):
            n += 1
            given = {f: (row.get(f) or "").strip() for f in FIELDS}
            protocol, _ = parse_protocol(given, name_of=lambda f, v: f)
            if math.isnan(protocol["cycle"]):  # not a number >= 0: a negative one is refused, others are bad rows
                with contextlib.suppress(ValueError):
                    if float(given["cycle"]) < 0:
                        negative.append((line_no, given["cycle"]))
                continue
            cycles.append(protocol["cycle"])
            directions.append(protocol["direction"])
            references.append(protocol["reference"])
    if negative:
        more = f" (and {len(negative) - 1} more rows)" if len(negative) > 1 else ""
        raise InputDataError(f"manifest {path} line {negative[0][0]}{more}: cycle {negative[0][1]!r} is negative; "
                             "cycle is the number of pump cycles completed when the image was taken (>= 0; a "
                             "reference shot has 0): fix the row and rerun")
    problem = lever_arm_problem(cycles, directions, references)
    if problem:
        raise InputDataError(f"manifest {path} lines 2-{n + 1}: {problem}; the displacement per cycle needs pumped "
                             "shots at two or more cycles (or both directions): add them to the manifest and rerun")
    return n
