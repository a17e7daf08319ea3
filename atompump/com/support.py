"""Where the cloud is in one image: its region, the atom-free pixels around it, and whether it can be measured.

:func:`find_cloud` works for a cloud of any shape and size (Gaussian, flat-topped, ring-shaped, elongated, lumpy,
bimodal, filling most of the frame) and has no iteration that could fail to converge:

1. The OD is smoothed by a Gaussian of ``smoothing_px`` pixels (normalised over the valid pixels, so masked pixels
   neither add nor remove signal).
2. Background and noise of the smoothed image are the median and the robust standard deviation (1.4826 MAD) of the
   pixels outside the cloud, the noise scaled pixel by pixel by the local noise (the RMS of the image minus its
   smoothed self over ``8 smoothing_px`` pixels, relative to its median: the dim edges of a probe beam are noisier);
   the cloud is the connected region above ``max(threshold * peak, 3 noise)`` with the highest peak, with the other
   regions whose peak stands ``min_snr`` times above the noise and reaches half the highest peak (the lumps of one
   cloud, not residual fringes); when the run's cloud region is known (``expected``), the regions standing
   ``min_snr`` times above the noise that overlap it. Starting from all pixels, the
   two are refined three times (a cloud that fills most of the frame biases a first median).
3. The cloud is detected when its smoothed peak stands ``min_snr`` times above the noise. When it does not (or by less
   than twice that: a residual fringe inside a large run region could do so), and the run's cloud region is known
   (``expected``: the region of the run's mean cloud, ``expected_shape``: the mean cloud itself), a matched test
   decides instead: the amplitude of the run's mean cloud in the shot against its error under the shot's measured
   noise (:mod:`atompump.com.noise`). A faint shot that passes is measured over the run's cloud core (its mean above
   a quarter of its peak); a shot without atoms is rejected ("no cloud signal").
4. The atom-free pixels are the valid pixels farther than a margin from the cloud (half its equivalent radius, at
   least three smoothing widths) and from its detectable wings (the connected pixels of the smoothed signal above
   twice its noise, which reach further than the threshold in a bright cloud), and outside ``expected``; they give
   the background and the noise model of the estimators.

Physical reasons to reject a shot, and only these: no cloud signal; the cloud cut by the frame edge (its region
touches a side of the image that is an edge of the camera frame, ``frame_edges``) or reaching a side of the region
of interest that is not (the cloud left the analysed region); the cloud masked (no probe light or a saturated
camera) over more than a given fraction, decided by the estimators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atompump.reasons import Reason, RejectCause

__all__ = ["CloudSupport", "cloud_span", "find_cloud"]

_SIDES = ("top", "bottom", "left", "right")


@dataclass(frozen=True)
class CloudSupport:
    """The cloud's place in one image (arrays in the image's orientation as given to :func:`find_cloud`).

    Attributes
    ----------
    region : ndarray of bool, shape (ny, nx)
        Pixels of the cloud (smoothed signal above the threshold).
    extent : ndarray of bool, shape (ny, nx)
        Where atoms may be: the region and its detectable wings grown by the margin (the complement of the
        atom-free pixels, before the run's region is removed from them).
    atom_free : ndarray of bool, shape (ny, nx)
        Valid pixels far enough from the cloud to measure background and noise.
    rows, cols : (int, int)
        Bounding box ``[start, stop)`` of ``region``.
    centre : (float, float)
        First moment (row, column) of the smoothed signal over ``region``, pixels.
    peak, noise, background : float
        Smoothed peak OD above the background, robust noise of the smoothed image, background OD.
    source : str
        ``"shot"`` (found in this image) or ``"run"`` (a faint shot measured over the run's cloud region).
    reject_reason : str
        Empty, or the physical reason why the shot cannot be measured (a :class:`~atompump.reasons.Reason`, with
        its cause).
    """

    region: np.ndarray
    extent: np.ndarray
    atom_free: np.ndarray
    rows: tuple[int, int]
    cols: tuple[int, int]
    centre: tuple[float, float]
    peak: float
    noise: float
    background: float
    source: str = "shot"
    reject_reason: str = ""


def _smoothed(od: np.ndarray, valid: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The OD smoothed over the valid pixels, where that is meaningful (half the kernel's weight valid), and the
    smoothing's noise gain relative to a pixel with every neighbour valid (larger next to masked pixels and at the
    frame's edges, where fewer pixels are averaged)."""
    from scipy import ndimage

    mask = valid.astype(float)
    weight = ndimage.gaussian_filter(mask, sigma, mode="constant")
    smooth = ndimage.gaussian_filter(np.where(valid, od, 0.0), sigma, mode="constant") / np.maximum(weight, 1e-12)
    gain = np.sqrt(ndimage.gaussian_filter(mask, sigma / np.sqrt(2.0), mode="constant")) / np.maximum(weight, 1e-12)
    return smooth, weight > 0.5, gain


def _away_from(region: np.ndarray, margin: float) -> np.ndarray:
    """Pixels farther than ``margin`` pixels from ``region``."""
    from scipy import ndimage

    if not region.any():
        return np.ones_like(region)
    return ndimage.distance_transform_edt(~region) > margin


def _bbox(mask: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1)


def _margin(region: np.ndarray, smoothing_px: float) -> float:
    """Distance from the cloud's region beyond which pixels count as atom-free: the wings below the threshold."""
    return max(3.0 * smoothing_px, 0.5 * np.sqrt(region.sum() / np.pi))


def find_cloud(od: np.ndarray, valid: np.ndarray, *, smoothing_px: float = 2.0, threshold: float = 0.1,
               min_snr: float = 5.0, expected: np.ndarray | None = None, expected_shape: np.ndarray | None = None,
               frame_edges: tuple[bool, bool, bool, bool] = (True, True, True, True),
               wing_noise_factor: float = 1.0) -> CloudSupport:
    """Find the cloud in one OD image (see the module docstring).

    Parameters
    ----------
    od : ndarray, shape (ny, nx)
        Optical density (any value where not valid).
    valid : ndarray of bool, shape (ny, nx)
        Pixels with a measured OD.
    smoothing_px : float, keyword-only
        RMS width of the Gaussian smoothing, pixels.
    threshold : float, keyword-only
        Fraction of the smoothed peak above which a pixel belongs to the cloud.
    min_snr : float, keyword-only
        Detection threshold: smoothed peak over smoothed noise (or, with ``expected``, summed signal over its error).
    expected : ndarray of bool, optional
        The run's cloud region (for faint shots, and excluded from the atom-free pixels).
    expected_shape : ndarray, optional
        The run's mean cloud (OD), the weights of the matched test of a faint shot; default uniform over
        ``expected``.
    frame_edges : (top, bottom, left, right), keyword-only
        Which sides of the image are edges of the camera frame (the others are edges of a region of interest).
    wing_noise_factor : float, keyword-only
        The wings are the smoothed signal above twice the noise times this factor: ``sqrt(n)`` for a mean of ``n``
        shots gives the wings one shot can see.

    Returns
    -------
    CloudSupport
    """
    od = np.asarray(od, dtype=np.float64)
    valid = np.asarray(valid, bool) & np.isfinite(od)
    ny, nx = od.shape
    empty = np.zeros_like(valid)
    if valid.sum() < 16:
        return CloudSupport(empty, empty, empty, (0, 0), (0, 0), (np.nan, np.nan), np.nan, np.nan, np.nan,
                            reject_reason=Reason("no valid pixels (no probe light over the image)",
                                                 RejectCause.NO_PROBE_LIGHT))
    smooth, inside, gain = _smoothed(od, valid, smoothing_px)
    relative = _relative_noise(od, smooth, valid, smoothing_px) * gain
    outside = inside if expected is None else inside & ~np.asarray(expected, bool)
    if outside.sum() < 16:
        outside = inside
    region = empty
    extent = empty
    for _ in range(3):
        values = smooth[outside]
        background = float(np.median(values))
        noise = float(1.4826 * np.median(np.abs(values - background))) / float(np.median(relative[outside]))
        noise_map = noise * relative
        signal = np.where(inside, smooth - background, -np.inf)
        peak = float(signal.max())
        if not peak > 0:
            break
        snr = signal / noise_map
        region = _regions_above(signal, snr, np.maximum(threshold * peak, 3.0 * noise_map), min_snr, near=expected)
        extent = ~(_away_from(region, _margin(region, smoothing_px))
                   & _away_from(_touching(signal > np.maximum(2.0 * wing_noise_factor * noise_map, 1e-3 * peak),
                                              region),
                                3.0 * smoothing_px))
        away = inside & ~extent
        if expected is not None:
            away &= ~np.asarray(expected, bool)
        if away.sum() < 16:
            break
        outside = away
    best = float(snr[region].max()) if region.any() else 0.0
    detected = best > min_snr
    source = "shot"
    # a marginal detection inside a large run region can be a residual fringe: the matched test with the run's
    # mean cloud decides then
    if best < 2.0 * min_snr and expected is not None and np.asarray(expected, bool).any():
        detected = False
        shape = np.asarray(expected, float) if expected_shape is None else np.asarray(expected_shape, float)
        weights = np.where(np.asarray(expected, bool), np.clip(np.nan_to_num(shape), 0.0, None), 0.0)
        snr_run = _matched_snr(od, valid, weights, outside)
        if snr_run >= min_snr:
            # the run's cloud core (its mean above a quarter of its peak) is the shot's region, the run's extent its
            # extent: a marginal region of the shot's own could be a residual fringe next to the cloud
            smooth_shape = ndimage_smooth(weights, smoothing_px)
            core = smooth_shape > 0.25 * smooth_shape.max()
            region, extent, source, detected = core & inside, np.asarray(expected, bool), "run", True
    atom_free = valid & outside
    if not detected:
        return CloudSupport(empty, empty, atom_free, (0, 0), (0, 0), (np.nan, np.nan), peak, noise, background,
                            reject_reason=Reason(f"no cloud signal: smoothed peak OD {peak:.3g} above the background, "
                                                 f"noise {noise:.3g} (detection needs {min_snr:g} times the noise)",
                                                 RejectCause.NO_CLOUD))
    rows, cols = _bbox(region)
    weights = np.where(region, np.clip(smooth - background, 0.0, None), 0.0)
    yy, xx = np.indices(od.shape)
    total = weights.sum()
    centre = ((float((yy * weights).sum() / total), float((xx * weights).sum() / total)) if total > 0
              else ((rows[0] + rows[1] - 1) / 2, (cols[0] + cols[1] - 1) / 2))
    touches = (rows[0] == 0, rows[1] == ny, cols[0] == 0, cols[1] == nx)
    reason = Reason()
    cut = [side for side, t, edge in zip(_SIDES, touches, frame_edges) if t and edge]
    beyond = [side for side, t, edge in zip(_SIDES, touches, frame_edges) if t and not edge]
    if cut:
        reason = Reason(f"cloud cut by the {' and '.join(cut)} edge of the camera frame", RejectCause.CLOUD_CUT)
    elif beyond:
        reason = Reason(f"cloud extends beyond the {' and '.join(beyond)} edge of the region of interest; widen "
                        "imaging.roi", RejectCause.CLOUD_BEYOND_ROI)
    return CloudSupport(region, extent, atom_free, rows, cols, centre, peak, noise, background, source, reason)


def _regions_above(signal: np.ndarray, snr: np.ndarray, level: np.ndarray, min_snr: float, *,
                   near: np.ndarray | None = None) -> np.ndarray:
    """The cloud's connected regions of ``signal > level``: the one with the highest peak, and the others whose peak
    stands ``min_snr`` above the local noise and reaches half the highest (lumps of one cloud); with ``near`` (the
    run's cloud region), among the regions that overlap it."""
    from scipy import ndimage

    labels, n = ndimage.label(signal > level)
    if n == 0:
        return np.zeros(signal.shape, bool)
    index = np.arange(1, n + 1)
    inside = labels.ravel() > 0
    flat = labels.ravel()[inside]
    peaks = np.full(n + 1, -np.inf)
    np.maximum.at(peaks, flat, signal.ravel()[inside])  # (ndimage.maximum sorts every label: slower)
    best_snr = np.full(n + 1, -np.inf)
    np.maximum.at(best_snr, flat, snr.ravel()[inside])
    peaks, significant = peaks[1:], best_snr[1:] >= min_snr
    keep = significant & (peaks >= 0.5 * peaks.max())
    keep[np.argmax(peaks)] = True
    if near is not None and np.any(near):
        overlap = np.zeros(n + 1, bool)
        overlap[np.unique(labels[np.asarray(near, bool)])] = True
        overlap = overlap[1:]
        if np.any(overlap & significant):
            keep = overlap & significant & (peaks >= 0.5 * peaks[overlap & significant].max())
    return np.isin(labels, index[keep])


def _relative_noise(od: np.ndarray, smooth: np.ndarray, valid: np.ndarray, smoothing_px: float) -> np.ndarray:
    """The local OD noise relative to its median (at least 1/2): a probe beam's dim edges are noisier than its
    centre, and the pixels next to an unlit region noisiest of all."""
    from scipy import ndimage

    size = int(8 * smoothing_px) + 1
    residual = np.where(valid, od - smooth, 0.0) ** 2
    weight = ndimage.uniform_filter(valid.astype(float), size, mode="nearest")
    local = np.sqrt(np.clip(ndimage.uniform_filter(residual, size, mode="nearest"), 0.0, None)
                    / np.maximum(weight, 1e-12))
    typical = float(np.median(local[valid])) if valid.any() else 0.0
    if not typical > 0:
        return np.ones_like(od)
    return np.maximum(local / typical, 0.5)


def ndimage_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(image, sigma, mode="constant")


def _touching(mask: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The connected regions of ``mask`` that overlap ``region`` (the cloud's detectable extent, wings included)."""
    from scipy import ndimage

    labels, _ = ndimage.label(mask | region)
    keep = np.unique(labels[region])
    return np.isin(labels, keep[keep > 0])


def cloud_span(region: np.ndarray) -> np.ndarray:
    """``region`` with every pixel between two of its pixels on the same row or column: a cloud split by a masked
    stripe still spans the stripe (the pixels a masked fraction is counted over)."""
    def along(axis):
        forward = np.maximum.accumulate(region, axis=axis)
        backward = np.flip(np.maximum.accumulate(np.flip(region, axis), axis=axis), axis)
        return forward & backward

    return along(0) | along(1)


def _matched_snr(od: np.ndarray, valid: np.ndarray, shape: np.ndarray, atom_free: np.ndarray) -> float:
    """Amplitude of the run's mean cloud ``shape`` in the shot (least squares, background-corrected) against its
    error under the shot's measured noise: the matched test of a faint shot."""
    from atompump.com.noise import measure_noise, response_variance

    weights = np.where(valid, shape, 0.0)
    free = atom_free & valid
    norm = float((weights**2).sum())
    if norm <= 0 or free.sum() < 64:
        return 0.0
    background = float(np.median(od[free]))
    response = weights / norm
    amplitude = float((response * np.where(valid, od - background, 0.0)).sum())
    (r0, r1), (c0, c1) = _bbox(weights > 0)
    noise = measure_noise(od, free, max_lag=(r1 - r0, c1 - c0))
    variance = response_variance(response, noise)
    return amplitude / np.sqrt(variance) if variance > 0 else 0.0
