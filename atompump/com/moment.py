"""The ``moment`` estimator: the background-corrected first moment of the cloud along the pump axis.

Window
------
The window is built from the cloud's region (:func:`atompump.com.support.find_cloud`), not from the profile's RMS
width, so it fits any shape (a ring's RMS width is 0.7 of its radius, and three of them would leave the frame):
along the pump axis it is symmetric about the estimate with the half-width ``(1 + window_margin)`` times the
region's largest half-extent from its centre, limited by the image's edges; across it spans the region's rows grown
by the same margin. The half-width is fixed before the centre is refined, so the re-centring ``c -> moment(window
at c)`` is a contraction and converges in a few steps; if it has not settled after ``max_iterations`` the window
centred on the region's own centre is used (a deterministic rule, recorded in ``converged``). Pixels at the window's
edges count with their fractional overlap, so the window is exactly symmetric and a symmetric cloud is found
without bias at any sub-pixel position. The background (median OD of the atom-free pixels) is subtracted first.

Error
-----
The moment ``x_c = sum_i w_i x_i p_i / sum_i w_i p_i`` responds to the OD of pixel ``i`` of the window with
``g_i = w_i (x_i - x_c) / N``; its variance under the measured noise is
:func:`atompump.com.noise.response_variance` (fringe residuals included), divided by ``(1 - F')^2`` with ``F'``
the derivative of the windowed moment with respect to the window's position (the window follows the noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atompump.com._common import fractional_window, moment, prepare
from atompump.com.noise import NoiseModel, measure_noise, response_variance
from atompump.com.support import CloudSupport, cloud_span, find_cloud
from atompump.reasons import Reason, RejectCause

__all__ = ["CentreOfMass", "CloudWindow", "centre_of_mass", "cloud_window"]


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
        Fraction of the cloud's region that is masked.
    od_noise : float
        Total OD noise of an atom-free pixel (standard deviation).
    reject_reason : str
        Empty when the estimate is usable, else the physical reason why not (a :class:`~atompump.reasons.Reason`).
    rows : tuple of int
        The transverse window [start, stop) in pixels.
    background : float
        Background OD per pixel that was subtracted.
    width_um : float
        RMS width of the profile along the pump axis within the window, um.
    converged : bool
        The window's re-centring settled (else the window centred on the cloud's region was used).
    white_err_um : float
        The error the white (independent-pixel) part of the noise alone would give, um.
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
    converged: bool = True
    white_err_um: float = float("nan")


@dataclass(frozen=True)
class CloudWindow:
    """The estimators' window, in pixels of the (pump axis along columns) image.

    Attributes
    ----------
    rows : (int, int)
        Transverse window [start, stop).
    centre : float
        The cloud region's centre along the pump axis, pixels.
    half_width : float
        Half-width along the pump axis, pixels.
    n_columns : int
        Columns of the image.
    """

    rows: tuple[int, int]
    centre: float
    half_width: float
    n_columns: int

    def columns(self, centre: float | None = None) -> tuple[int, int]:
        """Pixel columns [start, stop) the window overlaps when centred at ``centre`` (default its own)."""
        c = self.centre if centre is None else centre
        return (max(int(np.floor(c - self.half_width + 0.5)), 0),
                min(int(np.ceil(c + self.half_width + 0.5)), self.n_columns))


def cloud_window(support: CloudSupport, shape: tuple[int, int], *, margin: float = 0.5) -> CloudWindow:
    """The window of the estimators from the cloud's region (see the module docstring)."""
    ny, nx = shape
    c = support.centre[1]
    half = max(c - support.cols[0] + 0.5, support.cols[1] - 0.5 - c, 1.0) * (1.0 + margin)
    half = max(min(half, c + 0.5, nx - 0.5 - c), 0.5)
    grow = int(np.ceil(0.5 * margin * (support.rows[1] - support.rows[0]))) + 1
    rows = (max(support.rows[0] - grow, 0), min(support.rows[1] + grow, ny))
    return CloudWindow(rows, float(c), float(half), int(nx))


def _failed(reason: Reason) -> CentreOfMass:
    return CentreOfMass(np.nan, np.nan, np.nan, (np.nan, np.nan), np.nan, np.nan, reason)


