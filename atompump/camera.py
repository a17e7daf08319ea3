"""A camera's noise measured from a lab's own frames: effective gain and read noise (photon-transfer method).

Model
-----
A pixel that records ``I`` counts above the dark level (its mean over exposures) has the count variance ::

    var = g * I + r^2

with ``g`` the *effective* gain in counts per photoelectron -- the camera's conversion gain times the excess-noise
factor ``F^2`` of an electron-multiplying register (``F^2 = 2`` for an EMCCD at high multiplication; 1 for a CCD or
sCMOS), so that ``g * I`` is the photon-noise variance whatever the camera -- and ``r`` the read noise in counts RMS.
This is what :func:`atompump.simulate.imaging.camera_counts` draws and what an injection into real frames must add
(:mod:`atompump.inject`).

Method (Janesick, *Photon Transfer*, SPIE Press 2007, ch. 4--5)
---------------------------------------------------------------
The frames of a lab are dominated, pixel for pixel, by structure that is not noise: probe fringes, dust speckle,
pixel-response non-uniformity, the dark frame's fixed pattern. Two steps take it out:

1. **Pairs.** Two exposures of (nearly) the same light, ``a`` and ``b``, both minus the mean dark frame; their
   difference ``d = a - k b`` (``k = sum a / sum b`` matches the probe powers) cancels everything that is the same
   in both exposures (fixed pattern, static fine structure). Its variance is ``g (I_a + k^2 I_b) + r^2 (1 + k^2)``.
2. **High-pass.** Fringes that changed between the exposures are smooth; photon noise is white. The 3x3 (``box``)
   high-pass ``h = d - mean_box(d)`` removes the smooth part; for white noise its variance is exactly
   ``(1 - 1/box^2)`` times that of ``d`` (the centre pixel enters with weight ``1 - 1/box^2``, its ``box^2 - 1``
   neighbours with ``-1/box^2``: ``(1 - 1/n)^2 + (n - 1)/n^2 = 1 - 1/n``, ``n = box^2``), and it is uncorrelated
   with the local mean ``mean_box`` (their covariance is ``var/n - n var/n^2 = 0``), so binning by the local mean
   does not bias the variance. A fringe of period ``L`` pixels leaks ``~(2 pi / L)^2 / 3`` of its amplitude through
   the 3x3 high-pass (3 % at L = 20): what leaks shows as a slight excess of the estimate.

The high-passed differences are binned by the local intensity ``I_a + k^2 I_b`` (equal-count bins); in each bin
the variance is taken robustly (values beyond 20 robust standard deviations, 1.4826 MAD, are dropped: cosmic rays
and hot pixels, not the long tail of an EMCCD's clock-induced charge, which is real noise: in the banik-ring-dev
dark frames 1 % of the pixel differences lie beyond 6 robust standard deviations and carry a fifth of the
variance), and the read-noise term measured from the dark frames is subtracted. The gain is the median over bins of
``(variance - read term) / intensity``: a robust slope through the dark point of the photon-transfer line. A Theil--Sen
line with a free intercept through the same bins (``free_slope``, ``free_intercept_counts2``) checks linearity: its
intercept should be the read term.

With ``method='highpass'`` single frames are used instead of pairs (no exposure of the same light twice): then
everything static at the pixel scale stays in the estimate, which is an *upper bound* of the gain. On the real
banik-ring-dev frames (Andor EMCCD, 0.401 um pixels, strong fringes) single frames give 24--26 counts per
photoelectron, pairs 20.3 (see ``docs/injection.md``).

The read noise is the robust standard deviation of the differences of consecutive dark frames divided by sqrt(2)
(the fixed pattern cancels); with a single dark frame, its 3x3 high-pass corrected as above.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage, stats

__all__ = ["CameraNoise", "clipped_variance", "estimate_camera_noise", "highpass", "read_noise_from_darks"]

_CLIP_SIGMAS = 20.0


@dataclass(frozen=True)
class CameraNoise:
    """A camera's noise: ``var(counts) = gain * (counts above dark) + read_noise_counts^2``.

    Attributes
    ----------
    gain : float
        Effective gain, counts per photoelectron (including an EMCCD's excess-noise factor).
    gain_err : float
        Its standard error from the scatter of the bins (1.2533 * std / sqrt(bins), the median's error).
    read_noise_counts : float
        Read noise, counts RMS.
    offset_counts : float
        Mean dark level, counts.
    method : str
        'pairs', 'highpass' or 'given' (not measured).
    n_frames : int
        Pairs (or single frames) used for the gain; 0 when given.
    n_dark_frames : int
    bin_intensity_counts, bin_variance_counts2 : tuple of float
        The photon-transfer curve: mean intensity of each bin (counts above dark; for pairs ``I_a + k^2 I_b``) and
        the high-pass-corrected variance minus the read term.
    free_slope, free_intercept_counts2 : float
        Theil--Sen line through the bins with a free intercept (linearity check; the intercept should be ~0 after the
        read term was subtracted).
    """

    gain: float
    read_noise_counts: float
    gain_err: float = 0.0
    offset_counts: float = 0.0
    method: str = "given"
    n_frames: int = 0
    n_dark_frames: int = 0
    bin_intensity_counts: tuple[float, ...] = ()
    bin_variance_counts2: tuple[float, ...] = ()
    free_slope: float = math.nan
    free_intercept_counts2: float = math.nan

    def variance(self, intensity_counts: np.ndarray | float) -> np.ndarray | float:
        """Count variance of a pixel with ``intensity_counts`` above dark: ``gain * I + read^2``."""
        return self.gain * np.asarray(intensity_counts, dtype=float) + self.read_noise_counts**2

    def as_dict(self) -> dict:
        """Plain-JSON form (for truth.json)."""
        out = asdict(self)
        out["bin_intensity_counts"] = [float(v) for v in self.bin_intensity_counts]
        out["bin_variance_counts2"] = [float(v) for v in self.bin_variance_counts2]
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def highpass(frame: np.ndarray, *, box: int = 3) -> tuple[np.ndarray, float]:
    """``frame - mean_box(frame)`` without its ``box // 2`` border, and the white-noise variance factor
    ``1 - 1/box^2`` (``var(highpass) = factor * var(frame)`` for independent pixels of equal variance)."""
    if box < 2:
        raise ValueError(f"the high-pass box must be at least 2 pixels, got {box}")
    frame = np.asarray(frame, dtype=float)
    h = frame - ndimage.uniform_filter(frame, box, mode="reflect")
    edge = box // 2 + 1
    return h[edge:-edge, edge:-edge], 1.0 - 1.0 / box**2


def clipped_variance(values: np.ndarray, *, sigmas: float = _CLIP_SIGMAS) -> float:
    """Variance of ``values`` without the points beyond ``sigmas`` robust standard deviations (1.4826 MAD) of the
    median (hot pixels, cosmic rays); no bias for Gaussian values at the default 20 sigmas, and heavy but real tails
(an EMCCD's clock-induced charge) are kept."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size < 3:
        return math.nan
    median = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - median))
    if mad > 0:
        values = values[np.abs(values - median) <= sigmas * mad]
    return float(np.var(values, ddof=1))


def read_noise_from_darks(darks: Sequence[np.ndarray], *, box: int = 3) -> tuple[float, float]:
    """Mean dark level and read noise (counts RMS) of a camera from its dark frames.

    Two or more frames: the robust variance of the differences of consecutive frames, halved (the fixed pattern
    cancels), pooled over the pairs. One frame: its ``box`` high-pass, divided by the white-noise factor.
    """
    darks = [np.asarray(d, dtype=float) for d in darks]
    if not darks:
        raise ValueError("at least one dark frame is needed to measure the read noise")
    offset = float(np.mean([d.mean() for d in darks]))
    if len(darks) == 1:
        h, factor = highpass(darks[0], box=box)
        return offset, math.sqrt(clipped_variance(h) / factor)
    variances = [clipped_variance(b - a) / 2.0 for a, b in zip(darks[:-1], darks[1:])]
    return offset, math.sqrt(float(np.mean(variances)))


def _bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-count bin index of every value of ``x``."""
    edges = np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])
    return np.searchsorted(edges, x, side="right")


def estimate_camera_noise(light: Iterable, darks: Sequence[np.ndarray], *, method: str = "pairs", box: int = 3,
                          n_bins: int = 16, saturation_counts: float | None = 65535.0,
                          mask: np.ndarray | None = None, min_intensity_counts: float = 0.0,
                          dark_level: np.ndarray | None = None) -> CameraNoise:
    """Effective gain and read noise of a camera from light and dark frames (see the module docstring).

    Parameters
    ----------
    light : iterable
        Read once, one item at a time (a generator keeps one pair in memory). ``method='pairs'``: pairs ``(a, b)`` of
        frames (counts, shape (ny, nx)) of nearly the same light without atoms (two probe exposures, or an atoms and a
        probe frame over an atom-free ``mask``).
        ``method='highpass'``: single frames.
    darks : sequence of ndarray, shape (ny, nx)
        Dark frames (no light); their mean is the dark level subtracted from the light frames.
    method : {'pairs', 'highpass'}, keyword-only
    box : int, keyword-only
        Size of the high-pass box, pixels.
    n_bins : int, keyword-only
        Intensity bins of the photon-transfer curve (equal numbers of pixels).
    saturation_counts : float or None, keyword-only
        Pixels at or above this in any frame (and their box neighbours) are not used.
    mask : ndarray of bool, shape (ny, nx), optional, keyword-only
        Pixels to use (e.g. a region without atoms); default all.
    min_intensity_counts : float, keyword-only
        Pixels with less light (counts above dark, box mean) are not used.
    dark_level : ndarray, shape (ny, nx), optional, keyword-only
        The mean dark frame (default: the mean of ``darks``), e.g. averaged over more frames than ``darks``.

    Returns
    -------
    CameraNoise

    Raises
    ------
    ValueError
        No light frames, no dark frames, frames of different shapes, or fewer usable pixels than bins x 100.
    """
    if method not in ("pairs", "highpass"):
        raise ValueError(f"method must be 'pairs' or 'highpass', got {method!r}")
    offset, read = read_noise_from_darks(darks, box=box)
    if dark_level is None:
        dark_level = np.mean([np.asarray(d, dtype=float) for d in darks], axis=0)
    dark_level = np.asarray(dark_level, dtype=float)
    intensities, squares, read_terms = [], [], []
    n_frames = 0
    for item in light:
        n_frames += 1
        frames = [np.asarray(f, dtype=float) for f in (item if method == "pairs" else (item,))]
        if method == "pairs" and len(frames) != 2:
            raise ValueError("method 'pairs' needs pairs (a, b) of light frames")
        if any(f.shape != dark_level.shape for f in frames):
            raise ValueError(f"light frames of shape {[f.shape for f in frames]} do not match the dark frames' "
                             f"{dark_level.shape}")
        usable = np.ones(dark_level.shape, bool) if mask is None else np.asarray(mask, bool).copy()
        if saturation_counts is not None:
            for f in frames:
                usable &= ~ndimage.binary_dilation(f >= saturation_counts, np.ones((box, box), bool))
        above = [f - dark_level for f in frames]
        if method == "pairs":
            a, b = above
            k = float(a[usable].sum() / b[usable].sum())
            signal, local = a - k * b, ndimage.uniform_filter(a + k * k * b, box, mode="reflect")
            term = read**2 * (1.0 + k * k)
        else:
            signal, local = above[0], ndimage.uniform_filter(above[0], box, mode="reflect")
            term = read**2
        h, factor = highpass(signal, box=box)
        edge = box // 2 + 1
        inner = (slice(edge, -edge), slice(edge, -edge))
        # a pixel is used when its whole box is usable
        ok = ndimage.minimum_filter(usable.astype(np.uint8), box, mode="constant")[inner].astype(bool)
        ok &= local[inner] > min_intensity_counts
        intensities.append(local[inner][ok].astype(np.float32))
        squares.append((h[ok] / math.sqrt(factor)).astype(np.float32))
        read_terms.append(np.full(int(ok.sum()), term, dtype=np.float32))
    if n_frames == 0:
        raise ValueError("no light frames to measure the camera gain from")
    x = np.concatenate(intensities).astype(float)
    h = np.concatenate(squares)
    terms = np.concatenate(read_terms)
    if x.size < 100 * n_bins:
        raise ValueError(f"only {x.size} usable pixels for {n_bins} bins: give more light frames (or a larger "
                         "atom-free region)")
    index = _bins(x, n_bins)
    bx, by = [], []
    for j in range(n_bins):
        sel = index == j
        bx.append(float(x[sel].mean()))
        by.append(clipped_variance(h[sel]) - float(terms[sel].mean()))
    bx, by = np.array(bx), np.array(by)
    ratios = by / bx
    gain = float(np.median(ratios))
    gain_err = float(1.2533 * np.std(ratios, ddof=1) / math.sqrt(n_bins))
    slope, intercept, *_ = stats.theilslopes(by, bx)
    return CameraNoise(gain=gain, read_noise_counts=read, gain_err=gain_err, offset_counts=offset, method=method,
                       n_frames=n_frames, n_dark_frames=len(darks), bin_intensity_counts=tuple(bx.tolist()),
                       bin_variance_counts2=tuple(by.tolist()), free_slope=float(slope),
                       free_intercept_counts2=float(intercept))
