"""Adapter: centre of mass of each shot of one reduced batch."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import com_batch_stage

run_stage(
    snakemake.log[0],
    com_batch_stage,
    snakemake.input.reduced,
    snakemake.output.com,
    imaging=snakemake.params.imaging,
    com=snakemake.params.com,
    atom=snakemake.params.atom,
    basis_path=snakemake.input.basis,
    template_path=snakemake.input.template,
)
