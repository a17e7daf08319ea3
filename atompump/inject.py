"""Injection of a known cloud into a lab's own frames: a run with a truth, on the lab's own camera.

A lab calibrates the analysis on its camera before it trusts a result: it takes one of its runs (light and dark
frames, any supported format, read through :mod:`atompump.io.shots`), and :func:`inject_run` writes a NEW run
folder exactly like the simulator writes one (:class:`atompump.simulate.formats.RunWriter`: ``manifest.csv`` +
single-frame TIFFs, and ``truth.json`` with the simulator's keys), in which a cloud of known shape moves by a
chosen ``nu`` long-lattice periods per pump cycle. The workflow then analyses it like any run and reports the bias,
the pulls and the efficiency of every estimator against the truth (``results/fit/recovery.json``).

The cloud (:class:`GaussianCloud`, :class:`ThomasFermiCloud`, :class:`ODImageCloud`)
    An optical density (OD) per pixel, averaged over each pixel (5 x 5 sub-pixel samples; the Gaussian exactly),
    optionally blurred by a Gaussian point-spread function. ``od_image`` takes a measured OD image (e.g. an
    oqtant-insitu JSON image): its background (median OD outside the cloud) is subtracted, the cloud is found as the
    pixels whose OD, smoothed over 2 pixels RMS, exceeds ``threshold`` times the peak, the image is tapered to zero
    over ``taper_um`` outside them (a raised cosine of the distance from the cloud: the image's own noise floor is
    not injected over the whole frame), and it is resampled (cubic spline, area-averaged over each target pixel)
    onto the target pixels, keeping its physical size.

Positions (per shot, in acquisition order)
    ``x = x0 + direction * nu * dl * cycle + jitter`` along the pump axis and ``y = y0 + jitter`` across it
    (Gaussian jitters of RMS ``position_jitter_um`` and ``transverse_jitter_um``), ``(x0, y0)`` the centre of the
    written frames unless given. Reference shots (``cycle = 0``) sit at ``x0``. The design (which shots, their
    order) is :func:`atompump.simulate.design.design_shots`. The truth ``x_true_um`` is the first moment along the
    pump axis of the noise-free injected OD, in um from pixel 0 of the written frames (pixel i centred at
    ``i * pixel_size_um``): the convention of ``x_com_um`` in ``com.nc``. ``nu_true`` is the configured ``nu``
    (rigid motion).

Absorption (:func:`absorb`)
    A source light frame ``L`` (counts) over the mean dark level ``B`` (mean of the run's dark frames, pixel by
    pixel) carries the light ``I = L - B``; its local mean ``Ī`` (the mean of the 8 neighbours of the pixel: the
    3 x 3 box without the pixel itself, so that ``Ī`` does not share the pixel's noise) is the light the atoms
    absorb. The transmission ``T = I_out(Ī, OD) / Ī`` follows Reinaudi's saturated Beer--Lambert law
    ``OD = alpha ln(Ī / I_out) + (Ī - I_out) / I_sat`` (:func:`atompump.simulate.imaging.transmitted_intensity`,
    the simulator's model), and the atoms frame is ``B + T (L - B)`` plus Gaussian noise of variance ::

        g (T - T^2) Ī + r^2 (1 - T^2) - (T' - T)^2 (g Ī + r^2) / 8

    the photon and read noise a dimmer exposure has and the scaled frame lacks (the source frame's noise scales by
    ``T``, real noise by ``sqrt(T)``: ``T^2 (g Ī + r^2) + added = g T Ī + r^2``), less what the noise of ``Ī``
    itself brings through the saturation term (``T' = dI_out/dI_in = (alpha + s) T / (alpha + s T)``,
    ``s = Ī / I_sat``; ``T' = T`` without saturation), with the effective gain ``g`` and read noise ``r`` of the
    camera measured from the run itself (:mod:`atompump.camera`) or given; then rounded to counts and clipped to
    the camera's range. Pixels without atoms keep the source frame untouched. Where the OD is
    negative (the noise of an ``od_image``), ``T > 1`` and no noise can be taken away: those pixels get none added
    (counted in ``truth.json``). The added noise is Gaussian: its variance is right, not the shape of an EMCCD's
    output distribution.

Which frames (``frames``)
    A lab's atoms frame is never in its own fringe basis (the basis is built from the run's probe frames), so an
    injected atoms frame must not be a frame that is also a probe frame of the injected run.

    ``'split'`` (default): the source shots that can be read are split, in run order, into two disjoint pools:
    even positions give *atoms-sources*, odd ones *probe-sources*. Each injected shot takes the probe frame of one
    atoms-source (absorbed: it becomes the atoms frame) with that shot's dark frame, and the probe frame of one
    probe-source. The source's atoms frames are not used (they hold the lab's atoms). A source run of N usable
    shots gives floor(N/2) injected shots without reuse.

    ``'blank'``: each source shot gives its own atoms frame (absorbed), probe and dark frame, cut to ``region``,
    where its atoms frame must be free of atoms (a lab's blank shots, or an atom-free part of the frame such as rows
    0:230 of banik-ring-dev). The atoms and probe exposures of one shot are closest in time, as in a real shot; N
    source shots give N injected shots without reuse.

    In both modes the pools are used in an order drawn from the seed. A design with more shots than the pools
    stops with a message unless ``allow_reuse``: then the pools are cycled through, a reused atoms-source carries
    the same camera noise and fringes under a cloud at another position (the shots sharing it are not independent),
    and a reused probe-source puts identical frames into the run's fringe basis, which no real run has (the
    basis's smallest singular values vanish). Injected runs for a calibration should not reuse frames: take more
    source shots, or several injected runs with different seeds.

Random draws, in this order from ``np.random.default_rng(seed)``: the order of the atoms-source pool, (split)
the order of the probe-source pool; then per shot in acquisition order the jitter along, the jitter across, and
the noise of its atoms frame. The design's random order uses its own stream (``design_shots``). Same source run
and parameters, same bytes.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from atompump._logging import Progress
from atompump.camera import CameraNoise, estimate_camera_noise
from atompump.errors import InputDataError, ParameterError, literal
from atompump.io.atomic import to_jsonable, write_json
from atompump.io.manifest import ShotRecord
from atompump.io.shots import check_shots, read_shot, run_shots
from atompump.simulate.design import ORDERS, design_shots
from atompump.simulate.formats import RunWriter
from atompump.simulate.imaging import gaussian_column_density, transmitted_intensity

__all__ = ["CLOUD_SHAPES", "FRAME_MODES", "GaussianCloud", "InjectionParams", "ODImageCloud", "ThomasFermiCloud",
           "absorb", "first_moments_um", "inject_run", "load_od_image_cloud", "measure_camera_noise"]

log = logging.getLogger(__name__)

CLOUD_SHAPES = ("gaussian", "thomas_fermi", "od_image")
FRAME_MODES = ("split", "blank")
_SUPERSAMPLE = 5
_SMOOTH_PX = 2.0
_LIGHT_BOX = 3
_EDGE_FRACTION = 0.01


# ----------------------------------------------------------------------------------------------- clouds
def _render_supersampled(func, shape: tuple[int, int], *, centre_um: tuple[float, float],
                         extent_um: tuple[tuple[float, float], tuple[float, float]], pixel_size_um: float,
                         blur_um: float) -> np.ndarray:
    """OD per pixel of a frame ``shape = (n_across, n_along)`` from ``func(du, dv)`` (OD at offsets from the centre,
    um): sampled on 5 x 5 sub-pixels over the box ``centre + extent`` (plus 4 blur RMS), blurred, averaged."""
    n_across, n_along = shape
    p, s = pixel_size_um, _SUPERSAMPLE
    margin = 4.0 * blur_um + p
    (a_lo, a_hi), (c_lo, c_hi) = extent_um
    i0 = max(int(math.floor((centre_um[0] + a_lo - margin) / p)), 0)
    i1 = min(int(math.ceil((centre_um[0] + a_hi + margin) / p)) + 1, n_along)
    j0 = max(int(math.floor((centre_um[1] + c_lo - margin) / p)), 0)
    j1 = min(int(math.ceil((centre_um[1] + c_hi + margin) / p)) + 1, n_across)
    out = np.zeros(shape)
    if i0 >= i1 or j0 >= j1:
        return out
    sub = (np.arange(s) - 0.5 * (s - 1)) / s
    u = ((np.arange(i0, i1)[:, None] + sub).ravel()) * p - centre_um[0]
    v = ((np.arange(j0, j1)[:, None] + sub).ravel()) * p - centre_um[1]
    image = func(u[None, :], v[:, None])
    if blur_um > 0:
        image = ndimage.gaussian_filter(image, blur_um * s / p, mode="constant")
    out[j0:j1, i0:i1] = image.reshape(j1 - j0, s, i1 - i0, s).mean(axis=(1, 3))
    return out


@dataclass(frozen=True)
class GaussianCloud:
    """A Gaussian cloud: ``OD = peak_od exp(-u^2 / 2 s_a^2 - v^2 / 2 s_c^2)``, pixel-averaged exactly.

    ``sigma_um = (along, across)`` RMS sizes in um; ``blur_um`` an extra Gaussian blur (adds in quadrature).
    """

    sigma_um: tuple[float, float] = (8.0, 4.0)
    peak_od: float = 1.0
    blur_um: float = 0.0

    def __post_init__(self) -> None:
        if min(self.sigma_um) <= 0:
            raise ParameterError(f"the sizes {{sigma_um}} must be positive, got {list(self.sigma_um)}",
                                 parameters=("sigma_um",))

    def render(self, shape: tuple[int, int], *, centre_um: tuple[float, float], pixel_size_um: float) -> np.ndarray:
        """OD of each pixel of a frame ``shape = (n_across, n_along)`` (columns along the pump axis), the cloud
        centred at ``centre_um = (along, across)`` um from pixel 0."""
        sa, sc = (math.hypot(s, self.blur_um) for s in self.sigma_um)
        peak = self.peak_od * self.sigma_um[0] * self.sigma_um[1] / (sa * sc)
        return gaussian_column_density(shape, atom_number=peak * 2.0 * math.pi * sa * sc, centre_um=centre_um,
                                       sigma_um=(sa, sc), pixel_size_um=pixel_size_um)

    def spec(self) -> dict:
        return {"shape": "gaussian", **asdict(self)}


@dataclass(frozen=True)
class ThomasFermiCloud:
    """The column density of a 3D Thomas--Fermi cloud, ``OD = peak_od max(0, 1 - u^2/R_a^2 - v^2/R_c^2)^(3/2)``,
    blurred by a Gaussian point-spread function of RMS ``blur_um`` (the imaging resolution)."""

    radius_um: tuple[float, float] = (15.0, 6.0)
    peak_od: float = 1.0
    blur_um: float = 0.0

    def __post_init__(self) -> None:
        if min(self.radius_um) <= 0:
            raise ParameterError(f"the radii {{radius_um}} must be positive, got {list(self.radius_um)}",
                                 parameters=("radius_um",))

    def render(self, shape: tuple[int, int], *, centre_um: tuple[float, float], pixel_size_um: float) -> np.ndarray:
        """See :meth:`GaussianCloud.render`."""
        ra, rc = self.radius_um

        def od(u, v):
            return self.peak_od * np.maximum(1.0 - (u / ra) ** 2 - (v / rc) ** 2, 0.0) ** 1.5

        return _render_supersampled(od, shape, centre_um=centre_um, extent_um=((-ra, ra), (-rc, rc)),
                                    pixel_size_um=pixel_size_um, blur_um=self.blur_um)

    def spec(self) -> dict:
        return {"shape": "thomas_fermi", **asdict(self)}


@dataclass(frozen=True)
class ODImageCloud:
    """A cloud of measured shape: a cleaned OD template (see :func:`load_od_image_cloud`) on its own pixels.

    Attributes
    ----------
    template : ndarray, shape (n_across, n_along)
        Background-subtracted, tapered OD; columns along the pump axis.
    pixel_size_um : float
        The template's pixel size (object plane).
    centre_px : (along, across)
        The template's first moments, in its pixels: the point placed at the shot's position.
    blur_um : float
        Extra Gaussian blur (RMS um).
    info : dict
        Where the template came from and how it was cleaned (for truth.json).
    """

    template: np.ndarray
    pixel_size_um: float
    centre_px: tuple[float, float]
    blur_um: float = 0.0
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        padded = np.pad(np.asarray(self.template, dtype=float), 4)
        object.__setattr__(self, "_coefficients", ndimage.spline_filter(padded, order=3))

    def render(self, shape: tuple[int, int], *, centre_um: tuple[float, float], pixel_size_um: float) -> np.ndarray:
        """See :meth:`GaussianCloud.render`; the template is resampled with a cubic spline, area-averaged."""
        p = self.pixel_size_um
        ca, cc = self.centre_px
        n_c, n_a = self.template.shape
        coefficients = self._coefficients  # type: ignore[attr-defined]

        def od(u, v):
            rows = np.broadcast_to(cc + 4 + v / p, np.broadcast_shapes(u.shape, v.shape))
            cols = np.broadcast_to(ca + 4 + u / p, rows.shape)
            return ndimage.map_coordinates(coefficients, [rows, cols], order=3, prefilter=False, mode="constant",
                                           cval=0.0)

        extent = (((-0.5 - ca) * p, (n_a - 0.5 - ca) * p), ((-0.5 - cc) * p, (n_c - 0.5 - cc) * p))
        return _render_supersampled(od, shape, centre_um=centre_um, extent_um=extent, pixel_size_um=pixel_size_um,
                                    blur_um=self.blur_um)

    def spec(self) -> dict:
        return {"shape": "od_image", "pixel_size_um": self.pixel_size_um, "blur_um": self.blur_um,
                "template_shape": list(self.template.shape), "template_peak_od": float(np.max(self.template)),
                **self.info}


def load_od_image_cloud(od: np.ndarray, *, pixel_size_um: float, threshold: float = 0.1, taper_um: float = 2.0,
                        peak_od: float | None = None, transpose: bool = False, blur_um: float = 0.0,
                        source: str = "") -> ODImageCloud:
    """Clean a measured OD image into an injectable cloud (see the module docstring).

    Parameters
    ----------
    od : ndarray, shape (rows, columns)
        The OD image (NaN: no data, treated as background). Columns lie along the pump axis unless ``transpose``.
    pixel_size_um : float, keyword-only
        Its pixel size in the object plane, um.
    threshold : float, keyword-only
        The cloud: pixels whose OD smoothed over 2 pixels RMS exceeds ``threshold`` times the smoothed peak (each
        connected part must reach twice that, so noise bumps just above the threshold are not taken).
    taper_um : float, keyword-only
        Width of the raised-cosine taper outside the cloud, um.
    peak_od : float or None, keyword-only
        Scale the template so that its smoothed peak is ``peak_od``; None keeps the image's own OD.
    transpose : bool, keyword-only
        Rows of the image along the pump axis.
    blur_um : float, keyword-only
        Extra Gaussian blur applied when rendering, RMS um.
    source : str, keyword-only
        Where the image came from (recorded).

    Raises
    ------
    InputDataError
        The image is not 2D, or holds no cloud (its smoothed peak is not above the background).
    """
    image = np.asarray(od, dtype=float)
    if image.ndim != 2:
        raise InputDataError(f"{source or 'OD image'}: expected a 2D optical-density image, got shape {image.shape}")
    if transpose:
        image = image.T
    if not np.isfinite(image).any():
        raise InputDataError(f"{source or 'OD image'}: no finite pixels")
    image = np.where(np.isfinite(image), image, np.nanmedian(image))
    smooth = ndimage.gaussian_filter(image, _SMOOTH_PX)
    background = 0.0
    for _ in range(2):  # background outside the cloud, then the cloud above that background
        peak = float(smooth.max() - background)
        cloud = smooth - background > threshold * peak
        outside = ~ndimage.binary_dilation(cloud, iterations=int(math.ceil(3 * _SMOOTH_PX)))
        if peak <= 0 or not outside.any():
            raise InputDataError(f"{source or 'OD image'}: no cloud found (the smoothed OD has no peak above the "
                                 "background, or the cloud fills the image)")
        background = float(np.median(image[outside]))
    peak = float(smooth.max() - background)
    labels, n = ndimage.label(smooth - background > threshold * peak)
    tops = ndimage.maximum(smooth - background, labels, index=np.arange(1, n + 1))
    cloud = np.isin(labels, 1 + np.flatnonzero(np.asarray(tops) >= 2 * threshold * peak))
    distance = ndimage.distance_transform_edt(~cloud) * pixel_size_um
    taper = np.where(distance < taper_um, 0.5 * (1.0 + np.cos(np.pi * distance / max(taper_um, 1e-12))), 0.0)
    taper[cloud] = 1.0
    rows, cols = np.nonzero(taper > 0)
    if rows.min() == 0 or cols.min() == 0 or rows.max() == image.shape[0] - 1 or cols.max() == image.shape[1] - 1:
        log.warning("%s: the cloud (with its taper) reaches the edge of the image; the template is cut there",
                    source or "OD image")
    box = (slice(max(rows.min() - 1, 0), rows.max() + 2), slice(max(cols.min() - 1, 0), cols.max() + 2))
    template = ((image - background) * taper)[box]
    if peak_od is not None:
        template = template * (peak_od / peak)
    total = template.sum()
    yy, xx = np.indices(template.shape)
    centre = (float((template * xx).sum() / total), float((template * yy).sum() / total))
    info = {"source": source, "threshold": threshold, "taper_um": taper_um, "transpose": transpose,
            "background_od": background, "image_peak_od": peak, "peak_od": peak_od,
            "crop": [int(box[0].start), int(box[0].stop), int(box[1].start), int(box[1].stop)],
            "cloud_pixels": int(cloud.sum())}
    return ODImageCloud(template=template, pixel_size_um=pixel_size_um, centre_px=centre, blur_um=blur_um, info=info)


def first_moments_um(od: np.ndarray, *, pixel_size_um: float) -> tuple[float, float]:
    """First moments ``(along, across)`` in um of an OD image ``(n_across, n_along)``, pixel i at ``i * pixel``."""
    total = od.sum()
    along = float((od.sum(axis=0) * np.arange(od.shape[1])).sum() / total) * pixel_size_um
    across = float((od.sum(axis=1) * np.arange(od.shape[0])).sum() / total) * pixel_size_um
    return along, across


# ----------------------------------------------------------------------------------------------- absorption
def absorb(light: np.ndarray, od: np.ndarray, *, dark_level: np.ndarray | float, camera: CameraNoise,
           alpha: float = 1.0, isat_counts: float | None = None, rng: np.random.Generator | None = None,
           full_well_counts: int = 65535) -> tuple[np.ndarray, int]:
    """The atoms frame a light frame would have been with atoms of optical density ``od`` in front of the camera.

    Parameters
    ----------
    light : ndarray, shape (ny, nx)
        A light frame without atoms (counts).
    od : ndarray, shape (ny, nx)
        The atoms' OD (Reinaudi's definition: ``sigma_0 n``).
    dark_level : ndarray or float
        Mean dark level (counts), pixel by pixel or one value.
    camera : CameraNoise
        Effective gain ``g`` and read noise ``r`` of the camera.
    alpha, isat_counts : keyword-only
        Reinaudi's correction and the saturation intensity (counts per pixel per exposure; None: no saturation).
    rng : numpy Generator or None, keyword-only
        Source of the added noise; None adds none (the source frame's own noise is still scaled by ``T``).
    full_well_counts : int, keyword-only
        The camera's largest count.

    Returns
    -------
    frame : ndarray, shape (ny, nx), float64
        ``B + T (L - B)`` plus Gaussian noise of variance ``g (T - T^2) Ī + r^2 (1 - T^2) - (T' - T)^2 (g Ī + r^2)
        / 8``, rounded and clipped to ``[0, full_well_counts]``; ``T = I_out(Ī, OD) / Ī`` with ``Ī`` the mean of
        ``L - B`` over the pixel's 8 neighbours, ``T'`` the slope ``dI_out/dI_in`` (see the module docstring).
    n_excess : int
        Pixels with ``T > 1`` (negative OD), where the scaled source noise already exceeds a real frame's and none
        is added.
    """
    light = np.asarray(light, dtype=float)
    od = np.asarray(od, dtype=float)
    level = np.broadcast_to(np.asarray(dark_level, dtype=float), light.shape)
    above = light - level
    n = _LIGHT_BOX**2
    mean_in = (ndimage.uniform_filter(above, _LIGHT_BOX, mode="reflect") * n - above) / (n - 1)
    sel = (od != 0) & (mean_in > 0)
    out = light.copy()
    i_in = mean_in[sel]
    t = transmitted_intensity(i_in, od[sel], alpha=alpha, isat_counts=isat_counts) / i_in
    values = level[sel] + t * above[sel]
    n_excess = int(np.count_nonzero(t > 1.0))
    if rng is not None:
        s = 0.0 if isat_counts is None else i_in / isat_counts
        slope = (alpha + s) * t / (alpha + s * t)  # dI_out / dI_in at fixed OD
        photon = camera.gain * i_in + camera.read_noise_counts**2
        variance = (camera.gain * (t - t * t) * i_in + camera.read_noise_counts**2 * (1.0 - t * t)
                    - (slope - t) ** 2 * photon / (n - 1))
        values = values + np.sqrt(np.maximum(variance, 0.0)) * rng.standard_normal(values.size)
    out[sel] = values
    return np.clip(np.rint(out), 0, full_well_counts), n_excess


# ----------------------------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class InjectionParams:
    """What to inject and how (see ``config/README.md``, section ``injection``). Lengths in um.

    ``cloud`` is a :class:`GaussianCloud`, :class:`ThomasFermiCloud` or :class:`ODImageCloud`. ``region``
    (row_start, row_stop, col_start, col_stop) cuts the written frames from the source frames (None: whole frames;
    required for ``frames='blank'``). ``gain``/``read_noise_counts`` None: measured from the source run.

    No field has a default: the config's schema holds them, and
    :func:`atompump.stages.inject.injection_params_from_config` builds the parameters from a partial config.
    """

    cloud: Any
    pixel_size_um: float
    nu: float
    dl_um: float
    cycles: tuple[float, ...]
    directions: tuple[int, ...]
    repeats: int
    references: bool
    order: str
    seed: int
    position_jitter_um: float
    transverse_jitter_um: float
    centre_um: tuple[float, float] | None
    pump_axis: str
    alpha: float
    isat_counts: float | None
    cross_section_um2: float
    frames: str
    region: tuple[int, int, int, int] | None
    allow_reuse: bool
    gain: float | None
    read_noise_counts: float | None
    noise_pairs: int
    max_dark_frames: int
    full_well_counts: int

    def __post_init__(self) -> None:
        if self.frames not in FRAME_MODES:
            raise ParameterError(f"{{frames}} = {self.frames!r} is not allowed; allowed values: {list(FRAME_MODES)}",
                                 parameters=("frames",))
        if self.frames == "blank" and self.region is None:
            raise ParameterError("{region} is required with {frames}: blank (the part of every source frame that "
                                 "holds no atoms, [row_start, row_stop, col_start, col_stop])",
                                 parameters=("region", "frames"))
        if self.order not in ORDERS:
            raise ParameterError(f"{{order}} = {self.order!r} is not allowed; allowed values: {list(ORDERS)}",
                                 parameters=("order",))
        if self.pump_axis not in ("x", "y"):
            raise ParameterError(f"{{pump_axis}} = {self.pump_axis!r} is not allowed; allowed: x, y",
                                 parameters=("pump_axis",))
        if self.region is not None:
            r0, r1, c0, c1 = self.region
            if not (0 <= r0 < r1 and 0 <= c0 < c1):
                raise ParameterError(f"{{region}} = {list(self.region)} is not a region; give "
                                     "[row_start, row_stop, col_start, col_stop] with start < stop",
                                     parameters=("region",))

    def design(self) -> list[dict[str, object]]:
        """The acquisition sequence (:func:`atompump.simulate.design.design_shots`)."""
        return design_shots(cycles=self.cycles, directions=self.directions, repeats=self.repeats,
                            references=self.references, order=self.order, seed=self.seed)


@dataclass
class _Source:
    """The usable shots of the source run, the pools, the frame region and the mean dark level."""

    records: list[ShotRecord]
    skipped: list[tuple[str, str]]
    atoms_pool: list[ShotRecord]
    probe_pool: list[ShotRecord]
    region: tuple[int, int, int, int]
    dark_level: np.ndarray
    n_dark_frames: int


def _describe_source(data: Mapping[str, Any]) -> str:
    return str(data.get("manifest") or data.get("shots") or "the source run")


def _open_source(data: Mapping[str, Any], params: InjectionParams) -> _Source:
    records, shape = check_shots(run_shots(data))
    where = _describe_source(data)
    good = [r for r in records if not r.problem]
    skipped = [(r.shot, r.problem) for r in records if r.problem]
    for shot, problem in skipped:
        log.warning("source shot %s is not used: %s", shot, problem)
    need = 4 if params.frames == "split" else 2
    if len(good) < need:
        raise ParameterError(literal(
            f"{where}: {len(good)} usable shot(s) of {len(records)}; ") + f"{{frames}}: {params.frames} needs at "
            f"least {need} ({'2 atoms-sources and 2 probe-sources' if need == 4 else 'two shots'}). "
            + (literal(f"Problems: {'; '.join(f'{s}: {p}' for s, p in skipped[:3])}") if skipped
               else "Add shots to the run."), parameters=("frames",))
    ny, nx = shape
    region = params.region or (0, ny, 0, nx)
    r0, r1, c0, c1 = region
    if not (r1 <= ny and c1 <= nx):
        raise ParameterError(f"{{region}} = {list(region)} is not inside the source frames of {ny} rows x {nx} "
                             f"columns ({literal(where)})", parameters=("region",))
    if params.frames == "split":
        atoms_pool, probe_pool = good[0::2], good[1::2]
    else:
        atoms_pool, probe_pool = good, good
    n = len(params.design())
    pool = min(len(atoms_pool), len(probe_pool))
    if not params.allow_reuse and n > pool:
        raise ParameterError(
            f"{literal(where)}: the injected run has {n} shots but the source's {len(good)} usable shots give "
            f"{pool} without reuse ({{frames}}: {params.frames}: {len(atoms_pool)} atoms-sources, "
            f"{len(probe_pool)} probe-sources); use fewer {{cycles}}/{{directions}}/{{repeats}}, a longer source "
            "run, or set {allow_reuse}: true",
            parameters=("allow_reuse", "frames", "cycles", "directions", "repeats"))
    picks = np.unique(np.round(np.linspace(0, len(good) - 1, min(len(good), params.max_dark_frames))).astype(int))
    total = np.zeros((r1 - r0, c1 - c0))
    for i in picks:
        total += read_shot(good[i], region=region).dark
    return _Source(records=good, skipped=skipped, atoms_pool=atoms_pool, probe_pool=probe_pool, region=region,
                   dark_level=total / picks.size, n_dark_frames=int(picks.size))


def _source_camera_noise(source: _Source, params: InjectionParams) -> CameraNoise:
    """The camera's gain and read noise: given, or measured (:func:`atompump.camera.estimate_camera_noise`).

    Split mode: pairs of probe frames of consecutive usable source shots (fringes that changed between the shots
    leak slightly through the high-pass: +1.7 % on banik-ring-dev); blank mode: the atoms and probe frame of each
    shot over ``region``. Up to ``noise_pairs`` pairs, and the dark frames of up to ``noise_pairs + 1`` shots.
    """
    if params.gain is not None and params.read_noise_counts is not None:
        return CameraNoise(gain=float(params.gain), read_noise_counts=float(params.read_noise_counts), method="given")
    records, region = source.records, source.region
    k = params.noise_pairs
    darks = [read_shot(r, region=region).dark for r in records[:k + 1]]

    def pairs():
        if params.frames == "split":
            for a, b in zip(records[0:2 * k:2], records[1:2 * k:2]):
                yield read_shot(a, region=region).probe, read_shot(b, region=region).probe
        else:
            for r in records[:k]:
                frames = read_shot(r, region=region)
                yield frames.atoms, frames.probe

    measured = estimate_camera_noise(pairs(), darks, dark_level=source.dark_level,
                                     saturation_counts=params.full_well_counts)
    if params.gain is not None:
        measured = replace(measured, gain=float(params.gain), method="gain given")
    if params.read_noise_counts is not None:
        measured = replace(measured, read_noise_counts=float(params.read_noise_counts), method="read noise given")
    return measured


def measure_camera_noise(data: Mapping[str, Any], params: InjectionParams) -> CameraNoise:
    """The camera noise :func:`inject_run` would use for the lab's run ``data`` (measured unless ``params`` gives
    it): :func:`_source_camera_noise` of the run's usable shots."""
    return _source_camera_noise(_open_source(data, params), params)


def _counts(frame: np.ndarray, full_well: int) -> np.ndarray:
    return np.clip(np.rint(frame), 0, full_well).astype(np.uint16)


def inject_run(out_dir: str | os.PathLike, *, data: Mapping[str, Any], params: InjectionParams) -> dict:
    """Write a run with a known cloud injected into the frames of a lab's run (see the module docstring).

    Parameters
    ----------
    out_dir : path
        The new run folder: ``manifest.csv``, ``frames/<shot>_{atoms,probe,dark}.tif``, ``truth.json``.
    data : mapping, keyword-only
        The source run, as the ``data`` config section describes a measured run (``manifest`` or ``shots``,
        ``frames``, ``globals``); any supported format.
    params : InjectionParams, keyword-only

    Returns
    -------
    dict
        The truth (also written to ``truth.json``): the simulator's keys (``nu_true``, ``dl_um``,
        ``displacement_per_cycle_um``, ``true_pixel_size_um``, ``shots`` with ``shot``, ``order``, ``x_true_um``,
        ``y_true_um``, ``atom_number``, ``cycle``, ``direction``, ``reference``, ``repeat``, ``sequence_cycles``,
        ``displacement_um``, ``drift_um``, ``jitter_um``) and ``injection``: the source run, the camera noise
        used, the cloud, and which source frame went where.

    Raises
    ------
    InputDataError
        The source run cannot be read.
    ParameterError
        The source run has too few usable shots for ``frames``, or too few for the design without
        ``allow_reuse``; ``region`` is not inside the frames; the cloud reaches the edge of the written frames.
        The messages name the fields of :class:`InjectionParams` (:func:`atompump.stages.inject.inject_stage`
        names the config keys).
    """
    out = Path(out_dir)
    source = _open_source(data, params)
    camera = _source_camera_noise(source, params)
    log.info("camera: gain %.3f counts per photoelectron (%s), read noise %.2f counts", camera.gain, camera.method,
             camera.read_noise_counts)
    rng = np.random.default_rng(params.seed)
    atoms_order = rng.permutation(len(source.atoms_pool))
    probe_order = rng.permutation(len(source.probe_pool)) if params.frames == "split" else atoms_order
    design = params.design()
    r0, r1, c0, c1 = source.region
    ny, nx = r1 - r0, c1 - c0
    pump_shape = (ny, nx) if params.pump_axis == "x" else (nx, ny)  # (n_across, n_along)
    p = params.pixel_size_um
    x0, y0 = params.centre_um or (0.5 * (pump_shape[1] - 1) * p, 0.5 * (pump_shape[0] - 1) * p)
    writer = RunWriter(out, fmt="tiff")
    truth_shots, uses = [], {}
    progress = Progress(log, "inject", len(design), unit="shots written")
    for k, entry in enumerate(design):
        displacement = entry["direction"] * params.nu * params.dl_um * entry["cycle"]
        jitter = float(rng.normal(0.0, params.position_jitter_um)) if params.position_jitter_um > 0 else 0.0
        jitter_y = float(rng.normal(0.0, params.transverse_jitter_um)) if params.transverse_jitter_um > 0 else 0.0
        x_cmd, y_cmd = x0 + displacement + jitter, y0 + jitter_y
        od_pump = params.cloud.render(pump_shape, centre_um=(x_cmd, y_cmd), pixel_size_um=p)
        _check_inside(od_pump, entry["shot"], x_cmd, y_cmd)
        x_true, y_true = first_moments_um(od_pump, pixel_size_um=p)
        od = od_pump if params.pump_axis == "x" else od_pump.T
        atoms_src = source.atoms_pool[int(atoms_order[k % len(atoms_order)])]
        probe_src = source.probe_pool[int(probe_order[k % len(probe_order)])]
        src = read_shot(atoms_src, region=source.region)
        light = src.probe if params.frames == "split" else src.atoms
        probe_frames = read_shot(probe_src, region=source.region) if params.frames == "split" else src
        probe = probe_frames.probe
        atoms, n_excess = absorb(light, od, dark_level=source.dark_level, camera=camera, alpha=params.alpha,
                                 isat_counts=params.isat_counts, rng=rng, full_well_counts=params.full_well_counts)
        writer.add(entry, {"atoms": atoms.astype(np.uint16), "probe": _counts(probe, params.full_well_counts),
                           "dark": _counts(src.dark, params.full_well_counts)})
        uses[atoms_src.shot] = uses.get(atoms_src.shot, 0) + 1
        light_name = "probe" if params.frames == "split" else "atoms"
        truth_shots.append({
            "shot": entry["shot"], "order": int(entry["order"]), "x_true_um": x_true, "y_true_um": y_true,
            "x_commanded_um": x_cmd, "y_commanded_um": y_cmd,
            "atom_number": float(od.sum()) * p * p / params.cross_section_um2, "cycle": entry["cycle"],
            "direction": entry["direction"], "reference": entry["reference"], "repeat": entry["repeat"],
            "sequence_cycles": entry["sequence_cycles"], "displacement_um": displacement, "drift_um": 0.0,
            "jitter_um": jitter, "transverse_jitter_um": jitter_y, "peak_od": float(od.max()),
            "pixels_with_negative_od": n_excess,
            "atoms_from": src.sources[light_name], "probe_from": probe_frames.sources["probe"],
            "dark_from": src.sources["dark"]})
        progress.update()
    writer.close()
    truth = to_jsonable(_truth(params, source, camera, truth_shots, uses, data))  # returned as written
    write_json(out / "truth.json", truth)
    log.info("injected %d shots into %s (nu = %.4f, %s cloud)", len(design), out, params.nu,
             params.cloud.spec()["shape"])
    return truth


def _check_inside(od: np.ndarray, shot: str, x: float, y: float) -> None:
    """The cloud must not reach the edge of the written frames (its first moment would be cut)."""
    peak = float(od.max())
    edge = max(od[0].max(), od[-1].max(), od[:, 0].max(), od[:, -1].max())
    if peak <= 0 or edge > _EDGE_FRACTION * peak:
        raise ParameterError(f"shot {shot}: the injected cloud at ({x:.2f}, {y:.2f}) um reaches the edge of the "
                             f"frames (OD {edge:.3g} there, peak {peak:.3g}); use a smaller cloud ({{cloud}}), move "
                             "it ({centre_um}) or write larger frames ({region})",
                             parameters=("cloud", "centre_um", "region"))


def _truth(params: InjectionParams, source: _Source, camera: CameraNoise, shots: list[dict], uses: dict,
           data: Mapping[str, Any]) -> dict:
    settings = {f.name: getattr(params, f.name) for f in fields(params) if f.name != "cloud"}
    return {
        "nu_true": params.nu,
        "nu_true_definition": "the configured displacement per cycle of the injected cloud (rigid motion); each "
                              "shot's x_true_um is the first moment of its noise-free injected OD and includes the "
                              "jitter",
        "dl_um": params.dl_um,
        "displacement_per_cycle_um": params.nu * params.dl_um,
        "true_pixel_size_um": params.pixel_size_um,
        "dynamics": {"model": "injected"},
        "params": settings,
        "injection": {
            "source": {"run": _describe_source(data), "shots": len(source.records) + len(source.skipped),
                       "usable": len(source.records),
                       "skipped": [{"shot": s, "problem": p} for s, p in source.skipped],
                       "region": list(source.region), "dark_frames_averaged": source.n_dark_frames,
                       "dark_level_mean_counts": float(source.dark_level.mean())},
            "frames": params.frames,
            "atoms_sources": [r.shot for r in source.atoms_pool],
            "probe_sources": [r.shot for r in source.probe_pool],
            "max_uses_of_an_atoms_source": max(uses.values()),
            "camera": camera.as_dict(),
            "cloud": params.cloud.spec(),
            "absorption": {"model": "Reinaudi: OD = alpha ln(I_in/I_out) + (I_in - I_out)/I_sat, with I_in the mean "
                                    "of the pixel's 8 neighbours in the light frame above the mean dark level",
                           "alpha": params.alpha, "isat_counts": params.isat_counts},
            "noise_added": "Gaussian, variance gain (T - T^2) I_in + read_noise^2 (1 - T^2) - (T' - T)^2 (gain I_in "
                           "+ read_noise^2) / 8 per pixel (T' = dI_out/dI_in); none where T > 1",
            "where": "the atoms frame of each shot is the absorbed light frame named in shots[*].atoms_from; the "
                     "probe and dark frames are the source frames named in probe_from and dark_from, unchanged",
        },
        "shots": shots,
    }
