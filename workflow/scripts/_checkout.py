"""Put this checkout's atompump library first on sys.path (imported by every adapter), and clear what a killed
earlier attempt of the job left behind.

Snakemake adds the scripts' folder to ``sys.path`` of each script job, so the adapters find this module; it
makes them use the library of the same checkout as the workflow, installed or not, and ahead of any other
installed version (also inside --use-conda environments and on cluster nodes).

Outputs are written atomically (a temporary file renamed into place), so a job killed mid-way (SIGKILL, a
cluster's time limit) leaves no half-written output, but it may leave its hidden temporary file. Snakemake reruns
such a job (``--rerun-incomplete``); before it writes anything, the job removes those files next to its own
outputs (:func:`atompump.io.atomic.remove_partial_files`), so a resumed run ends with the same files as an
uninterrupted one.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import __main__  # noqa: E402  (Snakemake's script preamble defines the job's `snakemake` object there)

if getattr(__main__, "snakemake", None) is not None:
    from atompump.io.atomic import remove_partial_files

    remove_partial_files([path for path in __main__.snakemake.output])
