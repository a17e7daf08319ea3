"""Live analysis while a run is taken (``atompump watch``): each shot analysed as it lands with the workflow's own
stage functions, the fit redone, and a self-reloading HTML dashboard (:mod:`atompump.live.engine`,
:mod:`atompump.live.dashboard`, :mod:`atompump.live.watch`)."""

from atompump.live.dashboard import render_dashboard, write_dashboard
from atompump.live.engine import LiveAnalysis, LiveState, run_data_section
from atompump.live.watch import watch_run

__all__ = ["LiveAnalysis", "LiveState", "render_dashboard", "run_data_section", "watch_run", "write_dashboard"]
