"""atompump: analysis of topological (Thouless) charge pumps in optical superlattices.

The package is a pure library, one module per stage of the analysis:

``atompump.io``        readers of camera frames and run manifests, atomic writers
``atompump.reduce``    optical density from absorption-imaging frames
``atompump.com``       centre-of-mass estimators with uncertainties
``atompump.theory``    band structure, Berry curvature and Chern numbers
``atompump.simulate``  simulated runs written in the lab format
``atompump.fit``       fits of the displacement per pump cycle
``atompump.report``    figures and the self-contained HTML report

The Snakemake workflow in ``workflow/`` calls these functions through thin adapters.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("atompump")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
