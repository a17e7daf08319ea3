"""Export a finished run's per-shot results into its labscript shot files, ``/results/atompump``, for lyse.

``atompump export-lyse RESULTS_DIR`` (:func:`export_results`) reads ``RESULTS_DIR/com/com.nc`` (per shot: centre,
error, atom number, width where measured, used, reject reason, pump protocol), ``RESULTS_DIR/fit/summary.json``
(nu and its error) and the run table ``RESULTS_DIR/reduce/shots.nc`` (which file each shot came from), and writes
the numbers as attributes of ``/results/atompump`` of each shot file, where lyse reads a routine's results (its
DataFrame shows them as ``('atompump', name)``; a single-shot quick look of :mod:`atompump.lyse` saved there is
replaced by the run's final numbers).

The shot files are the lab's raw data, so the export never writes into them in place:

* it refuses while a Snakemake run is in progress in the run's working directory (``.snakemake/locks`` holds a
  lock; the shot files are then inputs of a running analysis) and asks for a finished run (``summary.json``);
* each file is held open for reading (HDF5's shared lock: no writer, e.g. BLACS or a lyse routine, can change it
  meanwhile; a file locked by a writer is waited for, up to ``wait_s``), copied byte for byte to a hidden file
  beside it (``.<name>.atompump-export``), the group written into the copy and flushed, the copy checked (its
  content outside ``/results``, images and globals included, hashes as the original's:
  :func:`atompump.io.checksums.hdf5_content_sha256`; the written values read back), synced to disk, and then
  renamed over the original in one atomic step. Killed at any moment, every shot file is either the untouched
  original or the complete copy; a rerun removes the hidden leftover and completes the export (files already up
  to date are skipped).
* nothing outside ``/results/atompump`` changes, and the file keeps its modification time (its raw data did not
  change), so neither the provenance's checksums (:mod:`atompump.io.checksums`) nor Snakemake's file dates see an
  exported file as a changed input.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from atompump._logging import Progress
from atompump.errors import InputDataError
from atompump.lyse import GROUP

__all__ = ["LEFTOVER_SUFFIX", "export_results", "export_shot", "running_snakemake_locks"]

log = logging.getLogger(__name__)

LEFTOVER_SUFFIX = ".atompump-export"
_PER_SHOT = {  # com.nc variable -> name in /results/atompump
    "x_com_um": "x_com_um", "x_com_err_um": "x_com_err_um", "x_moment_um": "x_moment_um",
    "atom_number": "atom_number", "width_um": "width_um", "used": "used", "reject_reason": "reject_reason",
    "cycle": "cycle", "direction": "direction", "reference": "reference", "order": "order",
}


def running_snakemake_locks(workdir: str | os.PathLike) -> list[Path]:
    """Snakemake's lock files in ``workdir/.snakemake/locks``: present while a run is in progress there (or after
    Snakemake itself was killed, until ``snakemake --unlock``)."""
    locks = Path(workdir) / ".snakemake" / "locks"
    return sorted(p for p in locks.glob("*.lock")) if locks.is_dir() else []


def _leftover(path: Path) -> Path:
    return path.with_name(f".{path.name}{LEFTOVER_SUFFIX}")


def _plain(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _group_values(group) -> dict[str, Any]:
    from atompump.io.formats import hdf5_value

    return {str(k): _plain(hdf5_value(v)) for k, v in group.attrs.items()}


def _open_for_reading(path: Path, wait_s: float):
    """The shot file open for reading (HDF5's shared lock), waiting up to ``wait_s`` for a writer to close it."""
    import h5py

    from atompump.io.formats import is_lock_error

    start = time.monotonic()
    while True:
        try:
            return h5py.File(path, "r")
        except OSError as exc:
            if not is_lock_error(exc) or time.monotonic() - start >= wait_s:
                raise InputDataError(f"{path}: cannot open it to export results ({exc}); it was left "
                                     "unchanged") from exc
            time.sleep(0.2)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_shot(path: str | os.PathLike, values: Mapping[str, Any], *, wait_s: float = 30.0) -> str:
    """Write ``values`` as the attributes of ``/results/atompump`` of one shot file, safely (see the module
    docstring). Returns ``written`` or ``up to date``.

    Raises
    ------
    InputDataError
        The file cannot be read, changed while it was exported, or the copy did not verify; the original is then
        unchanged.
    """
    import h5py

    from atompump.io.checksums import hdf5_content_sha256

    path = Path(path)
    values = {k: _plain(v) for k, v in values.items()}
    tmp = _leftover(path)
    tmp.unlink(missing_ok=True)  # a killed export's copy
    original = _open_for_reading(path, wait_s)
    try:
        current = original.get(f"results/{GROUP}")
        if isinstance(current, h5py.Group) and _group_values(current).keys() == values.keys() and all(
                _same(_group_values(current)[k], v) for k, v in values.items()):
            return "up to date"
        before = os.stat(path)
        raw = hdf5_content_sha256(path)
        shutil.copyfile(path, tmp)
        shutil.copymode(path, tmp)
    finally:
        original.close()
    try:
        with h5py.File(tmp, "r+") as f:
            results = f.require_group("results")
            if GROUP in results:
                del results[GROUP]  # our own earlier export or quick look; nothing else is touched
            group = results.create_group(GROUP)
            for name, value in values.items():
                group.attrs[name] = value
            f.flush()
        with h5py.File(tmp, "r") as f:
            written = _group_values(f[f"results/{GROUP}"])
        if hdf5_content_sha256(tmp) != raw or not all(_same(written.get(k), v) for k, v in values.items()):
            raise InputDataError(f"{path}: the copy with the results did not verify; the file was left unchanged")
        os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
        _fsync(tmp)
        now = os.stat(path)
        if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise InputDataError(f"{path}: changed while its results were exported (another program wrote it); it "
                                 "was left as that program wrote it: rerun the export")
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return "written"


def _shot_values(com, summary: Mapping[str, Any], i: int) -> dict[str, Any]:
    values = {target: com[name].values[i] for name, target in _PER_SHOT.items() if name in com.variables}
    values.update(estimator=str(com.attrs.get("estimator", "")), nu=summary.get("nu"),
                  nu_err=summary.get("nu_err"))
    values = {k: (math.nan if v is None else v) for k, v in values.items()}
    from atompump import __version__

    values["atompump_version"] = __version__
    return values


def export_results(results_dir: str | os.PathLike, *, wait_s: float = 30.0) -> dict[str, Any]:
    """Export a finished run's per-shot results into ``/results/atompump`` of its labscript shot files.

    Parameters
    ----------
    results_dir
        The run's ``results`` folder (``<working directory>/results``); file names in its run table are taken from
        the working directory, its parent.
    wait_s : float, keyword-only
        How long to wait for a shot file that a writer holds open.

    Returns
    -------
    dict
        ``written``, ``up_to_date`` (counts), ``failed`` (``{shot: reason}``, each such file unchanged),
        ``files`` (shot files of the run).

    Raises
    ------
    InputDataError
        A Snakemake run is in progress in the working directory, the run is not finished, or its shots are not
        HDF5 shot files.
    """
    from atompump.io.formats import detect_format
    from atompump.io.netcdf import read_dataset, read_variables

    results_dir = Path(results_dir)
    workdir = results_dir.resolve().parent
    locks = running_snakemake_locks(workdir)
    if locks:
        raise InputDataError(f"a Snakemake run is in progress in {workdir} (lock {locks[0]}): its shot files are "
                             "inputs of a running analysis, so no result is exported into them; rerun when it has "
                             "finished (if no Snakemake runs there, it was killed: snakemake --unlock)")
    com_path, summary_path = results_dir / "com" / "com.nc", results_dir / "fit" / "summary.json"
    shots_path = results_dir / "reduce" / "shots.nc"
    for needed in (com_path, summary_path, shots_path):
        if not needed.is_file():
            raise InputDataError(f"{needed} does not exist: export-lyse exports a finished run; run the workflow "
                                 f"to the end first (RESULTS_DIR is the results folder of its working directory)")
    com = read_dataset(com_path)
    summary = json.loads(summary_path.read_text())
    table = read_variables(shots_path, ["shot", "atoms_file"])[0]
    files = {str(s): str(f) for s, f in zip(table["shot"], table["atoms_file"])}
    out: dict[str, Any] = {"written": 0, "up_to_date": 0, "failed": {}, "files": 0}
    progress = Progress(log, "export-lyse", com.sizes["shot"], unit="shot files")
    for i, shot in enumerate(str(s) for s in com.shot.values):
        name = files.get(shot, "")
        path = Path(name) if os.path.isabs(name) else workdir / name
        progress.update()
        if not name or not path.is_file():
            out["failed"][shot] = f"its file {name or '(none)'} does not exist"
            continue
        try:
            if detect_format(path) != "hdf5":
                raise InputDataError(f"{path} is not an HDF5 shot file; lyse results live in labscript shot files")
            status = export_shot(path, _shot_values(com, summary, i), wait_s=wait_s)
        except InputDataError as exc:
            out["failed"][shot] = str(exc)
            continue
        out["files"] += 1
        out["written" if status == "written" else "up_to_date"] += 1
    if out["files"] == 0 and out["failed"]:
        first = next(iter(out["failed"].items()))
        raise InputDataError(f"no shot file of the run could be exported (shot {first[0]}: {first[1]})")
    return out
