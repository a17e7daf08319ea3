"""Adapter: assemble the self-contained HTML report."""
import os

import _checkout  # noqa: F401  (this checkout's library first)
from atompump._logging import run_stage
from atompump.stages import report_stage

run_stage(
    snakemake.log[0],
    report_stage,
    snakemake.output.html,
    summary_path=snakemake.input.summary,
    com_path=snakemake.input.com,
    figures_dir=os.path.dirname(snakemake.input.figures[0]),
    provenance_path=snakemake.input.provenance,
    truth_path=snakemake.input.truth[0] if snakemake.input.truth else None,
    recovery_path=snakemake.input.recovery[0] if snakemake.input.recovery else None,
    recovery_figure=snakemake.input.recovery[1] if snakemake.input.recovery else None,
    theory_path=snakemake.input.theory,
    fit_path=snakemake.input.fit,
    scan_figure=snakemake.input.scan[0] if snakemake.input.scan else None,
    title=snakemake.params.title,
    trend_globals=tuple(snakemake.params.trend_globals),
)
