"""Figures and the self-contained HTML report."""

from atompump.report.figures import (
    PALETTE,
    bands_figure,
    com_vs_cycle_figure,
    od_image_figure,
    residuals_figure,
    save_figure,
)
from atompump.report.html import render_report

__all__ = [
    "PALETTE",
    "bands_figure",
    "com_vs_cycle_figure",
    "od_image_figure",
    "render_report",
    "residuals_figure",
    "save_figure",
]
