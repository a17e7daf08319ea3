"""The noise of one shot's optical density, measured in its own atom-free pixels, and the error of any linear estimate.

Model
-----
The OD noise ``n`` of a pixel is the sum of a stationary, spatially correlated part (residual probe fringes left by
the fringe removal, a probe-intensity mismatch and its gradients, the projected noise of the reference) and a white
part (photon shot noise and read noise, independent from pixel to pixel)::

    Cov(n_i, n_j) = C_c(r_i - r_j) + delta_ij s_w^2 f_i

``f_i`` is the photon-noise factor of the pixel relative to a pixel without atoms
(:func:`atompump.reduce.od_variance_factor`; 1 where there are no atoms): the white part grows where the atoms absorb
the light, the fringe residual does not (an error ``delta`` of the reference's intensity gives an OD error
``delta (1 + I/I_sat)`` whether or not atoms absorb).

Measurement (:func:`measure_noise`)
-----------------------------------
On the shot's own atom-free pixels ``A`` (valid pixels outside the cloud, near it), with ``z = (OD - mean_A OD)`` on
``A`` and 0 elsewhere, the autocovariance at every lag ``d`` up to the estimator window's size is the masked
estimate (both FFT products)::

    C(d) = sum_i z_i z_{i+d} / sum_i A_i A_{i+d}

Lags with fewer than ``min_pairs`` pixel pairs are set to 0. The white variance is what lag 0 has above its
neighbours, ``s_w^2 = C(0) - mean(C(0, +-1), C(+-1, 0))`` (the correlated part is smooth on the scale of one pixel);
``C_c = C`` except ``C_c(0) = C(0) - s_w^2``. Assumptions: the noise under the cloud is that of the atom-free pixels
around it (stationarity over the region), plus the white part's growth with ``f``; the atom-free pixels are free of
atoms (the cloud's wings below the detection threshold are excluded by a margin).

Error of a linear estimate (:func:`response_variance`)
------------------------------------------------------
Every estimator here is, to first order in the noise, a linear function of the pixels: ``delta theta = sum_i g_i
n_i`` with ``g`` its linear response (for a first moment ``g_i = (x_i - x_c)/N`` in the window; for a least-squares
fit the row of ``(J^T W J)^-1 J^T W`` of the parameter, mapped back to pixels). Its variance is::

    var(theta) = sum_d R_g(d) C_c(d) + s_w^2 sum_i g_i^2 f_i,        R_g(d) = sum_i g_i g_{i+d}

computed with FFTs. With white noise only this is the usual ``sum g_i^2 v_i``; with fringes, the long-range terms
(``R_g`` of a first moment is strongly negative at lags of the window's width: a tilt of the background moves the
centre) dominate, which is why an error from the per-pixel variance alone is many times too small on real frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

__all__ = ["NoiseModel", "measure_noise", "pool_noise", "response_variance", "scaled_noise", "white_noise"]


@dataclass(frozen=True)
class NoiseModel:
    """The measured noise of one image (see the module docstring).

    Attributes
    ----------
    white_variance : float
        ``s_w^2``: white OD variance of a pixel without atoms (OD^2).
    correlated : ndarray, shape (2 Ly + 1, 2 Lx + 1)
        ``C_c(d)`` for lags ``-Ly..Ly`` (rows) and ``-Lx..Lx`` (columns), zero lag at the centre (OD^2).
    factor : ndarray, shape (ny, nx)
        Photon-noise factor ``f`` of every pixel of the image (1: no atoms).
    pixel_variance : float
        ``C(0)``: total OD variance of an atom-free pixel (OD^2).
    n_pixels : int
        Atom-free pixels the measurement used.
    pairs : ndarray, shape of ``correlated``, optional
        Pixel pairs behind each lag (for pooling).
    """

    white_variance: float
    correlated: np.ndarray
    factor: np.ndarray
    pixel_variance: float
    n_pixels: int
    pairs: np.ndarray | None = None

    @property
    def max_lag(self) -> tuple[int, int]:
        return (self.correlated.shape[0] - 1) // 2, (self.correlated.shape[1] - 1) // 2

    def pixel_variances(self) -> np.ndarray:
        """Total variance of every pixel, ``C_c(0) + s_w^2 f_i`` (OD^2), shape of the image."""
        ly, lx = self.max_lag
        return self.correlated[ly, lx] + self.white_variance * self.factor


def white_noise(variance: float, factor: np.ndarray) -> NoiseModel:
    """A noise model with no correlations: white variance ``variance * factor`` (simulated or known cameras)."""
    return NoiseModel(float(variance), np.zeros((1, 1)), np.asarray(factor, float), float(variance), 0)


def _lag_block(array: np.ndarray, ly: int, lx: int) -> np.ndarray:
    """Lags -ly..ly, -lx..lx of an FFT-ordered correlation array, zero lag at the centre."""
    rows = np.arange(-ly, ly + 1) % array.shape[0]
    cols = np.arange(-lx, lx + 1) % array.shape[1]
    return array[np.ix_(rows, cols)]


def measure_noise(od: np.ndarray, atom_free: np.ndarray, *, factor: np.ndarray | None = None,
                  max_lag: tuple[int, int], region: tuple[int, int, int, int] | None = None,
                  min_pairs: int = 64) -> NoiseModel:
    """Measure the noise model of one image from its atom-free pixels (see the module docstring).

    Parameters
    ----------
    od : ndarray, shape (ny, nx)
        Optical density (any value where not atom-free).
    atom_free : ndarray of bool, shape (ny, nx)
        Valid pixels without atoms.
    factor : ndarray, optional
        Photon-noise factor of every pixel (default 1).
    max_lag : (Ly, Lx), keyword-only
        Largest lags to measure, pixels (the size of the estimator windows the model will serve).
    region : (row_start, row_stop, col_start, col_stop), optional
        Only the atom-free pixels inside it are used (local stationarity); default the whole image.
    min_pairs : int
        Lags with fewer pixel pairs are set to zero correlation.

    Returns
    -------
    NoiseModel
        With ``n_pixels = 0`` and NaN variances when fewer than ``min_pairs`` atom-free pixels exist.
    """
    od = np.asarray(od, dtype=np.float64)
    ny, nx = od.shape
    factor = np.ones_like(od) if factor is None else np.asarray(factor, dtype=np.float64)
    r0, r1, c0, c1 = region if region is not None else (0, ny, 0, nx)
    mask = np.asarray(atom_free, bool)[r0:r1, c0:c1] & np.isfinite(od[r0:r1, c0:c1])
    ly, lx = (min(int(max_lag[0]), r1 - r0 - 1), min(int(max_lag[1]), c1 - c0 - 1))
    n = int(mask.sum())
    if n < min_pairs:
        return NoiseModel(np.nan, np.zeros((2 * ly + 1, 2 * lx + 1)), factor, np.nan, n)
    values = od[r0:r1, c0:c1]
    z = np.where(mask, values - values[mask].mean(), 0.0)
    shape = (sfft.next_fast_len(r1 - r0 + ly, real=True), sfft.next_fast_len(c1 - c0 + lx, real=True))
    zf = sfft.rfft2(z, shape)
    mf = sfft.rfft2(mask.astype(np.float64), shape)
    num = _lag_block(sfft.irfft2(zf * zf.conj(), shape), ly, lx)
    den = np.rint(_lag_block(sfft.irfft2(mf * mf.conj(), shape), ly, lx))
    cov = np.where(den >= min_pairs, num / np.maximum(den, 1.0), 0.0)
    total = float(cov[ly, lx])
    neighbours = [cov[ly + dy, lx + dx] for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))
                  if 0 <= ly + dy < cov.shape[0] and 0 <= lx + dx < cov.shape[1]]
    white = float(np.clip(total - np.mean(neighbours), 0.0, total)) if neighbours else total
    correlated = cov.copy()
    correlated[ly, lx] = total - white
    return NoiseModel(white, correlated, factor, total, n, np.where(den >= min_pairs, den, 0.0))


def response_variance(gradient: np.ndarray, noise: NoiseModel) -> float:
    """Variance of the linear estimate ``sum_i g_i n_i`` under the noise model (see the module docstring).

    The correlated part is kept only where it is significant: its estimate from a finite number of pixel pairs has a
    standard error ``se^2 = 2 sum_{d != 0} R_g(d)^2 C(0)^2 / pairs(d)`` (white noise); a correlated part smaller
    than ``2 se`` in magnitude is indistinguishable from zero and dropped, so that an image with white noise does not
    get errors that scatter by the estimate's own noise. The result is at least a quarter of the white part.

    Parameters
    ----------
    gradient : ndarray, shape (ny, nx)
        The estimate's linear response ``g`` to every pixel of the image (zero outside the pixels it uses).
    noise : NoiseModel

    Returns
    -------
    float
        In the squared units of the estimate; NaN when the noise could not be measured.
    """
    g = np.asarray(gradient, dtype=np.float64)
    white = noise.white_variance * float((g * g * noise.factor).sum())
    ly, lx = noise.max_lag
    if not np.any(noise.correlated):
        return white
    rows, cols = np.flatnonzero(g.any(axis=1)), np.flatnonzero(g.any(axis=0))
    if rows.size == 0:
        return 0.0
    g = g[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    shape = (sfft.next_fast_len(g.shape[0] + ly, real=True), sfft.next_fast_len(g.shape[1] + lx, real=True))
    gf = sfft.rfft2(g, shape)
    auto = _lag_block(sfft.irfft2(gf * gf.conj(), shape), ly, lx)
    correlated = float((auto * noise.correlated).sum())
    if noise.pairs is not None:
        off = noise.pairs > 0
        off[ly, lx] = False
        se = noise.pixel_variance * np.sqrt(2.0 * float((auto[off] ** 2 / noise.pairs[off]).sum()))
        if abs(correlated) < 2.0 * se:
            correlated = 0.0
    return max(white + correlated, 0.25 * white)


def _embed(array: np.ndarray, lags: tuple[int, int]) -> np.ndarray:
    """A centred lag array zero-padded (or cut) to lags ``-ly..ly, -lx..lx``."""
    ly, lx = lags
    out = np.zeros((2 * ly + 1, 2 * lx + 1))
    ay, ax = (array.shape[0] - 1) // 2, (array.shape[1] - 1) // 2
    my, mx = min(ay, ly), min(ax, lx)
    out[ly - my:ly + my + 1, lx - mx:lx + mx + 1] = array[ay - my:ay + my + 1, ax - mx:ax + mx + 1]
    return out


def pool_noise(models: list[NoiseModel]) -> NoiseModel:
    """The noise of many shots of one run pooled: every lag's covariance averaged over the shots' pixel pairs.

    A single shot's atom-free pixels hold only a few windows' worth of data, so its own estimate of the correlated
    part is noisy (of the order of the white variance for a moment over a wide window); the run's fringe residual has
    the same statistics from shot to shot up to its amplitude, which :func:`scaled_noise` takes from each shot.
    The factor of the result is 1 (it describes atom-free pixels).
    """
    models = [m for m in models if m.pairs is not None and m.n_pixels > 0 and np.isfinite(m.pixel_variance)]
    if not models:
        raise ValueError("no noise measurement to pool")
    lags = (max(m.max_lag[0] for m in models), max(m.max_lag[1] for m in models))
    pairs = sum(_embed(m.pairs, lags) for m in models)
    total = sum(_embed(m.correlated * m.pairs, lags) for m in models)
    n = np.array([m.n_pixels for m in models], float)
    white = float((n * [m.white_variance for m in models]).sum() / n.sum())
    correlated = np.where(pairs > 0, total / np.maximum(pairs, 1.0), 0.0)
    ly, lx = lags
    return NoiseModel(white, correlated, np.ones((1, 1)), float(correlated[ly, lx] + white), int(n.sum()), pairs)


def scaled_noise(own: NoiseModel, pooled: NoiseModel, *, radius: float = 4.0) -> NoiseModel:
    """One shot's noise model from the run's pooled correlations, scaled to the shot's own amplitude.

    The scale is the ratio of the shot's own correlated covariance to the pooled one summed over the short lags
    ``0 < |d| <= radius`` (many pixel pairs each: a precise ratio), clipped to [1/4, 4]; 1 when the pooled
    correlations there are not significant (white noise). The white part and the photon-noise factor are the
    shot's own.
    """
    if not np.isfinite(own.white_variance) or own.pairs is None:
        return own
    ly, lx = pooled.max_lag
    mine = _embed(own.correlated, (ly, lx))
    dy, dx = np.meshgrid(np.arange(-ly, ly + 1), np.arange(-lx, lx + 1), indexing="ij")
    short = (np.hypot(dy, dx) <= radius) & ((dy != 0) | (dx != 0)) & (_embed(own.pairs, (ly, lx)) > 0)
    reference = float(pooled.correlated[short].sum())
    error = float(np.sqrt(short.sum() / max(pooled.n_pixels, 1))) * pooled.pixel_variance
    scale = float(np.clip(mine[short].sum() / reference, 0.25, 4.0)) if reference > 5.0 * error else 1.0
    correlated = scale * pooled.correlated
    return NoiseModel(own.white_variance, correlated, own.factor, float(correlated[ly, lx] + own.white_variance),
                      own.n_pixels, pooled.pairs)
