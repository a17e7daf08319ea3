"""Adapter: draw the report figures."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import figures_stage

run_stage(
    snakemake.log[0],
    figures_stage,
    com_path=snakemake.input.com,
    summary_path=snakemake.input.summary,
    fit_path=snakemake.input.fit,
    bands_path=snakemake.input.bands,
    reduced_path=snakemake.input.reduced,
    out=dict(snakemake.output.items()),
)
