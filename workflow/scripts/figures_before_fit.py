"""Adapter: the figures that need no fit (theory, the example shot's frames), PNG and PDF."""
import os

import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.report import figures_before_fit_stage

run_stage(
    snakemake.log[0],
    figures_before_fit_stage,
    bands_path=snakemake.input.bands,
    wannier_path=snakemake.input.wannier,
    example_path=snakemake.input.example,
    out_dir=os.path.dirname(snakemake.output[0]),
)
