"""Simulated pump runs: atom dynamics, the absorption-imaging chain, run design, and runs in the lab's formats.

Modules
-------
dynamics       continuum superlattice + trap, orbital ensembles, the pump protocol, Landau--Zener estimates
tight_binding  the Rice--Mele chain + trap (fast path, same interface)
imaging        PSF, pixels, saturated absorption, probe with fringes, camera noise
design         shots, references, repeats and acquisition order
formats        manifest + TIFF, or labscript-style HDF5 shot files
run            a whole simulated run with truth.json, and its parameter objects (no defaults: built from a
               config by atompump.stages.simulate)
"""

from atompump._lazy import lazy_names

_WHERE = {
    "RunDesign": "design",
    **dict.fromkeys(("ContinuumModel", "InitialEnsemble", "PumpProtocol", "initial_ensemble",
                     "landau_zener_displacement", "landau_zener_probability", "run_pump"), "dynamics"),
    **dict.fromkeys(("Absorption", "Camera", "CloudImager", "LineProfile", "Optics", "PointSpreadFunction",
                     "ProbeBeam", "ProbeSettings", "camera_counts", "dark_frame", "gaussian_column_density",
                     "transmitted_intensity"), "imaging"),
    **dict.fromkeys(("Cloud", "Drift", "DynamicsParams", "Numerics", "PumpSequence", "SimulationParams",
                     "TightBinding", "design_run", "simulate_run"), "run"),
    "TightBindingModel": "tight_binding",
}
"""Where each name lives; imported on first use (PEP 562), so that planning a run (the workflow counts the
design's shots while it builds its plan: :mod:`atompump.simulate.design`) does not import the dynamics."""

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
