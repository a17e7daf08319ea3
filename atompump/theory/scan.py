"""Band Chern numbers of the superlattice over a grid of lattice depths (Vs, Vl): the topological phase diagram.

For each (Vs, Vl) the Fukui–Hatsugai–Suzuki Chern numbers of the lowest bands are computed on a coarse (kappa, phi)
mesh, doubled until they are stable integers (:func:`atompump.theory.refine.refine_chern_numbers`), with the
plane-wave basis converged at each point (:func:`atompump.theory.superlattice.converged_n_max`). A band whose gap
to a neighbour is (nearly) closed somewhere on the loop, or whose sum is not a trusted integer, has no Chern number
there (NaN).

The second band's Chern number changes sign where the gap between bands 2 and 3 closes, at
``kappa = 0, phi = pi/2`` (and its mirror image ``3 pi/2``), exactly on the line (``physics.md``)::

    Vs = Vl'^2 / (4 Er,s),      Vl' = Vl / 4 the long-lattice depth in Er,s

(:func:`transition_vs`). There the 2 x 2 block of the plane waves m = 0, -1 at kappa = 0, phi = pi/2, which the
short lattice does not couple, becomes degenerate with the third band. Lohse et al., Nat. Phys. 12, 350 (2016),
measured across it by scanning Vs from 0 to 16 Er,s at Vl = 25 Er,l (transition at Vs = 9.77 Er,s).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import xarray as xr

from atompump.theory.berry import berry_curvature
from atompump.theory.refine import refine_chern_numbers
from atompump.theory.superlattice import SuperlatticeParams, bloch_states, converged_n_max

__all__ = ["chern_numbers_at", "report_grid", "superlattice_chern_scan", "transition_vs"]

log = logging.getLogger(__name__)


def transition_vs(Vl_Er) -> np.ndarray:
    """Short-lattice depth (Er,s) where band 2's Chern number changes sign: ``(Vl / 4)^2 / 4`` (Vl in Er,l)."""
    return (np.asarray(Vl_Er, dtype=float) / 4.0) ** 2 / 4.0


def report_grid(Vs_Er: float, Vl_Er: float) -> tuple[np.ndarray, np.ndarray]:
    """The report's scan grid: Vs from 0 to 16 Er,s in steps of 2 and Vl from 15 to 35 Er,l in steps of 5 (the CLI's
    default), each widened by whole steps until it includes the configured lattice (Vs_Er, Vl_Er)."""
    vs_top = 16.0 + 2.0 * max(0.0, np.ceil((Vs_Er - 16.0) / 2.0))
    vl_low = 15.0 - 5.0 * max(0.0, np.ceil((15.0 - Vl_Er) / 5.0))
    vl_top = 35.0 + 5.0 * max(0.0, np.ceil((Vl_Er - 35.0) / 5.0))
    return np.arange(0.0, vs_top + 1.0, 2.0), np.arange(max(vl_low, 0.0), vl_top + 2.5, 5.0)


