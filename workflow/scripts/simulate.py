"""Adapter: simulate a run in the lab's format (manifest.csv, frames/, truth.json)."""
import _checkout  # noqa: F401  (this checkout's library first)
import os

from atompump._logging import run_stage
from atompump.stages import simulate_stage

run_stage(
    snakemake.log[0],
    simulate_stage,
    os.path.dirname(snakemake.output.manifest),
    simulation=snakemake.params.simulation,
    imaging=snakemake.params.imaging,
    lattice=snakemake.params.lattice,
    atom=snakemake.params.atom,
    pump=snakemake.params.pump,
    workers=snakemake.threads,
)
