"""netCDF (HDF5) storage of the Datasets passed between stages.

Files are written with h5netcdf, atomically, and without creation times, so that identical Datasets give
identical bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr

from atompump.errors import InputDataError
from atompump.io.atomic import atomic_path

__all__ = ["write_dataset", "write_dataset_blocks", "write_dataset_uncompressed", "read_dataset", "read_variables"]


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


def write_dataset_uncompressed(ds: xr.Dataset, path: str | os.PathLike) -> None:
    """Write a Dataset of numeric, boolean and string variables to ``path`` (netCDF4/HDF5), atomically, without
    compression, straight through h5netcdf: about half the fixed cost of :func:`write_dataset` (which goes through
    xarray's encoders), for the per-batch intermediate files. Reads back with :func:`read_dataset` as ``ds`` (booleans
    stored as int8 marked ``dtype = bool``, non-dimension coordinates listed in ``coordinates``, as xarray does).
    """
    import h5netcdf
    import h5py

    extra_coords = [name for name in ds.coords if name not in ds.dims]
    with atomic_path(path, suffix=".nc") as tmp, h5netcdf.File(tmp, "w") as f:
        f.dimensions = dict(ds.sizes)
        for name in [*ds.dims, *extra_coords, *ds.data_vars]:
            if name not in ds.variables:
                continue
            var = ds[name].variable
            values = var.values
            attrs = dict(var.attrs)
            if values.dtype.kind in "UO":
                dtype, values = h5py.string_dtype(), values.astype(object)
            elif values.dtype == bool:
                dtype, values = np.int8, values.astype(np.int8)
                attrs["dtype"] = "bool"
            else:
                dtype = values.dtype
            out = f.create_variable(name, var.dims, dtype=dtype)
            out[...] = values
            if name in ds.data_vars and extra_coords:
                attrs["coordinates"] = " ".join(c for c in extra_coords if set(ds[c].dims) <= set(var.dims))
            out.attrs.update({k: v for k, v in attrs.items() if v != ""})
        f.attrs.update(ds.attrs)


def write_dataset_blocks(path: str | os.PathLike, template: xr.Dataset, blocks: Iterable[Mapping[str, np.ndarray]],
                         *, size: int, dim: str = "shot", compress: bool = True, chunk: int = 8192) -> None:
    """Write a Dataset of one dimension ``dim`` to ``path`` block by block, atomically: memory is one block.

    For per-shot tables of long runs (``results/com/com.nc`` of a run of any length). ``template`` gives the
    variables (all along ``dim``; its coordinates stay coordinates), their dtypes and attributes, and the global
    attributes; its values are not written. Each block maps every variable name to a 1D array; the blocks follow
    each other along ``dim`` and must add up to ``size`` rows. The file reads back with :func:`read_dataset` as the
    concatenation of the blocks would be written by :func:`write_dataset` (numeric variables gzip-compressed in
    chunks of ``chunk`` rows, booleans stored as int8 marked ``dtype = bool``, strings as variable-length UTF-8).

    Raises
    ------
    ValueError
        A variable not along ``dim`` alone, or blocks that do not add up to ``size`` rows.
    """
    import h5netcdf
    import h5py

    extra_coords = [name for name in template.coords if name != dim]
    names = [*([dim] if dim in template.variables else []), *extra_coords, *template.data_vars]
    with atomic_path(path, suffix=".nc") as tmp, h5netcdf.File(tmp, "w") as f:
        f.dimensions = {dim: size}
        out = {}
        for name in names:
            var = template[name].variable
            if var.dims != (dim,):
                raise ValueError(f"variable {name!r} has dimensions {var.dims}; only ({dim!r},) can be written in "
                                 "blocks")
            attrs = dict(var.attrs)
            kind = var.dtype.kind
            if kind in "UO":
                dtype = h5py.string_dtype()
            elif kind == "b":
                dtype = np.int8
                attrs["dtype"] = "bool"
            else:
                dtype = var.dtype
            options = {}
            if compress and kind in "fiub" and size > 0:
                options = {"compression": "gzip", "compression_opts": 4, "chunks": (min(size, chunk),)}
            out[name] = f.create_variable(name, (dim,), dtype=dtype, **options)
            if name in template.data_vars and extra_coords:
                attrs["coordinates"] = " ".join(extra_coords)
            out[name].attrs.update({k: v for k, v in attrs.items() if not (isinstance(v, str) and v == "")})
        start = 0
        for block in blocks:
            rows = {len(block[name]) for name in names}
            if len(rows) != 1:
                raise ValueError(f"a block's variables have different lengths {sorted(rows)}")
            stop = start + rows.pop()
            if stop > size:
                raise ValueError(f"the blocks hold more than size = {size} rows")
            for name, var in out.items():
                values = np.asarray(block[name])
                if values.dtype.kind == "b":
                    values = values.astype(np.int8)
                elif values.dtype.kind in "UO":
                    values = values.astype(object)
                var[start:stop] = values
            start = stop
        if start != size:
            raise ValueError(f"the blocks hold {start} rows, not size = {size}")
        f.attrs.update(template.attrs)


def read_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Read a Dataset written by :func:`write_dataset` fully into memory and close the file."""
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read as netCDF ({exc}); delete it and rerun the step that made it") from exc


def read_variables(path: str | os.PathLike, names: list[str] | tuple[str, ...], *,
                   rows: slice | np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Some variables (optionally some rows of each: a slice, or increasing indices) and the global attributes of a
    file written by
    :func:`write_dataset`, read with h5py alone: much faster than opening the whole Dataset when a job needs a few
    rows of a long per-shot table. Strings come back as ``str``, booleans as ``bool``.
    """
    import h5py

    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _plain(v) for k, v in f.attrs.items() if not k.startswith("_")}
            for name in names:
                ds = f[name]
                selection = () if rows is None or ds.ndim == 0 else rows
                if isinstance(selection, np.ndarray):
                    selection = selection.tolist()
                if h5py.check_string_dtype(ds.dtype) is not None:
                    data = np.array(ds.asstr()[selection], dtype=object)
                else:
                    data = ds[selection]
                if ds.attrs.get("dtype") in (b"bool", "bool"):
                    data = np.asarray(data).astype(bool)
                out[name] = np.asarray(data)
    except (OSError, KeyError) as exc:
        raise InputDataError(f"{path}: cannot read {list(names)} ({exc}); delete it and rerun the step that made "
                             "it") from exc
    return out, attrs


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):  # netCDF stores scalar attributes as arrays of one element
        return value.item() if value.size == 1 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
