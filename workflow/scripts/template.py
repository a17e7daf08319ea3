"""Adapter: the run's cloud model (template and pooled noise) from a sample of its reduced shots."""
import _checkout  # noqa: F401  (this checkout's library first)

from atompump._logging import run_stage
from atompump.stages import template_stage

run_stage(
    snakemake.log[0],
    template_stage,
    list(snakemake.input.batches),
    snakemake.input.basis,
    snakemake.output.template,
    com=snakemake.params.com,
)
