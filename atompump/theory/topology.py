"""Band structure, Berry curvature, Chern numbers and Wannier centres of the superlattice over one pump cycle.

:func:`superlattice_topology` is the entry point used by the workflow: it refines the (k, phi) mesh until the
Fukui–Hatsugai–Suzuki Chern numbers are integers, checks that every band is separated from its neighbours over
the whole loop (with the plane-wave basis converged), and returns an :class:`xarray.Dataset` with units in
attrs.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

from atompump.errors import GapClosedError, ParameterError
from atompump.theory.adaptive import superlattice_refined_dataset
from atompump.theory.berry import berry_curvature, wannier_centres
from atompump.theory.geometry import quantum_metric, wannier_spread
from atompump.theory.refine import refine_chern_numbers
from atompump.theory.superlattice import SuperlatticeParams, bloch_states, converged_n_max, hamiltonian
from atompump.theory.tight_binding import polish_min_gaps

__all__ = ["superlattice_topology", "check_gaps", "expected_displacement"]

log = logging.getLogger(__name__)


def check_gaps(min_gaps: np.ndarray, phi_at_min: np.ndarray, *, tolerance: float) -> np.ndarray:
    """Raise if the gap between two used bands closes somewhere on the loop.

    Parameters
    ----------
    min_gaps : ndarray, shape (n_bands - 1,)
        Minimum direct gap between band n and n + 1 over the (k, phi) torus, in Er,s.
    phi_at_min : ndarray, shape (n_bands - 1,)
        The phase (rad) of each minimum.
    tolerance : float
        Gaps below this (Er,s) count as closed.

    Returns
    -------
    ndarray
        ``min_gaps`` unchanged.

    Raises
    ------
    GapClosedError
        Naming the pair of bands and the phi where the gap closes.
    """
    for n, gap in enumerate(min_gaps):
        if gap < tolerance:
            phi = float(phi_at_min[n])
            raise GapClosedError(
                f"the gap between bands {n + 1} and {n + 2} closes (min {gap:.3g} Er,s) at phi = {phi:.4f} rad "
                f"({phi / np.pi:.3f} pi): the Chern numbers of bands {n + 1} and {n + 2} are undefined for "
                "this lattice; change Vs/Vl or use fewer bands"
            )
    return np.asarray(min_gaps)


def _polished_gaps(params: SuperlatticeParams, kappa: np.ndarray, phi: np.ndarray, energies: np.ndarray, *,
                   n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Mesh minima of the direct gaps, polished by a local minimisation over (kappa, phi)."""

    def energies_at(k: float, p: float) -> np.ndarray:
        return np.linalg.eigvalsh(hamiltonian(np.array(k), np.array(p), params, n_max=n_max))

    return polish_min_gaps(energies_at, kappa, phi, energies, n_gaps=energies.shape[-1] - 1)


