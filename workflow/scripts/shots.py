"""Adapter: the run table (every shot, its frames and header-level problems)."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import shots_stage

run_stage(
    snakemake.log[0],
    shots_stage,
    snakemake.output.shots,
    data=snakemake.params.data,
    batch_size=snakemake.params.batch_size,
    manifest=snakemake.input.manifest[0] if snakemake.params.generated else None,
)
