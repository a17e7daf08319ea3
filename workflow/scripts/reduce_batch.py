"""Adapter: optical density of one batch of shots."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import reduce_batch_stage

run_stage(
    snakemake.log[0],
    reduce_batch_stage,
    snakemake.input.shots,
    snakemake.input.basis,
    snakemake.output.reduced,
    batch=int(snakemake.wildcards.batch),
    imaging=snakemake.params.imaging,
)
