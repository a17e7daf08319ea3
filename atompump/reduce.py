"""Image reduction: optical density with saturation, masks, region of interest, fringe removal.

Optical density
---------------
With camera counts ``atoms`` (probe light through the cloud), ``probe`` (probe light, no atoms) and ``dark``
(no light), the incoming and transmitted intensities per pixel are ``I_in = probe - dark`` and
``I_out = atoms - dark``. The optical density including probe saturation is (Reinaudi et al., Opt. Lett. 32,
3143 (2007))::

    OD = alpha * ln(I_in / I_out) + (I_in - I_out) / I_sat

where ``alpha >= 1`` corrects the effective cross-section and ``I_sat`` is the effective saturation intensity in
counts per pixel per exposure (``None`` drops the term: the low-intensity limit).

Pixels where the probe light is too weak to measure an OD (``I_in < min_probe_counts`` in the pixel or on average
over its 5x5 neighbourhood, so that noise spikes in an unlit region stay masked) or where the camera is saturated are
masked: their OD is NaN and ``valid`` is False. Pixels where the cloud absorbs all light
(``I_out <= 0``, the OD is not measurable) are clipped to one count and flagged in ``clipped``.

Noise model
-----------
Photon shot noise gives ``var(I) ~ g I`` (``g`` counts per photoelectron). Propagated through the OD, the variance
of a pixel relative to a pixel without atoms is (:func:`od_variance_factor`)::

    f = [I_out (alpha/I_out + 1/I_sat)^2 + r I_in (alpha/I_in + 1/I_sat)^2] / [(1 + r) I_in (alpha/I_in + 1/I_sat)^2]

with ``r`` the variance of the reference ``I_in`` relative to that of a single frame: ``r = 1`` for the shot's own
probe frame, ``r = K/M`` for the fringe-free reference built from ``K`` components of ``M`` probe frames. Without
saturation ``f = (e^OD + r) / (1 + r)``. The absolute level is measured in each image (the background OD noise),
so gain, read noise and any residual fringes are included without being known.

Region of interest
------------------
:func:`locate_run_cloud` finds the atoms in a mean OD image of the run with the cloud finder of the centre-of-mass
stage (:func:`atompump.com.support.find_cloud`: any shape, lumps kept together, residual fringes not taken for atoms):
the cloud's *extent* (the cloud, its detectable wings and a margin) is where the run's atoms may be; the ROI is the
extent's bounding box grown on each side by ``margin`` (default 0.3) times its size, so that the cloud's motion over
the run stays inside and atom-free pixels around it measure each shot's noise, clipped to the rows and columns that
have probe light (in more than 20% of their pixels). The OD is computed and stored only inside the ROI.

Fringe removal
--------------
Interference fringes differ between the atoms and the probe exposure, so ``ln(I_in/I_out)`` shows them. The optimal
reference of each shot is the linear combination of a basis of probe images that best matches the atoms frame on
pixels without atoms (Ockeloen et al., PRA 82, 061606 (2010)), with the basis reduced to its principal components
(Niu et al., Opt. Express 26, 30720 (2018)). Here (:func:`build_fringe_basis`):

* the fit region is the valid pixels of the ROI grown by its own size on each side (clipped to the frame; at most
  ``max_fit_pixels`` of them, spread evenly), minus the cloud's extent (:func:`locate_run_cloud`; with a hand-set
  ROI, minus the whole ROI), so that the atom-free pixels inside the ROI (around a small cloud, inside a ring) pin
  the reference where it matters; pixels are weighted by ``1/sqrt(mean probe)`` so that photon noise is uniform
  (weighted least squares);
* the basis is the singular value decomposition of the ``M`` sampled probe frames (dark subtracted) on the fit
  region; each component is extended over the ROI with the same combination of frames;
* the number of components ``K`` is chosen automatically with the optimal hard threshold of Gavish & Donoho (IEEE
  Trans. Inf. Theory 60, 5040 (2014)) for a noise level unknown a priori: keep the singular values above
  ``omega(beta) * median(s)``, ``beta = min(M, P) / max(M, P)``, ``omega ~ 0.56 beta^3 - 0.95 beta^2 + 1.82 beta +
  1.43``. Components below it are indistinguishable from photon noise and would only add noise.

Each shot's reference is then its projection onto the ``K`` components on the fit region (the components are
orthonormal there, so this is one matrix-vector product), evaluated inside the ROI (:meth:`FringeBasis.reference`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from atompump.errors import InputDataError, ParameterError

__all__ = [
    "Box",
    "FringeBasis",
    "ODResult",
    "ODSettings",
    "build_fringe_basis",
    "find_roi",
    "gavish_donoho_rank",
    "locate_run_cloud",
    "grow_box",
    "od_from_intensities",
    "od_variance_factor",
    "photon_noise_od_variance",
    "optical_density",
    "reduce_shot",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ODSettings:
    """The settings of :func:`optical_density` and :func:`reduce_shot` that come from the ``imaging`` config
    section (same names; see ``config/README.md``): built once where the config enters (:meth:`from_config`).

    Attributes
    ----------
    alpha : float
        Reinaudi's correction factor of the Beer--Lambert term.
    isat_counts : float or None
        Saturation intensity in camera counts per pixel per exposure (None: no saturation term).
    min_probe_counts : float
        Probe counts above the dark frame below which a pixel is not measured.
    saturation_counts : float or None
        Camera counts at or above which a pixel is saturated (None: no check).
    """

    alpha: float
    isat_counts: float | None
    min_probe_counts: float
    saturation_counts: float | None

    @classmethod
    def from_config(cls, imaging) -> ODSettings:
        """The settings of a complete ``imaging`` config section."""
        return cls(alpha=float(imaging["alpha"]), isat_counts=imaging["isat_counts"],
                   min_probe_counts=float(imaging["min_probe_counts"]),
                   saturation_counts=imaging["saturation_counts"])

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`optical_density` / :func:`reduce_shot`."""
        return asdict(self)

