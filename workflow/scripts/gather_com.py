"""Adapter: gather the per-batch centres of mass into results/com/com.nc (run-level atom-number cut)."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import gather_com_stage

run_stage(snakemake.log[0], gather_com_stage, list(snakemake.input.batches), snakemake.output.com,
          com=snakemake.params.com)
