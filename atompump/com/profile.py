"""The ``fit`` estimator: a model fitted to the noise-weighted profile along the pump axis.

Models: ``gaussian``, ``thomas_fermi`` (``A max(0, 1 - u^2)^p``, ``u = (x - x_c)/R``, exponent ``p`` free in
[0.5, 3]: 3/2 for a column through a 3D Thomas–Fermi cloud, 2 for its fully integrated profile, 1/2 for a uniform
disk, so flat-topped in-situ clouds are covered) or ``bimodal`` (Gaussian plus Thomas–Fermi with one centre), each
with an offset. The profile is the transverse sum of the OD weighted by the noise model, ``a_i = sum_y (h_y/v_iy)
OD_iy / sum_y (h_y^2/v_iy)``, over the window's rows (:mod:`atompump.com.moment`), with ``h_y`` the measured
transverse profile and ``v_iy`` the pixel variances; for a cloud whose shape separates in x and y this loses no
information, unlike a plain sum over rows. The fit covers the window widened by half along the pump axis, so the
offset is pinned by pixels beyond the cloud's wings. For a cloud symmetric about its centre the fitted centre is its
centre of mass; for an asymmetric cloud it is the centre of the best-fitting model, which differs from the centre of
mass by a constant that cancels in the displacement per cycle.

Error: the fit responds to the profile, to first order, with the row of ``H^-1 J^T W`` of the centre (``H`` the
Hessian of chi^2/2, ``J^T W J`` minus the residual-weighted model curvature: the sandwich form, calibrated also when
the model does not describe the cloud), and the profile responds to the pixels with ``h_y / v_iy / sum_y(h^2/v)``;
the product is the estimate's linear response to every pixel, whose variance under the measured noise is
:func:`atompump.com.noise.response_variance`. Not rescaled by the reduced chi^2: model misfit is the same in every
shot and moves the centre by a constant, not by noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np

from atompump.com._common import prepare
from atompump.com.bounds import cramer_rao_bound, model_jacobian
from atompump.com.moment import CentreOfMass, _moment_in_window, cloud_window, locate_support, shot_noise
from atompump.com.noise import NoiseModel, response_variance
from atompump.com.support import CloudSupport

__all__ = ["PROFILE_MODELS", "ProfileFit", "fit_profile", "profile_model"]

PROFILE_MODELS = ("gaussian", "thomas_fermi", "bimodal")


@dataclass(frozen=True)
class ProfileFit:
    """Fit of a profile model to one shot (the ``fit`` estimator).

    Attributes
    ----------
    x_um, x_err_um : float
        Fitted centre and its uncertainty under the measured noise, um.
    crb_um : float
        Cramér–Rao bound of the centre at the fitted model under independent pixel noise, um.
    reduced_chi2 : float
        Reduced chi-square of the fit with the per-pixel variances (about 1 when model and white noise fit).
    model : str
        The profile model.
    reject_reason : str
        Empty when the fit is usable, else why not.
    white_err_um : float
        The error the white part of the noise alone would give, um.
    """

    x_um: float
    x_err_um: float
    crb_um: float
    reduced_chi2: float
    model: str
    reject_reason: str = ""
    white_err_um: float = float("nan")


def _gaussian(x, amplitude, centre, sigma, offset):
    return amplitude * np.exp(-0.5 * ((x - centre) / sigma) ** 2) + offset


def _thomas_fermi(x, amplitude, centre, radius, exponent, offset, pixel=1.0):
    # averaged exactly over each pixel: int (1 - u^2)^p du = u 2F1(-p, 1/2; 3/2; u^2). The edge of (1 - u^2)^p is
    # not smooth; sampled at points, the fit's chi^2 would jump as the edge crosses them and its errors would be wrong
    from scipy.special import hyp2f1

    def primitive(u):
        u = np.clip(u, -1.0, 1.0)
        return u * hyp2f1(-exponent, 0.5, 1.5, u * u)

    lo = (x - 0.5 * pixel - centre) / radius
    hi = (x + 0.5 * pixel - centre) / radius
    return amplitude * radius * (primitive(hi) - primitive(lo)) / pixel + offset


def _bimodal(x, amplitude, centre, radius, exponent, thermal_amplitude, sigma, offset, pixel=1.0):
    return (_thomas_fermi(x, amplitude, centre, radius, exponent, 0.0, pixel)
            + _gaussian(x, thermal_amplitude, centre, sigma, 0.0) + offset)


@lru_cache(maxsize=16)
def profile_model(name: str, *, pixel_size_um: float = 1.0):
    """The lmfit :class:`~lmfit.Model` of a profile model (``gaussian``, ``thomas_fermi``, ``bimodal``).

    The independent variable is ``x`` (um); ``pixel_size_um`` sets the pixel over which the Thomas–Fermi part is
    averaged. Models are cached (fitting does not change them).
    """
    import lmfit

    functions = {"gaussian": _gaussian, "thomas_fermi": _thomas_fermi, "bimodal": _bimodal}
    if name not in functions:
        raise ValueError(f"profile model must be one of {list(functions)}, got {name!r}")
    model = lmfit.Model(functions[name], independent_vars=["x", "pixel"] if name != "gaussian" else ["x"])
    if name != "gaussian":
        model.opts["pixel"] = float(pixel_size_um)
    return model


def _initial_params(model, name: str, x: np.ndarray, a: np.ndarray, centre: float, width: float):
    span = float(x[-1] - x[0]) if x.size > 1 else 1.0
    step = float(x[1] - x[0]) if x.size > 1 else 1.0
    peak = float(np.max(a)) if a.size else 1.0
    params = model.make_params()
    params["centre"].set(value=centre, min=x[0] - 0.5 * step, max=x[-1] + 0.5 * step)
    params["offset"].set(value=0.0)
    width = max(width, step)
    if name == "gaussian":
        params["amplitude"].set(value=max(peak, 1e-6), min=0.0)
        params["sigma"].set(value=width, min=0.2 * step, max=span)
    else:
        params["amplitude"].set(value=max(peak, 1e-6), min=0.0)
        params["radius"].set(value=2.2 * width, min=step, max=2 * span)
        params["exponent"].set(value=1.5, min=0.5, max=3.0)
    if name == "bimodal":
        params["radius"].set(value=1.5 * width)
        params["amplitude"].set(value=0.7 * max(peak, 1e-6))
        params["thermal_amplitude"].set(value=0.3 * max(peak, 1e-6), min=0.0)
        params["sigma"].set(value=2.0 * width, min=0.2 * step, max=span)
    return params


def _sandwich_row(func, values: dict, names: list[str], x, data, weight, jac, index) -> np.ndarray:
    """Row ``index`` of ``H^-1 J^T W`` (see the module docstring): the estimate's linear response to the data."""
    fisher = (jac * weight) @ jac.T
    residual = weight * (data - func(x, **values))
    curvature = np.zeros_like(fisher)
    for j, name in enumerate(names):
        value = values[name]
        step = 1e-4 * max(abs(value), 1e-2)
        d_jac = (model_jacobian(func, {**values, name: value + step}, names, x)
                 - model_jacobian(func, {**values, name: value - step}, names, x)) / (2 * step)
        curvature[j] = d_jac @ residual
    hessian = fisher - 0.5 * (curvature + curvature.T)
    try:
        inverse = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return np.full(x.size, np.nan)
    return (inverse @ (jac * weight))[index]


