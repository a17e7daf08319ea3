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
from atompump.config import DATA_KEYS, config_keys, naming_config_keys
from atompump.diagnose import frames_problem, od_sign_problem, own_probe_block_od
from atompump.errors import BadShotsError, ConfigError, InputDataError
from atompump.io.atomic import write_json
from atompump.io.manifest import FRAME_NAMES, OD_NAME, ShotRecord
from atompump.io.netcdf import image_coordinates, read_variables, write_dataset, write_dataset_uncompressed
from atompump.io.protocol import protocol_variables
from atompump.io.runtable import (
    TABLE_VARIABLES,
    carried_coordinates,
    lever_arm_check,
    shots_from_table,
    write_shots_table,
)
from atompump.io.shots import count_run_shots, iter_run_shots, read_od, read_shot
from atompump.reasons import Reason, RejectCause, cause_code, reason_of
from atompump.reduce import (
    Box,
    FringeBasis,
    ODSettings,
    build_fringe_basis,
    grow_box,
    locate_run_cloud,
    optical_density,
    reduce_shot,
)

log = logging.getLogger(__name__)

__all__ = ["check_reduce_stage", "example_shot_stage", "fringe_basis_stage", "read_fringe_basis", "read_run_cloud", "reduce_batch_stage",
           "sample_indices", "shots_stage"]

Config = Mapping[str, Any]

_ROI_HINT = "config key imaging.roi: the region of interest, [row_start, row_stop, col_start, col_stop]"
_BAD_SHOT_HINT = ("Fix or remove these shots, or set data.on_bad_shot: reject to record them as rejected and go on.")


def shots_stage(out_path: str | os.PathLike, *, data: Config, batch_size: int,
                manifest: str | os.PathLike | None = None) -> dict:
    """The run table (``results/reduce/shots.nc``): every shot with its frames and header-level problems.

    Streams: shots are checked and written in chunks (:func:`atompump.io.runtable.write_shots_table`). Returns the
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
    except (InputDataError, ConfigError):  # count_run_shots names the config keys (ParameterError -> ConfigError)
        total = None  # reported by iter_run_shots below
    with config_keys(DATA_KEYS):
        n, bad, shape = write_shots_table(iter_run_shots(data), out_path, batch_size=batch_size, total=total)
    log.info("%d shots, %d with problems found in the headers; frame shape %s", n, bad, shape)
    lever_arm_check(out_path, source=data.get("manifest") or data.get("shots"))  # before any batch is reduced
    return {**read_variables(out_path, [])[1], "n_shots": int(n), "n_bad": int(bad)}


def sample_indices(n: int, k: int) -> np.ndarray:
    """``min(n, k)`` indices spread evenly over ``range(n)`` (deterministic: the first and the last included)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


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


