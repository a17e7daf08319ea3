"""Camera frame readers.

A frame is a 2D array of camera counts. Readers return ``float64`` arrays and check shape, dtype and
finiteness at the door, so that downstream code never meets a malformed image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from atompump.errors import InputDataError

__all__ = ["read_frame", "write_tiff_frame", "check_frame"]

_TIFF_SUFFIXES = {".tif", ".tiff"}


def check_frame(array: np.ndarray, *, source: str) -> np.ndarray:
    """Check that ``array`` is a finite 2D numeric image and return it as float64.

    Raises
    ------
    InputDataError
        With ``source`` (file and frame name) in the message.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "uif":
        raise InputDataError(f"{source}: unexpected dtype {array.dtype}; expected integer or float camera counts")
    if array.ndim != 2:
        raise InputDataError(f"{source}: expected one 2D frame, found an array of shape {array.shape}")
    if 0 in array.shape:
        raise InputDataError(f"{source}: the frame is empty (shape {array.shape})")
    out = array.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
        raise InputDataError(f"{source}: {bad} pixel(s) are NaN or infinite; the camera file is corrupt")
    return out


def read_frame(path: str | os.PathLike) -> np.ndarray:
    """Read one single-frame image file (TIFF) as float64 camera counts."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputDataError(f"{path}: file does not exist")
    if suffix not in _TIFF_SUFFIXES:
        raise InputDataError(f"{path}: unsupported frame format '{suffix}'; supported: {sorted(_TIFF_SUFFIXES)}")
    import tifffile

    try:
        data = tifffile.imread(path)
    except Exception as exc:  # tifffile raises several types for corrupt files
        raise InputDataError(f"{path}: cannot read as TIFF ({type(exc).__name__}: {exc}); the file may be truncated") from exc
    return check_frame(data, source=str(path))


def write_tiff_frame(path: str | os.PathLike, frame: np.ndarray) -> None:
    """Write one frame as an uncompressed TIFF, atomically, with no timestamp (reproducible bytes)."""
    import tifffile

    from atompump.io.atomic import atomic_path

    with atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(tmp, np.asarray(frame), photometric="minisblack", metadata=None)
