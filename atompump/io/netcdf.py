"""netCDF (HDF5) storage of the Datasets passed between stages, and its conventions, defined once.

Files are written with h5netcdf, atomically, and without creation times, so that identical Datasets give
identical bytes. Three writers share one encoding (:func:`storage`, :func:`encode`, :func:`create_variable`):
:func:`write_dataset` (through xarray, gzip-compressed), :func:`write_dataset_uncompressed` (straight through
h5netcdf, for the per-batch intermediates) and :func:`write_dataset_blocks` (a per-shot table written block by
block); the run table's streaming writer (:func:`atompump.io.runtable.write_shots_table`) uses the same.

Encoding: booleans are stored as int8 marked ``dtype = bool`` and strings as variable-length UTF-8 (as xarray
does, so every file reads back with :func:`read_dataset` as the Dataset written); non-dimension coordinates are
listed in each data variable's ``coordinates`` attribute; empty-string attributes are left out.

CF conventions (https://cfconventions.org, version :data:`CONVENTIONS`), applied by every writer:

* global attributes ``Conventions`` and ``title`` (the writer's ``title``, else the Dataset's, else ``atompump
  <file stem>``);
* ``ancillary_variables`` naming the uncertainties of a variable: ``<name>_err``, or for ``<stem>_<unit>`` the
  variables ``<stem>_err_<unit>`` and ``<stem>_white_err_<unit>`` (:func:`ancillary_variables`);
* units UDUNITS can parse: the units of this package that it cannot (recoil energies ``Er,s``, ``Er,l``, the
  long-lattice period ``dl``, ``hbar/Er,s``, ``pixel``, fractional powers) are written as ``"1"`` with the unit
  named in ``long_name`` (:func:`cf_attributes`);
* images get physical coordinates ``x_um``, ``y_um`` beside the pixel indices ``x``, ``y``
  (:func:`image_coordinates`, used by the stages that write images).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from atompump.errors import InputDataError
from atompump.io.atomic import atomic_path

__all__ = ["CONVENTIONS", "ancillary_variables", "cf_attributes", "create_variable", "encode", "global_attributes",
           "image_coordinates", "lag_coordinates", "read_dataset", "read_variables", "storage", "write_dataset",
           "write_dataset_blocks", "write_dataset_uncompressed"]

CONVENTIONS = "CF-1.10"
"""The CF version the files follow."""

_RECOIL = "h^2 / (2 m lambda^2) of the {} lattice"
_NOT_UDUNITS = {
    "Er,s": "in units of Er,s, the recoil energy " + _RECOIL.format("short"),
    "Er,l": "in units of Er,l, the recoil energy " + _RECOIL.format("long"),
    "hbar/Er,s": "in units of hbar / Er,s (Er,s: the recoil energy " + _RECOIL.format("short") + ")",
    "dl": "in units of dl, the long-lattice period lambda_l / 2",
    "pixel": "in pixels",
    "counts-1/2": "in counts^-1/2",
    "um-1/2": "in um^-1/2",
}
"""Units of this package that UDUNITS cannot parse (or would misread: ``dl`` is a decilitre, ``um-1/2`` is um^-1
/ 2), and how ``long_name`` names them when they are written as ``"1"``."""


def cf_attributes(attrs: Mapping[str, object]) -> dict[str, object]:
    """A variable's attributes as written: units UDUNITS cannot parse (:data:`_NOT_UDUNITS`) become ``"1"`` with
    the unit named in ``long_name``; empty-string attributes are left out."""
    out = {k: v for k, v in attrs.items() if not (isinstance(v, str) and v == "")}
    explained = _NOT_UDUNITS.get(str(out.get("units", "")))
    if explained is not None:
        out["units"] = "1"
        out["long_name"] = f"{out['long_name']} ({explained})" if out.get("long_name") else explained
    return out


def ancillary_variables(names: Iterable[str]) -> dict[str, str]:
    """Variable -> its ``ancillary_variables`` attribute: the uncertainty variables among ``names`` that belong to
    it (``<name>_err``; for ``<stem>_<unit>``: ``<stem>_err_<unit>``, ``<stem>_white_err_<unit>``)."""
    names = list(names)
    present = set(names)
    out = {}
    for name in names:
        stem, _, unit = name.rpartition("_")
        candidates = [f"{name}_err"] + ([f"{stem}_err_{unit}", f"{stem}_white_err_{unit}"] if stem else [])
        found = [c for c in candidates if c in present and c != name]
        if found:
            out[name] = " ".join(dict.fromkeys(found))
    return out


def global_attributes(attrs: Mapping[str, object], *, title: str) -> dict[str, object]:
    """A file's global attributes: ``Conventions``, ``title``, then the others of ``attrs`` (whose own
    ``Conventions`` and ``title``, e.g. those of a file read back, are replaced)."""
    return {"Conventions": CONVENTIONS, "title": title,
            **{k: v for k, v in attrs.items() if k not in ("Conventions", "title")}}


def _title(ds: xr.Dataset, path: str | os.PathLike, title: str | None) -> str:
    return title or str(ds.attrs.get("title") or f"atompump {Path(path).stem}")


def image_coordinates(rows: Iterable[int], cols: Iterable[int], *, pixel_size_um: float,
                      dims: tuple[str, str] = ("y", "x")) -> dict[str, tuple]:
    """Coordinates of an image cut from a camera frame: the pixel indices ``y`` (rows) and ``x`` (columns) of the
    full frame, and the physical positions ``y_um = y * pixel_size_um`` and ``x_um = x * pixel_size_um`` (um from the
    centre of pixel 0, in the object plane). ``dims`` names the two dimensions (e.g. ``("frame_y", "frame_x")``
    for whole frames beside an ROI); the positions are ``<dim>_um``."""
    y, x = np.asarray(list(rows), dtype=np.int64), np.asarray(list(cols), dtype=np.int64)
    dy, dx = dims
    return {dy: (dy, y, {"long_name": "frame row (pixel)"}),
            dx: (dx, x, {"long_name": "frame column (pixel)"}),
            f"{dy}_um": (dy, y * float(pixel_size_um), {"units": "um", "long_name": "position of the frame row"}),
            f"{dx}_um": (dx, x * float(pixel_size_um), {"units": "um", "long_name": "position of the frame column"})}


def lag_coordinates(shape: tuple[int, int], *, pixel_size_um: float, dims: tuple[str, str] = ("lag_y", "lag_x"),
                    ) -> dict[str, tuple]:
    """Coordinates of a map of pixel lags with zero lag at its centre (a covariance ``C(d)`` of odd ``shape``): the
    lag in pixels (``lag_y``, ``lag_x``) and in um (``lag_y_um``, ``lag_x_um``)."""
    out: dict[str, tuple] = {}
    for dim, n in zip(dims, shape):
        lag = np.arange(int(n), dtype=np.int64) - int(n) // 2
        out[dim] = (dim, lag, {"units": "pixel", "long_name": "pixel lag"})
        out[f"{dim}_um"] = (dim, lag * float(pixel_size_um), {"units": "um", "long_name": "lag in the object plane"})
    return out


def storage(dtype: np.dtype, attrs: Mapping[str, object] | None = None) -> tuple[object, dict[str, object]]:
    """How a variable of ``dtype`` is stored: its HDF5 dtype, and its attributes as written (:func:`cf_attributes`;
    a boolean is int8 marked ``dtype = bool``, a string variable-length UTF-8)."""
    import h5py

    out = cf_attributes(attrs or {})
    dtype = np.dtype(dtype)
    if dtype.kind in "UO":
        return h5py.string_dtype(), out
    if dtype.kind == "b":
        return np.int8, {**out, "dtype": "bool"}
    return dtype, out


def encode(values: object) -> np.ndarray:
    """Values as stored (:func:`storage`): booleans as int8, strings as plain Python ``str`` objects (a ``str``
    subclass, e.g. a :class:`~atompump.reasons.Reason`, is stored as its text)."""
    values = np.asarray(values)
    if values.dtype.kind == "b":
        return values.astype(np.int8)
    if values.dtype.kind == "U":
        return values.astype(object)
    if values.dtype.kind == "O":
        return np.array([str(v) if isinstance(v, str) else v for v in values.ravel()], dtype=object).reshape(
            values.shape)
    return values


def create_variable(f, name: str, dims: tuple[str, ...], dtype: np.dtype, attrs: Mapping[str, object] | None = None,
                    *, coordinates: Iterable[str] = (), ancillary: str = "", **options):
    """Create variable ``name`` in an open ``h5netcdf.File`` as :func:`storage` says, listing its non-dimension
    ``coordinates`` and its ``ancillary`` variables; ``options`` go to h5netcdf (compression, chunks)."""
    stored, written = storage(dtype, attrs)
    coordinates = " ".join(coordinates)
    if coordinates:
        written["coordinates"] = coordinates
    if ancillary:
        written["ancillary_variables"] = ancillary
    out = f.create_variable(name, dims, dtype=stored, **options)
    out.attrs.update(written)
    return out


def _coordinates_of(ds: xr.Dataset, dims: Iterable[str]) -> list[str]:
    """The non-dimension coordinates of ``ds`` that lie along ``dims`` (a data variable's)."""
    return [c for c in ds.coords if c not in ds.dims and set(ds[c].dims) <= set(dims)]


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, *, compress: bool = True, title: str | None = None) -> None:
    """Write ``ds`` to ``path`` (netCDF4/HDF5 via h5netcdf), atomically, with the CF attributes of the module
    docstring (``title``: see there).

    Floating-point and integer variables are stored with gzip level 4 when ``compress``; strings are stored as
    variable-length UTF-8.
    """
    out = ds.copy(deep=False)
    links = ancillary_variables(out.variables)
    for name, var in out.variables.items():
        var.attrs = {**cf_attributes(var.attrs), **({"ancillary_variables": links[name]} if name in links else {})}
        if var.dtype == object and name not in out.dims:  # (a dimension's index holds plain values already)
            var.data = encode(var.values)
    out.attrs = global_attributes(ds.attrs, title=_title(ds, path, title))
    encoding = {}
    if compress:
        for name, var in out.variables.items():
            if var.dtype.kind in "fiub" and var.ndim > 0:
                encoding[name] = {"compression": "gzip", "compression_opts": 4}
    with atomic_path(path, suffix=".nc") as tmp:
        out.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)


