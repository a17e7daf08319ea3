"""The absorption-imaging chain: from a column density to camera frames in counts.

Each function is one physical step, with its parameters passed explicitly:

1. :func:`gaussian_column_density`  the cloud's column density on the pixel grid (atoms / um^2)
2. :func:`transmitted_intensity`     the light after the cloud, inverting Reinaudi's relation with saturation
3. :func:`camera_counts`             photon shot noise, camera gain, offset and read noise
"""

from __future__ import annotations

import numpy as np
from scipy.special import wrightomega

__all__ = ["gaussian_column_density", "transmitted_intensity", "camera_counts"]


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


def camera_counts(
    intensity: np.ndarray,
    *,
    rng: np.random.Generator,
    gain: float = 1.0,
    offset_counts: float = 100.0,
    read_noise_counts: float = 4.0,
    full_well_counts: int = 65535,
) -> np.ndarray:
    """Camera frame in integer counts from a mean intensity in counts (before offset).

    Photoelectrons are Poisson distributed with mean ``intensity / gain``; the camera multiplies by ``gain``,
    adds ``offset_counts`` and Gaussian read noise, rounds, and clips to ``[0, full_well_counts]``. The count
    variance is therefore ``gain * intensity + read_noise^2`` (+ 1/12 from rounding).
    """
    if gain <= 0:
        raise ValueError(f"camera gain must be positive, got {gain}")
    electrons = rng.poisson(np.maximum(intensity, 0.0) / gain)
    counts = gain * electrons + offset_counts + rng.normal(0.0, read_noise_counts, size=np.shape(intensity))
    return np.clip(np.rint(counts), 0, full_well_counts).astype(np.uint16)
