"""Centre-of-mass estimators for in-situ column-density images.

The estimator of this module is the background-corrected first moment of the profile integrated transverse to
the pump axis, evaluated in a window that adapts to the cloud: starting from the whole frame, the window is
re-centred on the current estimate with a half-width of ``window_widths`` times the profile's RMS width, until
the estimate stops moving. Pixels at the window's edges count with their fractional overlap, so the window is
exactly symmetric about the estimate and a symmetric cloud is found without bias at any sub-pixel position.
The background (the median per pixel of the columns outside the window) is subtracted first.

The uncertainty follows from the per-pixel OD noise. Its level ``s`` is estimated from the pixels outside the
window (so it includes photon shot noise, read noise and residual fringes, whatever their source). Where atoms
absorb, fewer photons reach the camera: for photon-noise-limited frames ``var(OD) ~ 1/I_out + 1/I_in``, which
is ``s^2 (1 + exp(OD)) / 2`` given the background value ``s^2 = 2 / I_in``. With column sums ``p_i`` at
positions ``x_i`` and summed pixel variances ``v_i``::

    x_c = sum(x_i p_i) / sum(p_i),    var(x_c) = sum((x_i - x_c)^2 v_i) / (sum p_i)^2
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CentreOfMass", "centre_of_mass"]


@dataclass(frozen=True)
class CentreOfMass:
    """Centre of mass of one shot along the pump axis.

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
        Per-pixel OD noise estimated outside the window.
    reject_reason : str
        Empty when the estimate is usable, else why not.
    """

    x_um: float
    x_err_um: float
    integrated_od: float
    window_um: tuple[float, float]
    masked_fraction: float
    od_noise: float
    reject_reason: str = ""


def _first_moment(x: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    total = p.sum()
    centre = float((x * p).sum() / total)
    width = float(np.sqrt(max((p * (x - centre) ** 2).sum() / total, 0.0)))
    return centre, width, float(total)


def centre_of_mass(
    od: np.ndarray,
    *,
    pixel_size_um: float,
    pump_axis: str = "x",
    valid: np.ndarray | None = None,
    window_widths: float = 3.0,
    max_iterations: int = 50,
    max_masked_fraction: float = 0.05,
) -> CentreOfMass:
    """Centre of mass of a cloud along the pump axis, with its uncertainty.

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
    window_widths : float
        Half-width of the adaptive window in units of the profile's RMS width.
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
    if pump_axis not in ("x", "y"):
        raise ValueError(f"pump_axis must be 'x' or 'y', got {pump_axis!r}")
    od = np.asarray(od, dtype=np.float64)
    if od.ndim != 2:
        raise ValueError(f"od must be a 2D image, got shape {od.shape}")
    if valid is None:
        valid = np.isfinite(od)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(od)
    if pump_axis == "y":
        od, valid = od.T, valid.T
    filled = np.where(valid, od, 0.0)
    profile = filled.sum(axis=0)
    n_valid = valid.sum(axis=0).astype(np.float64)
    n = profile.size
    x = np.arange(n) * pixel_size_um

    def fail(reason: str) -> CentreOfMass:
        return CentreOfMass(np.nan, np.nan, np.nan, (np.nan, np.nan), np.nan, np.nan, reason)

    if n_valid.sum() == 0:
        return fail("no valid pixels (no probe light)")

    # start from the whole frame, then re-centre a window of half-width window_widths * RMS width whose edge
    # pixels count with their fractional overlap, so the window is exactly symmetric about the estimate
    weights = np.ones(n)
    background = 0.0
    centre = width = np.nan
    converged = False
    for _ in range(max_iterations):
        outside = (weights == 0.0) & (n_valid > 0)
        # background per valid pixel, from the columns outside the window
        background = float(np.median(profile[outside] / n_valid[outside])) if outside.sum() >= 3 else 0.0
        p = weights * (profile - background * n_valid)
        if p.sum() <= 0:
            return fail("no cloud signal above background")
        new_centre, width, _ = _first_moment(x, p)
        half = window_widths * max(width, pixel_size_um)
        edges_lo = x - 0.5 * pixel_size_um
        overlap = np.minimum(edges_lo + pixel_size_um, new_centre + half) - np.maximum(edges_lo, new_centre - half)
        weights = np.clip(overlap / pixel_size_um, 0.0, 1.0)
        if np.isfinite(centre) and abs(new_centre - centre) < 1e-7 * pixel_size_um:
            converged = True
            centre = new_centre
            break
        centre = new_centre
    p = weights * (profile - background * n_valid)
    centre, width, total = _first_moment(x, p)
    inside = weights > 0
    lo, hi = int(np.argmax(inside)), int(n - np.argmax(inside[::-1]))

    # per-pixel OD noise from the background region (robust: MAD)
    window_mask = np.zeros_like(valid)
    window_mask[:, lo:hi] = True
    bg_pixels = od[valid & ~window_mask]
    if bg_pixels.size >= 20:
        med = np.median(bg_pixels)
        od_noise = float(1.4826 * np.median(np.abs(bg_pixels - med)))
    else:
        od_noise = np.nan
    # summed variance per column: background level, raised by the photon-noise factor (1 + e^OD) / 2
    od_clipped = np.clip(filled, 0.0, 30.0)
    column_var = od_noise**2 * (valid * 0.5 * (1.0 + np.exp(od_clipped))).sum(axis=0)
    var = float((weights**2 * (x - centre) ** 2 * column_var).sum() / total**2)
    masked_fraction = float(1.0 - valid[:, lo:hi].mean())
    reason = ""
    if not converged:
        reason = f"centre-of-mass window did not converge in {max_iterations} iterations"
    elif masked_fraction > max_masked_fraction:
        reason = f"{masked_fraction:.1%} of the cloud window is masked (limit {max_masked_fraction:.0%})"
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
    )