def _noise_region(window: CloudWindow, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The window grown by its own size on each side (the atom-free pixels near the cloud)."""
    ny, nx = shape
    (r0, r1), (c0, c1) = window.rows, window.columns()
    dr, dc = max(r1 - r0, 32), max(c1 - c0, 32)
    return max(r0 - dr, 0), min(r1 + dr, ny), max(c0 - dc, 0), min(c1 + dc, nx)


def shot_noise(od: np.ndarray, support: CloudSupport, window: CloudWindow, factor: np.ndarray) -> NoiseModel:
    """The noise model of one shot for estimators that use ``window`` (oriented image, pump axis along columns)."""
    (r0, r1), (c0, c1) = window.rows, window.columns()
    return measure_noise(od, support.atom_free, factor=factor, max_lag=(r1 - r0, c1 - c0 + 2),
                         region=_noise_region(window, od.shape))


def centre_of_mass(
    od: np.ndarray,
    *,
    pixel_size_um: float,
    pump_axis: str = "x",
    valid: np.ndarray | None = None,
    variance_factor: np.ndarray | None = None,
    window_margin: float = 0.5,
    max_iterations: int = 20,
    max_masked_fraction: float = 0.05,
    expected: np.ndarray | None = None,
    frame_edges: tuple[bool, bool, bool, bool] = (True, True, True, True),
    support: CloudSupport | None = None,
    noise: NoiseModel | None = None,
) -> CentreOfMass:
    """Centre of mass of a cloud along the pump axis, with its uncertainty (see the module docstring).

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
        Photon-noise factor per pixel (:func:`atompump.reduce.od_variance_factor`); default ``(1 + e^OD)/2``.
    window_margin : float
        Growth of the window beyond the cloud's region, in units of the region's half-extent.
    max_iterations : int
        Re-centring steps of the window before the deterministic rule takes over.
    max_masked_fraction : float
        Shots with a larger masked fraction of the cloud's region are rejected.
    expected, frame_edges
        As in :func:`atompump.com.support.find_cloud` (in the image's own orientation).
    support, noise : optional
        The cloud's region and the noise model, in the pump-axis-along-columns orientation, when already known
        (:func:`atompump.com.locate_cloud` shares them between estimators).

    Returns
    -------
    CentreOfMass
    """
    if pixel_size_um <= 0:
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um}")
    od, valid, factor = prepare(od, valid, variance_factor, pump_axis)
    if support is None:
        support = locate_support(od, valid, pump_axis=pump_axis, expected=expected, frame_edges=frame_edges)
    if not support.region.any():
        return _failed(support.reject_reason)
    window = cloud_window(support, od.shape, margin=window_margin)
    return _moment_in_window(od, valid, factor, support, window, pixel_size_um=pixel_size_um,
                             max_iterations=max_iterations, max_masked_fraction=max_masked_fraction, noise=noise)


def locate_support(od, valid, *, pump_axis: str, expected=None, expected_shape=None,
                   frame_edges=(True, True, True, True)) -> CloudSupport:
    """:func:`find_cloud` on an image already oriented with the pump axis along columns (``expected``,
    ``expected_shape`` and ``frame_edges`` in the image's own orientation)."""
    if pump_axis == "y":
        expected = None if expected is None else np.asarray(expected).T
        expected_shape = None if expected_shape is None else np.asarray(expected_shape).T
        frame_edges = (frame_edges[2], frame_edges[3], frame_edges[0], frame_edges[1])
    return find_cloud(od, valid, expected=expected, expected_shape=expected_shape, frame_edges=frame_edges)


def _moment_in_window(od, valid, factor, support: CloudSupport, window: CloudWindow, *, pixel_size_um: float,
                      max_iterations: int, max_masked_fraction: float, noise: NoiseModel | None) -> CentreOfMass:
    ny, n = od.shape
    pix = pixel_size_um
    x = np.arange(n) * pix
    free = support.atom_free
    background = float(np.median(od[free])) if free.sum() >= 16 else 0.0
    r0, r1 = window.rows
    corrected = np.where(valid, od - background, 0.0)
    profile = corrected[r0:r1].sum(axis=0)
    half = window.half_width * pix
    start = window.centre * pix
    centre, converged = start, False
    for _ in range(max_iterations):
        p = fractional_window(x, centre, half, pix) * profile
        if p.sum() <= 0:
            break
        new = moment(x, p)[0]
        if abs(new - centre) < 1e-7 * pix:
            centre, converged = new, True
            break
        centre = new
    if not converged:
        centre = start
    weights = fractional_window(x, centre, half, pix)
    p = weights * profile
    if p.sum() <= 0:
        return _failed(Reason("no cloud signal: the background-corrected OD in the cloud's window sums to "
                              f"{p.sum():.3g} (not positive)", RejectCause.NO_CLOUD))
    if not converged:
        centre = moment(x, p)[0]
        weights = fractional_window(x, start, half, pix)
    _, width, total = moment(x, p)
    inside = weights > 0
    lo, hi = int(np.argmax(inside)), int(n - np.argmax(inside[::-1]))

    if noise is None:
        noise = shot_noise(od, support, window, factor)
    gradient = np.zeros_like(od)
    gradient[r0:r1] = (weights * (x - centre) / total)[None, :] * valid[r0:r1]
    var = response_variance(gradient, noise)
    white = noise.white_variance * float((gradient**2 * noise.factor).sum())
    # the window follows the estimate: the noise is amplified by 1 / (1 - F'(c)), F the windowed moment as a function
    # of the window's centre (F' ~ 0 for a cloud well inside the window)
    step = 0.05 * pix
    shifted = [moment(x, fractional_window(x, centre + d, half, pix) * profile)[0] for d in (step, -step)]
    slope = (shifted[0] - shifted[1]) / (2 * step) if converged else 0.0
    if slope < 0.9:
        var /= (1.0 - slope) ** 2
        white /= (1.0 - slope) ** 2
    span = cloud_span(support.region)
    masked_fraction = float(1.0 - valid[span].mean()) if span.any() else 0.0
    reason = support.reject_reason
    if not reason and masked_fraction > max_masked_fraction:
        reason = Reason(f"{masked_fraction:.1%} of the cloud is masked: no probe light or a saturated camera there "
                        f"(com.max_masked_fraction = {max_masked_fraction:.0%})", RejectCause.CLOUD_MASKED)
    if not reason and not np.isfinite(var):
        reason = Reason("no atom-free pixels around the cloud to measure the noise", RejectCause.NO_ATOM_FREE_PIXELS)
    return CentreOfMass(
        x_um=float(centre), x_err_um=float(np.sqrt(var)) if var > 0 else float("nan"), integrated_od=total,
        window_um=(lo * pix, hi * pix), masked_fraction=masked_fraction,
        od_noise=float(np.sqrt(noise.pixel_variance)), reject_reason=reason, rows=(r0, r1), background=background,
        width_um=width, converged=converged, white_err_um=float(np.sqrt(white)) if white > 0 else float("nan"))
