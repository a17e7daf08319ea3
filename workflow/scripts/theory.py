"""Adapter: bands, Chern numbers and the predicted displacement per cycle of the configured lattice."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import theory_stage

run_stage(
    snakemake.log[0],
    theory_stage,
    snakemake.output.summary,
    snakemake.output.bands,
    snakemake.output.wannier,
    lattice=snakemake.params.lattice,
    theory=snakemake.params.theory,
    atom=snakemake.params.atom,
    pump=snakemake.params.pump,
)
