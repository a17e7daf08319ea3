"""Centre-of-mass estimators for in-situ OD images, their errors under the measured noise, and Cramér–Rao bounds.

Every estimator works on one shot's OD with the pump axis along the image's columns (``pump_axis='y'`` transposes
first), shares one description of where the cloud is, and one noise model:

:mod:`~atompump.com.support`
    Where the cloud is (any shape and size; faint shots measured over the run's cloud region), which pixels are
    free of atoms, and the only reasons a shot is rejected: no cloud signal, cloud cut by the frame edge, masked.
:mod:`~atompump.com.noise`
    The OD noise measured in the shot's own atom-free pixels: white photon/read noise plus spatially correlated
    residual fringes and probe-intensity mismatch; the error of any linear estimate under it.
:mod:`~atompump.com.moment` (``moment``)
    The background-corrected first moment in a symmetric window built from the cloud's region: the centre of mass
    itself, model-free.
:mod:`~atompump.com.profile` (``fit``)
    A Gaussian, Thomas–Fermi or bimodal model fitted to the noise-weighted profile: at the Cramér–Rao bound when the
    model describes the cloud.
:mod:`~atompump.com.template` (``template``)
    Each shot registered against the run's own mean cloud (aligned iteratively from the shots): shape-agnostic,
    at the bound for any shape; a shift of the mean shape, compared with the first moment cycle by cycle.
:mod:`~atompump.com.bounds`
    Cramér–Rao bounds and numerical Jacobians.

:func:`locate_cloud` runs them all on one shot; the com stage (:mod:`atompump.stages.com`) chooses the headline
estimator for the run (``com.estimator: auto``). The method and its assumptions: ``docs/errors.md``.
"""

from atompump.com.bounds import cramer_rao_bound, numerical_jacobian
from atompump.com.locate import ESTIMATORS, CloudLocation, LocateSettings, locate_cloud
from atompump.com.moment import CentreOfMass, CloudWindow, centre_of_mass, cloud_window
from atompump.com.noise import NoiseModel, measure_noise, response_variance, white_noise
from atompump.com.profile import PROFILE_MODELS, ProfileFit, fit_profile, profile_model
from atompump.com.support import CloudSupport, find_cloud
from atompump.com.template import Template, TemplateFit, build_template, cloud_model, register, template_reference

__all__ = [
    "ESTIMATORS",
    "PROFILE_MODELS",
    "CentreOfMass",
    "CloudLocation",
    "CloudSupport",
    "CloudWindow",
    "LocateSettings",
    "NoiseModel",
    "ProfileFit",
    "Template",
    "TemplateFit",
    "build_template",
    "centre_of_mass",
    "cloud_model",
    "cloud_window",
    "cramer_rao_bound",
    "find_cloud",
    "fit_profile",
    "locate_cloud",
    "measure_noise",
    "numerical_jacobian",
    "profile_model",
    "register",
    "response_variance",
    "template_reference",
    "white_noise",
]
