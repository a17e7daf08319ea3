"""All estimators of one shot from one cloud region, one window and one noise model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from atompump.com._common import prepare
from atompump.com.moment import CentreOfMass, _moment_in_window, cloud_window, locate_support, shot_noise
from atompump.com.noise import NoiseModel, scaled_noise
from atompump.com.profile import ProfileFit, fit_profile
from atompump.com.template import Template, TemplateFit, register

__all__ = ["ESTIMATORS", "CloudLocation", "LocateSettings", "locate_cloud"]

ESTIMATORS = ("fit", "moment", "template")


@dataclass(frozen=True)
class LocateSettings:
    """The settings of :func:`locate_cloud` that come from the ``com`` config section (same names; see
    ``config/README.md``): built once where the config enters (:meth:`from_config`).

    Attributes
    ----------
    model : str
        The profile model of the fit estimator (:data:`atompump.com.PROFILE_MODELS`).
    window_margin : float
        The moment window's margin around the cloud, as a fraction of its size.
    max_masked_fraction : float
        The largest fraction of the window without a measured OD for a shot to be measured.
    """

    model: str
    window_margin: float
    max_masked_fraction: float

    @classmethod
    def from_config(cls, com) -> LocateSettings:
        """The settings of a complete ``com`` config section."""
        return cls(model=str(com["profile_model"]), window_margin=float(com["window_margin"]),
                   max_masked_fraction=float(com["max_masked_fraction"]))

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`locate_cloud`."""
        return asdict(self)


@dataclass(frozen=True)
class CloudLocation:
    """Every estimator of one shot and the chosen one.

    Attributes
    ----------
    moment : CentreOfMass
    fit : ProfileFit
    template : TemplateFit or None
        None when no template was given.
    estimator : str
        'fit', 'moment' or 'template': whose centre, error and reason are ``x_um``, ``x_err_um``, ``reject_reason``.
    white_to_measured : float
        Ratio of the chosen estimator's error from independent pixel noise alone to its error under the measured
        (correlated) noise: well below 1 on frames with residual fringes.
    """

    moment: CentreOfMass
    fit: ProfileFit
    template: TemplateFit | None
    estimator: str

    def _chosen(self):
        return {"fit": self.fit, "moment": self.moment, "template": self.template}[self.estimator]

    @property
    def x_um(self) -> float:
        chosen = self._chosen()
        return np.nan if chosen is None else chosen.x_um

    @property
    def x_err_um(self) -> float:
        chosen = self._chosen()
        return np.nan if chosen is None else chosen.x_err_um

    @property
    def reject_reason(self) -> str:
        """The physical reason (from the moment: no signal, cut by the edge, masked), else the chosen estimator's."""
        if self.moment.reject_reason:
            return self.moment.reject_reason
        chosen = self._chosen()
        if chosen is None:
            return "no template for the template estimator"
        return chosen.reject_reason


def locate_cloud(od: np.ndarray, *, pixel_size_um: float, pump_axis: str = "x", valid: np.ndarray | None = None,
                 variance_factor: np.ndarray | None = None, estimator: str = "fit", model: str = "gaussian",
                 window_margin: float = 0.5, max_masked_fraction: float = 0.05,
                 expected: np.ndarray | None = None, expected_shape: np.ndarray | None = None,
                 frame_edges: tuple[bool, bool, bool, bool] = (True, True, True, True),
                 template: Template | None = None, shot: str | None = None,
                 pooled_noise: NoiseModel | None = None) -> CloudLocation:
    """Centre of one shot by every estimator, sharing the cloud's region, window and noise model.

    Parameters
    ----------
    od, pixel_size_um, pump_axis, valid, variance_factor, window_margin, max_masked_fraction, expected, frame_edges
        As in :func:`atompump.com.centre_of_mass` (``expected`` and ``frame_edges`` in the image's orientation).
    expected_shape : ndarray, optional
        The run's mean cloud, for the matched test of a faint shot (:func:`atompump.com.find_cloud`).
    estimator : {'fit', 'moment', 'template'}
        Which estimator's centre, error and reason the result reports.
    model : str
        Profile model of the fit estimator.
    template : Template, optional
        The run's template in the pump-axis-along-columns orientation (:func:`atompump.com.template.build_template`);
        without it the template estimator is not run.
    shot : str, optional
        The shot's id: a shot that is part of the template is registered against the others (leave-one-out).
    pooled_noise : NoiseModel, optional
        The run's pooled noise correlations (:func:`atompump.com.noise.pool_noise`), scaled to this shot's own
        amplitude (:func:`atompump.com.noise.scaled_noise`); without it the shot's own estimate alone is used.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {list(ESTIMATORS)}, got {estimator!r}")
    if pixel_size_um <= 0:
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um}")
    od, valid, factor = prepare(od, valid, variance_factor, pump_axis)
    support = locate_support(od, valid, pump_axis=pump_axis, expected=expected, expected_shape=expected_shape,
                             frame_edges=frame_edges)
    if not support.region.any():
        failed = CentreOfMass(np.nan, np.nan, np.nan, (np.nan, np.nan), np.nan, np.nan, support.reject_reason)
        return CloudLocation(failed, ProfileFit(np.nan, np.nan, np.nan, np.nan, model, support.reject_reason),
                             None, estimator)
    window = cloud_window(support, od.shape, margin=window_margin)
    noise = shot_noise(od, support, window, factor)
    if pooled_noise is not None:
        noise = scaled_noise(noise, pooled_noise)
    moment = _moment_in_window(od, valid, factor, support, window, pixel_size_um=pixel_size_um, max_iterations=20,
                               max_masked_fraction=max_masked_fraction, noise=noise)
    fit = fit_profile(od, pixel_size_um=pixel_size_um, valid=valid, variance_factor=None, model=model,
                      window_margin=window_margin, support=support, noise=noise, moment=moment) \
        if np.isfinite(moment.x_um) else ProfileFit(np.nan, np.nan, np.nan, np.nan, model, moment.reject_reason)
    registered = None
    if template is not None and np.isfinite(moment.x_um):
        registered = register(od, valid, template.prepared(shot, od, valid), pixel_size_um=pixel_size_um,
                              rows=window.rows, columns=window.columns(moment.x_um / pixel_size_um), noise=noise,
                              start=(moment.x_um / pixel_size_um, support.centre[0]))
    return CloudLocation(moment=moment, fit=fit, template=registered, estimator=estimator)
