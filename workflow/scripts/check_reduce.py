"""Adapter: list every bad shot of the run; stop (data.on_bad_shot: error) or record them (reject); write the
example shot's panels for the report."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.reduce import check_reduce_stage

run_stage(
    snakemake.log[0],
    check_reduce_stage,
    list(snakemake.input.batches),
    snakemake.output.check,
    on_bad_shot=snakemake.params.on_bad_shot,
    example_path=snakemake.output.example,
    shots_path=snakemake.input.shots,
    basis_path=snakemake.input.basis,
    imaging=snakemake.params.reduction,
)
