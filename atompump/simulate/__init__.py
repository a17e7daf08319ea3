"""Simulated pump runs: atom model, absorption-imaging chain, and runs written in the lab's format."""

from atompump.simulate.imaging import camera_counts, gaussian_column_density, transmitted_intensity
from atompump.simulate.run import SimulationParams, design_run, simulate_run

__all__ = [
    "SimulationParams",
    "camera_counts",
    "design_run",
    "gaussian_column_density",
    "simulate_run",
    "transmitted_intensity",
]