Box = tuple[int, int, int, int]
"""A rectangle of pixels ``(row_start, row_stop, col_start, col_stop)``, stops exclusive."""


@dataclass(frozen=True)
class ODResult:
    """Optical density of one shot (of its region of interest when reduced with :func:`reduce_shot`).

    Attributes
    ----------
    od : ndarray, shape (ny, nx), float64
        Optical density; NaN where ``valid`` is False.
    valid : ndarray, shape (ny, nx), bool
        Pixels with enough probe light and no camera saturation.
    clipped : ndarray, shape (ny, nx), bool
        Valid pixels whose transmitted light was at or below zero counts and was clipped to one count.
    probe_counts : ndarray, shape (ny, nx), float64
        ``I_in`` in counts: ``probe - dark``, or the fringe-free reference.
    variance_factor : ndarray, shape (ny, nx), float64, or None
        Variance of each pixel's OD relative to a pixel without atoms (see the module docstring).
    """

    od: np.ndarray
    valid: np.ndarray
    clipped: np.ndarray
    probe_counts: np.ndarray
    variance_factor: np.ndarray | None = None


def od_variance_factor(i_in: np.ndarray, i_out: np.ndarray, *, alpha: float = 1.0, isat_counts: float | None = None,
                       reference_noise_ratio: float = 1.0) -> np.ndarray:
    """Photon-noise variance of the OD relative to a pixel without atoms (see the module docstring).

    Parameters
    ----------
    i_in, i_out : ndarray
        Incoming and transmitted intensity in counts (``i_out`` at least one count).
    alpha, isat_counts
        As in :func:`optical_density`.
    reference_noise_ratio : float
        Variance of ``i_in`` relative to that of one frame of the same intensity (1: own probe frame).
    """
    inv_sat = 0.0 if isat_counts is None else 1.0 / isat_counts
    r = reference_noise_ratio
    d_in = alpha / i_in + inv_sat
    d_out = alpha / i_out + inv_sat
    return (i_out * d_out**2 + r * i_in * d_in**2) / ((1.0 + r) * i_in * d_in**2)


