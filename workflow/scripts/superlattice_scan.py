"""Adapter: band Chern numbers over a grid of lattice depths, with the exact transition of band 2 (report figure)."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.theory import superlattice_scan_stage

run_stage(
    snakemake.log[0],
    superlattice_scan_stage,
    snakemake.output.scan,
    snakemake.output.png,
    snakemake.output.pdf,
    lattice=snakemake.params.lattice,
    theory=snakemake.params.theory,
    atom=snakemake.params.atom,
)
