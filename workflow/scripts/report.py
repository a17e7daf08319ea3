"""Adapter: assemble the self-contained HTML report."""
import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import report_stage

run_stage(
    snakemake.log[0],
    report_stage,
    snakemake.output.html,
    summary_path=snakemake.input.summary,
    com_path=snakemake.input.com,
    figures={k: snakemake.input[k] for k in ("example_od", "com_vs_cycle", "residuals", "bands", "band_structure",
                                             "berry_curvature", "wannier")},
    truth_path=snakemake.input.truth[0] if snakemake.input.truth else None,
    theory_path=snakemake.input.theory,
    config=snakemake.params.config,
    title=snakemake.params.title,
)