def photon_noise_od_variance(od: np.ndarray, *, probe_counts: float | np.ndarray, gain: float = 1.0,
                             read_noise_counts: float = 0.0) -> np.ndarray:
    """Expected variance of the OD ``ln(I_in / I_out)`` of a pixel (linearised), for a known camera.

    With ``I_out = probe_counts e^-OD`` and independent atoms, probe and dark frames, each with photon noise
    (variance ``gain * I``), read noise and rounding (``read_noise_counts^2 + 1/12``), the dark frame being subtracted
    from both::

        var = (g I_out + r^2) / I_out^2 + (g I_in + r^2) / I_in^2 + r^2 (1/I_out - 1/I_in)^2

    Used to compute Cramér–Rao bounds for simulated imaging (the workflow itself measures the noise level).
    """
    i_in = np.asarray(probe_counts, dtype=float)
    i_out = i_in * np.exp(-np.asarray(od, dtype=float))
    r2 = read_noise_counts**2 + 1.0 / 12.0
    return (gain * i_out + r2) / i_out**2 + (gain * i_in + r2) / i_in**2 + r2 * (1 / i_out - 1 / i_in) ** 2


def od_from_intensities(i_in: np.ndarray, i_out: np.ndarray, valid: np.ndarray, *, alpha: float = 1.0,
                        isat_counts: float | None = None, reference_noise_ratio: float = 1.0) -> ODResult:
    """Optical density from ``I_in`` and ``I_out`` (counts) on the ``valid`` pixels (see the module docstring)."""
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if isat_counts is not None and isat_counts <= 0:
        raise ValueError(f"isat_counts must be positive or None, got {isat_counts}")
    clipped = valid & (i_out < 1.0)
    every = bool(valid.all())  # (the common case: no masked pixel, no masked copies)
    i_out_safe = np.maximum(i_out, 1.0) if every else np.where(valid, np.maximum(i_out, 1.0), 1.0)
    i_in_safe = i_in if every else np.where(valid, i_in, 1.0)
    od = np.log(i_in_safe / i_out_safe)
    if alpha != 1.0:
        od *= alpha
    if isat_counts is not None:
        od += (i_in_safe - i_out_safe) / isat_counts
    factor = od_variance_factor(i_in_safe, i_out_safe, alpha=alpha, isat_counts=isat_counts,
                                reference_noise_ratio=reference_noise_ratio)
    if not every:
        od[~valid] = np.nan
        factor[~valid] = np.nan
    return ODResult(od=od, valid=valid, clipped=clipped, probe_counts=i_in, variance_factor=factor)


def optical_density(
    atoms: np.ndarray,
    probe: np.ndarray,
    dark: np.ndarray,
    *,
    alpha: float = 1.0,
    isat_counts: float | None = None,
    min_probe_counts: float = 10.0,
    saturation_counts: float | None = None,
) -> ODResult:
    """Optical density of one shot from its three frames (all in camera counts).

    Parameters
    ----------
    atoms, probe, dark : ndarray, shape (ny, nx)
        Frames with atoms and probe, probe only, and no light.
    alpha : float, keyword-only
        Reinaudi's dimensionless correction of the cross-section, >= 1 (1 for an ideal two-level atom).
    isat_counts : float or None, keyword-only
        Effective saturation intensity in counts per pixel per exposure; None omits the saturation term.
    min_probe_counts : float, keyword-only
        Pixels with ``probe - dark`` below this are masked (no probe light: OD is meaningless there).
    saturation_counts : float or None, keyword-only
        Raw counts at or above which a pixel of the atoms or probe frame is saturated and masked.

    Returns
    -------
    ODResult
    """
    atoms = np.asarray(atoms, dtype=np.float64)
    probe = np.asarray(probe, dtype=np.float64)
    dark = np.asarray(dark, dtype=np.float64)
    if not (atoms.shape == probe.shape == dark.shape) or atoms.ndim != 2:
        raise ValueError(
            f"atoms, probe and dark must be 2D frames of one shape; got {atoms.shape}, {probe.shape}, {dark.shape}"
        )
    i_in = probe - dark
    valid = _valid(i_in, atoms, probe, min_probe_counts, saturation_counts)
    return od_from_intensities(i_in, atoms - dark, valid, alpha=alpha, isat_counts=isat_counts)


