"""Stage reduce: the run table, the region of interest and fringe basis, the OD of each batch, the input check.

Rules and files (see ``workflow/rules/reduce.smk``)::

    shots         manifest / labscript files  -> results/reduce/shots.nc          one job: every shot, header checks
    fringe_basis  shots.nc + a bounded sample -> results/reduce/fringe_basis.nc   one job: ROI and basis
    reduce_batch  shots.nc, fringe_basis.nc   -> results/reduce/batch-NNNN.nc     one job per batch of shots
    check_reduce  every batch                 -> results/reduce/input_check.json  one job: all bad shots at once

A bad shot never stops a batch: it is recorded with its reason. ``check_reduce`` then lists every bad shot of the
run and stops it (``data.on_bad_shot: error``) or lets the centre-of-mass jobs go on with the bad shots rejected
(``reject``). Memory is bounded by one batch (ODs are kept only inside the ROI) and by the basis sample.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.errors import BadShotsError, InputDataError
from atompump.io.atomic import write_json
from atompump.io.manifest import FRAME_NAMES, ShotRecord
from atompump.io.netcdf import read_variables, write_dataset, write_dataset_uncompressed
from atompump.io.shots import (
    count_run_shots,
    iter_run_shots,
    protocol_variables,
    read_shot,
    shots_from_table,
    write_shots_table,
)
from atompump.reduce import (
    Box,
    FringeBasis,
    build_fringe_basis,
    grow_box,
    locate_run_cloud,
    optical_density,
    reduce_shot,
)

log = logging.getLogger(__name__)

__all__ = ["check_reduce_stage", "fringe_basis_stage", "read_fringe_basis", "read_run_cloud", "reduce_batch_stage",
           "sample_indices", "shots_stage"]

Config = Mapping[str, Any]

_BAD_SHOT_HINT = ("Fix or remove these shots, or set data.on_bad_shot: reject to record them as rejected and go on.")


def shots_stage(out_path: str | os.PathLike, *, data: Config, batch_size: int,
                manifest: str | os.PathLike | None = None) -> dict:
    """The run table (``results/reduce/shots.nc``): every shot with its frames and header-level problems.

    Streams: shots are checked and written in chunks (:func:`atompump.io.shots.write_shots_table`). Returns the
    table's attributes (``frame_shape``, ``batch_size``) with ``n_shots`` and ``n_bad`` (header-level problems).

    Parameters
    ----------
    data : mapping
        The ``data`` config section (``manifest`` or ``shots``, ``frames``, ``globals``).
    batch_size : int
        Shots per batch.
    manifest : path, optional
        A manifest that replaces ``data.manifest`` (the simulated run's).
    """
    if manifest is not None:
        data = {**data, "manifest": str(manifest), "shots": None}
    try:
        total = count_run_shots(data)  # for the progress lines only
    except InputDataError:
        total = None  # reported by iter_run_shots below
    n, bad, shape = write_shots_table(iter_run_shots(data), out_path, batch_size=batch_size, total=total)
    log.info("%d shots, %d with problems found in the headers; frame shape %s", n, bad, shape)
    return {**read_variables(out_path, [])[1], "n_shots": int(n), "n_bad": int(bad)}


def sample_indices(n: int, k: int) -> np.ndarray:
    """``min(n, k)`` indices spread evenly over ``range(n)`` (deterministic: the first and the last included)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def _imaging_kwargs(imaging: Config) -> dict:
    return dict(alpha=float(imaging["alpha"]), isat_counts=imaging.get("isat_counts"),
                min_probe_counts=float(imaging["min_probe_counts"]),
                saturation_counts=imaging.get("saturation_counts"))


def _sampled_shots(shots_path: str | os.PathLike, k: int) -> list[ShotRecord]:
    """Up to ``k`` good shots spread evenly over the run, reading only their rows of the run table."""
    problem = read_variables(shots_path, ["problem"])[0]["problem"]
    good = np.flatnonzero(problem == "")
    if good.size == 0:
        shots = read_variables(shots_path, ["shot"])[0]["shot"]
        raise BadShotsError([(str(s), str(p)) for s, p in zip(shots, problem)],
                            hint="No shot of the run can be read: " + _BAD_SHOT_HINT)
    return _table_rows(shots_path, good[sample_indices(good.size, k)])


def _check_roi(roi: Sequence[int], shape: tuple[int, int]) -> Box:
    r0, r1, c0, c1 = (int(v) for v in roi)
    if not (0 <= r0 < r1 <= shape[0] and 0 <= c0 < c1 <= shape[1]):
        raise InputDataError(f"config key 'imaging.roi': {list(roi)} is not inside the frames of {shape[0]} rows x "
                             f"{shape[1]} columns; give [row_start, row_stop, col_start, col_stop] with "
                             "0 <= start < stop <= size")
    return r0, r1, c0, c1


def _mean_od(shots_path: str | os.PathLike, shape: tuple[int, int], imaging: Config) -> tuple[np.ndarray, np.ndarray]:
    """Mean OD (own probe frames) of up to ``imaging.roi_sample_shots`` shots spread over the run, and the pixels
    with probe light in at least half of them."""
    kwargs = _imaging_kwargs(imaging)
    total = np.zeros(shape)
    count = np.zeros(shape)
    used = 0
    for record in _sampled_shots(shots_path, int(imaging["roi_sample_shots"])):
        try:
            frames = read_shot(record)
        except InputDataError as exc:  # reported by the batch that holds the shot
            log.warning("ROI sample: skipped shot %s: %s", record.shot, exc)
            continue
        result = optical_density(frames.atoms, frames.probe, frames.dark, **kwargs)
        total += np.where(result.valid, result.od, 0.0)
        count += result.valid
        used += 1
    if used == 0:
        raise InputDataError("cannot find the region of interest: no sampled shot could be read; see the "
                             "problems listed by the reduce step, or set imaging.roi")
    return np.where(count > 0, total / np.maximum(count, 1), np.nan), count >= max(1, used // 2)


def fringe_basis_stage(shots_path: str | os.PathLike, out_path: str | os.PathLike, *, imaging: Config) -> xr.Dataset:
    """Region of interest, the run's cloud and the fringe-removal basis of a run (``results/reduce/fringe_basis.nc``).

    The cloud's extent (where the run's atoms may be: :func:`atompump.reduce.locate_run_cloud`) is found in the mean
    OD of up to ``imaging.roi_sample_shots`` shots spread over the run, and the ROI around it (or ``imaging.roi``).
    The extent inside the ROI is written as ``cloud`` (the centre-of-mass stage's run region) with the mean OD; the
    basis (with ``imaging.fringe_removal``) is built from the probe frames of up to ``imaging.fringe_max_frames``
    shots spread over the run, cut to the basis region, and fitted on its pixels outside the extent (with a hand-set
    ROI and no cloud found: outside the ROI). Memory ``4 * fringe_max_frames * (basis region pixels)`` bytes,
    whatever the run's length.
    """
    shape = tuple(int(v) for v in read_variables(shots_path, [])[1]["frame_shape"])
    kwargs = _imaging_kwargs(imaging)
    mean, lit = _mean_od(shots_path, shape, imaging)
    if imaging.get("roi") is not None:
        roi = _check_roi(imaging["roi"], shape)
        log.info("region of interest from imaging.roi: %s", roi)
        try:
            atoms = np.zeros(shape, bool)
            inside = (slice(roi[0], roi[1]), slice(roi[2], roi[3]))
            atoms[inside] = locate_run_cloud(mean[inside], valid=lit[inside])[1]
        except InputDataError as exc:
            log.warning("no cloud found in the run's mean OD inside imaging.roi (%s); the fringe removal leaves the "
                        "whole ROI out of its fit", exc)
            atoms = None
    else:
        roi, atoms = locate_run_cloud(mean, valid=lit)
    rows, cols = slice(roi[0], roi[1]), slice(roi[2], roi[3])
    attrs = {"roi": list(roi), "frame_shape": list(shape), "fringe_removal": int(bool(imaging["fringe_removal"]))}
    cloud = {
        "cloud": (("y", "x"), (np.zeros(shape, bool) if atoms is None else atoms)[rows, cols],
                  {"long_name": "where the run's atoms may be: the mean cloud with its wings and a margin"}),
        "mean_od": (("y", "x"), mean[rows, cols].astype(np.float32),
                    {"units": "1", "long_name": "mean optical density of the sampled shots (own probe frames)"}),
    }
    coords = {"y": ("y", np.arange(roi[0], roi[1]), {"long_name": "frame row (pixel)"}),
              "x": ("x", np.arange(roi[2], roi[3]), {"long_name": "frame column (pixel)"})}
    if not imaging["fringe_removal"]:
        ds = xr.Dataset(cloud, coords=coords, attrs={**attrs, "n_components": 0})
        write_dataset(ds, out_path)
        return ds
    box = grow_box(roi, 1.0, shape)
    picks = _sampled_shots(shots_path, int(imaging["fringe_max_frames"]))
    probes = np.zeros((len(picks), box[1] - box[0], box[3] - box[2]), dtype=np.float32)
    valid = np.ones(probes.shape[1:], dtype=bool)
    n = 0
    progress = Progress(log, "fringe basis", len(picks), unit="probe frames read")
    for record in picks:
        progress.update()
        try:
            frames = read_shot(record, region=box)
        except InputDataError as exc:
            log.warning("fringe basis: skipped shot %s: %s", record.shot, exc)
            continue
        probe = frames.probe - frames.dark
        lit_box = probe >= kwargs["min_probe_counts"]
        if kwargs["saturation_counts"] is not None:
            lit_box &= (frames.probe < kwargs["saturation_counts"]) & (frames.atoms < kwargs["saturation_counts"])
        if lit_box.mean() < 0.5:  # no probe light: a bad shot (reported by its batch), not a reference
            log.warning("fringe basis: skipped shot %s: only %.0f%% of the basis region has probe light", record.shot,
                        100 * lit_box.mean())
            continue
        probes[n] = probe
        valid &= lit_box
        n += 1
    log.info("fringe basis: decomposing %d probe frames of %d x %d pixels (imaging.fringe_max_frames = %d)", n,
             probes.shape[1], probes.shape[2], int(imaging["fringe_max_frames"]))
    basis = build_fringe_basis(probes[:n], roi=roi, box=box, valid=valid,
                               n_components=imaging.get("fringe_basis_size"),
                               atoms=None if atoms is None else atoms[box[0]:box[1], box[2]:box[3]])
    log.info("fringe basis: %d components kept (%s)", basis.n_components,
             "imaging.fringe_basis_size" if imaging.get("fringe_basis_size") else "automatic")
    ds = xr.Dataset(
        {
            **cloud,
            "components": (("component", "by", "bx"), basis.components,
                           {"units": "counts", "long_name": "fringe basis images (orthonormal on the fit region "
                                                            "after weighting)"}),
            "weights": (("by", "bx"), basis.weights, {"units": "counts-1/2", "long_name": "1/sqrt(mean probe)"}),
            "fit_mask": (("by", "bx"), basis.fit_mask, {"long_name": "pixels of the reference fit"}),
            "singular_values": ("frame", basis.singular_values,
                                {"long_name": "singular values of the weighted probe frames on the fit region"}),
        },
        coords=coords,
        attrs={**attrs, "box": list(box), "n_components": basis.n_components, "n_frames": basis.n_frames,
               "threshold": basis.threshold, "reference_noise_ratio": basis.reference_noise_ratio,
               "criterion": "Gavish-Donoho optimal hard threshold, unknown noise"},
    )
    write_dataset(ds, out_path)
    return ds


def read_run_cloud(path: str | os.PathLike) -> tuple[np.ndarray | None, np.ndarray, list[int], list[int]]:
    """The run's cloud region and mean OD over the ROI (region None when no cloud was found), the ROI and the frame
    shape, from the file written by :func:`fringe_basis_stage`."""
    values, attrs = read_variables(path, ["cloud", "mean_od"])
    cloud = np.asarray(values["cloud"], bool)
    return ((cloud if cloud.any() else None), np.asarray(values["mean_od"], float), [int(v) for v in attrs["roi"]],
            [int(v) for v in attrs["frame_shape"]])


def read_fringe_basis(path: str | os.PathLike) -> tuple[Box, FringeBasis | None]:
    """The ROI and (if fringe removal is on) the basis written by :func:`fringe_basis_stage`."""
    attrs = read_variables(path, [])[1]
    roi = tuple(int(v) for v in attrs["roi"])
    if not int(attrs["fringe_removal"]):
        return roi, None
    ds = read_variables(path, ["fit_mask", "components", "weights", "singular_values"])[0]
    basis = FringeBasis(roi=roi, box=tuple(int(v) for v in attrs["box"]), fit_mask=ds["fit_mask"].astype(bool),
                        components=ds["components"].astype(np.float32), weights=ds["weights"],
                        singular_values=ds["singular_values"], threshold=float(attrs["threshold"]),
                        n_frames=int(attrs["n_frames"]))
    return roi, basis


def reduce_batch_stage(shots_path: str | os.PathLike, basis_path: str | os.PathLike, out_path: str | os.PathLike, *,
                       batch: int, imaging: Config, min_valid_fraction: float = 0.5) -> xr.Dataset:
    """Optical density inside the ROI of each shot of one batch, written to ``out_path`` (netCDF).

    A shot that cannot be reduced (any problem of :func:`atompump.io.shots.read_shot`, or fewer than
    ``min_valid_fraction`` of its ROI's pixels with probe light) is kept with an all-NaN image, its
    ``reject_reason`` and ``bad_input = True``; :func:`check_reduce_stage` decides whether the run stops.
    """
    records = _batch_records(shots_path, batch)
    roi, basis = read_fringe_basis(basis_path)
    region = basis.box if basis is not None else roi
    plan = basis.plan((region[1] - region[0], region[3] - region[2]), (region[0], region[2])) if basis else None
    kwargs = _imaging_kwargs(imaging)
    shape = (roi[1] - roi[0], roi[3] - roi[2])
    n = len(records)
    od = np.full((n, *shape), np.nan, dtype=np.float32)
    valid = np.zeros((n, *shape), dtype=bool)
    factor = np.full((n, *shape), np.nan, dtype=np.float32)
    reasons = []
    for i, rec in enumerate(records):
        reason = rec.problem
        if not reason:
            try:
                frames = read_shot(rec, region=region)
                result = reduce_shot(frames.atoms, frames.probe, frames.dark, roi=roi, origin=(region[0], region[2]),
                                     basis=basis, plan=plan, **kwargs)
                fraction = float(result.valid.mean())
                if fraction < min_valid_fraction:
                    raise InputDataError(
                        f"only {fraction:.1%} of the region of interest has probe light above "
                        f"{kwargs['min_probe_counts']:g} counts ({frames.sources['probe']}); check the probe beam "
                        "or imaging.min_probe_counts")
                od[i], valid[i], factor[i] = result.od, result.valid, result.variance_factor
            except InputDataError as exc:
                reason = str(exc)
        if reason:
            log.warning("bad shot %s: %s", rec.shot, reason)
        reasons.append(reason)
    coords = _shot_coords(records)
    coords["y"] = ("y", np.arange(roi[0], roi[1]), {"long_name": "frame row (pixel)"})
    coords["x"] = ("x", np.arange(roi[2], roi[3]), {"long_name": "frame column (pixel)"})
    ds = xr.Dataset(
        {
            "od": (("shot", "y", "x"), od, {"units": "1", "long_name": "optical density (NaN where masked)"}),
            "valid": (("shot", "y", "x"), valid, {"long_name": "pixel has probe light and no camera saturation"}),
            "variance_factor": (("shot", "y", "x"), factor,
                                {"units": "1", "long_name": "OD variance relative to a pixel without atoms"}),
            "reject_reason": ("shot", np.array(reasons, dtype=object), {"long_name": "why the shot is unusable"}),
            "bad_input": ("shot", np.array([bool(r) for r in reasons]),
                          {"long_name": "the shot's input is unreadable or unusable"}),
        },
        coords=coords,
        attrs={"pixel_size_um": float(imaging["pixel_size_um"]), "pump_axis": str(imaging["pump_axis"]),
               "batch": int(batch), "roi": list(roi),
               "frame_shape": list(read_variables(basis_path, [])[1]["frame_shape"]),
               "fringe_removal": int(basis is not None),
               "fringe_components": basis.n_components if basis is not None else 0},
    )
    # ODs are intermediate: stored uncompressed (noisy floats barely compress, and gzip would cost more than reading)
    write_dataset_uncompressed(ds, out_path)
    return ds


_TABLE_VARIABLES = ("shot", "cycle", "direction", "reference", "repeat", "order", "sequence_cycles", "problem",
                    "hdf5_group",
                    *(f"{n}_{part}" for n in FRAME_NAMES for part in ("file", "key")))


def _batch_records(shots_path: str | os.PathLike, batch: int) -> list[ShotRecord]:
    """The shots of one batch, reading only their rows of the run table (a long run's table is not loaded whole)."""
    batches = read_variables(shots_path, ["batch"])[0]["batch"]
    index = np.flatnonzero(batches == batch)
    if index.size == 0:
        raise InputDataError(f"batch {batch} is empty: {shots_path} has {batches.size} shots")
    return _table_rows(shots_path, slice(int(index[0]), int(index[-1]) + 1))


def _table_rows(shots_path: str | os.PathLike, rows: slice | np.ndarray) -> list[ShotRecord]:
    values, attrs = read_variables(shots_path, _TABLE_VARIABLES, rows=rows)
    shot = values.pop("shot")
    part = xr.Dataset({k: ("shot", v) for k, v in values.items()}, coords={"shot": ("shot", shot)}, attrs=attrs)
    return shots_from_table(part)


def _shot_coords(records: Sequence[ShotRecord]) -> dict:
    coords = {"shot": ("shot", np.array([r.shot for r in records], dtype=object), {"long_name": "shot id"}),
              **protocol_variables(records)}
    for name in FRAME_NAMES:
        sources = [str(r.frames[name]) + (f" [{r.key(name)}]" if r.key(name) is not None else "") for r in records]
        coords[f"{name}_file"] = ("shot", np.array(sources, dtype=object), {"long_name": f"{name} frame source"})
    return coords


def check_reduce_stage(batch_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike, *,
                       on_bad_shot: str = "error") -> dict:
    """Collect the bad shots of every batch; stop the run listing all of them, or record them (``reject``).

    Writes ``results/reduce/input_check.json``: ``n_shots``, ``n_bad`` and ``bad_shots`` (shot -> reason).

    Raises
    ------
    BadShotsError
        With ``on_bad_shot='error'`` and at least one bad shot anywhere in the run.
    """
    import h5netcdf

    problems: list[tuple[str, str]] = []
    n_shots = 0
    for path in batch_paths:
        with h5netcdf.File(path, "r", decode_vlen_strings=True) as f:  # only the per-shot strings, not the images
            shots = [str(s) for s in f.variables["shot"][...]]
            reasons = [str(r) for r in f.variables["reject_reason"][...]]
            bad = np.asarray(f.variables["bad_input"][...], dtype=bool)
        n_shots += len(shots)
        problems += [(s, r) for s, r, b in zip(shots, reasons, bad) if b]
    if problems and on_bad_shot != "reject":
        raise BadShotsError(problems, hint=_BAD_SHOT_HINT)
    for shot, reason in problems:
        log.warning("rejected shot %s: %s", shot, reason)
    summary = {"n_shots": n_shots, "n_bad": len(problems), "on_bad_shot": on_bad_shot,
               "bad_shots": dict(problems)}
    write_json(out_path, summary)
    return summary

