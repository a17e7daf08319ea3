"""Figures and the self-contained HTML report.

The names below are imported on first use (PEP 562): the workflow reads :mod:`atompump.report.catalog` while it
builds its plan, and the HTML report's job needs no plotting library, so neither pays for importing matplotlib.
"""

from atompump._lazy import lazy_names

__all__ = [
    "PALETTE",
    "bands_figure",
    "com_vs_cycle_figure",
    "od_image_figure",
    "render_report",
    "residuals_figure",
    "save_figure",
]

__getattr__, __dir__ = lazy_names(__name__, {name: "html" if name == "render_report" else "figures"
                                              for name in __all__})
