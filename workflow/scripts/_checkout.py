"""Put this checkout's atompump library first on sys.path (imported by every adapter).

Snakemake adds the scripts' folder to ``sys.path`` of each script job, so the adapters find this module; it
makes them use the library of the same checkout as the workflow, installed or not, and ahead of any other
installed version (also inside --use-conda environments and on cluster nodes).
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