def _valid(i_in, atoms, probe, min_probe_counts, saturation_counts) -> np.ndarray:
    """Enough probe light in the pixel and in its 5x5 neighbourhood (so that noise spikes in a dark region do not
    pass), and no camera saturation."""
    from scipy import ndimage

    valid = i_in >= min_probe_counts
    if not valid.all():  # (every pixel lit: every 5x5 mean is too)
        valid &= ndimage.uniform_filter(i_in, 5, mode="nearest") >= min_probe_counts
    if saturation_counts is not None:
        valid &= (atoms < saturation_counts) & (probe < saturation_counts)
    return valid


# --- region of interest -------------------------------------------------------------------------------------------

def grow_box(box: Box, factor: float, shape: tuple[int, int]) -> Box:
    """``box`` grown on each side by ``factor`` times its size, clipped to a frame of ``shape``."""
    r0, r1, c0, c1 = box
    dr = int(np.ceil(factor * (r1 - r0)))
    dc = int(np.ceil(factor * (c1 - c0)))
    return max(r0 - dr, 0), min(r1 + dr, shape[0]), max(c0 - dc, 0), min(c1 + dc, shape[1])


def find_roi(od: np.ndarray, *, valid: np.ndarray | None = None, margin: float = 0.3,
             smoothing_px: float = 2.0) -> Box:
    """The region of a (mean) OD image that holds the atoms: the first part of :func:`locate_run_cloud`."""
    return locate_run_cloud(od, valid=valid, margin=margin, smoothing_px=smoothing_px)[0]


def locate_run_cloud(od: np.ndarray, *, valid: np.ndarray | None = None, margin: float = 0.3,
                     smoothing_px: float = 2.0, n_shots: int = 1) -> tuple[Box, np.ndarray]:
    """The region of interest and the pixels where atoms may be, from a (mean) OD image (see the module docstring).

    The cloud is found by :func:`atompump.com.support.find_cloud` (any shape: lumps of one cloud are kept together,
    residual fringes are not taken for atoms); its extent (the cloud, its detectable wings and a margin) is where the
    run's atoms may be, which the fringe removal leaves out of its fit and the centre-of-mass stage takes as the
    run's cloud region. The ROI is the extent's bounding box grown by ``margin`` times its size on each side (room for
    the atom-free pixels that measure each shot's noise), clipped to the rows and columns that have probe light.

    Parameters
    ----------
    od : ndarray, shape (ny, nx)
        Optical density, NaN where masked (a mean over shots for a run).
    valid : ndarray of bool, optional
        Pixels to use (default: finite ``od``).
    margin : float
        Growth on each side in units of the extent's size.
    smoothing_px : float
        RMS width of the Gaussian smoothing, pixels.
    n_shots : int
        Shots averaged into ``od``: the extent's wings are those one shot can see (a mean of many shots shows faint
        wings in which no single shot holds measurable atoms, and would make the ROI, and the reduction, larger
        than needed).

    Returns
    -------
    roi : Box
    atoms : ndarray of bool, shape (ny, nx)
        The cloud's extent.

    Raises
    ------
    InputDataError
        No cloud stands out of the noise; give the ROI by hand (the stage names the config key).
    """
    from atompump.com.support import find_cloud

    od = np.asarray(od, dtype=np.float64)
    valid = np.isfinite(od) if valid is None else (np.asarray(valid, bool) & np.isfinite(od))
    if valid.sum() < 16:
        raise InputDataError("cannot find the region of interest: fewer than 16 pixels have probe light; "
                             "check the probe threshold (min_probe_counts) or give the region of interest by hand")
    support = find_cloud(od, valid, smoothing_px=smoothing_px, frame_edges=(False, False, False, False),
                         wing_noise_factor=float(np.sqrt(max(n_shots, 1))))
    if not support.region.any():
        raise InputDataError(f"cannot find the region of interest: no cloud stands out of the noise (peak OD "
                             f"{support.peak:.3g} above background, noise {support.noise:.3g}); give the region of "
                             "interest by hand")
    atoms = support.extent & valid
    rows, cols = np.flatnonzero(atoms.any(axis=1)), np.flatnonzero(atoms.any(axis=0))
    core = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    roi = grow_box(core, margin, od.shape)
    # no further than the lit part of the frame: an OD is not stored where there is no probe light
    lit_rows, lit_cols = np.flatnonzero(valid.mean(axis=1) > 0.2), np.flatnonzero(valid.mean(axis=0) > 0.2)
    roi = (max(roi[0], int(lit_rows[0])), min(roi[1], int(lit_rows[-1]) + 1),
           max(roi[2], int(lit_cols[0])), min(roi[3], int(lit_cols[-1]) + 1))
    log.info("region of interest: rows %d:%d, columns %d:%d (cloud with its wings %s)", *roi, core)
    return roi, support.extent


