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

UNKNOWN_VERSION = "0.0.0+unknown"


def _installed_version(package_dir) -> str:
    """Version of the installed ``atompump`` distribution (setuptools-scm made it from the git tags at install
    time), provided that distribution is the library in ``package_dir``; else :data:`UNKNOWN_VERSION`.

    The workflow imports the library of its own checkout, installed or not (``workflow/scripts/_checkout.py``):
    the version another installed copy reports would be wrong there; the provenance's ``git_revision`` then tells.
    """
    import json
    from importlib.metadata import PackageNotFoundError, distribution
    from pathlib import Path
    from urllib.parse import unquote, urlparse

    try:
        dist = distribution("atompump")
    except PackageNotFoundError:
        return UNKNOWN_VERSION
    package_dir = Path(package_dir).resolve()
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct_url.get("dir_info", {}).get("editable"):  # pip install -e CHECKOUT
        installed = Path(unquote(urlparse(direct_url["url"]).path)) / "atompump"
    else:
        installed = Path(dist.locate_file("atompump"))
    return dist.version if installed.resolve() == package_dir else UNKNOWN_VERSION


__version__ = _installed_version(__path__[0])

__all__ = ["__version__"]
