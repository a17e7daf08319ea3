"""The run table: one row per shot (no pixels), written by the 'shots' rule and read by every batch.

:func:`write_shots_table` checks every shot from its headers (:func:`atompump.io.shots.check_shot`) and writes the
table streaming; :func:`shots_from_table` gives the shots back (all, or one batch's). The table holds each shot's
protocol (:mod:`atompump.io.protocol`), its files and frame keys, its problem (empty: good), its batch, and the
*carried columns*: every global of a labscript run (and every extra column of a manifest) as a per-shot variable
``global_<name>`` (:func:`global_variable`; a null global is a missing value: NaN, or an empty string) with its
runmanager units, and ``run_time`` for a labscript run. The reduced batches and ``com.nc`` carry them on
(:func:`carried_coordinates`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.errors import InputDataError
from atompump.io.atomic import atomic_path
from atompump.io.formats import FrameKey
from atompump.io.manifest import FRAME_NAMES, INPUT_NAMES, OD_NAME, ShotRecord
from atompump.io.netcdf import create_variable, encode, global_attributes, read_variables
from atompump.io.protocol import FIELDS, lever_arm_problem, protocol_from_columns, protocol_variables
from atompump.io.shots import check_shot, run_shape, shape_problem
from atompump.reasons import Reason, cause_code

__all__ = ["RUN_TIME", "TABLE_VARIABLES", "TITLE", "carried_columns", "carried_coordinates", "global_variable",
           "lever_arm_check", "run_input", "shots_from_table", "shots_table", "write_shots_table"]

log = logging.getLogger(__name__)

TITLE = "atompump run table: every shot of the run, its protocol, files and header-level problem"


def _encode_key(key: FrameKey) -> str:
    return json.dumps(key)


def _decode_key(text: str) -> FrameKey:
    return json.loads(text)


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
        "problem": ("shot", np.array([str(r.problem) for r in records], dtype=object),
                    {"long_name": "why the shot cannot be analysed (empty: good)"}),
        "problem_cause": ("shot", np.array([cause_code(r.problem) for r in records], dtype=object),
                          {"long_name": "code of the problem's cause (atompump.reasons.RejectCause; empty: good)"}),
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
                      attrs={"title": TITLE, "frame_shape": list(shape or (0, 0)), "batch_size": int(batch_size),
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


TABLE_VARIABLES = ("shot", *FIELDS, "problem", "problem_cause", "hdf5_group",
                   *(f"{n}_{part}" for n in INPUT_NAMES for part in ("file", "key")))
"""The variables of the run table that :func:`shots_from_table` reads back into shots."""


def write_shots_table(records: Iterable[ShotRecord], path: str | os.PathLike, *, batch_size: int,
                      chunk: int = 1024, total: int | None = None) -> tuple[int, int, tuple[int, int] | None]:
    """Check the shots (:func:`atompump.io.shots.check_shot`) and write the run table (:func:`shots_table`) to
    ``path``, streaming.

    The shots are checked and written ``chunk`` at a time into an HDF5/netCDF file with an unlimited ``shot``
    dimension, so memory stays bounded for a run of any length (the run's frame shape, the most common one, is found
    from a compact array of shapes; the few shots of another shape are marked afterwards:
    :func:`atompump.io.shots.shape_problem`). The carried columns (globals, run time: :func:`carried_columns`) are
    gathered as the shots go, one Python object per value, and written at the end. The encoding is
    :mod:`atompump.io.netcdf`'s; the file reads back with :func:`atompump.io.read_dataset` as the Dataset
    :func:`shots_table` would give.

    Returns
    -------
    n_shots, n_bad, frame_shape
    """
    import h5netcdf

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
        variables = {name: create_variable(f, name, ("shot",), template[name].dtype, template[name].attrs)
                     for name in ("shot", *template.data_vars)}
        n = 0
        progress = Progress(log, "run table", total, unit="shots checked", every=chunk)
        for block in _chunks(records, chunk):
            checked = []
            for record in block:
                record, shape = check_shot(record)
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
                if name == "batch":
                    values = (n + np.arange(len(checked))) // batch_size
                var[n:n + len(checked)] = encode(values)
            n += len(checked)
        if n == 0:
            raise InputDataError("the run has no shots")
        pairs = np.frombuffer(shapes, dtype=np.int_).reshape(-1, 2)
        good = np.frombuffer(bytes(bad), dtype=np.uint8) == 0
        shape = run_shape(map(tuple, pairs[good].tolist()))
        for i in np.flatnonzero(good & np.any(pairs != np.array(shape or (0, 0)), axis=1)):
            files = [variables[f"{name}_file"][i] for name in ("atoms", OD_NAME)]
            first = next(str(v.decode() if isinstance(v, bytes) else v) for v in files if len(v))
            problem = shape_problem(tuple(int(v) for v in pairs[i]), shape, first)
            variables["problem"][i], variables["problem_cause"][i] = problem, problem.code
            bad[i] = 1
        columns = carried.columns()
        for name, (values, attrs) in columns.items():
            create_variable(f, name, ("shot",), values.dtype, attrs)[:] = encode(values)
        if columns:  # coordinates along shot, as xarray reads them (CF: listed by the data variables)
            for name in template.data_vars:
                variables[name].attrs["coordinates"] = " ".join(columns)
        f.attrs.update(global_attributes({"frame_shape": list(shape or (0, 0)), "batch_size": int(batch_size),
                                          "input": _input_kind(good_kinds, any_od),
                                          **_table_attrs([ShotRecord("", 0.0, 1, {}, wait_s=wait)], columns)},
                                         title=TITLE))
    return n, sum(bad), shape


def lever_arm_check(path: str | os.PathLike, *, source: object) -> None:
    """Refuse a run table whose good pumped shots all sit at one value of ``direction * cycle``
    (:func:`atompump.io.protocol.lever_arm_problem`): the reduction would run for a fit that cannot be made.

    Raises
    ------
    InputDataError
        One line naming ``source`` (the run's manifest or glob) and what to do.
    """
    values = read_variables(path, ["cycle", "direction", "reference", "problem"])[0]
    good = values["problem"] == ""
    problem = lever_arm_problem(values["cycle"][good], values["direction"][good], values["reference"][good])
    if problem:
        raise InputDataError(f"{source}: {problem} (good shots only); the displacement per cycle needs pumped shots at "
                             "two or more cycles (or both directions): add them to the run and rerun")


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
    columns = {name: table[name].values for name in (*FIELDS, "problem", "problem_cause", "hdf5_group")}
    columns["shot"] = table.shot.values
    wait_s = float(table.attrs.get("file_wait_s", 0.0))
    for name in INPUT_NAMES:
        columns[f"{name}_file"] = table[f"{name}_file"].values
        columns[f"{name}_key"] = table[f"{name}_key"].values
    records = []
    for i in index:
        names = (OD_NAME,) if str(columns[f"{OD_NAME}_file"][i]) else FRAME_NAMES
        keys = {name: _decode_key(str(columns[f"{name}_key"][i])) for name in names}
        records.append(ShotRecord(
            shot=str(columns["shot"][i]), frames={name: Path(str(columns[f"{name}_file"][i])) for name in names},
            frame_keys={k: v for k, v in keys.items() if v is not None},
            hdf5_group=str(columns["hdf5_group"][i]) or None, wait_s=wait_s,
            problem=Reason(str(columns["problem"][i]), str(columns["problem_cause"][i])),
            **protocol_from_columns(columns, i)))
    return records
