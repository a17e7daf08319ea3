"""Band structure, Berry curvature, Chern numbers and Wannier centres of the superlattice over one pump cycle.

:func:`superlattice_topology` is the entry point used by the workflow: it refines the (k, phi) mesh until the
Fukui–Hatsugai–Suzuki Chern numbers are integers, checks that every band is separated from its neighbours over
the whole loop, and returns an :class:`xarray.Dataset` with units in attrs.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import xarray as xr

from atompump.errors import GapClosedError
from atompump.theory.berry import berry_curvature, chern_number, wannier_centres
from atompump.theory.superlattice import SuperlatticeParams, bloch_states

__all__ = ["superlattice_topology", "check_gaps"]

log = logging.getLogger(__name__)


def check_gaps(energies: np.ndarray, phi: np.ndarray, *, tolerance: float) -> np.ndarray:
    """Minimum direct gap above each band over the mesh; raise if a gap between two used bands closes.

    Parameters
    ----------
    energies : ndarray, shape (n_k, n_phi, n_bands)
    phi : ndarray, shape (n_phi,)
    tolerance : float
        Gaps below this (same unit as ``energies``) count as closed.

    Returns
    -------
    ndarray, shape (n_bands - 1,)
        Minimum gap between band n and n + 1.

    Raises
    ------
    GapClosedError
        Naming the pair of bands and the phi where the gap closes.
    """
    gaps = np.diff(energies, axis=-1)  # (n_k, n_phi, n_bands-1)
    min_gaps = gaps.min(axis=(0, 1))
    for n, gap in enumerate(min_gaps):
        if gap < tolerance:
            j = int(np.argmin(gaps[..., n].min(axis=0)))
            raise GapClosedError(
                f"the gap between bands {n + 1} and {n + 2} closes (min {gap:.3g} Er,s) at phi = {phi[j]:.4f} rad "
                f"({phi[j] / np.pi:.3f} pi): the Chern numbers of bands {n + 1} and {n + 2} are undefined for "
                "this lattice; change Vs/Vl or use fewer bands"
            )
    return min_gaps


def superlattice_topology(
    params: SuperlatticeParams,
    *,
    n_bands: int = 3,
    n_k: int = 24,
    n_phi: int = 48,
    n_max: int = 10,
    max_refinements: int = 3,
    integer_tolerance: float = 1e-3,
    gap_tolerance: float = 1e-6,
) -> xr.Dataset:
    """Bands, Berry curvature, Chern numbers and hybrid Wannier centres of the lowest ``n_bands`` bands.

    The mesh is doubled (up to ``max_refinements`` times) until every Chern number is within
    ``integer_tolerance`` of an integer and unchanged by the last refinement.

    Returns
    -------
    xarray.Dataset
        ``energy`` (band, k, phi) in Er,s; ``berry_curvature`` (band, k, phi) in um (Omega_{k phi});
        ``chern_number`` (band) int; ``chern_number_raw`` (band) float; ``min_gap_above`` (band) in Er,s
        (the minimum direct gap to the band above, over the whole mesh); ``wannier_centre`` (band, phi_w) in um.
        Coordinates ``k`` in 1/um and ``phi`` in rad. Attributes record the lattice parameters and mesh.
    """
    # one extra band so the gap above the top requested band is checked too
    n_calc = n_bands + 1
    previous = None
    for refinement in range(max_refinements + 1):
        kappa, phi, energies, vectors = bloch_states(params, n_k=n_k, n_phi=n_phi, n_bands=n_calc, n_max=n_max)
        min_gaps = check_gaps(energies[:-1, :-1, :n_calc], phi[:-1], tolerance=gap_tolerance)
        raw = np.array([chern_number(vectors[..., b]) for b in range(n_bands)])
        rounded = np.rint(raw).astype(int)
        integer = np.all(np.abs(raw - rounded) < integer_tolerance)
        if integer and previous is not None and np.array_equal(previous, rounded):
            break
        if integer and refinement == max_refinements:
            break
        previous = rounded if integer else None
        if refinement == max_refinements:
            warnings.warn(
                f"Chern numbers {np.round(raw, 4).tolist()} are not integer on a {n_k}x{n_phi} mesh after "
                f"{max_refinements} refinements; a gap is probably nearly closed",
                RuntimeWarning,
                stacklevel=2,
            )
            break
        log.info("Chern numbers %s on a %dx%d mesh; refining", np.round(raw, 4).tolist(), n_k, n_phi)
        n_k, n_phi = 2 * n_k, 2 * n_phi

    dl = params.dl_um
    k = 2.0 * np.pi * kappa[:-1] / dl
    dk = 2.0 * np.pi / (n_k * dl)
    dphi = 2.0 * np.pi / n_phi
    curvature = np.stack([berry_curvature(vectors[..., b]) for b in range(n_bands)]) / (dk * dphi)
    wannier = np.stack([wannier_centres(vectors[..., b], lattice_constant=dl) for b in range(n_bands)])
    band = np.arange(1, n_bands + 1)
    ds = xr.Dataset(
        {
            "energy": (("band", "k", "phi"), np.moveaxis(energies[:-1, :-1, :n_bands], -1, 0),
                       {"units": "Er,s", "long_name": "band energy"}),
            "berry_curvature": (("band", "k", "phi"), curvature,
                                {"units": "um", "long_name": "Berry curvature Omega_{k phi} (plaquette centred)"}),
            "chern_number": ("band", rounded, {"units": "1", "long_name": "band Chern number (physics.md sign)"}),
            "chern_number_raw": ("band", raw, {"units": "1", "long_name": "Fukui-Hatsugai-Suzuki sum before rounding"}),
            "min_gap_above": ("band", min_gaps[:n_bands], {"units": "Er,s", "long_name": "minimum direct gap to the next band"}),
            "wannier_centre": (("band", "phi_w"), wannier,
                               {"units": "um", "long_name": "hybrid Wannier centre (continuous in phi)"}),
        },
        coords={
            "band": ("band", band, {"long_name": "band index, lowest first"}),
            "k": ("k", k, {"units": "1/um", "long_name": "quasi-momentum"}),
            "phi": ("phi", phi[:-1], {"units": "rad", "long_name": "superlattice phase"}),
            "phi_w": ("phi_w", phi, {"units": "rad", "long_name": "superlattice phase (closed loop)"}),
        },
        attrs={
            "Vs_Er": params.Vs_Er,
            "Vl_Er": params.Vl_Er,
            "lambda_l_nm": params.lambda_l_nm,
            "mass_amu": params.mass_amu,
            "dl_um": dl,
            "recoil_s_hz": params.recoil_s_hz,
            "n_k": n_k,
            "n_phi": n_phi,
            "n_max": n_max,
            "method": "plane-wave expansion; Fukui-Hatsugai-Suzuki Chern numbers; Wilson-loop Wannier centres",
        },
    )
    return ds


def expected_displacement(chern_numbers: np.ndarray, populations: np.ndarray) -> float:
    """Displacement per cycle in units of dl of a state with band populations ``p_n``: sum_n p_n C_n.

    ``populations`` may be shorter than ``chern_numbers`` (the rest are empty); it must be non-negative and sum
    to 1 within 1e-6.
    """
    populations = np.asarray(populations, dtype=float)
    chern_numbers = np.asarray(chern_numbers)
    if populations.ndim != 1 or populations.size == 0:
        raise ValueError("band populations must be a non-empty list, lowest band first")
    if populations.size > chern_numbers.size:
        raise ValueError(
            f"{populations.size} band populations given but only {chern_numbers.size} Chern numbers computed; "
            "raise theory.n_bands"
        )
    if np.any(populations < 0) or abs(populations.sum() - 1.0) > 1e-6:
        raise ValueError(f"band populations must be >= 0 and sum to 1, got {populations.tolist()}")
    return float(np.dot(populations, chern_numbers[: populations.size]))


__all__.append("expected_displacement")
