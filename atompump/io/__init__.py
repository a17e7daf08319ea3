"""Input and output: run manifests, camera frames, and atomic writers of data products."""

from atompump.io.atomic import atomic_path, write_json, write_text
from atompump.io.frames import read_frame, write_tiff_frame
from atompump.io.manifest import ShotRecord, count_manifest_rows, read_manifest, write_manifest
from atompump.io.netcdf import read_dataset, write_dataset

__all__ = [
    "ShotRecord",
    "atomic_path",
    "count_manifest_rows",
    "read_dataset",
    "read_frame",
    "read_manifest",
    "write_dataset",
    "write_json",
    "write_manifest",
    "write_text",
    "write_tiff_frame",
]
