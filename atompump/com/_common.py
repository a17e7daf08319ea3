"""Helpers shared by the estimators: input checks, orientation, windows."""

from __future__ import annotations

import numpy as np

PUMP_AXES = ("x", "y")


def prepare(od, valid, variance_factor, pump_axis):
    """Checked float OD, valid mask and photon-noise factor, transposed so that the pump axis runs along columns.

    The factor defaults to ``(1 + e^OD)/2`` (the shot's own probe frame as reference, no saturation); a given factor
    is smoothed over 3x3 valid pixels (the factor of one noisy image is itself noisy).
    """
    if pump_axis not in PUMP_AXES:
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
        factor = smooth_factor(np.where(valid, factor, 1.0), valid)
    if pump_axis == "y":
        od, valid, factor = od.T, valid.T, factor.T
    return od, valid, factor


def smooth_factor(factor: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """3x3 mean of the variance factor over valid pixels."""
    from scipy import ndimage

    num = ndimage.uniform_filter(np.where(valid, factor, 0.0), 3, mode="nearest")
    den = ndimage.uniform_filter(valid.astype(float), 3, mode="nearest")
    return np.where(den > 0, num / np.maximum(den, 1e-12), 1.0)


def moment(x: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """First moment, RMS width and sum of the weights ``p`` at positions ``x``."""
    total = p.sum()
    centre = float((x * p).sum() / total)
    width = float(np.sqrt(max((p * (x - centre) ** 2).sum() / total, 0.0)))
    return centre, width, float(total)


def fractional_window(x: np.ndarray, centre: float, half: float, step: float) -> np.ndarray:
    """Overlap of each pixel ``[x - step/2, x + step/2)`` with ``[centre - half, centre + half)``, in [0, 1]."""
    edges_lo = x - 0.5 * step
    overlap = np.minimum(edges_lo + step, centre + half) - np.maximum(edges_lo, centre - half)
    return np.clip(overlap / step, 0.0, 1.0)
