"""Centre-of-mass estimators for in-situ column-density images, their uncertainties and the Cramér–Rao bound.

Two estimators of the cloud's position along the pump axis, both from the same noise model:

``moment`` (:func:`centre_of_mass`)
    The background-corrected first moment in a window that adapts to the cloud: starting from the whole frame,
    the window is re-centred on the current estimate with a half-width of ``window_widths`` times the profile's
    RMS width along the pump axis, and limited across it to ``window_widths`` RMS widths of the transverse profile,
    until the estimate stops moving (after a quarter of the iterations the background and the rows are frozen, so
    the re-centring converges instead of cycling between two windows). Pixels at the window's edges along the pump axis count with their fractional
    overlap, so the window is exactly symmetric about the estimate and a symmetric cloud is found without bias at
    any sub-pixel position. The background (median OD of the valid pixels outside the window) is subtracted
    first. It is the centre of mass of any cloud shape (within the window), with no model.

``fit`` (:func:`fit_profile`)
    A weighted least-squares fit (lmfit) of a model to the profile along the pump axis: ``gaussian``,
    ``thomas_fermi`` (``A max(0, 1 - u^2)^p``, ``u = (x - x_c)/R``, exponent ``p`` free in [0.5, 3]: 3/2 for a
    column through a 3D Thomas–Fermi cloud, 2 for its fully integrated profile, 1/2 for a uniform disk, so flat-topped
    in-situ clouds are covered) or ``bimodal`` (Gaussian plus Thomas–Fermi with one centre), each with an offset.
    The profile is the transverse sum of the OD weighted by the noise model, ``a_i = sum_y (h_y/v_iy) OD_iy /
    sum_y (h_y^2/v_iy)``, with ``h_y`` the measured transverse profile and ``v_iy`` the pixel variances; for a cloud
    whose shape separates in x and y this loses no information (the Fisher information of ``a`` equals that of the
    image), unlike a plain sum over rows, which adds the noise of rows without atoms. For a cloud symmetric about
    its centre the fitted centre is its centre of mass; for an asymmetric cloud it is the centre of the best-fitting
    model, which differs from the centre of mass by a constant that cancels in the displacement per cycle.

Noise model
-----------
The per-pixel OD variance is ``v = s^2 f``: ``s`` is the OD noise of the pixels without atoms, measured in each
image outside the window (robust: 1.4826 MAD), so it includes photon shot noise, read noise and residual fringes;
``f`` is the photon-noise factor of :func:`atompump.reduce.od_variance_factor` (``(1 + e^OD)/2`` when no factor
is given: the shot's own probe frame as reference, no saturation). The moment's variance is
``sum_i (x_i - x_c)^2 V_i / (sum_i p_i)^2`` with ``V_i`` the summed variance of column ``i``, divided by
``(1 - F')^2`` where ``F'`` is the derivative of the windowed moment with respect to the window's position (the
window follows the noise). The fit's is the sandwich covariance ``H^-1 (J^T W J) H^-1`` with ``W`` the inverse
variances of the noise model and ``H`` the Hessian of chi^2/2 (``J^T W J`` minus the residual-weighted model
curvature): equal to the usual ``(J^T W J)^-1`` when the model describes the cloud, and still calibrated when it
does not (a flat-top or asymmetric cloud fitted with a Gaussian). It is not rescaled by the reduced chi^2: model
misfit is the same in every shot and moves the centre by a constant, not by noise.

Cramér–Rao bound
----------------
:func:`cramer_rao_bound` gives the smallest variance any unbiased estimator of one parameter can reach, ``(F^-1)_cc``
with the Fisher matrix ``F = J^T diag(1/v) J`` of the model's Jacobian ``J`` (all nuisance parameters included)
under Gaussian noise of variance ``v`` (Kay, Fundamentals of Statistical Signal Processing I, ch. 3). Each shot's
``crb_um`` is this bound for the centre at the fitted model, so ``(crb / error)^2`` is each estimator's expected
efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np

__all__ = [
    "ESTIMATORS",
    "PROFILE_MODELS",
    "CentreOfMass",
    "CloudLocation",
    "ProfileFit",
    "locate_cloud",
    "centre_of_mass",
    "cramer_rao_bound",
    "numerical_jacobian",
    "fit_profile",
    "profile_model",
]

PROFILE_MODELS = ("gaussian", "thomas_fermi", "bimodal")
ESTIMATORS = ("fit", "moment")


@dataclass(frozen=True)
class CentreOfMass:
    """Centre of mass of one shot along the pump axis (the ``moment`` estimator).

    Attributes
    ----------
    x_um, x_err_um : float
        Centre and its one-sigma uncertainty in um (pixel index 0 is at 0 um).
    integrated_od : float
        Sum of background-corrected OD over the window, in OD * pixel.
    window_um : tuple of float
        The window [start, stop) in um along the pump axis.
    masked_fraction : float
        Fraction of pixels in the window that are masked.
    od_noise : float
        Per-pixel OD noise ``s`` estimated outside the window.
    reject_reason : str
        Empty when the estimate is usable, else why not.
    rows : tuple of int
        The transverse window [start, stop) in pixels.
    background : float
        Background OD per pixel that was subtracted.
    width_um : float
        RMS width of the profile along the pump axis within the window, um.
    """

    x_um: float
    x_err_um: float
    integrated_od: float
    window_um: tuple[float, float]
    masked_fraction: float
    od_noise: float
    reject_reason: str = ""
    rows: tuple[int, int] = (0, 0)
    background: float = 0.0
    width_um: float = float("nan")


@dataclass(frozen=True)
class ProfileFit:
    """Fit of a profile model to one shot (the ``fit`` estimator).

    Attributes
    ----------
    x_um, x_err_um : float
        Fitted centre and its uncertainty from the noise model, um.
    crb_um : float
        Cramér–Rao bound of the centre at the fitted model under the noise model, um.
    reduced_chi2 : float
        Reduced chi-square of the fit with the noise model's variances (about 1 when model and noise fit).
    model : str
        The profile model.
    reject_reason : str
        Empty when the fit is usable, else why not.
    """

    x_um: float
    x_err_um: float
    crb_um: float
    reduced_chi2: float
    model: str
    reject_reason: str = ""


def _prepare(od, valid, variance_factor, pump_axis):
    if pump_axis not in ("x", "y"):
        raise ValueError(f"pump_axis must be 'x' or 'y', got {pump_axis!r}")
    od = np.asarray(od, dtype=np.float64)
    if od.ndim != 2:
        raise ValueError(f"od must be a 2D image, got shape {od.shape}")
    valid = np.isfinite(od) if valid is None else (np.asarray(valid, dtype=bool) & np.isfinite(od))
    if variance_factor is None:
        factor = 0.5 * (1.0 + np.exp(np.clip(np.where(valid, od, 0.0), 0.0, 30.0)))
    else:
        factor = np.asarray(variance_factor, dtype=np.float64)
        valid = valid & np.isfinite(factor)
        factor = _smooth_factor(np.where(valid, factor, 1.0), valid)
    if pump_axis == "y":
        od, valid, factor = od.T, valid.T, factor.T
    return od, valid, factor


def _smooth_factor(factor: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """3x3 mean of the variance factor over valid pixels: the factor from one noisy image is itself noisy."""
    from scipy import ndimage

    num = ndimage.uniform_filter(np.where(valid, factor, 0.0), 3, mode="nearest")
    den = ndimage.uniform_filter(valid.astype(float), 3, mode="nearest")
    return np.where(den > 0, num / np.maximum(den, 1e-12), 1.0)


def _moment(x: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    total = p.sum()
    centre = float((x * p).sum() / total)
    width = float(np.sqrt(max((p * (x - centre) ** 2).sum() / total, 0.0)))
    return centre, width, float(total)


def _fractional_window(x: np.ndarray, centre: float, half: float, step: float) -> np.ndarray:
    edges_lo = x - 0.5 * step
    overlap = np.minimum(edges_lo + step, centre + half) - np.maximum(edges_lo, centre - half)
    return np.clip(overlap / step, 0.0, 1.0)


def _failed(reason: str) -> CentreOfMass:
    return CentreOfMass(np.nan, np.nan, np.nan, (np.nan, np.nan), np.nan, np.nan, reason)


def centre_of_mass(
    od: np.ndarray,
    *,
    pixel_size_um: float,
    pump_axis: str = "x",
    valid: np.ndarray | None = None,
    variance_factor: np.ndarray | None = None,
    window_widths: float = 3.0,
    max_iterations: int = 50,
    max_masked_fraction: float = 0.05,
) -> CentreOfMass:
    """Centre of mass of a cloud along the pump axis, with its uncertainty (the ``moment`` estimator).

    Parameters
    ----------
    od : ndarray, shape (ny, nx)
        Optical density (NaN where masked).
    pixel_size_um : float, keyword-only
        Pixel size in the object plane (um).
    pump_axis : {'x', 'y'}, keyword-only
        'x': the pump moves atoms along image columns (axis 1); 'y': along rows (axis 0).
    valid : ndarray of bool, optional
        Pixels to use; default: the finite pixels of ``od``.
    variance_factor : ndarray, optional
        Relative OD variance per pixel (:func:`atompump.reduce.od_variance_factor`); default ``(1 + e^OD)/2``.
    window_widths : float
        Half-width of the adaptive window in units of the profile's RMS width (both axes).
    max_iterations : int
        Iterations of the window re-centring.
    max_masked_fraction : float
        Shots with more masked pixels than this inside the window are flagged for rejection.

    Returns
    -------
    CentreOfMass
    """
    if pixel_size_um <= 0:
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um}")
    od, valid, factor = _prepare(od, valid, variance_factor, pump_axis)
    ny, n = od.shape
    if valid.sum() == 0:
        return _failed("no valid pixels (no probe light)")
    filled = np.where(valid, od, 0.0)
    x = np.arange(n) * pixel_size_um
    yy = np.arange(ny, dtype=float)

    weights = np.ones(n)
    row_lo, row_hi = 0, ny
    background = 0.0
    centre = np.nan
    converged = False
    settle = max_iterations // 4  # then the background and the rows are frozen, so the iteration cannot cycle
    for iteration in range(max_iterations):
        if iteration <= settle:
            window2d = np.zeros_like(valid)
            window2d[row_lo:row_hi, weights > 0] = True
            outside = valid & ~window2d
            background = float(np.median(od[outside])) if outside.sum() >= 20 else 0.0
            corrected = (filled - background) * valid
        p = weights * corrected[row_lo:row_hi].sum(axis=0)
        if p.sum() <= 0:
            return _failed("no cloud signal above background")
        new_centre, width, _ = _moment(x, p)
        weights = _fractional_window(x, new_centre, window_widths * max(width, pixel_size_um), pixel_size_um)
        transverse = (corrected * weights).sum(axis=1)
        if transverse.sum() > 0 and iteration < settle:
            yc, wy, _ = _moment(yy, np.clip(transverse, 0.0, None))
            half_rows = window_widths * max(wy, 1.0)
            new_rows = (max(int(np.floor(yc - half_rows)), 0), min(int(np.ceil(yc + half_rows)) + 1, ny))
        else:
            new_rows = (row_lo, row_hi)
        if np.isfinite(centre) and abs(new_centre - centre) < 1e-7 * pixel_size_um and new_rows == (row_lo, row_hi):
            converged = True
            centre = new_centre
            break
        centre, (row_lo, row_hi) = new_centre, new_rows
    window2d = np.zeros_like(valid)
    window2d[row_lo:row_hi, weights > 0] = True
    outside = valid & ~window2d
    p = weights * corrected[row_lo:row_hi].sum(axis=0)
    if p.sum() <= 0:
        return _failed("no cloud signal above background")
    centre, width, total = _moment(x, p)
    inside = weights > 0
    lo, hi = int(np.argmax(inside)), int(n - np.argmax(inside[::-1]))

    # per-pixel OD noise from the pixels outside the window (robust: MAD)
    bg_pixels = od[outside]
    if bg_pixels.size >= 20:
        med = np.median(bg_pixels)
        od_noise = float(1.4826 * np.median(np.abs(bg_pixels - med)))
    else:
        od_noise = np.nan
    column_var = od_noise**2 * (valid[row_lo:row_hi] * factor[row_lo:row_hi]).sum(axis=0)
    var = float((weights**2 * (x - centre) ** 2 * column_var).sum() / total**2)
    # The window follows the estimate: at the fixed point c = F(c) + noise, so the noise is amplified by
    # 1 / (1 - F'(c)), with F the windowed moment as a function of the window's centre (F' ~ 0 for a symmetric
    # cloud in a wide window, larger for a cloud with a tail at the window's edge).
    profile = corrected[row_lo:row_hi].sum(axis=0)
    half = window_widths * max(width, pixel_size_um)
    step = 0.05 * pixel_size_um
    shifted = [_moment(x, _fractional_window(x, centre + d, half, pixel_size_um) * profile)[0] for d in (step, -step)]
    slope = (shifted[0] - shifted[1]) / (2 * step)
    if slope < 0.9:
        var /= (1.0 - slope) ** 2
    masked_fraction = float(1.0 - valid[row_lo:row_hi, lo:hi].mean())
    reason = ""
    if masked_fraction > max_masked_fraction:
        reason = f"{masked_fraction:.1%} of the cloud window is masked (limit {max_masked_fraction:.0%})"
    elif not converged:
        reason = f"centre-of-mass window did not converge in {max_iterations} iterations"
    elif lo == 0 or hi == n:
        reason = "cloud window touches the image edge"
    elif not np.isfinite(var):
        reason = "too few background pixels to estimate the noise"
    return CentreOfMass(
        x_um=centre,
        x_err_um=float(np.sqrt(var)),
        integrated_od=total,
        window_um=(lo * pixel_size_um, hi * pixel_size_um),
        masked_fraction=masked_fraction,
        od_noise=od_noise,
        reject_reason=reason,
        rows=(row_lo, row_hi),
        background=background,
        width_um=width,
    )


# --- model fit ---------------------------------------------------------------------------------------------------

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


def cramer_rao_bound(jacobian: np.ndarray, variance: np.ndarray, *, index: int = 0) -> float:
    """Cramér–Rao bound (standard deviation) of parameter ``index`` for a model under Gaussian noise.

    Parameters
    ----------
    jacobian : ndarray, shape (n_params, n_points)
        Derivatives of the model's mean at each data point with respect to every parameter (nuisance parameters
        included: they raise the bound of the parameter of interest).
    variance : ndarray, shape (n_points,)
        Noise variance of each data point.
    index : int, keyword-only
        The parameter of interest.

    Returns
    -------
    float
        ``sqrt((F^-1)_ii)`` with ``F = J diag(1/variance) J^T``; inf when ``F`` is singular.
    """
    jac = np.asarray(jacobian, dtype=float).reshape(len(jacobian), -1)
    inv_var = 1.0 / np.asarray(variance, dtype=float).ravel()
    fisher = (jac * inv_var) @ jac.T
    try:
        covariance = np.linalg.inv(fisher)
    except np.linalg.LinAlgError:
        return float("inf")
    value = covariance[index, index]
    return float(np.sqrt(value)) if value > 0 else float("inf")


def numerical_jacobian(func, params, *, relative_step: float = 1e-5) -> np.ndarray:
    """Central-difference Jacobian of ``func(params)`` (any array shape, flattened), shape (n_params, n_values).

    For :func:`cramer_rao_bound` of a model given as a plain function of a parameter vector (e.g. a 2D cloud image).
    """
    params = np.asarray(params, dtype=float)
    rows = []
    for k in range(params.size):
        step = np.zeros_like(params)
        step[k] = relative_step * max(abs(params[k]), 1.0)
        rows.append((np.ravel(func(params + step)) - np.ravel(func(params - step))) / (2 * step[k]))
    return np.array(rows)


def _model_jacobian(func, values: dict, names: list[str], x: np.ndarray) -> np.ndarray:
    """Central-difference derivatives of ``func(x, **values)`` with respect to ``names``, shape (len(names), x.size)."""
    rows = []
    for name in names:
        value = values[name]
        step = 1e-6 * max(abs(value), 1e-3)
        rows.append((func(x, **{**values, name: value + step}) - func(x, **{**values, name: value - step})) / (2 * step))
    return np.array(rows)


def _sandwich_error(func, values: dict, names: list[str], x, data, weight, jac, index) -> float:
    """Standard error of parameter ``index`` from the sandwich covariance (see the module docstring)."""
    fisher = (jac * weight) @ jac.T
    residual = weight * (data - func(x, **values))
    curvature = np.zeros_like(fisher)
    for j, name in enumerate(names):
        value = values[name]
        step = 1e-4 * max(abs(value), 1e-2)
        d_jac = (_model_jacobian(func, {**values, name: value + step}, names, x)
                 - _model_jacobian(func, {**values, name: value - step}, names, x)) / (2 * step)
        curvature[j] = d_jac @ residual
    hessian = fisher - 0.5 * (curvature + curvature.T)
    try:
        inverse = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return float("nan")
    value = (inverse @ fisher @ inverse)[index, index]
    return float(np.sqrt(value)) if value > 0 else float("nan")


def fit_profile(
    od: np.ndarray,
    *,
    pixel_size_um: float,
    pump_axis: str = "x",
    valid: np.ndarray | None = None,
    variance_factor: np.ndarray | None = None,
    model: str = "gaussian",
    moment: CentreOfMass | None = None,
    window_widths: float = 3.0,
) -> ProfileFit:
    """Centre from a model fit to the noise-weighted profile along the pump axis (the ``fit`` estimator).

    Parameters
    ----------
    od, pixel_size_um, pump_axis, valid, variance_factor, window_widths
        As in :func:`centre_of_mass`.
    model : {'gaussian', 'thomas_fermi', 'bimodal'}
        Profile model (see the module docstring).
    moment : CentreOfMass, optional
        The moment estimate of the same image (start values, background, noise level, transverse window);
        computed when not given.

    Returns
    -------
    ProfileFit
    """
    if model not in PROFILE_MODELS:
        raise ValueError(f"profile model must be one of {list(PROFILE_MODELS)}, got {model!r}")
    if moment is None:
        moment = centre_of_mass(od, pixel_size_um=pixel_size_um, pump_axis=pump_axis, valid=valid,
                                variance_factor=variance_factor, window_widths=window_widths)

    def failed(reason: str) -> ProfileFit:
        return ProfileFit(np.nan, np.nan, np.nan, np.nan, model, reason)

    if not np.isfinite(moment.x_um) or not np.isfinite(moment.od_noise) or moment.od_noise <= 0:
        return failed(moment.reject_reason or "no noise estimate for the fit")
    od, valid, factor = _prepare(od, valid, variance_factor, pump_axis)
    ny, n = od.shape
    corrected = np.where(valid, od - moment.background, 0.0)
    row_lo, row_hi = moment.rows
    # transverse profile h over the window's rows: the cloud's own shape, normalised to a peak of one
    lo_col = int(round(moment.window_um[0] / pixel_size_um))
    hi_col = int(round(moment.window_um[1] / pixel_size_um))
    h = np.zeros(ny)
    h[row_lo:row_hi] = np.clip(corrected[row_lo:row_hi, lo_col:hi_col].sum(axis=1), 0.0, None)
    if h.max() <= 0:
        return failed("profile fit failed: no transverse profile")
    h /= h.max()
    pixel_var = moment.od_noise**2 * factor
    inv = np.where(valid, 1.0 / pixel_var, 0.0)
    information = (h[:, None] ** 2 * inv).sum(axis=0)  # 1 / var(a_i)
    columns = information > 0
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
    elif centre.stderr is None or not np.isfinite(centre.stderr) or centre.stderr <= 0:
        reason = "profile fit failed: no uncertainty (the fit is degenerate)"
    elif not (x[0] < centre.value < x[-1]):
        reason = "profile fit failed: the centre left the image"
    elif moment.reject_reason:
        reason = moment.reject_reason
    names = [n for n, p in result.params.items() if p.vary]
    values = {n: float(p.value) for n, p in result.params.items()}
    func = lm_model.func if model == "gaussian" else partial(lm_model.func, pixel=pixel_size_um)
    jac = _model_jacobian(func, values, names, x)
    index = names.index("centre")
    crb = cramer_rao_bound(jac, var_a, index=index)
    stderr = _sandwich_error(func, values, names, x, a, 1.0 / var_a, jac, index)
    if not np.isfinite(stderr) and not reason:
        reason = "profile fit failed: no uncertainty (the fit is degenerate)"
    return ProfileFit(x_um=float(centre.value), x_err_um=stderr, crb_um=crb, reduced_chi2=float(result.redchi),
                      model=model, reject_reason=reason)


@dataclass(frozen=True)
class CloudLocation:
    """Both estimators of one shot and the chosen one (what the com stage stores per shot).

    Attributes
    ----------
    moment : CentreOfMass
    fit : ProfileFit
    estimator : str
        'fit' or 'moment': whose centre, error and rejection reason are ``x_um``, ``x_err_um``, ``reject_reason``.
    """

    moment: CentreOfMass
    fit: ProfileFit
    estimator: str

    @property
    def x_um(self) -> float:
        return self.fit.x_um if self.estimator == "fit" else self.moment.x_um

    @property
    def x_err_um(self) -> float:
        return self.fit.x_err_um if self.estimator == "fit" else self.moment.x_err_um

    @property
    def reject_reason(self) -> str:
        return self.fit.reject_reason if self.estimator == "fit" else self.moment.reject_reason


def locate_cloud(od: np.ndarray, *, pixel_size_um: float, pump_axis: str = "x", valid: np.ndarray | None = None,
                 variance_factor: np.ndarray | None = None, estimator: str = "fit", model: str = "gaussian",
                 window_widths: float = 3.0, max_masked_fraction: float = 0.05) -> CloudLocation:
    """Centre of one shot by both estimators (:func:`centre_of_mass`, then :func:`fit_profile` started from it);
    ``estimator`` chooses which one is reported."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {list(ESTIMATORS)}, got {estimator!r}")
    common = dict(pixel_size_um=pixel_size_um, pump_axis=pump_axis, valid=valid, variance_factor=variance_factor,
                  window_widths=window_widths)
    moment = centre_of_mass(od, max_masked_fraction=max_masked_fraction, **common)
    fit = fit_profile(od, model=model, moment=moment, **common)
    return CloudLocation(moment=moment, fit=fit, estimator=estimator)
