"""Adapter: bias, pulls and efficiency of every estimator against the truth of a simulated or injected run."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.recovery import recovery_stage

run_stage(
    snakemake.log[0],
    recovery_stage,
    snakemake.input.com,
    snakemake.input.summary,
    snakemake.input.truth[0],
    snakemake.output.recovery,
    figure_paths=(snakemake.output.figure, snakemake.output.figure_pdf),
)
