"""Adapter: provenance of the run (config, package versions, git revision, input checksums)."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.provenance import provenance_stage

run_stage(
    snakemake.log[0],
    provenance_stage,
    snakemake.output.provenance,
    snakemake.output.checksums,
    config=snakemake.params.config,
    shots_path=snakemake.input.shots,
    manifest_path=snakemake.input.manifest[0] if snakemake.input.manifest else None,
    git_revision=snakemake.params.git_revision,
)
