"""Checksums of input files that see only their raw data: for an HDF5 shot file, everything outside ``/results``.

lyse routines save their results into ``/results/<routine>`` of each shot file, and ``atompump export-lyse`` into
``/results/atompump``: the file's bytes change, its raw data (images, globals, the sequence's attributes) does not.
:func:`input_sha256` therefore hashes an HDF5 file's content outside ``/results`` (:func:`hdf5_content_sha256`),
so that the provenance's checksums of a run stay valid when results are saved into its shot files, and every
other file's bytes (:func:`atompump.report.provenance.file_sha256`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["HDF5_CHECKSUM_NOTE", "RESULTS_GROUP", "hdf5_content_sha256", "input_sha256"]

RESULTS_GROUP = "/results"
HDF5_CHECKSUM_NOTE = ("HDF5 shot files: SHA-256 of their content outside /results (every group, dataset and "
                      "attribute with its values, in name order), so results that lyse routines or atompump "
                      "export-lyse save into /results do not change it; other files: SHA-256 of their bytes")


def _update_value(digest, value) -> None:
    """Add an attribute's or dataset's value to ``digest`` (its dtype, shape and data)."""
    array = np.asarray(value)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    if array.dtype.hasobject:  # variable-length strings, references, compound rows holding them
        digest.update(repr(array.tolist()).encode())
    else:
        digest.update(np.ascontiguousarray(array).tobytes())


def _update_attrs(digest, attrs) -> None:
    for name in sorted(attrs):
        digest.update(f"@{name}=".encode())
        _update_value(digest, attrs[name])


def hdf5_content_sha256(path: str | os.PathLike, *, exclude: str = RESULTS_GROUP) -> str:
    """SHA-256 of an HDF5 file's content outside the group ``exclude``: the root's attributes, then every group
    and dataset in name order with its attributes, a dataset with its dtype, shape and values (hex)."""
    import h5py

    digest = hashlib.sha256()
    with h5py.File(path, "r") as f:
        _update_attrs(digest, f.attrs)
        names: list[str] = []
        f.visit(names.append)
        for name in sorted(names):
            full = "/" + name
            if full == exclude or full.startswith(exclude.rstrip("/") + "/"):
                continue
            item = f.get(name)
            if isinstance(item, h5py.Dataset):
                digest.update(f"D{full}".encode())
                if item.shape is None:  # an empty dataspace
                    digest.update(b"empty")
                else:
                    _update_value(digest, item[()])
            else:
                digest.update(f"G{full}".encode())
            if item is not None:
                _update_attrs(digest, item.attrs)
    return digest.hexdigest()


def input_sha256(path: str | os.PathLike) -> str:
    """The checksum of an input file in a run's provenance: :func:`hdf5_content_sha256` for an HDF5 file, the
    SHA-256 of its bytes otherwise (see the module docstring)."""
    from atompump.io.formats import detect_format
    from atompump.report.provenance import file_sha256

    path = Path(path)
    try:
        is_hdf5 = detect_format(path) == "hdf5"
    except Exception:  # unreadable or unknown: its bytes
        is_hdf5 = False
    if is_hdf5:
        try:
            return hdf5_content_sha256(path)
        except OSError:  # a corrupt HDF5 file (a bad shot): its bytes
            pass
    return file_sha256(path)
