"""Adapter: region of interest and fringe-removal basis of the run."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import fringe_basis_stage

run_stage(snakemake.log[0], fringe_basis_stage, snakemake.input.shots, snakemake.output.basis,
          imaging=snakemake.params.imaging)
