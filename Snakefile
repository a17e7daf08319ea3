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


# The checkout's root: this file's folder, also when workflow/Snakefile (where the Snakemake workflow catalog looks
# for the workflow) includes it and so is the main Snakefile.
ATOMPUMP_ROOT = workflow.basedir
if os.path.isfile(os.path.join(ATOMPUMP_ROOT, "rules", "common.smk")):
    ATOMPUMP_ROOT = os.path.dirname(ATOMPUMP_ROOT)


configfile: os.path.join(ATOMPUMP_ROOT, "config", "config.yaml")


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
