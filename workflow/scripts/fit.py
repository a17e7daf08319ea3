"""Adapter: fit the displacement per cycle and compare it with the theory."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import fit_stage

run_stage(
    snakemake.log[0],
    fit_stage,
    snakemake.input.com,
    snakemake.input.theory,
    snakemake.output.summary,
    snakemake.output.fit,
    fit=snakemake.params.fit,
    on_bad_shot=snakemake.params.on_bad_shot,
    prediction_json=snakemake.input.prediction,
)
