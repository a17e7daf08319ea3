"""Adapter: optical density of one batch of shots."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import reduce_batch_stage

run_stage(
    snakemake.log[0],
    reduce_batch_stage,
    snakemake.input.manifest,
    snakemake.output.reduced,
    batch=int(snakemake.wildcards.batch),
    batch_size=snakemake.params.batch_size,
    imaging=snakemake.params.imaging,
    on_bad_shot=snakemake.params.on_bad_shot,
)