def write_dataset_uncompressed(ds: xr.Dataset, path: str | os.PathLike, *, title: str | None = None) -> None:
    """Write a Dataset of numeric, boolean and string variables to ``path`` (netCDF4/HDF5), atomically, without
    compression, straight through h5netcdf: about half the fixed cost of :func:`write_dataset` (which goes through
    xarray's encoders), for the per-batch intermediate files. Reads back with :func:`read_dataset` as ``ds``.
    """
    import h5netcdf

    extra_coords = [name for name in ds.coords if name not in ds.dims]
    links = ancillary_variables(ds.variables)
    with atomic_path(path, suffix=".nc") as tmp, h5netcdf.File(tmp, "w") as f:
        f.dimensions = dict(ds.sizes)
        for name in [*ds.dims, *extra_coords, *ds.data_vars]:
            if name not in ds.variables:
                continue
            var = ds[name].variable
            coords = _coordinates_of(ds, var.dims) if name in ds.data_vars else ()
            out = create_variable(f, name, var.dims, var.dtype, var.attrs, coordinates=coords,
                                  ancillary=links.get(name, ""))
            out[...] = encode(var.values)
        f.attrs.update(global_attributes(ds.attrs, title=_title(ds, path, title)))


def write_dataset_blocks(path: str | os.PathLike, template: xr.Dataset, blocks: Iterable[Mapping[str, np.ndarray]],
                         *, size: int, dim: str = "shot", compress: bool = True, chunk: int = 8192,
                         title: str | None = None) -> None:
    """Write a Dataset of one dimension ``dim`` to ``path`` block by block, atomically: memory is one block.

    For per-shot tables of long runs (``results/com/com.nc`` of a run of any length). ``template`` gives the
    variables (all along ``dim``; its coordinates stay coordinates), their dtypes and attributes, and the global
    attributes; its values are not written. Each block maps every variable name to a 1D array; the blocks follow
    each other along ``dim`` and must add up to ``size`` rows. The file reads back with :func:`read_dataset` as the
    concatenation of the blocks would be written by :func:`write_dataset` (numeric variables gzip-compressed in
    chunks of ``chunk`` rows).

    Raises
    ------
    ValueError
        A variable not along ``dim`` alone, or blocks that do not add up to ``size`` rows.
    """
    import h5netcdf

    extra_coords = [name for name in template.coords if name != dim]
    names = [*([dim] if dim in template.variables else []), *extra_coords, *template.data_vars]
    links = ancillary_variables(names)
    with atomic_path(path, suffix=".nc") as tmp, h5netcdf.File(tmp, "w") as f:
        f.dimensions = {dim: size}
        out = {}
        for name in names:
            var = template[name].variable
            if var.dims != (dim,):
                raise ValueError(f"variable {name!r} has dimensions {var.dims}; only ({dim!r},) can be written in "
                                 "blocks")
            options = {}
            if compress and var.dtype.kind in "fiub" and size > 0:
                options = {"compression": "gzip", "compression_opts": 4, "chunks": (min(size, chunk),)}
            out[name] = create_variable(f, name, (dim,), var.dtype, var.attrs,
                                        coordinates=extra_coords if name in template.data_vars else (),
                                        ancillary=links.get(name, ""), **options)
        start = 0
        for block in blocks:
            rows = {len(block[name]) for name in names}
            if len(rows) != 1:
                raise ValueError(f"a block's variables have different lengths {sorted(rows)}")
            stop = start + rows.pop()
            if stop > size:
                raise ValueError(f"the blocks hold more than size = {size} rows")
            for name, var in out.items():
                var[start:stop] = encode(block[name])
            start = stop
        if start != size:
            raise ValueError(f"the blocks hold {start} rows, not size = {size}")
        f.attrs.update(global_attributes(template.attrs, title=_title(template, path, title)))


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
