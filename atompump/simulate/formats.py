"""Writers of simulated runs in the formats labs write (and :mod:`atompump.io` reads).

``tiff`` (default): ``manifest.csv`` plus one single-frame 16-bit TIFF per frame::

    manifest.csv            shot,atoms,probe,dark,cycle,direction,reference,repeat,order,sequence_cycles
    frames/<shot>_atoms.tif  frames/<shot>_probe.tif  frames/<shot>_dark.tif

Frame paths in the manifest are relative to its folder; rows are in acquisition order.

``hdf5``: one labscript-style HDF5 shot file per shot, plus a manifest whose ``file`` column points to them::

    frames/<shot>.h5
        /images/<orientation>/<label>/atoms    uint16 (ny, nx)   e.g. /images/side/absorption/atoms
        /images/<orientation>/<label>/probe    uint16 (ny, nx)
        /images/<orientation>/<label>/dark     uint16 (ny, nx)
        /globals  attributes: cycle (float), direction (int), reference (bool), repeat (int), order (int),
                  sequence_cycles (float)
        /         attributes: 'sequence_index' (int, 0), 'run number' (int, = order), 'run repeat' (int,
                  = repeat), 'shot' (str)
    manifest.csv            shot,file,cycle,direction,reference,repeat,order,sequence_cycles

Both writers stream: each shot is written when it is made, so a run never needs all frames in memory. Files are
written atomically and carry no timestamps (same run, same bytes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from atompump.errors import ParameterError
from atompump.io.atomic import atomic_path
from atompump.io.frames import write_tiff_frame
from atompump.io.manifest import write_manifest
from atompump.io.protocol import FIELDS

__all__ = ["FORMATS", "RunWriter"]

FORMATS = ("tiff", "hdf5")
_GLOBALS = FIELDS  # the shot protocol, as manifest columns and as labscript globals


class RunWriter:
    """Write a run shot by shot, then the manifest (:meth:`close`).

    Parameters
    ----------
    out_dir : path
    fmt : {'tiff', 'hdf5'}
    orientation, label : str
        HDF5 image group names (``/images/<orientation>/<label>/``).
    """

    def __init__(self, out_dir: str | os.PathLike, *, fmt: str = "tiff", orientation: str = "side",
                 label: str = "absorption") -> None:
        if fmt not in FORMATS:
            raise ParameterError(f"{{fmt}}: {fmt!r} is not allowed; allowed values: {list(FORMATS)}",
                                 parameters=("fmt",))
        self.out_dir = Path(out_dir)
        self.fmt = fmt
        self.orientation, self.label = orientation, label
        self.rows: list[dict[str, object]] = []

    def add(self, entry: dict[str, object], frames: dict[str, np.ndarray]) -> None:
        """Write the frames ``atoms``, ``probe``, ``dark`` of one shot; ``entry`` holds its globals."""
        shot = str(entry["shot"])
        globals_ = {k: entry[k] for k in _GLOBALS}
        if self.fmt == "tiff":
            row: dict[str, object] = {"shot": shot}
            for name in ("atoms", "probe", "dark"):
                rel = f"frames/{shot}_{name}.tif"
                write_tiff_frame(self.out_dir / rel, frames[name])
                row[name] = rel
        else:
            rel = f"frames/{shot}.h5"
            self._write_h5(self.out_dir / rel, shot, globals_, frames)
            row = {"shot": shot, "file": rel}
        row.update(globals_)
        row["reference"] = "true" if globals_["reference"] else "false"
        self.rows.append(row)

    def _write_h5(self, path: Path, shot: str, globals_: dict, frames: dict[str, np.ndarray]) -> None:
        import h5py

        with atomic_path(path, suffix=".h5") as tmp:
            # track_order and no times: reproducible bytes
            with h5py.File(tmp, "w", track_order=True, libver="earliest") as f:
                f.attrs["shot"] = shot
                f.attrs["sequence_index"] = 0
                f.attrs["run number"] = int(globals_["order"])
                f.attrs["run repeat"] = int(globals_["repeat"])
                g = f.create_group("globals")
                for key, value in globals_.items():
                    g.attrs[key] = value
                images = f.create_group(f"images/{self.orientation}/{self.label}")
                for name in ("atoms", "probe", "dark"):
                    images.create_dataset(name, data=np.asarray(frames[name]), track_times=False)

    def close(self) -> Path:
        """Write ``manifest.csv`` (rows in acquisition order) and return its path."""
        path = self.out_dir / "manifest.csv"
        write_manifest(path, self.rows)
        return path
