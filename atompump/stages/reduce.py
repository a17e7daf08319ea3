"""Stage reduce: optical density of one batch of shots."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import logging

import numpy as np
import xarray as xr

from atompump.errors import BadShotsError, InputDataError
from atompump.io.frames import read_frame
from atompump.io.manifest import FRAME_NAMES, read_manifest
from atompump.io.netcdf import write_dataset
from atompump.reduce import optical_density

log = logging.getLogger(__name__)

__all__ = ['batch_records', 'reduce_batch_stage']

Config = Mapping[str, Any]

def batch_records(manifest: str | os.PathLike, *, batch: int, batch_size: int):
    """The manifest rows of batch number ``batch`` (0-based) of size ``batch_size``."""
    records = read_manifest(manifest)
    if batch < 0 or batch * batch_size >= len(records):
        raise InputDataError(f"batch {batch} is empty: {manifest} has {len(records)} shots "
                             f"({batch_size} per batch)")
    return records[batch * batch_size:(batch + 1) * batch_size]


def reduce_batch_stage(manifest: str | os.PathLike, out_path: str | os.PathLike, *, batch: int,
                       batch_size: int, imaging: Config, on_bad_shot: str = "error",
                       min_valid_fraction: float = 0.01) -> xr.Dataset:
    """Optical density of one batch of shots, written to ``out_path`` (netCDF).

    Bad shots (unreadable frame, shapes that differ, no probe light) stop the stage with a
    :class:`~atompump.errors.BadShotsError` listing all of them, or with ``on_bad_shot='reject'`` are kept
    with an all-NaN image and their ``reject_reason``.
    """
    records = batch_records(manifest, batch=batch, batch_size=batch_size)
    ods, reasons, shape = [], [], None
    problems: list[tuple[str, str]] = []
    for rec in records:
        reason = ""
        try:
            frames = {name: read_frame(rec.frames[name]) for name in FRAME_NAMES}
            shapes = {name: f.shape for name, f in frames.items()}
            if len(set(shapes.values())) > 1:
                raise InputDataError(f"frames have different shapes {shapes}")
            if shape is None:
                shape = frames["atoms"].shape
            elif frames["atoms"].shape != shape:
                raise InputDataError(f"frame shape {frames['atoms'].shape} differs from the run's {shape}")
            result = optical_density(frames["atoms"], frames["probe"], frames["dark"],
                                     alpha=float(imaging["alpha"]), isat_counts=imaging.get("isat_counts"),
                                     min_probe_counts=float(imaging["min_probe_counts"]),
                                     saturation_counts=imaging.get("saturation_counts"))
            fraction = float(result.valid.mean())
            if fraction < min_valid_fraction:
                raise InputDataError(
                    f"only {fraction:.1%} of pixels have probe light above {imaging['min_probe_counts']} counts "
                    f"(probe frame {rec.frames['probe']}); check the probe beam or imaging.min_probe_counts")
        except InputDataError as exc:
            reason = str(exc)
            problems.append((rec.shot, reason))
            result = None
        ods.append(result)
        reasons.append(reason)
    if problems and on_bad_shot != "reject":
        raise BadShotsError(problems, hint="Fix or remove these shots, or set data.on_bad_shot: reject to record "
                                           "them as rejected and go on.")
    if shape is None:
        raise BadShotsError(problems, hint="No shot of this batch could be read.")
    od = np.full((len(records),) + shape, np.nan, dtype=np.float32)
    valid = np.zeros((len(records),) + shape, dtype=bool)
    for i, result in enumerate(ods):
        if result is not None:
            od[i] = result.od
            valid[i] = result.valid
    for shot, reason in problems:
        log.warning("rejected shot %s: %s", shot, reason)
    ds = xr.Dataset(
        {
            "od": (("shot", "y", "x"), od, {"units": "1", "long_name": "optical density (NaN where masked)"}),
            "valid": (("shot", "y", "x"), valid, {"long_name": "pixel has probe light and no camera saturation"}),
            "reject_reason": ("shot", np.array(reasons, dtype=object), {"long_name": "why the shot is unusable"}),
        },
        coords=_shot_coords(records),
        attrs={"pixel_size_um": float(imaging["pixel_size_um"]), "pump_axis": str(imaging["pump_axis"]),
               "batch": int(batch)},
    )
    write_dataset(ds, out_path)
    return ds


def _shot_coords(records) -> dict:
    coords = {
        "shot": ("shot", np.array([r.shot for r in records], dtype=object), {"long_name": "shot id"}),
        "cycle": ("shot", np.array([r.cycle for r in records], dtype=float), {"units": "1",
                                                                              "long_name": "pump cycles"}),
        "direction": ("shot", np.array([r.direction for r in records], dtype=np.int8),
                      {"long_name": "pump direction (+1: phi increasing)"}),
        "reference": ("shot", np.array([r.reference for r in records], dtype=bool),
                      {"long_name": "constant-phi reference sequence"}),
    }
    for name in FRAME_NAMES:
        coords[f"{name}_file"] = ("shot", np.array([str(r.frames[name]) for r in records], dtype=object),
                                  {"long_name": f"{name} frame source"})
    return coords
