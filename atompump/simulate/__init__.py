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

from atompump.simulate.design import RunDesign
from atompump.simulate.dynamics import (
                                        ContinuumModel,
                                        InitialEnsemble,
                                        PumpProtocol,
                                        initial_ensemble,
                                        landau_zener_displacement,
                                        landau_zener_probability,
                                        run_pump,
)
from atompump.simulate.imaging import (
                                        Absorption,
                                        Camera,
                                        CloudImager,
                                        LineProfile,
                                        Optics,
                                        PointSpreadFunction,
                                        ProbeBeam,
                                        ProbeSettings,
                                        camera_counts,
                                        dark_frame,
                                        gaussian_column_density,
                                        transmitted_intensity,
)
from atompump.simulate.run import (
                                        Cloud,
                                        Drift,
                                        DynamicsParams,
                                        Numerics,
                                        PumpSequence,
                                        SimulationParams,
                                        TightBinding,
                                        design_run,
                                        simulate_run,
)
from atompump.simulate.tight_binding import TightBindingModel

__all__ = [
    "Absorption",
    "Camera",
    "Cloud",
    "CloudImager",
    "ContinuumModel",
    "Drift",
    "DynamicsParams",
    "InitialEnsemble",
    "LineProfile",
    "Numerics",
    "Optics",
    "PointSpreadFunction",
    "ProbeBeam",
    "ProbeSettings",
    "PumpProtocol",
    "PumpSequence",
    "RunDesign",
    "SimulationParams",
    "TightBinding",
    "TightBindingModel",
    "camera_counts",
    "dark_frame",
    "design_run",
    "gaussian_column_density",
    "initial_ensemble",
    "landau_zener_displacement",
    "landau_zener_probability",
    "run_pump",
    "simulate_run",
    "transmitted_intensity",
]