# --- fringe removal -----------------------------------------------------------------------------------------------

def gavish_donoho_rank(singular_values: np.ndarray, shape: tuple[int, int]) -> tuple[int, float]:
    """Number of singular values above the optimal hard threshold for unknown noise (Gavish & Donoho 2014).

    Parameters
    ----------
    singular_values : ndarray
        All singular values of an ``shape`` = (m, n) data matrix, in any order.

    Returns
    -------
    rank : int
        At least 1.
    threshold : float
        ``omega(beta) * median(singular_values)``.
    """
    m, n = shape
    beta = min(m, n) / max(m, n)
    omega = 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43
    s = np.asarray(singular_values, dtype=float)
    threshold = float(omega * np.median(s))
    return max(int(np.count_nonzero(s > threshold)), 1), threshold


@dataclass(frozen=True)
class FringeBasis:
    """A basis of probe images for fringe-free references (see the module docstring).

    Attributes
    ----------
    roi : Box
        Region of interest in frame pixels (the atoms; excluded from the fit; where the reference is evaluated).
    box : Box
        Frame pixels covered by the basis: the ROI grown by its size on each side.
    fit_mask : ndarray of bool, shape of ``box``
        Pixels of the fit (valid, outside the ROI).
    components : ndarray, shape (K, box rows, box columns), float32
        Basis images in counts; orthonormal on the fit region after weighting.
    weights : ndarray, shape of ``box``, float32
        ``1 / sqrt(mean probe counts)``.
    singular_values : ndarray, shape (M,)
        All singular values of the weighted probe frames on the fit region.
    threshold : float
        The Gavish–Donoho threshold that chose ``K``.
    n_frames : int
        Number ``M`` of probe frames the basis was built from.
    """

    roi: Box
    box: Box
    fit_mask: np.ndarray
    components: np.ndarray
    weights: np.ndarray
    singular_values: np.ndarray
    threshold: float
    n_frames: int

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    @property
    def reference_noise_ratio(self) -> float:
        """Variance of the reference relative to one probe frame: K / M (each component averages M frames)."""
        return self.n_components / self.n_frames

    def roi_in_box(self) -> tuple[slice, slice]:
        r0, _, c0, _ = self.box
        return slice(self.roi[0] - r0, self.roi[1] - r0), slice(self.roi[2] - c0, self.roi[3] - c0)

    def design(self) -> np.ndarray:
        """The weighted components on the fit region, shape (K, P): orthonormal rows."""
        return (self.components * self.weights)[:, self.fit_mask]

    def fit_index(self) -> np.ndarray:
        """Flat indices (in the box) of the fit region's pixels."""
        return np.flatnonzero(self.fit_mask.ravel())

    def plan(self, frame_shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> dict:
        """Everything :func:`reduce_shot` needs per shot, computed once for frames of ``frame_shape`` whose pixel
        (0, 0) is frame pixel ``origin``: flat indices of the fit pixels, their weights, the design matrix and the
        components over the ROI."""
        index = self.fit_index()
        cols = self.box[3] - self.box[2]
        frame_index = ((index // cols + self.box[0] - origin[0]) * frame_shape[1]
                       + index % cols + self.box[2] - origin[1])
        rows, cols_roi = self.roi_in_box()
        return {"frame_index": frame_index, "weights": np.take(self.weights, index).astype(np.float64),
                "design": self.design(), "roi_components": np.ascontiguousarray(self.components[:, rows, cols_roi]),
                "frame_shape": tuple(frame_shape), "origin": tuple(origin)}

    def reference(self, i_out_box: np.ndarray, usable: np.ndarray | None = None,
                  design: np.ndarray | None = None) -> np.ndarray:
        """The fringe-free reference over the ROI for transmitted light ``i_out_box`` (counts, shape of ``box``).

        ``usable`` marks the pixels of this shot that may enter the fit (default: all of the fit region); when
        some fit pixels are unusable (saturated), the coefficients are a least-squares fit on the rest.
        """
        index = self.fit_index()
        weighted = np.take(i_out_box, index) * np.take(self.weights, index)
        return self.reference_from_fit(weighted, None if usable is None else np.take(usable, index), design)

    def reference_from_fit(self, weighted: np.ndarray, usable: np.ndarray | None = None,
                           design: np.ndarray | None = None, roi_components: np.ndarray | None = None) -> np.ndarray:
        """The reference over the ROI from the weighted transmitted light on the fit pixels (see :meth:`reference`)."""
        if design is None:
            design = self.design()
        if usable is None or usable.all():
            coefficients = design @ weighted
        else:
            coefficients = np.linalg.lstsq(design[:, usable].T, weighted[usable], rcond=None)[0]
        if roi_components is None:
            rows, cols = self.roi_in_box()
            roi_components = self.components[:, rows, cols]
        return np.tensordot(coefficients, roi_components, axes=1)


def build_fringe_basis(probes: np.ndarray, *, roi: Box, box: Box, valid: np.ndarray,
                       n_components: int | None = None, atoms: np.ndarray | None = None,
                       max_fit_pixels: int = 20000) -> FringeBasis:
    """Basis for fringe removal from ``M`` dark-subtracted probe frames cut to ``box``.

    Parameters
    ----------
    probes : ndarray, shape (M, box rows, box columns)
        ``probe - dark`` of the sampled shots, counts (float32 keeps the memory at 4 M bytes per box pixel).
    roi, box : Box
        Region of interest and the basis region, in frame pixels (``roi`` inside ``box``).
    valid : ndarray of bool, shape of ``box``
        Pixels with probe light and no saturation in every sampled frame.
    n_components : int, optional
        Number of components; None chooses it automatically (Gavish–Donoho, see the module docstring).
    atoms : ndarray of bool, shape of ``box``, optional
        Pixels where the run's atoms may be (:func:`locate_run_cloud`), excluded from the fit; default: the whole ROI.
    max_fit_pixels : int
        At most this many fit pixels, spread evenly over the fit region (a few components need far fewer pixels than
        a large region has: the reference's own noise from the fit, ``K/P`` of a pixel's variance, stays below
        ``1e-3``, and the reduction stays fast).

    Raises
    ------
    InputDataError
        Fewer than 2 frames, or too few fit pixels outside the ROI.
    ParameterError
        ``n_components`` outside 1..(number of frames).
    """
    probes = np.asarray(probes)
    if probes.dtype not in (np.float32, np.float64):
        probes = probes.astype(np.float32)
    m = probes.shape[0]
    if m < 2:
        raise InputDataError(f"fringe removal needs at least 2 probe frames, got {m}; add shots or do without "
                             "fringe removal")
    rows = slice(roi[0] - box[0], roi[1] - box[0])
    cols = slice(roi[2] - box[2], roi[3] - box[2])
    fit_mask = np.asarray(valid, bool).copy()
    if atoms is None:
        fit_mask[rows, cols] = False
    else:
        fit_mask &= ~np.asarray(atoms, bool)
    n_fit = int(fit_mask.sum())
    if n_fit > max_fit_pixels:  # every k-th fit pixel: the K coefficients need far fewer pixels than a large box has
        keep = np.zeros(n_fit, bool)
        keep[np.round(np.linspace(0, n_fit - 1, max_fit_pixels)).astype(int)] = True
        thinned = np.zeros(fit_mask.size, bool)
        thinned[np.flatnonzero(fit_mask.ravel())[keep]] = True
        fit_mask = thinned.reshape(fit_mask.shape)
        n_fit = max_fit_pixels
    if n_fit < max(4 * m, 64):
        raise InputDataError(f"fringe removal: only {n_fit} valid pixels lie outside the region of interest "
                             f"{list(roi)} (need {max(4 * m, 64)}); give a smaller region of interest or do without "
                             "fringe removal")
    mean = probes.mean(axis=0, dtype=np.float64)
    weights = 1.0 / np.sqrt(np.maximum(mean, 1.0))
    # Gram matrix of the weighted frames on the fit region, in float64, a block of pixels at a time (memory: the
    # frames themselves, M x box pixels, plus one block)
    flat = probes.reshape(m, -1)
    fit_index = np.flatnonzero(fit_mask.ravel())
    w_fit = weights.ravel()[fit_index]
    gram = np.zeros((m, m))
    for start in range(0, fit_index.size, 65536):
        block = flat[:, fit_index[start:start + 65536]].astype(np.float64) * w_fit[start:start + 65536]
        gram += block @ block.T
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    singular = np.sqrt(np.clip(eigenvalues[order], 0.0, None))
    u = eigenvectors[:, order]
    rank, threshold = gavish_donoho_rank(singular, (m, n_fit))
    k = rank if n_components is None else int(n_components)
    if not 1 <= k <= m:
        raise ParameterError(f"{{n_components}} = {k} must lie in 1..{m} (the number of probe frames)",
                             parameters=("n_components",))
    components = np.tensordot((u[:, :k].T / singular[:k, None]).astype(probes.dtype), probes, axes=1)
    components = components.astype(np.float32)
    log.info("fringe basis: %d of %d components above the Gavish-Donoho threshold %.4g (%d fit pixels)", rank, m,
             threshold, n_fit)
    return FringeBasis(roi=tuple(int(v) for v in roi), box=tuple(int(v) for v in box), fit_mask=fit_mask,
                       components=components, weights=weights.astype(np.float32), singular_values=singular,
                       threshold=threshold, n_frames=m)


def reduce_shot(atoms: np.ndarray, probe: np.ndarray, dark: np.ndarray, *, roi: Box, origin: tuple[int, int] = (0, 0),
                basis: FringeBasis | None = None, alpha: float = 1.0, isat_counts: float | None = None,
                min_probe_counts: float = 10.0, saturation_counts: float | None = None,
                plan: dict | None = None) -> ODResult:
    """Optical density of one shot inside its region of interest, with the fringe-free reference if a basis is given.

    Parameters
    ----------
    atoms, probe, dark : ndarray
        Frames (counts), either whole or cut to a region starting at frame pixel ``origin`` (row, column) that
        contains ``roi`` and, with a basis, ``basis.box``.
    roi : Box
        Region of interest in frame pixels.
    basis : FringeBasis, optional
        Fringe-removal basis; None uses the shot's own probe frame as the reference.
    alpha, isat_counts, min_probe_counts, saturation_counts
        As in :func:`optical_density`.
    plan : dict, optional
        ``basis.plan(frame shape, origin)``, computed once per batch for speed.

    Returns
    -------
    ODResult
        Over the ROI, with ``variance_factor`` for the reference used.
    """
    oy, ox = origin

    def cut(frame: np.ndarray, region: Box) -> np.ndarray:
        return frame[region[0] - oy:region[1] - oy, region[2] - ox:region[3] - ox]

    a_roi, p_roi, d_roi = (np.asarray(cut(f, roi), dtype=np.float64) for f in (atoms, probe, dark))
    i_out = a_roi - d_roi
    own_probe = p_roi - d_roi
    valid = _valid(own_probe, a_roi, p_roi, min_probe_counts, saturation_counts)
    if basis is None:
        return od_from_intensities(own_probe, i_out, valid, alpha=alpha, isat_counts=isat_counts)
    if plan is None or plan["frame_shape"] != np.shape(atoms) or plan["origin"] != (oy, ox):
        plan = basis.plan(np.shape(atoms), (oy, ox))
    a_fit = np.take(atoms, plan["frame_index"])  # the fit pixels only
    usable = None if saturation_counts is None else a_fit < saturation_counts
    weighted = (a_fit - np.take(dark, plan["frame_index"])) * plan["weights"]
    i_in = basis.reference_from_fit(weighted, usable, plan["design"], plan["roi_components"])
    valid &= i_in >= min_probe_counts
    return od_from_intensities(i_in, i_out, valid, alpha=alpha, isat_counts=isat_counts,
                               reference_noise_ratio=basis.reference_noise_ratio)
