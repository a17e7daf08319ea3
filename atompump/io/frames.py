"""Camera frames as float arrays, checked at the door.

A frame is a 2D array of camera counts. :func:`read_frame` reads one frame of any supported file format
(:mod:`atompump.io.formats`) and returns it as ``float64``, after checking its dtype, shape and finiteness, so that
downstream code never meets a malformed image.
"""

from __future__ import annotations

import os

import numpy as np

from atompump.errors import InputDataError
from atompump.io.formats import FrameKey, check_dtype, open_image
from atompump.reasons import RejectCause

__all__ = ["read_frame", "write_tiff_frame", "check_frame", "check_od_image", "MAX_PLAUSIBLE_OD"]


def _as_2d_float(array: np.ndarray, *, source: str, what: str) -> np.ndarray:
    """``array`` as float64 after checking its dtype, that it is 2D and not empty (InputDataError naming ``source``)."""
    array = np.asarray(array)
    check_dtype(array.dtype, source=source)
    if array.ndim != 2:
        raise InputDataError(f"{source}: expected one 2D {what}, found an array of shape {array.shape}",
                             cause=RejectCause.UNSUPPORTED_FRAME)
    if 0 in array.shape:
        raise InputDataError(f"{source}: the {what} is empty (shape {array.shape})",
                             cause=RejectCause.UNSUPPORTED_FRAME)
    return array.astype(np.float64)


def check_frame(array: np.ndarray, *, source: str) -> np.ndarray:
    """Check that ``array`` is a finite 2D numeric image and return it as float64.

    Raises
    ------
    InputDataError
        With ``source`` (file and frame name) in the message.
    """
    out = _as_2d_float(array, source=source, what="frame")
    if not np.all(np.isfinite(out)):
        bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
        raise InputDataError(f"{source}: {bad} pixel(s) are NaN or infinite; the camera file is corrupt",
                             cause=RejectCause.NON_FINITE)
    return out


MAX_PLAUSIBLE_OD = 10.0
"""A median optical density above this is not an OD (no imaging resolves OD 10 = 1/22000 of the light
transmitted, and the median pixel of an image is mostly background): the file holds camera counts."""


def check_od_image(array: np.ndarray, *, source: str) -> np.ndarray:
    """Check an optical-density image (a shot given as OD) and return it as float64, NaN marking masked pixels.

    The image must be 2D and numeric, hold at least one finite pixel and no infinite one, and look like an optical
    density: its median finite value at most :data:`MAX_PLAUSIBLE_OD` (a file of camera counts is refused with a
    message saying so).

    Raises
    ------
    InputDataError
        With ``source`` (file and frame name) in the message.
    """
    out = _as_2d_float(array, source=source, what="optical-density image")
    infinite = int(np.count_nonzero(np.isinf(out)))
    if infinite:
        raise InputDataError(f"{source}: {infinite} pixel(s) are infinite; an optical-density image holds finite "
                             "values, and NaN where a pixel is masked (no measurable OD there): write NaN there",
                             cause=RejectCause.NON_FINITE)
    finite = np.isfinite(out)
    if not finite.any():
        raise InputDataError(f"{source}: no finite pixel (every pixel is NaN, i.e. masked): the image holds no "
                             "optical density; remove the shot or check how the file was written",
                             cause=RejectCause.FEW_FINITE_OD)
    median = float(np.median(out[finite]))
    if median > MAX_PLAUSIBLE_OD:
        raise InputDataError(f"{source}: median value {median:.4g} is not an optical density (the background of an "
                             "OD image is near 0, a cloud a few at most): the file looks like camera counts; give "
                             "the shot's atoms, probe and dark frames instead of an od column",
                             cause=RejectCause.NOT_OD)
    return out


def read_frame(path: str | os.PathLike, key: FrameKey = None, *, hdf5_group: str | None = None) -> np.ndarray:
    """Read one frame of an image file as float64 camera counts.

    Parameters
    ----------
    path
        Image file of any format of :mod:`atompump.io.formats`.
    key
        ``None`` for a single-frame file, else a page index or frame name.
    hdf5_group : str, optional, keyword-only
        Group of an HDF5 file holding the frames (labscript: ``/images/<orientation>/<label>``).
    """
    source = str(path) if key is None else f"{path} frame {key!r}"
    with open_image(path, hdf5_group=hdf5_group) as image:
        image.check(key)
        return check_frame(image.read(key), source=source)


def write_tiff_frame(path: str | os.PathLike, frame: np.ndarray) -> None:
    """Write one frame as an uncompressed TIFF, atomically, with no timestamp (reproducible bytes)."""
    import tifffile

    from atompump.io.atomic import atomic_path

    with atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(tmp, np.asarray(frame), photometric="minisblack", metadata=None)
