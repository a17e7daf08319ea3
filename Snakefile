# atompump: from in-situ absorption images of a topological (Thouless) pump to the displacement per cycle,
# compared with the Chern-number prediction.
#
#   snakemake --cores 8                                   # default: a simulated Lohse-like run
#   snakemake -s PATH/Snakefile -d OUTDIR --configfile my.yaml --cores 8
#
# The stages, in the order data flows through them:
import os

from snakemake.utils import min_version

min_version("8.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/inject.smk"
include: "workflow/rules/reduce.smk"
include: "workflow/rules/com.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/recovery.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        summary="results/fit/summary.json",
        report="results/report/report.html",
        pdf="results/report/report.pdf",
    default_target: True
