"""Optical density from absorption-imaging frames.

With camera counts ``atoms`` (probe light through the cloud), ``probe`` (probe light, no atoms) and ``dark``
(no light), the incoming and transmitted intensities per pixel are ``I_in = probe - dark`` and
``I_out = atoms - dark``. The optical density including probe saturation is (Reinaudi et al., Opt. Lett. 32,
3143 (2007))::

    OD = alpha * ln(I_in / I_out) + (I_in - I_out) / I_sat

where ``alpha >= 1`` corrects the effective cross-section and ``I_sat`` is the effective saturation intensity in
counts per pixel per exposure (``None`` drops the term: the low-intensity limit).

Pixels where the probe light is too weak to measure an OD (``I_in < min_probe_counts``) or where the camera is
saturated are masked: their OD is NaN and ``valid`` is False. Pixels where the cloud absorbs all light
(``I_out <= 0``, the OD is not measurable) are clipped to one count and flagged in ``clipped``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ODResult", "optical_density"]


@dataclass(frozen=True)
class ODResult:
    """Optical density of one shot.

    Attributes
    ----------
    od : ndarray, shape (ny, nx), float64
        Optical density; NaN where ``valid`` is False.
    valid : ndarray, shape (ny, nx), bool
        Pixels with enough probe light and no camera saturation.
    clipped : ndarray, shape (ny, nx), bool
        Valid pixels whose transmitted light was at or below zero counts and was clipped to one count.
    probe_counts : ndarray, shape (ny, nx), float64
        ``I_in = probe - dark`` in counts.
    """

    od: np.ndarray
    valid: np.ndarray
    clipped: np.ndarray
    probe_counts: np.ndarray


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
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if isat_counts is not None and isat_counts <= 0:
        raise ValueError(f"isat_counts must be positive or None, got {isat_counts}")
    i_in = probe - dark
    i_out = atoms - dark
    valid = i_in >= min_probe_counts
    if saturation_counts is not None:
        valid &= (atoms < saturation_counts) & (probe < saturation_counts)
    clipped = valid & (i_out < 1.0)
    i_out_safe = np.where(valid, np.maximum(i_out, 1.0), 1.0)
    i_in_safe = np.where(valid, i_in, 1.0)
    od = alpha * np.log(i_in_safe / i_out_safe)
    if isat_counts is not None:
        od = od + (i_in_safe - i_out_safe) / isat_counts
    od = np.where(valid, od, np.nan)
    return ODResult(od=od, valid=valid, clipped=clipped, probe_counts=i_in)