def chern_numbers_at(params: SuperlatticeParams, *, n_bands: int = 3, n_k: int = 12, n_phi: int = 24,
                     max_refinements: int = 2, gap_tolerance: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Chern numbers and minimum direct gaps (on the mesh) of the lowest ``n_bands`` bands of one lattice.

    Parameters
    ----------
    params : SuperlatticeParams
    n_bands : int, keyword-only
    n_k, n_phi : int, keyword-only
        Starting mesh (``n_phi`` a multiple of 4 puts phi = pi/2, where the 2-3 gap closes, on the mesh).
    max_refinements : int, keyword-only
        Mesh doublings allowed.
    gap_tolerance : float, keyword-only
        A band with a gap below this (Er,s) to a neighbour over the mesh has no Chern number.

    Returns
    -------
    chern : ndarray of float, shape (n_bands,)
        Integers, NaN where not defined (gap closed) or not trusted (not integer after the refinements).
    min_gaps : ndarray, shape (n_bands,)
        Minimum direct gap above each band over the mesh (Er,s).
    """
    n_max, _ = converged_n_max(params, n_bands=n_bands + 1, start=8, tolerance=1e-6)

    def compute(nk: int, nphi: int):
        _, _, energies, vectors = bloch_states(params, n_k=nk, n_phi=nphi, n_bands=n_bands + 1, n_max=n_max)
        gaps = np.diff(energies[:-1, :-1], axis=-1).min(axis=(0, 1))
        fluxes = [berry_curvature(vectors[..., b]) for b in range(n_bands)]
        raw = np.array([f.sum() / (2 * np.pi) for f in fluxes])
        return raw, gaps, max(float(np.abs(f).max()) for f in fluxes)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rounded, _, gaps, _, _ = refine_chern_numbers(compute, n_k=n_k, n_phi=n_phi,
                                                        max_refinements=max_refinements)
    chern = rounded.astype(float)
    if caught:  # not trusted: a nearly closed gap somewhere
        chern[:] = np.nan
    below = np.concatenate([[np.inf], gaps[: n_bands - 1]])  # gap below band n
    closed = (gaps[:n_bands] < gap_tolerance) | (below < gap_tolerance)
    chern[closed] = np.nan
    return chern, gaps[:n_bands]


def superlattice_chern_scan(Vs_Er, Vl_Er, *, n_bands: int = 3, lambda_l_nm: float = 1534.0,
                            mass_amu: float | None = None, **kwargs) -> xr.Dataset:
    """Band Chern numbers over the grid ``Vs_Er x Vl_Er``.

    Parameters
    ----------
    Vs_Er : sequence of float
        Short-lattice depths in Er,s.
    Vl_Er : sequence of float
        Long-lattice depths in Er,l.
    n_bands : int, keyword-only
    lambda_l_nm, mass_amu : float, keyword-only
        Only set the recoil energy (Chern numbers and gaps in Er,s do not depend on them).
    **kwargs
        Passed to :func:`chern_numbers_at`.

    Returns
    -------
    xarray.Dataset
        ``chern_number`` (Vs, Vl, band), float with NaN where undefined; ``min_gap_above`` (Vs, Vl, band) in Er,s;
        ``transition_Vs`` (Vl) in Er,s (:func:`transition_vs`).
    """
    from atompump.constants import SPECIES

    mass = SPECIES["Rb87"].mass_amu if mass_amu is None else mass_amu
    vs = np.asarray(Vs_Er, dtype=float)
    vl = np.asarray(Vl_Er, dtype=float)
    chern = np.full((vs.size, vl.size, n_bands), np.nan)
    gaps = np.full_like(chern, np.nan)
    for i, a in enumerate(vs):
        for j, b in enumerate(vl):
            params = SuperlatticeParams(Vs_Er=float(a), Vl_Er=float(b), lambda_l_nm=lambda_l_nm, mass_amu=mass)
            chern[i, j], gaps[i, j] = chern_numbers_at(params, n_bands=n_bands, **kwargs)
    return xr.Dataset(
        {
            "chern_number": (("Vs", "Vl", "band"), chern,
                             {"units": "1", "long_name": "band Chern number (NaN: gap closed or not resolved)"}),
            "min_gap_above": (("Vs", "Vl", "band"), gaps,
                              {"units": "Er,s", "long_name": "minimum direct gap to the next band on the mesh"}),
            "transition_Vs": ("Vl", transition_vs(vl),
                              {"units": "Er,s", "long_name": "exact sign change of band 2: Vs = (Vl/4)^2 / 4"}),
        },
        coords={"Vs": ("Vs", vs, {"units": "Er,s", "long_name": "short-lattice depth"}),
                "Vl": ("Vl", vl, {"units": "Er,l", "long_name": "long-lattice depth"}),
                "band": ("band", np.arange(1, n_bands + 1), {"long_name": "band index, lowest first"})},
        attrs={"lambda_l_nm": lambda_l_nm, "mass_amu": mass,
               "method": "Fukui-Hatsugai-Suzuki on a refined (kappa, phi) mesh per point"},
    )
