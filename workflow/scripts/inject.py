"""Adapter: inject a known cloud into the frames of the lab's run (manifest.csv, frames/, truth.json)."""
import _checkout  # noqa: F401  (this checkout's library first)
import os

from atompump._logging import run_stage
from atompump.stages.inject import inject_stage

run_stage(
    snakemake.log[0],
    inject_stage,
    os.path.dirname(snakemake.output.manifest),
    data=snakemake.params.data,
    injection=snakemake.params.injection,
    imaging=snakemake.params.imaging,
    lattice=snakemake.params.lattice,
    atom=snakemake.params.atom,
)
