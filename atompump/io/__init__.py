"""Input and output: camera files of every common format, run manifests, labscript shot files, atomic writers.

Reading a run
-------------
* :mod:`atompump.io.formats` opens an image file by its content (TIFF, FITS, PNG, BMP, NPZ, NPY, HDF5) and reads
  one frame at a time (:func:`open_image`, :func:`read_frame`).
* :mod:`atompump.io.manifest` reads a CSV manifest (``shot, atoms, probe, dark, cycle[, direction, reference,
  repeat]``, or ``file`` instead of the three frame columns for one multi-frame file per shot).
* :mod:`atompump.io.protocol` defines a shot's protocol (cycle, direction, reference, repeat, order,
  sequence_cycles) once: how it is parsed from a manifest row or labscript globals, stored per shot, and checked
  for the run (a negative cycle, or pumped shots all at one cycle, is refused before any job).
* :mod:`atompump.io.labscript` finds the shots of a folder of labscript HDF5 shot files and reads their globals.
* :mod:`atompump.io.shots` finds the shots of a run (a manifest, or a glob of labscript HDF5 shot files), checks
  them from their headers, and reads the three frames of one shot (:func:`read_shot`), so that a run of any length
  streams through a fixed amount of memory.
* :mod:`atompump.io.runtable` writes and reads the run table (one row per shot, no pixels) that every batch reads.
* :mod:`atompump.io.netcdf` writes and reads the netCDF files between stages: one encoding, CF conventions.

labscript shot files (the layout this package defines for the simulator and the lab)::

    /images/ORIENTATION/LABEL/NAME   one 2D dataset per frame (camera counts), NAME e.g. atoms, probe, dark
    /images/ORIENTATION/LABEL        or one 3D dataset (frame, row, column), frames selected by index
    /images/ORIENTATION/LABEL/frame  or that 3D dataset inside the group (labscript's camera, default frametype)
    /globals                         attributes = the sequence globals (pump cycles, direction, reference, repeat,
                                     under the names given by data.globals; others kept as metadata)

one file per shot, shot id = file name without extension; acquisition order from the root attributes (``run time``,
``sequence_index``, ``run number``, ``run repeat``); every global carried as ``global_<name>``; see
:mod:`atompump.io.labscript` and ``config/README.md``. :mod:`atompump.io.checksums` hashes a shot file's content outside
``/results`` (where lyse saves results).
"""

from atompump._lazy import lazy_names

_WHERE = {
    **dict.fromkeys(("atomic_path", "write_json", "write_text"), "atomic"),
    "open_image": "formats",
    **dict.fromkeys(("read_frame", "write_tiff_frame"), "frames"),
    **dict.fromkeys(("ShotRecord", "read_manifest", "scan_manifest", "write_manifest"), "manifest"),
    **dict.fromkeys(("read_dataset", "write_dataset"), "netcdf"),
    **dict.fromkeys(("check_shots", "read_shot", "run_shots"), "shots"),
}
"""Where each name lives; imported on first use (PEP 562): a module that needs :mod:`atompump.io.protocol` alone
(the workflow's plan) does not import xarray and the image readers."""

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
