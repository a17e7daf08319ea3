"""Figures and the self-contained HTML report.

The names below are imported on first use (PEP 562): the workflow reads :mod:`atompump.report.catalog` while it
builds its plan, and the HTML report's job needs no plotting library, so neither pays for importing matplotlib.
"""

from importlib import import_module

__all__ = [
    "PALETTE",
    "bands_figure",
    "com_vs_cycle_figure",
    "od_image_figure",
    "render_report",
    "residuals_figure",
    "save_figure",
]

_HOME = {"render_report": "atompump.report.html"}


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'atompump.report' has no attribute {name!r}")
    return getattr(import_module(_HOME.get(name, "atompump.report.figures")), name)


def __dir__() -> list[str]:
    return sorted(__all__)