def fit_profile(
    od: np.ndarray,
    *,
    pixel_size_um: float,
    pump_axis: str = "x",
    valid: np.ndarray | None = None,
    variance_factor: np.ndarray | None = None,
    model: str = "gaussian",
    window_margin: float = 0.5,
    expected: np.ndarray | None = None,
    frame_edges: tuple[bool, bool, bool, bool] = (True, True, True, True),
    support: CloudSupport | None = None,
    noise: NoiseModel | None = None,
    moment: CentreOfMass | None = None,
) -> ProfileFit:
    """Centre from a model fit to the noise-weighted profile along the pump axis (see the module docstring).

    Parameters
    ----------
    od, pixel_size_um, pump_axis, valid, variance_factor, window_margin, expected, frame_edges
        As in :func:`atompump.com.centre_of_mass`.
    model : {'gaussian', 'thomas_fermi', 'bimodal'}
        Profile model.
    support, noise, moment : optional
        The cloud's region, the noise model and the moment estimate of the same image (pump axis along columns),
        computed when not given.

    Returns
    -------
    ProfileFit
    """
    if model not in PROFILE_MODELS:
        raise ValueError(f"profile model must be one of {list(PROFILE_MODELS)}, got {model!r}")
    od, valid, factor = prepare(od, valid, variance_factor, pump_axis)

    def failed(reason: str) -> ProfileFit:
        return ProfileFit(np.nan, np.nan, np.nan, np.nan, model, reason)

    if support is None:
        support = locate_support(od, valid, pump_axis=pump_axis, expected=expected, frame_edges=frame_edges)
    if not support.region.any():
        return failed(support.reject_reason)
    window = cloud_window(support, od.shape, margin=window_margin)
    if noise is None:
        noise = shot_noise(od, support, window, factor)
    if moment is None:
        moment = _moment_in_window(od, valid, factor, support, window, pixel_size_um=pixel_size_um,
                                   max_iterations=20, max_masked_fraction=1.0, noise=noise)
    if not np.isfinite(moment.x_um) or not np.isfinite(noise.pixel_variance) or noise.pixel_variance <= 0:
        return failed(moment.reject_reason or "no noise estimate for the fit")
    ny, n = od.shape
    corrected = np.where(valid, od - moment.background, 0.0)
    r0, r1 = window.rows
    c0, c1 = window.columns()
    h = np.zeros(ny)
    h[r0:r1] = np.clip(corrected[r0:r1, c0:c1].sum(axis=1), 0.0, None)
    if h.max() <= 0:
        return failed("profile fit failed: no transverse profile")
    h /= h.max()
    wide = (max(int(c0 - 0.25 * (c1 - c0)), 0), min(int(c1 + 0.25 * (c1 - c0)), n))  # the window widened by half
    inv = np.where(valid, 1.0 / noise.pixel_variances(), 0.0)
    information = (h[:, None] ** 2 * inv).sum(axis=0)
    columns = np.zeros(n, bool)
    columns[wide[0]:wide[1]] = information[wide[0]:wide[1]] > 0
    if columns.sum() < 8:
        return failed("profile fit failed: fewer than 8 columns with data")
    a = ((h[:, None] * inv * corrected).sum(axis=0)[columns]) / information[columns]
    var_a = 1.0 / information[columns]
    x = (np.arange(n) * pixel_size_um)[columns]

    lm_model = profile_model(model, pixel_size_um=pixel_size_um)
    params = _initial_params(lm_model, model, x, a, moment.x_um, moment.width_um)
    try:
        result = lm_model.fit(a, params, x=x, weights=1.0 / np.sqrt(var_a), scale_covar=False)
    except (ValueError, TypeError, np.linalg.LinAlgError) as exc:
        return failed(f"profile fit failed: {exc}")
    centre = result.params["centre"]
    reason = ""
    if not result.success:
        reason = f"profile fit failed: {result.message}"
    elif not (x[0] < centre.value < x[-1]):
        reason = "profile fit failed: the centre left the window"
    names = [k for k, p in result.params.items() if p.vary]
    values = {k: float(p.value) for k, p in result.params.items()}
    func = lm_model.func if model == "gaussian" else partial(lm_model.func, pixel=pixel_size_um)
    jac = model_jacobian(func, values, names, x)
    index = names.index("centre")
    crb = cramer_rao_bound(jac, var_a, index=index)
    response = _sandwich_row(func, values, names, x, a, 1.0 / var_a, jac, index)
    gradient = np.zeros_like(od)
    gradient[:, columns] = (response / information[columns])[None, :] * h[:, None] * inv[:, columns]
    var = response_variance(gradient, noise) if np.all(np.isfinite(response)) else np.nan
    white = noise.white_variance * float((gradient**2 * noise.factor).sum())
    if not reason and not (np.isfinite(var) and var > 0):
        reason = "profile fit failed: no uncertainty (the fit is degenerate)"
    if not reason:
        reason = moment.reject_reason
    return ProfileFit(x_um=float(centre.value), x_err_um=float(np.sqrt(var)) if var > 0 else float("nan"),
                      crb_um=crb, reduced_chi2=float(result.redchi), model=model, reject_reason=reason,
                      white_err_um=float(np.sqrt(white)) if white > 0 else float("nan"))
