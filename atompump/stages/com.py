"""Stage com: centres of mass of one batch, and the gathered per-shot Dataset."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from atompump.com import centre_of_mass
from atompump.config import cross_section_um2, species
from atompump.errors import InputDataError
from atompump.io.netcdf import read_dataset, write_dataset

__all__ = ['com_batch_stage', 'gather_com_stage']

Config = Mapping[str, Any]

def com_batch_stage(reduced: str | os.PathLike, out_path: str | os.PathLike, *, imaging: Config, com: Config,
                    atom: str) -> xr.Dataset:
    """Centre of mass of each shot of a reduced batch, written to ``out_path``."""
    ds = read_dataset(reduced)
    pixel = float(ds.attrs["pixel_size_um"])
    axis = str(ds.attrs["pump_axis"])
    sigma = cross_section_um2(imaging, species({"atom": atom}))
    n = ds.sizes["shot"]
    x = np.full(n, np.nan)
    err = np.full(n, np.nan)
    integrated = np.full(n, np.nan)
    masked = np.full(n, np.nan)
    reasons = [str(r) for r in ds.reject_reason.values]
    for i in range(n):
        if reasons[i]:
            continue
        result = centre_of_mass(ds.od.values[i], pixel_size_um=pixel, pump_axis=axis, valid=ds.valid.values[i],
                                window_widths=float(com["window_widths"]),
                                max_masked_fraction=float(com["max_masked_fraction"]))
        x[i], err[i], integrated[i], masked[i] = (result.x_um, result.x_err_um, result.integrated_od,
                                                  result.masked_fraction)
        reasons[i] = result.reject_reason
    atom_number = integrated * pixel**2 / sigma
    min_atoms = float(com["min_atom_number"])
    for i in range(n):
        if not reasons[i] and not atom_number[i] >= min_atoms:
            reasons[i] = f"atom number {atom_number[i]:.0f} below com.min_atom_number = {min_atoms:g}"
    out = xr.Dataset(
        {
            "x_com_um": ("shot", x, {"units": "um", "long_name": "centre of mass along the pump axis"}),
            "x_com_err_um": ("shot", err, {"units": "um", "long_name": "uncertainty of the centre of mass"}),
            "atom_number": ("shot", atom_number, {"units": "1",
                                                  "long_name": "atom number from OD and the cross-section"}),
            "masked_fraction": ("shot", masked, {"units": "1", "long_name": "masked fraction of the cloud window"}),
            "used": ("shot", np.array([not r for r in reasons]), {"long_name": "shot passed the quality cuts"}),
            "reject_reason": ("shot", np.array(reasons, dtype=object), {"long_name": "why the shot was rejected"}),
        },
        coords={name: ds.coords[name] for name in ds.coords if ds.coords[name].dims == ("shot",)},
        attrs={"pixel_size_um": pixel, "pump_axis": axis, "cross_section_um2": sigma,
               "estimator": "background-corrected first moment in an adaptive window"},
    )
    write_dataset(out, out_path)
    return out


def gather_com_stage(batch_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> xr.Dataset:
    """Concatenate per-batch centre-of-mass files into one per-shot Dataset (``results/com/com.nc``)."""
    parts = [read_dataset(p) for p in batch_paths]
    if not parts:
        raise InputDataError("no centre-of-mass batches to gather")
    ds = xr.concat(parts, dim="shot", combine_attrs="drop_conflicts")
    shots = ds.shot.values
    unique, counts = np.unique(shots, return_counts=True)
    if np.any(counts > 1):
        raise InputDataError(f"shot ids repeat across batches: {unique[counts > 1].tolist()}")
    write_dataset(ds, out_path)
    return ds
