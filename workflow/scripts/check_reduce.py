"""Adapter: list every bad shot of the run; stop (data.on_bad_shot: error) or record them (reject)."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import check_reduce_stage

run_stage(snakemake.log[0], check_reduce_stage, list(snakemake.input.batches), snakemake.output.check,
          on_bad_shot=snakemake.params.on_bad_shot)
