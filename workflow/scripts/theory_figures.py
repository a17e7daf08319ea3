"""Adapter: draw the theory figures (band structure, Berry curvature, Wannier centres)."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages.theory import theory_figures_stage

run_stage(
    snakemake.log[0],
    theory_figures_stage,
    bands_path=snakemake.input.bands,
    wannier_path=snakemake.input.wannier,
    out=dict(snakemake.output.items()),
)
