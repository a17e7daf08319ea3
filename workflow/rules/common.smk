# Config validation and input functions. Nothing here runs a job.
import math
import os
import sys

from snakemake.utils import validate

# The workflow uses the library of its own checkout, installed or not (the adapters do the same through
# workflow/scripts/_checkout.py).
sys.path.insert(0, workflow.basedir)

from atompump.config import check_config, load_schema, planned_shot_count
from atompump.report.provenance import git_revision

_SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")

# every problem at once, naming the key and the allowed values; then fill in defaults
check_config(config, load_schema(_SCHEMA))
validate(config, _SCHEMA, set_default=True)

SIMULATED = config["data"]["source"] == "simulated"
N_SHOTS = planned_shot_count(config)
GIT_REVISION = git_revision(workflow.basedir)
BATCHES = [f"{i:04d}" for i in range(math.ceil(N_SHOTS / config["data"]["batch_size"]))]


wildcard_constraints:
    batch=r"\d{4}",


def manifest_input(wildcards=None):
    """The run's manifest: the simulated run's, the configured measured one, or none (labscript shot files)."""
    if SIMULATED:
        return ["results/simulated/manifest.csv"]
    return [config["data"]["manifest"]] if config["data"].get("manifest") else []


def run_input_files(wildcards=None):
    """The measured run's image files that exist (a fixed or added file reruns the run's checks)."""
    if SIMULATED:
        return []
    from atompump.io.shots import run_input_files as files

    return files(config["data"])


def truth_path(wildcards=None):
    """truth.json of a simulated run (an empty list for measured data)."""
    return ["results/simulated/truth.json"] if SIMULATED else []
