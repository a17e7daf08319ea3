"""Adapter: draw the report figures (PNG and PDF) and the PDF report."""
import os

import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.report import figures_stage

run_stage(
    snakemake.log[0],
    figures_stage,
    com_path=snakemake.input.com,
    summary_path=snakemake.input.summary,
    fit_path=snakemake.input.fit,
    bands_path=snakemake.input.bands,
    wannier_path=snakemake.input.wannier,
    example_path=snakemake.input.example,
    provenance_path=snakemake.input.provenance,
    out_dir=os.path.dirname(snakemake.output[0]),
    pdf_path=snakemake.output.pdf,
    title=snakemake.params.title,
    trend_globals=tuple(snakemake.params.trend_globals),
    before_fit_drawn=True,
)