def _attrs(units: str, long_name: str) -> dict:
    return {"units": units, "long_name": long_name}


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
    basis_tolerance: float = 1e-7,
    refine_geometry: bool = True,
) -> xr.Dataset:
    """Bands, Berry curvature, Chern numbers, hybrid Wannier centres and quantum geometry of the lowest bands.

    The plane-wave cut-off is raised from ``n_max`` until the energies are converged to ``basis_tolerance``
    (:func:`~atompump.theory.superlattice.converged_n_max`). The mesh is doubled (up to ``max_refinements``
    times) until every Chern number is within ``integer_tolerance`` of an integer and unchanged by the last
    refinement. The minimum gap above each band is found on the mesh and polished by a local minimisation; a gap
    below ``gap_tolerance`` raises :class:`~atompump.errors.GapClosedError` naming the bands and phi.

    Returns
    -------
    xarray.Dataset
        ``energy`` (band, k, phi) in Er,s; ``berry_curvature`` (band, k, phi) in um (Omega_{k phi}, plaquette
        centred); ``chern_number`` (band) int; ``chern_number_raw`` (band) float; ``min_gap_above`` (band) in
        Er,s and ``min_gap_phi`` (band) in rad (minimum direct gap to the next band and where it is);
        ``wannier_centre`` (band, phi_w) in um; ``wannier_spread`` (band, phi_w) in um^2 (the gauge-invariant
        spread Omega_I, the position variance of the band's maximally localised Wannier function);
        ``quantum_metric_kk`` (um^2), ``quantum_metric_phiphi`` (1) and ``quantum_metric_kphi`` (um) over
        (band, k, phi), plaquette centred. Coordinates ``k`` in 1/um and ``phi`` in rad. Attributes record the
        lattice parameters, the accepted mesh and the converged basis. The same curvature and metric on a mesh
        refined near their peaks (``*_fine`` over (band, k_fine, phi_fine), with the nodes ``k_fine_edge``,
        ``phi_fine_edge``; :func:`atompump.theory.adaptive.superlattice_refined_dataset`) resolve the narrow peaks
        at small gaps (``refine_geometry=False``: not computed).
    """
    n_max, basis_change = converged_n_max(params, n_bands=n_bands + 1, start=n_max, tolerance=basis_tolerance)
    # one extra band so the gap above the top requested band is checked too
    n_calc = n_bands + 1

    def compute(nk: int, nphi: int):
        kappa, phi, energies, vectors = bloch_states(params, n_k=nk, n_phi=nphi, n_bands=n_calc, n_max=n_max)
        gaps, where = _polished_gaps(params, kappa[:-1], phi[:-1], energies[:-1, :-1], n_max=n_max)
        check_gaps(gaps, where[:, 1], tolerance=gap_tolerance)
        fluxes = [berry_curvature(vectors[..., b]) for b in range(n_bands)]
        raw = np.array([f.sum() / (2 * np.pi) for f in fluxes])
        return raw, (kappa, phi, energies, vectors, gaps, where), max(float(np.abs(f).max()) for f in fluxes)

    rounded, raw, extra, n_k, n_phi = refine_chern_numbers(compute, n_k=n_k, n_phi=n_phi,
                                                           max_refinements=max_refinements,
                                                           integer_tolerance=integer_tolerance)
    kappa, phi, energies, vectors, min_gaps, where = extra

    dl = params.dl_um
    k = 2.0 * np.pi * kappa[:-1] / dl
    dk = 2.0 * np.pi / (n_k * dl)
    dphi = 2.0 * np.pi / n_phi
    curvature = np.stack([berry_curvature(vectors[..., b]) for b in range(n_bands)]) / (dk * dphi)
    wannier = np.stack([wannier_centres(vectors[..., b], lattice_constant=dl) for b in range(n_bands)])
    spread = np.stack([wannier_spread(vectors[..., b], lattice_constant=dl) for b in range(n_bands)])
    metric = [np.stack(g) for g in zip(*(quantum_metric(vectors[..., b], dk=dk, dphi=dphi) for b in range(n_bands)))]
    band = np.arange(1, n_bands + 1)
    dims = ("band", "k", "phi")
    ds = xr.Dataset(
        {
            "energy": (dims, np.moveaxis(energies[:-1, :-1, :n_bands], -1, 0),
                       {"units": "Er,s", "long_name": "band energy"}),
            "berry_curvature": (dims, curvature,
                                {"units": "um", "long_name": "Berry curvature Omega_{k phi} (plaquette centred)"}),
            "chern_number": ("band", rounded, _attrs("1", "band Chern number (physics.md sign)")),
            "chern_number_raw": ("band", raw, _attrs("1", "Fukui-Hatsugai-Suzuki sum before rounding")),
            "min_gap_above": ("band", min_gaps[:n_bands], _attrs("Er,s", "minimum direct gap to the next band")),
            "min_gap_phi": ("band", where[:n_bands, 1], _attrs("rad", "phi of the minimum gap to the next band")),
            "wannier_centre": (("band", "phi_w"), wannier,
                               _attrs("um", "hybrid Wannier centre (continuous in phi)")),
            "wannier_spread": (("band", "phi_w"), spread,
                               _attrs("um2", "gauge-invariant Wannier spread Omega_I (position variance)")),
            "quantum_metric_kk": (dims, metric[0], _attrs("um2", "quantum metric g_kk (plaquette centred)")),
            "quantum_metric_phiphi": (dims, metric[1], _attrs("1", "quantum metric g_phiphi (plaquette centred)")),
            "quantum_metric_kphi": (dims, metric[2], _attrs("um", "quantum metric g_kphi (plaquette centred)")),
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
            "basis_change_Er": basis_change,
            "method": "plane-wave expansion; Fukui-Hatsugai-Suzuki Chern numbers; Wilson-loop Wannier centres; "
                      "fidelity quantum metric",
        },
    )
    if refine_geometry:
        fine = superlattice_refined_dataset(params, kappa=kappa, phi=phi, vectors=vectors, n_bands=n_bands,
                                            n_max=n_max)
        ds = ds.merge(fine, combine_attrs="no_conflicts")
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
        raise ParameterError(
            f"{populations.size} band populations given but only {chern_numbers.size} Chern numbers computed; "
            "raise {n_bands}", parameters=("n_bands",)
        )
    if np.any(populations < 0) or abs(populations.sum() - 1.0) > 1e-6:
        raise ValueError(f"band populations must be >= 0 and sum to 1, got {populations.tolist()}")
    return float(np.dot(populations, chern_numbers[: populations.size]))

