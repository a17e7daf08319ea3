"""The absorption-imaging chain: from the atoms' density to camera frames in counts.

Each function is one physical step, with its parameters passed explicitly:

1. :class:`LineProfile`, :class:`CloudImager`  column density: the 1D density along the pump axis times a
   Gaussian transverse profile, blurred by the optics' point-spread function and averaged over each camera pixel
   (object-plane pixel = camera pixel / magnification). :func:`gaussian_column_density` is the exact pixel
   integral of a Gaussian cloud without blur.
2. :class:`PointSpreadFunction`, :func:`airy_psf`, :func:`airy_otf`, :func:`gaussian_psf_sigma`  the optical
   resolution from the numerical aperture.
3. :func:`transmitted_intensity`  the light after the cloud, inverting Reinaudi's relation with saturation
   (:func:`transmitted_intensity_fast`: the same with a second-order series in the cloud's faint wings).
4. :class:`ProbeBeam`  the probe: Gaussian envelope, power jitter, and interference fringes whose phases change
   from frame to frame (so fringe removal matters).
5. :func:`camera_counts`  photon shot noise (Poisson, optionally the EMCCD register's excess noise), camera
   gain, offset and read noise; :func:`dark_frame` is ``camera_counts`` of zero light.

Resolution model: the point-spread function blurs the *column density* (the low-OD, incoherent approximation;
for OD of order one the true absorption image blurs the transmitted field). With the blur done in Fourier space
over a box around the cloud, pixel averaging is exact (multiplication by sinc(f p), aliases included), the box
sum equals the atom number exactly, and a shift of the cloud is exact to machine precision.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.special import wrightomega

from atompump.errors import ParameterError

__all__ = [
    "Absorption",
    "Camera",
    "CloudImager",
    "LineProfile",
    "Optics",
    "PointSpreadFunction",
    "ProbeBeam",
    "ProbeSettings",
    "airy_otf",
    "airy_psf",
    "camera_counts",
    "dark_frame",
    "gaussian_column_density",
    "gaussian_psf_sigma",
    "transmitted_intensity",
    "transmitted_intensity_fast",
]


def gaussian_column_density(
    shape: tuple[int, int],
    *,
    atom_number: float,
    centre_um: tuple[float, float],
    sigma_um: tuple[float, float],
    pixel_size_um: float,
) -> np.ndarray:
    """Column density of a Gaussian cloud averaged over each pixel, in atoms / um^2.

    Parameters
    ----------
    shape : (ny, nx)
    atom_number : float
    centre_um : (x_c, y_c)
        Centre in um. Pixel (i, j) covers [j - 1/2, j + 1/2) * pixel_size_um along x, so its centre is at
        j * pixel_size_um, the convention of :func:`atompump.com.centre_of_mass`.
    sigma_um : (sigma_x, sigma_y)
        RMS sizes in um.
    pixel_size_um : float

    Notes
    -----
    The pixel average is exact (differences of error functions), so the image's first moment equals the true
    centre for any pixel size.
    """
    from scipy.special import erf

    ny, nx = shape
    p = pixel_size_um

    def pixel_integral(n: int, c: float, s: float) -> np.ndarray:
        edges = (np.arange(n + 1) - 0.5) * p
        cdf = 0.5 * (1.0 + erf((edges - c) / (np.sqrt(2.0) * s)))
        return np.diff(cdf)  # fraction of atoms in each pixel row/column

    fx = pixel_integral(nx, centre_um[0], sigma_um[0])
    fy = pixel_integral(ny, centre_um[1], sigma_um[1])
    return atom_number * np.outer(fy, fx) / p**2


def transmitted_intensity(
    i_in: np.ndarray, od: np.ndarray, *, alpha: float = 1.0, isat_counts: float | None = None
) -> np.ndarray:
    """Transmitted intensity ``I_out`` that gives optical density ``od`` for incoming ``i_in``.

    Inverts ``od = alpha ln(I_in/I_out) + (I_in - I_out)/I_sat`` (Reinaudi 2007) exactly with the Wright
    omega function: ``I_out = alpha I_sat omega(ln(I_in/(alpha I_sat)) + (I_in - od I_sat)/(alpha I_sat))``.
    Without saturation, ``I_out = I_in exp(-od / alpha)``.
    """
    i_in = np.asarray(i_in, dtype=float)
    od = np.asarray(od, dtype=float)
    if isat_counts is None:
        return i_in * np.exp(-od / alpha)
    a_s = alpha * isat_counts
    with np.errstate(divide="ignore"):
        z = np.log(i_in / a_s) + (i_in - od * isat_counts) / a_s
    out = a_s * np.real(wrightomega(z))
    return np.where(i_in > 0, out, 0.0)


def transmitted_intensity_fast(i_in: np.ndarray, od: np.ndarray, *, alpha: float = 1.0,
                               isat_counts: float | None = None, series_below: float = 0.05) -> np.ndarray:
    """:func:`transmitted_intensity`, with the Wright omega function only where ``od >= series_below``.

    Below, the Taylor series of the inverse to second order in OD is used (``s = I_in / I_sat``)::

        I_out = I_in [1 - OD / (alpha + s) + alpha OD^2 / (2 (alpha + s)^3)]

    whose error is below ``I_in OD^3 / 6`` (2e-5 I_in at the default threshold): the far wings of a cloud cost no
    special-function calls.
    """
    i_in = np.asarray(i_in, dtype=float)
    od = np.asarray(od, dtype=float)
    out = i_in.copy()
    core = od >= series_below
    if core.any():
        out[core] = transmitted_intensity(i_in[core], od[core], alpha=alpha, isat_counts=isat_counts)
    wings = ~core & (od != 0)
    a_s = alpha + (0.0 if isat_counts is None else i_in[wings] / isat_counts)
    x = od[wings]
    out[wings] = i_in[wings] * (1.0 - x / a_s + 0.5 * alpha * x * x / a_s**3)
    return out


@dataclass(frozen=True)
class Absorption:
    """How the atoms absorb the probe (:func:`transmitted_intensity`): optical density ``sigma n`` from the column
    density ``n`` (atoms/um^2), with Reinaudi's ``alpha`` and saturation intensity ``isat_counts`` (counts per pixel
    per exposure; None: no saturation).

    Attributes
    ----------
    cross_section_um2 : float
        Absorption cross-section sigma, um^2.
    alpha : float
        Reinaudi's correction factor (1: ideal two-level atoms).
    isat_counts : float or None
        Effective saturation intensity, counts.
    """

    cross_section_um2: float
    alpha: float
    isat_counts: float | None


# ----------------------------------------------------------------------------------------------- optics
def airy_psf(r_um: np.ndarray, *, wavelength_um: float, numerical_aperture: float) -> np.ndarray:
    """Intensity point-spread function of an aberration-free circular pupil (Airy pattern), in 1/um^2.

    ``PSF(r) = (pi NA^2 / lambda^2) [2 J1(v) / v]^2``, ``v = 2 pi NA r / lambda``; integrates to 1 over the plane.
    First zero at ``r = 0.610 lambda / NA`` (Born & Wolf, Principles of Optics, 8.5).
    """
    from scipy.special import j1

    v = 2.0 * np.pi * numerical_aperture * np.asarray(r_um, dtype=float) / wavelength_um
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = np.where(v == 0, 1.0, 2.0 * j1(v) / np.where(v == 0, 1.0, v))
    return np.pi * numerical_aperture**2 / wavelength_um**2 * amp**2


def airy_otf(f: np.ndarray, *, wavelength_um: float, numerical_aperture: float) -> np.ndarray:
    """Optical transfer function (Fourier transform of :func:`airy_psf`) at spatial frequency ``f`` (1/um).

    ``OTF = (2/pi) [arccos(s) - s sqrt(1 - s^2)]`` for ``s = f / f_c <= 1`` with cutoff ``f_c = 2 NA / lambda``,
    and 0 beyond (Goodman, Introduction to Fourier Optics, 6.3).
    """
    s = np.clip(np.abs(np.asarray(f, dtype=float)) * wavelength_um / (2.0 * numerical_aperture), 0.0, 1.0)
    return 2.0 / np.pi * (np.arccos(s) - s * np.sqrt(1.0 - s * s))


def gaussian_psf_sigma(*, wavelength_um: float, numerical_aperture: float) -> float:
    """RMS width of the Gaussian that best approximates the Airy pattern: ``sigma = 0.21 lambda / NA``.

    (Zhang, Zerubia & Olivo-Marin, Appl. Opt. 46, 1819 (2007).) Its FWHM, 0.495 lambda/NA, is 4 % below the
    Airy pattern's 0.514 lambda/NA; its tails are much weaker (the Airy pattern's fall as r^-3).
    """
    return 0.21 * wavelength_um / numerical_aperture


@dataclass(frozen=True)
class PointSpreadFunction:
    """The imaging system's resolution.

    Attributes
    ----------
    kind : {'airy', 'gaussian', 'none'}
        'airy': diffraction-limited circular pupil; 'gaussian': its Gaussian approximation
        (:func:`gaussian_psf_sigma`); 'none': perfect resolution.
    wavelength_um : float
        Imaging wavelength.
    numerical_aperture : float
    """

    kind: str = "airy"
    wavelength_um: float = 0.780
    numerical_aperture: float = 0.3

    def __post_init__(self) -> None:
        if self.kind not in ("airy", "gaussian", "none"):
            raise ParameterError(f"{{kind}} must be 'airy', 'gaussian' or 'none', got {self.kind!r}",
                                 parameters=("kind",))
        if not 0 < self.numerical_aperture < 1:
            raise ParameterError(f"{{numerical_aperture}} must be in (0, 1), got {self.numerical_aperture}",
                                 parameters=("numerical_aperture",))
        if self.wavelength_um <= 0:
            raise ParameterError(f"the imaging wavelength {{wavelength_um}} must be positive, got {self.wavelength_um}",
                                 parameters=("wavelength_um",))

    @property
    def sigma_um(self) -> float:
        """Gaussian RMS width (also quoted for 'airy'); 0 for 'none'."""
        if self.kind == "none":
            return 0.0
        return gaussian_psf_sigma(wavelength_um=self.wavelength_um, numerical_aperture=self.numerical_aperture)

    @property
    def separable(self) -> bool:
        return self.kind != "airy"

    @property
    def cutoff(self) -> float:
        """Spatial frequency (1/um) beyond which the OTF is below 1e-12 (infinite for 'none')."""
        if self.kind == "airy":
            return 2.0 * self.numerical_aperture / self.wavelength_um
        if self.kind == "gaussian":
            return float(np.sqrt(np.log(1e12) / 2.0) / (np.pi * self.sigma_um))
        return np.inf

    def otf_1d(self, f: np.ndarray) -> np.ndarray:
        """Transfer function along one axis (separable kinds only)."""
        if self.kind == "gaussian":
            return np.exp(-2.0 * (np.pi * self.sigma_um * f) ** 2)
        if self.kind == "none":
            return np.ones_like(f, dtype=float)
        raise ValueError("the Airy transfer function is not separable")

    def otf(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        """Transfer function at (fx, fy) (broadcast), 1/um."""
        if self.kind == "airy":
            return airy_otf(np.hypot(fx, fy), wavelength_um=self.wavelength_um,
                            numerical_aperture=self.numerical_aperture)
        return self.otf_1d(np.asarray(fx)) * self.otf_1d(np.asarray(fy))


@dataclass(frozen=True)
class Optics:
    """The imaging system: its resolution and its pixel size in the object plane.

    Attributes
    ----------
    psf : PointSpreadFunction
    pixel_size_um : float
        The analysis' calibration of the object-plane pixel, um.
    camera_pixel_um : float
        Camera pixel pitch, um.
    magnification : float or None
        The true magnification; None: exactly ``camera_pixel_um / pixel_size_um`` (the calibration is right).
    """

    psf: PointSpreadFunction
    pixel_size_um: float
    camera_pixel_um: float
    magnification: float | None

    @property
    def true_pixel_um(self) -> float:
        """Object-plane size of a camera pixel: ``camera_pixel_um / magnification``, or ``pixel_size_um``. A
        miscalibration (``pixel_size_um`` differing from it) scales the measured displacement."""
        return self.camera_pixel_um / self.magnification if self.magnification else self.pixel_size_um


# ----------------------------------------------------------------------------------------------- the cloud
@dataclass(frozen=True)
class LineProfile:
    """The atoms' distribution along the pump axis: masses at positions (e.g. a dynamics' density).

    Attributes
    ----------
    positions_um : ndarray, shape (n,)
        Positions relative to the profile's centre of mass (:meth:`from_density` subtracts it).
    weights : ndarray, shape (n,)
        Fractions of the atoms, summing to 1.
    """

    positions_um: np.ndarray
    weights: np.ndarray

    @classmethod
    def from_density(cls, positions_um: np.ndarray, density: np.ndarray, *, cutoff: float = 1e-12) -> LineProfile:
        """Normalise ``density`` (any positive units per basis point) and centre it on its centre of mass."""
        density = np.asarray(density, dtype=float)
        positions_um = np.asarray(positions_um, dtype=float)
        if density.shape != positions_um.shape or density.ndim != 1 or np.any(density < 0) or density.sum() <= 0:
            raise ValueError("density must be a non-negative 1D array like positions, with positive sum")
        keep = density > cutoff * density.max()
        w = density[keep] / density[keep].sum()
        x = positions_um[keep]
        return cls(positions_um=x - float(w @ x), weights=w)

    @classmethod
    def gaussian(cls, sigma_um: float, *, points: int = 801, extent: float = 8.0) -> LineProfile:
        """A Gaussian of RMS width ``sigma_um`` sampled finely (``extent`` sigmas each side)."""
        x = np.linspace(-extent * sigma_um, extent * sigma_um, points)
        return cls.from_density(x, np.exp(-0.5 * (x / sigma_um) ** 2), cutoff=0.0)

    @property
    def half_extent_um(self) -> float:
        return float(np.abs(self.positions_um).max())

    def spectrum(self, f: np.ndarray) -> np.ndarray:
        """``sum_i w_i exp(-2 pi i f x_i)`` at frequencies ``f`` (1/um)."""
        f = np.asarray(f, dtype=float)
        return np.exp(-2j * np.pi * np.multiply.outer(f, self.positions_um)) @ self.weights


def _box_size(n_min: int) -> int:
    from scipy.fft import next_fast_len

    return int(next_fast_len(max(int(n_min), 8)))


class CloudImager:
    """Pixel-averaged, PSF-blurred column density of a cloud ``N p(x) g(y)`` (atoms / um^2).

    ``p`` is a :class:`LineProfile` along the pump axis and ``g`` a Gaussian of RMS width ``transverse_sigma_um``.
    The image is computed in Fourier space over a box of pixels around the cloud, periodic in the box::

        c(pixel) = IFFT2[ N P(f_a) G(f_t) OTF(f) sinc(f_a p) sinc(f_t p) e^{-2 pi i f.s} ] / p^2

    summed over the aliases ``f + k / p`` the OTF lets through, with ``s`` the cloud's centre in the box. This is
    exact pixel averaging of the blurred column density; the box sum is the atom number. The box extends
    ``margin_um`` beyond the cloud; Airy tails beyond it wrap around the box (their energy falls as 1/r, and
    shifts the image's centre of mass by a few nm at the default margin). With ``psf.kind == 'none'`` the point
    masses are binned into pixels in real space (exact; their spectrum is not band-limited).

    Parameters
    ----------
    profile : LineProfile
    transverse_sigma_um : float
    psf : PointSpreadFunction
    pixel_size_um : float
        True object-plane pixel (camera pixel / magnification).
    margin_um : float, optional
        Box margin beyond the cloud; default 20 resolution widths (at least 4 pixels).
    """

    def __init__(self, profile: LineProfile, *, transverse_sigma_um: float, psf: PointSpreadFunction,
                 pixel_size_um: float, margin_um: float | None = None) -> None:
        if pixel_size_um <= 0 or transverse_sigma_um <= 0:
            raise ValueError("pixel_size_um and transverse_sigma_um must be positive")
        p = pixel_size_um
        self.psf, self.pixel = psf, p
        if margin_um is None:
            margin_um = max(20.0 * max(psf.sigma_um, 0.1), 4 * p)
        self._profile = profile
        self._sigma_t = transverse_sigma_um
        half_along = profile.half_extent_um + margin_um
        half_across = 6.0 * transverse_sigma_um + margin_um
        self.n_along = _box_size(int(np.ceil(2 * half_along / p)) + 2)
        self.n_across = _box_size(int(np.ceil(2 * half_across / p)) + 2)
        f_cut = min(psf.cutoff, 40.0 / p)
        fa = np.fft.fftfreq(self.n_along, d=p)
        ft = np.fft.fftfreq(self.n_across, d=p)
        ja = int(np.ceil(f_cut * p - 0.5)) if np.isfinite(f_cut) else 0
        jt = ja
        self._aliases_a = np.arange(-ja, ja + 1)
        self._aliases_t = np.arange(-jt, jt + 1)
        # frequencies with aliases: (n_alias, n)
        self._fa = fa[None, :] + self._aliases_a[:, None] / p
        self._ft = ft[None, :] + self._aliases_t[:, None] / p
        self._pa = profile.spectrum(self._fa) * np.sinc(self._fa * p)
        self._gt = np.exp(-2.0 * (np.pi * transverse_sigma_um * self._ft) ** 2) * np.sinc(self._ft * p)
        if psf.separable:
            self._pa = self._pa * psf.otf_1d(self._fa)
            self._gt = self._gt * psf.otf_1d(self._ft)
            self._otf = None
        else:
            # (alias_t, alias_a, n_across, n_along)
            self._otf = psf.otf(self._fa[None, :, None, :], self._ft[:, None, :, None])

    def box(self, centre_um: tuple[float, float]) -> tuple[int, int, np.ndarray]:
        """Column density on the box around ``centre_um`` = (along, across), in um from pixel 0's centre.

        Returns ``(i_along0, i_across0, image)`` with ``image`` of shape (n_across, n_along) in atoms / um^2 per
        unit atom number; pixel (i, j) of the box is pixel (i_across0 + i, i_along0 + j) of the frame.
        """
        p = self.pixel
        # the box's middle, pixel (n - 1)/2, is within half a pixel of the centre: wrapped tails nearly cancel
        i0 = int(np.rint(centre_um[0] / p - (self.n_along - 1) / 2))
        j0 = int(np.rint(centre_um[1] / p - (self.n_across - 1) / 2))
        sa = centre_um[0] - i0 * p
        st = centre_um[1] - j0 * p
        if self.psf.kind == "none":
            # point masses are not band-limited: bin them into pixels exactly, in real space
            from scipy.special import ndtr

            edges_a = (np.arange(self.n_along + 1) - 0.5) * p
            along = np.histogram(self._profile.positions_um + sa, bins=edges_a,
                                 weights=self._profile.weights)[0]
            edges_t = (np.arange(self.n_across + 1) - 0.5) * p
            across = np.diff(ndtr((edges_t - st) / self._sigma_t))
            return i0, j0, np.outer(across, along) / (p * p)
        pa = self._pa * np.exp(-2j * np.pi * self._fa * sa)
        gt = self._gt * np.exp(-2j * np.pi * self._ft * st)
        if self._otf is None:
            along = np.fft.ifft(pa.sum(axis=0)).real
            across = np.fft.ifft(gt.sum(axis=0)).real
            image = np.outer(across, along) * (self.n_along * self.n_across)
        else:
            spec = (self._otf * gt[:, None, :, None] * pa[None, :, None, :]).sum(axis=(0, 1))
            image = np.fft.ifft2(spec).real * (self.n_along * self.n_across)
        return i0, j0, image / (self.n_along * self.n_across * p * p)

    def column_density(self, shape: tuple[int, int], *, centre_um: tuple[float, float], atom_number: float,
                       pump_axis: str = "x") -> np.ndarray:
        """Column density (atoms / um^2) on a whole frame of ``shape`` (ny, nx); ``centre_um`` = (along, across)."""
        ny, nx = shape
        n_along, n_across = (nx, ny) if pump_axis == "x" else (ny, nx)
        out = np.zeros((n_across, n_along))
        i0, j0, image = self.box(centre_um)
        a0, a1 = max(i0, 0), min(i0 + self.n_along, n_along)
        t0, t1 = max(j0, 0), min(j0 + self.n_across, n_across)
        if a0 < a1 and t0 < t1:
            out[t0:t1, a0:a1] = atom_number * image[t0 - j0:t1 - j0, a0 - i0:a1 - i0]
        return out if pump_axis == "x" else out.T


# ----------------------------------------------------------------------------------------------- the probe
@dataclass(frozen=True)
class ProbeBeam:
    """The probe light on the camera, in counts per pixel per exposure.

    ``I(r) = I0 (1 + d) E(r) (1 + sum_k a_k cos(2 pi k_k . r + theta_k))``: a Gaussian envelope ``E`` of waist
    ``waist_px`` (1/e^2 radius; None: flat) centred on the frame, a relative power fluctuation ``d`` per frame and
    interference fringes (plane-wave patterns from stray reflections) of relative amplitudes ``a_k``, wave vectors
    ``k_k`` (cycles per pixel) and phases ``theta_k`` that change between frames.

    The fringe residual in the optical density of a shot whose atoms and probe frames differ by phases ``delta_k``
    is ``OD_f = ln[(1 + sum a_k cos(theta_k + delta_k)) / (1 + sum a_k cos theta_k)]``; for small ``a_k`` and
    ``delta_k ~ N(0, s^2)`` with uniformly distributed ``theta_k``: ``var(OD_f) = sum_k a_k^2 (1 - exp(-s^2/2))``.
    """

    shape: tuple[int, int]
    peak_counts: float
    waist_px: float | None = None
    amplitudes: tuple[float, ...] = ()
    wavevectors: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if len(self.amplitudes) != len(self.wavevectors):
            raise ValueError("one wave vector per fringe amplitude is needed")
        if self.peak_counts <= 0:
            raise ParameterError(f"the probe intensity {{peak_counts}} must be positive, got {self.peak_counts}",
                                 parameters=("peak_counts",))
        ny, nx = self.shape
        y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
        if self.waist_px is None:
            env = np.full((ny, nx), self.peak_counts, dtype=np.float32)
        else:
            r2 = (x - (nx - 1) / 2) ** 2 + (y - (ny - 1) / 2) ** 2
            env = (self.peak_counts * np.exp(-2.0 * r2 / self.waist_px**2)).astype(np.float32)
        object.__setattr__(self, "_envelope", env)
        # cos(2 pi (kx x + ky y) + theta) = cos(2 pi kx x + theta) cos(2 pi ky y) - sin(..) sin(2 pi ky y):
        # each frame's fringes are one (ny, 2K) @ (2K, nx) product
        kx = np.array([k[0] for k in self.wavevectors], dtype=float)
        ky = np.array([k[1] for k in self.wavevectors], dtype=float)
        arg_y = 2.0 * np.pi * np.outer(np.arange(ny), ky)
        object.__setattr__(self, "_fringe_y", np.hstack([np.cos(arg_y), -np.sin(arg_y)]).astype(np.float32))
        object.__setattr__(self, "_arg_x", 2.0 * np.pi * np.outer(kx, np.arange(nx)))

    @classmethod
    def with_random_fringes(cls, shape: tuple[int, int], *, peak_counts: float, waist_px: float | None,
                            amplitude: float, count: int, period_px: tuple[float, float],
                            rng: np.random.Generator) -> ProbeBeam:
        """Fringes of random orientation and period in ``period_px`` whose amplitudes add up (in quadrature) to a
        relative RMS modulation ``amplitude`` (``sum a_k^2 / 2 = amplitude^2``)."""
        if count == 0 or amplitude == 0:
            return cls(shape, peak_counts, waist_px)
        angle = rng.uniform(0.0, np.pi, count)
        period = rng.uniform(period_px[0], period_px[1], count)
        share = rng.uniform(0.5, 1.5, count)
        a = amplitude * np.sqrt(2.0 * share / share.sum())
        k = np.stack([np.cos(angle) / period, np.sin(angle) / period], axis=1)
        return cls(shape, peak_counts, waist_px, tuple(map(float, a)), tuple(map(tuple, k.tolist())))

    @property
    def envelope(self) -> np.ndarray:
        return self._envelope

    def fringes(self, phases: np.ndarray) -> np.ndarray:
        """Relative fringe modulation ``sum_k a_k cos(2 pi k_k . r + theta_k)`` for ``phases`` (n_fringes,)."""
        if not len(self.amplitudes):
            return np.zeros(self.shape, dtype=np.float32)
        arg = self._arg_x + np.asarray(phases, dtype=float)[:, None]
        a = np.asarray(self.amplitudes)[:, None]
        return self._fringe_y @ np.vstack([a * np.cos(arg), a * np.sin(arg)]).astype(np.float32)

    def intensity(self, phases: np.ndarray, power: float = 1.0) -> np.ndarray:
        """Probe intensity of one frame (counts, float32) with fringe ``phases`` and relative ``power``."""
        out = self.fringes(phases)
        out += 1.0
        out *= self._envelope
        if power != 1.0:
            out *= np.float32(power)
        return out


@dataclass(frozen=True)
class ProbeSettings:
    """The probe of a simulated run: a :class:`ProbeBeam` (:meth:`beam`) and how it changes between frames.

    Attributes
    ----------
    peak_counts : float
        Intensity at the beam's peak, counts per pixel per exposure (above the camera offset).
    waist_um : float or None
        1/e^2 radius in the object plane, um; None: flat.
    power_jitter : float
        Relative RMS power change between frames.
    fringe_amplitude, fringe_count, fringe_period_px
        Interference fringes: relative RMS modulation, number of patterns, range of their periods (pixels)
        (:meth:`ProbeBeam.with_random_fringes`).
    fringe_phase_jitter_rad : float
        RMS fringe-phase change between a shot's atoms and probe frames, rad.
    fringe_phase_walk_rad : float
        RMS fringe-phase random walk from shot to shot, rad.
    """

    peak_counts: float
    waist_um: float | None
    power_jitter: float
    fringe_amplitude: float
    fringe_count: int
    fringe_period_px: tuple[float, float]
    fringe_phase_jitter_rad: float
    fringe_phase_walk_rad: float

    def beam(self, shape: tuple[int, int], *, pixel_size_um: float, rng: np.random.Generator) -> ProbeBeam:
        """The beam on a camera of ``shape`` pixels of ``pixel_size_um`` (object plane), fringes drawn from
        ``rng``."""
        waist_px = None if self.waist_um is None else self.waist_um / pixel_size_um
        return ProbeBeam.with_random_fringes(shape, peak_counts=self.peak_counts, waist_px=waist_px,
                                             amplitude=self.fringe_amplitude, count=self.fringe_count,
                                             period_px=self.fringe_period_px, rng=rng)


# ----------------------------------------------------------------------------------------------- the camera
_NOISE_MODELS = ("poisson", "gaussian", "fast", "none")
_QUANTILES: np.ndarray | None = None


def _standard_normal_fast(rng: np.random.Generator, n: int) -> np.ndarray:
    """N(0, 1) deviates from a table of 65536 equiprobable quantiles indexed by 16 random bits (float32).

    About four times faster than ``rng.standard_normal`` here; the variance is rescaled to 1 exactly and the tails
    end at 4.3 sigma (probability 1.7e-5 per deviate beyond that in a true normal).
    """
    global _QUANTILES
    if _QUANTILES is None:
        from scipy.special import ndtri

        q = ndtri((np.arange(65536) + 0.5) / 65536.0)
        _QUANTILES = (q / np.sqrt(np.mean(q * q))).astype(np.float32)
    raw = rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]
    return np.take(_QUANTILES, raw, out=np.empty(n, dtype=np.float32))


def _check_noise_model(noise_model: str) -> None:
    if noise_model not in _NOISE_MODELS:
        raise ParameterError(f"{{noise_model}} must be one of {_NOISE_MODELS}, got {noise_model!r}",
                             parameters=("noise_model",))


@functools.lru_cache(maxsize=8)
def _dark_table(offset_counts: float, read_noise_counts: float, full_well_counts: int) -> np.ndarray:
    """Dark counts for each of the 65536 quantiles of :func:`_standard_normal_fast` (uint16)."""
    q = _standard_normal_fast(np.random.default_rng(0), 1)  # builds the quantile table
    del q
    counts = np.rint(_QUANTILES.astype(float) * read_noise_counts + offset_counts)
    return np.clip(counts, 0, full_well_counts).astype(np.uint16)


def camera_counts(
    intensity: np.ndarray,
    *,
    rng: np.random.Generator,
    gain: float = 1.0,
    offset_counts: float = 100.0,
    read_noise_counts: float = 4.0,
    full_well_counts: int = 65535,
    excess_noise_factor: float = 1.0,
    noise_model: str = "poisson",
) -> np.ndarray:
    """Camera frame in integer counts from a mean intensity in counts (before offset).

    Photoelectrons have mean ``intensity / gain`` (``gain``: counts per photoelectron). The camera multiplies by
    ``gain``, adds ``offset_counts`` and Gaussian read noise, rounds, and clips to ``[0, full_well_counts]``. The
    count variance is ``F2 * gain * intensity + read_noise^2`` (+ 1/12 from rounding), with ``F2`` the
    ``excess_noise_factor``: 1 for CCD/sCMOS, 2 for an EMCCD at high multiplication gain (Robbins & Hadwen,
    IEEE Trans. Electron Devices 50, 1227 (2003)).

    noise_model
        'poisson': exact: Poisson photoelectrons; for ``F2 = 2`` each frame's electrons pass an EM register whose
        output for n input electrons is Gamma(n, 1) distributed (unit mean gain). 'gaussian': Gaussian counts of
        the same mean and variance (numpy's normal). 'fast': the same Gaussian with table-lookup deviates
        (:func:`_standard_normal_fast`). 'none': the mean, rounded (no noise at all, for tests).
    """
    if gain <= 0:
        raise ParameterError(f"the camera {{gain}} must be positive, got {gain}", parameters=("gain",))
    if excess_noise_factor < 1:
        raise ParameterError(f"{{excess_noise_factor}} must be >= 1, got {excess_noise_factor}",
                             parameters=("excess_noise_factor",))
    _check_noise_model(noise_model)
    mean = np.maximum(np.asarray(intensity, dtype=np.float32), 0.0)
    if noise_model == "poisson":
        if excess_noise_factor not in (1.0, 2.0):
            raise ParameterError("the exact 'poisson' {noise_model} supports {excess_noise_factor} 1 (no EM gain) or "
                                 "2 (EMCCD); use {noise_model} 'gaussian' for other values",
                                 parameters=("noise_model", "excess_noise_factor"))
        electrons = rng.poisson(mean.astype(float) / gain).astype(float)
        if excess_noise_factor == 2.0:
            hit = electrons > 0
            electrons[hit] = rng.gamma(electrons[hit])
        counts = gain * electrons + offset_counts + rng.normal(0.0, read_noise_counts, size=mean.shape)
    elif noise_model == "none":
        counts = mean + np.float32(offset_counts)
    else:
        counts = mean * np.float32(excess_noise_factor * gain)
        counts += np.float32(read_noise_counts**2)
        np.sqrt(counts, out=counts)  # the standard deviation
        if noise_model == "gaussian":
            counts *= rng.standard_normal(mean.shape, dtype=np.float32)
        else:
            counts *= _standard_normal_fast(rng, mean.size).reshape(mean.shape)
        counts += mean
        counts += np.float32(offset_counts)
    counts = np.rint(counts, out=counts)
    np.clip(counts, 0, full_well_counts, out=counts)
    return counts.astype(np.uint16)


def dark_frame(shape: tuple[int, int], *, rng: np.random.Generator, offset_counts: float = 100.0,
               read_noise_counts: float = 4.0, full_well_counts: int = 65535, noise_model: str = "poisson",
               **_: object) -> np.ndarray:
    """A frame without light: ``camera_counts`` of zero intensity (offset plus Gaussian read noise), drawn without
    the photon-noise machinery. Extra keyword arguments of :func:`camera_counts` (gain, ...) are accepted."""
    _check_noise_model(noise_model)
    n = int(np.prod(shape))
    if noise_model == "none":
        counts = np.full(n, np.float32(offset_counts))
    elif noise_model == "fast":  # the quantile table mapped to counts once: one lookup per pixel
        table = _dark_table(float(offset_counts), float(read_noise_counts), int(full_well_counts))
        raw = rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]
        return np.take(table, raw).reshape(shape)
    else:
        counts = rng.normal(offset_counts, read_noise_counts, n)
    counts = np.clip(np.rint(counts), 0, full_well_counts)
    return counts.astype(np.uint16).reshape(shape)


@dataclass(frozen=True)
class Camera:
    """A camera: its frame size and noise (:func:`camera_counts`, :func:`dark_frame`).

    Attributes
    ----------
    image_shape : (int, int)
        Frame size [rows, columns], pixels.
    gain : float
        Counts per photoelectron.
    offset_counts, read_noise_counts : float
        Offset and RMS read noise, counts.
    excess_noise_factor : float
        Photon-noise variance factor F2: 1 (CCD/sCMOS), 2 (EMCCD).
    noise_model : {'poisson', 'gaussian', 'fast', 'none'}
    full_well_counts : int
        Saturation, counts.
    """

    image_shape: tuple[int, int]
    gain: float
    offset_counts: float
    read_noise_counts: float
    excess_noise_factor: float
    noise_model: str
    full_well_counts: int

    def __post_init__(self) -> None:
        if min(self.image_shape) < 8:
            raise ParameterError(f"{{image_shape}} must be at least 8x8 pixels, got {tuple(self.image_shape)}",
                                 parameters=("image_shape",))
        _check_noise_model(self.noise_model)

    def counts(self, intensity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A frame of ``intensity`` (counts before offset): :func:`camera_counts`."""
        return camera_counts(intensity, rng=rng, gain=self.gain, offset_counts=self.offset_counts,
                             read_noise_counts=self.read_noise_counts, full_well_counts=self.full_well_counts,
                             excess_noise_factor=self.excess_noise_factor, noise_model=self.noise_model)

    def dark(self, rng: np.random.Generator) -> np.ndarray:
        """A frame without light: :func:`dark_frame`."""
        return dark_frame(self.image_shape, rng=rng, offset_counts=self.offset_counts,
                          read_noise_counts=self.read_noise_counts, full_well_counts=self.full_well_counts,
                          noise_model=self.noise_model)