def _mean_od(shots_path: str | os.PathLike, shape: tuple[int, int], imaging: Config, *,
             od_input: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean OD of up to ``imaging.roi_sample_shots`` shots spread over the run (from their frames with their own
    probe frames, or read: ``od_input``), the pixels measured in at least half of them, and the number of shots."""
    kwargs = ODSettings.from_config(imaging).kwargs()
    total = np.zeros(shape)
    count = np.zeros(shape)
    used = 0
    for record in _sampled_shots(shots_path, int(imaging["roi_sample_shots"])):
        try:
            if od_input:
                od = read_od(record).od
                valid = np.isfinite(od)
            else:
                frames = read_shot(record)
                result = optical_density(frames.atoms, frames.probe, frames.dark, **kwargs)
                od, valid = result.od, result.valid
        except InputDataError as exc:  # reported by the batch that holds the shot
            log.warning("ROI sample: skipped shot %s: %s", record.shot, exc)
            continue
        total += np.where(valid, od, 0.0)
        count += valid
        used += 1
    if used == 0:
        raise InputDataError("cannot find the region of interest: no sampled shot could be read; see the "
                             "problems listed by the reduce step, or set imaging.roi")
    return np.where(count > 0, total / np.maximum(count, 1), np.nan), count >= max(1, used // 2), used


def _run_cloud(shots_path: str | os.PathLike, imaging: Config, shape: tuple[int, int], *,
               od_input: bool = False) -> tuple[Box, np.ndarray | None, np.ndarray]:
    """The ROI (``imaging.roi``, checked, or found), the run's cloud extent over the frame (None when no cloud stands
    out inside a hand-set ROI) and the mean OD, from the sampled shots (:func:`_mean_od`). When no cloud stands out
    and the mean OD is negative, the error says so (:func:`atompump.diagnose.od_sign_problem`)."""
    mean, lit, used = _mean_od(shots_path, shape, imaging, od_input=od_input)
    if imaging["roi"] is not None:
        roi = _check_roi(imaging["roi"], shape)
        log.info("region of interest from imaging.roi: %s", roi)
        inside = (slice(roi[0], roi[1]), slice(roi[2], roi[3]))
        try:
            atoms = np.zeros(shape, bool)
            atoms[inside] = locate_run_cloud(mean[inside], valid=lit[inside], n_shots=used)[1]
        except InputDataError as exc:
            log.warning("no cloud found in the run's mean OD inside imaging.roi (%s); the fringe removal leaves the "
                        "whole ROI out of its fit", exc)
            atoms = None
        return roi, atoms, mean
    try:
        roi, atoms = locate_run_cloud(mean, valid=lit, n_shots=used)
    except InputDataError as exc:
        sources = {OD_NAME: f"mean of the OD images of {used} sampled shots",
                   "atoms": f"atoms frames of {used} sampled shots", "probe": "their probe frames"}
        sign = od_sign_problem(mean, lit, sources=sources, od_input=od_input)
        sign = f". The mean OD of the sampled shots is not an absorption image: {sign}" if sign else ""
        raise InputDataError(f"{exc}{sign} ({_ROI_HINT}; imaging.min_probe_counts is the probe "
                             "threshold)") from exc
    return roi, atoms, mean


def _cloud_variables(roi: Box, atoms: np.ndarray | None, mean: np.ndarray,
                     shape: tuple[int, int], *, pixel_size_um: float) -> tuple[dict, dict]:
    """The run's cloud (extent and mean OD) over the ROI as Dataset variables, and the ROI's frame coordinates."""
    rows, cols = slice(roi[0], roi[1]), slice(roi[2], roi[3])
    cloud = {
        "cloud": (("y", "x"), (np.zeros(shape, bool) if atoms is None else atoms)[rows, cols],
                  {"long_name": "where the run's atoms may be: the mean cloud with its wings and a margin"}),
        "mean_od": (("y", "x"), mean[rows, cols].astype(np.float32),
                    {"units": "1", "long_name": "mean optical density of the sampled shots"}),
    }
    return cloud, image_coordinates(range(roi[0], roi[1]), range(roi[2], roi[3]), pixel_size_um=pixel_size_um)


@naming_config_keys(DATA_KEYS)
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
    if _run_input_kind(shots_path) == OD_NAME:
        return _od_roi_stage(shots_path, out_path, imaging=imaging, shape=shape)
    kwargs = ODSettings.from_config(imaging).kwargs()
    roi, atoms, mean = _run_cloud(shots_path, imaging, shape)
    attrs = {"roi": list(roi), "frame_shape": list(shape), "fringe_removal": int(bool(imaging["fringe_removal"]))}
    cloud, coords = _cloud_variables(roi, atoms, mean, shape, pixel_size_um=float(imaging["pixel_size_um"]))
    if not imaging["fringe_removal"]:
        ds = xr.Dataset(cloud, coords=coords, attrs={**attrs, "n_components": 0})
        write_dataset(ds, out_path, title="atompump region of interest, the run's cloud and fringe basis")
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
        if lit_box.mean() < 0.5:  # no probe light or a saturated camera: a bad shot (reported by its batch)
            cause = frames_problem(frames.atoms, frames.probe, frames.dark, min_probe_counts=kwargs["min_probe_counts"],
                                   saturation_counts=kwargs["saturation_counts"], sources=frames.sources)
            log.warning("fringe basis: skipped shot %s: %s", record.shot,
                        cause or f"only {lit_box.mean():.0%} of the basis region has probe light and no saturation")
            continue
        probes[n] = probe
        valid &= lit_box
        n += 1
    log.info("fringe basis: decomposing %d probe frames of %d x %d pixels (imaging.fringe_max_frames = %d)", n,
             probes.shape[1], probes.shape[2], int(imaging["fringe_max_frames"]))
    try:
        with config_keys({"n_components": "imaging.fringe_basis_size"}):
            basis = build_fringe_basis(probes[:n], roi=roi, box=box, valid=valid,
                                       n_components=imaging["fringe_basis_size"],
                                       atoms=None if atoms is None else atoms[box[0]:box[1], box[2]:box[3]])
    except InputDataError as exc:
        raise InputDataError(f"{exc} ({_ROI_HINT}; set imaging.fringe_removal: false to do without)") from exc
    log.info("fringe basis: %d components kept (%s)", basis.n_components,
             "imaging.fringe_basis_size" if imaging["fringe_basis_size"] else "automatic")
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
        coords={**coords, **image_coordinates(range(box[0], box[1]), range(box[2], box[3]),
                                              pixel_size_um=float(imaging["pixel_size_um"]), dims=("by", "bx"))},
        attrs={**attrs, "box": list(box), "n_components": basis.n_components, "n_frames": basis.n_frames,
               "threshold": basis.threshold, "reference_noise_ratio": basis.reference_noise_ratio,
               "criterion": "Gavish-Donoho optimal hard threshold, unknown noise"},
    )
    write_dataset(ds, out_path, title="atompump region of interest, the run's cloud and fringe basis")
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


@naming_config_keys(DATA_KEYS)
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
    kwargs = ODSettings.from_config(imaging).kwargs()
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
                if rec.is_od:  # an OD image: no reduction (see _reduce_od_shot)
                    od[i], valid[i], factor[i] = _reduce_od_shot(rec, roi, min_valid_fraction=min_valid_fraction)
                    reasons.append(Reason())
                    continue
                frames = read_shot(rec, region=region)
                result = reduce_shot(frames.atoms, frames.probe, frames.dark, roi=roi, origin=(region[0], region[2]),
                                     basis=basis, plan=plan, **kwargs)
                fraction = float(result.valid.mean())
                if fraction < min_valid_fraction or _atoms_frame_dark(frames, roi, (region[0], region[2]), kwargs):
                    # the true cause first (saturated camera, swapped or unlit frames), then the plain fact
                    _raise_frames_problem(frames, roi, (region[0], region[2]), kwargs)
                if fraction < min_valid_fraction:
                    raise InputDataError(
                        f"only {fraction:.1%} of the region of interest has probe light above "
                        f"{kwargs['min_probe_counts']:g} counts ({frames.sources['probe']}); check the probe beam "
                        "or imaging.min_probe_counts", cause=RejectCause.NO_PROBE_LIGHT)
                _raise_frames_sign_problem(frames, roi, (region[0], region[2]), result,
                                           fringe_removed=basis is not None)
                od[i], valid[i], factor[i] = result.od, result.valid, result.variance_factor
            except InputDataError as exc:
                reason = reason_of(exc)
        if reason:
            log.warning("bad shot %s: %s", rec.shot, reason)
        reasons.append(reason)
    kind = _run_input_kind(shots_path)
    coords = _shot_coords(records, kind)
    coords.update(carried_coordinates(shots_path, _batch_rows(shots_path, batch)))  # globals, run time: to com.nc
    coords.update(image_coordinates(range(roi[0], roi[1]), range(roi[2], roi[3]),
                                    pixel_size_um=float(imaging["pixel_size_um"])))
    ds = xr.Dataset(
        {
            "od": (("shot", "y", "x"), od, {"units": "1", "long_name": "optical density (NaN where masked)"}),
            "valid": (("shot", "y", "x"), valid, {"long_name": "pixel has probe light and no camera saturation"}),
            "variance_factor": (("shot", "y", "x"), factor,
                                {"units": "1", "long_name": "OD variance relative to a pixel without atoms"}),
            "reject_reason": ("shot", np.array([str(r) for r in reasons], dtype=object),
                              {"long_name": "why the shot is unusable"}),
            "reject_cause": ("shot", np.array([cause_code(r) for r in reasons], dtype=object),
                             {"long_name": "code of the reason's cause (atompump.reasons.RejectCause; empty: usable)"}),
            "bad_input": ("shot", np.array([bool(r) for r in reasons]),
                          {"long_name": "the shot's input is unreadable or unusable"}),
        },
        coords=coords,
        attrs={"pixel_size_um": float(imaging["pixel_size_um"]), "pump_axis": str(imaging["pump_axis"]),
               "batch": int(batch), "roi": list(roi),
               "frame_shape": list(read_variables(basis_path, [])[1]["frame_shape"]),
               "fringe_removal": int(basis is not None),
               "fringe_components": basis.n_components if basis is not None else 0, "input": kind},
    )
    # ODs are intermediate: stored uncompressed (noisy floats barely compress, and gzip would cost more than reading)
    write_dataset_uncompressed(ds, out_path, title="atompump reduced batch: optical density of each shot")
    return ds


def _batch_rows(shots_path: str | os.PathLike, batch: int) -> slice:
    """The rows of one batch in the run table."""
    batches = read_variables(shots_path, ["batch"])[0]["batch"]
    index = np.flatnonzero(batches == batch)
    if index.size == 0:
        raise InputDataError(f"batch {batch} is empty: {shots_path} has {batches.size} shots")
    return slice(int(index[0]), int(index[-1]) + 1)


def _batch_records(shots_path: str | os.PathLike, batch: int) -> list[ShotRecord]:
    """The shots of one batch, reading only their rows of the run table (a long run's table is not loaded whole)."""
    return _table_rows(shots_path, _batch_rows(shots_path, batch))


def _table_rows(shots_path: str | os.PathLike, rows: slice | np.ndarray) -> list[ShotRecord]:
    values, attrs = read_variables(shots_path, TABLE_VARIABLES, rows=rows)
    shot = values.pop("shot")
    part = xr.Dataset({k: ("shot", v) for k, v in values.items()}, coords={"shot": ("shot", shot)}, attrs=attrs)
    return shots_from_table(part)


def _shot_coords(records: Sequence[ShotRecord], kind: str = "frames") -> dict:
    """Per-shot coordinates of a batch: id, pump protocol, and the source of each input of the run's kind
    (``atoms_file``, ``probe_file``, ``dark_file``, or ``od_file`` for a run of OD images; empty for a shot of the
    other kind, which is a bad shot)."""
    coords = {"shot": ("shot", np.array([r.shot for r in records], dtype=object), {"long_name": "shot id"}),
              **protocol_variables(records)}
    for name in (OD_NAME,) if kind == OD_NAME else FRAME_NAMES:
        sources = [str(r.frames[name]) + (f" [{r.key(name)}]" if r.key(name) is not None else "")
                   if name in r.frames else "" for r in records]
        what = "optical-density image" if name == OD_NAME else f"{name} frame"
        coords[f"{name}_file"] = ("shot", np.array(sources, dtype=object), {"long_name": f"{what} source"})
    return coords


@naming_config_keys(DATA_KEYS)
def check_reduce_stage(batch_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike, *,
                       on_bad_shot: str = "error", example_path: str | os.PathLike | None = None,
                       shots_path: str | os.PathLike | None = None, basis_path: str | os.PathLike | None = None,
                       imaging: Config | None = None) -> dict:
    """Collect the bad shots of every batch; stop the run listing all of them, or record them (``reject``).

    Writes ``results/reduce/input_check.json``: ``n_shots``, ``n_bad`` and ``bad_shots`` (shot -> reason); with
    ``example_path`` also the example shot's panels (:func:`example_shot_stage`, from ``shots_path``,
    ``basis_path`` and ``imaging``).

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
    if example_path is not None:
        example_shot_stage(batch_paths, shots_path, basis_path, example_path, imaging=imaging)
    write_json(out_path, summary)
    return summary



# --- OD input and the true cause of a bad shot (issue 11, items 5 and 7) ---------------------------------------------

def _run_input_kind(shots_path: str | os.PathLike) -> str:
    """``od`` for a run of optical-density images, ``frames`` for camera frames (the run table's ``input``)."""
    return str(read_variables(shots_path, [])[1].get("input", "frames"))


_CHECK_PIXELS = 64 * 64  # above this many ROI pixels, the checks of a bad shot's cause use every other row/column


def _roi_views(frames, roi: Box, origin: tuple[int, int]) -> tuple[tuple[slice, slice], dict[str, np.ndarray]]:
    """The ROI's index in the shot's frames (every other row and column of a large ROI: the causes' checks are
    fractions and block averages, which a quarter of the pixels gives as well at a quarter of the cost), and the
    three frames there."""
    step = 2 if (roi[1] - roi[0]) * (roi[3] - roi[2]) > _CHECK_PIXELS else 1
    rows = slice(roi[0] - origin[0], roi[1] - origin[0], step)
    cols = slice(roi[2] - origin[1], roi[3] - origin[1], step)
    return (slice(None, None, step), slice(None, None, step)), {name: getattr(frames, name)[rows, cols]
                                                                  for name in FRAME_NAMES}


def _atoms_frame_dark(frames, roi: Box, origin: tuple[int, int], kwargs: Mapping[str, Any]) -> bool:
    """Whether the atoms frame has, over most of the ROI (every fourth row and column), less light above the dark
    frame than ``imaging.min_probe_counts``: the one cause of :func:`_raise_frames_problem` that leaves the probe
    light, and with it the valid fraction, intact (the others are looked for only when few pixels are valid)."""
    rows = slice(roi[0] - origin[0], roi[1] - origin[0], 4)
    cols = slice(roi[2] - origin[1], roi[3] - origin[1], 4)
    return bool(np.median(frames.atoms[rows, cols] - frames.dark[rows, cols]) < kwargs["min_probe_counts"])


def _raise_frames_problem(frames, roi: Box, origin: tuple[int, int], kwargs: Mapping[str, Any]) -> None:
    """Raise InputDataError naming the true cause when the frames over the ROI cannot give an OD
    (:func:`atompump.diagnose.frames_problem`: saturated camera, swapped or unlit frames)."""
    _, cut = _roi_views(frames, roi, origin)
    problem = frames_problem(cut["atoms"], cut["probe"], cut["dark"], min_probe_counts=kwargs["min_probe_counts"],
                             saturation_counts=kwargs["saturation_counts"], sources=frames.sources)
    if problem:
        raise InputDataError(problem)


def _raise_od_sign_problem(od: np.ndarray, valid: np.ndarray, sources: Mapping[str, str], *,
                           od_input: bool = False) -> None:
    """Raise InputDataError when the OD over the ROI is not an absorption image
    (:func:`atompump.diagnose.od_sign_problem`: atoms brighter than the probe, a dip instead of a cloud)."""
    problem = od_sign_problem(od, valid, sources=sources, od_input=od_input)
    if problem:
        raise InputDataError(problem)


def _raise_frames_sign_problem(frames, roi: Box, origin: tuple[int, int], result, *, fringe_removed: bool) -> None:
    """:func:`atompump.diagnose.od_sign_problem` for a shot of camera frames, on its OD against its own probe frame
    (averaged over blocks of 4 x 4 pixels, or of 4 x 4 of every other pixel for a large ROI): the reduction's OD
    without fringe removal; with it, the own probe frame's OD (:func:`atompump.diagnose.own_probe_block_od`), and
    only for a dip (swapped frames), since the fringe-free reference does not use the probe frame's level."""
    every, cut = _roi_views(frames, roi, origin)
    if fringe_removed:
        od = own_probe_block_od(cut["atoms"], cut["probe"], cut["dark"], result.valid[every])
        problem = od_sign_problem(od, sources=frames.sources, check_median=False, block=1)
    else:
        problem = od_sign_problem(result.od[every], result.valid[every], sources=frames.sources)
    if problem:
        raise InputDataError(problem)


def _reduce_od_shot(record: ShotRecord, roi: Box, *,
                    min_valid_fraction: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A shot given as an optical-density image: the OD over the ROI as read, no reduction.

    ``valid`` is the finite pixels (NaN marks a masked pixel), the variance factor is 1 everywhere (there is no
    photon-noise model without camera frames: the centre-of-mass stage measures the noise in the shot's own
    atom-free pixels). Saturation, ``imaging.min_probe_counts`` and fringe removal do not apply.

    Raises
    ------
    InputDataError
        The image cannot be read or is not an OD (:func:`atompump.io.shots.read_od`), fewer than
        ``min_valid_fraction`` of the ROI's pixels are finite, or the OD is negative
        (:func:`atompump.diagnose.od_sign_problem`).
    """
    image = read_od(record, region=roi)
    valid = np.isfinite(image.od)
    fraction = float(valid.mean())
    if fraction < min_valid_fraction:
        raise InputDataError(f"only {fraction:.1%} of the region of interest has a finite OD in the {image.source} "
                             "(NaN pixels are masked); check the file, or set imaging.roi to the part of the image "
                             "that holds the cloud", cause=RejectCause.FEW_FINITE_OD)
    _raise_od_sign_problem(image.od, valid, {OD_NAME: image.source}, od_input=True)
    return image.od, valid, 1.0


def _od_roi_stage(shots_path: str | os.PathLike, out_path: str | os.PathLike, *, imaging: Config,
                  shape: tuple[int, int]) -> xr.Dataset:
    """:func:`fringe_basis_stage` for a run of optical-density images: the ROI and the run's cloud (``imaging.roi``,
    or found in the mean OD of up to ``imaging.roi_sample_shots`` shots as for frames); no fringe basis, as there are
    no probe frames (``imaging.fringe_removal`` is ignored, with a note in the log)."""
    if imaging["fringe_removal"]:
        log.info("imaging.fringe_removal is ignored: the run's shots are optical-density images (manifest column od), "
                 "so there are no probe frames to build a fringe basis from; the OD is analysed as read")
    roi, atoms, mean = _run_cloud(shots_path, imaging, shape, od_input=True)
    cloud, coords = _cloud_variables(roi, atoms, mean, shape, pixel_size_um=float(imaging["pixel_size_um"]))
    ds = xr.Dataset(cloud, coords=coords, attrs={"roi": list(roi), "frame_shape": list(shape), "fringe_removal": 0,
                                                 "n_components": 0, "input": OD_NAME})
    write_dataset(ds, out_path, title="atompump region of interest, the run's cloud and fringe basis")
    return ds


# --- the example shot the report shows (issue 15, item 2: the report only reads) --------------------------------------

@naming_config_keys(DATA_KEYS)
def example_shot_stage(batch_paths: Sequence[str | os.PathLike], shots_path: str | os.PathLike,
                       basis_path: str | os.PathLike, out_path: str | os.PathLike, *,
                       imaging: Config) -> xr.Dataset:
    """The panels of the run's example shot (``results/reduce/example.nc``), so that the report draws them without
    reading or reducing anything.

    The example is the first shot of the run (in run-table order) that could be reduced, else the first shot of the
    first batch. Written: its OD over the ROI as the batch holds it (``od``, frame-pixel coordinates ``y``/``x``),
    and

    * a run of camera frames: the raw ``atoms``, ``probe`` and ``dark`` frames (counts, whole frame, dimensions
      ``frame_y``/``frame_x``), the OD with the shot's own probe frame as reference (``od_own``), the fringe-free
      OD (``od_clean``, the batch's OD; absent without fringe removal) and ``background``, the ROI pixels without
      atoms (own-probe OD, smoothed over 5 x 5 pixels, below 5 % of its peak, and valid in both ODs);
    * a run of OD images: the whole image as read (``od_input``, NaN: masked).

    Attributes: ``shot``, ``input`` (``frames`` or ``od``), ``reject_reason`` (the batch's), ``problem`` (why the
    frames or the OD image cannot be shown, empty otherwise), ``pixel_size_um``, ``pump_axis``, ``roi``.

    Parameters
    ----------
    batch_paths : sequence of path
        The reduced batches, in run order (:func:`reduce_batch_stage`).
    shots_path, basis_path : path
        The run table (:func:`shots_stage`) and the ROI and basis (:func:`fringe_basis_stage`).
    imaging : mapping
        The reduction's imaging keys (``alpha``, ``isat_counts``, ``min_probe_counts``, ``saturation_counts``).
    """
    from atompump.io.netcdf import read_dataset

    path, index = _example_position(batch_paths)
    batch = read_dataset(path)
    shot = str(batch.shot.values[index])
    od = batch.od.isel(shot=index)
    kind = str(batch.attrs.get("input", "frames"))
    attrs = {"shot": shot, "input": kind, "reject_reason": str(batch.reject_reason.values[index]), "problem": "",
             "pixel_size_um": float(batch.attrs["pixel_size_um"]), "pump_axis": str(batch.attrs["pump_axis"]),
             "roi": [int(v) for v in batch.attrs["roi"]]}
    variables: dict[str, Any] = {"od": (("y", "x"), od.values, {"units": "1", "long_name": "optical density "
                                                                 "(NaN where masked)"})}
    frame = ("frame_y", "frame_x")
    try:
        (record,) = _table_rows(shots_path, _shot_row(shots_path, shot))
        if kind == OD_NAME:
            variables["od_input"] = (frame, read_od(record).od.astype(np.float32),
                                     {"units": "1", "long_name": "the OD image as read (NaN: masked)"})
        else:
            frames = read_shot(record)
            for name in FRAME_NAMES:
                variables[name] = (frame, getattr(frames, name).astype(np.float32),
                                   {"units": "counts", "long_name": f"{name} frame as recorded"})
            variables.update(_fringe_panels(frames, batch.valid.isel(shot=index).values, od.values, basis_path,
                                            imaging))
    except InputDataError as exc:
        attrs["problem"] = str(exc)
    coords = {"y": od.y, "x": od.x}
    whole = [value[1].shape for value in variables.values() if value[0] == frame]
    if whole:  # the frames as recorded: every pixel of the camera, with its position
        coords.update(image_coordinates(range(whole[0][0]), range(whole[0][1]), pixel_size_um=attrs["pixel_size_um"],
                                        dims=frame))
    ds = xr.Dataset(variables, coords=coords, attrs=attrs)
    write_dataset(ds, out_path)
    return ds


def _example_position(batch_paths: Sequence[str | os.PathLike]) -> tuple[str | os.PathLike, int]:
    """(batch file, index in it) of the first shot of the run without a reject reason, else the first shot."""
    for path in batch_paths:
        reasons = read_variables(path, ["reject_reason"])[0]["reject_reason"]
        good = np.flatnonzero(reasons == "")
        if good.size:
            return path, int(good[0])
    return batch_paths[0], 0


def _shot_row(shots_path: str | os.PathLike, shot: str) -> slice:
    """The run-table row of one shot."""
    ids = read_variables(shots_path, ["shot"])[0]["shot"].astype(str)
    (row,) = np.flatnonzero(ids == shot)
    return slice(int(row), int(row) + 1)


def _fringe_panels(frames, valid_clean: np.ndarray, od_clean: np.ndarray, basis_path: str | os.PathLike,
                   imaging: Config) -> dict:
    """``od_own`` (the shot's own probe frame as reference), ``od_clean`` (with fringe removal only) and
    ``background`` of :func:`example_shot_stage`."""
    from scipy.ndimage import uniform_filter

    roi, basis = read_fringe_basis(basis_path)
    own = reduce_shot(frames.atoms, frames.probe, frames.dark, roi=roi, basis=None,
                      **ODSettings.from_config(imaging).kwargs())
    smooth = uniform_filter(np.nan_to_num(own.od), size=5)
    background = own.valid & (smooth < 0.05 * float(np.max(smooth)))
    ods = ("y", "x")
    out = {"od_own": (ods, own.od, {"units": "1", "long_name": "OD with the shot's own probe frame as reference"})}
    if basis is not None:
        background &= valid_clean
        out["od_clean"] = (ods, od_clean, {"units": "1", "long_name": "OD with the fringe-free reference"})
    out["background"] = (ods, background, {"long_name": "ROI pixels without atoms (the RMS of the panels)"})
    return out
