# Config validation and input functions. Nothing here runs a job.
import math
import os
import sys

from snakemake.utils import validate

# The workflow uses the library of its own checkout, installed or not (the adapters do the same through
# workflow/scripts/_checkout.py).
sys.path.insert(0, ATOMPUMP_ROOT)

from atompump.config import check_config, load_schema, planned_cycles, planned_shot_count
from atompump._logging import MIN_FREE_MB, output_folder_error, storage_error_message
from atompump.errors import InputDataError, StorageError
from atompump.report.provenance import git_revision

_SCHEMA = os.path.join(ATOMPUMP_ROOT, "workflow", "schemas", "config.schema.yaml")

# outputs can be written here: not a read-only or unwritable folder (one line, before any job); not a full disk
# (checked when jobs are about to run: a dry run, --unlock or --delete-all-output work on a full disk)
_FOLDER_ERROR = output_folder_error(os.getcwd())
if _FOLDER_ERROR is not None:
    raise StorageError(storage_error_message(_FOLDER_ERROR, before_run=True))


onstart:
    _full = output_folder_error(os.getcwd(), min_free_mb=MIN_FREE_MB)
    if _full is not None:
        raise StorageError(storage_error_message(_full, before_run=True))


# every problem at once, naming the key and the allowed values; then fill in defaults
check_config(config, load_schema(_SCHEMA))
validate(config, _SCHEMA, set_default=True)

SIMULATED = config["data"]["source"] == "simulated"
INJECTED = config["data"]["source"] == "injected"  # a known cloud injected into the lab's run (rules/inject.smk)
GENERATED_RUN = "results/simulated" if SIMULATED else "results/injected" if INJECTED else None
N_SHOTS = planned_shot_count(config)
if N_SHOTS == 0:  # a manifest with a header but no rows: refused here, before any job (and before BATCHES[0])
    raise InputDataError(
        f"manifest {config['data'].get('manifest')} has a header but no shots: add one row per shot "
        "(see config/README.md, 'Analysing a measured run') or point data.manifest at the run's manifest"
    )
PLANNED_CYCLES = planned_cycles(config)  # the run's pump cycles, for the theory's prediction (None: not known yet)
GIT_REVISION = git_revision(ATOMPUMP_ROOT)
BATCHES = [f"{i:04d}" for i in range(math.ceil(N_SHOTS / config["data"]["batch_size"]))]


wildcard_constraints:
    batch=r"\d{4}",


def manifest_input(wildcards=None):
    """The run's manifest: the simulated run's, the configured measured one, or none (labscript shot files)."""
    if GENERATED_RUN:
        return [f"{GENERATED_RUN}/manifest.csv"]
    return source_manifest()


def source_manifest(wildcards=None):
    """The lab's manifest named by data.manifest (none for labscript shot files)."""
    return [config["data"]["manifest"]] if config["data"].get("manifest") else []


def run_input_files(wildcards=None):
    """The measured run's image files that exist (a fixed or added file reruns the run's checks)."""
    if GENERATED_RUN:
        return []
    return source_input_files()


def source_input_files(wildcards=None):
    """The image files of the lab's run in data.manifest / data.shots (measured, or the source of an injection)."""
    from atompump.io.shots import run_input_files as files

    return files(config["data"])


def truth_path(wildcards=None):
    """truth.json of a simulated or injected run (an empty list for measured data)."""
    return [f"{GENERATED_RUN}/truth.json"] if GENERATED_RUN else []


def injection_image(wildcards=None):
    """The OD image of an od_image cloud (an input of the inject rule: a changed image reruns the injection)."""
    cloud = config["injection"]["cloud"]
    return [cloud["image"]] if INJECTED and cloud["shape"] == "od_image" and cloud.get("image") else []


def superlattice_scan_figure(wildcards=None):
    """The scan figure of report.superlattice_scan (an empty list when it is off)."""
    return ["results/figures/superlattice_scan.png"] if config["report"].get("superlattice_scan") else []


def recovery_paths(wildcards=None):
    """recovery.json and the pull histogram of a run with a truth (rules/recovery.smk); none for measured data."""
    return ["results/fit/recovery.json", "results/figures/recovery_pulls.png"] if GENERATED_RUN else []


# --- cluster resources ---------------------------------------------------------------------------------------------
# The rules declare threads (every job is single-threaded), mem_mb (peak memory with a margin of about two over
# what benchmarks/scaling.py measures) and runtime (SLURM's wall-time limit, in minutes). Memory does not grow with
# the run's length (every job streams); time does for the run-wide jobs, hence a part per 10,000 shots. For unusual
# data (e.g. 2048 x 2048 frames) raise them on the command line, e.g. --set-resources reduce_batch:mem_mb=8000.
SIMULATE_FIXED_MINUTES = 120 if config["simulation"]["dynamics"] == "continuum" else 20


def minutes(fixed, per_10k_shots=0):
    """Wall-time limit of a job in minutes: ``fixed`` plus ``per_10k_shots`` per 10,000 shots of the run."""
    return math.ceil(fixed + per_10k_shots * N_SHOTS / 10_000)
