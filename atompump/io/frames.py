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

__all__ = ["read_frame", "write_tiff_frame", "check_frame"]


def check_frame(array: np.ndarray, *, source: str) -> np.ndarray:
    """Check that ``array`` is a finite 2D numeric image and return it as float64.

    Raises
    ------
    InputDataError
        With ``source`` (file and frame name) in the message.
    """
    array = np.asarray(array)
    check_dtype(array.dtype, source=source)
    if array.ndim != 2:
        raise InputDataError(f"{source}: expected one 2D frame, found an array of shape {array.shape}")
    if 0 in array.shape:
        raise InputDataError(f"{source}: the frame is empty (shape {array.shape})")
    out = array.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
        raise InputDataError(f"{source}: {bad} pixel(s) are NaN or infinite; the camera file is corrupt")
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
