"""netCDF (HDF5) storage of the Datasets passed between stages.

Files are written with h5netcdf, atomically, and without creation times, so that identical Datasets give
identical bytes.
"""

from __future__ import annotations

import os

import xarray as xr

from atompump.errors import InputDataError
from atompump.io.atomic import atomic_path

__all__ = ["write_dataset", "read_dataset"]


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, *, compress: bool = True) -> None:
    """Write ``ds`` to ``path`` (netCDF4/HDF5 via h5netcdf), atomically.

    Floating-point and integer variables are stored with gzip level 4 when ``compress``; strings are stored as
    variable-length UTF-8.
    """
    encoding = {}
    if compress:
        for name, var in ds.variables.items():
            if var.dtype.kind in "fiub" and var.ndim > 0:
                encoding[name] = {"compression": "gzip", "compression_opts": 4}
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)


def read_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Read a Dataset written by :func:`write_dataset` fully into memory and close the file."""
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read as netCDF ({exc}); delete it and rerun the step that made it") from exc
