"""Stage provenance: what a run was made from (``results/report/provenance.json``) and the checksum of every input
file (``results/report/checksums.tsv``).

Apart from the figures and the report (:mod:`atompump.stages.report`), so that the provenance job imports no plotting
library.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from atompump._logging import Progress
from atompump.io.atomic import atomic_path, write_json

__all__ = ["provenance_stage"]

Config = Mapping[str, Any]


def provenance_stage(out_path: str | os.PathLike, out_checksums: str | os.PathLike, *, config: Config,
                     shots_path: str | os.PathLike, manifest_path: str | os.PathLike | None,
                     git_revision: str) -> dict:
    """Write ``provenance.json`` (config, package versions, git revision, input checksums) and ``checksums.tsv``
    (SHA-256 and size of every input file: the manifest and each frame file, once each, in run order; for an HDF5
    shot file the SHA-256 of its content outside ``/results``, :func:`atompump.io.checksums.input_sha256`, so that
    results lyse or ``atompump export-lyse`` save there do not change it).

    Streams: the run table's file names are read and hashed a block of shots at a time, and the lines are written
    as they come; what grows with the run is only the set of file names already listed.
    """
    from atompump import __version__
    from atompump.io.checksums import HDF5_CHECKSUM_NOTE, input_sha256
    from atompump.io.netcdf import read_variables
    from atompump.report.provenance import CombinedDigest, package_versions

    columns = [f"{name}_file" for name in ("atoms", "probe", "dark", "od")]  # od: a run of OD images
    n_shots = len(read_variables(shots_path, ["batch"])[0]["batch"])
    progress = Progress(logging.getLogger(__name__), "provenance", n_shots, unit="shots' input files hashed")
    combined = CombinedDigest()
    seen: set[str] = set()

    def files():
        if manifest_path:
            yield str(manifest_path)
        for start in range(0, n_shots, 4096):
            values = read_variables(shots_path, columns, rows=slice(start, start + 4096))[0]
            for row in zip(*(values[c] for c in columns)):
                for name in row:
                    name = str(name)
                    if name and name not in seen:
                        seen.add(name)
                        yield name
                progress.update()

    n_files = 0
    with atomic_path(out_checksums) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("file\tsha256\tbytes\n")
        for name in files():
            path = Path(name)
            digest = input_sha256(path) if path.is_file() else "missing"  # HDF5: content outside /results
            size = path.stat().st_size if path.is_file() else -1
            combined.add(name, digest)
            out.write(f"{name}\t{digest}\t{size}\n")
            n_files += 1
    provenance = {
        "atompump_version": __version__,
        "git_revision": git_revision,
        "packages": package_versions(),
        "manifest": str(manifest_path) if manifest_path else "none (labscript shot files)",
        "input_files": n_files,
        "inputs_sha256": combined.hexdigest(),
        "checksums": Path(out_checksums).name,
        "checksums_of_hdf5": HDF5_CHECKSUM_NOTE,  # issue 14: results saved into shot files keep them valid
        "config": yaml.safe_dump(json.loads(json.dumps(dict(config), default=str)), sort_keys=True),
    }
    write_json(out_path, provenance)
    return provenance
